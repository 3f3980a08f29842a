package aggregate

import (
	"math"

	"github.com/rollcall-iot/rollcall/staleness"
)

// accumulator folds one device's samples of one metric in one window; the
// device reducer turns it into the device-level value.
type accumulator struct {
	n             uint32
	sum, min, max float64
	first, last   float64
	firstTS       int64
	lastTS        int64
	// step is the longest step (ns) the device's rhythm had while these
	// samples arrived: the grid shortfall measures against.
	step int64
	// ctr is the increase reducer's state (counter.go).
	ctr CounterState
}

func (a *accumulator) add(v float64, ts int64) {
	if a.n == 0 {
		*a = accumulator{n: 1, sum: v, min: v, max: v, first: v, last: v, firstTS: ts, lastTS: ts, step: a.step}
		return
	}
	a.n++
	a.sum += v
	a.min = math.Min(a.min, v)
	a.max = math.Max(a.max, v)
	if ts < a.firstTS {
		a.first, a.firstTS = v, ts
	}
	if ts >= a.lastTS {
		a.last, a.lastTS = v, ts
	}
}

// value applies the device reducer; a.n must be > 0.
func (a *accumulator) value(r staleness.Reducer) float64 {
	return r.Reduce(staleness.Summary{N: int(a.n), Sum: a.sum, Min: a.min, Max: a.max, First: a.first, Last: a.last})
}
