package aggregate

import (
	"math"
	"time"

	"github.com/rollcall-iot/rollcall/staleness"
)

// rhythm learns the event-time step between a device's samples of one
// metric, so that a window can tell whether the device delivered every
// sample it produced there (see shortfall). The step comes from the gaps
// between successive newest samples, divided by the seq difference when the
// readings carry a seq of the same boot: a device whose lost readings still
// take their number (DESIGN "Wire format") shows its exact step across any
// gap. A step within half to twice the learned one is averaged in (by 1/8),
// and so is its deviation from the learned step (the wobble: timestamp
// jitter). Outside that range the device changed its rate: with a seq the
// new step is taken at once; without one, a longer gap may be lost readings
// rather than a slower device, so it is taken only when it repeats
// rhythmOutliers times in a row (a shorter one is taken at once).
type rhythm struct {
	step     int64 // learned step (ns); 0 until two samples are known
	wobble   int64 // mean absolute deviation of the steps from step (ns)
	lastSeq  uint64
	seqOK    bool // lastSeq is valid (the newest sample carried a seq)
	outliers uint8
}

// rhythmOutliers is how many successive long steps make the new step.
const rhythmOutliers = 3

// observe learns from a sample at ts that is newer than the newest one,
// prevTS, of boot prevBoot (has: there is one). seq, hasSeq and boot are the
// new sample's.
func (r *rhythm) observe(has bool, prevTS int64, prevBoot uint64, ts int64, boot, seq uint64, hasSeq bool) {
	gap := ts - prevTS
	seqOK, numbered := hasSeq, false
	if hasSeq && r.seqOK && boot == prevBoot {
		if seq <= r.lastSeq {
			// A newer time with an older seq: nothing to learn, and the
			// next seq difference means nothing either.
			gap, seqOK = 0, false
		} else {
			gap /= int64(seq - r.lastSeq)
			numbered = true
		}
	}
	r.lastSeq, r.seqOK = seq, seqOK
	switch {
	case !has || gap <= 0:
	case r.step == 0 || 2*gap <= r.step || numbered && gap > 2*r.step:
		r.step, r.wobble, r.outliers = gap, 0, 0
	case gap <= 2*r.step:
		d := gap - r.step
		r.step += d / 8
		r.wobble += (max(d, -d) - r.wobble) / 8
		r.outliers = 0
	default:
		r.outliers++
		if r.outliers >= rhythmOutliers {
			r.step, r.wobble, r.outliers = gap, 0, 0
		}
	}
}

// slack is how far (ns) a sample time may be from the learned grid before
// shortfall counts on it: 3 wobbles, at most half a step.
func (r *rhythm) slack() int64 { return min(3*r.wobble, r.step/2) }

// shortTol is the tolerance, relative to the step, of a sample time landing
// on a window boundary: a grid point within it of the window's start counts
// as inside, within it of the end as outside. A jittery device's slack
// comes on top, in its favour: a grid point within slack of either
// boundary is not counted missing.
const shortTol = 1e-3

// gaps is what shortfall finds missing from a device's window: samples
// before its first one, after its last one and in holes between them, with
// the grid it measured against.
type gaps struct {
	before, after, holes int
	// stepAfter is the grid's step after the last sample (before it, the
	// accumulator's step), slack the timestamp jitter allowed (both ns).
	stepAfter, slack int64
}

func (g gaps) missing() int { return g.before + g.after + g.holes }

// shortfall returns the samples a device that produced one every step ns
// is missing from the window [start, end) of its accumulator a: those the
// grid through a's samples puts before its first sample (unless the device
// started there, at from), after its last one, and the holes between them.
// now is the device's rhythm at emission: its slack (timestamp jitter)
// widens the edges, and its step, if longer, is the one after the last
// sample (a device that slowed down right after it, such as a burst that
// ended, is not short of the faster rhythm's samples). Without a learned
// step nothing is known to be missing.
func (a *accumulator) shortfall(start, end, from int64, now *rhythm) gaps {
	if a.step <= 0 || a.n == 0 {
		return gaps{}
	}
	g := gaps{stepAfter: max(a.step, now.step), slack: now.slack()}
	st := float64(a.step)
	if a.firstTS > from {
		g.before = int(min(max(0, math.Floor(float64(a.firstTS-start-g.slack)/st+shortTol)), math.MaxInt32))
	}
	g.after = int(min(max(0, math.Ceil(float64(end-a.lastTS-g.slack)/float64(g.stepAfter)-shortTol)-1), math.MaxInt32))
	inner := math.Round(float64(a.lastTS-a.firstTS)/st) + 1
	g.holes = int(min(max(0, inner-float64(a.n)), math.MaxInt32))
	return g
}

