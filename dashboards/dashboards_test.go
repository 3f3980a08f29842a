package dashboards

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/sim"
)

var update = flag.Bool("update", false, "rewrite the dashboard JSON in grafana/dashboards and the snapshots in "+SnapshotDir)

// dashboardsDir holds the committed JSON files.
var dashboardsDir = filepath.Join(Dir, "dashboards")

// The committed JSON is what the Go definitions generate (go generate
// ./dashboards, or -update).
func TestDashboardsGenerated(t *testing.T) {
	if *update {
		require.NoError(t, Write(dashboardsDir))
	}
	var want []string
	for _, d := range All() {
		name := FileName(d)
		want = append(want, name)
		b, err := d.JSON()
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dashboardsDir, name))
		require.NoError(t, err, "run `go generate ./dashboards`")
		require.Equal(t, string(b), string(got), "%s is stale: run `go generate ./dashboards`", name)
	}
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	slices.Sort(want)
	require.Equal(t, want, files, "no stale dashboard files")
}

// provisioned reads the datasource provisioning file: uid → datasource,
// with the minimum interval it configures.
func provisioned(t testing.TB) map[string]datasource {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir, "provisioning", "datasources", "rollcall.yaml"))
	require.NoError(t, err)
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name     string         `yaml:"name"`
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			Access   string         `yaml:"access"`
			URL      string         `yaml:"url"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.Equal(t, 1, f.APIVersion)
	out := map[string]datasource{}
	for _, d := range f.Datasources {
		require.NotEmpty(t, d.UID)
		require.Equal(t, "proxy", d.Access, "%s: the InfluxDB datasource refuses browser access", d.UID)
		require.NotEmpty(t, d.URL)
		iv, ok := d.JSONData["timeInterval"].(string)
		require.True(t, ok, "%s: jsonData.timeInterval", d.UID)
		ds := datasource{typ: d.Type}
		var err error
		ds.timeInterval, err = parseGrafanaDuration(iv)
		require.NoError(t, err)
		out[d.UID] = ds
		if d.Type == InfluxType {
			require.Equal(t, "InfluxQL", d.JSONData["version"], "the dashboards query with InfluxQL")
			require.NotEmpty(t, d.JSONData["dbName"])
		}
	}
	require.Equal(t, map[string]string{InfluxUID: InfluxType, PrometheusUID: PrometheusType},
		map[string]string{InfluxUID: out[InfluxUID].typ, PrometheusUID: out[PrometheusUID].typ})
	return out
}

// loadDashboards reads every committed dashboard, typed and as generic
// JSON.
func loadDashboards(t testing.TB) ([]*Dashboard, []map[string]any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 3)
	var ds []*Dashboard
	var raw []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d Dashboard
		require.NoError(t, json.Unmarshal(b, &d), f)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), f)
		ds, raw = append(ds, &d), append(raw, m)
	}
	return ds, raw
}

// units are the Grafana unit ids the dashboards may use (Grafana's unit
// registry, packages/grafana-data/src/valueFormats/categories.ts), besides
// custom "suffix:..." units.
var units = map[string]bool{
	"none": true, "short": true, "percentunit": true, "percent": true, "s": true, "ms": true,
	"bytes": true, "decbytes": true, "dateTimeFromNow": true, "dateTimeAsIso": true,
}

var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true, "state-timeline": true}

func validUnit(u string) bool {
	return units[u] || (strings.HasPrefix(u, "suffix:") && len(u) > len("suffix:"))
}

// Every dashboard's structure: what Grafana needs to import it and to run
// its queries against the provisioned datasources.
func TestDashboardsStructure(t *testing.T) {
	dss := provisioned(t)
	dashboards, raw := loadDashboards(t)
	uids, titles := map[string]bool{}, map[string]bool{}
	for i, d := range dashboards {
		t.Run(d.UID, func(t *testing.T) {
			require.GreaterOrEqual(t, d.SchemaVersion, 39)
			require.NotEmpty(t, d.UID)
			require.LessOrEqual(t, len(d.UID), 40, "Grafana limits uids to 40 characters")
			require.False(t, uids[d.UID], "unique uid")
			require.False(t, titles[d.Title], "unique title")
			uids[d.UID], titles[d.Title] = true, true
			require.Nil(t, d.ID, "id null: Grafana assigns it")
			require.NotEmpty(t, d.Description)

			checkDatasources(t, raw[i], dss, "")
			checkVariables(t, d)
			checkPanels(t, d)
		})
	}
}

// checkDatasources walks the JSON and checks every datasource reference:
// an object {type, uid} naming a provisioned datasource of that type (or
// Grafana's built-in one for its annotations, or the mixed one).
func checkDatasources(t *testing.T, v any, dss map[string]datasource, path string) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if k == "datasource" {
				ref, ok := sub.(map[string]any)
				require.True(t, ok, "%s.datasource is a {type, uid} reference, not a name: %v", path, sub)
				uid, typ := ref["uid"].(string), ref["type"].(string)
				switch uid {
				case "-- Grafana --":
					require.Equal(t, "grafana", typ)
					require.Equal(t, float64(1), v["builtIn"], "%s: only the built-in annotation uses Grafana's datasource", path)
				case "-- Mixed --":
					require.Equal(t, "datasource", typ)
				default:
					ds, ok := dss[uid]
					require.True(t, ok, "%s: datasource uid %q is not provisioned", path, uid)
					require.Equal(t, ds.typ, typ, "%s: datasource %q has type %q", path, uid, ds.typ)
				}
				continue
			}
			checkDatasources(t, sub, dss, path+"."+k)
		}
	case []any:
		for i, sub := range v {
			checkDatasources(t, sub, dss, path+"["+strconv.Itoa(i)+"]")
		}
	}
}

// checkVariables: unique names, queries that reference only earlier
// variables, every reference in the dashboard defined, every variable
// used.
func checkVariables(t *testing.T, d *Dashboard) {
	defined := map[string]*Variable{}
	for i := range d.Templating.List {
		v := &d.Templating.List[i]
		require.NotContains(t, defined, v.Name, "unique variable name")
		require.Contains(t, []string{"query", "custom"}, v.Type)
		for _, ref := range references(v.Query) {
			require.True(t, builtins[ref] || defined[ref] != nil, "variable %s refers to %q, not defined before it", v.Name, ref)
		}
		if v.Type == "query" {
			require.NotNil(t, v.Datasource, "variable %s: datasource", v.Name)
			require.NotEmpty(t, v.Query)
		}
		if v.Multi || v.IncludeAll {
			require.Equal(t, []any{"All"}, v.Current.Text, "variable %s defaults to All", v.Name)
			require.Equal(t, []any{AllValue}, v.Current.Value)
		} else {
			require.NotEmpty(t, v.Current.Value, "variable %s has a default", v.Name)
		}
		defined[v.Name] = v
	}
	used := map[string]bool{}
	use := func(where, text string, aliasOK bool) {
		for _, ref := range references(text) {
			switch {
			case defined[ref] != nil:
				used[ref] = true
			case builtins[ref]:
			case aliasOK && (ref == "col" || ref == "m" || ref == "measurement" || strings.HasPrefix(ref, "tag_")):
			default:
				t.Errorf("%s: $%s is not a variable of the dashboard", where, ref)
			}
		}
	}
	for _, v := range d.Templating.List {
		use("variable "+v.Name, v.Query, false)
	}
	for _, a := range d.Annotations.List {
		use("annotation "+a.Name, a.Query, false)
		if a.Target != nil {
			use("annotation "+a.Name, a.Target.Query, false)
			require.Equal(t, a.Query, a.Target.Query)
		}
	}
	for _, p := range d.AllPanels() {
		where := "panel " + p.Title
		use(where, p.Title, false)
		use(where, p.Description, false)
		for _, tg := range p.Targets {
			use(where, tg.Query, false)
			use(where, tg.Expr, false)
			use(where, tg.Alias, true)
			use(where, tg.LegendFormat, false)
		}
		if p.Repeat != "" {
			v := defined[p.Repeat]
			require.NotNil(t, v, "%s repeats over an undefined variable", where)
			require.True(t, v.Multi || v.IncludeAll, "%s repeats over a single-valued variable", where)
			used[p.Repeat] = true
		}
	}
	for name := range defined {
		require.True(t, used[name], "variable %s is never used", name)
	}
	// In queries the variables appear only as whole regex matches,
	// "tag" =~ /^$var$/ (InfluxQL) and label=~"$var" (PromQL), where every
	// Grafana version formats single and multiple values alike (older ones
	// with the 'regex' format, newer with interpolateQueryExpr).
	type place struct{ before, after string }
	placed := func(where, q string, ok place) {
		for _, m := range variableRef.FindAllStringIndex(q, -1) {
			name := q[m[0]:m[1]]
			if defined[strings.Trim(name, "${}[]")] == nil {
				continue
			}
			require.True(t, strings.HasSuffix(q[:m[0]], ok.before) && strings.HasPrefix(q[m[1]:], ok.after),
				"%s: %s must be a whole regex match (%s%s%s): %s", where, name, ok.before, name, ok.after, q)
		}
	}
	influxPlace, promPlace := place{"=~ /^", "$/"}, place{`=~"`, `"`}
	for _, v := range d.Templating.List {
		placed("variable "+v.Name, v.Query, influxPlace)
	}
	for _, a := range d.Annotations.List {
		placed("annotation "+a.Name, a.Query, influxPlace)
	}
	for _, p := range d.AllPanels() {
		for _, tg := range p.Targets {
			placed("panel "+p.Title, tg.Query, influxPlace)
			placed("panel "+p.Title, tg.Expr, promPlace)
		}
	}
}

// checkPanels: ids, types, the grid, descriptions, queries, units.
func checkPanels(t *testing.T, d *Dashboard) {
	ids := map[int]bool{}
	var grid [][24]bool
	for _, p := range d.AllPanels() {
		where := "panel " + p.Title
		require.True(t, panelTypes[p.Type], "%s: type %q", where, p.Type)
		require.False(t, ids[p.ID], "%s: unique id", where)
		ids[p.ID] = true
		g := p.GridPos
		require.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.X+g.W <= 24 && g.Y >= 0, "%s: gridPos %+v", where, g)
		for len(grid) < g.Y+g.H {
			grid = append(grid, [24]bool{})
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				require.False(t, grid[y][x], "%s overlaps another panel at %d,%d", where, x, y)
				grid[y][x] = true
			}
		}
		if p.Type == "row" {
			require.Equal(t, 24, g.W)
			continue
		}
		require.NotEmpty(t, p.Title, "panel %d: title", p.ID)
		require.NotEmpty(t, p.Description, "%s: a description for the operator", where)
		require.NotEmpty(t, p.Targets, "%s: queries", where)
		require.NotNil(t, p.FieldConfig, "%s: fieldConfig", where)
		require.NotEmpty(t, p.Options, "%s: options", where)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			require.False(t, refs[tg.RefID], "%s: unique refId", where)
			refs[tg.RefID] = true
			require.NotNil(t, tg.Datasource, "%s %s: datasource", where, tg.RefID)
			switch tg.Datasource.Type {
			case InfluxType:
				require.True(t, tg.RawQuery, "%s %s: raw InfluxQL", where, tg.RefID)
				require.NotEmpty(t, tg.Query)
				require.Empty(t, tg.Expr)
				require.Contains(t, []string{"time_series", "table"}, tg.ResultFormat)
				require.Contains(t, tg.Query, "$timeFilter", "%s %s: limited to the dashboard's time range", where, tg.RefID)
				if p.Type == "table" {
					require.Equal(t, "table", tg.ResultFormat, "%s %s", where, tg.RefID)
				}
			case PrometheusType:
				require.NotEmpty(t, tg.Expr)
				require.Empty(t, tg.Query)
				require.NotEqual(t, tg.Range, tg.Instant, "%s %s: range or instant", where, tg.RefID)
				if p.Type == "stat" {
					require.True(t, tg.Instant, "%s %s: a stat shows the value now", where, tg.RefID)
				}
			default:
				t.Errorf("%s %s: datasource type %q", where, tg.RefID, tg.Datasource.Type)
			}
		}
		fc := p.FieldConfig
		if p.Type == "timeseries" || p.Type == "stat" {
			require.True(t, validUnit(fc.Defaults.Unit), "%s: unit %q", where, fc.Defaults.Unit)
		}
		require.NotEmpty(t, fc.Defaults.Thresholds.Steps)
		require.Nil(t, fc.Defaults.Thresholds.Steps[0].Value, "%s: the base threshold step has no value", where)
		for _, o := range fc.Overrides {
			require.Contains(t, []string{"byName", "byRegexp"}, o.Matcher.ID, where)
			for _, pr := range o.Properties {
				if pr.ID == "unit" {
					require.True(t, validUnit(pr.Value.(string)), "%s: override unit %v", where, pr.Value)
				}
			}
		}
	}
}

// The provider points at a directory and Grafana may read it.
func TestProvisioningProvider(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(Dir, "provisioning", "dashboards", "rollcall.yaml"))
	require.NoError(t, err)
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Folder  string `yaml:"folder"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.Equal(t, 1, f.APIVersion)
	require.Len(t, f.Providers, 1)
	require.Equal(t, "file", f.Providers[0].Type)
	require.True(t, filepath.IsAbs(f.Providers[0].Options.Path))
}

