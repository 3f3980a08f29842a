package staleness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultInterval is a device's expected reporting interval when the fleet
// file names none.
const DefaultInterval = time.Second

// DefaultRetireAfter is how long a learned device may stay silent before it
// leaves the roster.
const DefaultRetireAfter = 24 * time.Hour

// DefaultMaxRetired bounds the retired devices kept as tombstones (reported
// retired by the API and the devices-by-state gauge); past it the oldest
// retirement is forgotten (rollcall_devices_forgotten_total).
const DefaultMaxRetired = 1000

// MaxMaxRetired is the largest learn.max_retired.
const MaxMaxRetired = 1_000_000

// MetricSpec is the physical envelope and the reducers of one metric.
// Nil pointers mean "not set" so that device overrides merge over defaults.
type MetricSpec struct {
	// Min and Max are the physical range. A missing device contributes
	// [Min, Max] to the bounds; unset means unbounded.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// MaxRatePerS is the fastest physical change per second (used by the
	// physics-aware bounds).
	MaxRatePerS *float64 `yaml:"max_rate_per_s"`
	// Monotonic marks a counter that never decreases (except at a reboot).
	Monotonic *bool `yaml:"monotonic"`
	// Device is the device reducer: mean, last, min, max, sum, delta
	// (last − first inside the window) or increase (a counter's increase
	// over the window, boundaries interpolated; needs monotonic: true).
	// Default: mean.
	Device Reducer `yaml:"device"`
	// Group is the headline group statistic: sum, mean, min, max or count.
	// Every statistic is always computed; this one is the metric's headline.
	// Default: sum.
	Group Stat `yaml:"group"`
	// Impute is the estimate for an expected device that did not report:
	// last (its last known value), zero, or none (exclude it). Default: last.
	Impute Impute `yaml:"impute"`
}

// GroupSpec names a group's devices: listed ones are expected from the start;
// devices whose "site/device" matches Match join when first seen.
type GroupSpec struct {
	Devices []string `yaml:"devices"`
	Match   string   `yaml:"match"`
}

// DeviceSpec overrides the defaults for one device.
type DeviceSpec struct {
	Interval time.Duration         `yaml:"interval"`
	Metrics  map[string]MetricSpec `yaml:"metrics"`
}

// LearnSpec controls learning devices that the fleet file does not list.
type LearnSpec struct {
	// Enabled lets unlisted devices join their site's group when first seen.
	// Default: true.
	Enabled *bool `yaml:"enabled"`
	// RetireAfter is how long a learned device may stay silent before it
	// leaves the roster. Default: 24h.
	RetireAfter time.Duration `yaml:"retire_after"`
	// MaxRetired bounds the retired devices still reported (state retired)
	// before the oldest is forgotten. Default: 1000.
	MaxRetired int `yaml:"max_retired"`
}

// Defaults are the settings every device starts from.
type Defaults struct {
	Interval time.Duration         `yaml:"interval"`
	Metrics  map[string]MetricSpec `yaml:"metrics"`
}

// Fleet is the fleet file: groups, devices and the physical envelope of
// each metric.
type Fleet struct {
	Defaults Defaults              `yaml:"defaults"`
	Groups   map[string]GroupSpec  `yaml:"groups"`
	Devices  map[string]DeviceSpec `yaml:"devices"`
	Learn    LearnSpec             `yaml:"learn"`
}

// LoadFleet reads and validates a fleet file.
func LoadFleet(name string) (*Fleet, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	f, err := ParseFleet(b)
	if err != nil {
		return nil, fmt.Errorf("fleet file %s: %w", name, err)
	}
	return f, nil
}

