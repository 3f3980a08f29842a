package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testReceived is the receive time used by the decode tests.
var testReceived = time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC).UnixNano()

// typicalPayload is the example payload of DESIGN.md (~100 bytes).
const typicalPayload = `{"seq": 1234, "boot": 3, "ts": "2026-11-22T10:00:00.123Z", "metrics": {"power_kw": 1523.4, "wind_ms": 11.2}}`

func ns(year int, month time.Month, day, hour, minute, sec, nsec int) int64 {
	return time.Date(year, month, day, hour, minute, sec, nsec, time.UTC).UnixNano()
}

// nested returns n nested arrays.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// manyMetrics returns a metrics object with n metrics m0..m(n-1).
func manyMetrics(n int) string {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"m%d": %d.5`, i, i)
	}
	b.WriteString(`}`)
	return b.String()
}

type goodCase struct {
	name    string
	payload string
	want    Reading // Site, Device and Received are filled in by the test
}

var goodCases = []goodCase{
	{"typical", typicalPayload, Reading{
		Seq: 1234, Boot: 3, HasSeq: true, TS: ns(2026, 11, 22, 10, 0, 0, 123e6),
		Metrics: []Metric{{"power_kw", 1523.4}, {"wind_ms", 11.2}},
	}},
	{"ts without fraction", `{"ts":"2026-11-22T10:00:00Z","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 10, 0, 0, 0), Metrics: []Metric{{"a", 1}},
	}},
	{"ts with positive offset", `{"ts":"2026-11-22T11:30:00.5+01:30","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 10, 0, 0, 5e8), Metrics: []Metric{{"a", 1}},
	}},
	{"ts with negative offset", `{"ts":"2026-11-22T04:59:59.999999999-05:00","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 9, 59, 59, 999999999), Metrics: []Metric{{"a", 1}},
	}},
	{"ts with more than 9 fraction digits", `{"ts":"2026-11-22T10:00:00.1234567891Z","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 10, 0, 0, 123456789), Metrics: []Metric{{"a", 1}},
	}},
	{"ts leap day", `{"ts":"2024-02-29T00:00:00Z","metrics":{"a":1}}`, Reading{
		TS: ns(2024, 2, 29, 0, 0, 0, 0), Metrics: []Metric{{"a", 1}},
	}},
	{"ts at the epoch", `{"ts":"1970-01-01T00:00:00Z","metrics":{"a":1}}`, Reading{
		TS: 0, Metrics: []Metric{{"a", 1}},
	}},
	{"ts one-digit hour (time.Parse fallback)", `{"ts":"2026-11-22T9:00:00Z","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 9, 0, 0, 0), Metrics: []Metric{{"a", 1}},
	}},
	{"ts unix ms", `{"ts":1795341600123,"metrics":{"a":1}}`, Reading{
		TS: 1795341600123 * int64(time.Millisecond), Metrics: []Metric{{"a", 1}},
	}},
	{"ts unix ms with exponent", `{"ts":1.795341600123e12,"metrics":{"a":1}}`, Reading{
		TS: 1795341600123 * int64(time.Millisecond), Metrics: []Metric{{"a", 1}},
	}},
	{"ts unix ms zero", `{"ts":0,"metrics":{"a":1}}`, Reading{Metrics: []Metric{{"a", 1}}}},
	{"ts exactly max_future_skew ahead", `{"ts":"2026-11-22T10:00:15Z","metrics":{"a":1}}`, Reading{
		TS: ns(2026, 11, 22, 10, 0, 15, 0), Metrics: []Metric{{"a", 1}},
	}},
	{"no ts", `{"seq":1,"metrics":{"a":1}}`, Reading{
		Seq: 1, HasSeq: true, TS: testReceived, TSMissing: true, Metrics: []Metric{{"a", 1}},
	}},
	{"no seq", `{"boot":7,"ts":0,"metrics":{"a":1}}`, Reading{
		Boot: 7, Metrics: []Metric{{"a", 1}},
	}},
	{"seq zero", `{"seq":0,"ts":0,"metrics":{"a":1}}`, Reading{HasSeq: true, Metrics: []Metric{{"a", 1}}}},
	{
		"seq and boot max uint64", `{"seq":18446744073709551615,"boot":18446744073709551615,"ts":0,"metrics":{"a":1}}`,
		Reading{Seq: math.MaxUint64, Boot: math.MaxUint64, HasSeq: true, Metrics: []Metric{{"a", 1}}},
	},
	{
		"seq integral with exponent and fraction", `{"seq":1.50e1,"boot":2E+2,"ts":0,"metrics":{"a":1}}`,
		Reading{Seq: 15, Boot: 200, HasSeq: true, Metrics: []Metric{{"a", 1}}},
	},
	{
		"seq zero with huge exponent", `{"seq":0.0e999999999999,"ts":0,"metrics":{"a":1}}`,
		Reading{HasSeq: true, Metrics: []Metric{{"a", 1}}},
	},
	{"matching device", `{"device":"wt-01","ts":0,"metrics":{"a":1}}`, Reading{Metrics: []Metric{{"a", 1}}}},
	{"matching identity", `{"device":"site-a/wt-01","ts":0,"metrics":{"a":1}}`, Reading{Metrics: []Metric{{"a", 1}}}},
	{"escapes", `{"\u0073eq":1,"device":"wt\u002d01","ts":"2026-11-22T10:00:00\u002E5Z",` +
		`"metrics":{"p\u00e9_kw":1,"a\"b\\c\/d":2,"smile\ud83d\ude00":3}}`, Reading{
		Seq: 1, HasSeq: true, TS: ns(2026, 11, 22, 10, 0, 0, 5e8),
		Metrics: []Metric{{"pé_kw", 1}, {`a"b\c/d`, 2}, {"smile😀", 3}},
	}},
	{"raw UTF-8 names", `{"ts":0,"metrics":{"température_°C":21.5,"風速":3}}`, Reading{
		Metrics: []Metric{{"température_°C", 21.5}, {"風速", 3}},
	}},
	{"unknown nested keys ignored", `{"fw":{"v":[1,2,{"x":null,"y":[true,false,"s\n"]}],"z":-1.5e3},"seq":5,"tags":[],` +
		`"o":{},"n":null,"ts":0,"metrics":{"a":1},"after":"x"}`, Reading{
		Seq: 5, HasSeq: true, Metrics: []Metric{{"a", 1}},
	}},
	{
		"unknown key nested to the depth limit", `{"x":` + nested(MaxNestingDepth-1) + `,"ts":0,"metrics":{"a":1}}`,
		Reading{Metrics: []Metric{{"a", 1}}},
	},
	{
		"whitespace everywhere", " \n\t{ \"seq\" :\r 1 ,\n\"ts\"\t:\t0 , \"metrics\" : { \"a\" : -1.5e-3 ,\"b\"\n:\n2 } } \r\n",
		Reading{Seq: 1, HasSeq: true, Metrics: []Metric{{"a", -1.5e-3}, {"b", 2}}},
	},
	{
		"number forms", `{"ts":0,"metrics":{"zero":0,"negzero":-0,"neg":-12.25,"exp":1E+2,"tiny":1e-400,"big":1.7976931348623157e308}}`,
		Reading{Metrics: []Metric{
			{"zero", 0},
			{"negzero", math.Copysign(0, -1)},
			{"neg", -12.25},
			{"exp", 100},
			{"tiny", 0},
			{"big", math.MaxFloat64},
		}},
	},
	{"max metrics", `{"ts":0,"metrics":` + manyMetrics(DefaultMaxMetrics) + `}`, Reading{}},
}