// The emulation of Grafana's expansion, on known cases.
func TestExpand(t *testing.T) {
	s := &scope{vars: map[string]*selection{
		"group":  {v: Variable{Name: "group", Multi: true, IncludeAll: true}, values: []string{"site-a", "site.b"}, all: true},
		"metric": {v: Variable{Name: "metric"}, values: []string{"power_kw"}},
		"one":    {v: Variable{Name: "one", Multi: true}, values: []string{"a/b"}},
		"inst":   {v: Variable{Name: "inst", Multi: true, IncludeAll: true}, values: []string{"127.0.0.1:80"}},
	}}
	require.Equal(t, `"group" =~ /^(site-a|site\.b)$/ AND "metric" =~ /^power_kw$/ AND x =~ /^a\/b$/`,
		s.expandVariables(`"group" =~ /^$group$/ AND "metric" =~ /^${metric}$/ AND x =~ /^[[one]]$/`, InfluxType))
	require.Equal(t, `{group=~"(site-a|site\\.b)", metric=~"power_kw", instance=~"127\\.0\\.0\\.1:80"}`,
		s.expandVariables(`{group=~"$group", metric=~"$metric", instance=~"$inst"}`, PrometheusType))
	require.Equal(t, "$timeFilter $__interval", s.expandVariables("$timeFilter $__interval", InfluxType), "builtins stay")

	require.Equal(t, 1000*1000*1000, int(roundInterval(1200*1000*1000)))
	require.Equal(t, "200ms", formatInterval(roundInterval(300*1000*1000)))
	require.Equal(t, "1m", formatInterval(roundInterval(80*1000*1000*1000)))
	require.Equal(t, "site-a estimate", influxAlias("$tag_group $col", "rollcall_aggregate", "estimate", map[string]string{"group": "site-a"}))
	require.Equal(t, "rollcall_aggregate.value {group: site-a}", influxAlias("", "rollcall_aggregate", "value", map[string]string{"group": "site-a"}))
	require.Equal(t, "sink store drop", legendName("sink {{sink}} {{ reason }}", map[string]string{"sink": "store", "reason": "drop"}))
	require.True(t, leftover.MatchString(`x $group`))
	require.False(t, leftover.MatchString(`"group" =~ /^(a|b)$/`))
}