// maxEdgeSamples bounds the per-sample work of reportedBounds: missing edge
// samples beyond it are all bounded as the farthest.
const maxEdgeSamples = 4096

// reportedBounds returns the bounds of the device-level value v of a device
// that reported in the window [start, end) with accumulator a and metric m,
// given the samples it is missing (shortfall). With none missing the value
// is exact. Otherwise, clamped to [Min, Max] and with r = max_rate_per_s:
// the j-th sample missing before the first one lies within r × j steps of
// the first's value, the j-th after the last one within r × j steps of the
// last's (plus the slack, and at most as far as the window's edge); a
// sample missing in a hole within r × half the span of the known samples of
// their smallest and largest value. The reducer's value follows (see
// docs/semantics.md, "Partially reported devices").
func reportedBounds(m *staleness.Metric, a *accumulator, v float64, start, end int64, g gaps) (lo, hi float64) {
	k := g.missing()
	if k == 0 {
		return v, v
	}
	rate := m.MaxRatePerS
	// around returns [x − rate × d, y + rate × d] clamped to [Min, Max].
	around := func(x, y float64, d int64) (float64, float64) {
		if math.IsInf(rate, 1) {
			return m.Min, m.Max
		}
		s := time.Duration(d).Seconds()
		return max(m.Min, x-rate*s), min(m.Max, y+rate*s)
	}
	// edge sums the bounds of n samples at j × step (+ slack, at most
	// limit) from a known value x, j = 1…n, and returns the farthest's.
	edge := func(x float64, n int, step, limit int64) (sumLo, sumHi, farLo, farHi float64) {
		farLo, farHi = x, x
		for j := 1; j <= min(n, maxEdgeSamples); j++ {
			farLo, farHi = around(x, x, min(int64(j)*step+g.slack, limit))
			sumLo, sumHi = sumLo+farLo, sumHi+farHi
		}
		if n > maxEdgeSamples {
			farLo, farHi = around(x, x, limit)
			rest := float64(n - maxEdgeSamples)
			sumLo, sumHi = sumLo+rest*farLo, sumHi+rest*farHi
		}
		return sumLo, sumHi, farLo, farHi
	}
	bLo, bHi, fLo, fHi := edge(a.first, g.before, a.step, a.firstTS-start)
	aLo, aHi, lLo, lHi := edge(a.last, g.after, g.stepAfter, end-a.lastTS)
	hLo, hHi := a.min, a.max
	if g.holes > 0 {
		hLo, hHi = around(a.min, a.max, (a.lastTS-a.firstTS)/2)
	}
	sLo := bLo + aLo + float64(g.holes)*hLo
	sHi := bHi + aHi + float64(g.holes)*hHi
	switch m.Reducer {
	case staleness.ReduceLast:
		return lLo, lHi // the last value itself when nothing is missing after it
	case staleness.ReduceMin:
		return min(a.min, fLo, lLo, hLo), a.min
	case staleness.ReduceMax:
		return a.max, max(a.max, fHi, lHi, hHi)
	case staleness.ReduceSum:
		return a.sum + sLo, a.sum + sHi
	case staleness.ReduceDelta:
		lo, hi = lLo-fHi, lHi-fLo
		if m.Monotonic {
			lo = max(lo, v) // the counter only grew outside the known span
		}
		return lo, hi
	}
	n, kk := float64(a.n), float64(k)
	return (a.sum + sLo) / (n + kk), (a.sum + sHi) / (n + kk)
}
