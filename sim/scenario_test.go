package sim_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/staleness"
)

func TestParseScenario(t *testing.T) {
	t.Parallel()
	s, err := ParseScenario([]byte(`
name: t
seed: 5
duration: 1m
start: 2026-11-22T10:00:00Z
qos: 0
sites:
  - {name: "site-{i}", count: 12, devices: 10}
  - {name: plant, kind: generic, devices: 2, interval: 5s, metrics: {temp_c: {mean: 20, sd: 2, min: -10, max: 60}}}
faults:
  - {kind: replay, devices: [wt-003], from: 10s}
  - {kind: burst, fraction: 0.1, sites: [site-02]}
`))
	require.NoError(t, err)
	require.Equal(t, int64(5), s.Seed)
	require.Equal(t, byte(0), *s.QoS)
	require.Equal(t, testStart, s.Start)
	require.Equal(t, DefaultReplayEvery, s.Faults[0].Every, "defaults are filled")
	require.Equal(t, DefaultBurstFactor, s.Faults[1].Factor)
	require.Equal(t, DefaultMetricTau, s.Sites[1].Metrics["temp_c"].Tau)
	groups, err := s.Groups()
	require.NoError(t, err)
	require.Len(t, groups, 13)
	require.Equal(t, "site-01", groups[0].Name)
	require.Equal(t, "site-12", groups[11].Name)
	require.Equal(t, "wt-001", groups[0].Devices[0])
	require.Equal(t, "wt-120", groups[11].Devices[9])
	require.Equal(t, []string{"dev-01", "dev-02"}, groups[12].Devices)
	require.Equal(t, []string{"temp_c"}, groups[12].Metrics)
	require.Equal(t, []string{MetricPower, MetricWind}, groups[0].Metrics)
	require.Equal(t, 5*time.Second, groups[12].Interval)

	_, err = ParseScenario([]byte("sites: [{name: a, devices: 1}]\nfautls: []\n"))
	require.ErrorContains(t, err, "fautls", "unknown keys are errors")
}