// scenario is the fleet TestIntegrationDashboards simulates: two sites of
// ten turbines reporting twice a second, with a fault for everything the
// dashboards must show. Device ids: wt-01 … wt-10 in site-a, wt-11 … wt-20
// in site-b.
const scenario = `
name: dashboards
description: What the dashboards show, in 36 seconds.
duration: 36s
interval: 500ms
truth: {window: 1s}
sites:
  - {name: site-a, devices: 10}
  - {name: site-b, devices: 10}
faults:
  - {kind: silent, devices: [wt-03], from: 4s}             # site-a: 9 of 10, bounds
  - {kind: offline, devices: [wt-05], from: 15s}           # Last Will
  - {kind: partition, devices: [wt-14], from: 10s, to: 17s} # flushes late: revisions
  - {kind: replay, devices: [wt-18], from: 6s, every: 1s}  # flagged replaying
  - {kind: duplicate, devices: [wt-12], probability: 0.3}
  - {kind: clock_skew, devices: [wt-16], skew: -600ms}     # clock offset
  - {kind: malformed, devices: [wt-09], probability: 0.1}  # rejected bad_json
`

// TestIntegrationDashboards runs every panel and annotation query of every
// dashboard, expanded as Grafana expands them, against a real InfluxDB and
// a real Prometheus filled by a gateway (InfluxDB and Prometheus sinks on)
// that a simulated fleet feeds, and requires data from each. It writes
// each dashboard's results as a Snapshot into the test's artifact
// directory, and with -update into SnapshotDir, from which cmd/dashrender
// draws docs/img/dashboard-*.png.
func TestIntegrationDashboards(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	dss := provisioned(t)
	dashboards, _ := loadDashboards(t)

	influx := testserver.InfluxDB(t, testserver.WithFlux(false))
	sc, err := sim.ParseScenario([]byte(scenario))
	require.NoError(t, err)
	gw := startGateway(t, sc, influx)
	prom := testserver.Prometheus(t, gw.Addr)

	fleet, err := sim.New(sim.Config{BrokerURL: gw.MQTTURL, Scenario: sc}, nil)
	require.NoError(t, err)
	simStart := time.Now()
	require.NoError(t, fleet.Run(t.Context()), "the simulated fleet")
	// The dashboards' time range ends before the fleet stopped: after it,
	// the gateway rightly reports every site dark (0 of 10).
	end := time.Now().Add(-1500 * time.Millisecond)
	prom.WaitTarget(gw.Addr)

	// What the run must have left behind before the dashboards can show it.
	c := &client{influxURL: influx.URL, influxDB: influx.Database, promURL: prom.URL, hc: &http.Client{}}
	t.Cleanup(c.hc.CloseIdleConnections)
	require.Eventually(t, func() bool {
		states := map[string]string{}
		replaying := map[string]bool{}
		rows, err := influx.Query(`SELECT last("state") AS "state", last("replaying") AS "replaying" FROM "rollcall_device" WHERE time > now() - 5s GROUP BY "device"`)
		if err != nil {
			return false
		}
		for _, r := range rows {
			states[r["device"].(string)], _ = r["state"].(string)
			replaying[r["device"].(string)], _ = r["replaying"].(bool)
		}
		rev, err := influx.Query(`SELECT max("revision") FROM "rollcall_aggregate" WHERE "group" = 'site-b' AND time > now() - 1h`)
		return err == nil && len(rev) == 1 && rev[0]["max"].(float64) > 0 &&
			states["site-a/wt-03"] == "silent" && states["site-a/wt-05"] == "offline" && replaying["site-b/wt-18"]
	}, 30*time.Second, 250*time.Millisecond, "wt-03 silent, wt-05 offline, wt-18 replaying, site-b revised")
	// Two more scrapes, so the last readings are in Prometheus' rates.
	time.Sleep(2 * testserver.PrometheusScrapeInterval)

	// The provisioned datasources, with the minimum intervals of this
	// run: the window (1 s) for InfluxDB, the scrape interval for
	// Prometheus (the file says 10s and 15s, for the defaults).
	dss[InfluxUID] = datasource{typ: InfluxType, timeInterval: time.Second}
	dss[PrometheusUID] = datasource{typ: PrometheusType, timeInterval: testserver.PrometheusScrapeInterval}
	// From just after the fleet started: its first window is partial.
	base := scope{from: simStart.Add(2 * time.Second), to: end, ds: dss}

	runs := map[string]*dashboardRun{}
	for _, d := range dashboards {
		t.Run(d.UID, func(t *testing.T) {
			s := base
			s.vars = map[string]*selection{}
			require.NoError(t, c.resolveVariables(t.Context(), d, &s))
			dr, err := c.run(t.Context(), d, &s)
			require.NoError(t, err)
			checkRun(t, dr)
			runs[d.UID] = dr
			// Every query again with one value of each multi-valued
			// variable, which Grafana formats differently: they must run
			// (a filter may leave a panel empty: wt-01 is not replaying).
			one := s
			for name, sel := range s.vars {
				if sel.all {
					one = *one.with(name, sel.values[0])
				}
			}
			_, err = c.run(t.Context(), d, &one)
			require.NoError(t, err, "with one value per variable")

			snap := dr.snapshot()
			dir := t.ArtifactDir()
			require.NoError(t, WriteSnapshot(dir, snap))
			checkSnapshotRoundTrip(t, filepath.Join(dir, d.UID+".json"), snap)
			if *update {
				require.NoError(t, os.MkdirAll(SnapshotDir, 0o755))
				require.NoError(t, WriteSnapshot(SnapshotDir, snap))
			}
			t.Logf("%d panels, %d queries; snapshot in %s", len(dr.panels), queries(dr), dir)
		})
	}
	if !t.Failed() {
		checkWhatTheyShow(t, runs)
	}
}

