package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/internal/scrape"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

var (
	crashReadings = flag.Int("crash.readings", 200_000, "readings TestIntegrationCrashRecovery publishes")
	crashKills    = flag.Int("crash.kills", 5, "SIGKILLs TestIntegrationCrashRecovery sends")
)

const (
	crashDevices = 1000
	crashGroups  = 10
)

// crashRun is one gateway process (restartable) on its own mosquitto.
type crashRun struct {
	t    *testing.T
	dir  string
	args []string
	base string
	proc *testserver.RollcallServer
	// publisherURL is the run's mosquitto.
	publisherURL string
}

func newCrashRun(t *testing.T, name string) *crashRun {
	dir := t.TempDir()
	fleet := "defaults:\n  interval: 1s\n  metrics:\n    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: last}\ngroups:\n"
	for g := range crashGroups {
		var ids []string
		for d := g; d < crashDevices; d += crashGroups {
			ids = append(ids, fmt.Sprintf("d%04d", d))
		}
		fleet += fmt.Sprintf("  g%02d: {devices: [%s]}\n", g, strings.Join(ids, ", "))
	}
	fleet += "learn: {enabled: false}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(fleet), 0o600))
	// The watermark follows event time only (no idle advance), so wall-clock
	// pauses such as a crash cannot change a window. The fleet runs at
	// infinite speed, its stamps up to an hour ahead of the wall clock on
	// purpose: clock correction, which would take them for a fast clock,
	// is off.
	cfg := `window: {size: 10s, allowed_lateness: 60s, allowed_skew: 2s, idle_timeout: 1h}
limits: {max_future_skew: 1h, device_rate: 10000, device_burst: 100000}
liveness: {clock_correction: false}
checkpoint: {interval: 1s}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rollcall.yaml"), []byte(cfg), 0o600))
	m := testserver.Mosquitto(t)
	port := testserver.FreePort(t)
	r := &crashRun{
		t: t, dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		args: []string{
			"serve", "--config", filepath.Join(dir, "rollcall.yaml"), "--fleet", filepath.Join(dir, "fleet.yaml"),
			"--data-dir", filepath.Join(dir, "data"), "--mqtt-url", m.URL, "--mqtt-client-id", "rollcall-" + name,
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", port),
		},
	}
	r.publisherURL = m.URL
	return r
}

// start runs the gateway and waits until it is ready. Its log goes to
// gateway.log in the run's directory.
func (r *crashRun) start() {
	r.proc = testserver.Rollcall(r.t, testserver.RollcallBinary(r.t), testserver.RollcallOptions{
		Args: r.args, URL: r.base, LogPath: filepath.Join(r.dir, "gateway.log"),
	})
}

func (r *crashRun) kill() { r.proc.Kill() }

func (r *crashRun) stop() { _ = r.proc.Stop() }

// caughtUp waits until every device's newest reading is at last.
func (r *crashRun) caughtUp(last time.Time) {
	ok := assertEventually(func() bool {
		for g := range crashGroups {
			resp, err := http.Get(fmt.Sprintf("%s/api/v1/devices?group=g%02d", r.base, g))
			if err != nil {
				return false
			}
			var body struct {
				Devices []aggregate.DeviceInfo `json:"devices"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || len(body.Devices) != crashDevices/crashGroups {
				return false
			}
			for _, d := range body.Devices {
				if d.LastEvent == nil || d.LastEvent.Before(last) {
					return false
				}
			}
		}
		return true
	}, 120*time.Second)
	require.True(r.t, ok, "the gateway handled every reading before the sweep")
}

