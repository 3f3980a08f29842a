package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults and limits of a Scenario.
const (
	// DefaultInterval is the default reporting interval of every device.
	DefaultInterval = time.Second
	// DefaultQoS is the default MQTT QoS of telemetry publishes.
	DefaultQoS = 1
	// DefaultSeed is the seed of a scenario that names none (or 0).
	DefaultSeed = 1
	// DefaultTelemetryTopic is the default telemetry topic template
	// (DESIGN.md, "Wire format").
	DefaultTelemetryTopic = "fleet/{site}/{device}/telemetry"
	// DefaultStatusTopic is the default status (birth and Last Will) topic
	// template.
	DefaultStatusTopic = "fleet/{site}/{device}/status"
	// DefaultTruthWindow is the default size of the ground truth's tumbling
	// windows, rollcall's default window.
	DefaultTruthWindow = 10 * time.Second
	// DefaultTurbinePrefix and DefaultGenericPrefix prefix the device ids of
	// turbines ("wt-01") and generic devices ("dev-01").
	DefaultTurbinePrefix = "wt"
	DefaultGenericPrefix = "dev"
	// NumberFleet numbers device names across the fleet (SiteSpec.Numbering).
	NumberFleet = "fleet"
	// NumberSite numbers device names from 1 at every site.
	NumberSite = "site"

	// MaxDevices is the largest fleet one process simulates.
	MaxDevices = 100_000
	// MaxSites is the largest number of sites (groups).
	MaxSites = 10_000
	// MaxMetrics is the most metrics a generic device kind may have, the
	// gateway's default limit per message.
	MaxMetrics = 64
	// MinInterval and MaxInterval bound every reporting interval.
	MinInterval = 10 * time.Millisecond
	MaxInterval = time.Hour
)

// DeviceKind is the model a site's devices follow.
type DeviceKind string

// Device kinds.
const (
	// KindTurbine is a wind turbine: metrics power_kw and wind_ms, from the
	// site's wind field through the power curve of Scenario.Turbine.
	KindTurbine DeviceKind = "turbine"
	// KindGeneric is a device whose metrics are bounded, mean-reverting
	// random processes described by SiteSpec.Metrics (a temperature, a
	// pressure, a meter's load).
	KindGeneric DeviceKind = "generic"
)

// Metric names of turbines.
const (
	MetricPower = "power_kw"
	// MetricEnergy is a turbine's energy counter (TurbineSpec.EnergyKWh).
	MetricEnergy = "energy_kwh"
	MetricWind   = "wind_ms"
)

// Scenario is what fleetsim simulates: the fleet, its physics and the faults
// to inject. It is read from YAML (LoadScenario, ParseScenario; the format is
// in docs/simulator.md). The zero value of a field means its default, except
// where a field says otherwise; WithDefaults fills them.
type Scenario struct {
	// Name names the scenario in logs and in the truth's run record.
	Name string `yaml:"name"`
	// Description says what the scenario shows. Free text.
	Description string `yaml:"description"`
	// Seed seeds every random choice: values, fault device picks, fault
	// randomness. Equal scenarios with equal seeds publish equal messages.
	// 0 means DefaultSeed (1).
	Seed int64 `yaml:"seed"`
	// Start is the simulated time of the first instant. Zero: derived from
	// the clock when the fleet runs (see Config.Start). Set it for
	// byte-identical output across runs.
	Start time.Time `yaml:"start"`
	// Duration is how much simulated time the run covers. 0 runs until
	// stopped (not allowed with Config.Speed > 1 unless a start is given).
	Duration time.Duration `yaml:"duration"`
	// Interval is the default reporting interval, between MinInterval and
	// MaxInterval. Default: DefaultInterval (1s).
	Interval time.Duration `yaml:"interval"`
	// QoS is the MQTT QoS of every publish, 0, 1 or 2. Nil means
	// DefaultQoS (1).
	QoS *byte `yaml:"qos"`
	// LastWill gives every device an MQTT connection of its own with a
	// Last Will ("offline" on its status topic) and a birth message
	// ("online"). Devices with an offline fault always have one; all other
	// devices share one connection. At most MaxDeviceConnections.
	LastWill bool `yaml:"last_will"`
	// Topics are the topic templates.
	Topics Topics `yaml:"topics"`
	// Format is the payload format: FormatJSON (rollcall's JSON on the
	// topic templates) or FormatSparkplug (Sparkplug B on spBv1.0 topics,
	// see docs/simulator.md; the templates are then unused). Default:
	// FormatJSON.
	Format string `yaml:"format"`
	// Truth shapes the ground truth's windows.
	Truth TruthSpec `yaml:"truth"`
	// Wind is the wind field that drives the turbines.
	Wind WindSpec `yaml:"wind"`
	// Turbine is the power curve and ramp limit of every turbine.
	Turbine TurbineSpec `yaml:"turbine"`
	// Sites are the groups of devices, in fleet order. At least one.
	Sites []SiteSpec `yaml:"sites"`
	// Faults are the scripted faults, applied in list order.
	Faults []FaultSpec `yaml:"faults"`
}

