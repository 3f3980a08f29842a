package benche2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rollcall-iot/rollcall/internal/scrape"
)

// buildRollcall builds cmd/rollcall into dir and returns the binary's path.
func buildRollcall(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "rollcall")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rollcall-iot/rollcall/cmd/rollcall")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rollcall: %w\n%s", err, out)
	}
	return bin, nil
}

// rollcallProc is one rollcall serve process.
type rollcallProc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	exited chan struct{}
	log    string
	client *http.Client
}

// startRollcall runs bin serve against the broker at url with the config
// cfg and fleet file in dir (data in dir/data, log in dir/rollcall.log),
// and waits until /readyz answers 200 when waitReady.
func startRollcall(bin, dir, url, clientID string, env []string, waitReady bool) (*rollcallProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &rollcallProc{
		base: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{}),
		log: filepath.Join(dir, "rollcall.log"), client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}},
	}
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "serve", "--config", filepath.Join(dir, "rollcall.yaml"), "--fleet", filepath.Join(dir, "fleet.yaml"),
		"--data-dir", filepath.Join(dir, "data"), "--mqtt-url", url, "--mqtt-client-id", clientID,
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", port))
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return nil, err
	}
	go func() { _ = r.cmd.Wait(); _ = logf.Close(); close(r.exited) }()
	if !waitReady {
		return r, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := r.client.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case <-r.exited:
			return nil, fmt.Errorf("rollcall exited before it was ready; see %s", r.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.kill()
			return nil, fmt.Errorf("rollcall not ready after 60 s; see %s", r.log)
		}
	}
}

func (r *rollcallProc) pid() int { return r.cmd.Process.Pid }

// metrics scrapes /metrics: every sample by its series as exposed ("name"
// or `name{labels}`).
func (r *rollcallProc) metrics() (map[string]float64, error) {
	return scrape.Get(context.Background(), r.client, r.base+"/metrics")
}

// dumpMetrics saves the current /metrics beside rollcall's log and
// returns the file's name.
func (r *rollcallProc) dumpMetrics() string {
	name := strings.TrimSuffix(r.log, ".log") + fmt.Sprintf("-metrics-%d.txt", time.Now().Unix())
	resp, err := r.client.Get(r.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(name, b, 0o644)
	}
	if err != nil {
		return err.Error()
	}
	return name
}

// handled is the messages rollcall's workers have handled, whatever the
// outcome (accepted, duplicate, replay, rejected).
func handled(m map[string]float64) float64 {
	var n float64
	for _, o := range []string{"accepted", "duplicate", "replay", "rejected"} {
		n += m[`rollcall_messages_total{outcome="`+o+`"}`]
	}
	return n
}

// shed is the QoS 0 messages rollcall shed at ingest.
func shed(m map[string]float64) float64 { return m[`rollcall_ingest_dropped_total{reason="overload"}`] }

// errUnknownGroup: the API knows no aggregate of the group yet.
var errUnknownGroup = errors.New("unknown group")

// aggregateJSON is what the benchmark reads of an aggregate.
type aggregateJSON struct {
	Group  string `json:"group"`
	Metric string `json:"metric"`
	Window struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"window"`
	Revision  int       `json:"revision"`
	Final     bool      `json:"final"`
	EmittedAt time.Time `json:"emitted_at"`
}

// aggregates returns every revision of group's metric emitted so far.
func (r *rollcallProc) aggregates(group, metric string) ([]aggregateJSON, error) {
	u := fmt.Sprintf("%s/api/v1/aggregates?group=%s&metric=%s&revisions=all&limit=1000", r.base, group, metric)
	resp, err := r.client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(b), `"unknown_group"`) {
			return nil, errUnknownGroup
		}
		return nil, fmt.Errorf("%s: %s %s", u, resp.Status, b)
	}
	var body struct {
		Aggregates []aggregateJSON `json:"aggregates"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.Aggregates, err
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 30 s).
func (r *rollcallProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		r.kill()
	}
}

func (r *rollcallProc) kill() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}
