package aggregate

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
)

const s1 = int64(time.Second)

// counterDevice is a device with one counter metric (rate: its
// max_rate_per_s) and 10 s windows.
func counterDevice(rate float64) *device {
	spec := &staleness.Metric{Name: "e", Min: 0, Max: math.Inf(1), MaxRatePerS: rate, Monotonic: true, Reducer: staleness.ReduceIncrease}
	return &device{metrics: []devMetric{{spec: spec}}}
}

// addSample adds the counter sample v of boot at ts seconds.
func addSample(d *device, ts float64, v float64, boot uint64) {
	t := int64(ts * float64(s1))
	w := d.window(t - t%(10*s1))
	if len(w.accs) == 0 {
		w.accs = make([]accumulator, 1)
	}
	w.accs[0].addCounter(d.metrics[0].spec, v, t, boot)
}

// increaseIn returns d's increase in the window starting at start seconds.
func increaseIn(d *device, start int64) (staleness.Increase, bool, bool) {
	var a *accumulator
	if w := d.findWindow(start * s1); w != nil {
		a = &w.accs[0]
	}
	return d.counterIncrease(0, a, start*s1, (start+10)*s1)
}

func requireIncrease(t *testing.T, want, got staleness.Increase, msg string) {
	t.Helper()
	require.InDelta(t, want.Value, got.Value, 1e-9, "%s: value", msg)
	require.InDelta(t, want.Lo, got.Lo, 1e-9, "%s: lo", msg)
	require.InDelta(t, want.Hi, got.Hi, 1e-9, "%s: hi", msg)
}

func TestCounterInterpolation(t *testing.T) {
	t.Parallel()
	d := counterDevice(1.2)
	addSample(d, 5, 0, 1)
	addSample(d, 15, 10, 1) // the window [10, 20) holds this single sample
	addSample(d, 25, 20, 1)
	// The counter at 10 s interpolates to 5, at 20 s to 15: increase 10.
	// Bounds: each boundary's step of 10 over 10 s puts 10 − 1.2 × 5 = 4 to
	// 1.2 × 5 = 6 on either side.
	x, reported, ok := increaseIn(d, 10)
	require.True(t, reported && ok)
	requireIncrease(t, staleness.Increase{Value: 10, Lo: 8, Hi: 12}, x, "a single sample")
	// Consecutive windows add up to the counter's increase over them.
	a, _, _ := increaseIn(d, 0)
	b, _, _ := increaseIn(d, 20)
	// 20 from 5 s to 25 s, and 5 extrapolated at the slope 1/s on either
	// side (before 5 s, after 25 s).
	require.InDelta(t, 5+20+5, a.Value+x.Value+b.Value, 1e-9)

	// Without the rate, monotonicity alone bounds each boundary share by
	// [0, its step].
	d = counterDevice(math.Inf(1))
	addSample(d, 5, 0, 1)
	addSample(d, 15, 10, 1)
	addSample(d, 25, 20, 1)
	x, _, _ = increaseIn(d, 10)
	requireIncrease(t, staleness.Increase{Value: 10, Lo: 0, Hi: 20}, x, "monotonicity alone")
}

func TestCounterResets(t *testing.T) {
	t.Parallel()
	d := counterDevice(1.2)
	addSample(d, 5, 100, 1)
	addSample(d, 15, 3, 2) // rebooted: counts from 0
	addSample(d, 25, 13, 2)
	// Head: the reset step is 3 (the new series from 0), at most 1.2 × 10;
	// half of it by interpolation, at most 1.2 × 5 inside, at least 0.
	// Tail: 5 of a step of 10, in [4, 6].
	x, _, _ := increaseIn(d, 10)
	requireIncrease(t, staleness.Increase{Value: 1.5 + 5, Lo: 0 + 4, Hi: 6 + 6}, x, "a reset at the boundary")

	// A reset inside a window: 3 counted from 0, then 4 more.
	d = counterDevice(1.2)
	addSample(d, 11, 100, 1)
	addSample(d, 13, 3, 2)
	addSample(d, 17, 7, 2)
	a := &d.findWindow(10 * s1).accs[0]
	requireIncrease(t, staleness.Increase{Value: 7, Lo: 7, Hi: 7}, a.inner(), "a reset inside")
	// A drop without a new boot is a reset too.
	d = counterDevice(1.2)
	addSample(d, 11, 100, 1)
	addSample(d, 13, 3, 1)
	require.InDelta(t, 3, d.findWindow(10 * s1).accs[0].inner().Value, 1e-9)
}

