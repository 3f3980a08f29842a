package render

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/dashboards"
)

// timeline draws a state timeline: one row per series, each value a
// colored span until the next, and a legend of the values shown.
func (v *view) timeline(pd *dashboards.PanelData, w, h int) string {
	ps := plottedSeries(pd)
	const labelW, bottomPad, legendH = 110, 18, 18
	from, to := v.s.From, v.s.To
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
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y+rowH/2+3, html.EscapeString(p.s.Name))
		step := time.Duration(0)
		if len(p.s.Times) > 1 {
			step = p.s.Times[1].Sub(p.s.Times[0])
		}
		for j, t := range p.s.Times {
			val := p.s.Values[j]
			if val == nil {
				continue
			}
			end := t.Add(max(step, time.Second))
			if j+1 < len(p.s.Times) && p.s.Times[j+1].Sub(t) <= 2*max(step, time.Second) {
				end = p.s.Times[j+1]
			}
			text, color, ok := mapped(p.o, val)
			if !ok {
				text, color = fmt.Sprint(val), p.color
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