// Topics are the MQTT topic templates, with the placeholders {site} and
// {device} (required).
type Topics struct {
	// Telemetry is the readings' topic. Default: DefaultTelemetryTopic.
	Telemetry string `yaml:"telemetry"`
	// Status is the birth and Last Will topic. Default: DefaultStatusTopic.
	Status string `yaml:"status"`
}

// TruthSpec shapes the ground truth's tumbling windows. Match them to
// rollcall's --window so the truth and the aggregates line up.
type TruthSpec struct {
	// Window is the window size. Default: DefaultTruthWindow (10s).
	Window time.Duration `yaml:"window"`
	// Offset shifts the windows from the Unix epoch: a window starts at
	// Offset + k×Window. Between 0 and Window. Default: 0.
	Offset time.Duration `yaml:"offset"`
}

// WindSpec is each site's wind field: a slowly varying mean speed with a
// Weibull distribution, turbulence on top, and per-turbine variation. See
// docs/simulator.md, "The model".
type WindSpec struct {
	// MeanMS is the long-term mean wind speed in m/s. Default: 9.
	MeanMS float64 `yaml:"mean_ms"`
	// WeibullK is the shape of the mean speed's Weibull distribution
	// (2 is the Rayleigh distribution typical of inland sites). Default: 2.
	WeibullK float64 `yaml:"weibull_k"`
	// MaxMS caps every wind speed, in m/s; the fleet file's wind_ms max.
	// Default: 40.
	MaxMS float64 `yaml:"max_ms"`
	// Correlation is the correlation time of the mean speed: how long the
	// weather takes to change. Default: 10m.
	Correlation time.Duration `yaml:"correlation"`
	// Turbulence is the site's turbulence intensity: the standard deviation
	// of the gusts as a fraction of the mean speed, between 0 and 1.
	// Nil means 0.1.
	Turbulence *float64 `yaml:"turbulence"`
	// TurbineVariation is how far a turbine's wind strays from its site's,
	// as a fraction v of the site's speed, between 0 and 0.5: the turbine
	// sees site × (1 + v × (g + e)), g a fixed standard normal (terrain,
	// wakes) and e its own turbulence (a unit Ornstein-Uhlenbeck process
	// with a 5 s correlation time). Nil means 0.05.
	TurbineVariation *float64 `yaml:"turbine_variation"`
}

