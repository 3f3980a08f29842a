package dashboards

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// What a panel's options mean for the fields its queries return, as
// Grafana applies them: which fields an override's matcher selects, a
// field's options after the overrides, what a value mapping shows, the
// organize transformation, and the reducers of legends. The integration
// test checks the dashboards against real query results with them, and
// dashboards/render draws the screenshots with them. They work on panels
// built in Go and on panels decoded from JSON (where option values are
// map[string]any, []any and float64).

// Matches reports whether m selects the field named name: byName compares
// the name, byRegexp matches it against Grafana's /pattern/flags (or a bare
// pattern). Other matchers, and patterns that do not compile, select
// nothing.
func (m Matcher) Matches(name string) bool {
	s, _ := m.Options.(string)
	switch m.ID {
	case "byName":
		return s == name
	case "byRegexp":
		re, err := compileGrafanaRegexp(s)
		return err == nil && re.MatchString(name)
	}
	return false
}

// compileGrafanaRegexp compiles a regex as Grafana's byRegexp matcher takes
// it: /pattern/flags or a bare pattern.
func compileGrafanaRegexp(s string) (*regexp.Regexp, error) {
	if strings.HasPrefix(s, "/") {
		if i := strings.LastIndex(s, "/"); i > 0 {
			flags := s[i+1:]
			s = s[1:i]
			if strings.Contains(flags, "i") {
				s = "(?i)" + s
			}
		}
	}
	return regexp.Compile(s)
}

// FieldOptions are one field's display options after the panel's
// overrides. Colors are as the dashboard names them (Grafana's named
// colors or #rrggbb).
type FieldOptions struct {
	Unit       string
	Decimals   *int
	Min, Max   *float64
	Mappings   []Mapping
	Thresholds Thresholds
	// Color is the field's fixed color; "" for the palette.
	Color string
	// Time series: the line width (1 unless set; 0 draws no line), a
	// dashed line, the series a band is filled down to, the fill opacity
	// in percent, bars instead of lines, the right axis, the axis' soft
	// minimum, stacking ("normal"), and thresholds drawn as dashed lines.
	LineWidth        float64
	Dashed           bool
	FillBelowTo      string
	FillOpacity      float64
	Bars             bool
	RightAxis        bool
	SoftMin          *float64
	Stacked          bool
	DashedThresholds bool
	// CellType is a table cell's display: color-background, color-text,
	// or "" for plain text.
	CellType string
}

// FieldOptions returns the options of the field named name in p: the
// panel's defaults, then every override whose matcher selects the field,
// in order.
func (p *Panel) FieldOptions(name string) FieldOptions {
	o := p.DefaultFieldOptions()
	if p.FieldConfig == nil {
		return o
	}
	for _, ov := range p.FieldConfig.Overrides {
		if !ov.Matcher.Matches(name) {
			continue
		}
		for _, pr := range ov.Properties {
			o.setProperty(pr)
		}
	}
	return o
}

// DefaultFieldOptions returns the options of p's field defaults, before
// any override.
func (p *Panel) DefaultFieldOptions() FieldOptions {
	o := FieldOptions{LineWidth: 1}
	if p.FieldConfig == nil {
		return o
	}
	d := p.FieldConfig.Defaults
	o.Unit, o.Decimals, o.Min, o.Max = d.Unit, d.Decimals, d.Min, d.Max
	o.Mappings, o.Thresholds = d.Mappings, d.Thresholds
	if d.Color.Mode == "fixed" {
		o.Color = d.Color.FixedColor
	}
	for k, v := range d.Custom {
		o.setCustom(k, v)
	}
	return o
}

// setProperty applies one override property.
func (o *FieldOptions) setProperty(pr Property) {
	switch {
	case pr.ID == "unit":
		o.Unit, _ = pr.Value.(string)
	case pr.ID == "decimals":
		n := int(optionNumber(pr.Value))
		o.Decimals = &n
	case pr.ID == "color":
		if m, ok := pr.Value.(map[string]any); ok {
			o.Color = fmt.Sprint(m["fixedColor"])
		}
	case pr.ID == "mappings":
		o.Mappings = overrideMappings(pr.Value)
	case strings.HasPrefix(pr.ID, "custom."):
		o.setCustom(strings.TrimPrefix(pr.ID, "custom."), pr.Value)
	}
}

