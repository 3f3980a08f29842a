package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/api/apiclient"
)

// DefaultURL is the API the query and devices commands ask without --url
// or ROLLCALL_URL.
const DefaultURL = "http://localhost:8080"

// maxNotes is how many missing devices a table row names.
const maxNotes = 3

const queryUsage = `Usage: rollcall query [flags]

Shows aggregates as a table: window, value [lower, upper] of one statistic,
reported/expected devices, quality, revision, and missing devices.

  rollcall query                                       newest window of every series
  rollcall query --group site-a                        ... of site-a's series
  rollcall query --group site-a --metric power_kw --last 5m
                                                       that series' windows of the last 5 minutes
  rollcall query --group site-a --metric power_kw --from 2026-11-22T10:00:00Z --to 1795341600 --revisions all

Flags:
`

// clientFlags are the flags of every command that talks to the API.
type clientFlags struct {
	url, token, caFile string
	timeout            time.Duration
	json               bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", envOr("ROLLCALL_URL", DefaultURL), "API base `url` (env ROLLCALL_URL)")
	fs.StringVar(&c.token, "token", os.Getenv("ROLLCALL_HTTP_TOKEN"), "bearer `token` (env ROLLCALL_HTTP_TOKEN)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM `file` of the CA to trust for https")
	fs.DurationVar(&c.timeout, "timeout", apiclient.DefaultTimeout, "per-request timeout")
	fs.BoolVar(&c.json, "json", false, "print the API's JSON instead of a table")
}

func (c *clientFlags) client() (*apiclient.Client, error) {
	return apiclient.New(c.url, apiclient.Options{Token: c.token, CAFile: c.caFile, Timeout: c.timeout})
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// parseFlags parses args with fs, flags and positional arguments in any
// order ("devices wt-07 --json"); code is the exit code when ok is false.
func parseFlags(fs *flag.FlagSet, usage string, args []string, stderr io.Writer) (positional []string, ok bool, code int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, false, 0
			}
			return nil, false, 2
		}
		if fs.NArg() == 0 {
			return positional, true, 0
		}
		if fs.Arg(0) == "--" || fs.Arg(0) == "-" {
			return append(positional, fs.Args()...), true, 0
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiFailure reports err of command cmd and returns the exit code: 1.
func apiFailure(stderr io.Writer, cmd string, err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		fmt.Fprintf(stderr, "rollcall %s: %d %s: %s\n", cmd, e.Status, e.Code, e.Message)
	} else {
		fmt.Fprintf(stderr, "rollcall %s: %v\n", cmd, err)
	}
	return 1
}

func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "rollcall %s: %s (see rollcall %s --help)\n", cmd, fmt.Sprintf(format, args...), cmd)
	return 2
}

// runQuery is `rollcall query`.
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollcall query", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	var (
		group     = fs.String("group", "", "`group` (site)")
		metric    = fs.String("metric", "", "`metric`")
		last      = fs.Duration("last", 0, "windows that started in the last `duration` (with --group and --metric)")
		from      = fs.String("from", "", "first window start, RFC 3339 or Unix seconds (inclusive)")
		to        = fs.String("to", "", "last window start, RFC 3339 or Unix seconds (exclusive)")
		limit     = fs.Int("limit", 0, "at most the newest `n` windows (0: every window of the range)")
		revisions = fs.String("revisions", api.RevisionsLatest, "latest (the latest of each window) or all (every revision)")
		stat      = fs.String("stat", "", "statistic to show: sum, mean, min, max or count (default: the fleet file's choice)")
	)
	rest, ok, code := parseFlags(fs, queryUsage, args, stderr)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, "query", "unexpected arguments %q", rest)
	}
	history := *group != "" && *metric != ""
	if !history && (*last != 0 || *from != "" || *to != "" || *limit != 0 || *revisions != api.RevisionsLatest) {
		return usageError(stderr, "query", "--last, --from, --to, --limit and --revisions need --group and --metric")
	}
	if *last != 0 && *from != "" {
		return usageError(stderr, "query", "--last and --from exclude each other")
	}
	if *last < 0 || *limit < 0 {
		return usageError(stderr, "query", "--last and --limit must not be negative")
	}
	if *revisions != api.RevisionsLatest && *revisions != api.RevisionsAll {
		return usageError(stderr, "query", "--revisions %q is neither latest nor all", *revisions)
	}
	if *stat != "" && !validStat(*stat) {
		return usageError(stderr, "query", "--stat %q is not sum, mean, min, max or count", *stat)
	}
	q := apiclient.HistoryQuery{Group: *group, Metric: *metric, Limit: *limit, AllRevisions: *revisions == api.RevisionsAll}
	var err error
	if q.From, err = parseTime(*from); err != nil {
		return usageError(stderr, "query", "--from: %v", err)
	}
	if q.To, err = parseTime(*to); err != nil {
		return usageError(stderr, "query", "--to: %v", err)
	}
	if *last > 0 {
		q.From = time.Now().Add(-*last)
	}
	c, err := cf.client()
	if err != nil {
		return usageError(stderr, "query", "%v", err)
	}

	var aggs []aggregate.Aggregate
	if history {
		aggs, err = c.History(ctx, q)
	} else {
		var latest api.LatestResponse
		latest, err = c.Latest(ctx, *group, *metric)
		aggs = latest.Aggregates
	}
	if err != nil {
		return apiFailure(stderr, "query", err)
	}
	if cf.json {
		return writeJSON(stdout, stderr, "query", map[string]any{"aggregates": aggs})
	}
	statOf, err := headlineStats(ctx, c, *stat)
	if err != nil {
		return apiFailure(stderr, "query", err)
	}
	if history {
		n := countWindows(aggs)
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(stdout, "%s %s, %s, %d window%s (times UTC)\n", *group, *metric, statOf(aggregate.Aggregate{Group: *group, Metric: *metric}), n, plural)
	}
	writeAggregates(stdout, aggs, !history, statOf)
	return 0
}