// TurbineSpec is a turbine's power curve and ramp limit. The fleet file
// fleetsim prints gives power_kw the range [0, RatedKW] and the
// max_rate_per_s RampKWPerS.
type TurbineSpec struct {
	// RatedKW is the rated (maximum) power. Default: 3000.
	RatedKW float64 `yaml:"rated_kw"`
	// CutInMS is the wind speed below which a turbine produces nothing.
	// Default: 3.
	CutInMS float64 `yaml:"cut_in_ms"`
	// RatedMS is the wind speed from which it produces RatedKW. Default: 12.
	RatedMS float64 `yaml:"rated_ms"`
	// CutOutMS is the wind speed from which it shuts down. Default: 25.
	CutOutMS float64 `yaml:"cut_out_ms"`
	// RampKWPerS is the fastest change of power, in kW/s (pitch control and
	// grid code). Default: 200.
	RampKWPerS float64 `yaml:"ramp_kw_per_s"`
	// EnergyKWh adds the energy_kwh counter to every turbine's readings:
	// the integral of its power (linear between samples) in kWh, counting
	// from 0 at the run's start and again from each reboot. Default: false.
	EnergyKWh bool `yaml:"energy_kwh"`
}

// SiteSpec is one site (a rollcall group) of identical devices, or with
// Count > 1 several.
type SiteSpec struct {
	// Name is the site's id (letters, digits, '.', '_', ':', '-'). With
	// Count > 1 it must contain {i}, replaced by 1…Count zero-padded to the
	// width of Count ("site-{i}" with count 100: site-001 … site-100).
	Name string `yaml:"name"`
	// Count is how many sites this entry stands for. Default: 1.
	Count int `yaml:"count"`
	// Devices is the number of devices per site, at least 1.
	Devices int `yaml:"devices"`
	// Kind is the device model. Default: KindTurbine.
	Kind DeviceKind `yaml:"kind"`
	// Prefix starts the device names. Devices are numbered per prefix
	// across the fleet in site order, zero-padded to at least two digits:
	// two sites of 20 turbines are wt-01 … wt-20 and wt-21 … wt-40.
	// Default: DefaultTurbinePrefix ("wt") or DefaultGenericPrefix ("dev").
	Prefix string `yaml:"prefix"`
	// Numbering is NumberFleet (names numbered across the fleet, unique) or
	// NumberSite (numbered from 1 at every site, as real fleets name their
	// turbines: site-a/wt-01 and site-b/wt-01 are two devices). Default:
	// NumberFleet.
	Numbering string `yaml:"numbering"`
	// Interval is the site's reporting interval. Default: Scenario.Interval.
	Interval time.Duration `yaml:"interval"`
	// Metrics are a generic site's metrics, by name. Required for
	// KindGeneric, not allowed for turbines.
	Metrics map[string]MetricModel `yaml:"metrics"`
}

// MetricModel is a generic metric: an Ornstein-Uhlenbeck process around Mean
// with standard deviation SD and correlation time Tau, clamped to
// [Min, Max], changing at most MaxRatePerS per second, rounded to Round.
type MetricModel struct {
	// Mean is the value the metric reverts to. Between Min and Max.
	Mean float64 `yaml:"mean"`
	// SD is the stationary standard deviation, at least 0.
	SD float64 `yaml:"sd"`
	// Min and Max are the physical range (the fleet file's min and max).
	// Min < Max; both required.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// Tau is the correlation time. Default: 1m.
	Tau time.Duration `yaml:"tau"`
	// MaxRatePerS limits the change per second (the fleet file's
	// max_rate_per_s). 0: unlimited.
	MaxRatePerS float64 `yaml:"max_rate_per_s"`
	// Round is the resolution of published values. Default: 0.01.
	Round float64 `yaml:"round"`
}

// Defaults of the physics.
const (
	DefaultWindMeanMS         = 9.0
	DefaultWindWeibullK       = 2.0
	DefaultWindMaxMS          = 40.0
	DefaultWindCorrelation    = 10 * time.Minute
	DefaultWindTurbulence     = 0.1
	DefaultTurbineVariation   = 0.05
	DefaultRatedKW            = 3000.0
	DefaultCutInMS            = 3.0
	DefaultRatedMS            = 12.0
	DefaultCutOutMS           = 25.0
	DefaultRampKWPerS         = 200.0
	DefaultMetricTau          = time.Minute
	DefaultMetricRound        = 0.01
	defaultTurbineValuesRound = 0.1 // turbine values are published to 0.1
)

