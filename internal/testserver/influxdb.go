package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// InfluxDatabase is the database InfluxDB creates at start.
	InfluxDatabase = "telemetry"
	// InfluxStartTimeout bounds how long influxd may take to answer /ping.
	// It is longer than StartTimeout because Flux initialises its standard
	// library at start: about 7 CPU-seconds, 25 s of wall time measured on a
	// 2-core machine at load 10.
	InfluxStartTimeout = 90 * time.Second
)

// InfluxServer is an influxd (1.8.10) started by InfluxDB. Stop and Restart
// serialise; Query and Exec may be called from any goroutine.
type InfluxServer struct {
	// URL is "http://127.0.0.1:PORT", for influxdb-client-go and InfluxQL.
	URL string
	// Addr is "127.0.0.1:PORT"; it stays the same across Restart.
	Addr string
	// Database is InfluxDatabase, created at start; write to it with
	// bucket "telemetry" or "telemetry/autogen".
	Database string
	// Dir holds the config and the meta, data and wal dirs; it stays the
	// same across Restart.
	Dir string
	// LogPath is the file that receives influxd's stdout and stderr.
	LogPath string

	t      testing.TB
	bin    string
	conf   string
	client *http.Client

	mu   sync.Mutex // serialises Stop and Restart
	proc *process   // nil when stopped; guarded by mu
}

// InfluxOption configures the server InfluxDB starts.
type InfluxOption func(*influxOptions)

type influxOptions struct {
	flux bool
}

// WithFlux turns [http] flux-enabled on or off. Default: on, as INFRA.md
// § 3 prescribes for influxdb-client-go's QueryAPI. Flux costs about 7
// CPU-seconds at every start (25 s of wall time on a loaded 2-core
// machine at load 10), so tests that query with InfluxQL only turn it off;
// the v2 write API works either way.
func WithFlux(on bool) InfluxOption {
	return func(o *influxOptions) { o.flux = on }
}

// InfluxRow is one row of an InfluxQL result: the columns (time, fields,
// and tags selected as columns) and, with GROUP BY, the series' tags.
// Numbers are float64, "time" is a time.Time, a null is nil.
type InfluxRow map[string]any

