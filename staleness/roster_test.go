package staleness

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
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
	const twins = `
groups:
  site-a: {devices: [wt-01, wt-02]}
  site-b: {devices: [wt-01, wt-02]}
`
	type want struct {
		group  string
		listed bool
		reason string // of the reject; "" when the device may join
	}
	tests := []struct {
		name         string
		yaml         string
		site, device string // device: the name; the identity is site/name
		want         want
	}{
		{"listed", designFleet, "site-a", "wt-01", want{"site-a", true, ""}},
		{"listed name on another site is refused", designFleet, "site-b", "wt-02", want{"", false, ingest.ReasonWrongSite}},
		{"listed name on an unknown site is refused", designFleet, "site-z", "wt-02", want{"", false, ingest.ReasonWrongSite}},
		{"twins: site-a's wt-01", twins, "site-a", "wt-01", want{"site-a", true, ""}},
		{"twins: site-b's wt-01", twins, "site-b", "wt-01", want{"site-b", true, ""}},
		{"twins: a third site", twins, "site-c", "wt-01", want{"", false, ingest.ReasonWrongSite}},
		{"learned joins its site", designFleet, "site-a", "wt-99", want{"site-a", false, ""}},
		{"learned on another site", designFleet, "site-z", "wt-99", want{"site-z", false, ""}},
		{"match claims a listed name at its site", listedAndMatched, "site-n", "wt-01", want{"north", false, ""}},
		{"matched", listedAndMatched, "site-n", "wt-77", want{"north", false, ""}},
		{"matched by device pattern", listedAndMatched, "site-q", "inv-3", want{"inv", false, ""}},
		{"not matched: learned", listedAndMatched, "site-b", "wt-77", want{"site-b", false, ""}},
		{"learn disabled: listed ok", listedAndMatched + "learn: {enabled: false}", "site-a", "wt-02", want{"site-a", true, ""}},
		{"learn disabled: matched ok", listedAndMatched + "learn: {enabled: false}", "site-n", "wt-77", want{"north", false, ""}},
		{"learn disabled: unknown refused", listedAndMatched + "learn: {enabled: false}", "site-b", "wt-77", want{"", false, ingest.ReasonUnknownDevice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRoster(t, tt.yaml)
			g, listed, err := r.Resolve(tt.site, ingest.ID(tt.site, tt.device))
			reason := ""
			if err != nil {
				reason = ingest.ReasonOf(err)
			}
			require.Equal(t, tt.want, want{g, listed, reason})
		})
	}
	_, _, err := mustRoster(t, twins).Resolve("site-c", "site-c/wt-02")
	require.EqualError(t, err, "ingest: rejected (wrong_site): the fleet file lists wt-02 under site-a, site-b, not under site-c")
	require.Equal(t, []string{"site-b/wt-01", "site-b/wt-02"}, mustRoster(t, twins).Listed("site-b"))
}

func TestRosterNilFleetLearnsEverything(t *testing.T) {
	t.Parallel()
	r := NewRoster(nil)
	g, listed, err := r.Resolve("site-x", "site-x/dev")
	require.Equal(t, "site-x", g)
	require.False(t, listed)
	require.NoError(t, err)
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
	require.Equal(t, []string{"alpha/a2", "alpha/a1"}, r.Listed("alpha"), "listed identities in file order")
	require.Empty(t, r.Listed("mid"))
	require.Empty(t, r.Listed("nope"))
	require.Equal(t, 2*time.Hour, r.RetireAfter())
}

// A devices: entry keyed by an identity applies to that device only; one
// keyed by a name applies to that name at every site.
func TestRosterDeviceOverrideByIdentity(t *testing.T) {
	t.Parallel()
	r := mustRoster(t, `
defaults: {interval: 1s, metrics: {power_kw: {min: 0, max: 3000}}}
groups: {site-a: {devices: [wt-05]}, site-b: {devices: [wt-05]}}
devices:
  wt-05: {metrics: {power_kw: {max: 2000}}}
  site-b/wt-05: {interval: 10s, metrics: {power_kw: {max: 1000}}}
`)
	require.Equal(t, 2000.0, r.Metric("site-a/wt-05", "power_kw").Max)
	require.Equal(t, 1000.0, r.Metric("site-b/wt-05", "power_kw").Max)
	require.Equal(t, time.Second, r.Interval("site-a/wt-05"))
	require.Equal(t, 10*time.Second, r.Interval("site-b/wt-05"))
	require.Equal(t, 3000.0, r.Metric("site-a/wt-06", "power_kw").Max)
}