//go:embed scenarios/*.yaml
var exampleFS embed.FS

// ExampleScenarios returns the names of the scenarios shipped in
// sim/scenarios, sorted ("calm", "chaos-mix", …).
func ExampleScenarios() []string {
	entries, _ := fs.ReadDir(exampleFS, "scenarios") // embedded: cannot fail
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// ExampleScenario returns the shipped scenario name (see ExampleScenarios),
// parsed and validated.
func ExampleScenario(name string) (Scenario, error) {
	b, err := exampleFS.ReadFile(path.Join("scenarios", name+".yaml"))
	if err != nil {
		return Scenario{}, fmt.Errorf("%w: %q (shipped: %s)", ErrUnknownScenario, name, strings.Join(ExampleScenarios(), ", "))
	}
	s, err := ParseScenario(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario %s: %w", name, err)
	}
	return s, nil
}

// LoadScenario reads a scenario file. A name without a path separator or
// ".yaml"/".yml" suffix that is not an existing file is looked up among the
// shipped scenarios, so `fleetsim --scenario calm` works anywhere.
func LoadScenario(name string) (Scenario, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsRune(name, os.PathSeparator) &&
		!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
		return ExampleScenario(name)
	}
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario file: %w", err)
	}
	s, err := ParseScenario(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario file %s: %w", name, err)
	}
	return s, nil
}

