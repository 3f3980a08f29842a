package dashboards

import (
	"bytes"
	"encoding/json"
)

// The subset of Grafana's dashboard JSON model (schema version 39, Grafana
// 10.4 and later; later versions migrate it on load) that the dashboards
// use. Field names and shapes follow Grafana's dashboard schema (the
// foundation SDK's dashboard.Dashboard and the panel plugins' options).

// SchemaVersion is the dashboard schema version of every dashboard.
const SchemaVersion = 39

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	ID                   *int           `json:"id"` // null: assigned by Grafana on import
	UID                  string         `json:"uid"`
	Title                string         `json:"title"`
	Description          string         `json:"description"`
	Tags                 []string       `json:"tags"`
	Editable             bool           `json:"editable"`
	GraphTooltip         int            `json:"graphTooltip"` // 1: shared crosshair
	Time                 TimeRange      `json:"time"`
	Refresh              string         `json:"refresh"`
	Timezone             string         `json:"timezone"`
	FiscalYearStartMonth int            `json:"fiscalYearStartMonth"`
	LiveNow              bool           `json:"liveNow"`
	SchemaVersion        int            `json:"schemaVersion"`
	Version              int            `json:"version"`
	Links                []Link         `json:"links"`
	Annotations          Annotations    `json:"annotations"`
	Templating           Templating     `json:"templating"`
	Panels               []*Panel       `json:"panels"`
	Timepicker           map[string]any `json:"timepicker"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Link is a dashboard link.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"` // dashboards
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	TargetBlank bool     `json:"targetBlank"`
	Icon        string   `json:"icon"`
	Tooltip     string   `json:"tooltip"`
	URL         string   `json:"url"`
}

// DatasourceRef names a datasource by type and uid.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is an annotation query. Grafana's built-in one has BuiltIn 1
// and the "grafana" datasource; an InfluxQL one carries its query both in
// Target (Grafana 10+) and in the legacy top-level fields.
type Annotation struct {
	Name       string            `json:"name"`
	Datasource DatasourceRef     `json:"datasource"`
	Enable     bool              `json:"enable"`
	Hide       bool              `json:"hide"`
	IconColor  string            `json:"iconColor"`
	BuiltIn    int               `json:"builtIn,omitempty"`
	Type       string            `json:"type,omitempty"`
	Target     *AnnotationTarget `json:"target,omitempty"`
	// Legacy InfluxQL fields, migrated into Target by Grafana.
	Query       string `json:"query,omitempty"`
	TextColumn  string `json:"textColumn,omitempty"`
	TagsColumn  string `json:"tagsColumn,omitempty"`
	TitleColumn string `json:"titleColumn,omitempty"`
}

// AnnotationTarget is an annotation's query: Grafana's own (Limit,
// MatchAny, Tags, Type) or an InfluxQL one (Query and the columns).
type AnnotationTarget struct {
	RefID          string   `json:"refId,omitempty"`
	Limit          int      `json:"limit"`
	MatchAny       bool     `json:"matchAny"`
	Tags           []string `json:"tags"`
	Type           string   `json:"type"`
	Query          string   `json:"query,omitempty"`
	RawQuery       bool     `json:"rawQuery,omitempty"`
	QueryType      string   `json:"queryType,omitempty"`
	FromAnnotation bool     `json:"fromAnnotations,omitempty"`
	TextColumn     string   `json:"textColumn,omitempty"`
	TagsColumn     string   `json:"tagsColumn,omitempty"`
	TitleColumn    string   `json:"titleColumn,omitempty"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a template variable: a query over a datasource, or a custom
// list.
type Variable struct {
	Type        string         `json:"type"` // query, custom
	Name        string         `json:"name"`
	Label       string         `json:"label"`
	Description string         `json:"description"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Query       string         `json:"query"`
	Definition  string         `json:"definition,omitempty"`
	Refresh     int            `json:"refresh"` // 1: on load, 2: on time range change
	Regex       string         `json:"regex"`
	Sort        int            `json:"sort"` // 1: alphabetical
	Multi       bool           `json:"multi"`
	IncludeAll  bool           `json:"includeAll"`
	AllValue    string         `json:"allValue,omitempty"`
	Current     Option         `json:"current"`
	Options     []Option       `json:"options"`
	Hide        int            `json:"hide"`
	SkipURLSync bool           `json:"skipUrlSync"`
}