func TestScenarioValidate(t *testing.T) {
	t.Parallel()
	lo, hi := 0.0, 1.0
	base := func() Scenario {
		return Scenario{Sites: []SiteSpec{{Name: "a", Devices: 3}, {Name: "b", Devices: 1}}}
	}
	fault := func(f FaultSpec) func(*Scenario) {
		return func(s *Scenario) {
			if f.Devices == nil && f.Fraction == 0 && f.Count == 0 && f.Sites == nil {
				f.Devices = []string{"wt-01"}
			}
			s.Faults = []FaultSpec{f}
		}
	}
	tests := []struct {
		name   string
		mutate func(*Scenario)
		want   []string
	}{
		{name: "minimal", mutate: func(*Scenario) {}},
		{name: "no sites", mutate: func(s *Scenario) { s.Sites = nil }, want: []string{"sites: at least one"}},
		{name: "negative duration", mutate: func(s *Scenario) { s.Duration = -1 }, want: []string{"duration:"}},
		{name: "interval", mutate: func(s *Scenario) { s.Interval = 2 * time.Hour }, want: []string{"interval:"}},
		{name: "qos", mutate: func(s *Scenario) { q := byte(3); s.QoS = &q }, want: []string{"qos:"}},
		{name: "topic without device", mutate: func(s *Scenario) { s.Topics.Telemetry = "x/{site}" }, want: []string{"topics.telemetry:", "{device}"}},
		{name: "topic wildcard", mutate: func(s *Scenario) { s.Topics.Status = "x/+/{device}" }, want: []string{"topics.status:", "wildcard"}},
		{name: "same topics", mutate: func(s *Scenario) { s.Topics.Status = DefaultTelemetryTopic }, want: []string{"topics.status: the same"}},
		{name: "truth offset", mutate: func(s *Scenario) { s.Truth.Offset = DefaultTruthWindow }, want: []string{"truth.offset:"}},
		{name: "wind", mutate: func(s *Scenario) {
			v := 2.0
			s.Wind = WindSpec{MeanMS: 50, WeibullK: 20, Correlation: time.Millisecond, Turbulence: &v, TurbineVariation: &v}
		}, want: []string{"wind.mean_ms:", "wind.weibull_k:", "wind.correlation:", "wind.turbulence:", "wind.turbine_variation:"}},
		{
			name: "turbine", mutate: func(s *Scenario) { s.Turbine = TurbineSpec{RatedKW: -1, CutInMS: 13, RampKWPerS: -1} },
			want: []string{"turbine.rated_kw:", "turbine: cut_in_ms", "turbine.ramp_kw_per_s:"},
		},
		{name: "site problems", mutate: func(s *Scenario) {
			s.Sites = []SiteSpec{{Name: "a b", Devices: 0, Prefix: "w/t", Kind: "boat"}, {Name: "x", Count: 3, Devices: 1}}
		}, want: []string{"sites[0].name:", "sites[0].devices:", "sites[0].prefix:", "sites[0].kind:", "sites[1].name:", "lacks {i}"}},
		{name: "generic without metrics", mutate: func(s *Scenario) { s.Sites[0].Kind = KindGeneric }, want: []string{"sites[0].metrics:"}},
		{name: "turbine with metrics", mutate: func(s *Scenario) {
			s.Sites[0].Metrics = map[string]MetricModel{"x": {Min: &lo, Max: &hi}}
		}, want: []string{"sites[0].metrics: only for kind generic"}},
		{name: "bad metric", mutate: func(s *Scenario) {
			s.Sites[0].Kind = KindGeneric
			s.Sites[0].Metrics = map[string]MetricModel{"a b": {Mean: 5, SD: -1, Min: &hi, Max: &lo, MaxRatePerS: -1}, "ok": {Mean: 5, Min: &lo, Max: &hi}}
		}, want: []string{
			"sites[0].metrics.a b: the name", "sites[0].metrics.a b: min", "sites[0].metrics.a b.sd:",
			"max_rate_per_s:", "sites[0].metrics.ok.mean:",
		}},
		{name: "duplicate site", mutate: func(s *Scenario) { s.Sites[1].Name = "a" }, want: []string{`"a" is named twice`}},
		{name: "duplicate ids", mutate: func(s *Scenario) {
			s.Sites = []SiteSpec{{Name: "a", Devices: 1, Prefix: "x"}, {
				Name: "b", Devices: 1, Prefix: "x-01", Kind: KindGeneric,
				Metrics: map[string]MetricModel{"m": {Min: &lo, Max: &hi}},
			}}
			s.Sites[0].Devices = 100 // x-001 … x-100; the other is x-01-01
		}},
		{name: "unknown fault", mutate: fault(FaultSpec{Kind: "meteor"}), want: []string{"faults[0].kind:"}},
		{
			name: "no devices picked", mutate: func(s *Scenario) { s.Faults = []FaultSpec{{Kind: FaultSilent}} },
			want: []string{"faults[0].devices: name exactly one"},
		},
		{
			name: "two picks", mutate: fault(FaultSpec{Kind: FaultSilent, Devices: []string{"wt-01"}, Count: 1}),
			want: []string{"exactly one"},
		},
		{
			name: "unknown device and site", mutate: fault(FaultSpec{Kind: FaultSilent, Fraction: 2, Sites: []string{"zz"}}),
			want: []string{"faults[0].sites[0]:", "faults[0].fraction:"},
		},
		{
			name: "device twice", mutate: fault(FaultSpec{Kind: FaultSilent, Devices: []string{"wt-01", "wt-09", "wt-01"}}),
			want: []string{"devices[1]: \"wt-09\" is not in the fleet", "devices[2]:", "twice"},
		},
		{name: "count", mutate: fault(FaultSpec{Kind: FaultSilent, Count: 5}), want: []string{"faults[0].count:"}},
		{name: "time range", mutate: fault(FaultSpec{Kind: FaultSilent, From: -1, To: -2}), want: []string{"faults[0].from:", "faults[0].to:"}},
		{name: "reboot with to", mutate: fault(FaultSpec{Kind: FaultReboot, To: time.Second}), want: []string{"not for reboot"}},
		{name: "clock jump with to", mutate: fault(FaultSpec{Kind: FaultClockJump, Jump: time.Second, To: time.Second}), want: []string{"not for clock_jump"}},
		{
			name: "parameter of another kind", mutate: fault(FaultSpec{Kind: FaultSilent, Every: time.Second, Factor: 2}),
			want: []string{"faults[0].every: not a parameter of silent", "faults[0].factor:"},
		},
		{name: "required parameters", mutate: func(s *Scenario) {
			d := []string{"wt-01"}
			s.Faults = []FaultSpec{{Kind: FaultDelay, Devices: d}, {Kind: FaultJitter, Devices: d}, {Kind: FaultClockSkew, Devices: d}, {Kind: FaultClockJump, Devices: d}}
		}, want: []string{"faults[0].delay: required", "faults[1].jitter: required", "faults[2].skew: required", "faults[3].jump: required"}},
		{name: "parameter ranges", mutate: func(s *Scenario) {
			d := []string{"wt-01"}
			s.Interval = 100 * time.Millisecond
			s.Faults = []FaultSpec{
				{Kind: FaultBurst, Devices: d, Factor: 1},
				{Kind: FaultReorder, Devices: d, Window: 1},
				{Kind: FaultDuplicate, Devices: d, Copies: 11, Probability: 1.5},
				{Kind: FaultOversize, Devices: d, Size: -1},
				{Kind: FaultSpoof, Devices: d, Target: "wt-01"},
				{Kind: FaultReboot, Devices: d, Downtime: -1},
				{Kind: FaultPartition, Devices: d, Buffer: -1, FlushRate: -1},
				{Kind: FaultReplay, Devices: d, Every: time.Millisecond},
				{Kind: FaultBurst, Devices: d, Factor: 1000},
			}
		}, want: []string{
			"faults[0].factor:", "faults[1].window:", "faults[2].copies:", "faults[2].probability:",
			"faults[3].size:", "faults[4].target: \"wt-01\" spoofs itself", "faults[5].downtime:", "faults[6].buffer:",
			"faults[6].flush_rate:", "faults[7].every:", "faults[8].factor: 1000 makes the interval",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := base()
			tt.mutate(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLoadScenario(t *testing.T) {
	t.Parallel()
	s, err := LoadScenario("calm")
	require.NoError(t, err, "a shipped scenario by name")
	require.Equal(t, "calm", s.Name)

	dir := t.TempDir()
	name := filepath.Join(dir, "mine.yaml")
	require.NoError(t, os.WriteFile(name, []byte("name: mine\nsites: [{name: x, devices: 2}]\n"), 0o600))
	s, err = LoadScenario(name)
	require.NoError(t, err)
	require.Equal(t, "mine", s.Name)

	_, err = LoadScenario(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "scenario file")
	_, err = LoadScenario("no-such-scenario")
	require.ErrorIs(t, err, ErrUnknownScenario)
	require.NoError(t, os.WriteFile(name, []byte("sites: []\n"), 0o600))
	_, err = LoadScenario(name)
	require.ErrorContains(t, err, "mine.yaml: sites: at least one site")
}

// The fleet file of a scenario is a valid rollcall fleet file with the
// scenario's roster and physical envelope.
func TestFleetFile(t *testing.T) {
	t.Parallel()
	s := example(t, "chaos-mix")
	b, err := s.FleetFile()
	require.NoError(t, err)
	f, err := staleness.ParseFleet(b)
	require.NoError(t, err, "%s", b)
	require.False(t, f.LearnEnabled())
	require.Equal(t, time.Second, f.Defaults.Interval)
	require.Len(t, f.Groups, 5)
	require.Len(t, f.Groups["site-1"].Devices, 25)
	require.Equal(t, "wt-001", f.Groups["site-1"].Devices[0])
	require.Equal(t, "meter-10", f.Groups["plant"].Devices[9])
	require.Equal(t, 2*time.Second, f.Devices["meter-01"].Interval)
	power := f.Defaults.Metrics[MetricPower]
	require.Equal(t, 0.0, *power.Min)
	require.Equal(t, DefaultRatedKW, *power.Max)
	require.Equal(t, DefaultRampKWPerS, *power.MaxRatePerS)
	require.Equal(t, DefaultWindMaxMS, *f.Defaults.Metrics[MetricWind].Max)
	load := f.Defaults.Metrics["load_kw"]
	require.Equal(t, 500.0, *load.Max)
	require.Equal(t, 50.0, *load.MaxRatePerS)

	// The demo's generated roster is the one of demo_fleet.yaml.
	demo, err := DemoScenario().FleetFile()
	require.NoError(t, err)
	gen, err := staleness.ParseFleet(demo)
	require.NoError(t, err)
	shipped, err := staleness.ParseFleet(DemoFleet)
	require.NoError(t, err)
	require.Equal(t, shipped.Groups, gen.Groups)
	require.Equal(t, shipped.Defaults.Interval, gen.Defaults.Interval)

	_, err = Scenario{}.FleetFile()
	require.Error(t, err)
}

// Real fleets name turbines per site: with numbering "site" both sites have
// a wt-01, and they are two devices (site-a/wt-01, site-b/wt-01). A fault
// names one by its identity; a bare name used at both sites is refused.
func TestScenarioSiteNumbering(t *testing.T) {
	t.Parallel()
	s := Scenario{Name: "twins", Duration: 3 * time.Second, Sites: []SiteSpec{
		{Name: "site-a", Devices: 3, Numbering: NumberSite},
		{Name: "site-b", Devices: 3, Numbering: NumberSite},
	}}
	groups, err := s.Groups()
	require.NoError(t, err)
	require.Equal(t, []string{"wt-01", "wt-02", "wt-03"}, groups[0].Devices)
	require.Equal(t, []string{"wt-01", "wt-02", "wt-03"}, groups[1].Devices)

	s.Faults = []FaultSpec{{Kind: FaultSilent, Devices: []string{"wt-02"}}}
	require.ErrorContains(t, s.Validate(), `faults[0].devices[0]: "wt-02" names a device at several sites; write site/wt-02`)
	s.Faults = []FaultSpec{{Kind: FaultSilent, Devices: []string{"site-c/wt-02"}}}
	require.ErrorContains(t, s.Validate(), `"site-c/wt-02" is not in the fleet`)

	s.Faults = []FaultSpec{{Kind: FaultSilent, Devices: []string{"site-b/wt-02"}}}
	require.NoError(t, s.Validate())
	res := runInProcess(t, s)
	require.Len(t, res.truth.Faults, 1)
	require.Equal(t, "site-b/wt-02", res.truth.Faults[0].Device)
	require.Equal(t, 3, countTelemetry(res.msgs, "site-a/wt-02"), "the twin at site-a is untouched")
	require.Zero(t, countTelemetry(res.msgs, "site-b/wt-02"), "site-b/wt-02 is silent")

	s.Sites[1].Numbering = "per-site"
	require.ErrorContains(t, s.Validate(), `numbering: "per-site" is neither`)
}

func TestLoadDevicePasswords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	m, err := LoadDevicePasswords(write("ok.yaml", "site-a/wt-01: pw1\nsite-b/wt-01: pw2\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"site-a/wt-01": "pw1", "site-b/wt-01": "pw2"}, m)
	_, err = LoadDevicePasswords(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "sim: device passwords:")
	_, err = LoadDevicePasswords(write("list.yaml", "- a\n"))
	require.ErrorContains(t, err, "list.yaml")
	_, err = LoadDevicePasswords(write("empty.yaml", ""))
	require.ErrorContains(t, err, "no devices")
}
