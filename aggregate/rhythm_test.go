package aggregate

import (
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/staleness"
)

func TestRhythm(t *testing.T) {
	t.Parallel()
	type sample struct {
		ts        float64 // seconds
		boot, seq uint64  // seq 0: none
	}
	s := func(ts float64, seq uint64) sample { return sample{ts, 1, seq} }
	tests := []struct {
		name    string
		samples []sample
		want    float64 // learned step, seconds
		wobble  float64 // learned wobble, seconds
	}{
		{"one sample: unknown", []sample{s(0, 1)}, 0, 0},
		{"regular", []sample{s(0, 1), s(1, 2), s(2, 3), s(3, 4)}, 1, 0},
		{"lost readings keep their seq: the gap divides", []sample{s(0, 1), s(1, 2), s(31, 32), s(32, 33)}, 1, 0},
		{"without seq a single long gap is ignored", []sample{s(0, 0), s(1, 0), s(2, 0), s(32, 0)}, 1, 0},
		{"without seq three long gaps make the new step", []sample{s(0, 0), s(1, 0), s(6, 0), s(11, 0), s(16, 0)}, 5, 0},
		{"a long gap between normal ones resets the count", []sample{s(0, 0), s(1, 0), s(6, 0), s(7, 0), s(12, 0), s(13, 0), s(18, 0)}, 1, 0},
		{"speeding up is taken at once", []sample{s(0, 1), s(1, 2), s(1.1, 3), s(1.2, 4)}, 0.1, 0},
		// 1 then 1.5 (within twice): averaged in by 1/8.
		{"a moderately longer step is averaged in", []sample{s(0, 0), s(1, 0), s(2.5, 0)}, 1 + 0.5/8, 0.5 / 8},
		// Gaps 1, 1.1, 0.9: step 1 → 1.0125 → 0.9984375; wobble 0 →
		// 0.0125 → 0.025.
		{"jitter is averaged into the step and the wobble", []sample{s(0, 0), s(1, 0), s(2.1, 0), s(3, 0)}, 0.9984375, 0.025},
		{"an equal time teaches nothing", []sample{s(0, 1), s(1, 2), s(1, 3), s(2, 4)}, 1, 0},
		{"with seq, slowing down is taken at once", []sample{s(0, 1), s(1, 2), s(6, 3)}, 5, 0},
		{"an older seq with a newer time teaches nothing", []sample{s(0, 5), s(1, 6), s(1.5, 2), s(2.5, 7)}, 1, 0},
		// A reboot restarts seq: the gap is not divided by a seq difference.
		{"a new boot", []sample{s(0, 7), s(1, 8), {2, 2, 1}, {3, 2, 2}}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var r rhythm
			var has bool
			var prevTS int64
			var prevBoot uint64
			for _, x := range tc.samples {
				ts := int64(x.ts * float64(time.Second))
				r.observe(has, prevTS, prevBoot, ts, x.boot, x.seq, x.seq > 0)
				has, prevTS, prevBoot = true, ts, x.boot
			}
			require.Equal(t, int64(tc.want*float64(time.Second)), r.step, "step")
			require.Equal(t, int64(tc.wobble*float64(time.Second)), r.wobble, "wobble")
		})
	}
}

// acc returns the accumulator of samples at the given seconds, all of value
// v except where vals says otherwise, learned with step seconds.
func acc(step float64, ts []float64, vals ...float64) accumulator {
	var a accumulator
	for i, x := range ts {
		v := 30.0
		if i < len(vals) {
			v = vals[i]
		}
		a.add(v, int64(x*float64(time.Second)))
	}
	a.step = int64(step * float64(time.Second))
	return a
}

func seconds(from, to, step float64) []float64 {
	var out []float64
	for x := from; x < to-1e-9; x += step {
		out = append(out, math.Round(x*1000)/1000)
	}
	return out
}