type badCase struct {
	name    string
	payload string
	reason  string
	detail  string // a substring of the detail, when set
}

var badCases = []badCase{
	{"too large", `{"metrics":{"a":1},"pad":"` + strings.Repeat("x", DefaultMaxPayloadBytes) + `"}`, ReasonTooLarge, "max_payload_bytes"},
	{"empty", ``, ReasonBadJSON, "empty"},
	{"whitespace only", " \n", ReasonBadJSON, "end of payload"},
	{"array", `[{"metrics":{"a":1}}]`, ReasonBadJSON, "JSON object"},
	{"null", `null`, ReasonBadJSON, ""},
	{"string", `"online"`, ReasonBadJSON, ""},
	{"number", `1`, ReasonBadJSON, ""},
	{"byte order mark", "\xef\xbb\xbf{\"metrics\":{\"a\":1}}", ReasonBadJSON, ""},
	{"trailing garbage", `{"metrics":{"a":1}} x`, ReasonBadJSON, "trailing"},
	{"two objects", `{"metrics":{"a":1}}{"metrics":{"a":1}}`, ReasonBadJSON, "trailing"},
	{"truncated", `{"metrics":{"a":1}`, ReasonBadJSON, "end of payload"},
	{"truncated in string", `{"metrics":{"a`, ReasonBadJSON, "unterminated"},
	{"trailing comma", `{"metrics":{"a":1},}`, ReasonBadJSON, ""},
	{"trailing comma in metrics", `{"metrics":{"a":1,}}`, ReasonBadJSON, ""},
	{"missing colon", `{"metrics" {"a":1}}`, ReasonBadJSON, "':'"},
	{"single quotes", `{'metrics':{'a':1}}`, ReasonBadJSON, ""},
	{"unquoted key", `{metrics:{"a":1}}`, ReasonBadJSON, ""},
	{"empty object", `{}`, ReasonBadJSON, `"metrics" is missing`},
	{"invalid UTF-8 in key", "{\"k\xff\":1,\"metrics\":{\"a\":1}}", ReasonBadJSON, "UTF-8"},
	{"invalid UTF-8 in metric name", "{\"metrics\":{\"a\xc3\":1}}", ReasonBadJSON, "UTF-8"},
	{"UTF-8 encoded surrogate", "{\"metrics\":{\"a\xed\xa0\x80\":1}}", ReasonBadJSON, "UTF-8"},
	{"invalid UTF-8 in unknown value", "{\"x\":\"\xff\",\"metrics\":{\"a\":1}}", ReasonBadJSON, "UTF-8"},
	{"raw control char in string", "{\"x\":\"a\nb\",\"metrics\":{\"a\":1}}", ReasonBadJSON, "control character"},
	{"invalid escape", `{"x":"\x41","metrics":{"a":1}}`, ReasonBadJSON, "escape"},
	{"short unicode escape", `{"x":"\u41","metrics":{"a":1}}`, ReasonBadJSON, "escape"},
	{"lone high surrogate", `{"metrics":{"a\ud800":1}}`, ReasonBadJSON, "surrogate"},
	{"lone low surrogate", `{"metrics":{"a\udc00":1}}`, ReasonBadJSON, "surrogate"},
	{"high surrogate then non-surrogate", `{"metrics":{"\ud800\u0041":1}}`, ReasonBadJSON, "surrogate"},
	{"seq negative", `{"seq":-1,"metrics":{"a":1}}`, ReasonBadJSON, "seq -1 is negative"},
	{"seq fraction", `{"seq":1.5,"metrics":{"a":1}}`, ReasonBadJSON, "not an integer"},
	{"seq non-integral exponent", `{"seq":15e-1,"metrics":{"a":1}}`, ReasonBadJSON, "not an integer"},
	{"seq overflow", `{"seq":18446744073709551616,"metrics":{"a":1}}`, ReasonBadJSON, "overflows"},
	{"seq overflow by exponent", `{"seq":1e20,"metrics":{"a":1}}`, ReasonBadJSON, "overflows"},
	{"seq string", `{"seq":"1","metrics":{"a":1}}`, ReasonBadJSON, "got a string"},
	{"seq bool", `{"seq":true,"metrics":{"a":1}}`, ReasonBadJSON, "got a bool"},
	{"seq null", `{"seq":null,"metrics":{"a":1}}`, ReasonBadJSON, "got null"},
	{"seq leading zero", `{"seq":01,"metrics":{"a":1}}`, ReasonBadJSON, ""},
	{"seq plus sign", `{"seq":+1,"metrics":{"a":1}}`, ReasonBadJSON, ""},
	{"boot negative", `{"boot":-3,"metrics":{"a":1}}`, ReasonBadJSON, "boot -3 is negative"},
	{"boot fraction", `{"boot":0.5,"metrics":{"a":1}}`, ReasonBadJSON, "not an integer"},
	{"ts float", `{"ts":1795341600123.5,"metrics":{"a":1}}`, ReasonBadTS, "not an integer"},
	{"ts negative", `{"ts":-1,"metrics":{"a":1}}`, ReasonBadTS, "negative"},
	{"ts bool", `{"ts":true,"metrics":{"a":1}}`, ReasonBadTS, "got a bool"},
	{"ts null", `{"ts":null,"metrics":{"a":1}}`, ReasonBadTS, "got null"},
	{"ts object", `{"ts":{},"metrics":{"a":1}}`, ReasonBadTS, "got an object"},
	{"ts unparsable", `{"ts":"yesterday","metrics":{"a":1}}`, ReasonBadTS, `"yesterday" is not an RFC 3339`},
	{"ts without zone", `{"ts":"2026-11-22T10:00:00","metrics":{"a":1}}`, ReasonBadTS, "RFC 3339"},
	{"ts invalid day", `{"ts":"2026-02-29T10:00:00Z","metrics":{"a":1}}`, ReasonBadTS, "RFC 3339"},
	{"ts hour 24", `{"ts":"2026-11-22T24:00:00Z","metrics":{"a":1}}`, ReasonBadTS, "RFC 3339"},
	{"ts before 1970", `{"ts":"1969-12-31T23:59:59.999Z","metrics":{"a":1}}`, ReasonBadTS, "before 1970"},
	{"ts after 2262", `{"ts":"9999-12-31T23:59:59Z","metrics":{"a":1}}`, ReasonBadTS, "after 2262"},
	{"ts unix ms after 2262", `{"ts":9223372036855,"metrics":{"a":1}}`, ReasonBadTS, "after 2262"},
	{"ts in the future", `{"ts":"2026-11-22T10:00:15.000000001Z","metrics":{"a":1}}`, ReasonFutureTS, "max_future_skew"},
	{"ts unix ms in the future", `{"ts":1795341616000,"metrics":{"a":1}}`, ReasonFutureTS, ""},
	{"spoofed device", `{"device":"wt-02","metrics":{"a":1}}`, ReasonSpoofed, `payload device "wt-02" does not match topic device "site-a/wt-01"`},
	{"spoofed device at another site", `{"device":"site-b/wt-01","metrics":{"a":1}}`, ReasonSpoofed, `payload device "site-b/wt-01" does not match topic device "site-a/wt-01"`},
	{"spoofed site alone", `{"device":"site-a","metrics":{"a":1}}`, ReasonSpoofed, ""},
	{"spoofed device by case", `{"device":"WT-01","metrics":{"a":1}}`, ReasonSpoofed, ""},
	{"device not a string", `{"device":1,"metrics":{"a":1}}`, ReasonBadJSON, "device must be a string"},
	{"metrics missing", `{"seq":1}`, ReasonBadJSON, `"metrics" is missing`},
	{"metrics null", `{"metrics":null}`, ReasonBadJSON, "got null"},
	{"metrics array", `{"metrics":[1,2]}`, ReasonBadJSON, "got an array"},
	{"metrics empty", `{"metrics":{}}`, ReasonBadJSON, `"metrics" is empty`},
	{"metric string", `{"metrics":{"wind_ms":"11.2"}}`, ReasonBadValue, `metric "wind_ms": value is a string`},
	{"metric bool", `{"metrics":{"on":true}}`, ReasonBadValue, `metric "on": value is a bool`},
	{"metric null", `{"metrics":{"a":null}}`, ReasonBadValue, `metric "a": value is null`},
	{"metric object", `{"metrics":{"a":{"v":1}}}`, ReasonBadValue, "value is an object"},
	{"metric array", `{"metrics":{"a":[1]}}`, ReasonBadValue, "value is an array"},
	{"metric overflow", `{"metrics":{"a":1e999}}`, ReasonBadValue, `metric "a": value 1e999 is not a finite float64`},
	{"metric negative overflow", `{"metrics":{"a":-1e309}}`, ReasonBadValue, "finite"},
	{"metric NaN", `{"metrics":{"a":NaN}}`, ReasonBadValue, `metric "a": value NaN is not finite`},
	{"metric Infinity", `{"metrics":{"a":Infinity ,"b":1}}`, ReasonBadValue, "value Infinity is not finite"},
	{"metric -Infinity", `{"metrics":{"a":-Infinity}}`, ReasonBadValue, "value -Infinity is not finite"},
	{"metric NaNa", `{"metrics":{"a":NaNa}}`, ReasonBadJSON, ""},
	{"metric -I", `{"metrics":{"a":-I}}`, ReasonBadJSON, ""},
	{"metric hex", `{"metrics":{"a":0x10}}`, ReasonBadJSON, ""},
	{"metric leading dot", `{"metrics":{"a":.5}}`, ReasonBadJSON, ""},
	{"metric trailing dot", `{"metrics":{"a":1.}}`, ReasonBadJSON, "decimal point"},
	{"metric empty exponent", `{"metrics":{"a":1e}}`, ReasonBadJSON, "exponent"},
	{"metric name empty", `{"metrics":{"":1}}`, ReasonBadJSON, "empty metric name"},
	{"metric name too long", `{"metrics":{"` + strings.Repeat("n", DefaultMaxMetricNameLen+1) + `":1}}`, ReasonBadJSON, "max_metric_name_len"},
	{"metric name escaped control char", `{"metrics":{"a\u0001":1}}`, ReasonBadJSON, "control character"},
	{"metric name escaped newline", `{"metrics":{"a\n":1}}`, ReasonBadJSON, "control character"},
	{"metric name DEL", "{\"metrics\":{\"a\x7f\":1}}", ReasonBadJSON, "control character"},
	{"metric name C1 control", `{"metrics":{"a\u0085":1}}`, ReasonBadJSON, "control character"},
	{"duplicate metric", `{"metrics":{"a":1,"b":2,"a":3}}`, ReasonBadJSON, `duplicate metric "a"`},
	{"duplicate metric by escape", `{"metrics":{"a":1,"\u0061":3}}`, ReasonBadJSON, "duplicate metric"},
	{"too many metrics", `{"metrics":` + manyMetrics(DefaultMaxMetrics+1) + `}`, ReasonTooManyMetrics, "more than 64"},
	{"duplicate seq", `{"seq":1,"seq":2,"metrics":{"a":1}}`, ReasonBadJSON, `duplicate key "seq"`},
	{"duplicate ts by escape", `{"ts":0,"t\u0073":0,"metrics":{"a":1}}`, ReasonBadJSON, "duplicate key"},
	{"duplicate metrics", `{"metrics":{"a":1},"metrics":{"b":1}}`, ReasonBadJSON, "duplicate key"},
	{"duplicate unknown key", `{"x":1,"metrics":{"a":1},"x":2}`, ReasonBadJSON, `duplicate key "x"`},
	{"too deep", `{"x":` + nested(MaxNestingDepth) + `,"metrics":{"a":1}}`, ReasonBadJSON, "nesting"},
	{"bad literal", `{"x":tru,"metrics":{"a":1}}`, ReasonBadJSON, "literal"},
}

