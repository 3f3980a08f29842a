package render

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/dashboards"
)

// Page draws snapshot s as an HTML page, one SVG or table per panel laid
// out on Grafana's grid, and returns it with its height in pixels (its
// width is 1600).
func Page(s *dashboards.Snapshot) (page string, height int) {
	v := &view{s: s, f: formatter{now: s.Taken}}
	var b strings.Builder
	colW := float64(pageWidth-2*pagePad) / 24
	bottom := 0
	for _, pd := range s.Panels {
		bottom = max(bottom, pd.GridPos.Y+pd.GridPos.H)
	}
	height = headerH + bottom*gridUnit + pagePad
	fmt.Fprintf(&b, pageStyle, pageWidth, height, pagePad, pagePad)
	v.header(&b)
	for i := range s.Panels {
		pd := &s.Panels[i]
		x := pagePad + int(float64(pd.GridPos.X)*colW)
		y := headerH + pd.GridPos.Y*gridUnit
		w := int(float64(pd.GridPos.W)*colW) - gridGap
		h := pd.GridPos.H*gridUnit - gridGap
		if pd.Panel.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx">%s</div>`, x, y+4, w, h-2, html.EscapeString(pd.Title))
			continue
		}
		fmt.Fprintf(&b, `<div class="panel" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx"><h2>%s</h2>`, x, y, w, h, html.EscapeString(pd.Title))
		ch := h - panelTitle
		switch pd.Panel.Type {
		case "timeseries":
			b.WriteString(v.timeseries(pd, w, ch))
		case "stat":
			b.WriteString(v.stats(pd, ch))
		case "table":
			b.WriteString(v.table(pd, ch))
		case "state-timeline":
			b.WriteString(v.timeline(pd, w, ch))
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</body></html>`)
	return b.String(), height
}

// view is what drawing a panel needs of the page.
type view struct {
	s *dashboards.Snapshot
	f formatter
}

// header writes the dashboard's title, its variables and the time range.
func (v *view) header(b *strings.Builder) {
	fmt.Fprintf(b, `<div class="hdr"><h1>%s</h1><div class="vars">`, html.EscapeString(v.s.Title))
	for _, sel := range v.s.Variables {
		val := strings.Join(sel.Values, " + ")
		if sel.All {
			val = "All"
		}
		fmt.Fprintf(b, `<span><b>%s</b>%s</span>`, html.EscapeString(sel.Label), html.EscapeString(val))
	}
	fmt.Fprintf(b, `<span><b>Time</b>%s to %s</span></div></div>`, v.s.From.Local().Format("15:04:05"), v.s.To.Local().Format("15:04:05"))
}

// plotted is one series ready to draw, with its options and CSS color.
type plotted struct {
	s     dashboards.Series
	o     dashboards.FieldOptions
	color string
}

// plotted returns every series of the panel's results in order, each
// with its color: its fixed one, or the next of the palette.
func plottedSeries(pd *dashboards.PanelData) []plotted {
	var out []plotted
	i := 0
	for _, r := range pd.Results {
		for _, s := range r.Series {
			o := pd.Panel.FieldOptions(s.Name)
			color := colorOf(o.Color)
			if color == "" {
				color = palette[i%len(palette)]
			}
			i++
			out = append(out, plotted{s, o, color})
		}
	}
	return out
}

// mapped returns the text and CSS color v maps to under o, if a mapping
// matches.
func mapped(o dashboards.FieldOptions, v any) (text, color string, ok bool) {
	r, ok := o.Map(v)
	return r.Text, colorOf(r.Color), ok
}

// thresholdColor is the CSS color of the step v falls in.
func thresholdColor(t dashboards.Thresholds, v float64) string {
	c := ""
	for _, s := range t.Steps {
		if s.Value == nil || v >= *s.Value {
			c = colorOf(s.Color)
		}
	}
	return c
}

// stats draws one colored box per series: its last value.
func (v *view) stats(pd *dashboards.PanelData, h int) string {
	var b strings.Builder
	showName := pd.Panel.Options["textMode"] != "value"
	fmt.Fprintf(&b, `<div class="stats" style="height:%dpx">`, h-6)
	for _, p := range plottedSeries(pd) {
		var last any
		for _, x := range p.s.Values {
			if x != nil {
				last = x
			}
		}
		text := v.f.value(last, p.o.Unit, p.o.Decimals)
		color := "#2c3235"
		if t, c, ok := mapped(p.o, last); ok {
			text, color = t, c
		} else if f, ok := last.(float64); ok {
			color = thresholdColor(p.o.Thresholds, f)
		}
		fmt.Fprintf(&b, `<div class="stat" style="background:%s"><div class="v">%s</div>`, color, html.EscapeString(text))
		if showName {
			fmt.Fprintf(&b, `<div class="n">%s</div>`, html.EscapeString(p.s.Name))
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	return b.String()
}

// table draws a table panel: its transformations, its sort, its
// per-column units, mappings and cell colors, as many rows as fit.
func (v *view) table(pd *dashboards.PanelData, h int) string {
	t := pd.Panel.OrganizeTable(pd.Results[0].Table)
	sortRows(pd.Panel, t)
	var b strings.Builder
	b.WriteString(`<table><tr>`)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, `<th>%s</th>`, html.EscapeString(c))
	}
	b.WriteString(`</tr>`)
	fit := max((h-24)/20, 1)
	for i, row := range t.Rows {
		if i == fit-1 && len(t.Rows) > fit {
			fmt.Fprintf(&b, `</table><div class="more">… %d more rows</div>`, len(t.Rows)-i)
			return b.String()
		}
		b.WriteString(`<tr>`)
		for ci, x := range row {
			o := pd.Panel.FieldOptions(t.Columns[ci])
			text := v.f.value(x, o.Unit, o.Decimals)
			style := ""
			if mt, mc, ok := mapped(o, x); ok {
				text = mt
				switch o.CellType {
				case "color-background":
					style = fmt.Sprintf(` style="background:%s;color:#111"`, mc)
				case "color-text":
					style = fmt.Sprintf(` style="color:%s"`, mc)
				}
			}
			fmt.Fprintf(&b, `<td%s>%s</td>`, style, html.EscapeString(text))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</table>`)
	return b.String()
}

// sortRows sorts t's rows by the panel's first sortBy column, if it has
// one.
func sortRows(p *dashboards.Panel, t *dashboards.Table) {
	sb, ok := p.Options["sortBy"].([]any)
	if !ok || len(sb) == 0 {
		return
	}
	m, _ := sb[0].(map[string]any)
	ci := slices.Index(t.Columns, fmt.Sprint(m["displayName"]))
	desc := m["desc"] == true
	if ci < 0 {
		return
	}
	slices.SortStableFunc(t.Rows, func(a, b dashboards.Values) int {
		c := compareAny(a[ci], b[ci])
		if desc {
			return -c
		}
		return c
	})
}

// compareAny orders table values: numbers, then times, nil first, and
// anything else by its text.
func compareAny(a, b any) int {
	switch a := a.(type) {
	case float64:
		if b, ok := b.(float64); ok {
			return cmp.Compare(a, b)
		}
		return 1
	case time.Time:
		if b, ok := b.(time.Time); ok {
			return a.Compare(b)
		}
	case nil:
		if b == nil {
			return 0
		}
		return -1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}