func TestCounterOutOfOrder(t *testing.T) {
	t.Parallel()
	type sample struct {
		ts, v float64
		boot  uint64
	}
	for name, samples := range map[string][]sample{
		"one series": {{11, 100, 1}, {13, 103, 1}, {17, 107, 1}, {22, 112, 1}},
		"a reset":    {{11, 100, 1}, {13, 3, 2}, {17, 7, 2}, {22, 12, 2}},
	} {
		want := counterDevice(1.2)
		for _, s := range samples {
			addSample(want, s.ts, s.v, s.boot)
		}
		wantX, _, _ := increaseIn(want, 10)
		for _, order := range [][]int{{3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}, {2, 1, 3, 0}} {
			d := counterDevice(1.2)
			for _, i := range order {
				addSample(d, samples[i].ts, samples[i].v, samples[i].boot)
			}
			x, _, _ := increaseIn(d, 10)
			msg := fmt.Sprint(name, order)
			require.InDelta(t, wantX.Value, x.Value, 1e-9, msg)
			require.LessOrEqual(t, x.Lo, x.Value, msg)
			require.GreaterOrEqual(t, x.Hi, x.Value, msg)
		}
	}
}

func TestCounterMissingAndProvisional(t *testing.T) {
	t.Parallel()
	d := counterDevice(2)
	addSample(d, 5, 0, 1)
	addSample(d, 9, 4, 1)
	// Provisional: nothing after 9 s yet, the rest of [0, 10) is
	// extrapolated at the slope 1/s: 1 more, in [0, 2 × 1].
	x, reported, _ := increaseIn(d, 0)
	require.True(t, reported)
	requireIncrease(t, staleness.Increase{Value: 5 + 4 + 1, Lo: 4, Hi: 4 + 10 + 2}, x, "extrapolated")
	_, _, ok := increaseIn(d, 10)
	require.False(t, ok, "a window without samples and nothing after: the physics bounds")
	// The device returns at 29 s: the silent window [10, 20) takes half of
	// the step of 20 over 20 s.
	addSample(d, 29, 24, 1)
	x, reported, ok = increaseIn(d, 10)
	require.True(t, ok)
	require.False(t, reported)
	requireIncrease(t, staleness.Increase{Value: 10, Lo: 0, Hi: 20}, x, "bracketed")
	x, _, _ = increaseIn(d, 0)
	// Head still extrapolated (5, in [0, 10]); tail 1/20 of the step of 20,
	// in [0, 2 × 1].
	requireIncrease(t, staleness.Increase{Value: 5 + 4 + 1, Lo: 4, Hi: 10 + 4 + 2}, x, "interpolated once the next sample came")

	// Purged windows leave their last sample behind.
	d.purge(20*s1, []int64{0, 10 * s1}, 10*s1) // both windows reported: purged
	prev, _, hasPrev, _ := d.counterNeighbours(0, 20*s1, 30*s1)
	require.True(t, hasPrev)
	require.Equal(t, staleness.CounterSample{TS: 9 * s1, Value: 4, Boot: 1}, prev)
}

const counterFleet = `
defaults:
  interval: 1s
  metrics:
    energy_kwh: {min: 0, monotonic: true, max_rate_per_s: 2, device: increase, group: sum, impute: last}
groups:
  site-a: {devices: [d1]}
learn: {enabled: false}
`

