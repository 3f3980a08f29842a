package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// trace records the order of the stages' events.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (tr *trace) add(e string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, e)
}

func (tr *trace) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.events...)
}

// waiting is a stage whose run waits for its context.
func waiting(tr *trace, name string) stage {
	return stage{
		name: name,
		run: func(ctx context.Context) error {
			<-ctx.Done()
			tr.add(name + " run returned")
			return nil
		},
		stop: func(context.Context) error { tr.add(name + " stopped"); return nil },
	}
}

var discardLog = slog.New(slog.DiscardHandler)

// A stage that fails stops the gateway with its error: every stage stops,
// in reverse order, although ctx is never cancelled.
func TestFailingStageStopsTheGateway(t *testing.T) {
	tr := &trace{}
	boom := errors.New("boom")
	failing := stage{name: "broken", run: func(context.Context) error { return boom }}
	err := runStages(context.Background(), []stage{waiting(tr, "a"), failing, waiting(tr, "b")}, time.Minute, discardLog)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "broken: boom")
	require.Equal(t, []string{"b run returned", "b stopped", "a run returned", "a stopped"}, tr.get())
}

// A failing start (the journal replay) stops the stages started before it,
// and the later ones never start.
func TestFailingStartStopsTheGateway(t *testing.T) {
	tr := &trace{}
	boom := errors.New("replay failed")
	s := waiting(tr, "engine")
	s.start = func(context.Context) error { return boom }
	late := stage{name: "late", run: func(context.Context) error { t.Error("a stage after the failed start ran"); return nil }}
	err := runStages(context.Background(), []stage{waiting(tr, "a"), s, late}, time.Minute, discardLog)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"engine run returned", "engine stopped", "a run returned", "a stopped"}, tr.get())
}

// A cancelled context stops the stages in reverse order with no error; a
// stage that does not stop within the one shutdown deadline is reported and
// its stop skipped.
func TestShutdownOrderAndDeadline(t *testing.T) {
	tr := &trace{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, runStages(ctx, []stage{waiting(tr, "a"), waiting(tr, "b")}, time.Minute, discardLog))
	require.Equal(t, []string{"b run returned", "b stopped", "a run returned", "a stopped"}, tr.get())

	// In a synctest bubble the deadline passes only once every goroutine
	// is blocked: "a" stops in time however loaded the machine is.
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		release := make(chan struct{})
		defer close(release)
		stuck := stage{
			name: "stuck",
			run:  func(context.Context) error { <-release; return nil },
			stop: func(context.Context) error { t.Error("the stop of a stage that did not stop ran"); return nil },
		}
		err := runStages(ctx, []stage{stuck, waiting(tr, "a")}, time.Minute, discardLog)
		require.ErrorIs(t, err, errStopTimeout)
		require.ErrorContains(t, err, "stuck did not stop within 1m0s")
		require.Equal(t, []string{"a run returned", "a stopped"}, tr.get())
	})
}

// Errors of stops and of runs that end with an error when stopped are
// returned, named after their stage.
func TestShutdownErrorsAreReturned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopErr, runErr := errors.New("checkpoint failed"), errors.New("flush failed")
	err := runStages(ctx, []stage{
		{name: "a", run: func(ctx context.Context) error { <-ctx.Done(); return runErr }},
		{name: "b", run: waitDone, stop: func(context.Context) error { return stopErr }},
	}, time.Minute, discardLog)
	require.ErrorIs(t, err, stopErr)
	require.ErrorIs(t, err, runErr)
	require.ErrorContains(t, err, "b: checkpoint failed")
	require.ErrorContains(t, err, "a: flush failed")
}

// A gateway whose HTTP server fails stops with that error, every other
// stage stopped in order (goleak checks nothing is left running).
func TestIntegrationHTTPFailureStopsTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	cfg.MQTT.ClientID = "rollcall-http-failure"
	g, err := New(cfg, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }() // never cancelled
	require.Eventually(t, func() bool { return g.ready() == nil }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, g.ln.Close()) // the server's Accept fails
	err = <-done
	require.ErrorContains(t, err, "http: ")
}
