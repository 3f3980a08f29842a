package dashboards

// A picture of each dashboard for people, drawn from the same query
// results the test checks: an HTML page with one SVG or table per panel,
// laid out on Grafana's grid in Grafana's dark colors, shot with headless
// Chromium. It is not Grafana (which cannot run here, INFRA.md § 5): the
// panels follow their JSON (units, decimals, overrides, mappings,
// thresholds, bands, stacking, annotations) in a simplified drawing.

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Page geometry: Grafana's 24 columns on pageWidth pixels, gridUnit pixels
// per height unit.
const (
	pageWidth  = 1600
	pagePad    = 12
	gridUnit   = 30
	gridGap    = 8
	headerH    = 74
	panelTitle = 26
)

// Grafana's dark theme and named colors.
var namedColors = map[string]string{
	"green": "#73BF69", "yellow": "#FADE2A", "orange": "#FF9830", "red": "#F2495C",
	"blue": "#5794F2", "purple": "#B877D9", "dark-red": "#C4162A", "dark-blue": "#1F60C4",
	"text": "#CCCCDC", "transparent": "transparent",
}

var palette = []string{
	"#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
	"#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
}

func colorOf(name string) string {
	if c, ok := namedColors[name]; ok {
		return c
	}
	return name
}

// fieldOpts are the options of one field after the panel's overrides.
type fieldOpts struct {
	unit       string
	decimals   *int
	min, max   *float64
	mappings   []Mapping
	color      string // fixed color, "" for the palette
	lineWidth  float64
	dash       bool
	fillBelow  string
	fillOpac   float64
	bars       bool
	right      bool
	cellType   string
	thresholds Thresholds
}

// opts resolves field name's options in panel p: the defaults, then every
// matching override in order.
func opts(p *Panel, name string) fieldOpts {
	d := p.FieldConfig.Defaults
	o := fieldOpts{unit: d.Unit, decimals: d.Decimals, min: d.Min, max: d.Max, mappings: d.Mappings, thresholds: d.Thresholds, lineWidth: 1}
	if d.Color.Mode == "fixed" {
		o.color = colorOf(d.Color.FixedColor)
	}
	custom := func(k string, v any) {
		switch k {
		case "lineWidth":
			o.lineWidth = num(v)
		case "fillOpacity":
			o.fillOpac = num(v)
		case "fillBelowTo":
			o.fillBelow, _ = v.(string)
		case "drawStyle":
			o.bars = v == "bars"
		case "axisPlacement":
			o.right = v == "right"
		case "lineStyle":
			if m, ok := v.(map[string]any); ok {
				o.dash = m["fill"] == "dash"
			}
		case "cellOptions":
			if m, ok := v.(map[string]any); ok {
				o.cellType, _ = m["type"].(string)
			}
		}
	}
	for k, v := range d.Custom {
		custom(k, v)
	}
	for _, ov := range p.FieldConfig.Overrides {
		if !matches(ov.Matcher, name) {
			continue
		}
		for _, pr := range ov.Properties {
			switch {
			case pr.ID == "unit":
				o.unit, _ = pr.Value.(string)
			case pr.ID == "decimals":
				n := int(num(pr.Value))
				o.decimals = &n
			case pr.ID == "color":
				if m, ok := pr.Value.(map[string]any); ok {
					o.color = colorOf(fmt.Sprint(m["fixedColor"]))
				}
			case pr.ID == "mappings":
				o.mappings = toMappings(pr.Value)
			case strings.HasPrefix(pr.ID, "custom."):
				custom(strings.TrimPrefix(pr.ID, "custom."), pr.Value)
			}
		}
	}
	return o
}

func matches(m Matcher, name string) bool {
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

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}

