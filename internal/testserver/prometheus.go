package testserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus timings.
const (
	// PrometheusScrapeInterval is the scrape (and evaluation) interval of
	// the servers Prometheus starts.
	PrometheusScrapeInterval = time.Second
	// PrometheusTargetTimeout bounds WaitTarget. Prometheus 2.42 applies
	// new targets on a 5 s tick, so the first scrape comes about 8 s after
	// start (INFRA.md § 4).
	PrometheusTargetTimeout = 30 * time.Second
)

// PrometheusServer is a prometheus started by Prometheus.
type PrometheusServer struct {
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// LogPath is the file that receives prometheus's stdout and stderr.
	LogPath string

	t      testing.TB
	client *http.Client
	proc   *process
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string
	Value  float64
	Time   time.Time
}

// Vector is the result of an instant query.
type Vector []Sample

// Prometheus starts Debian's prometheus on a free loopback port with a
// temp config and TSDB, scraping /metrics of each target (host:port) every
// PrometheusScrapeInterval under job "rollcall", waits until /-/ready
// answers, and stops it in t.Cleanup. It skips or fails the test when
// prometheus is missing (see RequireBinary). The targets are not scraped
// yet when it returns: call WaitTarget.
func Prometheus(t testing.TB, targets ...string) *PrometheusServer {
	t.Helper()
	bin := RequireBinary(t, "prometheus")
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(prometheusConfig(targets)), 0o644); err != nil {
		t.Fatalf("testserver: prometheus: %v", err)
	}
	s := &PrometheusServer{
		LogPath: filepath.Join(dir, "prometheus.log"),
		t:       t,
		client:  &http.Client{Timeout: 5 * time.Second},
	}
	t.Cleanup(func() {
		if s.proc != nil && s.proc.stop() {
			t.Logf("testserver: prometheus did not stop within %s after SIGTERM; killed", StopTimeout)
		}
		if t.Failed() {
			t.Logf("testserver: prometheus log (%s), tail:\n%s", s.LogPath, logTail(s.LogPath, logTailBytes))
		}
	})
	var err error
	for range maxPortAttempts {
		s.Addr = "127.0.0.1:" + itoa(FreePort(t))
		s.URL = "http://" + s.Addr
		var p *process
		p, err = startProcess(bin, []string{
			"--config.file=" + conf,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + s.Addr,
			"--log.level=warn",
		}, s.LogPath)
		if err != nil {
			break
		}
		if err = s.waitReady(p); err == nil {
			s.proc = p
			return s
		}
		p.stop()
		if !strings.Contains(logTail(s.LogPath, logTailBytes), "address already in use") {
			break
		}
	}
	t.Fatalf("testserver: prometheus: %v (log tail follows)", err)
	return nil
}

func prometheusConfig(targets []string) string {
	var b strings.Builder
	iv := PrometheusScrapeInterval.String()
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	b.WriteString("scrape_configs:\n  - job_name: rollcall\n    static_configs:\n      - targets: [")
	for i, tg := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(tg))
	}
	b.WriteString("]\n")
	return b.String()
}

// waitReady polls /-/ready until it answers 200, p exits, or StartTimeout.
func (s *PrometheusServer) waitReady(p *process) error {
	return p.waitHTTP(s.client, s.URL+"/-/ready", http.StatusOK, StartTimeout)
}

// WaitTarget waits until Prometheus has scraped target (host:port)
// successfully (health "up" in /api/v1/targets), and fails the test after
// PrometheusTargetTimeout. Call it from the test goroutine.
func (s *PrometheusServer) WaitTarget(target string) {
	s.t.Helper()
	deadline := time.Now().Add(PrometheusTargetTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for ; time.Now().Before(deadline); <-tick.C {
		health, lastErr, err := s.targetHealth(target)
		switch {
		case err != nil:
			last = err.Error()
		case health == "up":
			return
		default:
			last = fmt.Sprintf("health %q, last error %q", health, lastErr)
		}
	}
	s.t.Fatalf("testserver: prometheus: target %s not up after %s: %s", target, PrometheusTargetTimeout, last)
}

func (s *PrometheusServer) targetHealth(target string) (health, lastErr string, err error) {
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := s.api("/api/v1/targets?state=active", &data); err != nil {
		return "", "", err
	}
	for _, tg := range data.ActiveTargets {
		if u, err := url.Parse(tg.ScrapeURL); err == nil && u.Host == target {
			return tg.Health, tg.LastError, nil
		}
	}
	return "", "", fmt.Errorf("target %s not listed yet", target)
}

// Query runs an instant PromQL query that returns a vector. It is safe to
// call from any goroutine (e.g. inside require.Eventually).
func (s *PrometheusServer) Query(promql string) (Vector, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.api("/api/v1/query?query="+url.QueryEscape(promql), &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", promql, data.ResultType)
	}
	var result []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(data.Result, &result); err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	out := make(Vector, 0, len(result))
	for _, r := range result {
		ts, ok1 := r.Value[0].(float64)
		vs, ok2 := r.Value[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("query %q: bad sample %v", promql, r.Value)
		}
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: bad value %q", promql, vs)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v, Time: time.UnixMilli(int64(ts * 1000))})
	}
	return out, nil
}

// api GETs a Prometheus HTTP API path and decodes its data field.
func (s *PrometheusServer) api(path string, data any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: status %d: %w", path, resp.StatusCode, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}
