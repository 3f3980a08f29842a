package aggregate

import (
	"math"

	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/staleness"
)

// device is one device's state, owned by its shard.
type device struct {
	id, site string
	g        *shardGroup
	listed   bool
	// firstEvent is the event time of the first accepted reading of a learned
	// device: it is expected only in windows that end after it.
	firstEvent int64

	live    staleness.Liveness
	dd      dedup.State
	replay  dedup.Detector
	metrics []devMetric
	wins    []devWindow // open windows, ascending by start

	accepted, duplicates, replays uint64
	rejected                      map[string]uint64 // by reason; nil until the first
}

// devMetric is one metric of a device: its resolved spec and last value.
type devMetric struct {
	spec   staleness.Metric
	last   float64
	lastTS int64
	has    bool
}

// devWindow holds one device's accumulators in one window, indexed like
// device.metrics.
type devWindow struct {
	start               int64
	accs                []accumulator
	duplicates, replays uint32
	late                uint32
	newest              int64
}

func (d *device) expectedIn(end int64) bool { return d.listed || d.firstEvent < end }

// slot returns the index of metric name in d.metrics, or -1.
func (d *device) slot(name string) int {
	for i := range d.metrics {
		if d.metrics[i].spec.Name == name {
			return i
		}
	}
	return -1
}

// findWindow returns the device's window starting at start, or nil.
func (d *device) findWindow(start int64) *devWindow {
	for i := len(d.wins) - 1; i >= 0; i-- {
		switch {
		case d.wins[i].start == start:
			return &d.wins[i]
		case d.wins[i].start < start:
			return nil
		}
	}
	return nil
}

// window returns the device's window starting at start, creating it.
func (d *device) window(start int64) *devWindow {
	i := len(d.wins)
	for i > 0 && d.wins[i-1].start >= start {
		if d.wins[i-1].start == start {
			return &d.wins[i-1]
		}
		i--
	}
	d.wins = append(d.wins, devWindow{})
	copy(d.wins[i+1:], d.wins[i:])
	d.wins[i] = devWindow{start: start}
	return &d.wins[i]
}

// purge drops the windows that start before cutoff.
func (d *device) purge(cutoff int64) {
	n := 0
	for n < len(d.wins) && d.wins[n].start < cutoff {
		n++
	}
	if n > 0 {
		d.wins = append(d.wins[:0], d.wins[n:]...)
	}
}

// missingBounds returns a missing device's bounds for metric spec m and its
// imputed value, if any.
func missingBounds(m staleness.Metric, dm *devMetric) (lo, hi, imputed float64, hasImputed bool) {
	lo, hi = m.Min, m.Max
	switch m.Impute {
	case staleness.ImputeLast:
		if dm != nil && dm.has {
			return lo, hi, math.Min(math.Max(dm.last, m.Min), m.Max), true
		}
	case staleness.ImputeZero:
		return lo, hi, 0, true
	}
	return lo, hi, 0, false
}
