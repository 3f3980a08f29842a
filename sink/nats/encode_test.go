package nats

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

var (
	w0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	w1 = w0.Add(10 * time.Second)
)

// part returns a partial of site-a/power_kw over w0: the devices in
// reported report their value (one whose id ends in "p" only part of its
// samples: bounded by ±5), the ones in missing are missing with the bounds
// [lo, hi] (an unbounded one uses ±Inf) and, if imputed, value v.
func part(reported map[string]float64, missing []string, lo, hi float64) aggregate.Partial {
	p := aggregate.NewPartial("site-a", "power_kw", w0.UnixNano(), w1.UnixNano())
	for d, v := range reported {
		short := strings.HasSuffix(d, "p")
		lo, hi := v, v
		if short {
			lo, hi = v-5, v+5
		}
		p.AddReported(v, lo, hi, short, 10, w0.Add(9*time.Second+time.Duration(len(d))*time.Millisecond).UnixNano())
		p.AddFlag("replaying:"+d, 0)
	}
	for i, d := range missing {
		ls := int64(0)
		if i%2 == 0 {
			ls = w0.Add(-time.Duration(i+1) * time.Second).UnixNano()
		}
		p.AddMissing(aggregate.MissingDevice{Device: d, State: "silent", LastSeen: ls}, lo, hi, lo+1, i%2 == 0, 0)
	}
	p.Duplicates, p.Replays, p.Late = 3, 2, 1
	return p
}

func emission(rev int, final bool) aggregate.Aggregate {
	return aggregate.Aggregate{
		Revision: rev, Final: final,
		EmittedAt: w1.Add(1234567 * time.Nanosecond),
		Staleness: aggregate.Staleness{Watermark: w1.Add(2 * time.Second)},
	}
}

func roundTrip(t *testing.T, p aggregate.Partial, a aggregate.Aggregate) Message {
	t.Helper()
	b, err := Encode("gw-1", a, &p)
	require.NoError(t, err)
	m, err := Decode(b)
	require.NoError(t, err, string(b))
	got := m.Partial()
	require.Truef(t, p.Equal(&got), "round trip changed the partial:\nwant %+v\ngot  %+v\njson %s", p, got, b)
	require.Equal(t, a.Revision, m.Revision)
	require.Equal(t, a.Final, m.Final)
	require.Equal(t, "gw-1", m.Gateway)
	return m
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name string
		p    aggregate.Partial
	}{
		{"empty", aggregate.NewPartial("site-a", "power_kw", w0.UnixNano(), w1.UnixNano())},
		{"all reported", part(map[string]float64{"a1": 1.1, "a2": 0.1 + 0.2, "a3": 1e-300}, nil, 0, 0)},
		{"missing with bounds", part(map[string]float64{"a1": 1523.4}, []string{"a2", "a3"}, 0, 3000)},
		{"missing unbounded", part(map[string]float64{"a1": 7}, []string{"a2", "a3", "a4"}, -inf, inf)},
		{"nobody reported", part(nil, []string{"a1", "a2"}, 0, inf)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := roundTrip(t, tt.p, emission(2, true))
			// Finishing the decoded partial gives what the gateway emitted.
			want := tt.p.Finish(aggregate.FinishInfo{
				Watermark: w1.Add(2 * time.Second).UnixNano(), EmittedAt: w1.Add(1234567 * time.Nanosecond),
				Revision: 2, Final: true, MinCoverage: 0.5,
			})
			dp := m.Partial()
			got := dp.Finish(m.FinishInfo(0.5))
			wj, err := json.Marshal(want)
			require.NoError(t, err)
			gj, err := json.Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, string(wj), string(gj))
		})
	}
}

