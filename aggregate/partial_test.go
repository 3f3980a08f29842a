package aggregate

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The window every hand-built partial below summarises.
var (
	wStart = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	wEnd   = wStart.Add(10 * time.Second)
)

// at returns the Unix ns time d after wStart.
func at(d time.Duration) int64 { return wStart.Add(d).UnixNano() }

var (
	inf  = math.Inf(1)
	ninf = math.Inf(-1)
	nan  = math.NaN()
)

// dev is one device of a hand-built partial: reported with value v, or
// missing with bounds [lo, hi] and, when hasImp, the imputed value imp.
type dev struct {
	id       string
	reported bool
	v        float64
	lo, hi   float64
	imp      float64
	hasImp   bool
}

func rep(id string, v float64) dev         { return dev{id: id, reported: true, v: v} }
func miss(id string, lo, hi float64) dev   { return dev{id: id, lo: lo, hi: hi} }
func imp(id string, lo, hi, v float64) dev { return dev{id: id, lo: lo, hi: hi, imp: v, hasImp: true} }

func st(value, lower, upper, reported float64) Stat {
	return Stat{Value: Num(value), Lower: Num(lower), Upper: Num(upper), Reported: Num(reported)}
}

// build adds devs (in ascending id order) to a new partial: each reported
// device with 10 samples, the i-th one's newest at 9s − i s into the window;
// each missing device silent, last seen 1 s before the window.
func build(maxListed int, devs ...dev) Partial {
	p := NewPartial("site-a", "power_kw", wStart.UnixNano(), wEnd.UnixNano())
	for i, d := range devs {
		if d.reported {
			p.AddReported(d.v, d.v, d.v, false, 10, at(9*time.Second-time.Duration(i)*time.Second))
			continue
		}
		md := MissingDevice{Device: d.id, State: "silent", LastSeen: at(-time.Second)}
		p.AddMissing(md, d.lo, d.hi, d.imp, d.hasImp, maxListed)
	}
	return p
}

// finishInfo is a final emission 2 s after the window's end.
func finishInfo(final bool) FinishInfo {
	return FinishInfo{
		Watermark: at(10 * time.Second), EmittedAt: wEnd.Add(2 * time.Second),
		Final: final, MinCoverage: DefaultMinCoverage,
	}
}

// sameNum reports whether a and b are equal within 1e-12 relative, or both
// unknown: NaN and ±Inf all mean "unknown or unbounded" and all encode as
// JSON null.
func sameNum(a, b Num) bool {
	if !a.Known() || !b.Known() {
		return !a.Known() && !b.Known()
	}
	x, y := float64(a), float64(b)
	return x == y || math.Abs(x-y) <= 1e-12*max(math.Abs(x), math.Abs(y))
}

func requireStat(t *testing.T, name string, want, got Stat) {
	t.Helper()
	for _, f := range []struct {
		field     string
		want, got Num
	}{
		{"value", want.Value, got.Value},
		{"lower", want.Lower, got.Lower},
		{"upper", want.Upper, got.Upper},
		{"reported", want.Reported, got.Reported},
	} {
		require.Truef(t, sameNum(f.want, f.got), "%s.%s: want %v, got %v", name, f.field, float64(f.want), float64(f.got))
	}
}

func requireStats(t *testing.T, want, got Stats) {
	t.Helper()
	requireStat(t, "sum", want.Sum, got.Sum)
	requireStat(t, "mean", want.Mean, got.Mean)
	requireStat(t, "min", want.Min, got.Min)
	requireStat(t, "max", want.Max, got.Max)
	require.Equal(t, want.Count, got.Count, "count")
}

