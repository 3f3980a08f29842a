package aggregate

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// collector is an Emitter that keeps everything.
type collector struct {
	mu  sync.Mutex
	all []Aggregate
}

func (c *collector) Emit(a Aggregate) {
	c.mu.Lock()
	c.all = append(c.all, a)
	c.mu.Unlock()
}

func (c *collector) find(metric string, start time.Time, rev int) (Aggregate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.all {
		if a.Metric == metric && a.Window.Start.Equal(start) && a.Revision == rev {
			return a, true
		}
	}
	return Aggregate{}, false
}

const testFleet = `
defaults:
  interval: 1s
  metrics:
    power_kw: {min: 0, max: 100, max_rate_per_s: 2, device: mean, group: sum, impute: last}
    energy_kwh: {min: 0, monotonic: true, device: delta, group: sum, impute: none}
groups:
  site-a: {devices: [d1, d2, d3]}
learn: {enabled: false}
`

type harness struct {
	t   *testing.T
	e   *Engine
	c   *collector
	reg *prometheus.Registry
	seq map[string]uint64
}

func newHarness(t *testing.T, shards int) *harness { return newHarnessWith(t, shards, nil) }

// newHarnessWith is newHarness with the engine config adjusted by mutate.
func newHarnessWith(t *testing.T, shards int, mutate func(*Config)) *harness {
	return newHarnessFleet(t, shards, testFleet, mutate)
}