// checkRun requires data from every query, and checks that what the
// panels refer to by name exists in it: override matchers, sort columns,
// and value mappings that cover every value of a mapped column.
func checkRun(t *testing.T, dr *dashboardRun) {
	t.Helper()
	for _, pr := range dr.panels {
		if pr.panel.Type == "row" {
			continue
		}
		for _, r := range pr.results {
			require.False(t, r.empty(), "no data: %s", pr.describe(r))
		}
		names := pr.fieldNames()
		for _, o := range pr.panel.FieldConfig.Overrides {
			require.True(t, slices.ContainsFunc(names, o.Matcher.Matches),
				"%q: override %s %v matches none of %q", pr.title, o.Matcher.ID, o.Matcher.Options, names)
		}
		if sb, ok := pr.panel.Options["sortBy"].([]any); ok {
			for _, e := range sb {
				col := e.(map[string]any)["displayName"]
				require.Contains(t, names, col, "%q: sortBy", pr.title)
			}
		}
		checkMappings(t, pr)
	}
	for _, a := range dr.annotations {
		require.False(t, a.empty(), "no annotations: %s", a.query)
	}
}

// checkMappings: every string value a panel maps (states, qualities) has a
// mapping, so no value shows up uncolored.
func checkMappings(t *testing.T, pr *panelRun) {
	check := func(name string, v any) {
		if _, ok := v.(string); !ok {
			return
		}
		o := pr.panel.FieldOptions(name)
		if len(o.Mappings) == 0 {
			return
		}
		_, ok := o.Map(v)
		require.True(t, ok, "%q: %s value %q has no mapping", pr.title, name, v)
	}
	for _, r := range pr.results {
		if r.Table != nil {
			t := pr.panel.OrganizeTable(r.Table)
			for _, row := range t.Rows {
				for i, v := range row {
					check(t.Columns[i], v)
				}
			}
			continue
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				check(s.Name, v)
			}
		}
	}
}