// setCustom applies one of the panel type's own field options.
func (o *FieldOptions) setCustom(key string, v any) {
	switch key {
	case "lineWidth":
		o.LineWidth = optionNumber(v)
	case "fillOpacity":
		o.FillOpacity = optionNumber(v)
	case "fillBelowTo":
		o.FillBelowTo, _ = v.(string)
	case "drawStyle":
		o.Bars = v == "bars"
	case "axisPlacement":
		o.RightAxis = v == "right"
	case "lineStyle":
		if m, ok := v.(map[string]any); ok {
			o.Dashed = m["fill"] == "dash"
		}
	case "cellOptions":
		if m, ok := v.(map[string]any); ok {
			o.CellType, _ = m["type"].(string)
		}
	case "axisSoftMin":
		f := optionNumber(v)
		o.SoftMin = &f
	case "stacking":
		if m, ok := v.(map[string]any); ok {
			o.Stacked = m["mode"] == "normal"
		}
	case "thresholdsStyle":
		if m, ok := v.(map[string]any); ok {
			o.DashedThresholds = m["mode"] == "dashed"
		}
	}
}

// optionNumber is a numeric option's value: float64 from JSON, int from Go.
func optionNumber(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}

// overrideMappings is an override's mappings, built in Go or decoded
// from JSON.
func overrideMappings(v any) []Mapping {
	switch m := v.(type) {
	case []Mapping:
		return m
	case []any:
		var out []Mapping
		for _, e := range m {
			em, _ := e.(map[string]any)
			opts, _ := em["options"].(map[string]any)
			out = append(out, Mapping{Type: fmt.Sprint(em["type"]), Options: opts})
		}
		return out
	}
	return nil
}

// Map returns what v displays as under o's value mappings (the first
// "value" mapping with v's text as a key), if one matches. Numbers are
// keyed by their shortest decimal form.
func (o FieldOptions) Map(v any) (MappingResult, bool) {
	key := fmt.Sprint(v)
	if f, isNum := v.(float64); isNum {
		key = strconv.FormatFloat(f, 'f', -1, 64)
	}
	for _, m := range o.Mappings {
		if m.Type != "value" {
			continue
		}
		switch r := m.Options[key].(type) {
		case MappingResult:
			return r, true
		case map[string]any:
			text, _ := r["text"].(string)
			color, _ := r["color"].(string)
			return MappingResult{Text: text, Color: color, Index: int(optionNumber(r["index"]))}, true
		}
	}
	return MappingResult{}, false
}

// Organize applies p's organize transformations to field names: it
// returns the names the panel shows, renamed, and for each the index in
// names of the field it shows. Excluded fields are left out.
func (p *Panel) Organize(names []string) (shown []string, index []int) {
	shown = slices.Clone(names)
	keep := make([]bool, len(names))
	for i := range keep {
		keep[i] = true
	}
	for _, tr := range p.Transformations {
		if tr.ID != "organize" {
			continue
		}
		rename, _ := tr.Options["renameByName"].(map[string]any)
		exclude, _ := tr.Options["excludeByName"].(map[string]any)
		for i, n := range shown {
			if exclude[n] == true {
				keep[i] = false
			}
			if to, ok := rename[n].(string); ok {
				shown[i] = to
			}
		}
	}
	out := shown[:0]
	for i, n := range shown {
		if keep[i] {
			out = append(out, n)
			index = append(index, i)
		}
	}
	return out, index
}

// OrganizeTable returns t as p shows it after its organize
// transformations: the columns kept, renamed, and their values.
func (p *Panel) OrganizeTable(t *Table) *Table {
	cols, index := p.Organize(t.Columns)
	out := &Table{Columns: cols}
	for _, r := range t.Rows {
		row := make(Values, len(index))
		for i, src := range index {
			row[i] = r[src]
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// Reduce is Grafana's reducer calc over the numbers of s (nil, strings and
// bools skipped): "max", "mean", or the last one for "lastNotNull" and any
// other calc. It is NaN when s holds no number.
func (s Series) Reduce(calc string) float64 {
	var vals []float64
	for _, v := range s.Values {
		if f, ok := v.(float64); ok {
			vals = append(vals, f)
		}
	}
	if len(vals) == 0 {
		return math.NaN()
	}
	switch calc {
	case "max":
		return slices.Max(vals)
	case "mean":
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		return sum / float64(len(vals))
	}
	return vals[len(vals)-1]
}