func TestShortfall(t *testing.T) {
	t.Parallel()
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	holed := append(seconds(10, 15, 1), seconds(16, 20, 1)...)
	tests := []struct {
		name          string
		a             accumulator
		from          float64 // the device's first event
		slack         float64 // three wobbles
		stepNow       float64 // the step at emission, if longer
		missing       int
		before, after bool
	}{
		{"every sample", acc(1, seconds(10, 20, 1)), 0, 0, 0, 0, false, false},
		{"off the window's grid, every sample", acc(1, seconds(10.5, 20, 1)), 0, 0, 0, 0, false, false},
		{"stopped after 14 s", acc(1, seconds(10, 15, 1)), 0, 0, 0, 5, false, true},
		{"began at 13 s", acc(1, seconds(13, 20, 1)), 0, 0, 0, 3, true, false},
		{"began at 13 s, its first sample ever", acc(1, seconds(13, 20, 1)), 13, 0, 0, 0, false, false},
		{"a hole at 15 s", acc(1, holed), 0, 0, 0, 1, false, false},
		{"a sample 2 ms before the end is expected", acc(1, seconds(10.998, 19, 1)), 0, 0, 0, 1, false, true},
		{"no learned step: nothing known missing", acc(0, seconds(10, 15, 1)), 0, 0, 0, 0, false, false},
		{"denser than the step is not short", acc(1, seconds(10, 20, 0.25)), 0, 0, 0, 0, false, false},
		// Jitter of up to 50 ms: a first sample 1.04 s after the start is
		// not one missed; one 1.1 s after is.
		{"within the slack of the start", acc(1, seconds(11.04, 20, 1)), 0, 0.05, 0, 0, false, false},
		{"beyond the slack of the start", acc(1, seconds(11.1, 20, 1)), 0, 0.05, 0, 1, true, false},
		{"within the slack of the end", acc(1, seconds(10.97, 19, 1)), 0, 0.05, 0, 0, false, false},
		{"the same without slack", acc(1, seconds(10.97, 19, 1)), 0, 0, 0, 1, false, true},
		// Samples every 0.1 s until 15 s, then the device slowed down to
		// one every 10 s (a burst ended): nothing after 15 s is missing.
		{"a burst that ended after the last sample", acc(0.1, seconds(10, 15.05, 0.1)), 0, 0, 10, 0, false, false},
		{"the same while the step is still the burst's", acc(0.1, seconds(10, 15.05, 0.1)), 0, 0, 0, 49, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := rhythm{step: max(tc.a.step, sec(tc.stepNow)), wobble: sec(tc.slack) / 3}
			g := tc.a.shortfall(sec(10), sec(20), sec(tc.from), &now)
			m, b, a := g.missing(), g.before > 0, g.after > 0
			require.Equal(t, tc.missing, m, "missing")
			require.Equal(t, tc.before, b, "before")
			require.Equal(t, tc.after, a, "after")
		})
	}
}

