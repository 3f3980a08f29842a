package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/fakeclock"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/journal"
	"github.com/rollcall-iot/rollcall/journal/ingestlog"
)

// While the journal is replayed at start, /readyz answers 503 with how
// far the replay is, and progress lines are logged; once it is done the
// gateway is ready.
func TestIntegrationReadyAfterReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	dir := t.TempDir()
	g1, stop := startGateway(t, dir, nil)
	const n = 30
	now := time.Now()
	publishN(t, g1.MQTTURL(), n, func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) })
	require.True(t, assertEventually(func() bool {
		return counter(t, g1.reg, "rollcall_messages_total", "outcome", "accepted") == n
	}, 30*time.Second))
	stop()
	// Without a checkpoint the whole journal is replayed.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "checkpoint")))

	cfg := Defaults()
	cfg.DataDir, cfg.HTTP.Addr, cfg.Broker.Listen = dir, "127.0.0.1:0", "127.0.0.1:0"
	cfg.MQTT.ClientID = "rollcall-" + filepath.Base(dir)
	cfg.Journal.Now = fakeclock.NewStepping(now, time.Second).Now
	var logs testserver.LogBuffer
	g, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	g.replayHook = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the replay did not start")
	}
	replaying := `^starting: journal replay: \d+ of \d+ records \(\d+%\), \d+ bytes`
	require.Regexp(t, replaying, g.ready().Error())
	resp, err := http.Get("http://" + g.HTTPAddr() + "/readyz") //nolint:noctx // a test against a local server
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, string(body), "starting: journal replay: ")

	close(release)
	require.True(t, assertEventually(func() bool { return g.ready() == nil }, 10*time.Second), "ready after the replay: %v", g.ready())
	out := logs.String()
	require.Contains(t, out, `msg="journal replay progress"`, out)
	require.Contains(t, out, "eta=")
	require.Contains(t, out, `msg="journal replay done"`)
}

// Before recovery the gateway says it is starting; once live, nothing in
// the start holds readiness (no InfluxDB sink here).
func TestStartupReasons(t *testing.T) {
	l, err := ingestlog.New(ingestlog.Config{Config: journal.Config{Dir: t.TempDir()}}, nil, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	g := &Gateway{ingestLog: l}
	require.EqualError(t, g.startup(), "starting: recovering from the checkpoint and the journal")
	g.live.Store(true)
	require.NoError(t, g.startup())
}