// TestEngineCounterRevisedByNextSample: a window emitted before the sample
// after its end arrived is revised when it does (the sample touches the
// window's end boundary), from extrapolated to interpolated.
func TestEngineCounterRevisedByNextSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessFleet(t, 1, counterFleet, nil)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		send := func(at time.Duration, v float64) {
			h.seq["d1"]++
			p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"energy_kwh":%g}}`, h.seq["d1"], t0.Add(at).UnixMilli(), v)
			require.True(t, h.e.Offer(ingest.Message{
				Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d1", Payload: []byte(p), Received: time.Now().UnixNano(),
			}))
		}
		for i := range 10 { // 1 per second in [0, 10), each sent when taken
			time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second)))
			send(time.Duration(i)*time.Second, float64(i))
		}
		// Silent until the window is emitted provisionally (watermark idle).
		time.Sleep(36 * time.Second)
		synctest.Wait()
		a, ok := h.c.find("energy_kwh", t0, 0)
		require.True(t, ok, "provisional")
		require.InDelta(t, 10, float64(a.Stats.Sum.Value), 1e-9, "9 inside, 1 extrapolated")
		// The next sample, of the next window: 4 more by 14 s, a slower
		// slope than extrapolated, so the window's value changes.
		send(14*time.Second, 11)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		r, ok := h.c.find("energy_kwh", t0, 1)
		require.True(t, ok, "revised by the sample after the window's end")
		require.InDelta(t, 9+2.0/5, float64(r.Stats.Sum.Value), 1e-9, "interpolated: 1/5 of the step of 2 over 5 s")
		require.Less(t, float64(r.Stats.Sum.Lower), float64(r.Stats.Sum.Value))
		require.Zero(t, r.Counts.Late, "the reading is not in this window")
	})
}

// TestCounterSnapshotRoundTrip: a counter's state (its samples' boots, the
// resets, the sample before the open windows) survives a checkpoint.
func TestCounterSnapshotRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessFleet(t, 1, counterFleet, nil)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		for i := range 60 {
			boot := 1 + i/40 // a reboot at 40 s
			h.seq["d1"]++
			p := fmt.Sprintf(`{"seq":%d,"boot":%d,"ts":%d,"metrics":{"energy_kwh":%d}}`, h.seq["d1"], boot, t0.Add(time.Duration(i)*time.Second).UnixMilli(), i%40)
			require.True(t, h.e.Offer(ingest.Message{
				Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d1", Payload: []byte(p), Received: time.Now().UnixNano(),
			}))
			time.Sleep(time.Second)
		}
		synctest.Wait()
		snap, err := h.e.Snapshot(context.Background())
		require.NoError(t, err)
		ds := snap.Devices[0]
		require.True(t, ds.Metrics[0].HasBefore, "windows were purged")
		require.True(t, slices.ContainsFunc(ds.Windows, func(w WindowSnapshot) bool { return w.Accs[0].Counter.LastBoot == 2 }))

		var buf bytes.Buffer
		require.NoError(t, gob.NewEncoder(&buf).Encode(snap))
		var restored Snapshot
		require.NoError(t, gob.NewDecoder(&buf).Decode(&restored))
		f, err := staleness.ParseFleet([]byte(counterFleet))
		require.NoError(t, err)
		e2, err := New(h.e.cfg, staleness.NewRoster(f), &collector{}, nil, prometheus.NewRegistry())
		require.NoError(t, err)
		require.NoError(t, e2.Restore(&restored))
		e2.Hold()
		stop := runEngine(e2)
		again, err := e2.Snapshot(context.Background())
		require.NoError(t, err)
		stop()
		require.Equal(t, snap.Devices, again.Devices)
	})
}

// TestCounterDocsExample is the worked example of docs/semantics.md,
// "Counters".
func TestCounterDocsExample(t *testing.T) {
	t.Parallel()
	d := counterDevice(1.5)
	addSample(d, 8, 100, 1)
	addSample(d, 12, 104, 1)
	addSample(d, 16, 108, 1)
	x, _, _ := increaseIn(d, 10)
	requireIncrease(t, staleness.Increase{Value: 2 + 4 + 4, Lo: 1 + 4 + 0, Hi: 3 + 4 + 6}, x, "before the 21 s sample: extrapolated")
	addSample(d, 21, 113, 1)
	x, _, _ = increaseIn(d, 10)
	requireIncrease(t, staleness.Increase{Value: 10, Lo: 8.5, Hi: 12}, x, "interpolated")
	require.Equal(t, 4.0, d.findWindow(10 * s1).accs[0].value(staleness.ReduceDelta), "delta")
	m := d.metrics[0].spec
	requireIncrease(t, staleness.Increase{Value: 0.6, Lo: 0.6, Hi: 9},
		m.Step(staleness.CounterSample{TS: 21 * s1, Value: 113, Boot: 1}, staleness.CounterSample{TS: 27 * s1, Value: 0.6, Boot: 2}), "the reboot")
	d.metrics[0].spec = &staleness.Metric{Name: "e", Min: 0, Max: math.Inf(1), MaxRatePerS: math.Inf(1), Monotonic: true, Reducer: staleness.ReduceIncrease}
	x, _, _ = increaseIn(d, 10)
	requireIncrease(t, staleness.Increase{Value: 10, Lo: 4, Hi: 13}, x, "monotonicity alone")
}

// TestCounterMergePanes: the accumulators of consecutive panes merge into
// the accumulator of their union (hopping windows merge panes).
func TestCounterMergePanes(t *testing.T) {
	t.Parallel()
	m := &staleness.Metric{Name: "e", Min: 0, Max: math.Inf(1), MaxRatePerS: 2, Monotonic: true, Reducer: staleness.ReduceIncrease}
	type sample struct {
		ts   int64
		v    float64
		boot uint64
	}
	samples := []sample{{1, 10, 1}, {3, 12, 1}, {6, 1, 2}, {8, 4, 2}, {9, 2, 3}, {12, 5, 3}}
	var whole accumulator
	panes := make([]accumulator, 3) // [0, 4), [4, 8), [8, 12]
	for _, s := range samples {
		whole.addCounter(m, s.v, s.ts*s1, s.boot)
		panes[min(s.ts/4, 2)].addCounter(m, s.v, s.ts*s1, s.boot)
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		var merged accumulator
		for _, i := range order {
			merged.mergeCounter(m, &panes[i])
		}
		requireIncrease(t, whole.inner(), merged.inner(), fmt.Sprint(order))
		require.Equal(t, whole, merged, fmt.Sprint(order))
	}
	var empty accumulator
	empty.mergeCounter(m, &accumulator{})
	require.Zero(t, empty.n)
}

// TestEngineCounterHoppingEqualsCoveredTumbling: with hopping windows
// (30 s every 10 s) a counter's final increase is the sum of the final
// increases of the three tumbling 10 s windows it covers, gaps and a reset
// included (for windows with samples on both sides):
// both interpolate the counter at the same boundaries, so panes join
// without losing the step between them.
func TestEngineCounterHoppingEqualsCoveredTumbling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tumbling := newHarnessFleet(t, 1, counterFleet, nil)
		hopping := newHarnessFleet(t, 1, counterFleet, func(c *Config) { c.Window.Size, c.Window.Step = 30*time.Second, 10*time.Second })
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		v, seq, boot := 0.0, uint64(0), 1
		for i := range 80 {
			if i == 25 { // a reboot: the counter starts again from 0
				v, seq, boot = 0, 0, 2
			}
			if i%13 == 5 || (i >= 41 && i <= 47) { // single gaps and one across a boundary
				time.Sleep(time.Second)
				continue
			}
			seq++
			v += 0.25 + float64(i%7)*0.2
			p := fmt.Sprintf(`{"seq":%d,"boot":%d,"ts":%d,"metrics":{"energy_kwh":%g}}`, seq, boot, t0.Add(time.Duration(i)*time.Second+300*time.Millisecond).UnixMilli(), v)
			for _, h := range []*harness{tumbling, hopping} {
				require.True(t, h.e.Offer(ingest.Message{
					Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d1", Payload: []byte(p), Received: time.Now().UnixNano(),
				}))
			}
			time.Sleep(time.Second)
		}
		time.Sleep(2 * time.Minute) // every window final
		synctest.Wait()
		finals := func(c *collector) map[int64]Aggregate {
			c.mu.Lock()
			defer c.mu.Unlock()
			m := map[int64]Aggregate{}
			for _, a := range c.all {
				if a.Final {
					m[a.Window.Start.UnixNano()] = a
				}
			}
			return m
		}
		tf, hf := finals(tumbling.c), finals(hopping.c)
		checked := 0
		// Windows with a sample before and after them: at the first and last
		// a counter is extrapolated at the slope of the window's own samples,
		// which differs between a 10 s and a 30 s window.
		for start := t0.Add(10 * time.Second); start.Before(t0.Add(50 * time.Second)); start = start.Add(10 * time.Second) {
			h, ok := hf[start.UnixNano()]
			require.True(t, ok, "hopping final at %v", start)
			sum := 0.0
			for k := range 3 {
				w, ok := tf[start.Add(time.Duration(k)*10*time.Second).UnixNano()]
				require.True(t, ok, "tumbling final at %v", start.Add(time.Duration(k)*10*time.Second))
				sum += float64(w.Stats.Sum.Value)
			}
			require.InDelta(t, sum, float64(h.Stats.Sum.Value), 1e-9, "window %v: hopping = sum of the covered tumbling windows", start)
			require.LessOrEqual(t, float64(h.Stats.Sum.Lower), float64(h.Stats.Sum.Value))
			require.GreaterOrEqual(t, float64(h.Stats.Sum.Upper), float64(h.Stats.Sum.Value))
			checked++
		}
		require.Equal(t, 4, checked)
	})
}
