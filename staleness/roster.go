package staleness

import (
	"math"
	"path"
	"slices"
	"time"
)

// Metric is one metric's resolved spec for one device: defaults merged with
// the device's overrides, unset bounds as ±Inf. It is a value; copy it freely.
type Metric struct {
	Name string
	// Min and Max are the physical range; -Inf and +Inf when unset.
	Min, Max float64
	// MaxRatePerS is the fastest physical change per second; +Inf when unset.
	MaxRatePerS float64
	Monotonic   bool
	Reducer     Reducer
	Stat        Stat
	Impute      Impute
}

// Roster answers which group a device belongs to and how its metrics are
// aggregated. It is immutable after NewRoster and safe for concurrent use;
// learned membership lives with the device's state in its shard.
type Roster struct {
	fleet   *Fleet
	groupOf map[string]string // listed device → group
	groups  []string          // configured group names, sorted
}

// NewRoster builds the roster of a validated fleet file. A nil fleet means
// "learn everything, default envelope".
func NewRoster(f *Fleet) *Roster {
	if f == nil {
		f = &Fleet{}
	}
	r := &Roster{fleet: f, groupOf: map[string]string{}}
	for g, gs := range f.Groups {
		for _, d := range gs.Devices {
			r.groupOf[d] = g
		}
		r.groups = append(r.groups, g)
	}
	slices.Sort(r.groups)
	return r
}

// Groups returns the configured group names, sorted.
func (r *Roster) Groups() []string { return r.groups }

// Listed returns the devices the fleet file lists for group g.
func (r *Roster) Listed(g string) []string { return r.fleet.Groups[g].Devices }

// Resolve returns the group of a device seen on a site, and whether the fleet
// file lists it (listed devices are expected from the start; others are
// learned when first seen). ok is false when the device may not join: it is
// neither listed nor matched and learning is disabled.
func (r *Roster) Resolve(site, device string) (group string, listed, ok bool) {
	if g, found := r.groupOf[device]; found {
		return g, true, true
	}
	for _, g := range r.groups {
		if m := r.fleet.Groups[g].Match; m != "" {
			if hit, _ := path.Match(m, site+"/"+device); hit {
				return g, false, true
			}
		}
	}
	if r.fleet.LearnEnabled() {
		return site, false, true
	}
	return "", false, false
}

// Interval returns the expected reporting interval of a device.
func (r *Roster) Interval(device string) time.Duration {
	if d := r.fleet.Devices[device].Interval; d > 0 {
		return d
	}
	if d := r.fleet.Defaults.Interval; d > 0 {
		return d
	}
	return DefaultInterval
}

// RetireAfter returns how long a learned device may stay silent before it
// leaves the roster.
func (r *Roster) RetireAfter() time.Duration { return r.fleet.RetireAfter() }

// MaxRetired returns how many retired devices are kept as tombstones
// (learn.max_retired).
func (r *Roster) MaxRetired() int { return r.fleet.MaxRetired() }

// Metric returns the resolved spec of metric name on device.
func (r *Roster) Metric(device, name string) Metric {
	s := r.fleet.Defaults.Metrics[name]
	if o, ok := r.fleet.Devices[device].Metrics[name]; ok {
		s = s.merge(o)
	}
	m := Metric{
		Name: name, Min: math.Inf(-1), Max: math.Inf(1), MaxRatePerS: math.Inf(1),
		Reducer: ReduceMean, Stat: StatSum, Impute: ImputeLast,
	}
	if s.Min != nil {
		m.Min = *s.Min
	}
	if s.Max != nil {
		m.Max = *s.Max
	}
	if s.MaxRatePerS != nil {
		m.MaxRatePerS = *s.MaxRatePerS
	}
	if s.Monotonic != nil {
		m.Monotonic = *s.Monotonic
	}
	if s.Device != "" {
		m.Reducer = s.Device
	}
	if s.Group != "" {
		m.Stat = s.Group
	}
	if s.Impute != "" {
		m.Impute = s.Impute
	}
	return m
}

// ConfiguredMetrics returns the metric names of the fleet file's defaults,
// sorted: every group reports them even before any device sent one.
func (r *Roster) ConfiguredMetrics() []string { return sortedKeys(r.fleet.Defaults.Metrics) }