// ParseScenario parses and validates scenario YAML. Unknown keys are errors,
// so a typo does not silently fall back to a default. The result has its
// defaults filled.
func ParseScenario(b []byte) (Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Scenario{}, err
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// WithDefaults returns s with every zero field set to its default. Slices and
// maps are copied, so the result shares nothing mutable with s.
func (s Scenario) WithDefaults() Scenario {
	if s.Seed == 0 {
		s.Seed = DefaultSeed
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.QoS == nil {
		q := byte(DefaultQoS)
		s.QoS = &q
	} else {
		q := *s.QoS
		s.QoS = &q
	}
	if s.Topics.Telemetry == "" {
		s.Topics.Telemetry = DefaultTelemetryTopic
	}
	if s.Topics.Status == "" {
		s.Topics.Status = DefaultStatusTopic
	}
	if s.Truth.Window == 0 {
		s.Truth.Window = DefaultTruthWindow
	}
	if s.Format == "" {
		s.Format = FormatJSON
	}
	s.Wind = s.Wind.withDefaults()
	s.Turbine = s.Turbine.withDefaults()
	s.Sites = slices.Clone(s.Sites)
	for i := range s.Sites {
		s.Sites[i] = s.Sites[i].withDefaults(s.Interval)
	}
	s.Faults = slices.Clone(s.Faults)
	for i := range s.Faults {
		s.Faults[i] = s.Faults[i].withDefaults()
	}
	return s
}

func (w WindSpec) withDefaults() WindSpec {
	if w.MeanMS == 0 {
		w.MeanMS = DefaultWindMeanMS
	}
	if w.WeibullK == 0 {
		w.WeibullK = DefaultWindWeibullK
	}
	if w.MaxMS == 0 {
		w.MaxMS = DefaultWindMaxMS
	}
	if w.Correlation == 0 {
		w.Correlation = DefaultWindCorrelation
	}
	w.Turbulence = floatOr(w.Turbulence, DefaultWindTurbulence)
	w.TurbineVariation = floatOr(w.TurbineVariation, DefaultTurbineVariation)
	return w
}

// floatOr returns a new pointer to *p, or to def when p is nil.
func floatOr(p *float64, def float64) *float64 {
	if p != nil {
		def = *p
	}
	return &def
}

func (t TurbineSpec) withDefaults() TurbineSpec {
	if t.RatedKW == 0 {
		t.RatedKW = DefaultRatedKW
	}
	if t.CutInMS == 0 {
		t.CutInMS = DefaultCutInMS
	}
	if t.RatedMS == 0 {
		t.RatedMS = DefaultRatedMS
	}
	if t.CutOutMS == 0 {
		t.CutOutMS = DefaultCutOutMS
	}
	if t.RampKWPerS == 0 {
		t.RampKWPerS = DefaultRampKWPerS
	}
	return t
}

func (s SiteSpec) withDefaults(interval time.Duration) SiteSpec {
	if s.Count == 0 {
		s.Count = 1
	}
	if s.Kind == "" {
		s.Kind = KindTurbine
	}
	if s.Numbering == "" {
		s.Numbering = NumberFleet
	}
	if s.Prefix == "" {
		s.Prefix = DefaultTurbinePrefix
		if s.Kind == KindGeneric {
			s.Prefix = DefaultGenericPrefix
		}
	}
	if s.Interval == 0 {
		s.Interval = interval
	}
	if s.Metrics != nil {
		m := make(map[string]MetricModel, len(s.Metrics))
		for name, mm := range s.Metrics {
			if mm.Tau == 0 {
				mm.Tau = DefaultMetricTau
			}
			if mm.Round == 0 {
				mm.Round = DefaultMetricRound
			}
			m[name] = mm
		}
		s.Metrics = m
	}
	return s
}

// Group is one site of the expanded fleet: a rollcall group.
type Group struct {
	// Name is the site id.
	Name string
	// Kind is the devices' model.
	Kind DeviceKind
	// Interval is the devices' reporting interval.
	Interval time.Duration
	// Devices are the device ids, in fleet order.
	Devices []string
	// Metrics are the metric names the devices publish, sorted.
	Metrics []string
	// spec is the entry the group comes from.
	spec *SiteSpec
}

// Groups expands the sites of a scenario into groups and device ids, in
// fleet order. It fails when the fleet exceeds MaxSites or MaxDevices.
func (s Scenario) Groups() ([]Group, error) {
	s = s.WithDefaults()
	nSites, nDevices := 0, 0
	perPrefix := map[string]int{}
	for _, site := range s.Sites {
		if site.Count < 1 || site.Devices < 1 {
			return nil, errors.New("sites: count and devices must be at least 1")
		}
		nSites += site.Count
		nDevices += site.Count * site.Devices
		perPrefix[site.Prefix] += site.Count * site.Devices
		if nSites > MaxSites || nDevices > MaxDevices {
			return nil, fmt.Errorf("sites: more than %d sites or %d devices (MaxSites, MaxDevices)", MaxSites, MaxDevices)
		}
	}
	next := map[string]int{}
	groups := make([]Group, 0, nSites)
	for i := range s.Sites {
		site := &s.Sites[i]
		metrics := []string{MetricPower, MetricWind}
		if s.Turbine.EnergyKWh {
			metrics = []string{MetricEnergy, MetricPower, MetricWind}
		}
		if site.Kind == KindGeneric {
			metrics = sortedKeys(site.Metrics)
		}
		width := max(2, len(fmt.Sprint(perPrefix[site.Prefix])))
		if site.Numbering == NumberSite {
			width = max(2, len(fmt.Sprint(site.Devices)))
		}
		for k := 1; k <= site.Count; k++ {
			g := Group{
				Name: siteName(site.Name, k, site.Count), Kind: site.Kind, Interval: site.Interval,
				Metrics: metrics, spec: site, Devices: make([]string, site.Devices),
			}
			for d := range g.Devices {
				n := d + 1
				if site.Numbering != NumberSite {
					next[site.Prefix]++
					n = next[site.Prefix]
				}
				g.Devices[d] = fmt.Sprintf("%s-%0*d", site.Prefix, width, n)
			}
			groups = append(groups, g)
		}
	}
	return groups, nil
}

// siteName expands the {i} of name for the k-th of count sites.
func siteName(name string, k, count int) string {
	if count == 1 && !strings.Contains(name, "{i}") {
		return name
	}
	return strings.ReplaceAll(name, "{i}", fmt.Sprintf("%0*d", len(fmt.Sprint(count)), k))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