func TestDecodeGood(t *testing.T) {
	t.Parallel()
	for _, tc := range goodCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := NewDecoder(Limits{})
			r := Reading{Redelivered: true, Metrics: []Metric{{"stale", 1}}}
			require.NoError(t, d.Decode("site-a", "site-a/wt-01", []byte(tc.payload), testReceived, &r))
			want := tc.want
			want.Site, want.Device, want.Received = "site-a", "site-a/wt-01", testReceived
			if tc.name == "max metrics" {
				require.Len(t, r.Metrics, DefaultMaxMetrics)
				want.Metrics = r.Metrics
			}
			require.Equal(t, want, r)
			for i, m := range want.Metrics { // require.Equal treats 0 and -0 alike
				require.Equal(t, math.Float64bits(m.Value), math.Float64bits(r.Metrics[i].Value), m.Name)
			}
		})
	}
}

func TestDecodeBad(t *testing.T) {
	t.Parallel()
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := NewDecoder(Limits{})
			r := Reading{Device: "untouched"}
			err := d.Decode("site-a", "site-a/wt-01", []byte(tc.payload), testReceived, &r)
			var re *RejectError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.reason, re.Reason, "detail: %s", re.Detail)
			require.Contains(t, re.Detail, tc.detail)
			require.Equal(t, Reading{Device: "untouched"}, r, "r must be unchanged on error")
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	d := NewDecoder(Limits{MaxPayloadBytes: 64, MaxMetrics: 2, MaxFutureSkew: time.Minute, MaxMetricNameLen: 3})
	decode := func(payload string) error {
		var r Reading
		return d.Decode("s", "d", []byte(payload), testReceived, &r)
	}
	require.NoError(t, decode(`{"metrics":{"abc":1,"b":2}}`))
	require.Equal(t, ReasonTooManyMetrics, ReasonOf(decode(`{"metrics":{"a":1,"b":2,"c":3}}`)))
	require.Equal(t, ReasonBadJSON, ReasonOf(decode(`{"metrics":{"abcd":1}}`)))
	require.Equal(t, ReasonTooLarge, ReasonOf(decode(`{"metrics":{"a":1}, "pad":"`+strings.Repeat(" ", 64)+`"}`)))
	require.NoError(t, decode(`{"ts":"2026-11-22T10:01:05Z","metrics":{"a":1}}`))
	require.Equal(t, ReasonFutureTS, ReasonOf(decode(`{"ts":"2026-11-22T10:01:06Z","metrics":{"a":1}}`)))
}

