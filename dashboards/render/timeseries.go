package render

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/dashboards"
)

// The plot area of a time series panel: padding right (without a right
// axis), above and below (the time axis).
const tsRightPad, tsTop, tsBottomPad = 10, 6, 20

// timeseries draws a time series panel: lines, bars, bands and stacks on
// a left (and maybe right) axis, the thresholds, the dashboard's
// annotations, and a legend below or, with its reducers, on the right.
func (v *view) timeseries(pd *dashboards.PanelData, w, h int) string {
	ps := plottedSeries(pd)
	lg, _ := pd.Panel.Options["legend"].(map[string]any)
	legendRight := lg["placement"] == "right"
	legendH, plotW := 0, w
	if legendRight {
		plotW = w * 62 / 100
	} else {
		legendH = min(16*((len(ps)+5)/6), h/3)
	}
	pl := v.newPlot(pd.Panel, ps, plotW, h-legendH)
	var b strings.Builder
	fmt.Fprintf(&b, `<div style="display:flex"><svg width="%d" height="%d">`, plotW, h-legendH)
	pl.axes(&b)
	pl.thresholds(&b)
	pl.bands(&b)
	pl.series(&b)
	pl.annotations(&b, v.s.Annotations)
	b.WriteString(`</svg>`)
	if legendRight {
		v.legendTable(&b, lg, ps, w-plotW, h)
		b.WriteString(`</div>`)
		return b.String()
	}
	b.WriteString(`</div><div class="legend">`)
	for _, p := range ps {
		fmt.Fprintf(&b, `<span style="white-space:nowrap"><i style="background:%s"></i>%s</span> `, p.color, html.EscapeString(p.s.Name))
	}
	b.WriteString(`</div>`)
	return b.String()
}

// drawn is a series as drawn: each value's top (stacked: the sum up to
// this series) and bottom (0, or the top of the stack below); NaN where
// it has no number.
type drawn struct {
	plotted
	ys, lows []float64
}

// plot is a time series panel's plot area: the time range, the scales of
// both axes and the series to draw.
type plot struct {
	f        formatter
	def      dashboards.FieldOptions
	from, to time.Time
	// left and right are the widths of the axis labels; pw and ph the
	// size of the plot between them.
	left, right        int
	pw, ph             float64
	lLo, lHi, rLo, rHi float64
	unitL, unitR       string
	hasRight           bool
	ds                 []drawn
}

// newPlot lays out a plot of ps plotW pixels wide and svgH high.
func (v *view) newPlot(p *dashboards.Panel, ps []plotted, plotW, svgH int) *plot {
	pl := &plot{
		f: v.f, def: p.DefaultFieldOptions(), from: v.s.From, to: v.s.To,
		right: tsRightPad, ph: float64(svgH - tsTop - tsBottomPad),
	}
	pl.stack(ps)
	pl.lLo, pl.lHi = pl.scale(false)
	pl.rLo, pl.rHi = pl.scale(true)
	pl.unitL = pl.def.Unit
	for _, d := range pl.ds {
		if d.o.RightAxis {
			pl.unitR, pl.hasRight = d.o.Unit, true
		}
	}
	pl.left = pl.labelWidth(pl.lLo, pl.lHi, pl.unitL)
	if pl.hasRight {
		pl.right = pl.labelWidth(pl.rLo, pl.rHi, pl.unitR)
	}
	pl.pw = float64(plotW - pl.left - pl.right)
	return pl
}

// stack computes what each series draws: its values, or added on top of
// the series before it at the same time when the panel stacks.
func (pl *plot) stack(ps []plotted) {
	base := map[int64]float64{}
	for _, p := range ps {
		d := drawn{plotted: p}
		for i, x := range p.s.Values {
			f, ok := x.(float64)
			if !ok {
				d.ys, d.lows = append(d.ys, math.NaN()), append(d.lows, math.NaN())
				continue
			}
			lo := 0.0
			if pl.def.Stacked {
				k := p.s.Times[i].UnixMilli()
				lo = base[k]
				f += lo
				base[k] = f
			}
			d.ys, d.lows = append(d.ys, f), append(d.lows, lo)
		}
		pl.ds = append(pl.ds, d)
	}
}

