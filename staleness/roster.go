package staleness

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/ingest"
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
// aggregated. Devices are keyed by their fleet-wide identity, site/name
// (ingest.ID): a name listed under a group is that site's device, so
// site-a/wt-01 and site-b/wt-01 are two devices. It is immutable after
// NewRoster and safe for concurrent use; learned membership lives with the
// device's state in its shard.
type Roster struct {
	fleet   *Fleet
	groupOf map[string]string   // listed identity → group
	sitesOf map[string][]string // listed name → the groups that list it
	listed  map[string][]string // group → its listed identities
	groups  []string            // configured group names, sorted
}

// NewRoster builds the roster of a validated fleet file. A nil fleet means
// "learn everything, default envelope".
func NewRoster(f *Fleet) *Roster {
	if f == nil {
		f = &Fleet{}
	}
	r := &Roster{fleet: f, groupOf: map[string]string{}, sitesOf: map[string][]string{}, listed: map[string][]string{}}
	for g, gs := range f.Groups {
		for _, d := range gs.Devices {
			id := ingest.ID(g, d)
			r.groupOf[id] = g
			r.sitesOf[d] = append(r.sitesOf[d], g)
			r.listed[g] = append(r.listed[g], id)
		}
		r.groups = append(r.groups, g)
	}
	slices.Sort(r.groups)
	for _, gs := range r.sitesOf {
		slices.Sort(gs)
	}
	return r
}

// Groups returns the configured group names, sorted.
func (r *Roster) Groups() []string { return r.groups }

// Listed returns the identities (site/name) of the devices the fleet file
// lists for group g.
func (r *Roster) Listed(g string) []string { return r.listed[g] }

// Resolve returns the group of device id (its identity, site/name) seen on
// site, and whether the fleet file lists it (listed devices are expected
// from the start; others are learned when first seen). It fails with a
// *ingest.RejectError when the device may not join: wrong_site when its
// name is listed only under other sites (the fleet file says where that
// device is; a topic of another site is never merged into it), or
// unknown_device when it is neither listed nor matched and learning is
// disabled.
func (r *Roster) Resolve(site, id string) (group string, listed bool, err error) {
	if g, found := r.groupOf[id]; found {
		return g, true, nil
	}
	for _, g := range r.groups {
		if m := r.fleet.Groups[g].Match; m != "" {
			if hit, _ := path.Match(m, id); hit {
				return g, false, nil
			}
		}
	}
	_, name := ingest.SplitID(id)
	if sites := r.sitesOf[name]; len(sites) > 0 {
		return "", false, &ingest.RejectError{
			Reason: ingest.ReasonWrongSite,
			Detail: fmt.Sprintf("the fleet file lists %s under %s, not under %s", name, strings.Join(sites, ", "), site),
		}
	}
	if r.fleet.LearnEnabled() {
		return site, false, nil
	}
	return "", false, ErrNotOnRoster
}

// deviceSpec returns the fleet file's devices: entry of device id: the one
// keyed by its identity (site-a/wt-03), else the one keyed by its name
// (wt-03, which applies at every site).
func (r *Roster) deviceSpec(id string) DeviceSpec {
	if ds, ok := r.fleet.Devices[id]; ok {
		return ds
	}
	_, name := ingest.SplitID(id)
	return r.fleet.Devices[name]
}

// Interval returns the expected reporting interval of device id.
func (r *Roster) Interval(id string) time.Duration {
	if d := r.deviceSpec(id).Interval; d > 0 {
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
	if o, ok := r.deviceSpec(device).Metrics[name]; ok {
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