func TestDecodeReusesNothing(t *testing.T) {
	t.Parallel()
	d := NewDecoder(Limits{})
	var r1, r2 Reading
	require.NoError(t, d.Decode("s", "d", []byte(`{"metrics":{"a":1,"b":2}}`), 1, &r1))
	require.Equal(t, ReasonBadValue, ReasonOf(d.Decode("s", "d", []byte(`{"metrics":{"x":9,"y":"s"}}`), 1, &r2)))
	require.NoError(t, d.Decode("s", "d", []byte(`{"metrics":{"c":3}}`), 1, &r2))
	require.Equal(t, []Metric{{"a", 1}, {"b", 2}}, r1.Metrics)
	require.Equal(t, []Metric{{"c", 3}}, r2.Metrics)
}

func TestDecodeManyUnknownKeys(t *testing.T) {
	t.Parallel()
	d := NewDecoder(Limits{})
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 200 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	good := b.String() + `"metrics":{"a":1}}`
	dup := b.String() + `"k150":1,"metrics":{"a":1}}`
	var r Reading
	require.NoError(t, d.Decode("s", "d", []byte(good), 1, &r))
	require.Equal(t, ReasonBadJSON, ReasonOf(d.Decode("s", "d", []byte(dup), 1, &r)))
	require.NoError(t, d.Decode("s", "d", []byte(good), 1, &r), "the duplicate set must be reset")
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder(Limits{})
	payload := []byte(typicalPayload)
	var r Reading
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode("site-a", "wt-01", payload, testReceived, &r); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "decoding into the same Reading again reuses its Metrics")
	allocs = testing.AllocsPerRun(100, func() {
		var fresh Reading
		if err := d.Decode("site-a", "wt-01", payload, testReceived, &fresh); err != nil {
			t.Fatal(err)
		}
	})
	require.Equal(t, 1.0, allocs, "a new Reading: only its Metrics slice")
}

