package dashboards

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMatcherMatches(t *testing.T) {
	for _, c := range []struct {
		m    Matcher
		name string
		want bool
	}{
		{Matcher{ID: "byName", Options: "lower"}, "lower", true},
		{Matcher{ID: "byName", Options: "lower"}, "lowers", false},
		{Matcher{ID: "byRegexp", Options: "^site-.*"}, "site-a", true},
		{Matcher{ID: "byRegexp", Options: "/^SITE-a$/i"}, "site-a", true},
		{Matcher{ID: "byRegexp", Options: "/^SITE-a$/"}, "site-a", false},
		{Matcher{ID: "byRegexp", Options: "("}, "(", false},
		{Matcher{ID: "byType", Options: "number"}, "number", false},
		{Matcher{ID: "byName", Options: 1.0}, "1", false},
	} {
		require.Equal(t, c.want, c.m.Matches(c.name), "%+v on %q", c.m, c.name)
	}
}

// fieldPanel has defaults, a custom option and overrides of every kind
// FieldOptions applies.
func fieldPanel() *Panel {
	decimals := 1
	return &Panel{Type: "timeseries", FieldConfig: &FieldConfig{
		Defaults: FieldDefaults{
			Unit: "short", Decimals: &decimals, Min: ptr(0),
			Color:      Color{Mode: "fixed", FixedColor: blue},
			Thresholds: thresholds(green, red, 10),
			Mappings:   []Mapping{valueMap("live", "up", green)},
			Custom: map[string]any{
				"lineWidth": 2, "fillOpacity": 10, "axisSoftMin": 0.5,
				"stacking": map[string]any{"mode": "normal"}, "thresholdsStyle": map[string]any{"mode": "dashed"},
			},
		},
		Overrides: []Override{
			{Matcher: Matcher{ID: "byName", Options: "upper"}, Properties: []Property{
				{ID: "unit", Value: "percentunit"},
				{ID: "decimals", Value: 3},
				{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": red}},
				{ID: "custom.fillBelowTo", Value: "lower"},
				{ID: "custom.drawStyle", Value: "bars"},
				{ID: "custom.axisPlacement", Value: "right"},
				{ID: "custom.lineStyle", Value: map[string]any{"fill": "dash"}},
				{ID: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
			}},
			{Matcher: Matcher{ID: "byRegexp", Options: "/^UP/i"}, Properties: []Property{
				{ID: "mappings", Value: []Mapping{valueMap("1", "one", yellow)}},
			}},
		},
	}}
}

func TestFieldOptions(t *testing.T) {
	decoded := func(p *Panel) *Panel {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		var out Panel
		require.NoError(t, json.Unmarshal(b, &out))
		return &out
	}
	for name, p := range map[string]*Panel{"go": fieldPanel(), "json": decoded(fieldPanel())} {
		t.Run(name, func(t *testing.T) {
			def := p.FieldOptions("lower")
			require.Equal(t, "short", def.Unit)
			require.Equal(t, 1, *def.Decimals)
			require.Equal(t, 0.0, *def.Min)
			require.Nil(t, def.Max)
			require.Equal(t, blue, def.Color)
			require.Equal(t, 2.0, def.LineWidth)
			require.Equal(t, 10.0, def.FillOpacity)
			require.Equal(t, 0.5, *def.SoftMin)
			require.True(t, def.Stacked)
			require.True(t, def.DashedThresholds)
			require.Len(t, def.Thresholds.Steps, 2)
			r, ok := def.Map("live")
			require.True(t, ok)
			require.Equal(t, MappingResult{Text: "up", Color: green}, r)
			_, ok = def.Map(1.0)
			require.False(t, ok)

			up := p.FieldOptions("upper")
			require.Equal(t, "percentunit", up.Unit)
			require.Equal(t, 3, *up.Decimals)
			require.Equal(t, red, up.Color)
			require.Equal(t, "lower", up.FillBelowTo)
			require.True(t, up.Bars)
			require.True(t, up.RightAxis)
			require.True(t, up.Dashed)
			require.Equal(t, "color-text", up.CellType)
			require.Equal(t, def, p.DefaultFieldOptions(), "a field no override matches")
			require.Equal(t, "short", p.DefaultFieldOptions().Unit, "the defaults before overrides")
			_, ok = up.Map("live")
			require.False(t, ok, "the override replaced the mappings")
			r, ok = up.Map(1.0)
			require.True(t, ok, "numbers are keyed by their decimal form")
			require.Equal(t, "one", r.Text)
		})
	}
	require.Equal(t, FieldOptions{LineWidth: 1}, (&Panel{Type: "row"}).FieldOptions("x"), "no field config")
	require.Equal(t, FieldOptions{LineWidth: 1}, (&Panel{Type: "row"}).DefaultFieldOptions())
}

func TestFieldOptionsMapSkipsOtherMappings(t *testing.T) {
	o := FieldOptions{Mappings: []Mapping{
		{Type: "range", Options: map[string]any{"from": 0.0, "to": 1.0, "result": map[string]any{"text": "low"}}},
		{Type: "value", Options: map[string]any{"true": map[string]any{"text": "yes", "color": red, "index": 1.0}}},
	}}
	_, ok := o.Map(0.5)
	require.False(t, ok, "range mappings are not applied")
	r, ok := o.Map(true)
	require.True(t, ok)
	require.Equal(t, MappingResult{Text: "yes", Color: red, Index: 1}, r)
}

func TestOrganize(t *testing.T) {
	p := &Panel{Transformations: []Transformation{
		{ID: "merge"},
		{ID: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "kept": false},
			"renameByName":  map[string]any{"device": "Device", "state": "State"},
		}},
		{ID: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"State": true},
		}},
	}}
	shown, index := p.Organize([]string{"Time", "device", "state", "kept"})
	require.Equal(t, []string{"Device", "kept"}, shown)
	require.Equal(t, []int{1, 3}, index)

	tbl := p.OrganizeTable(&Table{
		Columns: []string{"Time", "device", "state", "kept"},
		Rows:    []Values{{time.UnixMilli(1), "a", "live", 1.0}, {time.UnixMilli(2), "b", "silent", nil}},
	})
	require.Equal(t, &Table{Columns: []string{"Device", "kept"}, Rows: []Values{{"a", 1.0}, {"b", nil}}}, tbl)

	shown, index = (&Panel{}).Organize([]string{"a", "b"})
	require.Equal(t, []string{"a", "b"}, shown, "no transformation")
	require.Equal(t, []int{0, 1}, index)
}

func TestSeriesReduce(t *testing.T) {
	s := Series{Values: Values{nil, 2.0, "x", 6.0, true, 1.0, nil}}
	require.Equal(t, 6.0, s.Reduce("max"))
	require.Equal(t, 3.0, s.Reduce("mean"))
	require.Equal(t, 1.0, s.Reduce("lastNotNull"))
	require.Equal(t, 1.0, s.Reduce("other"))
	require.True(t, math.IsNaN(Series{Values: Values{nil, "x"}}.Reduce("max")), "no number")
}
