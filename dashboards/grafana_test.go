package dashboards

// What Grafana does with a panel's queries before they reach InfluxDB or
// Prometheus, re-done here so that the test runs the queries Grafana would
// send (Grafana itself cannot run on these machines, INFRA.md § 5):
//
//   - template variables: $var, ${var}, ${var:format} and [[var]], formatted
//     per datasource as Grafana's InfluxDB datasource ('regex' format for raw
//     InfluxQL) and Prometheus datasource (interpolateQueryExpr) do;
//   - the interval: the time range over the panel's width in pixels
//     (maxDataPoints), rounded as Grafana rounds it, and no finer than the
//     panel's or the datasource's minimum interval (timeInterval);
//   - the backend macros: $timeFilter, $__interval, $__interval_ms for
//     InfluxQL; $__interval, $__interval_ms, $__rate_interval, $__range,
//     $__range_s, $__range_ms for PromQL;
//   - series names: InfluxQL aliases ($col, $tag_x, $m) and Prometheus legend
//     formats ({{label}}).

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// datasource is a provisioned datasource as the test emulates it.
type datasource struct {
	typ string
	// timeInterval is the datasource's minimum interval ("Min time
	// interval"; for Prometheus, the scrape interval).
	timeInterval time.Duration
}

// selection is a variable's selected value(s) and its options.
type selection struct {
	v       Variable
	values  []string // selected values; every option when all
	all     bool
	options []string
}

// scope is what a panel's queries are expanded with.
type scope struct {
	from, to time.Time
	vars     map[string]*selection
	ds       map[string]datasource // by uid
}

// dashboardWidth is the width in pixels Grafana lays the 24 columns out on
// (a 1920 px screen, less the side menu and margins).
const dashboardWidth = 1800

// maxDataPoints is Grafana's default for a panel cols columns wide: its
// width in pixels.
func maxDataPoints(cols int) int { return max(cols*dashboardWidth/24-16, 100) }

// interval is $__interval for a panel of cols columns on datasource ds:
// range / maxDataPoints, rounded, and at least the minimum interval.
func (s *scope) interval(p *Panel, cols int, ds datasource) time.Duration {
	iv := roundInterval(s.to.Sub(s.from) / time.Duration(maxDataPoints(cols)))
	lowest := ds.timeInterval
	if p.Interval != "" {
		if d, err := parseGrafanaDuration(p.Interval); err == nil {
			lowest = d
		}
	}
	return max(iv, lowest)
}

// roundInterval is Grafana's (grafana-plugin-sdk-go gtime and the
// frontend's rangeutil).
func roundInterval(d time.Duration) time.Duration {
	ms := d.Milliseconds()
	steps := []struct{ upTo, to int64 }{
		{10, 1},
		{15, 10},
		{35, 20},
		{75, 50},
		{150, 100},
		{350, 200},
		{750, 500},
		{1500, 1000},
		{3500, 2000},
		{7500, 5000},
		{12500, 10000},
		{17500, 15000},
		{25000, 20000},
		{45000, 30000},
		{90000, 60000},
		{210000, 120000},
		{450000, 300000},
		{900000, 600000},
		{1350000, 900000},
		{2700000, 1200000},
		{5400000, 3600000},
		{9000000, 7200000},
		{16200000, 10800000},
		{32400000, 21600000},
		{86400000, 43200000},
		{604800000, 86400000},
		{1814400000, 604800000},
		{3628800000, 2592000000},
	}
	for _, s := range steps {
		if ms <= s.upTo {
			return time.Duration(s.to) * time.Millisecond
		}
	}
	return 365 * 24 * time.Hour
}

// formatInterval is Grafana's gtime.FormatInterval: the largest whole unit.
func formatInterval(d time.Duration) string {
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	switch {
	case d >= year:
		return fmt.Sprintf("%dy", d/year)
	case d >= day:
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d >= time.Second:
		return fmt.Sprintf("%ds", d/time.Second)
	case d >= time.Millisecond:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return "1ms"
}

// variableRef matches Grafana's variable syntaxes (templateSrv's regex):
// $var, [[var]] or [[var:fmt]], ${var}, ${var.field} or ${var:fmt}.
var variableRef = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// builtins are Grafana's global variables and the datasources' macros:
// expanded by Grafana, not defined by the dashboard.
var builtins = map[string]bool{
	"timeFilter": true, "__interval": true, "__interval_ms": true, "interval": true,
	"__rate_interval": true, "__range": true, "__range_s": true, "__range_ms": true,
	"__from": true, "__to": true, "__dashboard": true, "__user": true, "__org": true,
	"__name": true, "__timeFilter": true,
}

// references returns the variable names text refers to.
func references(text string) []string {
	var out []string
	for _, m := range variableRef.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1]+m[2]+m[4])
	}
	return out
}

// expandVariables replaces the dashboard's variables in text, formatting
// their values the way the datasource of type typ does.
func (s *scope) expandVariables(text, typ string) string {
	return variableRef.ReplaceAllStringFunc(text, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name, format := m[1]+m[2]+m[4], m[3]+m[6]
		sel, ok := s.vars[name]
		if !ok {
			return ref // a builtin, expanded later (or left for the check)
		}
		values := sel.values
		if typ == "" {
			// Titles: the text format.
			if sel.all {
				return "All"
			}
			return strings.Join(values, " + ")
		}
		if sel.all && sel.v.AllValue != "" {
			return sel.v.AllValue // custom all values are not formatted
		}
		switch {
		case format == "raw":
			return strings.Join(values, ",")
		case format == "regex" || typ == InfluxType:
			// Raw InfluxQL is interpolated with the 'regex' format.
			return regexFormat(values, sel.v.Multi || sel.v.IncludeAll)
		case typ == PrometheusType:
			return promFormat(values, sel.v.Multi || sel.v.IncludeAll)
		}
		return strings.Join(values, ",")
	})
}