// TestFinishStats checks every group statistic against values computed by
// hand. Two of four devices report 10 and 20 in the partial-coverage cases;
// d3 lies in [2, 8] (last value 5) and d4 in [15, 40] (last value 35).
func TestFinishStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		devs     []dev
		want     Stats
		expected int
		reported int
		ratio    float64
	}{
		{
			name: "fully reported: value = lower = upper = reported",
			devs: []dev{rep("d1", 10), rep("d2", 20), rep("d3", 30)},
			want: Stats{
				Sum:   st(60, 60, 60, 60),
				Mean:  st(20, 20, 20, 20),
				Min:   st(10, 10, 10, 10),
				Max:   st(30, 30, 30, 30),
				Count: CountStat{Value: 3},
			},
			expected: 3, reported: 3, ratio: 1,
		},
		{
			name: "half reported, impute last",
			devs: []dev{rep("d1", 10), rep("d2", 20), imp("d3", 2, 8, 5), imp("d4", 15, 40, 35)},
			want: Stats{
				// value 10+20+5+35, lower 30+2+15, upper 30+8+40.
				Sum: st(70, 47, 78, 30),
				// value 70/4 (reported and imputed), bounds /4 (expected).
				Mean: st(17.5, 11.75, 19.5, 15),
				// value min(10, 5, 35); lower min(10, 2, 15); upper min(10, 8, 40).
				Min: st(5, 2, 8, 10),
				// value max(20, 5, 35); lower max(20, 2, 15); upper max(20, 8, 40).
				Max:   st(35, 20, 40, 20),
				Count: CountStat{Value: 2},
			},
			expected: 4, reported: 2, ratio: 0.5,
		},
		{
			name: "half reported, impute zero",
			devs: []dev{rep("d1", 10), rep("d2", 20), imp("d3", 2, 8, 0), imp("d4", 15, 40, 0)},
			want: Stats{
				Sum:   st(30, 47, 78, 30),
				Mean:  st(7.5, 11.75, 19.5, 15), // 30/4
				Min:   st(0, 2, 8, 10),
				Max:   st(20, 20, 40, 20),
				Count: CountStat{Value: 2},
			},
			expected: 4, reported: 2, ratio: 0.5,
		},
		{
			name: "half reported, impute none",
			devs: []dev{rep("d1", 10), rep("d2", 20), miss("d3", 2, 8), miss("d4", 15, 40)},
			want: Stats{
				Sum:   st(30, 47, 78, 30),
				Mean:  st(15, 11.75, 19.5, 15), // value over the 2 reporting only
				Min:   st(10, 2, 8, 10),
				Max:   st(20, 20, 40, 20),
				Count: CountStat{Value: 2},
			},
			expected: 4, reported: 2, ratio: 0.5,
		},
		{
			name: "no device reported, one imputed",
			devs: []dev{imp("d1", 0, 100, 40), miss("d2", 0, 100)},
			want: Stats{
				Sum:   st(40, 0, 200, nan),
				Mean:  st(40, 0, 100, nan),
				Min:   st(40, 0, 100, nan),
				Max:   st(40, 0, 100, nan),
				Count: CountStat{Value: 0},
			},
			expected: 2, reported: 0, ratio: 0,
		},
		{
			name: "no device reported, none imputed: value unknown, bounds from physics",
			devs: []dev{miss("d1", 0, 100), miss("d2", 0, 50)},
			want: Stats{
				Sum:   st(nan, 0, 150, nan),
				Mean:  st(nan, 0, 75, nan),
				Min:   st(nan, 0, 50, nan),
				Max:   st(nan, 0, 100, nan),
				Count: CountStat{Value: 0},
			},
			expected: 2, reported: 0, ratio: 0,
		},
		{
			name: "no device expected",
			want: Stats{
				Sum:   st(nan, 0, 0, nan), // the sum over no devices is exactly 0
				Mean:  st(nan, nan, nan, nan),
				Min:   st(nan, nan, nan, nan),
				Max:   st(nan, nan, nan, nan),
				Count: CountStat{Value: 0},
			},
		},
		{
			name: "unbounded spec",
			devs: []dev{rep("d1", 10), imp("d2", ninf, inf, 12)},
			want: Stats{
				Sum:   st(22, ninf, inf, 10),
				Mean:  st(11, ninf, inf, 10),
				Min:   st(10, ninf, 10, 10),
				Max:   st(12, 10, inf, 10),
				Count: CountStat{Value: 1},
			},
			expected: 2, reported: 1, ratio: 0.5,
		},
		{
			name: "bounded below only",
			devs: []dev{rep("d1", 10), miss("d2", 0, inf)},
			want: Stats{
				Sum:   st(10, 10, inf, 10),
				Mean:  st(10, 5, inf, 10),
				Min:   st(10, 0, 10, 10),
				Max:   st(10, 10, inf, 10),
				Count: CountStat{Value: 1},
			},
			expected: 2, reported: 1, ratio: 0.5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := build(0, tc.devs...)
			a := p.Finish(finishInfo(true))
			requireStats(t, tc.want, a.Stats)
			require.Equal(t, tc.expected, a.Coverage.Expected)
			require.Equal(t, tc.reported, a.Coverage.Reported)
			require.InDelta(t, tc.ratio, a.Coverage.Ratio, 1e-12)
			require.GreaterOrEqual(t, a.Coverage.Ratio, 0.0)
			require.LessOrEqual(t, a.Coverage.Ratio, 1.0)
			require.Len(t, a.Coverage.Missing, tc.expected-tc.reported)
			require.Zero(t, a.Coverage.MissingUnlisted)
			// Bounds contain the value and the reported part wherever known.
			for _, s := range []Stat{a.Stats.Sum, a.Stats.Mean, a.Stats.Min, a.Stats.Max} {
				if s.Lower.Known() && s.Upper.Known() {
					require.LessOrEqual(t, float64(s.Lower), float64(s.Upper))
				}
			}
		})
	}
}