// AllValue is the value of a variable's "All" option.
const AllValue = "$__all"

// Option is a variable's option or current value. Multi-value variables
// hold lists.
type Option struct {
	Selected bool `json:"selected"`
	Text     any  `json:"text"`
	Value    any  `json:"value"`
}

// Panel is a panel or a row.
type Panel struct {
	Type            string           `json:"type"`
	ID              int              `json:"id"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	Datasource      *DatasourceRef   `json:"datasource,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Repeat          string           `json:"repeat,omitempty"`
	RepeatDirection string           `json:"repeatDirection,omitempty"`
	MaxPerRow       int              `json:"maxPerRow,omitempty"`
	Interval        string           `json:"interval,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Transformations []Transformation `json:"transformations,omitempty"`
	// Rows only.
	Collapsed *bool    `json:"collapsed,omitempty"`
	Panels    []*Panel `json:"panels,omitempty"`
}

// GridPos places a panel on the 24-column grid; a height unit is 30 px.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is a panel query: PromQL (Expr) or raw InfluxQL (Query).
type Target struct {
	RefID      string         `json:"refId"`
	Datasource *DatasourceRef `json:"datasource"`
	Hide       bool           `json:"hide,omitempty"`
	// Prometheus.
	Expr         string `json:"expr,omitempty"`
	LegendFormat string `json:"legendFormat,omitempty"`
	Range        bool   `json:"range,omitempty"`
	Instant      bool   `json:"instant,omitempty"`
	Format       string `json:"format,omitempty"` // time_series, table
	EditorMode   string `json:"editorMode,omitempty"`
	// InfluxQL.
	Query        string `json:"query,omitempty"`
	RawQuery     bool   `json:"rawQuery,omitempty"`
	ResultFormat string `json:"resultFormat,omitempty"` // time_series, table
	Alias        string `json:"alias,omitempty"`
}

// FieldConfig is a panel's field configuration.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults are the standard field options.
type FieldDefaults struct {
	Unit        string         `json:"unit,omitempty"`
	Decimals    *int           `json:"decimals,omitempty"`
	Min         *float64       `json:"min,omitempty"`
	Max         *float64       `json:"max,omitempty"`
	NoValue     string         `json:"noValue,omitempty"`
	Color       Color          `json:"color"`
	Thresholds  Thresholds     `json:"thresholds"`
	Mappings    []Mapping      `json:"mappings"`
	Custom      map[string]any `json:"custom,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
}

// Color is a field's color scheme.
type Color struct {
	Mode       string `json:"mode"` // palette-classic, thresholds, fixed
	FixedColor string `json:"fixedColor,omitempty"`
}

// Thresholds are absolute threshold steps; the first has a nil value.
type Thresholds struct {
	Mode  string `json:"mode"` // absolute
	Steps []Step `json:"steps"`
}

// Step is one threshold step.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Mapping is a value mapping: type "value" with Options text → result, or
// "range" with from, to and result.
type Mapping struct {
	Type    string         `json:"type"`
	Options map[string]any `json:"options"`
}

// MappingResult is what a mapped value displays as.
type MappingResult struct {
	Text  string `json:"text,omitempty"`
	Color string `json:"color,omitempty"`
	Index int    `json:"index"`
}

// Override changes field options for the fields a matcher selects.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields: byName, byRegexp, byType.
type Matcher struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

// Property is one overridden option, e.g. "unit" or "custom.fillBelowTo".
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Transformation is a panel transformation, e.g. "organize".
type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// JSON returns d as indented JSON, as Grafana exports it, with a final
// newline.
func (d *Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AllPanels returns d's panels in order, with the panels of collapsed rows.
func (d *Dashboard) AllPanels() []*Panel {
	var out []*Panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}