func TestReportedBounds(t *testing.T) {
	t.Parallel()
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	inf := math.Inf(1)
	spec := func(reducer staleness.Reducer, min, max, rate float64, monotonic bool) staleness.Metric {
		return staleness.Metric{Name: "m", Min: min, Max: max, MaxRatePerS: rate, Reducer: reducer, Monotonic: monotonic}
	}
	// 30 at 10..14 s of the window [10, 20), one a second: the 5 samples
	// of 15..19 s missing after it, the j-th within 2 × j of 30 (rate 2):
	// [28, 32], [26, 34], [24, 36], [22, 38], [20, 40]; they sum to
	// [120, 180].
	stopped := acc(1, seconds(10, 15, 1))
	counter := acc(1, seconds(10, 15, 1), 100, 110, 120, 130, 140)
	after5 := gaps{after: 5, stepAfter: sec(1)}
	tests := []struct {
		name   string
		m      staleness.Metric
		a      accumulator
		g      gaps
		lo, hi float64
	}{
		{"nothing missing: exact", spec("mean", 0, 100, 2, false), stopped, gaps{}, 30, 30},
		// (150 + 120) / 10 and (150 + 180) / 10.
		{"mean", spec("mean", 0, 100, 2, false), stopped, after5, 27, 33},
		// 30 ± 10 j clamped to [0, 100]: [20, 40], [10, 50], [0, 60],
		// [0, 70], [0, 80]: (150 + 30) / 10, (150 + 300) / 10.
		{"mean, clamped to the range", spec("mean", 0, 100, 10, false), stopped, after5, 18, 45},
		{"mean without a rate: the range", spec("mean", 0, 100, inf, false), stopped, after5, 15, 65},
		// A jittery device (slack 0.5 s): the j-th is within 2 × (j + 0.5),
		// at most 6 s from 14 s: sums 150 − 2 × (1.5+2.5+3.5+4.5+5.5) = 115
		// and 185.
		{"mean with slack", spec("mean", 0, 100, 2, false), stopped, gaps{after: 5, stepAfter: sec(1), slack: sec(0.5)}, 26.5, 33.5},
		{"min", spec("min", 0, 100, 2, false), stopped, after5, 20, 30},
		{"max", spec("max", 0, 100, 2, false), stopped, after5, 30, 40},
		{"sum", spec("sum", 0, 100, 2, false), stopped, after5, 270, 330},
		{"last, samples after it missing", spec("last", 0, 100, 2, false), stopped, after5, 20, 40},
		{"last, only a hole before it: exact", spec("last", 0, 100, 2, false), stopped, gaps{holes: 1, stepAfter: sec(1)}, 30, 30},
		// A hole: within 2 × 2 s (half the known span) of [30, 30].
		{"mean with a hole", spec("mean", 0, 100, 2, false), stopped, gaps{holes: 1, stepAfter: sec(1)}, (150 + 26) / 6.0, (150 + 34) / 6.0},
		// The last (140 at 14 s) 5 steps on at 3/s: [125, 155]; the first
		// (100 at 10 s) is the window's. A monotonic counter's delta is at
		// least the delta seen (40).
		{"delta of a monotonic counter", spec("delta", 0, inf, 3, true), counter, after5, 40, 55},
		// A sample before the first cannot be before the window's start: the
		// first stays 100.
		{"delta, unknown first and last", spec("delta", -inf, inf, 3, false), counter, gaps{before: 1, after: 5, stepAfter: sec(1)}, 25, 55},
		// Samples 12..19 s, 2 missing before 12 s: the first (100) within
		// 3 × 2 s (its farthest, at 10 s): [94, 106].
		{"delta, samples missing before", spec("delta", -inf, inf, 3, false), acc(1, seconds(12, 20, 1), 100, 110, 120, 130, 140, 150, 160, 170), gaps{before: 2, stepAfter: sec(1)}, 70 - 6, 70 + 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := tc.a.value(tc.m.Reducer)
			lo, hi := reportedBounds(&tc.m, &tc.a, v, sec(10), sec(20), tc.g)
			require.InDelta(t, tc.lo, lo, 1e-9, "lower")
			require.InDelta(t, tc.hi, hi, 1e-9, "upper")
		})
	}
}

// TestEnginePartiallyReportedDevice: a device that stops halfway through a
// window counts as reported with bounds around its partial mean, the window
// is not good, and its late remaining samples revise it to exact values.
func TestEnginePartiallyReportedDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		// d1 and d2 at 20 every second; d3 at 30 until 14 s, then its
		// samples of 15..19 s are held back.
		for i := range 24 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			h.send("d1", ts, 20)
			h.send("d2", ts, 20)
			if i < 15 {
				h.send("d3", ts, 30)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		w := t0.Add(10 * time.Second)
		a, ok := h.c.find("power_kw", w, 0)
		require.True(t, ok, "second window emitted")
		require.Equal(t, 3, a.Coverage.Reported)
		require.Equal(t, 1, a.Coverage.Partial)
		require.Equal(t, QualityUncertain, a.Quality)
		// d3: 30 at 10..14 s, ramping at most 2/s; the 5 samples after it
		// missing, its mean in [27, 33] (TestReportedBounds).
		require.InDelta(t, 70, float64(a.Stats.Sum.Reported), 1e-9)
		require.InDelta(t, 67, float64(a.Stats.Sum.Lower), 1e-9)
		require.InDelta(t, 73, float64(a.Stats.Sum.Upper), 1e-9)
		require.InDelta(t, 67.0/3, float64(a.Stats.Mean.Lower), 1e-9)
		require.InDelta(t, 20, float64(a.Stats.Min.Lower), 1e-9)
		require.InDelta(t, 20, float64(a.Stats.Min.Upper), 1e-9)
		require.InDelta(t, 27, float64(a.Stats.Max.Lower), 1e-9)
		require.InDelta(t, 33, float64(a.Stats.Max.Upper), 1e-9)
		first, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Zero(t, first.Coverage.Partial, "the first window has every sample")
		require.Equal(t, first.Stats.Sum.Reported, first.Stats.Sum.Upper)

		// The held-back samples arrive (30 again): the window is revised
		// to the exact value, and is good once final.
		for i := 15; i < 20; i++ {
			h.sendSeq("d3", uint64(i+1), t0.Add(time.Duration(i)*time.Second), 30)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		r, ok := h.c.find("power_kw", w, 1)
		require.True(t, ok, "revision emitted")
		require.Zero(t, r.Coverage.Partial)
		require.InDelta(t, 70, float64(r.Stats.Sum.Lower), 1e-9)
		require.InDelta(t, 70, float64(r.Stats.Sum.Upper), 1e-9)
		time.Sleep(60 * time.Second)
		synctest.Wait()
		f, ok := h.c.find("power_kw", w, 2)
		require.True(t, ok, "final emitted: %+v", h.c.all)
		require.True(t, f.Final)
		require.Equal(t, QualityGood, f.Quality)
	})
}

