package staleness

import (
	"math"
	"time"
)

// Reducer is a device reducer: how one device's samples of a metric in a
// window become its device-level value. Its values are the fleet file's
// strings (a metric's device: key).
type Reducer string

// Device reducers.
const (
	ReduceMean Reducer = "mean"
	ReduceLast Reducer = "last"
	ReduceMin  Reducer = "min"
	ReduceMax  Reducer = "max"
	ReduceSum  Reducer = "sum"
	// ReduceDelta is last − first inside the window: it loses a counter's
	// step between the last sample of one window and the first of the next,
	// so the windows of a counter do not add up to its increase (use
	// ReduceIncrease for that).
	ReduceDelta Reducer = "delta"
	// ReduceIncrease is a counter's (monotonic: true) increase over exactly
	// the window, with the counter at each boundary interpolated between
	// the samples on either side and resets starting a new series (see
	// Metric.Step, Metric.Share and docs/semantics.md, "Counters").
	ReduceIncrease Reducer = "increase"
)

// Reducers returns every device reducer.
func Reducers() []Reducer {
	return []Reducer{ReduceMean, ReduceLast, ReduceMin, ReduceMax, ReduceSum, ReduceDelta, ReduceIncrease}
}

// Stat is a group statistic: how device-level values combine across a
// group (a metric's group: key). Every statistic is computed; the fleet
// file's names the metric's headline.
type Stat string

// Group statistics.
const (
	StatSum   Stat = "sum"
	StatMean  Stat = "mean"
	StatMin   Stat = "min"
	StatMax   Stat = "max"
	StatCount Stat = "count"
)

// Stats returns every group statistic.
func Stats() []Stat { return []Stat{StatSum, StatMean, StatMin, StatMax, StatCount} }

// Impute is an imputation policy: the estimate for an expected device that
// did not report (a metric's impute: key).
type Impute string

// Imputation policies.
const (
	ImputeLast Impute = "last"
	ImputeZero Impute = "zero"
	ImputeNone Impute = "none"
)

// Imputes returns every imputation policy.
func Imputes() []Impute { return []Impute{ImputeLast, ImputeZero, ImputeNone} }

// Summary is what a reducer needs of one device's samples of one metric in
// one window.
type Summary struct {
	N                          int
	Sum, Min, Max, First, Last float64
}

// Reduce returns the device-level value of s; s.N must be positive.
func (r Reducer) Reduce(s Summary) float64 {
	switch r {
	case ReduceLast:
		return s.Last
	case ReduceMin:
		return s.Min
	case ReduceMax:
		return s.Max
	case ReduceSum:
		return s.Sum
	case ReduceDelta, ReduceIncrease:
		// For increase this is the part between the window's first and
		// last sample of one series; the aggregate adds the boundary
		// shares and the resets (Metric.Step).
		return s.Last - s.First
	}
	return s.Sum / float64(s.N)
}

// Additive reports whether the device-level value depends on how many
// samples arrived or how long the window is (sum, delta, increase) rather
// than being one sample value: a missing device's value then is not bounded
// by [Min, Max], and its last value is its last device-level value, not its
// last sample.
func (r Reducer) Additive() bool {
	return r == ReduceSum || r == ReduceDelta || r == ReduceIncrease
}

// LastKnown is what is known of a missing device's metric: its last sample
// (Value at TS, when Has) and its last device-level value (Reduced, when
// HasReduced).
type LastKnown struct {
	Value      float64
	TS         int64
	Has        bool
	Reduced    float64
	HasReduced bool
}

// Plausible reports whether v fits the metric's physical envelope: within
// [Min, Max], and for a monotonic counter not below prev when v is a later
// sample of the same boot as prev (after; a reboot may reset a counter,
// and an older sample arriving late is not compared).
func (m *Metric) Plausible(v float64, after bool, prev float64) bool {
	if v < m.Min || v > m.Max {
		return false
	}
	return !m.Monotonic || !after || v >= prev
}

// MissingBounds returns the bounds of a missing device's device-level value
// in the window [start, end) (Unix ns; see docs/semantics.md).
//
// For the mean, last, min and max reducers the value is a sample value, so
// it lies in [Min, Max] and, when the last sample v at time t is known and
// the metric has a max_rate_per_s, within v ± rate × age where age is the
// farthest the window reaches from t. A sum depends on the unknown number of
// samples and is unbounded; a delta is bounded by rate × window (and by 0
// below for a monotonic counter); an increase by [0, rate × window].
func (m *Metric) MissingBounds(k *LastKnown, start, end int64) (lo, hi float64) {
	inf := math.Inf(1)
	switch m.Reducer {
	case ReduceSum:
		return -inf, inf
	case ReduceIncrease:
		return 0, m.upTo(end - start)
	case ReduceDelta:
		lo, hi = -inf, inf
		if !math.IsInf(m.MaxRatePerS, 1) {
			span := m.MaxRatePerS * time.Duration(end-start).Seconds()
			lo, hi = -span, span
		}
		if m.Monotonic {
			lo = max(lo, 0)
		}
		return lo, hi
	}
	lo, hi = m.Min, m.Max
	if k.Has && !math.IsInf(m.MaxRatePerS, 1) {
		age := time.Duration(max(end-k.TS, k.TS-start)).Seconds()
		lo = max(lo, k.Value-m.MaxRatePerS*age)
		hi = min(hi, k.Value+m.MaxRatePerS*age)
	}
	return lo, hi
}

// Estimate returns the value policy i imputes for a missing device whose
// metric has reducer r, and false when it imputes none: last takes the last
// device-level value of an additive reducer and the last sample otherwise,
// zero imputes 0, none nothing.
func (i Impute) Estimate(r Reducer, k *LastKnown) (float64, bool) {
	switch i {
	case ImputeLast:
		if r.Additive() {
			return k.Reduced, k.HasReduced
		}
		return k.Value, k.Has
	case ImputeZero:
		return 0, true
	}
	return 0, false
}