func TestDecodeStatus(t *testing.T) {
	t.Parallel()
	good := []struct {
		name, payload, state string
		ts                   int64
	}{
		{"online", "online", StatusOnline, 0},
		{"offline", "offline", StatusOffline, 0},
		{"upper case with whitespace", " \r\nOFFLINE\n", StatusOffline, 0},
		{"mixed case", "OnLine", StatusOnline, 0},
		{"json", `{"state":"offline"}`, StatusOffline, 0},
		{"json with RFC 3339 ts", ` {"state":"Online","ts":"2026-11-22T10:00:00Z"} `, StatusOnline, ns(2026, 11, 22, 10, 0, 0, 0)},
		{"json with unix ms ts", `{"ts":1795341600123,"state":"offline"}`, StatusOffline, 1795341600123e6},
		{"json with unknown keys", `{"state":"offline","reason":{"code":[1,2]},"device":"x"}`, StatusOffline, 0},
		{"json escaped", `{"st\u0061te":"offl\u0069ne"}`, StatusOffline, 0},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			state, ts, err := DecodeStatus([]byte(tc.payload))
			require.NoError(t, err)
			require.Equal(t, tc.state, state)
			require.Equal(t, tc.ts, ts)
		})
	}
	bad := []struct{ name, payload, reason string }{
		{"empty", "", ReasonBadJSON},
		{"unknown word", "dead", ReasonBadJSON},
		{"online with suffix", "online!", ReasonBadJSON},
		{"quoted", `"online"`, ReasonBadJSON},
		{"json without state", `{"ts":0}`, ReasonBadJSON},
		{"json empty", `{}`, ReasonBadJSON},
		{"json unknown state", `{"state":"sleeping"}`, ReasonBadJSON},
		{"json state not a string", `{"state":1}`, ReasonBadJSON},
		{"json duplicate state", `{"state":"online","state":"offline"}`, ReasonBadJSON},
		{"json trailing", `{"state":"online"}x`, ReasonBadJSON},
		{"json truncated", `{"state":"online"`, ReasonBadJSON},
		{"json bad ts", `{"state":"online","ts":"later"}`, ReasonBadTS},
		{"json negative ts", `{"state":"online","ts":-5}`, ReasonBadTS},
		{"too large", `{"state":"online","pad":"` + strings.Repeat("x", MaxStatusPayloadBytes) + `"}`, ReasonTooLarge},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := DecodeStatus([]byte(tc.payload))
			require.Equal(t, tc.reason, ReasonOf(err), "err: %v", err)
		})
	}
}