// toMappings converts mappings decoded from JSON (or built in Go).
func toMappings(v any) []Mapping {
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

// mapped returns the text and color value maps to, if a mapping matches.
func mapped(ms []Mapping, v any) (text, color string, ok bool) {
	key := fmt.Sprint(v)
	if f, isNum := v.(float64); isNum {
		key = strconv.FormatFloat(f, 'f', -1, 64)
	}
	for _, m := range ms {
		if m.Type != "value" {
			continue
		}
		r, found := m.Options[key]
		if !found {
			continue
		}
		switch r := r.(type) {
		case MappingResult:
			return r.Text, colorOf(r.Color), true
		case map[string]any:
			t, _ := r["text"].(string)
			c, _ := r["color"].(string)
			return t, colorOf(c), true
		}
	}
	return "", "", false
}

// thresholdColor is the color of the step v falls in.
func thresholdColor(t Thresholds, v float64) string {
	c := ""
	for _, s := range t.Steps {
		if s.Value == nil || v >= *s.Value {
			c = colorOf(s.Color)
		}
	}
	return c
}

// formatValue formats v as Grafana would in unit, roughly.
func formatValue(v any, unit string, decimals *int) string {
	switch v := v.(type) {
	case nil:
		return "–"
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Local().Format("15:04:05")
	case float64:
		return formatNumber(v, unit, decimals)
	}
	return fmt.Sprint(v)
}

func formatNumber(v float64, unit string, decimals *int) string {
	dec := func(x float64, auto int) string {
		d := auto
		if decimals != nil {
			d = *decimals
		}
		return strconv.FormatFloat(x, 'f', d, 64)
	}
	auto := func(x float64) int {
		a := math.Abs(x)
		switch {
		case a == 0 || a >= 100 || a == math.Trunc(a):
			return 0
		case a >= 10:
			return 1
		case a >= 1:
			return 2
		}
		return 3
	}
	switch {
	case unit == "percentunit":
		return dec(v*100, max(auto(v*100)-1, 0)) + "%"
	case unit == "s":
		switch a := math.Abs(v); {
		case a == 0:
			return "0 s"
		case a < 1:
			return dec(v*1000, auto(v*1000)) + " ms"
		case a < 60:
			return dec(v, auto(v)) + " s"
		case a < 3600:
			return dec(v/60, auto(v/60)) + " min"
		}
		return dec(v/3600, auto(v/3600)) + " hour"
	case unit == "bytes":
		i := 0
		for math.Abs(v) >= 1024 && i < 4 {
			v /= 1024
			i++
		}
		return dec(v, auto(v)) + " " + []string{"B", "KiB", "MiB", "GiB", "TiB"}[i]
	case unit == "dateTimeFromNow":
		ago := time.Since(time.UnixMilli(int64(v))).Round(time.Second)
		return ago.String() + " ago"
	case strings.HasPrefix(unit, "suffix:"):
		return scaled(v, dec, auto) + " " + strings.TrimPrefix(unit, "suffix:")
	case unit == "none":
		return dec(v, auto(v))
	}
	return scaled(v, dec, auto)
}

// scaled is Grafana's "short": K, Mil, Bil.
func scaled(v float64, dec func(float64, int) string, auto func(float64) int) string {
	for _, s := range []struct {
		f   float64
		suf string
	}{{1e9, " Bil"}, {1e6, " Mil"}, {1e3, " K"}} {
		if math.Abs(v) >= s.f {
			return dec(v/s.f, auto(v/s.f)) + s.suf
		}
	}
	return dec(v, auto(v))
}

// renderPage draws the dashboard run as an HTML page and returns it with
// its height in pixels.
func renderPage(dr *dashboardRun) (string, int) {
	var b strings.Builder
	colW := float64(pageWidth-2*pagePad) / 24
	bottom := 0
	for _, pr := range dr.panels {
		bottom = max(bottom, pr.grid.Y+pr.grid.H)
	}
	height := headerH + bottom*gridUnit + pagePad
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#CCCCDC;font:12px Inter,"Helvetica Neue",Arial,sans-serif;width:%dpx;height:%dpx;position:relative;overflow:hidden}
.hdr{position:absolute;left:%dpx;top:8px;right:%dpx}
.hdr h1{font-size:18px;font-weight:500;margin:0 0 8px 0;color:#fff}
.vars span{display:inline-block;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:3px 8px;margin-right:6px}
.vars b{color:#6E9FFF;font-weight:500;margin-right:6px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;overflow:hidden}
.panel h2{font-size:13px;font-weight:500;margin:0;padding:5px 8px;height:16px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#CCCCDC}
.row{position:absolute;font-size:15px;font-weight:500;color:#fff;border-bottom:1px solid #2c3235}
.stats{display:flex;flex-wrap:wrap;gap:4px;padding:0 6px}
.stat{flex:1 1 0;border-radius:2px;text-align:center;color:#111;padding:4px;min-width:0}
.stat .v{font-size:26px;font-weight:500;line-height:1.2}
.stat .n{font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table{border-collapse:collapse;width:100%%;font-size:11.5px}
th{text-align:left;color:#6E9FFF;font-weight:500;border-bottom:1px solid #2c3235;padding:3px 6px;white-space:nowrap}
td{padding:2px 6px;border-bottom:1px solid #202226;white-space:nowrap}
.more{padding:3px 6px;color:#8e8e8e}
svg text{fill:#9fa7b3;font-size:10px}
.legend{padding:0 8px;font-size:11px;line-height:15px;overflow:hidden}
.legend i{display:inline-block;width:12px;height:3px;margin:0 4px 3px 10px;vertical-align:middle}
</style></head><body>`, pageWidth, height, pagePad, pagePad)
	fmt.Fprintf(&b, `<div class="hdr"><h1>%s</h1><div class="vars">`, html.EscapeString(dr.d.Title))
	for _, v := range dr.d.Templating.List {
		sel := dr.scope.vars[v.Name]
		val := strings.Join(sel.values, " + ")
		if sel.all {
			val = "All"
		}
		fmt.Fprintf(&b, `<span><b>%s</b>%s</span>`, html.EscapeString(v.Label), html.EscapeString(val))
	}
	fmt.Fprintf(&b, `<span><b>Time</b>%s to %s</span></div></div>`, dr.scope.from.Local().Format("15:04:05"), dr.scope.to.Local().Format("15:04:05"))
	for _, pr := range dr.panels {
		x := pagePad + int(float64(pr.grid.X)*colW)
		y := headerH + pr.grid.Y*gridUnit
		w := int(float64(pr.grid.W)*colW) - gridGap
		h := pr.grid.H*gridUnit - gridGap
		if pr.panel.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx">%s</div>`, x, y+4, w, h-2, html.EscapeString(pr.title))
			continue
		}
		fmt.Fprintf(&b, `<div class="panel" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx"><h2>%s</h2>`, x, y, w, h, html.EscapeString(pr.title))
		ch := h - panelTitle
		switch pr.panel.Type {
		case "timeseries":
			b.WriteString(drawTimeseries(pr, dr, w, ch))
		case "stat":
			b.WriteString(drawStats(pr, ch))
		case "table":
			b.WriteString(drawTable(pr, ch))
		case "state-timeline":
			b.WriteString(drawTimeline(pr, w, ch))
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</body></html>`)
	return b.String(), height
}

// plotted is one series ready to draw.
type plotted struct {
	s series
	o fieldOpts
}

func (pr *panelRun) plotted() []plotted {
	var out []plotted
	i := 0
	for _, r := range pr.results {
		for _, s := range r.series {
			o := opts(pr.panel, s.name)
			if o.color == "" {
				o.color = palette[i%len(palette)]
			}
			i++
			out = append(out, plotted{s, o})
		}
	}
	return out
}

// drawTimeseries draws lines, bars, bands and stacks with a left (and
// maybe right) axis, the thresholds, the annotations and a legend.
func drawTimeseries(pr *panelRun, dr *dashboardRun, w, h int) string {
	ps := pr.plotted()
	legendRight := false
	if lg, ok := pr.panel.Options["legend"].(map[string]any); ok {
		legendRight = lg["placement"] == "right"
	}
	legendH := 0
	plotW := w
	if legendRight {
		plotW = w * 62 / 100
	} else {
		legendH = 16 * ((len(ps) + 5) / 6)
		legendH = min(legendH, h/3)
	}
	const rightPad, top, bottomPad = 10, 6, 20
	hasRight := slices.ContainsFunc(ps, func(p plotted) bool { return p.o.right })
	left, right := 0, rightPad
	pw, ph := 0.0, float64(h-legendH-top-bottomPad)
	from, to := pr.scope.from, pr.scope.to
	xOf := func(t time.Time) float64 { return float64(left) + pw*float64(t.Sub(from))/float64(to.Sub(from)) }

	stacked := false
	if st, ok := pr.panel.FieldConfig.Defaults.Custom["stacking"].(map[string]any); ok {
		stacked = st["mode"] == "normal"
	}
	// Stack: cumulative values per timestamp, in series order.
	base := map[int64]float64{}
	type drawn struct {
		plotted
		ys, lows []float64
	}
	var ds []drawn
	for _, p := range ps {
		d := drawn{plotted: p}
		for i, v := range p.s.values {
			f, ok := v.(float64)
			if !ok {
				d.ys, d.lows = append(d.ys, math.NaN()), append(d.lows, math.NaN())
				continue
			}
			lo := 0.0
			if stacked {
				k := p.s.times[i].UnixMilli()
				lo = base[k]
				f += lo
				base[k] = f
			}
			d.ys, d.lows = append(d.ys, f), append(d.lows, lo)
		}
		ds = append(ds, d)
	}
	scale := func(right bool) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, d := range ds {
			if d.o.right != right {
				continue
			}
			for i, y := range d.ys {
				if !math.IsNaN(y) {
					lo, hi = min(lo, y, d.lows[i]), max(hi, y)
				}
			}
		}
		def := pr.panel.FieldConfig.Defaults
		if soft, ok := def.Custom["axisSoftMin"]; ok && !right {
			lo = min(lo, num(soft))
		}
		if slices.ContainsFunc(ds, func(d drawn) bool { return d.o.bars && d.o.right == right }) || stacked {
			lo = min(lo, 0)
		}
		if !right && def.Min != nil {
			lo = *def.Min
		}
		if !right && def.Max != nil {
			hi = *def.Max
		}
		if math.IsInf(lo, 0) {
			lo, hi = 0, 1
		}
		if hi <= lo {
			hi = lo + math.Max(1, math.Abs(lo)*0.1)
		}
		lo, hi, _ = niceRange(lo, hi)
		return lo, hi
	}
	lLo, lHi := scale(false)
	rLo, rHi := scale(true)
	unitL, unitR := pr.panel.FieldConfig.Defaults.Unit, ""
	for _, d := range ds {
		if d.o.right {
			unitR = d.o.unit
		}
	}
	labelW := func(lo, hi float64, unit string) int {
		w := 0
		for _, v := range ticks(lo, hi) {
			w = max(w, len(axisLabel(v, unit, lo, hi)))
		}
		return 8 + 6*w
	}
	left = labelW(lLo, lHi, unitL)
	if hasRight {
		right = labelW(rLo, rHi, unitR)
	}
	pw = float64(plotW - left - right)
	yOf := func(v float64, right bool) float64 {
		lo, hi := lLo, lHi
		if right {
			lo, hi = rLo, rHi
		}
		return top + ph*(1-(v-lo)/(hi-lo))
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<div style="display:flex"><svg width="%d" height="%d">`, plotW, h-legendH)
	// Grid and axes.
	for _, v := range ticks(lLo, lHi) {
		y := yOf(v, false)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#2c3235"/>`, left, float64(left)+pw, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-4, y+3, html.EscapeString(axisLabel(v, unitL, lLo, lHi)))
	}
	if hasRight {
		for _, v := range ticks(rLo, rHi) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, float64(left)+pw+4, yOf(v, true)+3, html.EscapeString(axisLabel(v, unitR, rLo, rHi)))
		}
	}
	for _, t := range timeTicks(from, to) {
		x := xOf(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#22252b"/>`, x, x, top, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, top+ph+14, t.Local().Format("15:04:05"))
	}
	// Thresholds drawn as dashed lines.
	if ts, ok := pr.panel.FieldConfig.Defaults.Custom["thresholdsStyle"].(map[string]any); ok && ts["mode"] == "dashed" {
		for _, s := range pr.panel.FieldConfig.Defaults.Thresholds.Steps {
			if s.Value != nil {
				y := yOf(*s.Value, false)
				fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="8 5" stroke-width="1.5"/>`, left, float64(left)+pw, y, y, colorOf(s.Color))
			}
		}
	}
	// Bands: a series filled down to another.
	byName := map[string]*drawn{}
	for i := range ds {
		byName[ds[i].s.name] = &ds[i]
	}
	for _, d := range ds {
		other := byName[d.o.fillBelow]
		if other == nil {
			continue
		}
		lower := map[int64]float64{}
		for i, t := range other.s.times {
			lower[t.UnixMilli()] = other.ys[i]
		}
		var up, down []string
		for i, t := range d.s.times {
			lo, ok := lower[t.UnixMilli()]
			if !ok || math.IsNaN(lo) || math.IsNaN(d.ys[i]) {
				continue
			}
			up = append(up, fmt.Sprintf("%.1f,%.1f", xOf(t), yOf(d.ys[i], d.o.right)))
			down = append(down, fmt.Sprintf("%.1f,%.1f", xOf(t), yOf(lo, d.o.right)))
		}
		slices.Reverse(down)
		fmt.Fprintf(&b, `<polygon points="%s %s" fill="%s" fill-opacity="%.2f"/>`, strings.Join(up, " "), strings.Join(down, " "), d.o.color, max(d.o.fillOpac, 10)/100)
	}
	// Series.
	// Bars of several series side by side in each slot (unless stacked).
	nBars := 0
	for _, d := range ds {
		if d.o.bars {
			nBars++
		}
	}
	slot := math.Max(1, pw*float64(minGap(ps))/float64(to.Sub(from))*0.8)
	barW, bar := slot, 0
	if !stacked && nBars > 1 {
		barW = slot / float64(nBars)
	}
	for _, d := range ds {
		if d.o.bars {
			off := -slot / 2
			if !stacked && nBars > 1 {
				off += float64(bar) * barW
			}
			bar++
			for i, t := range d.s.times {
				if math.IsNaN(d.ys[i]) {
					continue
				}
				y0, y1 := yOf(d.lows[i], d.o.right), yOf(d.ys[i], d.o.right)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.85"/>`, xOf(t)+off, math.Min(y0, y1), math.Max(barW-0.5, 0.5), math.Abs(y0-y1), d.o.color)
			}
			continue
		}
		var segs []string
		var cur []string
		var area []string
		for i, t := range d.s.times {
			if math.IsNaN(d.ys[i]) {
				if len(cur) > 0 {
					segs = append(segs, strings.Join(cur, " "))
				}
				cur = nil
				continue
			}
			cur = append(cur, fmt.Sprintf("%.1f,%.1f", xOf(t), yOf(d.ys[i], d.o.right)))
			if stacked {
				area = append(area, fmt.Sprintf("%.1f,%.1f", xOf(t), yOf(d.ys[i], d.o.right)))
			}
		}
		if len(cur) > 0 {
			segs = append(segs, strings.Join(cur, " "))
		}
		if stacked && len(area) > 0 {
			var down []string
			for i := len(d.s.times) - 1; i >= 0; i-- {
				if !math.IsNaN(d.ys[i]) {
					down = append(down, fmt.Sprintf("%.1f,%.1f", xOf(d.s.times[i]), yOf(d.lows[i], d.o.right)))
				}
			}
			fmt.Fprintf(&b, `<polygon points="%s %s" fill="%s" fill-opacity="0.6"/>`, strings.Join(area, " "), strings.Join(down, " "), d.o.color)
		}
		if d.o.lineWidth <= 0 {
			continue
		}
		dash := ""
		if d.o.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		for _, s := range segs {
			if !strings.Contains(s, " ") {
				xy := strings.Split(s, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" fill="%s"/>`, xy[0], xy[1], d.o.color)
				continue
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`, s, d.o.color, d.o.lineWidth, dash)
		}
	}
	// Annotations: the dashboard's annotation results, as Grafana marks them
	// on every time series panel.
	for _, a := range dr.annotations {
		if a.table == nil {
			continue
		}
		for _, row := range a.table.rows {
			if t, ok := row[0].(time.Time); ok {
				x := xOf(t)
				fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#FF9830" stroke-dasharray="2 3" stroke-opacity="0.55"/>`, x, x, top, top+ph)
				fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="#FF9830"/>`, x, top+ph, x-3, top+ph+5, x+3, top+ph+5)
			}
		}
	}
	b.WriteString(`</svg>`)
	// Legend.
	if legendRight {
		lg, _ := pr.panel.Options["legend"].(map[string]any)
		calcs := []string{}
		if c, ok := lg["calcs"].([]any); ok {
			for _, e := range c {
				calcs = append(calcs, fmt.Sprint(e))
			}
		}
		fmt.Fprintf(&b, `<div style="width:%dpx;height:%dpx;overflow:hidden;font-size:11px"><table><tr><th></th>`, w-plotW, h)
		for _, c := range calcs {
			fmt.Fprintf(&b, `<th>%s</th>`, calcName(c))
		}
		b.WriteString(`</tr>`)
		rows := slices.Clone(ps)
		if len(calcs) > 0 {
			slices.SortStableFunc(rows, func(a, b plotted) int { return cmp.Compare(calc(b.s, calcs[0]), calc(a.s, calcs[0])) })
		}
		for _, p := range rows {
			fmt.Fprintf(&b, `<tr><td><i style="display:inline-block;width:10px;height:3px;background:%s;margin-right:5px;vertical-align:middle"></i>%s</td>`, p.o.color, html.EscapeString(p.s.name))
			for _, c := range calcs {
				fmt.Fprintf(&b, `<td>%s</td>`, formatValue(calc(p.s, c), p.o.unit, p.o.decimals))
			}
			b.WriteString(`</tr>`)
		}
		b.WriteString(`</table></div></div>`)
		return b.String()
	}
	b.WriteString(`</div><div class="legend">`)
	for _, p := range ps {
		fmt.Fprintf(&b, `<span style="white-space:nowrap"><i style="background:%s"></i>%s</span> `, p.o.color, html.EscapeString(p.s.name))
	}
	b.WriteString(`</div>`)
	return b.String()
}

func calcName(c string) string {
	switch c {
	case "lastNotNull":
		return "Last *"
	}
	return strings.ToUpper(c[:1]) + c[1:]
}

// calc reduces a series: max, mean, lastNotNull.
func calc(s series, name string) float64 {
	var vals []float64
	for _, v := range s.values {
		if f, ok := v.(float64); ok {
			vals = append(vals, f)
		}
	}
	if len(vals) == 0 {
		return math.NaN()
	}
	switch name {
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

// minGap is the shortest time between two points of a series: a bar's
// slot.
func minGap(ps []plotted) time.Duration {
	gap := time.Duration(math.MaxInt64)
	for _, p := range ps {
		for i := 1; i < len(p.s.times); i++ {
			if d := p.s.times[i].Sub(p.s.times[i-1]); d > 0 {
				gap = min(gap, d)
			}
		}
	}
	if gap == time.Duration(math.MaxInt64) {
		return time.Second
	}
	return gap
}

// niceRange widens [lo, hi] to round tick values.
func niceRange(lo, hi float64) (float64, float64, float64) {
	step := niceStep((hi - lo) / 4)
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func ticks(lo, hi float64) []float64 {
	step := niceStep((hi - lo) / 4)
	var out []float64
	for v := lo; v <= hi+step/1e6; v += step {
		out = append(out, v)
	}
	return out
}

// axisLabel formats a tick with the decimals its step needs.
func axisLabel(v float64, unit string, lo, hi float64) string {
	step := niceStep((hi - lo) / 4)
	switch unit {
	case "percentunit":
		step *= 100
	case "s", "bytes", "dateTimeFromNow":
		return formatValue(v, unit, nil)
	}
	d := 0
	for d < 6 && math.Abs(step*math.Pow(10, float64(d))-math.Round(step*math.Pow(10, float64(d)))) > 1e-9 {
		d++
	}
	if !strings.HasPrefix(unit, "suffix:") && unit != "none" && unit != "percentunit" && math.Abs(hi) >= 1000 {
		return formatValue(v, unit, nil) // scaled: K, Mil
	}
	return formatValue(v, unit, &d)
}

func timeTicks(from, to time.Time) []time.Time {
	span := to.Sub(from)
	step := time.Second
	for _, s := range []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, time.Hour} {
		if span/s <= 6 {
			step = s
			break
		}
	}
	var out []time.Time
	for t := from.Truncate(step).Add(step); t.Before(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// drawStats draws one colored box per series: its last value.
func drawStats(pr *panelRun, h int) string {
	var b strings.Builder
	showName := pr.panel.Options["textMode"] != "value"
	fmt.Fprintf(&b, `<div class="stats" style="height:%dpx">`, h-6)
	for _, p := range pr.plotted() {
		var last any
		for _, v := range p.s.values {
			if v != nil {
				last = v
			}
		}
		text := formatValue(last, p.o.unit, p.o.decimals)
		color := "#2c3235"
		if t, c, ok := mapped(p.o.mappings, last); ok {
			text, color = t, c
		} else if f, ok := last.(float64); ok {
			color = thresholdColor(p.o.thresholds, f)
		}
		fmt.Fprintf(&b, `<div class="stat" style="background:%s"><div class="v">%s</div>`, color, html.EscapeString(text))
		if showName {
			fmt.Fprintf(&b, `<div class="n">%s</div>`, html.EscapeString(p.s.name))
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	return b.String()
}

// drawTable draws a table panel: its transformations, its sort, its
// per-column units, mappings and cell colors, as many rows as fit.
func drawTable(pr *panelRun, h int) string {
	t := pr.results[0].table
	cols, rows := organized(pr.panel, t)
	if sb, ok := pr.panel.Options["sortBy"].([]any); ok && len(sb) > 0 {
		m, _ := sb[0].(map[string]any)
		ci := slices.Index(cols, fmt.Sprint(m["displayName"]))
		desc := m["desc"] == true
		if ci >= 0 {
			slices.SortStableFunc(rows, func(a, b []any) int {
				c := compareAny(a[ci], b[ci])
				if desc {
					return -c
				}
				return c
			})
		}
	}
	var b strings.Builder
	b.WriteString(`<table><tr>`)
	for _, c := range cols {
		fmt.Fprintf(&b, `<th>%s</th>`, html.EscapeString(c))
	}
	b.WriteString(`</tr>`)
	fit := max((h-24)/20, 1)
	for i, row := range rows {
		if i == fit-1 && len(rows) > fit {
			fmt.Fprintf(&b, `</table><div class="more">… %d more rows</div>`, len(rows)-i)
			return b.String()
		}
		b.WriteString(`<tr>`)
		for ci, v := range row {
			o := opts(pr.panel, cols[ci])
			text := formatValue(v, o.unit, o.decimals)
			style := ""
			if mt, mc, ok := mapped(o.mappings, v); ok {
				text = mt
				switch o.cellType {
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

// organized applies the panel's organize transformations to t.
func organized(p *Panel, t *tableData) ([]string, [][]any) {
	cols := slices.Clone(t.columns)
	keep := make([]bool, len(cols))
	for i := range keep {
		keep[i] = true
	}
	for _, tr := range p.Transformations {
		if tr.ID != "organize" {
			continue
		}
		rename, _ := tr.Options["renameByName"].(map[string]any)
		exclude, _ := tr.Options["excludeByName"].(map[string]any)
		for i, c := range cols {
			if exclude[c] == true {
				keep[i] = false
			}
			if to, ok := rename[c].(string); ok {
				cols[i] = to
			}
		}
	}
	var outCols []string
	for i, c := range cols {
		if keep[i] {
			outCols = append(outCols, c)
		}
	}
	var rows [][]any
	for _, r := range t.rows {
		var out []any
		for i, v := range r {
			if keep[i] {
				out = append(out, v)
			}
		}
		rows = append(rows, out)
	}
	return outCols, rows
}

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

// drawTimeline draws one row per series, each value a colored span until
// the next.
func drawTimeline(pr *panelRun, w, h int) string {
	ps := pr.plotted()
	const labelW, bottomPad, legendH = 110, 18, 18
	from, to := pr.scope.from, pr.scope.to
	pw := float64(w - labelW - 10)
	xOf := func(t time.Time) float64 {
		return labelW + pw*math.Max(0, math.Min(1, float64(t.Sub(from))/float64(to.Sub(from))))
	}
	rowsH := float64(h - bottomPad - legendH - 4)
	rowH := rowsH / float64(max(len(ps), 1))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d">`, w, h-legendH)
	seen := map[string]string{}
	var order []string
	for i, p := range ps {
		y := 2 + float64(i)*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y+rowH/2+3, html.EscapeString(p.s.name))
		step := time.Duration(0)
		if len(p.s.times) > 1 {
			step = p.s.times[1].Sub(p.s.times[0])
		}
		for j, t := range p.s.times {
			v := p.s.values[j]
			if v == nil {
				continue
			}
			end := t.Add(max(step, time.Second))
			if j+1 < len(p.s.times) && p.s.times[j+1].Sub(t) <= 2*max(step, time.Second) {
				end = p.s.times[j+1]
			}
			text, color, ok := mapped(p.o.mappings, v)
			if !ok {
				text, color = fmt.Sprint(v), p.o.color
			}
			if _, ok := seen[text]; !ok {
				seen[text] = color
				order = append(order, text)
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.8"/>`, xOf(t), y+1, math.Max(1, xOf(end)-xOf(t)), math.Max(1, rowH*0.85), color)
		}
	}
	for _, t := range timeTicks(from, to) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, xOf(t), rowsH+14, t.Local().Format("15:04:05"))
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, t := range order {
		fmt.Fprintf(&b, `<span><i style="background:%s;height:8px"></i>%s</span> `, seen[t], html.EscapeString(t))
	}
	b.WriteString(`</div>`)
	return b.String()
}

// chromiumFlags make headless Chromium quiet and self-contained (INFRA.md
// § 6).
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--hide-scrollbars", "--force-device-scale-factor=1",
}

// screenshot renders the HTML file page to png with Chromium.
func screenshot(ctx context.Context, bin, page, png, profile string, height int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := append(slices.Clone(chromiumFlags), "--user-data-dir="+profile,
		fmt.Sprintf("--window-size=%d,%d", pageWidth, height), "--screenshot="+png, "file://"+page)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chromium: %w: %s", err, tail(out))
	}
	if _, err := os.Stat(png); err != nil {
		return fmt.Errorf("chromium wrote no screenshot: %s", tail(out))
	}
	return nil
}

func tail(b []byte) string {
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}