// TestPartialBoundsContainTruth generates devices that sample a trajectory
// on a regular grid (changing at most rate per second, within [0, 100]),
// delivers a random part of each window's samples (some dropped at the
// start, at the end, and in holes) and checks, for every reducer, that
// shortfall counts exactly the samples not delivered and that the bounds of
// reportedBounds contain the device value over all samples.
func TestPartialBoundsContainTruth(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20261122, 5))
	const start, end = int64(0), int64(10 * time.Second)
	steps := []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 700 * time.Millisecond, time.Second, 3 * time.Second}
	for i := range 5000 {
		step := int64(steps[r.IntN(len(steps))])
		// A grid point within shortTol of a step before the start or the
		// end is ambiguous by design (counted inside at the start, outside
		// at the end): keep clear of it here.
		phase := r.Int64N(step)
		for near := int64(2 * shortTol * float64(step)); step-phase < near || (end-phase)%step > 0 && (end-phase)%step < near; {
			phase = r.Int64N(step)
		}
		rate := []float64{0.5, 2, 10, math.Inf(1)}[r.IntN(4)]
		var ts []int64
		var vs []float64
		v := r.Float64() * 100
		for x := start + phase; x < end; x += step {
			ts = append(ts, x)
			vs = append(vs, v)
			d := (r.Float64()*2 - 1) * 20
			if !math.IsInf(rate, 1) {
				d = (r.Float64()*2 - 1) * rate * time.Duration(step).Seconds()
			}
			v = min(100, max(0, v+d))
		}
		// Deliver [lo, hi) minus random holes; at least one sample.
		lo := r.IntN(len(ts))
		if r.IntN(2) == 0 {
			lo = 0
		}
		hi := lo + 1 + r.IntN(len(ts)-lo)
		if r.IntN(2) == 0 {
			hi = len(ts)
		}
		var a accumulator
		delivered := 0
		for j := lo; j < hi; j++ {
			if j != lo && j != hi-1 && r.IntN(5) == 0 {
				continue // a hole
			}
			a.add(vs[j], ts[j])
			delivered++
		}
		a.step = step
		g := a.shortfall(start, end, math.MinInt64, &rhythm{step: step})
		require.Equal(t, len(ts)-delivered, g.missing(), "case %d: step %v, samples %d, delivered [%d, %d) %d", i, time.Duration(step), len(ts), lo, hi, delivered)
		require.Equal(t, lo, g.before, "case %d: before", i)
		require.Equal(t, len(ts)-hi, g.after, "case %d: after", i)

		var all accumulator
		for j := range ts {
			all.add(vs[j], ts[j])
		}
		for _, reducer := range []staleness.Reducer{staleness.ReduceMean, staleness.ReduceSum, staleness.ReduceMin, staleness.ReduceMax, staleness.ReduceLast, staleness.ReduceDelta} {
			m := staleness.Metric{Name: "m", Min: 0, Max: 100, MaxRatePerS: rate, Reducer: reducer}
			truth := all.value(reducer)
			got := a.value(reducer)
			blo, bhi := reportedBounds(&m, &a, got, start, end, g)
			tol := 1e-9 * max(1, math.Abs(truth))
			if truth < blo-tol || truth > bhi+tol {
				t.Fatalf("case %d, %s: truth %v outside [%v, %v] (value %v; step %v, rate %v, %d of %d samples, delivered from %d to %d)",
					i, reducer, truth, blo, bhi, got, time.Duration(step), rate, delivered, len(ts), lo, hi)
			}
		}
	}
}
