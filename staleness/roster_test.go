package staleness

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustRoster(t *testing.T, yaml string) *Roster {
	t.Helper()
	f, err := ParseFleet([]byte(yaml))
	require.NoError(t, err)
	return NewRoster(f)
}

func TestRosterResolve(t *testing.T) {
	t.Parallel()
	const listedAndMatched = `
groups:
  site-a: {devices: [wt-01, wt-02]}
  north:  {match: "site-n/*"}
  inv:    {match: "*/inv-*"}
`
	type want struct {
		group          string
		listed, exists bool
	}
	tests := []struct {
		name         string
		yaml         string
		site, device string
		want         want
	}{
		{"listed", designFleet, "site-a", "wt-01", want{"site-a", true, true}},
		{"listed on another site is still its group", designFleet, "site-b", "wt-02", want{"site-a", true, true}},
		{"learned joins its site", designFleet, "site-a", "wt-99", want{"site-a", false, true}},
		{"learned on another site", designFleet, "site-z", "wt-99", want{"site-z", false, true}},
		{"listed beats match", listedAndMatched, "site-n", "wt-01", want{"site-a", true, true}},
		{"matched", listedAndMatched, "site-n", "wt-77", want{"north", false, true}},
		{"matched by device pattern", listedAndMatched, "site-q", "inv-3", want{"inv", false, true}},
		{"match does not cross slash", listedAndMatched, "site-n", "sub/x", want{"site-n", false, true}},
		{"not matched: learned", listedAndMatched, "site-b", "wt-77", want{"site-b", false, true}},
		{"learn disabled: listed ok", listedAndMatched + "learn: {enabled: false}", "site-a", "wt-02", want{"site-a", true, true}},
		{"learn disabled: matched ok", listedAndMatched + "learn: {enabled: false}", "site-n", "wt-77", want{"north", false, true}},
		{"learn disabled: unknown refused", listedAndMatched + "learn: {enabled: false}", "site-b", "wt-77", want{"", false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRoster(t, tt.yaml)
			g, listed, ok := r.Resolve(tt.site, tt.device)
			require.Equal(t, tt.want, want{g, listed, ok})
		})
	}
}

func TestRosterNilFleetLearnsEverything(t *testing.T) {
	t.Parallel()
	r := NewRoster(nil)
	g, listed, ok := r.Resolve("site-x", "dev")
	require.Equal(t, "site-x", g)
	require.False(t, listed)
	require.True(t, ok)
	require.Equal(t, DefaultInterval, r.Interval("dev"))
	require.Equal(t, 24*time.Hour, r.RetireAfter())
	require.Empty(t, r.Groups())
	require.Empty(t, r.ConfiguredMetrics())
	require.Equal(t, Metric{
		Name: "x", Min: math.Inf(-1), Max: math.Inf(1), MaxRatePerS: math.Inf(1),
		Reducer: "mean", Stat: "sum", Impute: "last",
	}, r.Metric("dev", "x"))
}

func TestRosterMetric(t *testing.T) {
	t.Parallel()
	overrides := strings.Replace(designFleet, "devices:\n", `devices:
  wt-05:
    metrics:
      power_kw: {min: 100, max_rate_per_s: 50, device: max, group: max, impute: zero}
      temp_c: {min: -40}
      energy_kwh: {monotonic: false}
`, 1)
	inf := math.Inf(1)
	tests := []struct {
		name, device, metric string
		want                 Metric
	}{
		{
			"defaults", "wt-01", "power_kw",
			Metric{Name: "power_kw", Min: 0, Max: 3000, MaxRatePerS: 300, Reducer: "mean", Stat: "sum", Impute: "last"},
		},
		{
			"device override of max keeps the rest", "wt-03", "power_kw",
			Metric{Name: "power_kw", Min: 0, Max: 2000, MaxRatePerS: 300, Reducer: "mean", Stat: "sum", Impute: "last"},
		},
		{
			"unset rate is +Inf, unset impute defaults to last", "wt-01", "wind_ms",
			Metric{Name: "wind_ms", Min: 0, Max: 60, MaxRatePerS: inf, Reducer: "mean", Stat: "mean", Impute: "last"},
		},
		{
			"unset bounds are infinite", "wt-01", "energy_kwh",
			Metric{Name: "energy_kwh", Min: math.Inf(-1), Max: inf, MaxRatePerS: inf, Monotonic: true, Reducer: "last", Stat: "sum", Impute: "last"},
		},
		{
			"every field overridden", "wt-05", "power_kw",
			Metric{Name: "power_kw", Min: 100, Max: 3000, MaxRatePerS: 50, Reducer: "max", Stat: "max", Impute: "zero"},
		},
		{
			"override to false", "wt-05", "energy_kwh",
			Metric{Name: "energy_kwh", Min: math.Inf(-1), Max: inf, MaxRatePerS: inf, Monotonic: false, Reducer: "last", Stat: "sum", Impute: "last"},
		},
		{
			"metric only in the device", "wt-05", "temp_c",
			Metric{Name: "temp_c", Min: -40, Max: inf, MaxRatePerS: inf, Reducer: "mean", Stat: "sum", Impute: "last"},
		},
		{
			"device metric does not leak to others", "wt-01", "temp_c",
			Metric{Name: "temp_c", Min: math.Inf(-1), Max: inf, MaxRatePerS: inf, Reducer: "mean", Stat: "sum", Impute: "last"},
		},
		{
			"unknown device and metric", "nobody", "nothing",
			Metric{Name: "nothing", Min: math.Inf(-1), Max: inf, MaxRatePerS: inf, Reducer: "mean", Stat: "sum", Impute: "last"},
		},
	}
	r := mustRoster(t, overrides)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, r.Metric(tt.device, tt.metric))
		})
	}
	// Merging must not modify the fleet: defaults stay as written.
	require.Equal(t, 3000.0, *r.fleet.Defaults.Metrics["power_kw"].Max)
}

func TestRosterInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, device string
		want               time.Duration
	}{
		{"device beats defaults", "defaults: {interval: 5s}\ndevices: {a: {interval: 30s}}", "a", 30 * time.Second},
		{"defaults for others", "defaults: {interval: 5s}\ndevices: {a: {interval: 30s}}", "b", 5 * time.Second},
		{"device without interval uses defaults", "defaults: {interval: 5s}\ndevices: {a: {metrics: {p: {min: 0}}}}", "a", 5 * time.Second},
		{"device beats DefaultInterval", "devices: {a: {interval: 1m}}", "a", time.Minute},
		{"DefaultInterval last", "devices: {a: {interval: 1m}}", "b", time.Second},
		{"empty fleet", "", "a", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, mustRoster(t, tt.yaml).Interval(tt.device))
		})
	}
}

func TestRosterLists(t *testing.T) {
	t.Parallel()
	r := mustRoster(t, `
defaults:
  metrics: {wind_ms: {}, power_kw: {}, energy_kwh: {}, a_first: {}}
groups:
  zeta:  {devices: [z1]}
  alpha: {devices: [a2, a1]}
  mid:   {match: "m/*"}
learn: {retire_after: 2h}
`)
	require.Equal(t, []string{"a_first", "energy_kwh", "power_kw", "wind_ms"}, r.ConfiguredMetrics())
	require.Equal(t, []string{"alpha", "mid", "zeta"}, r.Groups())
	require.Equal(t, []string{"a2", "a1"}, r.Listed("alpha"), "listed devices in file order")
	require.Empty(t, r.Listed("mid"))
	require.Empty(t, r.Listed("nope"))
	require.Equal(t, 2*time.Hour, r.RetireAfter())
}
