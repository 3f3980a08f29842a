package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Validate returns every problem of s at once, naming the YAML field of
// each. Zero values that WithDefaults fills are accepted.
func (s Scenario) Validate() error {
	s = s.WithDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if s.Duration < 0 {
		add("duration: %s is negative", s.Duration)
	}
	if s.Interval < MinInterval || s.Interval > MaxInterval {
		add("interval: %s is not between %s and %s", s.Interval, MinInterval, MaxInterval)
	}
	if s.QoS != nil && *s.QoS > 2 {
		add("qos: %d is not 0, 1 or 2", *s.QoS)
	}
	for _, t := range []struct{ field, tmpl string }{
		{"topics.telemetry", s.Topics.Telemetry}, {"topics.status", s.Topics.Status},
	} {
		if !strings.Contains(t.tmpl, "{device}") {
			add("%s: %q lacks the {device} placeholder", t.field, t.tmpl)
		}
		if strings.ContainsAny(t.tmpl, "+#") {
			add("%s: %q contains a wildcard (+ or #)", t.field, t.tmpl)
		}
	}
	if s.Topics.Telemetry == s.Topics.Status {
		add("topics.status: the same as topics.telemetry")
	}
	if err := s.validateFormat(); err != nil {
		errs = append(errs, err)
	}
	if s.Truth.Window < time.Millisecond {
		add("truth.window: %s is shorter than 1ms", s.Truth.Window)
	}
	if s.Truth.Offset < 0 || s.Truth.Offset >= s.Truth.Window {
		add("truth.offset: %s is not in [0, truth.window)", s.Truth.Offset)
	}
	errs = append(errs, s.Wind.validate()...)
	errs = append(errs, s.Turbine.validate()...)

	if len(s.Sites) == 0 {
		add("sites: at least one site is required")
	}
	for i, site := range s.Sites {
		errs = append(errs, site.validate(fmt.Sprintf("sites[%d]", i))...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // the faults need a valid fleet
	}
	groups, err := s.Groups()
	if err != nil {
		return err
	}
	ids, sites, minInterval := map[string]bool{}, map[string]*Group{}, MaxInterval
	for i := range groups {
		g := &groups[i]
		if _, dup := sites[g.Name]; dup {
			add("sites: %q is named twice", g.Name)
		}
		sites[g.Name] = g
		minInterval = min(minInterval, g.Interval)
		for _, d := range g.Devices {
			if id := DeviceID(g.Name, d); ids[id] {
				add("sites: device %q is generated twice (use distinct site names)", id)
			} else {
				ids[id] = true
			}
		}
	}
	idx := newFleetIndex(groups)
	for i, f := range s.Faults {
		errs = append(errs, f.validate(fmt.Sprintf("faults[%d]", i), idx, sites, minInterval)...)
	}
	return errors.Join(errs...)
}

func (w WindSpec) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !(w.MaxMS > 0) || math.IsInf(w.MaxMS, 0) {
		add("wind.max_ms: %v is not positive", w.MaxMS)
	}
	if !(w.MeanMS > 0 && w.MeanMS < w.MaxMS) {
		add("wind.mean_ms: %v is not between 0 and wind.max_ms (%v)", w.MeanMS, w.MaxMS)
	}
	if !(w.WeibullK >= 0.5 && w.WeibullK <= 10) {
		add("wind.weibull_k: %v is not between 0.5 and 10", w.WeibullK)
	}
	if w.Correlation < time.Second {
		add("wind.correlation: %s is shorter than 1s", w.Correlation)
	}
	if t := *w.Turbulence; !(t >= 0 && t <= 1) {
		add("wind.turbulence: %v is not between 0 and 1", t)
	}
	if v := *w.TurbineVariation; !(v >= 0 && v <= 0.5) {
		add("wind.turbine_variation: %v is not between 0 and 0.5", v)
	}
	return errs
}