func TestParseUint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    uint64
		problem string
	}{
		{"0", 0, ""},
		{"-0", 0, "is negative"},
		{"7", 7, ""},
		{"120e-1", 12, ""},
		{"0.000e5", 0, ""},
		{"1.25e2", 125, ""},
		{"1.25e1", 0, "is not an integer"},
		{"18446744073709551615", math.MaxUint64, ""},
		{"1844674407370955161.5e1", math.MaxUint64, ""},
		{"18446744073709551616", 0, "overflows uint64"},
		{"1e19", 1e19, ""},
		{"1e-999999999999", 0, "is not an integer"},
		{"00", 0, ""},
		{"100000000000000000000e-1", 1e19, ""},
		{"9e99999999999999999999", 0, "overflows uint64"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, problem := parseUint([]byte(tc.in))
			require.Equal(t, tc.problem, problem)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseRFC3339MatchesTimeParse(t *testing.T) {
	t.Parallel()
	for _, s := range rfc3339Seeds {
		checkRFC3339(t, s)
	}
}

var rfc3339Seeds = []string{
	"2026-11-22T10:00:00.123Z", "2026-11-22T10:00:00Z", "2026-11-22T11:30:00.5+01:30", "0000-01-01T00:00:00Z",
	"9999-12-31T23:59:59.999999999-23:59", "2000-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
	"2026-11-22t10:00:00z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00.12345678912345Z", "2026-11-22T10:00:60Z",
	"2026-11-22T10:00:00+24:00", "1969-12-31T23:59:59.999999999Z", "2026-11-22T10:00:00-00:00",
}

// checkRFC3339 checks that parseRFC3339 agrees with time.Parse wherever it
// accepts s.
func checkRFC3339(t *testing.T, s string) {
	sec, nsec, ok := parseRFC3339([]byte(s))
	if !ok {
		return
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "fast path accepted %q, time.Parse did not", s)
	require.Equal(t, tm.Unix(), sec, s)
	require.Equal(t, int64(tm.Nanosecond()), nsec, s)
}

func FuzzRFC3339(f *testing.F) {
	for _, s := range rfc3339Seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64 {
			return
		}
		checkRFC3339(t, s)
	})
}

// maxFuzzPayload caps fuzz inputs: past a few payload limits nothing new is
// reachable.
const maxFuzzPayload = 3 * DefaultMaxPayloadBytes

func FuzzDecode(f *testing.F) {
	for _, tc := range goodCases {
		f.Add([]byte(tc.payload))
	}
	for _, tc := range badCases {
		if len(tc.payload) <= maxFuzzPayload {
			f.Add([]byte(tc.payload))
		}
	}
	reused := NewDecoder(Limits{}) // state must not leak between payloads
	tight := NewDecoder(Limits{MaxPayloadBytes: 96, MaxMetrics: 3, MaxMetricNameLen: 8})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > maxFuzzPayload {
			return
		}
		var r Reading
		err := NewDecoder(Limits{}).Decode("site-a", "wt-01", payload, testReceived, &r)
		var again Reading
		errAgain := reused.Decode("site-a", "wt-01", payload, testReceived, &again)
		require.Equal(t, err, errAgain, "a reused decoder must decide like a fresh one")
		require.Equal(t, r, again)
		var tr Reading
		if tightErr := tight.Decode("site-a", "wt-01", payload, testReceived, &tr); tightErr == nil {
			require.NoError(t, err, "tighter limits accepted what default limits rejected")
			require.Equal(t, r, tr)
		}
		if err != nil {
			var re *RejectError
			require.ErrorAs(t, err, &re)
			require.Contains(t, RejectReasons, re.Reason)
			return
		}
		checkAgainstEncodingJSON(t, payload, &r)
	})
}

// checkAgainstEncodingJSON is the differential half of FuzzDecode: a payload
// Decode accepted must be a JSON object for encoding/json too, with the same
// metrics, seq, boot, ts and device.
func checkAgainstEncodingJSON(t *testing.T, payload []byte, r *Reading) {
	require.True(t, json.Valid(payload), "accepted invalid JSON %q", payload)
	var plain map[string]any
	require.NoError(t, json.Unmarshal(payload, &plain))
	require.NotNil(t, plain, "accepted a non-object")
	metrics, ok := plain["metrics"].(map[string]any)
	require.True(t, ok, "metrics is not an object: %#v", plain["metrics"])
	require.Len(t, metrics, len(r.Metrics))
	for _, m := range r.Metrics {
		v, ok := metrics[m.Name].(float64)
		require.True(t, ok, "metric %q: encoding/json has %#v", m.Name, metrics[m.Name])
		require.Equal(t, math.Float64bits(v), math.Float64bits(m.Value), "metric %q", m.Name)
	}

	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var exact map[string]any
	require.NoError(t, dec.Decode(&exact))
	_, err := dec.Token()
	require.ErrorIs(t, err, io.EOF, "trailing data")
	checkUint := func(key string, present bool, want uint64) {
		v, ok := exact[key]
		require.Equal(t, present, ok, key)
		if !ok {
			require.Zero(t, want, key)
			return
		}
		num, isNum := v.(json.Number)
		require.True(t, isNum, "%s: %#v", key, v)
		rat, ok := new(big.Rat).SetString(string(num))
		require.True(t, ok, "%s: %s", key, num)
		require.True(t, rat.IsInt(), "%s: %s", key, num)
		require.Equal(t, 0, rat.Num().Cmp(new(big.Int).SetUint64(want)), "%s: %s != %d", key, num, want)
	}
	checkUint("seq", r.HasSeq, r.Seq)
	_, hasBoot := exact["boot"]
	checkUint("boot", hasBoot, r.Boot)

	if dev, ok := exact["device"]; ok {
		require.Equal(t, r.Device, dev)
	}
	ts, ok := exact["ts"]
	require.Equal(t, !r.TSMissing, ok)
	switch v := ts.(type) {
	case nil:
		require.Equal(t, r.Received, r.TS)
	case string:
		tm, err := time.Parse(time.RFC3339Nano, v)
		require.NoError(t, err)
		require.Equal(t, tm.UnixNano(), r.TS)
	case json.Number:
		rat, ok := new(big.Rat).SetString(string(v))
		require.True(t, ok)
		rat.Mul(rat, big.NewRat(int64(time.Millisecond), 1))
		require.True(t, rat.IsInt())
		require.Equal(t, 0, rat.Num().Cmp(big.NewInt(r.TS)), "ts %s != %d ns", v, r.TS)
	default:
		t.Fatalf("accepted ts %#v", ts)
	}
	require.LessOrEqual(t, r.TS, r.Received+int64(DefaultMaxFutureSkew))
	require.GreaterOrEqual(t, r.TS, int64(0))
	names := make([]string, len(r.Metrics))
	for i, m := range r.Metrics {
		names[i] = m.Name
		require.False(t, math.IsInf(m.Value, 0) || math.IsNaN(m.Value))
	}
	slices.Sort(names)
	require.Len(t, slices.Compact(names), len(r.Metrics), "duplicate names")
}

