package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// formatter formats values as Grafana does in a unit, roughly. now is the
// time dateTimeFromNow counts back from (when the snapshot was taken).
type formatter struct {
	now time.Time
}

// value formats v, a query value, in unit with decimals (nil: as many as
// the value needs).
func (f formatter) value(v any, unit string, decimals *int) string {
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
		return f.number(v, unit, decimals)
	}
	return fmt.Sprint(v)
}

// digits formats numbers with a fixed number of decimals, or with as many
// as the value's size calls for.
type digits struct{ fixed *int }

func (d digits) format(x float64) string {
	n := autoDecimals(x)
	if d.fixed != nil {
		n = *d.fixed
	}
	return strconv.FormatFloat(x, 'f', n, 64)
}

// autoDecimals is the number of decimals a value of x's size shows.
func autoDecimals(x float64) int {
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

func (f formatter) number(v float64, unit string, decimals *int) string {
	d := digits{decimals}
	switch {
	case unit == "percentunit":
		n := max(autoDecimals(v*100)-1, 0)
		if decimals != nil {
			n = *decimals
		}
		return strconv.FormatFloat(v*100, 'f', n, 64) + "%"
	case unit == "s":
		return d.seconds(v)
	case unit == "bytes":
		i := 0
		for math.Abs(v) >= 1024 && i < 4 {
			v /= 1024
			i++
		}
		return d.format(v) + " " + []string{"B", "KiB", "MiB", "GiB", "TiB"}[i]
	case unit == "dateTimeFromNow":
		ago := f.now.Sub(time.UnixMilli(int64(v))).Round(time.Second)
		return ago.String() + " ago"
	case strings.HasPrefix(unit, "suffix:"):
		return d.scaled(v) + " " + strings.TrimPrefix(unit, "suffix:")
	case unit == "none":
		return d.format(v)
	}
	return d.scaled(v)
}

// seconds is Grafana's "s": ms, s, min or hour.
func (d digits) seconds(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0 s"
	case a < 1:
		return d.format(v*1000) + " ms"
	case a < 60:
		return d.format(v) + " s"
	case a < 3600:
		return d.format(v/60) + " min"
	}
	return d.format(v/3600) + " hour"
}

// scaled is Grafana's "short": K, Mil, Bil.
func (d digits) scaled(v float64) string {
	for _, s := range []struct {
		f   float64
		suf string
	}{{1e9, " Bil"}, {1e6, " Mil"}, {1e3, " K"}} {
		if math.Abs(v) >= s.f {
			return d.format(v/s.f) + s.suf
		}
	}
	return d.format(v)
}

// axisLabel formats a tick of an axis from lo to hi with the decimals its
// step needs.
func (f formatter) axisLabel(v float64, unit string, lo, hi float64) string {
	step := niceStep((hi - lo) / 4)
	switch unit {
	case "percentunit":
		step *= 100
	case "s", "bytes", "dateTimeFromNow":
		return f.value(v, unit, nil)
	}
	d := 0
	for d < 6 && math.Abs(step*math.Pow(10, float64(d))-math.Round(step*math.Pow(10, float64(d)))) > 1e-9 {
		d++
	}
	if !strings.HasPrefix(unit, "suffix:") && unit != "none" && unit != "percentunit" && math.Abs(hi) >= 1000 {
		return f.value(v, unit, nil) // scaled: K, Mil
	}
	return f.value(v, unit, &d)
}

// niceRange widens [lo, hi] to round tick values.
func niceRange(lo, hi float64) (float64, float64) {
	step := niceStep((hi - lo) / 4)
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step
}

// niceStep is the round step (1, 2, 2.5 or 5 times a power of ten) at
// least raw.
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

// ticks are about five round values from lo to hi.
func ticks(lo, hi float64) []float64 {
	step := niceStep((hi - lo) / 4)
	var out []float64
	for v := lo; v <= hi+step/1e6; v += step {
		out = append(out, v)
	}
	return out
}

// timeTicks are at most six round times between from and to.
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

// calcName is a legend column's heading for a reducer.
func calcName(c string) string {
	if c == "lastNotNull" {
		return "Last *"
	}
	return strings.ToUpper(c[:1]) + c[1:]
}