// finals returns the final aggregate of every group's windows before end,
// waiting until all of them are final.
func (r *crashRun) finals(start, end time.Time) map[string]aggregate.Aggregate {
	want := crashGroups * int(end.Sub(start)/(10*time.Second))
	out := map[string]aggregate.Aggregate{}
	ok := assertEventually(func() bool {
		clear(out)
		for g := range crashGroups {
			url := fmt.Sprintf("%s/api/v1/aggregates?group=g%02d&metric=power_kw&from=%d&to=%d&limit=1000",
				r.base, g, start.Unix(), end.Unix())
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			var body struct {
				Aggregates []aggregate.Aggregate `json:"aggregates"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				return false
			}
			for _, a := range body.Aggregates {
				if a.Final {
					// Keyed by window index from start: each run has its own
					// base time.
					out[fmt.Sprintf("%s #%d", a.Group, a.Window.Start.Sub(start)/(10*time.Second))] = a
				}
			}
		}
		return len(out) == want
	}, 120*time.Second)
	if !ok {
		for g := range crashGroups {
			for w := start; w.Before(end); w = w.Add(10 * time.Second) {
				if k := fmt.Sprintf("g%02d #%d", g, w.Sub(start)/(10*time.Second)); out[k].Final != true {
					r.t.Logf("not final: %s", k)
					if g == 0 {
						r.dumpRevisions(fmt.Sprintf("g%02d", g), w)
					}
				}
			}
		}
		r.t.Log(r.metrics())
		r.t.Logf("gateway log tail:\n%s", r.proc.LogTail())
		r.t.Fatalf("%d of %d windows final", len(out), want)
	}
	return out
}

// dumpRevisions logs every stored revision of one window.
func (r *crashRun) dumpRevisions(group string, w time.Time) {
	url := fmt.Sprintf("%s/api/v1/aggregates?group=%s&metric=power_kw&from=%d&to=%d&revisions=all", r.base, group, w.Unix(), w.Add(10*time.Second).Unix())
	resp, err := http.Get(url)
	if err != nil {
		r.t.Log(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.t.Logf("%s %v revisions: %s", group, w, tail(string(b), 5))
}

// metrics returns the gateway's non-zero rollcall_ counters and gauges,
// one "series value" a line.
func (r *crashRun) metrics() string {
	m, err := scrape.Get(context.Background(), nil, r.base+"/metrics")
	if err != nil {
		return err.Error()
	}
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, "rollcall_") && v != 0 && !strings.Contains(k, "_bucket") && !strings.Contains(k, "_api_") {
			out = append(out, fmt.Sprintf("%s %g", k, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func assertEventually(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(200 * time.Millisecond) // polling an HTTP API, not synchronising
	}
	return cond()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// publish sends the readings: every device once per event-time second from
// base, step by step, then one sweep reading per device that moves every
// group's watermark past the last window's lateness. after is called with
// the count published so far, every 500 readings.
func publish(t *testing.T, url, id string, base time.Time, steps int, after func(n int), beforeSweep func()) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetMaxResumePubInFlight(1000).SetWriteTimeout(10 * time.Second))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(250)
	var toks []mqtt.Token
	n := 0
	send := func(d, k int) {
		ts := base.Add(time.Duration(k) * time.Second)
		v := (d*7 + k*13) % 1000
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d}}`, k+1, ts.UnixMilli(), v)
		toks = append(toks, c.Publish(fmt.Sprintf("fleet/g%02d/d%04d/telemetry", d%crashGroups, d), 1, false, p))
		if n++; n%500 == 0 {
			for _, tk := range toks {
				require.True(t, tk.WaitTimeout(30*time.Second), "publish acknowledged by the broker")
				require.NoError(t, tk.Error())
			}
			toks = toks[:0]
			after(n)
		}
	}
	for k := range steps {
		for d := range crashDevices {
			send(d, k)
		}
	}
	for _, tk := range toks {
		require.True(t, tk.WaitTimeout(30*time.Second))
		require.NoError(t, tk.Error())
	}
	toks = toks[:0]
	// A reading 80 s ahead moves its group's watermark at once: readings
	// of other devices still queued behind it would then be too late (as
	// they should). Sweep only once everything before has been handled.
	beforeSweep()
	for d := range crashDevices {
		send(d, steps+80)
	}
	for _, tk := range toks {
		require.True(t, tk.WaitTimeout(30*time.Second))
		require.NoError(t, tk.Error())
	}
}

// TestIntegrationCrashRecovery: a gateway killed with SIGKILL at random
// points and restarted ends with the same final aggregates (values, counts,
// coverage) as an uninterrupted one on the same input; nothing the broker
// considered acknowledged is lost (every sample counted).
func TestIntegrationCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	testserver.RequireBinary(t, "mosquitto")
	steps := max(20, *crashReadings/crashDevices)
	// Each run's readings start 20 s before the run does (a small backlog,
	// well inside the lateness), so a slow first run cannot push the
	// second one's readings out of the lateness horizon. Windows are
	// compared by their index from the run's base.
	span := func() (base, last, end time.Time) {
		base = time.Now().Truncate(10 * time.Second).Add(-20 * time.Second)
		return base, base.Add(time.Duration(steps-1) * time.Second), base.Add(time.Duration(steps) * time.Second).Truncate(10 * time.Second)
	}

	ref := newCrashRun(t, "ref")
	ref.start()
	base, last, end := span()
	publish(t, ref.publisherURL, "fleet-ref", base, steps, func(int) {}, func() { ref.caughtUp(last) })
	want := ref.finals(base, end)
	refMetrics := ref.metrics()
	ref.stop()
	defer func() {
		if t.Failed() {
			t.Logf("reference run's counters:\n%s", refMetrics)
		}
	}()

	run := newCrashRun(t, "crash")
	run.start()
	base, last, end = span()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := (steps + 1) * crashDevices
	var points []int
	for range *crashKills {
		points = append(points, total/10+rng.IntN(total*8/10))
	}
	slices.Sort(points)
	kills := 0
	publish(t, run.publisherURL, "fleet-crash", base, steps, func(n int) {
		for kills < len(points) && n >= points[kills] {
			run.kill()
			kills++
			t.Logf("SIGKILL %d after %d readings published", kills, n)
			run.start()
		}
	}, func() { run.caughtUp(last) })
	require.Equal(t, *crashKills, kills)
	got := run.finals(base, end)
	run.stop()
	log, err := os.ReadFile(filepath.Join(run.dir, "gateway.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), `msg="journal replayed"`, "a restart replayed the journal")

	require.Len(t, got, len(want))
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, k)
		require.Equal(t, crashDevices/crashGroups, g.Coverage.Expected, k)
		require.Equal(t, w.Coverage.Reported, g.Coverage.Reported, k)
		require.Equal(t, w.Counts.Samples, g.Counts.Samples, "%s: every acknowledged reading counted once", k)
		require.Equal(t, w.Counts.Duplicates, g.Counts.Duplicates, k)
		require.Equal(t, w.Counts.Replays, g.Counts.Replays, k)
		require.Equal(t, w.Quality, g.Quality, k)
		for _, s := range []struct {
			name string
			w, g aggregate.Stat
		}{{"sum", w.Stats.Sum, g.Stats.Sum}, {"mean", w.Stats.Mean, g.Stats.Mean}, {"min", w.Stats.Min, g.Stats.Min}, {"max", w.Stats.Max, g.Stats.Max}} {
			require.InDelta(t, float64(s.w.Value), float64(s.g.Value), 1e-6, "%s %s", k, s.name)
			require.InDelta(t, float64(s.w.Reported), float64(s.g.Reported), 1e-6, "%s %s", k, s.name)
		}
	}
	t.Logf("%d readings, %d kills, %d final windows identical", total, kills, len(want))
}