// checkWhatTheyShow: a few panels say what the scenario did.
func checkWhatTheyShow(t *testing.T, runs map[string]*dashboardRun) {
	panel := func(uid, title string) *panelRun {
		for _, pr := range runs[uid].panels {
			if pr.title == title {
				return pr
			}
		}
		t.Fatalf("%s has no panel %q", uid, title)
		return nil
	}
	last := func(pr *panelRun, name string) any {
		for _, r := range pr.results {
			for _, s := range r.Series {
				if s.Name == name {
					var v any
					for _, x := range s.Values {
						if x != nil {
							v = x
						}
					}
					return v
				}
			}
		}
		t.Fatalf("%q has no series %q", pr.title, name)
		return nil
	}
	tableRows := func(pr *panelRun) []map[string]any {
		t := pr.panel.OrganizeTable(pr.results[0].Table)
		var out []map[string]any
		for _, r := range t.Rows {
			m := map[string]any{}
			for i, v := range r {
				m[t.Columns[i]] = v
			}
			out = append(out, m)
		}
		return out
	}

	// Fleet: site-a misses its silent and offline turbines.
	require.Equal(t, 2.0, last(panel(FleetUID, "Missing devices"), "site-a"))
	require.InDelta(t, 0.8, last(panel(FleetUID, "Coverage"), "site-a"), 1e-9)
	require.Equal(t, "site-a: power_kw (sum)", panel(FleetUID, "site-a: power_kw (sum)").title, "repeated per group")
	bounds := panel(FleetUID, "site-a: power_kw (sum)")
	lo, est, hi := last(bounds, "lower").(float64), last(bounds, "estimate").(float64), last(bounds, "upper").(float64)
	require.True(t, lo < hi && lo <= est && est <= hi, "a band around the estimate: %v %v %v", lo, est, hi)
	// Only site-b's windows were revised (wt-14 flushed), and then final:
	// revision 2 or more (the flush may span emit rounds).
	rev := panel(FleetUID, "Windows revised by late data")
	require.Equal(t, []string{"site-b"}, rev.fieldNames())
	require.GreaterOrEqual(t, seriesNamed(t, rev, "site-b").Reduce("max"), 2.0)

	// Devices: the silent, offline and replaying turbines are listed.
	notLive := map[string]any{}
	for _, r := range tableRows(panel(DevicesUID, "Not live")) {
		notLive[r["device"].(string)] = r["state"]
	}
	require.Equal(t, "silent", notLive["site-a/wt-03"])
	require.Equal(t, "offline", notLive["site-a/wt-05"])
	var replaying []any
	for _, r := range tableRows(panel(DevicesUID, "Replaying")) {
		replaying = append(replaying, r["device"])
		require.Positive(t, r["replays in range"])
	}
	require.Equal(t, []any{"site-b/wt-18"}, replaying)
	all := tableRows(panel(DevicesUID, "Devices"))
	require.Len(t, all, 20)
	for _, r := range all {
		if r["device"] == "site-b/wt-16" {
			require.InDelta(t, 0.6, r["clock offset"], 0.3, "wt-16's clock runs 600 ms behind")
		}
		if r["device"] == "site-b/wt-12" {
			require.Positive(t, r["duplicates in range"])
		}
	}

	// Pipeline: accepted readings, and the malformed ones rejected.
	p := panel(PipelineUID, "Rejected by reason")
	require.Positive(t, seriesNamed(t, p, "bad_json").Reduce("max"))
	require.Positive(t, seriesNamed(t, panel(PipelineUID, "Readings by outcome"), "accepted").Reduce("max"))
}