// newHarnessFleet is newHarnessWith with the fleet file given.
func newHarnessFleet(t *testing.T, shards int, fleet string, mutate func(*Config)) *harness {
	f, err := staleness.ParseFleet([]byte(fleet))
	require.NoError(t, err)
	c := &collector{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Shards: shards,
		Window: window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, AllowedSkew: 2 * time.Second},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := New(cfg, staleness.NewRoster(f), c, nil, reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &harness{t: t, e: e, c: c, reg: reg, seq: map[string]uint64{}}
}

// send offers one reading of device d with event time ts.
func (h *harness) send(d string, ts time.Time, v float64) {
	h.seq[d]++
	h.sendSeq(d, h.seq[d], ts, v)
}

func (h *harness) sendSeq(d string, seq uint64, ts time.Time, v float64) {
	p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%g}}`, seq, ts.UnixMilli(), v)
	require.True(h.t, h.e.Offer(ingest.Message{
		Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/" + d, Payload: []byte(p), Received: time.Now().UnixNano(),
	}))
}

func TestEngineCoverageAndMissing(t *testing.T) {
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprint("shards=", shards), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, shards)
				t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
				time.Sleep(time.Until(t0))
				// Device values: d1 = 10+i, d2 = 20, d3 = 30 until it goes silent at 10 s.
				for i := range 25 {
					ts := t0.Add(time.Duration(i) * time.Second)
					time.Sleep(time.Until(ts))
					h.send("d1", ts, float64(10+i))
					h.send("d2", ts, 20)
					if i < 10 {
						h.send("d3", ts, 30)
					}
				}
				time.Sleep(3 * time.Second)
				synctest.Wait()

				a, ok := h.c.find("power_kw", t0, 0)
				require.True(t, ok, "first window emitted")
				require.Equal(t, 3, a.Coverage.Expected)
				require.Equal(t, 3, a.Coverage.Reported)
				// d1 mean over i=0..9 is 14.5; d2 20; d3 30.
				require.InDelta(t, 14.5+20+30, float64(a.Stats.Sum.Reported), 1e-9)
				require.Equal(t, a.Stats.Sum.Reported, a.Stats.Sum.Lower)
				require.Equal(t, a.Stats.Sum.Reported, a.Stats.Sum.Upper)
				require.Equal(t, uint64(30), a.Counts.Samples)
				require.Equal(t, QualityUncertain, a.Quality, "provisional is uncertain")
				require.False(t, a.Final)

				b, ok := h.c.find("power_kw", t0.Add(10*time.Second), 0)
				require.True(t, ok, "second window emitted")
				require.Equal(t, 3, b.Coverage.Expected)
				require.Equal(t, 2, b.Coverage.Reported)
				require.Len(t, b.Coverage.Missing, 1)
				require.Equal(t, "site-a/d3", b.Coverage.Missing[0].Device)
				require.Equal(t, string(staleness.StateSilent), b.Coverage.Missing[0].State)
				// d1 mean over i=10..19 is 24.5.
				require.InDelta(t, 24.5+20, float64(b.Stats.Sum.Reported), 1e-9)
				require.InDelta(t, 24.5+20+30, float64(b.Stats.Sum.Value), 1e-9, "d3 imputed with its last value")
				// d3 last said 30 at 9 s and ramps at most 2/s; the window
				// reaches 11 s from then: its value is in [8, 52].
				require.InDelta(t, 24.5+20+8, float64(b.Stats.Sum.Lower), 1e-9)
				require.InDelta(t, 24.5+20+52, float64(b.Stats.Sum.Upper), 1e-9)
				require.InDelta(t, 20, float64(b.Stats.Min.Reported), 1e-9)
				require.InDelta(t, 8, float64(b.Stats.Min.Lower), 1e-9)
				require.InDelta(t, 20, float64(b.Stats.Min.Upper), 1e-9)
				require.InDelta(t, 52, float64(b.Stats.Max.Upper), 1e-9)
				require.InDelta(t, 24.5, float64(b.Stats.Max.Lower), 1e-9)
				require.InDelta(t, 2.0/3, b.Coverage.Ratio, 1e-12)

				// Once the watermark (the clock minus the idle timeout, as the
				// devices stopped) passes end + lateness, the window is final.
				time.Sleep(45 * time.Second)
				synctest.Wait()
				f, ok := h.c.find("power_kw", t0, 1)
				require.True(t, ok, "first window final")
				require.True(t, f.Final)
				require.Equal(t, QualityGood, f.Quality)
				require.Equal(t, a.Stats.Sum.Reported, f.Stats.Sum.Reported)

				require.Equal(t, float64(60), testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
			})
		})
	}
}

func TestEngineLateReadingRevises(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		for i := range 13 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			h.send("d1", ts, 10)
			h.send("d2", ts, 20)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		a, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Equal(t, 2, a.Coverage.Reported)

		// d3 flushes its buffered readings of the first window: a revision.
		for i := range 10 {
			h.send("d3", t0.Add(time.Duration(i)*time.Second), 30)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		r, ok := h.c.find("power_kw", t0, 1)
		require.True(t, ok, "revision emitted")
		require.False(t, r.Final)
		require.Equal(t, 3, r.Coverage.Reported)
		require.InDelta(t, 60, float64(r.Stats.Sum.Value), 1e-9)
		require.Equal(t, uint64(10), r.Counts.Late)

		// Once the watermark (here the clock minus the idle timeout) passes
		// end + lateness, the window is final and a reading for it too late.
		time.Sleep(50 * time.Second)
		h.sendSeq("d3", 1000, t0, 30)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, float64(1), testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonTooLate)))
		f, ok := h.c.find("power_kw", t0, 2)
		require.True(t, ok)
		require.True(t, f.Final)
		require.InDelta(t, 60, float64(f.Stats.Sum.Value), 1e-9)
	})
}

func TestEngineDuplicateNotCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		for i := range 13 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			h.send("d1", ts, 10)
			h.sendSeq("d1", h.seq["d1"], ts, 10) // redelivery
		}
		time.Sleep(time.Second)
		synctest.Wait()
		a, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Equal(t, uint64(10), a.Counts.Samples)
		require.Equal(t, uint64(10), a.Counts.Duplicates)
		require.InDelta(t, 10, float64(a.Stats.Sum.Reported), 1e-9)
		require.Equal(t, float64(13), testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeDuplicate)))
		require.False(t, math.IsNaN(float64(a.Stats.Sum.Value)))
	})
}

// A message the broker re-sends with the DUP flag is counted as a duplicate
// but not in the window's counts, and never flags the device replaying.
func TestEngineRedeliveryIsNotTheDevicesDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		redeliver := func(d string, seq uint64, ts time.Time) {
			p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":10}}`, seq, ts.UnixMilli())
			require.True(t, h.e.Offer(ingest.Message{
				Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/" + d, Payload: []byte(p),
				Received: time.Now().UnixNano(), Redelivered: true,
			}))
		}
		for i := range 13 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			h.send("d1", ts, 10)
			redeliver("d1", h.seq["d1"], ts) // recent
			if i >= 8 {
				redeliver("d1", 1, t0) // old: would be a replay without DUP
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		a, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Equal(t, uint64(10), a.Counts.Samples)
		require.Zero(t, a.Counts.Duplicates)
		require.Zero(t, a.Counts.Replays)
		require.Equal(t, float64(18), testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeDuplicate)))
		require.Zero(t, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeReplay)))
		ds, err := h.e.Devices(context.Background(), DeviceFilter{ID: "site-a/d1"})
		require.NoError(t, err)
		require.False(t, ds[0].Replaying)
		require.Equal(t, uint64(18), ds[0].Counts.Duplicates)
	})
}

// A broker's backlog at start (readings older than the clock's window) is
// accepted and aggregated, not rejected too_late.
func TestEngineBacklogAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		time.Sleep(200 * time.Millisecond) // a few idle rounds before the backlog arrives
		// Within the lateness horizon (20 s + a 10 s window), older than the
		// clock's own window.
		t0 := time.Now().Truncate(10 * time.Second).Add(-20 * time.Second)
		for i := range 40 {
			ts := t0.Add(time.Duration(i) * time.Second)
			h.send("d1", ts, 10)
			h.send("d2", ts, 20)
			h.send("d3", ts, 30)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonTooLate)))
		a, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok, "the oldest backlog window is emitted")
		require.Equal(t, 3, a.Coverage.Reported)
		require.Equal(t, uint64(30), a.Counts.Samples)
	})
}
