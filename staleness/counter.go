package staleness

import (
	"math"
	"time"
)

// The meaning of a counter's increase (device reducer increase, metrics
// with monotonic: true): the arithmetic of steps between samples, their
// shares of a window and the bounds monotonicity and max_rate_per_s put
// on them. See docs/semantics.md, "Counters".

// CounterSample is one sample of a counter: its event time (Unix ns),
// value and boot.
type CounterSample struct {
	TS    int64
	Value float64
	Boot  uint64
}

// Increase is an estimate of how much a counter grew over some span, with
// bounds on the true growth: Lo <= Value <= Hi.
type Increase struct {
	Value, Lo, Hi float64
}

// Add adds o, the increase over an adjacent span.
func (x *Increase) Add(o Increase) {
	x.Value += o.Value
	x.Lo += o.Lo
	x.Hi += o.Hi
}

// Reset reports whether b, a later sample than a, starts a new series: a
// new boot, or a drop in value.
func Reset(a, b CounterSample) bool { return b.Boot != a.Boot || b.Value < a.Value }

// Step returns the counter's increase from sample a to the later sample b.
// In one series it is b − a, exactly. Across a reset the new series counts
// from 0 (as Prometheus's increase does), so the estimate is b's value:
// what the new series counted since the reset, a lower bound; the old series
// may have grown after a before the reset, by at most rate × (b − a) in
// all (unbounded without a max_rate_per_s).
func (m *Metric) Step(a, b CounterSample) Increase {
	if !Reset(a, b) {
		d := b.Value - a.Value
		return Increase{d, d, d}
	}
	v := max(b.Value, 0)
	return Increase{v, v, max(v, m.upTo(b.TS-a.TS))}
}

// Share returns the part of step x, the increase over [t0, t1], that falls
// in [from, to): the estimate spreads x evenly over the step (the counter is
// interpolated linearly between the samples); the true part is at least
// what the rest of the step cannot hold (x.Lo − rate × the rest, and 0) and
// at most x.Hi and rate × the part's length.
func (m *Metric) Share(x Increase, t0, t1, from, to int64) Increase {
	a, b := max(t0, from), min(t1, to)
	if b <= a || t1 <= t0 {
		if t1 == t0 && from <= t0 && t0 < to {
			return x // a step of no length inside the window
		}
		return Increase{}
	}
	in, out := b-a, (t1-t0)-(b-a)
	lo, hi := x.Lo, min(x.Hi, m.upTo(in))
	if out > 0 {
		lo = max(0, x.Lo-m.upTo(out))
	}
	lo = min(lo, hi) // samples faster than max_rate_per_s: keep lo <= hi
	v := x.Value * float64(in) / float64(t1-t0)
	return Increase{min(max(v, lo), hi), lo, hi}
}

// Extrapolate returns the increase over d ns next to the known samples,
// where no sample on the far side is known yet: rate (per ns, the
// device's recent slope) × d, bounded by [0, max_rate_per_s × d].
func (m *Metric) Extrapolate(rate float64, d int64) Increase {
	if d <= 0 {
		return Increase{}
	}
	hi := m.upTo(d)
	return Increase{min(max(rate*float64(d), 0), hi), 0, hi}
}

// upTo is the most the metric can grow in d ns: max_rate_per_s × d, +Inf
// without a rate.
func (m *Metric) upTo(d int64) float64 {
	if math.IsInf(m.MaxRatePerS, 1) {
		return math.Inf(1)
	}
	return m.MaxRatePerS * time.Duration(max(d, 0)).Seconds()
}