func seriesNamed(t *testing.T, pr *panelRun, name string) Series {
	for _, r := range pr.results {
		for _, s := range r.Series {
			if s.Name == name {
				return s
			}
		}
	}
	t.Fatalf("%q has no series %q", pr.title, name)
	return Series{}
}

// checkSnapshotRoundTrip: the snapshot file reads back as the snapshot
// written, every value with its type (times, NaN), as cmd/dashrender
// reads it.
func checkSnapshotRoundTrip(t *testing.T, path string, want *Snapshot) {
	t.Helper()
	got, err := ReadSnapshot(path)
	require.NoError(t, err)
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(wantJSON), string(gotJSON))
	for i, p := range want.Panels {
		for j, r := range p.Results {
			require.Equal(t, valueTypes(r), valueTypes(got.Panels[i].Results[j]), "%q query %d: value types", p.Title, j)
		}
	}
}

// valueTypes lists the type of every value of r, in order.
func valueTypes(r Result) []string {
	var out []string
	for _, s := range r.Series {
		for _, v := range s.Values {
			out = append(out, fmt.Sprintf("%T", v))
		}
	}
	if r.Table != nil {
		for _, row := range r.Table.Rows {
			for _, v := range row {
				out = append(out, fmt.Sprintf("%T", v))
			}
		}
	}
	return out
}