// TestFinishUnboundedJSON checks that unbounded bounds (±Inf) and unknown
// values (NaN) are JSON null, never a number and never an encoding error.
func TestFinishUnboundedJSON(t *testing.T) {
	t.Parallel()
	p := build(0, rep("d1", 10), imp("d2", ninf, inf, 12))
	a := p.Finish(finishInfo(true))
	b, err := json.Marshal(a.Stats)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"sum":  {"value": 22, "lower": null, "upper": null, "reported": 10},
		"mean": {"value": 11, "lower": null, "upper": null, "reported": 10},
		"min":  {"value": 10, "lower": null, "upper": 10,   "reported": 10},
		"max":  {"value": 12, "lower": 10,   "upper": null, "reported": 10},
		"count": {"value": 1}}`, string(b))
	require.Equal(t, `{"value":22,"lower":null,"upper":null,"reported":10}`, mustJSON(t, a.Stats.Sum))

	// The whole resource encodes too; a dark group has null values.
	dark := build(0, miss("d1", 0, inf))
	b, err = json.Marshal(dark.Finish(finishInfo(true)))
	require.NoError(t, err)
	require.Contains(t, string(b), `"sum":{"value":null,"lower":0,"upper":null,"reported":null}`)
	require.Contains(t, string(b), `"staleness":{"max_age_s":null,`)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestFinishQuality(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		devs        []dev
		final       bool
		minCoverage float64
		want        Quality
	}{
		{"fully reported, final", []dev{rep("d1", 1), rep("d2", 2)}, true, 0.5, QualityGood},
		{"fully reported, provisional", []dev{rep("d1", 1), rep("d2", 2)}, false, 0.5, QualityUncertain},
		{"partial, imputed, final", []dev{rep("d1", 1), imp("d2", 0, 9, 3)}, true, 0.5, QualityUncertain},
		{"partial, not imputed, final", []dev{rep("d1", 1), rep("d2", 1), miss("d3", 0, 9)}, true, 0.5, QualityUncertain},
		{"coverage at min_coverage", []dev{rep("d1", 1), miss("d2", 0, 9)}, true, 0.5, QualityUncertain},
		{"coverage below min_coverage", []dev{rep("d1", 1), miss("d2", 0, 9), miss("d3", 0, 9)}, true, 0.5, QualityBad},
		{"coverage below min_coverage, provisional", []dev{rep("d1", 1), miss("d2", 0, 9), miss("d3", 0, 9)}, false, 0.5, QualityBad},
		{"no device reported", []dev{imp("d1", 0, 9, 3)}, true, 0.5, QualityBad},
		{"no device reported, min_coverage 0", []dev{imp("d1", 0, 9, 3)}, true, 0, QualityUncertain},
		{"no device expected", nil, true, 0.5, QualityBad},
		{"no device expected, min_coverage 0", nil, true, 0, QualityBad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := build(0, tc.devs...)
			fi := finishInfo(tc.final)
			fi.MinCoverage = tc.minCoverage
			a := p.Finish(fi)
			require.Equal(t, tc.want, a.Quality)
			require.Equal(t, tc.final, a.Final)
		})
	}
}

// TestFinishResource checks the fields of the resource besides the stats.
func TestFinishResource(t *testing.T) {
	t.Parallel()
	p := NewPartial("site-a", "power_kw", wStart.UnixNano(), wEnd.UnixNano())
	p.AddReported(10, 10, 10, false, 10, at(9*time.Second))
	p.AddReported(20, 20, 20, false, 7, at(7*time.Second))
	p.AddMissing(MissingDevice{Device: "d3", State: "silent", LastSeen: at(-30 * time.Second)}, 0, 100, 30, true, 0)
	p.AddMissing(MissingDevice{Device: "d4", State: "never_seen"}, 0, 100, 0, false, 0)
	p.Duplicates, p.Replays, p.Late = 3, 2, 1
	emitted := wEnd.Add(2 * time.Second)
	a := p.Finish(FinishInfo{Watermark: at(10 * time.Second), EmittedAt: emitted, Revision: 2, Final: false, MinCoverage: 0.5})

	require.Equal(t, "site-a", a.Group)
	require.Equal(t, "power_kw", a.Metric)
	require.Equal(t, Window{Start: wStart, End: wEnd}, a.Window)
	require.Equal(t, wStart.Add(10*time.Second), a.Staleness.Watermark)
	// max_age_s: emitted (12 s) minus the oldest newest sample (7 s).
	require.InDelta(t, 5.0, float64(a.Staleness.MaxAgeS), 1e-9)
	require.Equal(t, Counts{Samples: 17, Duplicates: 3, Replays: 2, Late: 1}, a.Counts)
	require.Equal(t, []string{}, a.Flags)
	require.Equal(t, 2, a.Revision)
	require.False(t, a.Final)
	require.Equal(t, emitted, a.EmittedAt)
	require.Equal(t, QualityUncertain, a.Quality)

	require.Len(t, a.Coverage.Missing, 2)
	d3, d4 := a.Coverage.Missing[0], a.Coverage.Missing[1]
	require.Equal(t, "d3", d3.Device)
	require.Equal(t, "silent", d3.State)
	require.NotNil(t, d3.LastSeen)
	require.Equal(t, wStart.Add(-30*time.Second), *d3.LastSeen)
	require.InDelta(t, 42.0, *d3.AgeS, 1e-9, "12 s after the window start, last seen 30 s before it")
	require.Equal(t, Missing{Device: "d4", State: "never_seen"}, d4)
	js := mustJSON(t, a.Coverage)
	require.Contains(t, js, `{"device":"d4","state":"never_seen"}`, "never seen: no last_seen, no age_s")
	require.NotContains(t, js, "missing_unlisted")
}

func TestFinishMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		newest  []time.Duration // of each reporting device, from the window start
		emitted time.Duration
		want    float64 // NaN: null
	}{
		{"oldest of the newest samples", []time.Duration{9 * time.Second, 7 * time.Second, 8 * time.Second}, 12 * time.Second, 5},
		{"one device", []time.Duration{9500 * time.Millisecond}, 10 * time.Second, 0.5},
		{"device clock ahead of the gateway: clamped to 0", []time.Duration{15 * time.Second}, 12 * time.Second, 0},
		{"no device reported: null", nil, 12 * time.Second, nan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := NewPartial("g", "m", wStart.UnixNano(), wEnd.UnixNano())
			for _, n := range tc.newest {
				p.AddReported(1, 1, 1, false, 1, at(n))
			}
			p.AddMissing(MissingDevice{Device: "zz"}, 0, 1, 0, false, 0)
			a := p.Finish(FinishInfo{EmittedAt: wStart.Add(tc.emitted), MinCoverage: 0.5})
			if math.IsNaN(tc.want) {
				require.False(t, a.Staleness.MaxAgeS.Known())
				require.Contains(t, mustJSON(t, a.Staleness), `"max_age_s":null`)
				return
			}
			require.InDelta(t, tc.want, float64(a.Staleness.MaxAgeS), 1e-9)
		})
	}
}

// TestMissingUnlisted checks that the missing list keeps the smallest ids,
// at most maxListed of them, and counts the rest, both when devices are
// added and when partials merge.
func TestMissingUnlisted(t *testing.T) {
	t.Parallel()
	all := []dev{miss("d1", 0, 1), rep("d2", 1), miss("d3", 0, 1), miss("d4", 0, 1), miss("d5", 0, 1), rep("d6", 1)}
	tests := []struct {
		name      string
		maxListed int
		listed    []string
		unlisted  int
	}{
		{"unlimited", 0, []string{"d1", "d3", "d4", "d5"}, 0},
		{"limit above the count", 10, []string{"d1", "d3", "d4", "d5"}, 0},
		{"limit at the count", 4, []string{"d1", "d3", "d4", "d5"}, 0},
		{"limit 2", 2, []string{"d1", "d3"}, 2},
		{"limit 1", 1, []string{"d1"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check := func(p Partial) {
				t.Helper()
				a := p.Finish(finishInfo(true))
				var ids []string
				for _, m := range a.Coverage.Missing {
					ids = append(ids, m.Device)
				}
				require.Equal(t, tc.listed, ids)
				require.Equal(t, tc.unlisted, a.Coverage.MissingUnlisted)
				require.Equal(t, 6, a.Coverage.Expected)
				require.Equal(t, 2, a.Coverage.Reported)
				if tc.unlisted > 0 {
					require.Contains(t, mustJSON(t, a.Coverage), `"missing_unlisted":`+mustJSON(t, tc.unlisted))
				}
			}
			check(build(tc.maxListed, all...))

			// Split {d1, d4, d6} and {d2, d3, d5}; merge both ways round.
			a := build(tc.maxListed, all[0], all[3], all[5])
			b := build(tc.maxListed, all[1], all[2], all[4])
			ab, ba := NewPartial(a.Group, a.Metric, a.Start, a.End), NewPartial(a.Group, a.Metric, a.Start, a.End)
			ab.Merge(&a, tc.maxListed)
			ab.Merge(&b, tc.maxListed)
			check(ab)
			b2 := build(tc.maxListed, all[1], all[2], all[4])
			a2 := build(tc.maxListed, all[0], all[3], all[5])
			ba.Merge(&b2, tc.maxListed)
			ba.Merge(&a2, tc.maxListed)
			check(ba)
		})
	}
}

func TestNumJSON(t *testing.T) {
	t.Parallel()
	marshal := []struct {
		in   float64
		want string
	}{
		{1523.4, "1523.4"},
		{0, "0"},
		{-2.5, "-2.5"},
		{1e21, "1e+21"},
		{5e-324, "5e-324"},
		{nan, "null"},
		{inf, "null"},
		{ninf, "null"},
	}
	for _, tc := range marshal {
		b, err := json.Marshal(Num(tc.in))
		require.NoError(t, err)
		require.Equal(t, tc.want, string(b), "marshal %v", tc.in)

		var back Num
		require.NoError(t, json.Unmarshal(b, &back))
		if math.IsNaN(tc.in) || math.IsInf(tc.in, 0) {
			require.True(t, math.IsNaN(float64(back)), "null decodes as NaN, got %v", float64(back))
			require.False(t, back.Known())
			continue
		}
		require.Equal(t, tc.in, float64(back), "round trip of %v", tc.in)
		require.True(t, back.Known())
	}

	var n Num
	require.Error(t, json.Unmarshal([]byte(`"1.5"`), &n), "a string is not a number")
	require.Error(t, json.Unmarshal([]byte(`1e400`), &n), "out of range")

	// A whole aggregate survives the round trip, unknown numbers as NaN.
	p := build(3, rep("d1", 10), imp("d2", ninf, inf, 12), miss("d3", 0, 5))
	a := p.Finish(finishInfo(false))
	b, err := json.Marshal(a)
	require.NoError(t, err)
	var back Aggregate
	require.NoError(t, json.Unmarshal(b, &back))
	requireStats(t, a.Stats, back.Stats)
	require.True(t, math.IsNaN(float64(back.Stats.Sum.Lower)), "-Inf → null → NaN")
	require.Equal(t, a.Coverage, back.Coverage)
	require.Equal(t, a.Counts, back.Counts)
	require.Equal(t, a.Window, back.Window)
	require.Equal(t, a.Quality, back.Quality)
	require.InDelta(t, float64(a.Staleness.MaxAgeS), float64(back.Staleness.MaxAgeS), 1e-12)
	b2, err := json.Marshal(back)
	require.NoError(t, err)
	require.JSONEq(t, string(b), string(b2), "encoding is stable after a round trip")
}
