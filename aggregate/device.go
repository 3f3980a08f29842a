package aggregate

import (
	"github.com/rollcall-iot/rollcall/ingest"

	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/staleness"
)

// device is one device's state, owned by its shard.
type device struct {
	id, site string
	g        *shardGroup
	// member is the device's roster membership (listed or learned, first
	// event, retired); staleness owns its rules.
	member staleness.Member

	live    staleness.Liveness
	clock   staleness.Clock // liveness.clock_correction
	dd      dedup.State
	replay  dedup.Detector
	rate    ingest.Bucket
	metrics []devMetric
	wins    []devWindow // open windows, ascending by start

	accepted, duplicates, replays uint64
	rejected                      map[string]uint64 // by reason; nil until the first
}

// devMetric is one metric of a device: its resolved spec, its last sample
// (value, event time, boot), its sampling rhythm and its last device-level
// (reduced) value.
type devMetric struct {
	spec     *staleness.Metric // shared by the shard's devices with the same spec (shard.spec)
	last     float64
	lastTS   int64
	lastBoot uint64
	has      bool
	rhythm   rhythm

	reduced       float64 // device-level value of the newest reported window
	reducedWindow int64
	hasReduced    bool

	// before is a counter's newest sample in the purged windows (valid
	// when hasBefore; counter.go).
	before    staleness.CounterSample
	hasBefore bool
}

// plausible reports whether v of reading r fits the metric's physical
// envelope (staleness.Metric.Plausible), given the device's last sample.
func (m *devMetric) plausible(v float64, r *ingest.Reading) bool {
	return m.spec.Plausible(v, m.has && r.TS > m.lastTS && r.Boot == m.lastBoot, m.last)
}

// recordReduced remembers the device-level value of the window at start.
func (m *devMetric) recordReduced(v float64, start int64) {
	if !m.hasReduced || start >= m.reducedWindow {
		m.reduced, m.reducedWindow, m.hasReduced = v, start, true
	}
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

// name returns the device level of the device's identity (wt-01 of
// site-a/wt-01).
func (d *device) name() string {
	_, name := ingest.SplitID(d.id)
	return name
}

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

// missingBounds returns the bounds of a missing device's device-level value
// in the window [start, end) for metric spec m (Metric.MissingBounds), and
// the value m's impute policy gives it, if any (Impute.Estimate), clamped
// to the bounds. dm is the device's metric state, nil when it never sent
// the metric.
func missingBounds(m staleness.Metric, dm *devMetric, start, end int64) (lo, hi, imputed float64, hasImputed bool) {
	var k staleness.LastKnown
	if dm != nil {
		k = staleness.LastKnown{Value: dm.last, TS: dm.lastTS, Has: dm.has, Reduced: dm.reduced, HasReduced: dm.hasReduced}
	}
	lo, hi = m.MissingBounds(&k, start, end)
	imputed, hasImputed = m.Impute.Estimate(m.Reducer, &k)
	if hasImputed {
		imputed = min(max(imputed, lo), hi)
	}
	return lo, hi, imputed, hasImputed
}