// ParseFleet parses and validates fleet YAML. Unknown keys are errors, so a
// typo does not silently fall back to a default.
func ParseFleet(b []byte) (*Fleet, error) {
	var f Fleet
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// LearnEnabled reports whether unlisted devices are learned.
func (f *Fleet) LearnEnabled() bool { return f.Learn.Enabled == nil || *f.Learn.Enabled }

// RetireAfter returns the retirement age of learned devices.
func (f *Fleet) RetireAfter() time.Duration {
	if f.Learn.RetireAfter == 0 {
		return DefaultRetireAfter
	}
	return f.Learn.RetireAfter
}

// MaxRetired returns how many retired devices are kept as tombstones.
func (f *Fleet) MaxRetired() int {
	if f.Learn.MaxRetired == 0 {
		return DefaultMaxRetired
	}
	return f.Learn.MaxRetired
}

// Validate reports every problem with f at once.
func (f *Fleet) Validate() error {
	var errs []error
	if f.Defaults.Interval < 0 {
		errs = append(errs, fmt.Errorf("defaults.interval: %v is negative", f.Defaults.Interval))
	}
	for _, m := range sortedKeys(f.Defaults.Metrics) {
		s := f.Defaults.Metrics[m]
		errs = append(errs, s.validate("defaults.metrics."+m), s.validateCounter("defaults.metrics."+m))
	}
	for _, g := range sortedKeys(f.Groups) {
		gs := f.Groups[g]
		if g == "" {
			errs = append(errs, errors.New("groups: empty group name"))
		}
		if gs.Match != "" {
			if _, err := path.Match(gs.Match, "x/y"); err != nil {
				errs = append(errs, fmt.Errorf("groups.%s.match: %q: %w", g, gs.Match, err))
			}
		}
		listed := map[string]bool{}
		for _, d := range gs.Devices {
			switch {
			case d == "":
				errs = append(errs, fmt.Errorf("groups.%s.devices: empty device name", g))
			case strings.Contains(d, "/"):
				errs = append(errs, fmt.Errorf("groups.%s.devices: %q: list the device's name; its identity is %s/<name>", g, d, g))
			case listed[d]:
				errs = append(errs, fmt.Errorf("groups.%s.devices: %s is listed twice", g, d))
			}
			listed[d] = true
		}
	}
	for _, d := range sortedKeys(f.Devices) {
		ds := f.Devices[d]
		if ds.Interval < 0 {
			errs = append(errs, fmt.Errorf("devices.%s.interval: %v is negative", d, ds.Interval))
		}
		for _, m := range sortedKeys(ds.Metrics) {
			field := "devices." + d + ".metrics." + m
			o := ds.Metrics[m]
			err := o.validate(field)
			// An override of one bound must not invert the range it inherits
			// from the defaults (a device min above the default max).
			if s := f.Defaults.Metrics[m].merge(o); err == nil && (o.Min != nil || o.Max != nil) &&
				s.Min != nil && s.Max != nil && *s.Min > *s.Max {
				err = fmt.Errorf("%s: min %v is above max %v (merged with defaults.metrics.%s)", field, *s.Min, *s.Max, m)
			}
			if err == nil && (o.Device != "" || o.Monotonic != nil) {
				err = f.Defaults.Metrics[m].merge(o).validateCounter(field)
			}
			errs = append(errs, err)
		}
	}
	if f.Learn.RetireAfter < 0 {
		errs = append(errs, fmt.Errorf("learn.retire_after: %v is negative", f.Learn.RetireAfter))
	}
	if f.Learn.MaxRetired < 0 || f.Learn.MaxRetired > MaxMaxRetired {
		errs = append(errs, fmt.Errorf("learn.max_retired: %d must be in [0, %d]", f.Learn.MaxRetired, MaxMaxRetired))
	}
	return errors.Join(errs...)
}

func (s MetricSpec) validate(field string) error {
	var errs []error
	errs = append(errs, oneOf(field+".device", s.Device, Reducers()), oneOf(field+".group", s.Group, Stats()),
		oneOf(field+".impute", s.Impute, Imputes()))
	for name, p := range map[string]*float64{"min": s.Min, "max": s.Max, "max_rate_per_s": s.MaxRatePerS} {
		if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
			errs = append(errs, fmt.Errorf("%s.%s: must be finite", field, name))
		}
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		errs = append(errs, fmt.Errorf("%s: min %v is above max %v", field, *s.Min, *s.Max))
	}
	if s.MaxRatePerS != nil && *s.MaxRatePerS < 0 {
		errs = append(errs, fmt.Errorf("%s.max_rate_per_s: %v is negative", field, *s.MaxRatePerS))
	}
	return errors.Join(errs...)
}

// validateCounter reports the increase reducer on a metric that is not a
// counter (monotonic: true): its resets are drops in value.
func (s MetricSpec) validateCounter(field string) error {
	if s.Device == ReduceIncrease && (s.Monotonic == nil || !*s.Monotonic) {
		return fmt.Errorf("%s.device: increase needs monotonic: true (a counter)", field)
	}
	return nil
}

// merge returns s with the fields set in o overriding it.
func (s MetricSpec) merge(o MetricSpec) MetricSpec {
	if o.Min != nil {
		s.Min = o.Min
	}
	if o.Max != nil {
		s.Max = o.Max
	}
	if o.MaxRatePerS != nil {
		s.MaxRatePerS = o.MaxRatePerS
	}
	if o.Monotonic != nil {
		s.Monotonic = o.Monotonic
	}
	if o.Device != "" {
		s.Device = o.Device
	}
	if o.Group != "" {
		s.Group = o.Group
	}
	if o.Impute != "" {
		s.Impute = o.Impute
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// oneOf reports v when it is set and not one of allowed.
func oneOf[T ~string](field string, v T, allowed []T) error {
	if v != "" && !slices.Contains(allowed, v) {
		return fmt.Errorf("%s: %q is not one of %v", field, v, allowed)
	}
	return nil
}