// regexFormat is Grafana's 'regex' variable format: values regex-escaped,
// several as (a|b).
func regexFormat(values []string, multi bool) string {
	esc := make([]string, len(values))
	for i, v := range values {
		esc[i] = regexEscape(v)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

var regexSpecial = regexp.MustCompile(`[\\^$*+?.()|\[\]{}/]`)

func regexEscape(v string) string { return regexSpecial.ReplaceAllString(v, `\$0`) }

// promFormat is the Prometheus datasource's interpolateQueryExpr: a
// single-valued variable escapes quotes only; a multi-valued one is a regex
// of escaped values, written for a PromQL string (backslashes doubled).
func promFormat(values []string, multi bool) string {
	if !multi {
		v := strings.Join(values, ",")
		return strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\\'`)
	}
	esc := make([]string, len(values))
	for i, v := range values {
		v = strings.ReplaceAll(v, `\`, `\\\\`)
		esc[i] = promRegexSpecial.ReplaceAllString(v, `\\$0`)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

var promRegexSpecial = regexp.MustCompile(`[$^*{}\[\]+?.()|]`)

// influxQL expands an InfluxQL query as Grafana's InfluxDB datasource does
// (backend mode, pkg/tsdb/influxdb/models/query.go).
func (s *scope) influxQL(q string, interval time.Duration) string {
	q = s.expandVariables(q, InfluxType)
	tf := fmt.Sprintf("time >= %dms and time <= %dms", s.from.UnixMilli(), s.to.UnixMilli())
	q = strings.ReplaceAll(q, "$timeFilter", tf)
	q = strings.ReplaceAll(q, "$interval", formatInterval(interval))
	q = strings.ReplaceAll(q, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	return strings.ReplaceAll(q, "$__interval", formatInterval(interval))
}

// promQL expands a PromQL expression as Grafana's Prometheus datasource
// does (pkg/promlib: interpolateVariables).
func (s *scope) promQL(expr string, interval, scrape time.Duration) string {
	expr = s.expandVariables(expr, PrometheusType)
	rng := s.to.Sub(s.from)
	rangeS := int64(math.Round(rng.Seconds()))
	rate := max(interval+scrape, 4*scrape)
	expr = strings.ReplaceAll(expr, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	expr = strings.ReplaceAll(expr, "$__interval", formatInterval(interval))
	expr = strings.ReplaceAll(expr, "$__range_ms", strconv.FormatInt(rangeS*1000, 10))
	expr = strings.ReplaceAll(expr, "$__range_s", strconv.FormatInt(rangeS, 10))
	expr = strings.ReplaceAll(expr, "$__range", strconv.FormatInt(rangeS, 10)+"s")
	return strings.ReplaceAll(expr, "$__rate_interval", formatInterval(rate))
}

// leftover finds a variable or macro expansion left behind: a $ followed by
// a name or a brace. InfluxQL's regex anchors ($/) are not.
var leftover = regexp.MustCompile(`\$[A-Za-z_{]|\[\[`)

// influxAlias names an InfluxQL series as Grafana does: the alias with $m,
// $measurement, $col and $tag_x (or [[...]]) replaced; without an alias,
// measurement.column and the tags.
func influxAlias(alias, measurement, column string, tags map[string]string) string {
	if alias == "" {
		name := measurement + "." + column
		if len(tags) > 0 {
			var kv []string
			for _, k := range sortedKeys(tags) {
				kv = append(kv, k+": "+tags[k])
			}
			name += " {" + strings.Join(kv, ", ") + "}"
		}
		return name
	}
	re := regexp.MustCompile(`\$(\w+)|\[\[([\s\S]+?)\]\]`)
	return re.ReplaceAllStringFunc(alias, func(m string) string {
		g := re.FindStringSubmatch(m)
		name := g[1] + g[2]
		switch {
		case name == "m" || name == "measurement":
			return measurement
		case name == "col":
			return column
		case strings.HasPrefix(name, "tag_"):
			if v, ok := tags[strings.TrimPrefix(name, "tag_")]; ok {
				return v
			}
		}
		return m
	})
}

// legendName names a Prometheus series as Grafana does: the legend format
// with {{label}} replaced, or the series' labels.
func legendName(format string, labels map[string]string) string {
	if format == "" || format == "__auto" {
		name := labels["__name__"]
		var kv []string
		for _, k := range sortedKeys(labels) {
			if k != "__name__" {
				kv = append(kv, k+`="`+labels[k]+`"`)
			}
		}
		return name + "{" + strings.Join(kv, ", ") + "}"
	}
	re := regexp.MustCompile(`\{\{\s*(.+?)\s*\}\}`)
	return re.ReplaceAllStringFunc(format, func(m string) string {
		return labels[re.FindStringSubmatch(m)[1]]
	})
}

// parseGrafanaDuration parses an interval as Grafana writes them ("10s",
// "1m", "1d"; a bare number is seconds).
func parseGrafanaDuration(s string) (time.Duration, error) {
	s = strings.Trim(s, "<>")
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