func FuzzDecodeStatus(f *testing.F) {
	for _, s := range []string{
		"online", "offline", " OFFLINE\n", "", "dead", `{"state":"offline"}`,
		`{"state":"online","ts":"2026-11-22T10:00:00Z"}`, `{"ts":1795341600123,"state":"offline","x":[{}]}`,
		`{"st\u0061te":"offl\u0069ne"}`, `{"state":"online","state":"offline"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > 2*MaxStatusPayloadBytes {
			return
		}
		state, ts, err := DecodeStatus(payload)
		if err != nil {
			require.NotEmpty(t, ReasonOf(err), "not a *RejectError: %v", err)
			require.Empty(t, state)
			return
		}
		require.Contains(t, []string{StatusOnline, StatusOffline}, state)
		require.GreaterOrEqual(t, ts, int64(0))
		if trimmed := bytes.TrimSpace(payload); len(trimmed) > 0 && trimmed[0] == '{' {
			require.True(t, json.Valid(payload), "accepted invalid JSON %q", payload)
		} else {
			require.Zero(t, ts)
		}
	})
}

// benchPayload is a typical 2-metric payload (127 bytes).
const benchPayload = `{"seq": 1234, "boot": 3, "ts": "2026-11-22T10:00:00.123Z", "device": "wt-01", ` +
	`"metrics": {"power_kw": 1523.4, "wind_ms": 11.2}}`

// benchPayloads are the payloads of BenchmarkDecode.
func benchPayloads() map[string][]byte {
	var b strings.Builder
	b.WriteString(`{"seq": 1234, "boot": 3, "ts": "2026-11-22T10:00:00.123Z", "metrics": {`)
	for i := range 16 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"metric_%02d": %d.%d`, i, 1000+i*37, i)
	}
	b.WriteString("}}")
	return map[string][]byte{
		"metrics=2":       []byte(benchPayload),
		"metrics=2,ts=ms": []byte(`{"seq": 1234, "boot": 3, "ts": 1795341600123, "device": "wt-01", "metrics": {"power_kw": 1523.4, "wind_ms": 11.2}}`),
		"metrics=16":      []byte(b.String()),
	}
}

func BenchmarkDecode(b *testing.B) {
	payloads := benchPayloads()
	for _, name := range []string{"metrics=2", "metrics=2,ts=ms", "metrics=16"} {
		payload := payloads[name]
		b.Run(name, func(b *testing.B) {
			d := NewDecoder(Limits{})
			var r Reading
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			n := 0
			for b.Loop() {
				if err := d.Decode("site-a", "wt-01", payload, testReceived, &r); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}

// BenchmarkDecodeEncodingJSON is the baseline the hand-written decoder is
// measured against: encoding/json into a struct with a map of metrics.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	payload := benchPayloads()["metrics=2"]
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var v struct {
			Seq     uint64             `json:"seq"`
			Boot    uint64             `json:"boot"`
			TS      time.Time          `json:"ts"`
			Metrics map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(payload, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeEncodingJSONOutput decodes payloads that encoding/json wrote
// (escaping <, >, & and non-ASCII as it does) from random metric names and
// values, and checks that Decode reads back exactly what was written.
func TestDecodeEncodingJSONOutput(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	runes := []rune("abcXYZ019_-.:/\\\"'<>&\u00e9\u00b0\u2028\u2029\U0001F600 ")
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-300, 5e-324, math.MaxFloat64, -math.MaxFloat64, 1523.4}
	d := NewDecoder(Limits{})
	for i := range 500 {
		metrics := make(map[string]float64)
		for range 1 + rng.IntN(8) {
			name := make([]rune, 1+rng.IntN(12))
			for j := range name {
				name[j] = runes[rng.IntN(len(runes))]
			}
			v := values[rng.IntN(len(values))]
			if rng.IntN(2) == 0 {
				v = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			}
			metrics[string(name)] = v
		}
		in := struct {
			Seq     uint64             `json:"seq"`
			Boot    uint64             `json:"boot"`
			TS      time.Time          `json:"ts"`
			Metrics map[string]float64 `json:"metrics"`
		}{rng.Uint64(), rng.Uint64(), time.Unix(0, testReceived-rng.Int64N(1e15)).In(time.FixedZone("", 60*(rng.IntN(1440)-720))), metrics}
		payload, err := json.Marshal(in)
		require.NoError(t, err)
		var r Reading
		require.NoError(t, d.Decode("s", "d", payload, testReceived, &r), "case %d: %s", i, payload)
		require.Equal(t, in.Seq, r.Seq)
		require.Equal(t, in.Boot, r.Boot)
		require.Equal(t, in.TS.UnixNano(), r.TS)
		got := make(map[string]float64, len(r.Metrics))
		for _, m := range r.Metrics {
			got[m.Name] = m.Value
			require.Equal(t, math.Float64bits(metrics[m.Name]), math.Float64bits(m.Value), "metric %q", m.Name)
		}
		require.Equal(t, metrics, got)
	}
}

func TestParseFloat(t *testing.T) {
	t.Parallel()
	check := func(num string) {
		t.Helper()
		checkReadFloat(t, num)
	}
	for _, num := range []string{
		"0", "-0", "0.0", "-0.000", "1", "-1", "1523.4", "11.2", "0.1", "0.3", "123456789012345678",
		"9007199254740993", "9007199254740992", "1234567890123456789", "12345678901234567890", "0.0000000000000000000001",
		"0.00000000000000000000001", "1.7976931348623157e308", "1e999", "-1e999", "4.9e-324", "1e-400",
		"0.000000000000000000000000000000", "99999999999999999999.5", "1.00000000000000011102230246251565404236316680908203125",
		"01", "1.", "-", "-x", "", "1.e5", "00.5", "-01", "1.5e", "1e+", "2.5E-3", "123abc", "7]",
	} {
		check(num)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteByte('-')
		}
		intDigits, fracDigits := 1+rng.IntN(12), rng.IntN(14)
		for i := range intDigits {
			if i == 0 && intDigits > 1 {
				b.WriteByte(byte('1' + rng.IntN(9)))
			} else {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		if fracDigits > 0 {
			b.WriteByte('.')
			for range fracDigits {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		check(b.String())
	}
}

func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"0", "-0.5", "1523.4", "9007199254740993", "0.0000000000000000000001", "1e5", "01", "1.", "-", "-.5", "1.5e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, num string) {
		if len(num) > 64 {
			return
		}
		checkReadFloat(t, num)
	})
}

// checkReadFloat checks that scanner.readFloat reads num as readNumber does
// and with the value strconv.ParseFloat gives.
func checkReadFloat(t *testing.T, num string) {
	t.Helper()
	s1, s2 := scanner{data: []byte(num)}, scanner{data: []byte(num)}
	got, raw, finite, err := s1.readFloat()
	wantRaw, wantErr := s2.readNumber()
	require.Equal(t, wantErr, err, num)
	require.Equal(t, s2.pos, s1.pos, num)
	if err != nil {
		return
	}
	require.Equal(t, wantRaw, raw, num)
	want, perr := strconv.ParseFloat(string(raw), 64)
	require.Equal(t, perr == nil || want == 0, finite, num)
	if finite {
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), num)
	}
}

func TestPrintablePrefix(t *testing.T) {
	t.Parallel()
	naive := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return i
			}
		}
		return len(b)
	}
	special := []byte{0, 0x1f, 0x20, '"', '\\', 0x7e, 0x7f, 0x80, 0xff, 'a', '!', '#', '[', ']', 0x21, 0x5b, 0x5d}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = special[rng.IntN(len(special))]
			} else {
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		require.Equal(t, naive(b), printablePrefix(b), "%q", b)
	}
}

