package sink_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sink"
	"github.com/rollcall-iot/rollcall/sink/store"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// The bulkhead test runs the real engine into the fan-out, with the API
// store and, next to it, a sink that never returns.

const (
	bhGroups  = 10
	bhDevices = 10  // per group
	bhRounds  = 250 // windows of event time; the store keeps 360 per series
	bhWindow  = 100 * time.Millisecond
	// bhQueue is the fan-out's queue per sink (the default): enough for
	// the store to absorb the largest emit round (at most
	// window.max_catch_up windows per series), less than the run emits.
	bhQueue = sink.DefaultQueueLen
)

var bhMetrics = []string{"power_kw", "wind_ms"}

func bhGroup(g int) string     { return fmt.Sprintf("site-%d", g) }
func bhDevice(g, d int) string { return fmt.Sprintf("wt-%d-%02d", g, d) }

var bhBase = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// stalled is a Writer whose Write never returns until its context ends:
// a dead sink.
type stalled struct{ calls atomic.Int64 }

func (*stalled) Name() string { return "stalled" }

func (s *stalled) Write(ctx context.Context, _ aggregate.Aggregate) error {
	s.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// bhRun is one run of the pipeline.
type bhRun struct {
	t        *testing.T
	reg      *prometheus.Registry
	engine   *aggregate.Engine
	fanout   *sink.Fanout
	store    *store.Store
	now      atomic.Int64 // the engine's clock, Unix ns
	engDone  chan error
	sinkDone chan error
	stopEng  context.CancelFunc
	stopSink context.CancelFunc
}

func startPipeline(t *testing.T, extra ...sink.Writer) *bhRun {
	t.Helper()
	var fleet strings.Builder
	fleet.WriteString("defaults:\n  interval: 100ms\n  metrics:\n")
	fleet.WriteString("    power_kw: {min: 0, max: 3000, device: mean, group: sum, impute: last}\n")
	fleet.WriteString("    wind_ms: {min: 0, max: 60, device: mean, group: mean}\n")
	fleet.WriteString("groups:\n")
	for g := range bhGroups {
		fmt.Fprintf(&fleet, "  %s:\n    devices: [", bhGroup(g))
		for d := range bhDevices {
			if d > 0 {
				fleet.WriteString(", ")
			}
			fleet.WriteString(bhDevice(g, d))
		}
		fleet.WriteString("]\n")
	}
	fleet.WriteString("learn: {enabled: false}\n")
	f, err := staleness.ParseFleet([]byte(fleet.String()))
	require.NoError(t, err)

	r := &bhRun{t: t, reg: prometheus.NewRegistry(), engDone: make(chan error, 1), sinkDone: make(chan error, 1)}
	r.now.Store(bhBase.UnixNano())
	r.store, err = store.New(store.Config{}, r.reg)
	require.NoError(t, err)
	r.fanout, err = sink.NewFanout(sink.Config{QueueLen: bhQueue, DrainTimeout: 50 * time.Millisecond}, nil, r.reg,
		append([]sink.Writer{r.store}, extra...)...)
	require.NoError(t, err)
	r.engine, err = aggregate.New(aggregate.Config{
		// One worker: readings are handled in the order offered, so none
		// is late and every run does the same work.
		Shards: 1, EmitInterval: 5 * time.Millisecond,
		Limits: aggregate.Limits{Limits: ingest.Limits{DeviceRate: 1e6, DeviceBurst: 1e6}},
		// Event time drives the windows; the gateway clock stands still
		// until the test moves it to close the last windows.
		// MaxCatchUp: ingest here runs through event time faster than any
		// fleet, and no window may be skipped.
		Window: window.Config{
			Size: bhWindow, AllowedLateness: bhWindow, AllowedSkew: time.Millisecond, IdleTimeout: time.Hour,
			MaxCatchUp: 10 * bhRounds,
		},
		Now: func() time.Time { return time.Unix(0, r.now.Load()) },
	}, staleness.NewRoster(f), r.fanout, nil, r.reg)
	require.NoError(t, err)
	var engCtx, sinkCtx context.Context
	engCtx, r.stopEng = context.WithCancel(context.Background())
	sinkCtx, r.stopSink = context.WithCancel(context.Background())
	go func() { r.sinkDone <- r.fanout.Run(sinkCtx) }()
	go func() { r.engDone <- r.engine.Run(engCtx) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts down like the gateway: the engine first, then the sinks.
func (r *bhRun) stop() {
	if r.stopEng == nil {
		return
	}
	r.stopEng()
	if err := <-r.engDone; err != nil {
		r.t.Errorf("engine: %v", err)
	}
	r.stopSink()
	if err := <-r.sinkDone; err != nil {
		r.t.Errorf("sinks: %v", err)
	}
	r.stopEng = nil
}

// bhStream returns the readings: every device once per window, groups
// interleaved as on a broker. The messages are read-only and may be fed to
// several pipelines.
func bhStream() []ingest.Message {
	n := bhGroups * bhDevices
	msgs := make([]ingest.Message, 0, n*bhRounds)
	for round := range bhRounds {
		ts := bhBase.Add(time.Duration(round)*bhWindow + bhWindow/2)
		for i := range n {
			g, d := i%bhGroups, i/bhGroups
			msgs = append(msgs, ingest.Message{
				Kind: ingest.TopicTelemetry, Site: bhGroup(g), Device: ingest.ID(bhGroup(g), bhDevice(g, d)),
				Payload:  fmt.Appendf(nil, `{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d,"wind_ms":%d}}`, round+1, ts.UnixMilli(), 1000+d, 5+d),
				Received: bhBase.Add(time.Duration(round+1) * bhWindow).UnixNano(),
			})
		}
	}
	return msgs
}

// ingest offers every reading, retrying while the worker queue is full (the
// broker would hold them), and returns the accepted readings per second
// until the engine counted all of them as accepted. It does not touch t, so
// that it can run on its own goroutine.
func (r *bhRun) ingest(msgs []ingest.Message) (float64, error) {
	t0 := time.Now()
	for _, m := range msgs {
		for !r.engine.Offer(m) {
			runtime.Gosched() // queue full: the broker would hold the reading
		}
	}
	want := float64(len(msgs))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for ; r.value("rollcall_messages_total", "accepted") != want; <-tick.C {
		if time.Since(t0) > time.Minute {
			return 0, fmt.Errorf("%v of %v readings accepted after a minute", r.value("rollcall_messages_total", "accepted"), want)
		}
	}
	return want / time.Since(t0).Seconds(), nil
}

// finish moves the gateway clock so that every window becomes final, and
// waits until the store holds all of them and the engine emits no more.
func (r *bhRun) finish(t *testing.T) (emitted float64) {
	t.Helper()
	r.now.Store(bhBase.Add(bhRounds*bhWindow + bhWindow + time.Hour).UnixNano())
	ok := assert.Eventually(t, func() bool {
		for g := range bhGroups {
			for _, m := range bhMetrics {
				h, err := r.store.History(store.Query{Group: bhGroup(g), Metric: m})
				if err != nil || len(h) < bhRounds {
					return false
				}
				for _, a := range h[:bhRounds] {
					if !a.Final {
						return false
					}
				}
			}
		}
		return true
	}, 5*time.Second, time.Millisecond, "every window final in the store")
	if !ok {
		h, _ := r.store.History(store.Query{Group: bhGroup(0), Metric: bhMetrics[0]})
		fin := 0
		for _, a := range h {
			if a.Final {
				fin++
			}
		}
		t.Logf("store: %d windows, %d final; first %v last %v", len(h), fin, h[0].Window.Start, h[len(h)-1].Window.Start)
		mfs, _ := r.reg.Gather()
		for _, mf := range mfs {
			if strings.Contains(mf.GetName(), "rejected") || strings.Contains(mf.GetName(), "emitted") || strings.Contains(mf.GetName(), "skipped") {
				for _, m := range mf.GetMetric() {
					if v := m.GetCounter().GetValue(); v > 0 {
						t.Logf("%s %v %v", mf.GetName(), m.GetLabel(), v)
					}
				}
			}
		}
		t.FailNow()
	}
	// The clock stands still again: the emitted count settles.
	last := -1.0
	require.Eventually(t, func() bool {
		n := r.value("rollcall_aggregate_emitted_total", "")
		settled := n == last
		last = n
		return settled
	}, 10*time.Second, 50*time.Millisecond)
	return last
}

// value sums the samples of a counter or gauge whose label values include
// label (all when empty); NaN if gathering fails. It is called from
// require.Eventually's goroutine, so it does not fail the test itself.
func (r *bhRun) value(name, label string) float64 {
	mfs, err := r.reg.Gather()
	if err != nil {
		return math.NaN()
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || hasLabel(m, label) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetValue() == v {
			return true
		}
	}
	return false
}

func sinkCounter(t *testing.T, r *bhRun, name, sinkName, reason string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, sinkName) && (reason == "" || hasLabel(m, reason)) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{sink=%q,reason=%q}", name, sinkName, reason)
	return 0
}

// TestBulkheadStalledSink: a sink that never returns next to the store
// neither slows ingest nor delays the store, which receives every
// aggregate while the stalled sink is still stuck; the stalled sink's drops
// are counted exactly.
//
// Throughput is compared between two pipelines fed the same readings at
// the same time, one with the store alone and one with the stalled sink
// beside it, so that other load on the machine affects both alike.
func TestBulkheadStalledSink(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine on 2 × 25,000 readings, twice")
	}
	msgs := bhStream()
	var ratio float64
	for range 2 { // the better of two tries decides the throughput comparison
		base := startPipeline(t)
		st := &stalled{}
		r := startPipeline(t, st)
		var baseRate, rate float64
		var baseErr, err error
		var wg sync.WaitGroup
		wg.Go(func() { baseRate, baseErr = base.ingest(msgs) })
		wg.Go(func() { rate, err = r.ingest(msgs) })
		wg.Wait()
		require.NoError(t, baseErr)
		require.NoError(t, err)
		t.Logf("ingest: %.0f readings/s with the store alone, %.0f with a stalled sink beside it", baseRate, rate)
		ratio = max(ratio, rate/baseRate)

		// (How many windows go out provisional before final depends on
		// round timing, so the two pipelines' counts may differ a little.)
		base.finish(t)
		base.stop()
		emitted := r.finish(t)
		require.Greater(t, emitted, float64(bhQueue+1), "the run emits more than a queue holds")

		// Before shutdown: the store has everything, its queue dropped
		// nothing; the stalled sink holds one aggregate in its Write, its
		// queue is full, and every other aggregate was dropped and counted.
		require.Eventually(t, func() bool { return r.value("rollcall_sink_written_total", "store") == emitted },
			10*time.Second, time.Millisecond, "the store wrote every aggregate")
		require.Zero(t, sinkCounter(t, r, "rollcall_sink_dropped_total", "store", sink.DropQueueFull))
		require.Equal(t, int64(1), st.calls.Load())
		require.Equal(t, emitted-bhQueue-1, sinkCounter(t, r, "rollcall_sink_dropped_total", "stalled", sink.DropQueueFull))

		r.stop()
		// At shutdown: the write in progress and the first queued one fail
		// when their contexts end; the rest of the queue is dropped.
		require.Equal(t, 2.0, sinkCounter(t, r, "rollcall_sink_errors_total", "stalled", ""))
		require.Equal(t, float64(bhQueue-1), sinkCounter(t, r, "rollcall_sink_dropped_total", "stalled", sink.DropShutdown))
		require.Zero(t, sinkCounter(t, r, "rollcall_sink_written_total", "stalled", ""))
		require.Equal(t, emitted, sinkCounter(t, r, "rollcall_sink_written_total", "store", ""))
	}
	// Both pipelines do the same work; only scheduling separates them, by
	// up to ±40 % on a loaded 2-core machine, hence the loose bound. A
	// blocking fan-out would stop the second pipeline's ingest entirely as
	// soon as its engine emitted to the dead sink (ratio 0, or no end).
	require.GreaterOrEqual(t, ratio, 0.5, "a stalled sink must not slow ingest")
}