func queries(dr *dashboardRun) int {
	n := len(dr.annotations)
	for _, pr := range dr.panels {
		n += len(pr.results)
	}
	return n
}

// startGateway starts a gateway on its embedded broker with sc's fleet,
// 1 s windows, and the InfluxDB (with device snapshots every second) and
// Prometheus sinks on; it is stopped in t.Cleanup.
func startGateway(t *testing.T, sc sim.Scenario, influx *testserver.InfluxServer) *gatewaytest.Gateway {
	t.Helper()
	fleet, err := sc.FleetFile()
	require.NoError(t, err)
	cfg := gatewaytest.Config(t)
	cfg.Fleet = gatewaytest.FleetFile(t, fleet)
	cfg.Window.Size = time.Second
	cfg.Window.AllowedLateness = 10 * time.Second
	cfg.Window.AllowedSkew = time.Second
	cfg.Window.IdleTimeout = 2 * time.Second
	cfg.Aggregate.EmitInterval = 20 * time.Millisecond
	cfg.Checkpoint.Interval = 5 * time.Second
	cfg.Prom.Enabled = true
	cfg.Influx.Enabled = true
	cfg.Influx.URL, cfg.Influx.Database = influx.URL, influx.Database
	cfg.Influx.FlushInterval = 200 * time.Millisecond
	cfg.Influx.Devices.Interval = time.Second
	return gatewaytest.Start(t, cfg)
}