func (t TurbineSpec) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !(t.RatedKW > 0) || math.IsInf(t.RatedKW, 0) {
		add("turbine.rated_kw: %v is not positive", t.RatedKW)
	}
	if !(t.CutInMS >= 0 && t.CutInMS < t.RatedMS && t.RatedMS < t.CutOutMS) || math.IsInf(t.CutOutMS, 0) {
		add("turbine: cut_in_ms (%v) < rated_ms (%v) < cut_out_ms (%v) does not hold", t.CutInMS, t.RatedMS, t.CutOutMS)
	}
	if !(t.RampKWPerS > 0) {
		add("turbine.ramp_kw_per_s: %v is not positive", t.RampKWPerS)
	}
	return errs
}

func (s SiteSpec) validate(field string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(field+"."+format, args...)) }
	switch {
	case s.Name == "":
		add("name: required")
	case s.Count > 1 && !strings.Contains(s.Name, "{i}"):
		add("name: %q lacks {i}, which numbers the %d sites of this entry", s.Name, s.Count)
	case !validID(strings.ReplaceAll(s.Name, "{i}", "1")):
		add("name: %q is not an id (1 to 128 of A-Z a-z 0-9 . _ : -)", s.Name)
	}
	if s.Count < 1 {
		add("count: %d is less than 1", s.Count)
	}
	if s.Devices < 1 {
		add("devices: %d is less than 1", s.Devices)
	}
	if s.Numbering != NumberFleet && s.Numbering != NumberSite {
		add("numbering: %q is neither %q nor %q", s.Numbering, NumberFleet, NumberSite)
	}
	if !validID(s.Prefix + "-1") {
		add("prefix: %q is not an id prefix (A-Z a-z 0-9 . _ : -)", s.Prefix)
	}
	if s.Interval < MinInterval || s.Interval > MaxInterval {
		add("interval: %s is not between %s and %s", s.Interval, MinInterval, MaxInterval)
	}
	switch s.Kind {
	case KindTurbine:
		if len(s.Metrics) > 0 {
			add("metrics: only for kind generic (turbines publish %s and %s)", MetricPower, MetricWind)
		}
	case KindGeneric:
		if len(s.Metrics) == 0 || len(s.Metrics) > MaxMetrics {
			add("metrics: a generic site needs 1 to %d metrics", MaxMetrics)
		}
		for _, name := range sortedKeys(s.Metrics) {
			errs = append(errs, s.Metrics[name].validate(field+".metrics."+name, name)...)
		}
	default:
		add("kind: %q is not %q or %q", s.Kind, KindTurbine, KindGeneric)
	}
	return errs
}

func (m MetricModel) validate(field, name string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(field+format, args...)) }
	if !validMetricName(name) {
		add(": the name is not 1 to 64 of A-Z a-z 0-9 _ . -")
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case m.Min == nil || m.Max == nil:
		add(": min and max are required")
	case !finite(*m.Min) || !finite(*m.Max) || *m.Min >= *m.Max:
		add(": min (%v) is not below max (%v)", *m.Min, *m.Max)
	case !(m.Mean >= *m.Min && m.Mean <= *m.Max):
		add(".mean: %v is not between min and max", m.Mean)
	}
	if !(m.SD >= 0) || !finite(m.SD) {
		add(".sd: %v is not at least 0", m.SD)
	}
	if m.Tau < time.Millisecond {
		add(".tau: %s is shorter than 1ms", m.Tau)
	}
	if !(m.MaxRatePerS >= 0) || !finite(m.MaxRatePerS) {
		add(".max_rate_per_s: %v is not at least 0", m.MaxRatePerS)
	}
	if !(m.Round > 0) || !finite(m.Round) {
		add(".round: %v is not positive", m.Round)
	}
	return errs
}

// validID reports whether id is a valid site or device id for rollcall:
// 1 to 128 bytes of A-Z a-z 0-9 . _ : - (ingest.IDChars).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validMetricName reports whether name is safe to write unescaped in JSON
// and as an InfluxDB field.
func validMetricName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
