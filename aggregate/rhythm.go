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

// shortfall returns how many samples a device that produced one every step
// ns is missing from the window [start, end) of its accumulator a: those the
// grid through a's samples puts before its first sample (unless the device
// started there, at from), after its last one, and the holes between them.
// before and after tell whether the first and last sample are known to be
// the device's first and last in the window. now is the device's rhythm at
// emission: its slack (timestamp jitter) widens the edges, and its step, if
// longer, is the one after the last sample (a device that slowed down
// right after it, such as a burst that ended, is not short of the faster
// rhythm's samples). Without a learned step it returns 0: nothing is known
// to be missing.
func (a *accumulator) shortfall(start, end, from int64, now *rhythm) (missing int, before, after bool) {
	if a.step <= 0 || a.n == 0 {
		return 0, false, false
	}
	slack := now.slack()
	st := float64(a.step)
	var nb float64
	if a.firstTS > from {
		nb = max(0, math.Floor(float64(a.firstTS-start-slack)/st+shortTol))
	}
	na := max(0, math.Ceil(float64(end-a.lastTS-slack)/float64(max(a.step, now.step))-shortTol)-1)
	inner := math.Round(float64(a.lastTS-a.firstTS)/st) + 1
	m := nb + na + max(0, inner-float64(a.n))
	return int(min(m, math.MaxInt32)), nb > 0, na > 0
}

// reportedBounds returns the bounds of the device-level value v of a device
// that reported in the window [start, end) with accumulator a and metric m,
// given that it is missing `missing` samples (shortfall). With none missing
// the value is exact. Otherwise each missing sample lies within the window's
// reach of a known one: within [a.min − rate × reach, a.max + rate × reach]
// clamped to [Min, Max], where reach is the farthest any instant of the
// window is from a known sample; the reducer's value follows from that (see
// docs/semantics.md, "Partially reported devices").
func reportedBounds(m *staleness.Metric, a *accumulator, v float64, start, end int64, missing int, before, after bool) (lo, hi float64) {
	if missing == 0 {
		return v, v
	}
	rate := m.MaxRatePerS
	secs := func(d int64) float64 { return time.Duration(d).Seconds() }
	// around returns [x − rate × d, x + rate × d] clamped to [Min, Max].
	around := func(x, y float64, d int64) (float64, float64) {
		if math.IsInf(rate, 1) {
			return m.Min, m.Max
		}
		return max(m.Min, x-rate*secs(d)), min(m.Max, y+rate*secs(d))
	}
	reach := max(a.firstTS-start, end-a.lastTS, (a.lastTS-a.firstTS)/2)
	slo, shi := around(a.min, a.max, reach)
	k := float64(missing)
	switch m.Reducer {
	case staleness.ReduceLast:
		if !after {
			return v, v
		}
		return around(a.last, a.last, end-a.lastTS)
	case staleness.ReduceMin:
		return min(a.min, slo), a.min
	case staleness.ReduceMax:
		return a.max, max(a.max, shi)
	case staleness.ReduceSum:
		return a.sum + k*slo, a.sum + k*shi
	case staleness.ReduceDelta:
		flo, fhi := a.first, a.first
		if before {
			flo, fhi = around(a.first, a.first, a.firstTS-start)
		}
		llo, lhi := a.last, a.last
		if after {
			llo, lhi = around(a.last, a.last, end-a.lastTS)
		}
		lo, hi = llo-fhi, lhi-flo
		if m.Monotonic {
			lo = max(lo, v) // the counter only grew outside the known span
		}
		return lo, hi
	}
	n := float64(a.n)
	return (a.sum + k*slo) / (n + k), (a.sum + k*shi) / (n + k)
}