// headlineStats returns which statistic to show of an aggregate: stat when
// given, else the fleet file's statistic of its metric (from
// /api/v1/groups), else sum.
func headlineStats(ctx context.Context, c *apiclient.Client, stat string) (func(aggregate.Aggregate) string, error) {
	if stat != "" {
		return func(aggregate.Aggregate) string { return stat }, nil
	}
	groups, err := c.Groups(ctx)
	if err != nil {
		return nil, err
	}
	stats := map[string]string{}
	for _, g := range groups {
		for m, s := range g.MetricStats {
			stats[g.Name+"\x00"+m] = s
		}
	}
	return func(a aggregate.Aggregate) string {
		if s := stats[a.Group+"\x00"+a.Metric]; validStat(s) {
			return s
		}
		return "sum"
	}, nil
}

func validStat(s string) bool {
	switch s {
	case "sum", "mean", "min", "max", "count":
		return true
	}
	return false
}

func countWindows(aggs []aggregate.Aggregate) int {
	n := 0
	for i, a := range aggs {
		if i == 0 || !a.Window.Start.Equal(aggs[i-1].Window.Start) || a.Group != aggs[i-1].Group || a.Metric != aggs[i-1].Metric {
			n++
		}
	}
	return n
}

// writeAggregates prints aggs as an aligned table; withSeries adds the
// group, metric and statistic columns.
func writeAggregates(w io.Writer, aggs []aggregate.Aggregate, withSeries bool, statOf func(aggregate.Aggregate) string) {
	head := []string{"WINDOW (UTC)", "VALUE", "[LOWER, UPPER]", "REPORTED", "QUALITY", "REV", "NOTES"}
	right := []bool{false, true, false, true, false, false, false}
	if withSeries {
		head = append([]string{"GROUP", "METRIC", "STAT"}, head...)
		right = append([]bool{false, false, false}, right...)
	}
	rows := make([][]string, 0, len(aggs))
	for _, a := range aggs {
		stat := statOf(a)
		value, bounds := statCells(a.Stats, stat)
		rev := strconv.Itoa(a.Revision)
		if a.Final {
			rev += " final"
		}
		row := []string{
			windowCell(a.Window), value, bounds,
			fmt.Sprintf("%d/%d", a.Coverage.Reported, a.Coverage.Expected),
			string(a.Quality), rev, notes(a),
		}
		if withSeries {
			row = append([]string{a.Group, a.Metric, stat}, row...)
		}
		rows = append(rows, row)
	}
	writeTable(w, head, right, rows)
}

// writeTable prints an aligned table: columns two spaces apart, those
// marked in right aligned right (numbers), no trailing spaces.
func writeTable(w io.Writer, head []string, right []bool, rows [][]string) {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{head}, rows...) {
		b.Reset()
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// windowCell is "2026-11-22 10:00:00–10:00:10" (the end's date when it
// differs).
func windowCell(win aggregate.Window) string {
	s, e := win.Start.UTC(), win.End.UTC()
	end := e.Format("15:04:05")
	if e.YearDay() != s.YearDay() || e.Year() != s.Year() {
		if !e.Equal(time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, time.UTC)) {
			end = e.Format("2006-01-02 15:04:05")
		} else {
			end = "24:00:00"
		}
	}
	return s.Format("2006-01-02 15:04:05") + "–" + end
}

func statCells(st aggregate.Stats, stat string) (value, bounds string) {
	var s aggregate.Stat
	switch stat {
	case "count":
		return strconv.Itoa(st.Count.Value), ""
	case "mean":
		s = st.Mean
	case "min":
		s = st.Min
	case "max":
		s = st.Max
	default:
		s = st.Sum
	}
	return num(s.Value), "[" + num(s.Lower) + ", " + num(s.Upper) + "]"
}

// num prints a number with at most 2 decimals; null (unknown, unbounded)
// as in the API.
func num(n aggregate.Num) string {
	if !n.Known() {
		return "null"
	}
	f := math.Round(float64(n)*100) / 100
	if f == 0 {
		f = 0 // no "-0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// notes names the missing devices (at most maxNotes) and the flags.
func notes(a aggregate.Aggregate) string {
	var parts []string
	missing := a.Coverage.Missing
	if n := len(missing) + a.Coverage.MissingUnlisted; n > 0 {
		names := make([]string, 0, maxNotes)
		for _, m := range missing[:min(len(missing), maxNotes)] {
			s := m.Device + " (" + m.State
			if m.AgeS != nil {
				s += ", " + age(*m.AgeS)
			}
			names = append(names, s+")")
		}
		if more := n - len(names); more > 0 {
			names = append(names, fmt.Sprintf("%d more", more))
		}
		parts = append(parts, "missing "+strings.Join(names, ", "))
	}
	if p := a.Coverage.Partial; p > 0 {
		parts = append(parts, fmt.Sprintf("%d partial", p))
	}
	parts = append(parts, a.Flags...)
	return strings.Join(parts, "; ")
}

// age prints seconds as a short duration: 850ms, 4.2s, 42s, 3m12s.
func age(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// parseTime parses RFC 3339 or Unix seconds; empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	return t, nil
}

func writeJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "rollcall %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
