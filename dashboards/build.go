package dashboards

import "strings"

// Helpers that build the dashboards: a board places panels left to right
// on Grafana's 24-column grid, and the panel constructors fill in the
// options each panel type needs, so that the definitions in fleet.go,
// devices.go and pipeline.go say only what differs.

// Datasource uids and names, fixed by the provisioning file
// (grafana/provisioning/datasources/rollcall.yaml). Every query names one.
const (
	InfluxUID      = "rollcall-influxdb"
	PrometheusUID  = "rollcall-prometheus"
	InfluxType     = "influxdb"
	PrometheusType = "prometheus"
)

var (
	influxDS = &DatasourceRef{Type: InfluxType, UID: InfluxUID}
	promDS   = &DatasourceRef{Type: PrometheusType, UID: PrometheusUID}
)

// Grafana's named colors.
const (
	green  = "green"
	yellow = "yellow"
	orange = "orange"
	red    = "red"
	blue   = "blue"
	purple = "purple"
	grey   = "text"
	dark   = "dark-red"
)

// board lays panels out row by row.
type board struct {
	d      *Dashboard
	x, y   int
	rowH   int // height of the tallest panel in the current line
	nextID int
}

func newBoard(uid, title, description string, tags ...string) *board {
	return &board{d: &Dashboard{
		UID: uid, Title: title, Description: description,
		Tags:         append([]string{"rollcall"}, tags...),
		Editable:     true,
		GraphTooltip: 1,
		Time:         TimeRange{From: "now-1h", To: "now"},
		Refresh:      "30s",
		Timezone:     "browser",
		// Unchanged since the first release; Grafana bumps it on save.
		Version:       1,
		SchemaVersion: SchemaVersion,
		Links: []Link{{
			Title: "rollcall", Type: "dashboards", Tags: []string{"rollcall"}, AsDropdown: true,
			IncludeVars: false, KeepTime: true, Icon: "external link",
		}},
		Annotations: Annotations{List: []Annotation{{
			Name: "Annotations & Alerts", BuiltIn: 1, Enable: true, Hide: true,
			Datasource: DatasourceRef{Type: "grafana", UID: "-- Grafana --"},
			IconColor:  "rgba(0, 211, 255, 1)", Type: "dashboard",
			Target: &AnnotationTarget{Limit: 100, Tags: []string{}, Type: "dashboard"},
		}}},
		Templating: Templating{List: []Variable{}},
		Timepicker: map[string]any{},
	}, nextID: 1}
}

// row starts a new line with a row header.
func (b *board) row(title string) {
	b.newline()
	collapsed := false
	b.d.Panels = append(b.d.Panels, &Panel{
		Type: "row", ID: b.id(), Title: title, Collapsed: &collapsed, Panels: []*Panel{},
		GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y},
	})
	b.y++
}

// add places p, w columns wide and h units high, right of the previous
// panel, or on a new line when it does not fit.
func (b *board) add(w, h int, p *Panel) *Panel {
	if b.x+w > 24 {
		b.newline()
	}
	p.ID = b.id()
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	b.x += w
	b.rowH = max(b.rowH, h)
	b.d.Panels = append(b.d.Panels, p)
	return p
}

func (b *board) newline() {
	b.y += b.rowH
	b.x, b.rowH = 0, 0
}

func (b *board) id() int {
	b.nextID++
	return b.nextID - 1
}

func (b *board) vars(vs ...Variable) { b.d.Templating.List = append(b.d.Templating.List, vs...) }

// Queries.

// influxQL is a raw InfluxQL query drawn as time series; alias names the
// series ($col, $tag_group, ...).
func influxQL(query, alias string) Target {
	return Target{Datasource: influxDS, Query: query, RawQuery: true, ResultFormat: "time_series", Alias: alias}
}

// influxTable is a raw InfluxQL query shown as a table.
func influxTable(query string) Target {
	return Target{Datasource: influxDS, Query: query, RawQuery: true, ResultFormat: "table"}
}

// promRange is a PromQL range query.
func promRange(expr, legend string) Target {
	return Target{Datasource: promDS, Expr: expr, LegendFormat: legend, Range: true, EditorMode: "code", Format: "time_series"}
}

// promInstant is a PromQL instant query (stat panels).
func promInstant(expr, legend string) Target {
	return Target{Datasource: promDS, Expr: expr, LegendFormat: legend, Instant: true, EditorMode: "code", Format: "time_series"}
}

// withRefIDs names the targets A, B, C, ...
func withRefIDs(ts []Target) []Target {
	for i := range ts {
		ts[i].RefID = string(rune('A' + i))
	}
	return ts
}