// InfluxDB starts influxd on free loopback ports (HTTP and RPC) with a temp
// config and data dirs, waits until /ping answers, creates InfluxDatabase,
// and stops it in t.Cleanup. It skips or fails the test when influxd is
// missing (see RequireBinary; scripts/install-servers.sh builds it with
// `go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10`).
//
// The config follows INFRA.md § 3: reporting, the monitor store and
// continuous queries off, the query and HTTP logs off, and flux-enabled
// (influxdb-client-go's QueryAPI gets 403 without it; see WithFlux). 1.8.10
// serves the v2 write API (/api/v2/write, bucket "db/rp") beside /write and
// /query.
func InfluxDB(t testing.TB, opts ...InfluxOption) *InfluxServer {
	t.Helper()
	bin := RequireBinary(t, "influxd")
	o := influxOptions{flux: true}
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	s := &InfluxServer{
		Database: InfluxDatabase,
		Dir:      dir,
		LogPath:  filepath.Join(dir, "influxd.log"),
		t:        t,
		bin:      bin,
		conf:     filepath.Join(dir, "influxdb.conf"),
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	t.Cleanup(func() {
		s.Stop()
		s.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("testserver: influxd log (%s), tail:\n%s", s.LogPath, logTail(s.LogPath, logTailBytes))
		}
	})
	var err error
	for range maxPortAttempts {
		s.Addr = "127.0.0.1:" + itoa(FreePort(t))
		s.URL = "http://" + s.Addr
		rpc := "127.0.0.1:" + itoa(FreePort(t))
		if err = os.WriteFile(s.conf, []byte(influxConfig(dir, s.Addr, rpc, o.flux)), 0o644); err != nil {
			t.Fatalf("testserver: influxd: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
		if !strings.Contains(logTail(s.LogPath, logTailBytes), "address already in use") {
			t.Fatalf("testserver: influxd: %v (log tail follows)", err)
		}
	}
	if err != nil {
		t.Fatalf("testserver: influxd: %v (log tail follows)", err)
	}
	if err := s.Exec(`CREATE DATABASE "` + s.Database + `"`); err != nil {
		t.Fatalf("testserver: influxd: %v", err)
	}
	return s
}

func influxConfig(dir, httpAddr, rpcAddr string, flux bool) string {
	q := strconv.Quote
	return fmt.Sprintf(`reporting-disabled = true
bind-address = %s

[meta]
  dir = %s

[data]
  dir = %s
  wal-dir = %s
  query-log-enabled = false

[http]
  bind-address = %s
  log-enabled = false
  flux-enabled = %t

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false
`, q(rpcAddr), q(filepath.Join(dir, "meta")), q(filepath.Join(dir, "data")), q(filepath.Join(dir, "wal")), q(httpAddr), flux)
}

// start runs influxd and waits until /ping answers 204. The caller holds
// s.mu or owns s exclusively.
func (s *InfluxServer) start() error {
	p, err := startProcess(s.bin, []string{"-config", s.conf}, s.LogPath)
	if err != nil {
		return err
	}
	if err := s.waitPing(p); err != nil {
		p.stop()
		return err
	}
	s.proc = p
	return nil
}

// waitPing polls /ping until it answers 204, p exits, or
// InfluxStartTimeout (0.1 s without Flux; see WithFlux).
func (s *InfluxServer) waitPing(p *process) error {
	return p.waitHTTP(s.client, s.URL+"/ping", http.StatusNoContent, InfluxStartTimeout)
}

// Stop stops influxd: SIGTERM, and a kill after StopTimeout. The data
// stays for Restart. Stopping a stopped server does nothing.
func (s *InfluxServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	s.proc = nil
	if p != nil && p.stop() {
		s.t.Logf("testserver: influxd did not stop within %s after SIGTERM; killed", StopTimeout)
	}
	s.client.CloseIdleConnections()
}

// Restart stops influxd if it runs and starts it again on the same ports
// with the same data, and waits until /ping answers. Like t.Fatal, call it
// from the test goroutine.
func (s *InfluxServer) Restart() {
	s.t.Helper()
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.start(); err != nil {
		s.t.Fatalf("testserver: influxd restart: %v (log tail follows)", err)
	}
}

// Exec runs a statement that returns no rows (CREATE, DROP, ...) with
// POST /query.
func (s *InfluxServer) Exec(influxql string) error {
	_, err := s.query(http.MethodPost, influxql)
	return err
}

// Query runs an InfluxQL SELECT or SHOW on Database and returns the rows of
// every series of its first statement, series by series.
func (s *InfluxServer) Query(influxql string) ([]InfluxRow, error) {
	return s.query(http.MethodGet, influxql)
}

func (s *InfluxServer) query(method, influxql string) ([]InfluxRow, error) {
	v := url.Values{"db": {s.Database}, "q": {influxql}, "epoch": {"ns"}}
	var (
		resp *http.Response
		err  error
	)
	if method == http.MethodPost {
		resp, err = s.client.PostForm(s.URL+"/query", v)
	} else {
		resp, err = s.client.Get(s.URL + "/query?" + v.Encode())
	}
	if err != nil {
		return nil, fmt.Errorf("influxql %q: %w", influxql, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("influxql %q: %w", influxql, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influxql %q: %s: %s", influxql, resp.Status, bytes.TrimSpace(body))
	}
	var out struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("influxql %q: %w", influxql, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxql %q: %s", influxql, out.Error)
	}
	var rows []InfluxRow
	if len(out.Results) > 0 { // the first statement's results
		r := out.Results[0]
		if r.Error != "" {
			return nil, fmt.Errorf("influxql %q: %s", influxql, r.Error)
		}
		for _, sr := range r.Series {
			for _, vals := range sr.Values {
				row := InfluxRow{}
				for k, v := range sr.Tags {
					row[k] = v
				}
				for i, c := range sr.Columns {
					if i < len(vals) {
						row[c] = influxValue(c, vals[i])
					}
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// influxValue converts a decoded JSON value: numbers to float64, and the
// time column (epoch=ns) to time.Time.
func influxValue(column string, v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if column == "time" {
		if ns, err := n.Int64(); err == nil {
			return time.Unix(0, ns).UTC()
		}
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return f
}