// TestMergeAfterDecode: partials of disjoint device sets, sent through the
// encoding, merge to the same partial as the originals.
func TestMergeAfterDecode(t *testing.T) {
	t.Parallel()
	a := part(map[string]float64{"a1": 10.5, "a2": 20.25, "a3p": 7}, []string{"a7"}, 0, 100)
	b := part(map[string]float64{"b1": 30}, []string{"b8", "b9"}, 5, 50)
	c := part(nil, []string{"c1"}, math.Inf(-1), math.Inf(1))
	want := aggregate.NewPartial("site-a", "power_kw", w0.UnixNano(), w1.UnixNano())
	for _, p := range []*aggregate.Partial{&a, &b, &c} {
		want.Merge(p, 2)
	}
	got := aggregate.NewPartial("site-a", "power_kw", w0.UnixNano(), w1.UnixNano())
	for _, p := range []aggregate.Partial{c, a, b} { // another order
		m := roundTrip(t, p, emission(1, false))
		dp := m.Partial()
		got.Merge(&dp, 2)
	}
	require.True(t, want.Equal(&got), "want %+v\ngot  %+v", want, got)
}

func TestEncodingIsDocumented(t *testing.T) {
	t.Parallel()
	p := part(map[string]float64{"a1": 1523.4, "a3p": 100}, []string{"a2"}, 0, math.Inf(1))
	a := emission(1, true)
	b, err := Encode("gw-1", a, &p)
	require.NoError(t, err)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &fields))
	for _, k := range []string{"v", "gateway", "group", "metric", "window", "revision", "final", "emitted_at", "watermark", "summary", "missing", "flags"} {
		require.Contains(t, fields, k)
	}
	require.JSONEq(t, `2`, string(fields["v"]))
	require.JSONEq(t, `{"start":"2026-11-22T10:00:00Z","end":"2026-11-22T10:00:10Z"}`, string(fields["window"]))
	var s map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(fields["summary"], &s))
	require.JSONEq(t, `"+Inf"`, string(s["hi_sum"]))
	require.JSONEq(t, `1623.4`, string(s["sum"]))
	require.JSONEq(t, `1`, string(s["partial"]))
	require.JSONEq(t, `1618.4`, string(s["rep_lo_sum"]))
	require.JSONEq(t, `1628.4`, string(s["rep_hi_sum"]))
	require.JSONEq(t, `95`, string(s["rep_lo_min"]))
	require.JSONEq(t, `1`, string(s["imp_max"]))

	empty := aggregate.NewPartial("site-a", "power_kw", w0.UnixNano(), w1.UnixNano())
	b, err = Encode("gw-1", a, &empty)
	require.NoError(t, err)
	var e struct {
		Summary map[string]json.RawMessage `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(b, &e))
	require.JSONEq(t, `"+Inf"`, string(e.Summary["min"]), "the minimum of nothing")
	require.JSONEq(t, `"-Inf"`, string(e.Summary["max"]), "the maximum of nothing")
	require.JSONEq(t, `null`, string(e.Summary["oldest_newest"]))
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	p := part(map[string]float64{"a1": 1}, []string{"a2"}, 0, 10)
	good, err := Encode("gw-1", emission(1, false), &p)
	require.NoError(t, err)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(good, &m))
		f(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	summary := func(k string, v any) []byte {
		return edit(func(m map[string]any) { m["summary"].(map[string]any)[k] = v })
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"not json", []byte("{"), ErrInvalid},
		{"no version", edit(func(m map[string]any) { delete(m, "v") }), ErrVersion},
		{"version 1", edit(func(m map[string]any) { m["v"] = 1 }), ErrVersion},
		{"version 3", edit(func(m map[string]any) { m["v"] = 3 }), ErrVersion},
		{"no group", edit(func(m map[string]any) { m["group"] = "" }), ErrInvalid},
		{"empty window", edit(func(m map[string]any) {
			m["window"] = map[string]any{"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T10:00:00Z"}
		}), ErrInvalid},
		{"window beyond 2262", edit(func(m map[string]any) {
			m["window"] = map[string]any{"start": "3000-01-01T00:00:00Z", "end": "3000-01-01T00:00:10Z"}
		}), ErrInvalid},
		{"negative revision", edit(func(m map[string]any) { m["revision"] = -1 }), ErrInvalid},
		{"reported > expected", summary("reported", 3), ErrInvalid},
		{"too many missing", summary("missing_unlisted", 1), ErrInvalid},
		{"float as string", summary("sum", "12"), ErrInvalid},
		{"float null", summary("sum", nil), ErrInvalid},
		{"float overflow", []byte(strings.Replace(string(good), `"sum":1,`, `"sum":1e999,`, 1)), ErrInvalid},
		{"oldest_newest without reports", summary("oldest_newest", nil), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(tt.in)
			require.ErrorIs(t, err, tt.want, "%s", tt.in)
		})
	}
	_, err = Decode(edit(func(m map[string]any) { m["added_in_a_later_build"] = true }))
	require.NoError(t, err, "unknown fields are ignored")
}

func TestSubject(t *testing.T) {
	t.Parallel()
	tests := []struct{ group, metric, want string }{
		{"site-a", "power_kw", "rollcall.v1.partials.site-a.power_kw"},
		{"plant.1", "p*q", "rollcall.v1.partials.plant%2E1.p%2Aq"},
		{"a b", ">", "rollcall.v1.partials.a%20b.%3E"},
		{"50%", "é", "rollcall.v1.partials.50%25.%C3%A9"},
		{"", "x:y", "rollcall.v1.partials.%.x:y"},
	}
	for _, tt := range tests {
		got := Subject(tt.group, tt.metric)
		require.Equal(t, tt.want, got)
		require.Len(t, strings.Split(got, "."), 5, "exactly two tokens after the prefix")
	}
}

func FuzzDecode(f *testing.F) {
	p := part(map[string]float64{"a1": 1.5}, []string{"a2", "a3"}, 0, math.Inf(1))
	b, err := Encode("gw-1", emission(1, true), &p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":2,"summary":{"sum":"NaN"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		m, err := Decode(b)
		if err != nil {
			return
		}
		// A decoded message re-encodes to one that decodes to the same
		// partial.
		p := m.Partial()
		a := aggregate.Aggregate{Revision: m.Revision, Final: m.Final, EmittedAt: m.EmittedAt, Staleness: aggregate.Staleness{Watermark: m.Watermark}}
		b2, err := Encode(m.Gateway, a, &p)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, b2)
		}
		p2 := m2.Partial()
		if !p.Equal(&p2) && !hasNaN(&p) {
			t.Fatalf("round trip changed the partial:\n%+v\n%+v", p, p2)
		}
	})
}

func hasNaN(p *aggregate.Partial) bool {
	for _, s := range []aggregate.Span{p.Values, p.ImputedValues, p.MissingBounds.Lo, p.MissingBounds.Hi, p.ReportedBounds.Lo, p.ReportedBounds.Hi} {
		if math.IsNaN(s.Sum) || math.IsNaN(s.Min) || math.IsNaN(s.Max) {
			return true
		}
	}
	return false
}

// TestHoppingWindows: overlapping windows (60 s every 10 s) keep their own
// start and end through the encoding, have distinct message ids, and
// partials of one of them from two gateways still merge.
func TestHoppingWindows(t *testing.T) {
	t.Parallel()
	var ids []string
	for k := range 6 {
		start := w0.Add(time.Duration(k) * 10 * time.Second)
		p := aggregate.NewPartial("site-a", "power_kw", start.UnixNano(), start.Add(time.Minute).UnixNano())
		p.AddReported(float64(k), float64(k), float64(k), false, 60, start.Add(59*time.Second).UnixNano())
		a := p.Finish(aggregate.FinishInfo{Watermark: start.Add(61 * time.Second).UnixNano(), EmittedAt: start.Add(62 * time.Second), MinCoverage: 0.5})
		b, err := Encode("gw-1", a, &p)
		require.NoError(t, err)
		m, err := Decode(b)
		require.NoError(t, err)
		require.Equal(t, start, m.Window.Start.UTC())
		require.Equal(t, start.Add(time.Minute), m.Window.End.UTC())
		got := m.Partial()
		require.True(t, p.Equal(&got))
		ids = append(ids, m.MsgID())

		other := aggregate.NewPartial("site-a", "power_kw", start.UnixNano(), start.Add(time.Minute).UnixNano())
		other.AddReported(100, 100, 100, false, 60, start.Add(58*time.Second).UnixNano())
		got.Merge(&other, 10)
		require.Equal(t, 2, got.Finish(aggregate.FinishInfo{MinCoverage: 0.5}).Coverage.Reported)
	}
	slices.Sort(ids)
	require.Len(t, slices.Compact(ids), 6, "one message id per window")
}