// datasourceOf is the panel's datasource: the one all its targets share.
func datasourceOf(ts []Target) *DatasourceRef {
	if len(ts) == 0 {
		return nil
	}
	ds := ts[0].Datasource
	for _, t := range ts[1:] {
		if *t.Datasource != *ds {
			return &DatasourceRef{Type: "datasource", UID: "-- Mixed --"}
		}
	}
	return ds
}

// Panels.

func basePanel(typ, title, description string, targets []Target) *Panel {
	targets = withRefIDs(targets)
	return &Panel{
		Type: typ, Title: title, Description: strings.TrimSpace(description),
		Datasource: datasourceOf(targets), Targets: targets,
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Color:      Color{Mode: "palette-classic"},
				Thresholds: thresholds(green),
				Mappings:   []Mapping{},
			},
			Overrides: []Override{},
		},
	}
}

// timeseries is a time series panel with lines, in unit.
func timeseries(title, description, unit string, targets ...Target) *Panel {
	p := basePanel("timeseries", title, description, targets)
	p.FieldConfig.Defaults.Unit = unit
	p.FieldConfig.Defaults.Custom = map[string]any{
		"drawStyle": "line", "lineInterpolation": "linear", "lineWidth": 1, "fillOpacity": 0,
		"gradientMode": "none", "showPoints": "never", "pointSize": 4, "spanNulls": false,
		"axisPlacement": "auto", "axisLabel": "", "axisBorderShow": false, "axisCenteredZero": false,
		"axisColorMode": "text", "barAlignment": 0, "insertNulls": false,
		"scaleDistribution": map[string]any{"type": "linear"},
		"stacking":          map[string]any{"group": "A", "mode": "none"},
		"thresholdsStyle":   map[string]any{"mode": "off"},
		"hideFrom":          map[string]any{"legend": false, "tooltip": false, "viz": false},
		"lineStyle":         map[string]any{"fill": "solid"},
	}
	p.Options = map[string]any{
		"legend":  legend("list", "bottom"),
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

func legend(mode, placement string, calcs ...string) map[string]any {
	if calcs == nil {
		calcs = []string{}
	}
	return map[string]any{"displayMode": mode, "placement": placement, "showLegend": true, "calcs": calcs}
}

// stat is a stat panel showing the last non-null value of each series.
func stat(title, description, unit string, targets ...Target) *Panel {
	p := basePanel("stat", title, description, targets)
	p.FieldConfig.Defaults.Unit = unit
	p.FieldConfig.Defaults.Color = Color{Mode: "thresholds"}
	p.Options = map[string]any{
		"reduceOptions":          map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"colorMode":              "background",
		"graphMode":              "none",
		"justifyMode":            "auto",
		"textMode":               "value_and_name",
		"orientation":            "auto",
		"wideLayout":             true,
		"showPercentChange":      false,
		"percentChangeColorMode": "standard",
	}
	return p
}

// table is a table panel.
func table(title, description string, targets ...Target) *Panel {
	p := basePanel("table", title, description, targets)
	p.FieldConfig.Defaults.Color = Color{Mode: "thresholds"}
	p.FieldConfig.Defaults.Custom = map[string]any{
		"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "inspect": false, "filterable": true,
	}
	p.Options = map[string]any{
		"showHeader": true, "cellHeight": "sm",
		"footer": map[string]any{"show": false, "reducer": []string{"sum"}, "countRows": false, "fields": ""},
	}
	return p
}

// timeline is a state timeline: one row per series, colored by mappings.
func timeline(title, description string, targets ...Target) *Panel {
	p := basePanel("state-timeline", title, description, targets)
	p.FieldConfig.Defaults.Color = Color{Mode: "thresholds"}
	p.FieldConfig.Defaults.Custom = map[string]any{
		"fillOpacity": 75, "lineWidth": 0, "spanNulls": false, "insertNulls": false,
		"hideFrom": map[string]any{"legend": false, "tooltip": false, "viz": false},
	}
	p.Options = map[string]any{
		"showValue": "never", "rowHeight": 0.85, "mergeValues": true, "alignValue": "left",
		"legend":  legend("list", "bottom"),
		"tooltip": map[string]any{"mode": "single", "sort": "none"},
	}
	return p
}

// Field options.

func (p *Panel) defaults() *FieldDefaults { return &p.FieldConfig.Defaults }

func (p *Panel) custom(kv ...any) *Panel {
	for i := 0; i+1 < len(kv); i += 2 {
		p.defaults().Custom[kv[i].(string)] = kv[i+1]
	}
	return p
}

func (p *Panel) option(kv ...any) *Panel {
	for i := 0; i+1 < len(kv); i += 2 {
		p.Options[kv[i].(string)] = kv[i+1]
	}
	return p
}

func (p *Panel) minMax(lo, hi *float64) *Panel {
	p.defaults().Min, p.defaults().Max = lo, hi
	return p
}

func (p *Panel) decimals(n int) *Panel {
	p.defaults().Decimals = &n
	return p
}

func (p *Panel) thresholds(base string, steps ...any) *Panel {
	p.defaults().Thresholds = thresholds(base, steps...)
	return p
}

func (p *Panel) mappings(ms ...Mapping) *Panel {
	p.defaults().Mappings = append(p.defaults().Mappings, ms...)
	return p
}

func (p *Panel) override(m Matcher, props ...Property) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{Matcher: m, Properties: props})
	return p
}

