package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/api/apitest"
	"github.com/rollcall-iot/rollcall/sink/store"
)

var update = flag.Bool("update", false, "rewrite the golden files of the CLI tests")

// golden compares got with testdata/cli/<name>.golden, or writes it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o750))
		require.NoError(t, os.WriteFile(file, []byte(got), 0o600))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), got, "%s; run with -update after checking the difference", file)
}

// cli runs rollcall with args in-process and returns its exit code,
// stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// fixtureEngine answers device and group queries from canned data.
type fixtureEngine struct {
	devices []aggregate.DeviceInfo
	groups  []aggregate.GroupInfo
}

func (f fixtureEngine) Devices(_ context.Context, flt aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error) {
	out := []aggregate.DeviceInfo{}
	for _, d := range f.devices {
		if (flt.ID == "" || flt.ID == d.ID) && (flt.Group == "" || flt.Group == d.Group) &&
			(flt.State == "" || flt.State == d.State || flt.State == aggregate.StateReplaying && d.Replaying) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f fixtureEngine) Groups(context.Context) ([]aggregate.GroupInfo, error) { return f.groups, nil }

var cliT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fixtureAPI serves a store of hand-made aggregates and devices: site-a
// power_kw windows 0-2 (window 1 revised twice, window 2 missing wt-07),
// site-b wind_ms window 2 with an unbounded upper bound.
func fixtureAPI(t *testing.T) string {
	t.Helper()
	st, err := store.New(store.Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	win := func(i int) aggregate.Window {
		s := cliT0.Add(time.Duration(i) * 10 * time.Second)
		return aggregate.Window{Start: s, End: s.Add(10 * time.Second)}
	}
	full := func(group, metric string, i, rev int, sum, mean float64) aggregate.Aggregate {
		s := aggregate.Stat{Value: aggregate.Num(sum), Lower: aggregate.Num(sum), Upper: aggregate.Num(sum), Reported: aggregate.Num(sum)}
		m := aggregate.Stat{Value: aggregate.Num(mean), Lower: aggregate.Num(mean), Upper: aggregate.Num(mean), Reported: aggregate.Num(mean)}
		return aggregate.Aggregate{
			Group: group, Metric: metric, Window: win(i),
			Stats:    aggregate.Stats{Sum: s, Mean: m, Min: m, Max: m, Count: aggregate.CountStat{Value: 20}},
			Coverage: aggregate.Coverage{Expected: 20, Reported: 20, Ratio: 1, Missing: []aggregate.Missing{}},
			Quality:  aggregate.QualityGood, Flags: []string{}, Revision: rev, Final: rev == 2,
		}
	}
	st.Add(full("site-a", "power_kw", 0, 0, 41234.5, 2061.725))
	st.Add(full("site-a", "power_kw", 1, 0, 39000, 1950))
	st.Add(full("site-a", "power_kw", 1, 1, 40100.25, 2005.0125))
	st.Add(full("site-a", "power_kw", 1, 2, 40100.25, 2005.0125))
	partial := full("site-a", "power_kw", 2, 0, 41234.5, 2061.725)
	partial.Stats.Sum = aggregate.Stat{Value: 41234.5, Lower: 40100, Upper: 44100, Reported: 39000}
	partial.Coverage = aggregate.Coverage{Expected: 20, Reported: 19, Partial: 1, Ratio: 0.95, Missing: []aggregate.Missing{
		{Device: "site-a/wt-07", State: "silent", AgeS: ptr(42.3)},
	}}
	partial.Quality = aggregate.QualityUncertain
	partial.Flags = []string{"replaying:site-a/wt-12"}
	st.Add(partial)
	dark := full("site-b", "wind_ms", 2, 0, 0, 0)
	dark.Stats.Mean = aggregate.Stat{Value: aggregate.Num(nan()), Lower: 0, Upper: aggregate.Num(inf()), Reported: aggregate.Num(nan())}
	dark.Coverage = aggregate.Coverage{Expected: 3, Reported: 0, Missing: []aggregate.Missing{
		{Device: "wt-21", State: "offline", AgeS: ptr(700.0)},
		{Device: "wt-22", State: "silent", AgeS: ptr(9.25)},
		{Device: "wt-23", State: "never_seen"},
		{Device: "wt-24", State: "late", AgeS: ptr(0.5)},
	}}
	dark.Stats.Count.Value = 0
	dark.Quality = aggregate.QualityBad
	st.Add(dark)

	seen := cliT0.Add(25 * time.Second)
	eng := fixtureEngine{
		devices: []aggregate.DeviceInfo{
			{
				ID: "site-a/wt-01", Group: "site-a", Site: "site-a", Name: "wt-01", Listed: true, State: "live", LastSeen: &seen, LastEvent: &seen, AgeS: ptr(0.85), IntervalS: 1.002, Phi: 0.04,
				Counts: aggregate.DeviceCounts{Accepted: 1200, Rejected: map[string]uint64{}}, Metrics: map[string]float64{"power_kw": 2061.7},
			},
			{
				ID: "site-a/wt-07", Group: "site-a", Site: "site-a", Name: "wt-07", Listed: true, State: "silent", LastSeen: &seen, AgeS: ptr(42.3), IntervalS: 1, Phi: 1823.4,
				Counts: aggregate.DeviceCounts{Accepted: 3, Rejected: map[string]uint64{"bad_json": 2, "too_late": 1}}, Metrics: map[string]float64{},
			},
			{
				ID: "site-a/wt-12", Group: "site-a", Site: "site-a", Name: "wt-12", Listed: true, State: "live", Replaying: true, ReplayingSince: &seen, AgeS: ptr(1.5), IntervalS: 0.9995, Phi: 0.3,
				Counts: aggregate.DeviceCounts{Accepted: 1180, Duplicates: 2, Replays: 12, Rejected: map[string]uint64{}}, Metrics: map[string]float64{},
			},
			{
				ID: "site-b/wt-23", Group: "site-b", Site: "site-b", Name: "wt-23", Listed: true, State: "never_seen", IntervalS: 1,
				Counts: aggregate.DeviceCounts{Rejected: map[string]uint64{}}, Metrics: map[string]float64{},
			},
		},
		groups: []aggregate.GroupInfo{
			{Name: "site-a", Expected: 20, States: map[string]int{"live": 19, "silent": 1}, Metrics: []string{"power_kw"}},
			{Name: "site-b", Expected: 3, States: map[string]int{"never_seen": 1}, Metrics: []string{"wind_ms"}},
		},
	}
	reg := prometheus.NewRegistry()
	stats := map[string]string{"power_kw": "sum", "wind_ms": "mean"}
	s, err := api.New(api.Config{Now: func() time.Time { return cliT0.Add(33 * time.Second) }},
		api.Deps{Store: st, Engine: eng, Gatherer: reg, MetricStat: func(m string) string { return stats[m] }}, nil, reg)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func ptr[T any](v T) *T { return &v }

func nan() float64  { return zero() / zero() }
func inf() float64  { return 1 / zero() }
func zero() float64 { return 0 }

// TestCLIGolden pins the tables, alignment included, on fixed data.
func TestCLIGolden(t *testing.T) {
	url := fixtureAPI(t)
	from := cliT0.Format(time.RFC3339)
	tests := []struct {
		name string
		args []string
	}{
		{"latest", []string{"query"}},
		{"latest_group", []string{"query", "--group", "site-a"}},
		{"history", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", from}},
		{"history_all_revisions", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", from, "--revisions", "all"}},
		{"history_mean", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", from, "--stat", "mean"}},
		{"history_limit", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", from, "--limit", "1"}},
		{"history_unix_range", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", fmt.Sprint(cliT0.Unix()), "--to", fmt.Sprint(cliT0.Unix() + 20)}},
		{"history_count", []string{"query", "--group", "site-b", "--metric", "wind_ms", "--from", from, "--stat", "count"}},
		{"devices", []string{"devices"}},
		{"devices_replaying", []string{"devices", "--state", "replaying"}},
		{"device", []string{"devices", "site-a/wt-07"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(append(tt.args, "--url", url)...)
			require.Equal(t, 0, code, errOut)
			require.Empty(t, errOut)
			golden(t, tt.name, out)
		})
	}
}

func TestCLIJSON(t *testing.T) {
	url := fixtureAPI(t)
	code, out, _ := cli("query", "--url", url, "--group", "site-a", "--metric", "power_kw", "--from", cliT0.Format(time.RFC3339), "--json")
	require.Equal(t, 0, code)
	require.Contains(t, out, `"aggregates": [`)
	require.Contains(t, out, `"revision": 2`)
	require.Contains(t, out, `"upper": 44100`)
	code, out, _ = cli("devices", "--url", url, "--json", "site-a/wt-07")
	require.Equal(t, 0, code)
	require.Contains(t, out, `"id": "site-a/wt-07"`)
	require.Contains(t, out, `"bad_json": 2`)
}

func TestCLIErrors(t *testing.T) {
	url := fixtureAPI(t)
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown group", []string{"query", "--group", "site-x", "--metric", "power_kw"}, 1, "422 unknown_group"},
		{"unknown device", []string{"devices", "site-a/wt-99"}, 1, "404 unknown_device"},
		{"device without its site", []string{"devices", "wt-07"}, 1, "name it site/device"},
		{"bad state", []string{"devices", "--state", "asleep"}, 1, "400 bad_parameter"},
		{"range without series", []string{"query", "--last", "5m"}, 2, "need --group and --metric"},
		{"last and from", []string{"query", "--group", "a", "--metric", "b", "--last", "5m", "--from", "1"}, 2, "exclude each other"},
		{"bad time", []string{"query", "--group", "a", "--metric", "b", "--from", "yesterday"}, 2, "--from"},
		{"bad stat", []string{"query", "--stat", "median"}, 2, "--stat"},
		{"bad revisions", []string{"query", "--group", "a", "--metric", "b", "--revisions", "some"}, 2, "--revisions"},
		{"stray argument", []string{"query", "x"}, 2, "unexpected arguments"},
		{"two devices", []string{"devices", "a", "b"}, 2, "one device"},
		{"unknown flag", []string{"query", "--nope"}, 2, "flag provided but not defined"},
		{"bad url", []string{"query", "--url", "localhost:8080"}, 2, "not an http"},
		{"help", []string{"query", "--help"}, 0, "Usage: rollcall query"},
		{"devices help", []string{"devices", "-h"}, 0, "Usage: rollcall devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slicesContain(args, "--url") {
				args = append(args, "--url", url)
			}
			code, _, errOut := cli(args...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.want)
		})
	}
	t.Run("nothing listens", func(t *testing.T) {
		code, _, errOut := cli("devices", "--url", "http://127.0.0.1:1", "--timeout", "2s")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "rollcall devices:")
	})
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// cliFleet: a1 and a2 report, a3 is listed and never does.
const cliFleet = `
defaults:
  interval: 100ms
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: last}
groups:
  site-a: {devices: [a1, a2, a3]}
learn: {enabled: false}
`

// cliTable re-renders a table read from the CLI's output with the cells of
// the named columns replaced by mask(cell), so that golden files keep the
// alignment without the times and ages of a live run. Lines that are not
// table rows (no two-space gap) pass unchanged.
func cliTable(out string, mask map[string]func(string) string) string {
	var b strings.Builder
	var head []string
	var rows [][]string
	flush := func() {
		if head == nil {
			return
		}
		right := make([]bool, len(head))
		for i, h := range head {
			for _, r := range rows {
				// Numbers are right-aligned in the CLI's tables.
				if regexp.MustCompile(`^-?[0-9.]+(/[0-9]+)?$`).MatchString(r[i]) && h != "REV" {
					right[i] = true
				}
			}
		}
		writeTable(&b, head, right, rows)
		head, rows = nil, nil
	}
	gap := regexp.MustCompile(`\s{2,}`)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		cells := gap.Split(line, -1)
		if len(cells) < 2 {
			flush()
			b.WriteString(line + "\n")
			continue
		}
		if head == nil {
			head = cells
			continue
		}
		for len(cells) < len(head) {
			cells = append(cells, "")
		}
		for i, h := range head {
			if f := mask[h]; f != nil {
				cells[i] = f(cells[i])
			}
		}
		rows = append(rows, cells)
	}
	flush()
	return b.String()
}

var (
	windowRE   = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d–\d\d:\d\d:\d\d`)
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|m|h)\b`)
)

func maskWindow(s string) string {
	return windowRE.ReplaceAllString(s, "YYYY-MM-DD hh:mm:ss–hh:mm:ss")
}
func maskDuration(s string) string { return durationRE.ReplaceAllString(s, "<d>") }
func maskAll(string) string        { return "<masked>" }

// TestIntegrationCLI runs `rollcall query` and `rollcall devices` against a
// running gateway fed with exact readings: a1 reports 100, a2 250, ten
// times a second for 4 s; a3 never. Times, ages, phi and the learned
// interval are masked; everything else is what the gateway computed.
func TestIntegrationCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	gw := apitest.Start(t, apitest.Options{
		Fleet: []byte(cliFleet), Window: time.Second, Lateness: time.Second,
		// The watermark trails the newest reading by 500 ms, so that every
		// window is complete when first emitted: revision 0 provisional,
		// revision 1 final, nothing late in between.
		Skew: 500 * time.Millisecond, IdleTimeout: time.Second,
	})
	const readings = 40
	base := apitest.PublishExact(t, gw.MQTTURL, readings)
	from, to := base.Add(time.Second), base.Add(3*time.Second)

	// Wait until both windows are final and the devices silent.
	require.Eventually(t, func() bool {
		code, out, _ := cli("query", "--url", gw.URL, "--group", "site-a", "--metric", "power_kw",
			"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
		return code == 0 && strings.Count(out, "1 final") == 2
	}, 30*time.Second, 100*time.Millisecond, "both windows final")
	require.Eventually(t, func() bool {
		code, out, _ := cli("devices", "--url", gw.URL, "--state", "silent")
		return code == 0 && strings.Contains(out, "a1") && strings.Contains(out, "a2") && strings.Count(out, fmt.Sprintf("  %d  ", readings)) == 2
	}, 30*time.Second, 100*time.Millisecond, "a1 and a2 silent with every reading accepted")

	queryMask := map[string]func(string) string{"WINDOW (UTC)": maskWindow, "NOTES": maskDuration}
	for _, tt := range []struct {
		name string
		args []string
		mask map[string]func(string) string
	}{
		{"gateway_history", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}, queryMask},
		{"gateway_revisions", []string{"query", "--group", "site-a", "--metric", "power_kw", "--from", fmt.Sprint(from.Unix()), "--to", fmt.Sprint(to.Unix()), "--revisions", "all"}, queryMask},
		{"gateway_devices", []string{"devices"}, map[string]func(string) string{"LAST SEEN": maskDuration, "INTERVAL": maskAll, "PHI": maskAll}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(append(tt.args, "--url", gw.URL)...)
			require.Equal(t, 0, code, errOut)
			golden(t, tt.name, cliTable(out, tt.mask))
		})
	}

	t.Run("--last", func(t *testing.T) {
		code, out, errOut := cli("query", "--url", gw.URL, "--group", "site-a", "--metric", "power_kw", "--last", "1h")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "2/3  uncertain  1 final  missing site-a/a3 (never_seen)")
	})
}