func TestDecodeInternCacheFull(t *testing.T) {
	t.Parallel()
	d := NewDecoder(Limits{})
	var r Reading
	// Fill the cache with DefaultMaxInternedNames distinct names.
	for i := range DefaultMaxInternedNames / DefaultMaxMetrics {
		var b strings.Builder
		b.WriteString(`{"metrics":{`)
		for j := range DefaultMaxMetrics {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"n%d_%d":1`, i, j)
		}
		b.WriteString(`}}`)
		require.NoError(t, d.Decode("s", "d", []byte(b.String()), 1, &r))
	}
	require.Len(t, d.names, DefaultMaxInternedNames)
	// New names are no longer interned, yet duplicates are still caught,
	// among new names and among interned ones, as metrics and as keys.
	tests := []struct {
		payload string
		reason  string
	}{
		{`{"metrics":{"fresh":1,"n0_0":2}}`, ""},
		{`{"metrics":{"fresh":1,"n0_0":2,"fresh":3}}`, ReasonBadJSON},
		{`{"metrics":{"fresh":1,"n0_0":2,"n0_0":3}}`, ReasonBadJSON},
		{`{"k":1,"metrics":{"k":1},"k2":2}`, ""},
		{`{"k":1,"metrics":{"k":1},"k":2}`, ReasonBadJSON},
		{`{"n1_1":1,"metrics":{"n1_1":1},"n1_1":2}`, ReasonBadJSON},
		{`{"metrics":{"fresh":1,"n0_0":2}}`, ""},
	}
	for _, tc := range tests {
		require.Equal(t, tc.reason, ReasonOf(d.Decode("s", "d", []byte(tc.payload), 1, &r)), tc.payload)
	}
	require.Len(t, d.names, DefaultMaxInternedNames)
	require.Equal(t, []Metric{{"fresh", 1}, {"n0_0", 2}}, r.Metrics)
}