func (p *Panel) transform(t Transformation) *Panel {
	p.Transformations = append(p.Transformations, t)
	return p
}

func (p *Panel) repeat(variable string) *Panel {
	p.Repeat, p.RepeatDirection, p.MaxPerRow = variable, "h", 2
	return p
}

// thresholds returns absolute steps: base from -∞, then color, value
// pairs.
func thresholds(base string, steps ...any) Thresholds {
	t := Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(steps); i += 2 {
		v := toFloat(steps[i+1])
		t.Steps = append(t.Steps, Step{Color: steps[i].(string), Value: &v})
	}
	return t
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic("dashboards: threshold value must be a number")
}

func ptr(f float64) *float64 { return &f }

// valueMap maps text values to display text and color: value, text,
// color triples.
func valueMap(triples ...string) Mapping {
	opts := map[string]any{}
	for i := 0; i+2 < len(triples); i += 3 {
		opts[triples[i]] = MappingResult{Text: triples[i+1], Color: triples[i+2], Index: i / 3}
	}
	return Mapping{Type: "value", Options: opts}
}

// Device states and aggregate qualities, with their colors.
var (
	stateColors = valueMap(
		"live", "live", green,
		"late", "late", yellow,
		"delayed", "delayed", blue,
		"silent", "silent", red,
		"offline", "offline", dark,
		"never_seen", "never seen", grey,
		"retired", "retired", purple,
	)
	qualityColors = valueMap(
		"good", "good", green,
		"uncertain", "uncertain", yellow,
		"bad", "bad", red,
	)
)

func byName(name string) Matcher     { return Matcher{ID: "byName", Options: name} }
func byRegexp(re string) Matcher     { return Matcher{ID: "byRegexp", Options: re} }
func prop(id string, v any) Property { return Property{ID: id, Value: v} }
func fixedColor(c string) Property {
	return prop("color", map[string]any{"mode": "fixed", "fixedColor": c})
}

// organize hides and renames table columns.
func organize(exclude []string, rename map[string]string) Transformation {
	ex := map[string]any{}
	for _, e := range exclude {
		ex[e] = true
	}
	if rename == nil {
		rename = map[string]string{}
	}
	return Transformation{ID: "organize", Options: map[string]any{
		"excludeByName": ex, "renameByName": rename, "indexByName": map[string]any{},
	}}
}

// Variables.

// influxVar is a query variable over InfluxDB tag values, multi-valued
// with "All" (every value) selected.
func influxVar(name, label, description, query string) Variable {
	return Variable{
		Type: "query", Name: name, Label: label, Description: description,
		Datasource: influxDS, Query: query, Definition: query,
		Refresh: 1, Sort: 1, Multi: true, IncludeAll: true,
		Current: Option{Selected: true, Text: []string{"All"}, Value: []string{AllValue}},
		Options: []Option{},
	}
}

// promVar is a query variable over Prometheus label values, multi-valued
// with "All" selected.
func promVar(name, label, description, query string) Variable {
	return Variable{
		Type: "query", Name: name, Label: label, Description: description,
		Datasource: promDS, Query: query, Definition: query,
		Refresh: 2, Sort: 1, Multi: true, IncludeAll: true,
		Current: Option{Selected: true, Text: []string{"All"}, Value: []string{AllValue}},
		Options: []Option{},
	}
}

// customVar is a single-valued variable over a fixed list; the first value
// is the default.
func customVar(name, label, description string, values ...string) Variable {
	v := Variable{
		Type: "custom", Name: name, Label: label, Description: description,
		Query:   strings.Join(values, ","),
		Current: Option{Selected: true, Text: values[0], Value: values[0]},
	}
	for i, val := range values {
		v.Options = append(v.Options, Option{Selected: i == 0, Text: val, Value: val})
	}
	return v
}