// scale is the range of the left or right axis: what its series draw,
// from 0 for bars and stacks, within the panel's min, max and soft min,
// widened to round ticks.
func (pl *plot) scale(right bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, d := range pl.ds {
		if d.o.RightAxis != right {
			continue
		}
		for i, y := range d.ys {
			if !math.IsNaN(y) {
				lo, hi = min(lo, y, d.lows[i]), max(hi, y)
			}
		}
	}
	if pl.def.SoftMin != nil && !right {
		lo = min(lo, *pl.def.SoftMin)
	}
	if slices.ContainsFunc(pl.ds, func(d drawn) bool { return d.o.Bars && d.o.RightAxis == right }) || pl.def.Stacked {
		lo = min(lo, 0)
	}
	if !right && pl.def.Min != nil {
		lo = *pl.def.Min
	}
	if !right && pl.def.Max != nil {
		hi = *pl.def.Max
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi <= lo {
		hi = lo + math.Max(1, math.Abs(lo)*0.1)
	}
	return niceRange(lo, hi)
}

// labelWidth is the width in pixels of an axis' labels.
func (pl *plot) labelWidth(lo, hi float64, unit string) int {
	w := 0
	for _, v := range ticks(lo, hi) {
		w = max(w, len(pl.f.axisLabel(v, unit, lo, hi)))
	}
	return 8 + 6*w
}

// x is the horizontal position of t.
func (pl *plot) x(t time.Time) float64 {
	return float64(pl.left) + pl.pw*float64(t.Sub(pl.from))/float64(pl.to.Sub(pl.from))
}

// y is the vertical position of v on the left or right axis.
func (pl *plot) y(v float64, right bool) float64 {
	lo, hi := pl.lLo, pl.lHi
	if right {
		lo, hi = pl.rLo, pl.rHi
	}
	return tsTop + pl.ph*(1-(v-lo)/(hi-lo))
}

// point is x,y of a value.
func (pl *plot) point(t time.Time, v float64, right bool) string {
	return fmt.Sprintf("%.1f,%.1f", pl.x(t), pl.y(v, right))
}

// axes draws the grid, the left (and right) axis labels and the time
// axis.
func (pl *plot) axes(b *strings.Builder) {
	for _, v := range ticks(pl.lLo, pl.lHi) {
		y := pl.y(v, false)
		fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#2c3235"/>`, pl.left, float64(pl.left)+pl.pw, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, pl.left-4, y+3, html.EscapeString(pl.f.axisLabel(v, pl.unitL, pl.lLo, pl.lHi)))
	}
	if pl.hasRight {
		for _, v := range ticks(pl.rLo, pl.rHi) {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`, float64(pl.left)+pl.pw+4, pl.y(v, true)+3, html.EscapeString(pl.f.axisLabel(v, pl.unitR, pl.rLo, pl.rHi)))
		}
	}
	for _, t := range timeTicks(pl.from, pl.to) {
		x := pl.x(t)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#22252b"/>`, x, x, tsTop, tsTop+pl.ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, tsTop+pl.ph+14, t.Local().Format("15:04:05"))
	}
}

// thresholds draws the thresholds as dashed lines, if the panel says so.
func (pl *plot) thresholds(b *strings.Builder) {
	if !pl.def.DashedThresholds {
		return
	}
	for _, s := range pl.def.Thresholds.Steps {
		if s.Value != nil {
			y := pl.y(*s.Value, false)
			fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="8 5" stroke-width="1.5"/>`, pl.left, float64(pl.left)+pl.pw, y, y, colorOf(s.Color))
		}
	}
}

// bands fills each series that has fillBelowTo down to that series.
func (pl *plot) bands(b *strings.Builder) {
	byName := map[string]*drawn{}
	for i := range pl.ds {
		byName[pl.ds[i].s.Name] = &pl.ds[i]
	}
	for _, d := range pl.ds {
		other := byName[d.o.FillBelowTo]
		if other == nil {
			continue
		}
		lower := map[int64]float64{}
		for i, t := range other.s.Times {
			lower[t.UnixMilli()] = other.ys[i]
		}
		var up, down []string
		for i, t := range d.s.Times {
			lo, ok := lower[t.UnixMilli()]
			if !ok || math.IsNaN(lo) || math.IsNaN(d.ys[i]) {
				continue
			}
			up = append(up, pl.point(t, d.ys[i], d.o.RightAxis))
			down = append(down, pl.point(t, lo, d.o.RightAxis))
		}
		slices.Reverse(down)
		fmt.Fprintf(b, `<polygon points="%s %s" fill="%s" fill-opacity="%.2f"/>`, strings.Join(up, " "), strings.Join(down, " "), d.color, max(d.o.FillOpacity, 10)/100)
	}
}

// series draws the series in order, each as bars or a line.
func (pl *plot) series(b *strings.Builder) {
	bl := pl.barLayout()
	for _, d := range pl.ds {
		if d.o.Bars {
			off, width := bl.next()
			pl.bars(b, d, off, width)
			continue
		}
		pl.line(b, d)
	}
}

// barLayout places the bar series' bars in each time slot: side by side,
// or on top of each other when stacked.
type barLayout struct {
	slot, width float64
	sideBySide  bool
	n           int // bar series placed so far
}

func (pl *plot) barLayout() *barLayout {
	nBars := 0
	for _, d := range pl.ds {
		if d.o.Bars {
			nBars++
		}
	}
	slot := math.Max(1, pl.pw*float64(minGap(pl.ds))/float64(pl.to.Sub(pl.from))*0.8)
	bl := &barLayout{slot: slot, width: slot, sideBySide: !pl.def.Stacked && nBars > 1}
	if bl.sideBySide {
		bl.width = slot / float64(nBars)
	}
	return bl
}

// next returns the offset from its time of the next bar series' bars,
// and their width.
func (bl *barLayout) next() (offset, width float64) {
	offset = -bl.slot / 2
	if bl.sideBySide {
		offset += float64(bl.n) * bl.width
	}
	bl.n++
	return offset, bl.width
}

// bars draws d as bars offset from their times.
func (pl *plot) bars(b *strings.Builder, d drawn, off, barW float64) {
	for i, t := range d.s.Times {
		if math.IsNaN(d.ys[i]) {
			continue
		}
		y0, y1 := pl.y(d.lows[i], d.o.RightAxis), pl.y(d.ys[i], d.o.RightAxis)
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.85"/>`, pl.x(t)+off, math.Min(y0, y1), math.Max(barW-0.5, 0.5), math.Abs(y0-y1), d.color)
	}
}

// minGap is the shortest time between two points of a series: a bar's
// slot.
func minGap(ds []drawn) time.Duration {
	gap := time.Duration(math.MaxInt64)
	for _, d := range ds {
		for i := 1; i < len(d.s.Times); i++ {
			if g := d.s.Times[i].Sub(d.s.Times[i-1]); g > 0 {
				gap = min(gap, g)
			}
		}
	}
	if gap == time.Duration(math.MaxInt64) {
		return time.Second
	}
	return gap
}

// line draws d as a line: a polyline per run of values (a dot for a
// lone value), over the stack's area when stacked.
func (pl *plot) line(b *strings.Builder, d drawn) {
	if pl.def.Stacked {
		pl.stackArea(b, d)
	}
	if d.o.LineWidth <= 0 {
		return
	}
	dash := ""
	if d.o.Dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	for _, s := range pl.segments(d) {
		if len(s) == 1 {
			xy := strings.Split(s[0], ",")
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="2" fill="%s"/>`, xy[0], xy[1], d.color)
			continue
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`, strings.Join(s, " "), d.color, d.o.LineWidth, dash)
	}
}

// segments are d's runs of values without a gap, as points.
func (pl *plot) segments(d drawn) [][]string {
	var segs [][]string
	var cur []string
	for i, t := range d.s.Times {
		if math.IsNaN(d.ys[i]) {
			if len(cur) > 0 {
				segs = append(segs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, pl.point(t, d.ys[i], d.o.RightAxis))
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// stackArea fills a stacked series between its values and the stack
// below.
func (pl *plot) stackArea(b *strings.Builder, d drawn) {
	var up, down []string
	for i, t := range d.s.Times {
		if !math.IsNaN(d.ys[i]) {
			up = append(up, pl.point(t, d.ys[i], d.o.RightAxis))
		}
	}
	if len(up) == 0 {
		return
	}
	for i := len(d.s.Times) - 1; i >= 0; i-- {
		if !math.IsNaN(d.ys[i]) {
			down = append(down, pl.point(d.s.Times[i], d.lows[i], d.o.RightAxis))
		}
	}
	fmt.Fprintf(b, `<polygon points="%s %s" fill="%s" fill-opacity="0.6"/>`, strings.Join(up, " "), strings.Join(down, " "), d.color)
}

// annotations marks the dashboard's annotations, as Grafana marks them
// on every time series panel: the time in the first column of each row
// of the annotation queries' tables.
func (pl *plot) annotations(b *strings.Builder, rs []dashboards.Result) {
	for _, r := range rs {
		if r.Table == nil {
			continue
		}
		for _, row := range r.Table.Rows {
			if t, ok := row[0].(time.Time); ok {
				x := pl.x(t)
				fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#FF9830" stroke-dasharray="2 3" stroke-opacity="0.55"/>`, x, x, tsTop, tsTop+pl.ph)
				fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="#FF9830"/>`, x, tsTop+pl.ph, x-3, tsTop+pl.ph+5, x+3, tsTop+pl.ph+5)
			}
		}
	}
}

// legendTable draws a legend on the right: a row per series with its
// reducers (the legend's calcs), sorted by the first.
func (v *view) legendTable(b *strings.Builder, lg map[string]any, ps []plotted, w, h int) {
	var calcs []string
	if c, ok := lg["calcs"].([]any); ok {
		for _, e := range c {
			calcs = append(calcs, fmt.Sprint(e))
		}
	}
	fmt.Fprintf(b, `<div style="width:%dpx;height:%dpx;overflow:hidden;font-size:11px"><table><tr><th></th>`, w, h)
	for _, c := range calcs {
		fmt.Fprintf(b, `<th>%s</th>`, calcName(c))
	}
	b.WriteString(`</tr>`)
	rows := slices.Clone(ps)
	if len(calcs) > 0 {
		slices.SortStableFunc(rows, func(a, b plotted) int { return cmp.Compare(b.s.Reduce(calcs[0]), a.s.Reduce(calcs[0])) })
	}
	for _, p := range rows {
		fmt.Fprintf(b, `<tr><td><i style="display:inline-block;width:10px;height:3px;background:%s;margin-right:5px;vertical-align:middle"></i>%s</td>`, p.color, html.EscapeString(p.s.Name))
		for _, c := range calcs {
			fmt.Fprintf(b, `<td>%s</td>`, v.f.value(p.s.Reduce(c), p.o.Unit, p.o.Decimals))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</table></div>`)
}
