package render

import (
	"bytes"
	"html"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/dashboards"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// snapshotDir holds the snapshots TestIntegrationDashboards -update wrote.
var snapshotDir = filepath.Join("..", dashboards.SnapshotDir)

// snapshots reads the committed snapshots.
func snapshots(t *testing.T) []*dashboards.Snapshot {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(snapshotDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(dashboards.All()), "a snapshot per dashboard in %s", snapshotDir)
	var out []*dashboards.Snapshot
	for _, f := range files {
		s, err := dashboards.ReadSnapshot(f)
		require.NoError(t, err)
		out = append(out, s)
	}
	return out
}

// Every panel of every committed snapshot is drawn in its place, with
// what its type draws.
func TestPageSnapshots(t *testing.T) {
	for _, s := range snapshots(t) {
		t.Run(s.UID, func(t *testing.T) {
			page, height := Page(s)
			bottom := 0
			for _, pd := range s.Panels {
				bottom = max(bottom, pd.GridPos.Y+pd.GridPos.H)
			}
			require.Equal(t, headerH+bottom*gridUnit+pagePad, height)
			require.Contains(t, page, "<h1>"+html.EscapeString(s.Title)+"</h1>")
			panels := strings.Split(page, `<div class="panel"`)[1:]
			var drawn []dashboards.PanelData
			for _, pd := range s.Panels {
				if pd.Panel.Type == "row" {
					require.Contains(t, page, `">`+html.EscapeString(pd.Title)+`</div>`, "row %q", pd.Title)
					continue
				}
				drawn = append(drawn, pd)
			}
			require.Len(t, panels, len(drawn))
			for i, pd := range drawn {
				p := panels[i]
				require.Contains(t, p, "<h2>"+html.EscapeString(pd.Title)+"</h2>")
				want := map[string]string{"timeseries": "<polyline|<polygon|<rect", "stat": `class="stat"`, "table": "<td", "state-timeline": "<rect"}[pd.Panel.Type]
				require.Regexp(t, want, p, "%s %q draws its data", pd.Panel.Type, pd.Title)
				require.NotContains(t, p, "NaN", "%q", pd.Title)
			}
		})
	}
}

// snapshotOf is a snapshot of panels over one minute.
func snapshotOf(start time.Time, panels ...dashboards.PanelData) *dashboards.Snapshot {
	return &dashboards.Snapshot{
		UID: "rollcall-test", Title: "Test <board>", From: start, To: start.Add(time.Minute), Taken: start.Add(time.Minute),
		Variables: []dashboards.Selection{
			{Name: "group", Label: "Group", Values: []string{"a", "b"}, All: true},
			{Name: "metric", Label: "Metric", Values: []string{"power_kw"}},
		},
		Panels: panels,
	}
}

// seriesOf is a series of values, one every 10 s from start.
func seriesOf(name string, start time.Time, values ...any) dashboards.Series {
	s := dashboards.Series{Name: name, Values: values}
	for i := range values {
		s.Times = append(s.Times, start.Add(time.Duration(i)*10*time.Second))
	}
	return s
}

func fieldConfig(d dashboards.FieldDefaults, overrides ...dashboards.Override) *dashboards.FieldConfig {
	if d.Thresholds.Steps == nil {
		d.Thresholds = dashboards.Thresholds{Mode: "absolute", Steps: []dashboards.Step{{Color: "green"}}}
	}
	return &dashboards.FieldConfig{Defaults: d, Overrides: overrides}
}

func byName(name string, props ...dashboards.Property) dashboards.Override {
	return dashboards.Override{Matcher: dashboards.Matcher{ID: "byName", Options: name}, Properties: props}
}

func TestPageTimeseries(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ten := 10.0
	band := dashboards.PanelData{
		Title: "band", GridPos: dashboards.GridPos{W: 12, H: 8},
		Panel: &dashboards.Panel{Type: "timeseries", FieldConfig: fieldConfig(dashboards.FieldDefaults{
			Unit: "short",
			Thresholds: dashboards.Thresholds{Steps: []dashboards.Step{
				{Color: "green"}, {Color: "red", Value: &ten},
			}},
			Custom: map[string]any{"thresholdsStyle": map[string]any{"mode": "dashed"}},
		},
			byName("upper", dashboards.Property{ID: "custom.fillBelowTo", Value: "lower"},
				dashboards.Property{ID: "color", Value: map[string]any{"fixedColor": "purple"}}),
			byName("lower", dashboards.Property{ID: "custom.lineWidth", Value: 0}),
		)},
		Results: []dashboards.Result{{Series: []dashboards.Series{
			seriesOf("upper", start, 8.0, 9.0, math.NaN(), 9.5),
			seriesOf("lower", start, 4.0, 5.0, 5.0, 5.5),
			seriesOf("alone", start, nil, 3.0, nil),
		}}},
	}
	s := snapshotOf(start, band)
	s.Annotations = []dashboards.Result{{Table: &dashboards.Table{Columns: []string{"Time"}, Rows: []dashboards.Values{{start.Add(20 * time.Second)}}}}}
	page, _ := Page(s)
	require.Contains(t, page, `<h1>Test &lt;board&gt;</h1>`)
	require.Contains(t, page, `<span><b>Group</b>All</span><span><b>Metric</b>power_kw</span>`)
	require.Contains(t, page, `stroke="#F2495C" stroke-dasharray="8 5"`, "the red threshold, dashed")
	require.Regexp(t, `<polygon points="[^"]+" fill="#B877D9" fill-opacity="0.10"/>`, page, "the band in upper's color")
	require.Equal(t, 1, strings.Count(page, `<polyline`), "upper's first run; lower has no line")
	require.Equal(t, 2, strings.Count(page, `<circle`), "a lone value is a dot: upper's after its NaN, and alone")
	require.Contains(t, page, `fill="#FF9830"/>`, "the annotation's marker")
	require.NotContains(t, page, "NaN")
	require.Contains(t, page, `<i style="background:#B877D9"></i>upper</span>`, "the legend below")
}

func TestPageBarsAndLegend(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	bars := func(title string, stacked bool) dashboards.PanelData {
		custom := map[string]any{"drawStyle": "bars"}
		if stacked {
			custom["stacking"] = map[string]any{"mode": "normal"}
		}
		return dashboards.PanelData{
			Title: title, GridPos: dashboards.GridPos{W: 24, H: 8},
			Panel: &dashboards.Panel{
				Type:        "timeseries",
				FieldConfig: fieldConfig(dashboards.FieldDefaults{Unit: "s", Custom: custom}),
				Options: map[string]any{"legend": map[string]any{
					"placement": "right", "calcs": []any{"max", "lastNotNull"},
				}},
			},
			Results: []dashboards.Result{{Series: []dashboards.Series{
				seriesOf("small", start, 0.5, 1.0),
				seriesOf("big", start, 2.0, 90.0),
			}}},
		}
	}
	for _, stacked := range []bool{false, true} {
		page, _ := Page(snapshotOf(start, bars("bars", stacked)))
		widths := map[string]bool{}
		for _, m := range regexp.MustCompile(`<rect x="[^"]+" y="[^"]+" width="([^"]+)"`).FindAllStringSubmatch(page, -1) {
			widths[m[1]] = true
		}
		require.Equal(t, 4, strings.Count(page, "<rect"), "stacked %v", stacked)
		require.Len(t, widths, 1, "one bar width")
		require.Contains(t, page, `<th>Max</th><th>Last *</th>`)
		require.Regexp(t, `big</td><td>1.50 min</td><td>1.50 min</td></tr>.*small</td><td>1 s</td><td>1 s</td>`, page, "sorted by max, in the unit")
	}
	side, _ := Page(snapshotOf(start, bars("bars", false)))
	stacked, _ := Page(snapshotOf(start, bars("bars", true)))
	require.NotEqual(t, side, stacked, "side by side bars are narrower")
}

func TestPageStatTableTimeline(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	states := dashboards.Mapping{Type: "value", Options: map[string]any{
		"live":   map[string]any{"text": "up", "color": "green"},
		"silent": map[string]any{"text": "quiet", "color": "orange"},
	}}
	half := 0.5
	stat := dashboards.PanelData{
		Title: "stat", GridPos: dashboards.GridPos{W: 6, H: 4},
		Panel: &dashboards.Panel{Type: "stat", FieldConfig: fieldConfig(dashboards.FieldDefaults{
			Unit: "percentunit", Mappings: []dashboards.Mapping{states},
			Thresholds: dashboards.Thresholds{Steps: []dashboards.Step{{Color: "red"}, {Color: "green", Value: &half}}},
		})},
		Results: []dashboards.Result{{Series: []dashboards.Series{
			seriesOf("coverage", start, 0.1, 0.8, nil),
			seriesOf("state", start, "live"),
		}}},
	}
	rows := []dashboards.Values{}
	for i := range 20 {
		rows = append(rows, dashboards.Values{start.Add(time.Duration(i) * time.Second), "dev-" + string(rune('a'+i)), "live", float64(i)})
	}
	rows[19][2] = "silent"
	table := dashboards.PanelData{
		Title: "table", GridPos: dashboards.GridPos{W: 12, H: 6, Y: 4},
		Panel: &dashboards.Panel{
			Type: "table",
			FieldConfig: fieldConfig(dashboards.FieldDefaults{},
				byName("state", dashboards.Property{ID: "mappings", Value: []any{map[string]any{"type": "value", "options": states.Options}}},
					dashboards.Property{ID: "custom.cellOptions", Value: map[string]any{"type": "color-background"}})),
			Options: map[string]any{"sortBy": []any{map[string]any{"displayName": "n", "desc": true}}},
			Transformations: []dashboards.Transformation{{ID: "organize", Options: map[string]any{
				"excludeByName": map[string]any{"Time": true}, "renameByName": map[string]any{"count": "n"},
			}}},
		},
		Results: []dashboards.Result{{Table: &dashboards.Table{Columns: []string{"Time", "device", "state", "count"}, Rows: rows}}},
	}
	timeline := dashboards.PanelData{
		Title: "timeline", GridPos: dashboards.GridPos{W: 12, H: 6, Y: 10},
		Panel:   &dashboards.Panel{Type: "state-timeline", FieldConfig: fieldConfig(dashboards.FieldDefaults{Mappings: []dashboards.Mapping{states}})},
		Results: []dashboards.Result{{Series: []dashboards.Series{seriesOf("dev-d", start, "live", "silent", nil, "unknown")}}},
	}
	row := dashboards.PanelData{Title: "a row", Panel: &dashboards.Panel{Type: "row"}, GridPos: dashboards.GridPos{W: 24, H: 1, Y: 16}}
	page, height := Page(snapshotOf(start, stat, table, timeline, row))
	require.Equal(t, headerH+17*gridUnit+pagePad, height)

	require.Contains(t, page, `<div class="stat" style="background:#73BF69"><div class="v">80%</div><div class="n">coverage</div>`, "the last value, green above 0.5")
	require.Contains(t, page, `<div class="stat" style="background:#73BF69"><div class="v">up</div>`, "mapped")

	require.Contains(t, page, `<tr><th>device</th><th>state</th><th>n</th></tr><tr><td>dev-t</td><td style="background:#FF9830;color:#111">quiet</td><td>19</td></tr><tr><td>dev-s</td>`, "organized, sorted by n descending")
	require.Contains(t, page, `more rows</div>`, "20 rows do not fit in 6 units")

	require.Contains(t, page, `<span><i style="background:#73BF69;height:8px"></i>up</span> <span><i style="background:#FF9830;height:8px"></i>quiet</span> <span><i style="background:#73BF69;height:8px"></i>unknown</span>`,
		"the timeline's legend: mapped values, then an unmapped one in the series' color")
	require.Contains(t, page, `<div class="row" style="left:12px;top:`)
	require.Contains(t, page, `>a row</div>`)
}

func TestFormat(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := formatter{now: now}
	two := 2
	for _, c := range []struct {
		v        any
		unit     string
		decimals *int
		want     string
	}{
		{nil, "short", nil, "–"},
		{"text", "short", nil, "text"},
		{true, "short", nil, "true"},
		{0.8, "percentunit", nil, "80%"},
		{0.8, "percentunit", &two, "80.00%"},
		{0.0123, "s", nil, "12.3 ms"},
		{0.0, "s", nil, "0 s"},
		{90.0, "s", nil, "1.50 min"},
		{7200.0, "s", nil, "2 hour"},
		{2048.0, "bytes", nil, "2 KiB"},
		{1500.0, "suffix:kW", nil, "1.50 K kW"},
		{1234567.0, "short", nil, "1.23 Mil"},
		{3.14159, "none", nil, "3.14"},
		{3.14159, "none", &two, "3.14"},
		{float64(now.Add(-5 * time.Second).UnixMilli()), "dateTimeFromNow", nil, "5s ago"},
	} {
		require.Equal(t, c.want, f.value(c.v, c.unit, c.decimals), "%v in %s", c.v, c.unit)
	}
	require.Equal(t, []float64{0, 2.5, 5, 7.5, 10}, ticks(0, 10))
	lo, hi := niceRange(0.3, 9.7)
	require.Equal(t, []float64{0, 10}, []float64{lo, hi})
	require.Equal(t, "0.5", f.axisLabel(0.5, "short", 0, 2))
	require.Equal(t, "2 K", f.axisLabel(2000, "short", 0, 5000))
	require.Len(t, timeTicks(now, now.Add(time.Minute)), 5, "every 10 s, inside the range")
}

// fakeChromium writes a script standing in for Chromium.
func fakeChromium(t *testing.T, script string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chromium")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return bin
}

func TestScreenshotFailures(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	out := filepath.Join(dir, "page.png")
	err := Screenshot(t.Context(), fakeChromium(t, "echo crashed >&2; exit 3"), page, out, dir, 100)
	require.ErrorContains(t, err, "render: chromium: exit status 3: crashed")
	err = Screenshot(t.Context(), fakeChromium(t, "echo fine"), page, out, dir, 100)
	require.ErrorContains(t, err, "render: chromium wrote no screenshot: fine")
	require.NoError(t, Screenshot(t.Context(), fakeChromium(t, `touch "`+out+`"`), page, out, dir, 100))
}

func TestRun(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, Run(t.Context(), Config{Snapshots: snapshotDir, Out: out, HTML: true}, nil))
	for _, d := range dashboards.All() {
		b, err := os.ReadFile(filepath.Join(out, "dashboard-"+strings.TrimPrefix(d.UID, "rollcall-")+".html"))
		require.NoError(t, err)
		require.Contains(t, string(b), "<h1>"+html.EscapeString(d.Title)+"</h1>")
	}

	// Failures: no snapshot, no Chromium, a bad snapshot, a failing
	// Chromium.
	empty := t.TempDir()
	require.ErrorIs(t, Run(t.Context(), Config{Snapshots: empty, Out: out, HTML: true}, nil), ErrNoSnapshots)
	err := Run(t.Context(), Config{Snapshots: snapshotDir, Out: out, Chromium: filepath.Join(empty, "none")}, nil)
	require.ErrorContains(t, err, "render: chromium:")
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "x.json"), []byte("{"), 0o644))
	require.ErrorContains(t, Run(t.Context(), Config{Snapshots: bad, Out: out, HTML: true}, nil), "dashboards: snapshot")
	err = Run(t.Context(), Config{Snapshots: snapshotDir, Out: out, Chromium: fakeChromium(t, "exit 1")}, nil)
	require.ErrorContains(t, err, "render: rollcall-devices: chromium: exit status 1")
	err = Run(t.Context(), Config{Snapshots: snapshotDir, Out: filepath.Join(empty, "missing"), HTML: true}, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// Headless Chromium shoots a page at the page's size.
func TestIntegrationScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs headless Chromium; run without -short (make test)")
	}
	bin := testserver.RequireBinary(t, "chromium")
	in, out := t.TempDir(), t.TempDir()
	s, err := dashboards.ReadSnapshot(filepath.Join(snapshotDir, dashboards.FleetUID+".json"))
	require.NoError(t, err)
	require.NoError(t, dashboards.WriteSnapshot(in, s))
	require.NoError(t, Run(t.Context(), Config{Snapshots: in, Out: out, Chromium: bin}, nil))
	b, err := os.ReadFile(filepath.Join(out, "dashboard-fleet.png"))
	require.NoError(t, err)
	img, err := png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	_, height := Page(s)
	require.Equal(t, pageWidth, img.Width)
	require.Equal(t, height, img.Height)
}
