package staleness

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// designFleet is the example fleet file of DESIGN.md § The fleet file.
const designFleet = `
defaults:
  interval: 1s                 # expected reporting interval (learned per device at run time)
  metrics:
    power_kw: {min: 0, max: 3000, max_rate_per_s: 300, device: mean, group: sum, impute: last}
    wind_ms:  {min: 0, max: 60, device: mean, group: mean}
    energy_kwh: {monotonic: true, device: last, group: sum}
groups:
  site-a: {devices: [wt-01, wt-02, wt-03]}   # or match: "site-a/*"
devices:
  wt-03: {metrics: {power_kw: {max: 2000}}}
learn: {enabled: true, retire_after: 24h}     # devices seen but not listed join their site's group
`

func fp(v float64) *float64 { return &v }
func bp(v bool) *bool       { return &v }

func TestParseFleetDesignExample(t *testing.T) {
	t.Parallel()
	f, err := ParseFleet([]byte(designFleet))
	require.NoError(t, err)

	want := &Fleet{
		Defaults: Defaults{
			Interval: time.Second,
			Metrics: map[string]MetricSpec{
				"power_kw":   {Min: fp(0), Max: fp(3000), MaxRatePerS: fp(300), Device: "mean", Group: "sum", Impute: "last"},
				"wind_ms":    {Min: fp(0), Max: fp(60), Device: "mean", Group: "mean"},
				"energy_kwh": {Monotonic: bp(true), Device: "last", Group: "sum"},
			},
		},
		Groups:  map[string]GroupSpec{"site-a": {Devices: []string{"wt-01", "wt-02", "wt-03"}}},
		Devices: map[string]DeviceSpec{"wt-03": {Metrics: map[string]MetricSpec{"power_kw": {Max: fp(2000)}}}},
		Learn:   LearnSpec{Enabled: bp(true), RetireAfter: 24 * time.Hour},
	}
	require.Equal(t, want, f)
	require.True(t, f.LearnEnabled())
	require.Equal(t, 24*time.Hour, f.RetireAfter())
}

func TestParseFleetDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		yaml        string
		wantLearn   bool
		wantRetire  time.Duration
		wantGroups  int
		wantMetrics int
	}{
		{name: "empty file", yaml: "", wantLearn: true, wantRetire: 24 * time.Hour},
		{name: "comment only", yaml: "# nothing\n", wantLearn: true, wantRetire: 24 * time.Hour},
		{name: "learn disabled", yaml: "learn: {enabled: false}", wantLearn: false, wantRetire: 24 * time.Hour},
		{name: "retire after set", yaml: "learn: {retire_after: 90m}", wantLearn: true, wantRetire: 90 * time.Minute},
		{name: "groups only", yaml: "groups: {a: {devices: [x]}, b: {match: 'b/*'}}", wantLearn: true, wantRetire: 24 * time.Hour, wantGroups: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFleet([]byte(tt.yaml))
			require.NoError(t, err)
			require.Equal(t, tt.wantLearn, f.LearnEnabled())
			require.Equal(t, tt.wantRetire, f.RetireAfter())
			require.Len(t, f.Groups, tt.wantGroups)
			require.Len(t, f.Defaults.Metrics, tt.wantMetrics)
		})
	}
}

func TestParseFleetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // every substring must appear in the error
	}{
		{"unknown top-level key", "defaultz: {}", []string{"defaultz"}},
		{"unknown defaults key", "defaults: {intervall: 1s}", []string{"intervall"}},
		{"unknown metric key", "defaults: {metrics: {power_kw: {maxx: 3}}}", []string{"maxx"}},
		{"unknown group key", "groups: {a: {device: [x]}}", []string{"device"}},
		{"unknown learn key", "learn: {enable: true}", []string{"enable"}},
		{"bad interval", "defaults: {interval: fast}", []string{"fast"}},
		{"negative default interval", "defaults: {interval: -1s}", []string{"defaults.interval"}},
		{"negative device interval", "devices: {wt-01: {interval: -5s}}", []string{"devices.wt-01.interval"}},
		{"min above max", "defaults: {metrics: {power_kw: {min: 10, max: 5}}}", []string{"defaults.metrics.power_kw", "min 10 is above max 5"}},
		{"device min above max", "devices: {wt-03: {metrics: {power_kw: {min: 7, max: 2}}}}", []string{"devices.wt-03.metrics.power_kw", "min 7 is above max 2"}},
		{
			"device min above the default max",
			"defaults: {metrics: {power_kw: {min: 0, max: 3000}}}\ndevices: {wt-03: {metrics: {power_kw: {min: 5000}}}}",
			[]string{"devices.wt-03.metrics.power_kw", "min 5000 is above max 3000"},
		},
		{
			"device max below the default min",
			"defaults: {metrics: {temp_c: {min: 10}}}\ndevices: {d: {metrics: {temp_c: {max: 5}}}}",
			[]string{"devices.d.metrics.temp_c", "min 10 is above max 5"},
		},
		{"bad reducer", "defaults: {metrics: {power_kw: {device: median}}}", []string{"defaults.metrics.power_kw.device", `"median"`}},
		{"bad group stat", "defaults: {metrics: {power_kw: {group: avg}}}", []string{"defaults.metrics.power_kw.group", `"avg"`}},
		{"bad impute", "defaults: {metrics: {power_kw: {impute: guess}}}", []string{"defaults.metrics.power_kw.impute", `"guess"`}},
		{"bad device override reducer", "devices: {d: {metrics: {wind_ms: {device: p99}}}}", []string{"devices.d.metrics.wind_ms.device"}},
		{"NaN bound", "defaults: {metrics: {power_kw: {min: .nan}}}", []string{"defaults.metrics.power_kw.min", "finite"}},
		{"infinite bound", "defaults: {metrics: {power_kw: {max: .inf}}}", []string{"defaults.metrics.power_kw.max", "finite"}},
		{"negative max rate", "defaults: {metrics: {power_kw: {max_rate_per_s: -1}}}", []string{"defaults.metrics.power_kw.max_rate_per_s", "negative"}},
		{"device twice in one group", "groups: {site-a: {devices: [wt-01, wt-01]}}", []string{"groups.site-a.devices", "wt-01", "listed twice"}},
		{"identity listed", "groups: {site-a: {devices: [site-a/wt-01]}}", []string{"groups.site-a.devices", "list the device's name"}},
		{"empty device name", `groups: {site-a: {devices: [""]}}`, []string{"groups.site-a.devices", "empty device name"}},
		{"empty group name", `groups: {"": {devices: [x]}}`, []string{"empty group name"}},
		{"bad match pattern", `groups: {site-a: {match: "site-a/["}}`, []string{"groups.site-a.match", `"site-a/["`}},
		{"negative retire_after", "learn: {retire_after: -1h}", []string{"learn.retire_after"}},
		{"negative max_retired", "learn: {max_retired: -1}", []string{"learn.max_retired"}},
		{"huge max_retired", "learn: {max_retired: 1000001}", []string{"learn.max_retired"}},
		{
			"every problem at once",
			"defaults: {interval: -1s, metrics: {p: {device: x, impute: y}}}\nlearn: {retire_after: -1s}",
			[]string{"defaults.interval", "defaults.metrics.p.device", "defaults.metrics.p.impute", "learn.retire_after"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFleet([]byte(tt.yaml))
			require.Error(t, err)
			require.Nil(t, f)
			for _, s := range tt.want {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

func TestLoadFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "fleet.yaml")
	require.NoError(t, os.WriteFile(good, []byte(designFleet), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("defaults: {intervall: 1s}"), 0o600))

	f, err := LoadFleet(good)
	require.NoError(t, err)
	require.Equal(t, []string{"wt-01", "wt-02", "wt-03"}, f.Groups["site-a"].Devices)

	_, err = LoadFleet(bad)
	require.ErrorContains(t, err, bad)
	require.ErrorContains(t, err, "intervall")

	_, err = LoadFleet(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
