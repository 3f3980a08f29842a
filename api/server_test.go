package api

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink/store"
)

// t0 is the start of the first fixture window; windows are 10 s.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func start(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }

// agg is a hand-made aggregate of group and metric for window i.
func agg(group, metric string, i, revision int) aggregate.Aggregate {
	s := aggregate.Stat{Value: 41234.5, Lower: 40100, Upper: 44100, Reported: 39000}
	return aggregate.Aggregate{
		Group:     group,
		Metric:    metric,
		Window:    aggregate.Window{Start: start(i), End: start(i + 1)},
		Stats:     aggregate.Stats{Sum: s, Mean: s, Min: s, Max: s, Count: aggregate.CountStat{Value: 20}},
		Coverage:  aggregate.Coverage{Expected: 20, Reported: 20, Ratio: 1, Missing: []aggregate.Missing{}},
		Staleness: aggregate.Staleness{MaxAgeS: 1.5, Watermark: start(i + 1)},
		Quality:   aggregate.QualityGood,
		Counts:    aggregate.Counts{Samples: 200},
		Flags:     []string{},
		Revision:  revision,
		Final:     revision > 0,
		EmittedAt: start(i + 1).Add(2 * time.Second),
	}
}

// newStore holds site-a/power_kw windows 0-5 (window 2 with revisions 0 and
// 1; window 5, the newest, with 19 of 20 devices and wt-07 missing),
// site-a/temp_c window 0 and site-b/temp_c window 0.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.New(store.Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	for i := range 6 {
		a := agg("site-a", "power_kw", i, 0)
		if i == 5 {
			seen, age := start(i).Add(-30*time.Second), 42.0
			a.Coverage = aggregate.Coverage{
				Expected: 20, Reported: 19, Ratio: 0.95,
				Missing: []aggregate.Missing{{Device: "site-a/wt-07", State: "silent", LastSeen: &seen, AgeS: &age}},
			}
			a.Quality = aggregate.QualityUncertain
			a.Stats.Sum.Lower = aggregate.Num(-1) // distinguishable on the page
		}
		st.Add(a)
	}
	st.Add(agg("site-a", "power_kw", 2, 1))
	st.Add(agg("site-a", "temp_c", 0, 0))
	st.Add(agg("site-b", "temp_c", 0, 0))
	return st
}

// fakeEngine answers from canned devices and groups, or fails with err.
type fakeEngine struct {
	devices []aggregate.DeviceInfo
	groups  []aggregate.GroupInfo
	err     error
}

func (f *fakeEngine) Devices(_ context.Context, flt aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := []aggregate.DeviceInfo{}
	for _, d := range f.devices {
		if (flt.ID == "" || flt.ID == d.ID) && (flt.State == "" || flt.State == d.State) && (flt.Group == "" || flt.Group == d.Group) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeEngine) Groups(context.Context) ([]aggregate.GroupInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.groups, nil
}

// withRejects gives the server three reject samples, 7 not sampled.
func withRejects(d *Deps) {
	d.Rejects = func() ([]aggregate.RejectSample, uint64) {
		return []aggregate.RejectSample{
			{Time: t0, Reason: "bad_json", Device: "wt-01", Payload: "{", PayloadBytes: 1},
			{Time: t0.Add(time.Second), Reason: "bad_value", Device: "wt-02", Payload: `{"metrics":{"power_kw":"x"}}`, PayloadBytes: 28},
			{Time: t0.Add(2 * time.Second), Reason: "bad_value", Device: "wt-03", Payload: `{"metrics":{"power_kw":"y"}}`, PayloadBytes: 28},
		}, 7
	}
}

// blockingEngine blocks every query until its context is done.
type blockingEngine struct{}

func (blockingEngine) Devices(ctx context.Context, _ aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (blockingEngine) Groups(ctx context.Context) ([]aggregate.GroupInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// counts are device counts as the engine makes them: rejected never nil.
func counts(rejected map[string]uint64) aggregate.DeviceCounts {
	return aggregate.DeviceCounts{Accepted: 100, Rejected: rejected}
}

func goodEngine() *fakeEngine {
	wm := start(6)
	return &fakeEngine{
		devices: []aggregate.DeviceInfo{
			{ID: "site-a/wt-01", Site: "site-a", Name: "wt-01", Group: "site-a", State: "live", Metrics: map[string]float64{"power_kw": 2000}, Counts: counts(map[string]uint64{})},
			{ID: "site-a/wt-07", Site: "site-a", Name: "wt-07", Group: "site-a", State: "silent", Metrics: map[string]float64{"power_kw": 1100}, Counts: counts(map[string]uint64{"bad_json": 2})},
			{ID: "site-b/th-01", Site: "site-b", Name: "th-01", Group: "site-b", State: "live", Metrics: map[string]float64{}, Counts: counts(map[string]uint64{})},
		},
		groups: []aggregate.GroupInfo{
			{Name: "site-a", Expected: 20, States: map[string]int{"live": 19, "silent": 1}, Metrics: []string{"power_kw", "temp_c"}, Watermark: &wm},
			{Name: "site-b", Expected: 1, States: map[string]int{"live": 1}, Metrics: []string{"temp_c"}},
			{Name: "site-c", Expected: 0, States: map[string]int{}, Metrics: []string{}},
		},
	}
}

type fixture struct {
	cfg    Config
	engine Engine
	ready  func() error
	deps   func(*Deps) // changes the dependencies
}

// fixtureNow is the clock of fixture servers: 3 s after the newest window
// of newStore ended.
var fixtureNow = start(6).Add(3 * time.Second)

func newServer(t *testing.T, f fixture) (*Server, *prometheus.Registry) {
	t.Helper()
	if f.engine == nil {
		f.engine = goodEngine()
	}
	if f.cfg.Now == nil {
		f.cfg.Now = func() time.Time { return fixtureNow }
	}
	reg := prometheus.NewRegistry()
	deps := Deps{Store: newStore(t), Engine: f.engine, Ready: f.ready, Gatherer: reg}
	if f.deps != nil {
		f.deps(&deps)
	}
	s, err := New(f.cfg, deps, nil, reg)
	require.NoError(t, err)
	return s, reg
}

func do(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	failing := &fakeEngine{err: errors.New("boom")}
	stopped := &fakeEngine{err: aggregate.ErrStopped}
	tests := []struct {
		name     string
		method   string // default GET
		target   string
		fx       fixture
		status   int
		code     string   // for errors
		contains []string // in the error message or body
		check    func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{
			name: "aggregates", target: "/api/v1/aggregates?group=site-a&metric=power_kw", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[AggregatesResponse](t, rec)
				require.Len(t, r.Aggregates, 6)
				require.Equal(t, start(0), r.Aggregates[0].Window.Start)
				require.Equal(t, start(5), r.Aggregates[5].Window.Start, "newest last")
			},
		},
		{name: "aggregates without group", target: "/api/v1/aggregates?metric=power_kw", status: 400, code: CodeMissingParameter, contains: []string{`"group"`}},
		{name: "aggregates with empty group", target: "/api/v1/aggregates?group=&metric=power_kw", status: 400, code: CodeMissingParameter, contains: []string{`"group"`}},
		{name: "aggregates without metric", target: "/api/v1/aggregates?group=site-a", status: 400, code: CodeMissingParameter, contains: []string{`"metric"`}},
		{name: "aggregates bad from", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=yesterday", status: 400, code: CodeBadParameter, contains: []string{`"from"`, "yesterday"}},
		{name: "aggregates bad to", target: "/api/v1/aggregates?group=site-a&metric=power_kw&to=2026-13-01T00:00:00Z", status: 400, code: CodeBadParameter, contains: []string{`"to"`}},
		{name: "aggregates unix out of range", target: "/api/v1/aggregates?group=site-a&metric=power_kw&to=99999999999999999999", status: 400, code: CodeBadParameter, contains: []string{`"to"`, "out of range"}},
		{name: "aggregates too many decimals", target: "/api/v1/aggregates?group=site-a&metric=power_kw&to=1.0000000001", status: 400, code: CodeBadParameter, contains: []string{`"to"`, "decimals"}},
		{name: "aggregates from after to", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=2026-11-22T10:01:00Z&to=2026-11-22T10:00:00Z", status: 400, code: CodeBadParameter, contains: []string{`"from"`, "after"}},
		{name: "aggregates limit zero", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=0", status: 400, code: CodeBadParameter, contains: []string{`"limit"`, "positive"}},
		{name: "aggregates limit negative", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=-3", status: 400, code: CodeBadParameter, contains: []string{`"limit"`}},
		{name: "aggregates limit not a number", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=ten", status: 400, code: CodeBadParameter, contains: []string{`"limit"`, "integer"}},
		{name: "aggregates limit over max", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=10001", status: 400, code: CodeLimitTooLarge, contains: []string{`"limit"`, "10000", "http.max_limit"}},
		{name: "aggregates limit over configured max", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=6", fx: fixture{cfg: Config{MaxLimit: 5}}, status: 400, code: CodeLimitTooLarge, contains: []string{`"limit"`, "5"}},
		{name: "aggregates range too large", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z", status: 400, code: CodeRangeTooLarge, contains: []string{"48h0m0s", "24h0m0s", "http.max_range"}},
		{name: "aggregates range from only, too far back", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=2026-11-21T09:00:00Z", status: 400, code: CodeRangeTooLarge},
		{name: "aggregates range within a configured max", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=2026-11-22T10:00:00Z&to=2026-11-22T10:01:00Z", fx: fixture{cfg: Config{MaxRange: time.Minute}}, status: 200},
		{name: "aggregates range over a configured max", target: "/api/v1/aggregates?group=site-a&metric=power_kw&from=2026-11-22T10:00:00Z&to=2026-11-22T10:01:01Z", fx: fixture{cfg: Config{MaxRange: time.Minute}}, status: 400, code: CodeRangeTooLarge},
		{name: "aggregates unknown parameter", target: "/api/v1/aggregates?group=site-a&metric=power_kw&grup=x", status: 400, code: CodeBadParameter, contains: []string{`"grup"`, "unknown parameter", "cursor"}},
		{name: "aggregates bad cursor", target: "/api/v1/aggregates?group=site-a&metric=power_kw&cursor=xyz", status: 400, code: CodeBadParameter, contains: []string{`"cursor"`, "malformed"}},
		{name: "aggregates limit repeated", target: "/api/v1/aggregates?group=site-a&metric=power_kw&limit=1&limit=2", status: 400, code: CodeBadParameter, contains: []string{`"limit"`, "2 times"}},
		{name: "aggregates bad revisions", target: "/api/v1/aggregates?group=site-a&metric=power_kw&revisions=some", status: 400, code: CodeBadParameter, contains: []string{`"revisions"`}},
		{name: "aggregates unknown group", target: "/api/v1/aggregates?group=site-x&metric=power_kw", status: 422, code: CodeUnknownGroup, contains: []string{"site-x"}},
		{name: "aggregates unknown metric", target: "/api/v1/aggregates?group=site-a&metric=rpm", status: 422, code: CodeUnknownMetric, contains: []string{"rpm"}},
		{name: "aggregates metric not in group", target: "/api/v1/aggregates?group=site-b&metric=power_kw", status: 422, code: CodeUnknownMetric, contains: []string{"site-b", "power_kw"}},

		{
			name: "latest all", target: "/api/v1/aggregates/latest", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[AggregatesResponse](t, rec)
				require.Len(t, r.Aggregates, 3)
				require.Equal(t, "site-a", r.Aggregates[0].Group)
				require.Equal(t, "power_kw", r.Aggregates[0].Metric)
				require.Equal(t, start(5), r.Aggregates[0].Window.Start)
			},
		},
		{
			name: "latest by group", target: "/api/v1/aggregates/latest?group=site-a", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.Len(t, decode[AggregatesResponse](t, rec).Aggregates, 2)
			},
		},
		{
			name: "latest by metric", target: "/api/v1/aggregates/latest?metric=temp_c", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[AggregatesResponse](t, rec)
				require.Len(t, r.Aggregates, 2)
				require.Equal(t, "site-b", r.Aggregates[1].Group)
			},
		},
		{
			name: "latest by group and metric", target: "/api/v1/aggregates/latest?group=site-b&metric=temp_c", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.Len(t, decode[AggregatesResponse](t, rec).Aggregates, 1)
			},
		},
		{name: "latest unknown group", target: "/api/v1/aggregates/latest?group=site-x", status: 422, code: CodeUnknownGroup},
		{name: "latest unknown metric", target: "/api/v1/aggregates/latest?metric=rpm", status: 422, code: CodeUnknownMetric},
		{name: "latest metric not in group", target: "/api/v1/aggregates/latest?group=site-b&metric=power_kw", status: 422, code: CodeUnknownMetric},
		{name: "latest repeated group", target: "/api/v1/aggregates/latest?group=a&group=b", status: 400, code: CodeBadParameter, contains: []string{`"group"`}},

		{
			name: "devices", target: "/api/v1/devices", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.Len(t, decode[DevicesResponse](t, rec).Devices, 3)
			},
		},
		{
			name: "devices by state", target: "/api/v1/devices?state=silent", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[DevicesResponse](t, rec)
				require.Len(t, r.Devices, 1)
				require.Equal(t, "site-a/wt-07", r.Devices[0].ID)
			},
		},
		{
			name: "devices by group", target: "/api/v1/devices?group=site-b", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[DevicesResponse](t, rec)
				require.Len(t, r.Devices, 1)
				require.Equal(t, "site-b/th-01", r.Devices[0].ID)
			},
		},
		{name: "devices of a known group with none", target: "/api/v1/devices?group=site-c", status: 200, contains: []string{`{"devices":[]}`}},
		{name: "devices bad state", target: "/api/v1/devices?state=asleep", status: 400, code: CodeBadParameter, contains: []string{`"state"`, "asleep", "never_seen"}},
		{name: "devices unknown group", target: "/api/v1/devices?group=site-x", status: 422, code: CodeUnknownGroup},
		{name: "devices engine error", target: "/api/v1/devices", fx: fixture{engine: failing}, status: 503, code: CodeUnavailable, contains: []string{"boom"}},
		{name: "devices engine stopped", target: "/api/v1/devices", fx: fixture{engine: stopped}, status: 503, code: CodeUnavailable, contains: []string{"stopped"}},
		{name: "devices engine timeout", target: "/api/v1/devices", fx: fixture{engine: blockingEngine{}, cfg: Config{QueryTimeout: 10 * time.Millisecond}}, status: 503, code: CodeUnavailable, contains: []string{"within 10ms"}},

		{
			name: "device", target: "/api/v1/devices/site-a/wt-07", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				d := decode[aggregate.DeviceInfo](t, rec)
				require.Equal(t, "site-a/wt-07", d.ID)
				require.Equal(t, "silent", d.State)
			},
		},
		{name: "device unknown", target: "/api/v1/devices/site-a/wt-99", status: 404, code: CodeUnknownDevice, contains: []string{"site-a/wt-99"}},
		{name: "device without site", target: "/api/v1/devices/wt-07", status: 404, code: CodeNotFound},
		{name: "device engine error", target: "/api/v1/devices/site-a/wt-07", fx: fixture{engine: failing}, status: 503, code: CodeUnavailable},

		{
			name: "groups", target: "/api/v1/groups", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[GroupsResponse](t, rec)
				require.Len(t, r.Groups, 3)
				a := r.Groups[0]
				require.Equal(t, "site-a", a.Name)
				require.Equal(t, 20, a.Expected)
				require.Equal(t, MetricCoverage{Expected: 20, Reported: 19, Ratio: 0.95, Quality: aggregate.QualityUncertain, WindowStart: start(5)}, a.Coverage["power_kw"])
				require.Equal(t, 20, a.Coverage["temp_c"].Reported)
				require.Empty(t, r.Groups[2].Coverage)
				// The embedded GroupInfo's fields are at the top level.
				require.Contains(t, rec.Body.String(), `{"name":"site-a","expected":20,`)
				require.Contains(t, rec.Body.String(), `"coverage":{}`)
			},
		},
		{name: "groups engine error", target: "/api/v1/groups", fx: fixture{engine: failing}, status: 503, code: CodeUnavailable},
		{name: "groups take no parameters", target: "/api/v1/groups?x=1", status: 400, code: CodeBadParameter, contains: []string{`"x"`, "takes none"}},
		{
			name: "groups with the fleet's statistics", target: "/api/v1/groups",
			fx: fixture{deps: func(d *Deps) {
				d.MetricStat = func(m string) string { return map[string]string{"power_kw": "sum", "temp_c": "mean"}[m] }
			}},
			status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[GroupsResponse](t, rec)
				require.Equal(t, map[string]string{"power_kw": "sum", "temp_c": "mean"}, r.Groups[0].MetricStats)
				require.Equal(t, map[string]string{}, r.Groups[2].MetricStats, "no metrics")
			},
		},

		{
			name: "rejects without a source", target: "/api/v1/rejects", status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.JSONEq(t, `{"rejects":[],"not_sampled":0}`, rec.Body.String())
			},
		},
		{
			name: "rejects", target: "/api/v1/rejects", fx: fixture{deps: withRejects}, status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[RejectsResponse](t, rec)
				require.Len(t, r.Rejects, 3)
				require.Equal(t, uint64(7), r.NotSampled)
				require.Equal(t, "bad_json", r.Rejects[0].Reason, "oldest first")
			},
		},
		{
			name: "rejects by reason and device", target: "/api/v1/rejects?reason=bad_value&device=wt-03", fx: fixture{deps: withRejects}, status: 200,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				r := decode[RejectsResponse](t, rec)
				require.Len(t, r.Rejects, 1)
				require.Equal(t, "wt-03", r.Rejects[0].Device)
			},
		},
		{name: "rejects repeated reason", target: "/api/v1/rejects?reason=a&reason=b", status: 400, code: CodeBadParameter},

		{name: "healthz", target: "/healthz", status: 200, contains: []string{`{"status":"ok"}`}},
		{name: "healthz ignores the engine", target: "/healthz", fx: fixture{engine: failing, ready: func() error { return errors.New("x") }}, status: 200},
		{name: "healthz head", method: http.MethodHead, target: "/healthz", status: 200},
		{name: "readyz", target: "/readyz", status: 200, contains: []string{`{"status":"ready"}`}},
		{name: "readyz with ready func", target: "/readyz", fx: fixture{ready: func() error { return nil }}, status: 200},
		{name: "readyz not ready", target: "/readyz", fx: fixture{ready: func() error { return errors.New("broker not connected") }}, status: 503, code: CodeNotReady, contains: []string{"broker not connected"}},

		{name: "metrics", target: "/metrics", status: 200, contains: []string{"rollcall_api_request_duration_seconds"}},
		{name: "metrics ignore parameters", target: "/metrics?debug=1", status: 200},
		{name: "status page", target: "/", status: 200, contains: []string{`<script src="/static/app.js">`, "Fleet coverage"}},
		{name: "status page ignores parameters", target: "/?windows=60", status: 200},
		{name: "status script", target: "/static/app.js", status: 200, contains: []string{"/api/v1/aggregates/stream"}},
		{name: "status style", target: "/static/style.css", status: 200, contains: []string{"svg.chart"}},
		{name: "status file unknown", target: "/static/nope.js", status: 404, code: CodeNotFound},
		{name: "status page only at /", target: "/static/index.html", status: 404, code: CodeNotFound},

		{name: "unknown path", target: "/nope", status: 404, code: CodeNotFound},
		{name: "unknown api path", target: "/api/v1", status: 404, code: CodeNotFound},
		{name: "device without id", target: "/api/v1/devices/", status: 404, code: CodeNotFound},
		{name: "device sub-path", target: "/api/v1/devices/a/b/c", status: 404, code: CodeNotFound},
		{name: "post aggregates", method: http.MethodPost, target: "/api/v1/aggregates", status: 405, code: CodeMethodNotAllowed, contains: []string{"POST"}},
		{name: "delete device", method: http.MethodDelete, target: "/api/v1/devices/site-a/wt-07", status: 405, code: CodeMethodNotAllowed},
		{name: "put status page", method: http.MethodPut, target: "/", status: 405, code: CodeMethodNotAllowed},
		{name: "post metrics", method: http.MethodPost, target: "/metrics", status: 405, code: CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newServer(t, tt.fx)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			rec := do(s.Handler(), method, tt.target, nil)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status >= 400 {
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				e := decode[Error](t, rec)
				require.Equal(t, tt.code, e.Code)
				require.NotEmpty(t, e.Message)
				for _, c := range tt.contains {
					require.Contains(t, e.Message, c)
				}
			} else {
				for _, c := range tt.contains {
					require.Contains(t, rec.Body.String(), c)
				}
			}
			if tt.status == http.StatusMethodNotAllowed {
				require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			}
			if strings.HasPrefix(tt.target, "/api/") && tt.status == 200 {
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			}
			if tt.check != nil {
				tt.check(t, rec)
			}
		})
	}
}

func TestAggregatesSelection(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	unix := func(i int) string { return strconv.FormatInt(start(i).Unix(), 10) }
	rfc := func(i int) string { return start(i).Format(time.RFC3339) }
	type window struct{ start, revision int }
	tests := []struct {
		name  string
		query string
		want  []window
	}{
		{"everything", "", []window{{0, 0}, {1, 0}, {2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"latest revisions", "revisions=latest", []window{{0, 0}, {1, 0}, {2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"all revisions", "revisions=all", []window{{0, 0}, {1, 0}, {2, 0}, {2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"from rfc3339", "from=" + rfc(2), []window{{2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"to is exclusive", "to=" + rfc(3), []window{{0, 0}, {1, 0}, {2, 1}}},
		{"from and to unix", "from=" + unix(1) + "&to=" + unix(4), []window{{1, 0}, {2, 1}, {3, 0}}},
		{"fractional unix", "from=" + unix(1) + ".5", []window{{2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"zone offset", "from=" + url.QueryEscape(start(4).In(time.FixedZone("", 3600)).Format(time.RFC3339)), []window{{4, 0}, {5, 0}}},
		{"unescaped zone offset", "from=" + start(4).In(time.FixedZone("", 3600)).Format(time.RFC3339), []window{{4, 0}, {5, 0}}},
		{"limit keeps the newest", "limit=2", []window{{4, 0}, {5, 0}}},
		{"limit within range", "from=" + rfc(1) + "&to=" + rfc(4) + "&limit=1", []window{{3, 0}}},
		{"limit counts windows, not revisions", "limit=4&revisions=all", []window{{2, 0}, {2, 1}, {3, 0}, {4, 0}, {5, 0}}},
		{"from equals to", "from=" + rfc(2) + "&to=" + rfc(2), []window{}},
		{"after the newest", "from=" + rfc(9), []window{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := do(s.Handler(), http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw&"+tt.query, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			got := []window{}
			for _, a := range decode[AggregatesResponse](t, rec).Aggregates {
				got = append(got, window{int(a.Window.Start.Sub(t0) / (10 * time.Second)), a.Revision})
			}
			require.Equal(t, tt.want, got)
			if len(tt.want) == 0 {
				require.JSONEq(t, `{"aggregates":[]}`, rec.Body.String())
			}
		})
	}
}

func TestDefaultLimit(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{DefaultLimit: 2}})
	rec := do(s.Handler(), http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	r := decode[AggregatesResponse](t, rec)
	require.Len(t, r.Aggregates, 2)
	require.Equal(t, start(4), r.Aggregates[0].Window.Start)
}

func TestUnknownNumbersAreNull(t *testing.T) {
	t.Parallel()
	st, err := store.New(store.Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	a := agg("dark", "power_kw", 0, 0)
	a.Stats.Sum = aggregate.Stat{Value: aggregate.Num(math.NaN()), Lower: 0, Upper: aggregate.Num(math.Inf(1)), Reported: aggregate.Num(math.NaN())}
	st.Add(a)
	reg := prometheus.NewRegistry()
	s, err := New(Config{}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	rec := do(s.Handler(), http.MethodGet, "/api/v1/aggregates/latest", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"sum":{"value":null,"lower":0,"upper":null,"reported":null}`)
}

func TestCompression(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	const target = "/api/v1/aggregates?group=site-a&metric=power_kw"

	rec := do(s.Handler(), http.MethodGet, target, http.Header{"Accept-Encoding": {"gzip"}})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	body, err := io.ReadAll(zr)
	require.NoError(t, err)
	var r AggregatesResponse
	require.NoError(t, json.Unmarshal(body, &r))
	require.Len(t, r.Aggregates, 6)

	rec = do(s.Handler(), http.MethodGet, target, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Header().Get("Content-Encoding"), "not asked for")

	rec = do(s.Handler(), http.MethodGet, "/healthz", http.Header{"Accept-Encoding": {"gzip"}})
	require.Empty(t, rec.Header().Get("Content-Encoding"), "too small to compress")
	require.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
}

func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	h := s.Handler()
	do(h, http.MethodGet, "/api/v1/aggregates?group=site-a", nil)
	do(h, http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw", nil)
	do(h, http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw", nil)
	do(h, http.MethodPost, "/api/v1/groups", nil)
	do(h, http.MethodGet, "/nope", nil)
	require.InDelta(t, 1, testutil.ToFloat64(s.m.requests.WithLabelValues(handlerAggregates, "400")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(s.m.requests.WithLabelValues(handlerAggregates, "200")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(s.m.requests.WithLabelValues(handlerGroups, "405")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(s.m.requests.WithLabelValues(handlerNotFound, "404")), 0)

	rec := do(h, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	require.Contains(t, body, "# TYPE rollcall_api_requests_total counter")
	require.Contains(t, body, `rollcall_api_requests_total{code="200",handler="aggregates"} 2`)
	require.Contains(t, body, `rollcall_api_request_duration_seconds_count{handler="aggregates"} 3`)
	// promhttp compresses itself; the outer compression must not do it twice.
	rec = do(h, http.MethodGet, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Contains(t, string(plain), "rollcall_api_requests_total")
}

// TestStatusPage checks how the page's files are served; what the page
// shows is TestIntegrationStatusPage's (api/apitest), in Chromium.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	h := s.Handler()
	tests := []struct {
		target, contentType string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/static/app.js", "text/javascript; charset=utf-8"},
		{"/static/style.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		rec := do(h, http.MethodGet, tt.target, nil)
		require.Equal(t, http.StatusOK, rec.Code, tt.target)
		require.Equal(t, tt.contentType, rec.Header().Get("Content-Type"), tt.target)
		require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
		require.Contains(t, rec.Header().Get("Content-Security-Policy"), "script-src 'self'")
		etag := rec.Header().Get("ETag")
		require.NotEmpty(t, etag)
		// Revalidation costs no body.
		rec = do(h, http.MethodGet, tt.target, http.Header{"If-None-Match": {etag}})
		require.Equal(t, http.StatusNotModified, rec.Code, tt.target)
		require.Empty(t, rec.Body.String())
	}
	// No CDN, no external resource: every src and href is on this server.
	page := do(h, http.MethodGet, "/", nil).Body.String()
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		require.True(t, strings.HasPrefix(m[1], "/"), "external reference %q", m[1])
	}
	require.Contains(t, page, `name="viewport"`, "usable on a phone")
	// The page reads through the token when one is configured.
	app := do(h, http.MethodGet, "/static/app.js", nil).Body.String()
	require.Contains(t, app, "Authorization")
	require.Contains(t, app, "Last-Event-ID")
	require.NotContains(t, app, "innerHTML", "device names are text, never markup")
	// Compressed when asked: the script is larger than the threshold.
	rec := do(h, http.MethodGet, "/static/app.js", http.Header{"Accept-Encoding": {"gzip"}})
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	require.NotNil(t, c.Now)
	withoutNow := c
	withoutNow.Now = nil
	require.Equal(t, Config{
		Addr: ":8080", MaxLimit: 10000, DefaultLimit: 360, QueryTimeout: 5 * time.Second,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16384,
		MaxURLBytes: 4096, MaxBodyBytes: 4096, MaxRange: 24 * time.Hour, MaxStreams: 32,
		StreamHeartbeat: 15 * time.Second,
	}, withoutNow)
	require.NoError(t, c.Validate())
	require.Equal(t, 100, Config{MaxLimit: 100}.WithDefaults().DefaultLimit, "the default limit follows a smaller max")

	var fromYAML Config
	require.NoError(t, yaml.Unmarshal([]byte("addr: 127.0.0.1:9090\nmax_limit: 50\ndefault_limit: 10\nquery_timeout: 2s\n"), &fromYAML))
	require.Equal(t, Config{Addr: "127.0.0.1:9090", MaxLimit: 50, DefaultLimit: 10, QueryTimeout: 2 * time.Second}, fromYAML)

	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"bad addr", func(c *Config) { c.Addr = "8080" }, []string{"http.addr"}},
		{"negative max limit", func(c *Config) { c.MaxLimit = -1 }, []string{"http.max_limit"}},
		{"default over max", func(c *Config) { c.MaxLimit, c.DefaultLimit = 10, 11 }, []string{"http.default_limit", "http.max_limit 10"}},
		{"negative default limit", func(c *Config) { c.DefaultLimit = -1 }, []string{"http.default_limit"}},
		{"negative header bytes", func(c *Config) { c.MaxHeaderBytes = -1 }, []string{"http.max_header_bytes"}},
		{"negative timeout", func(c *Config) { c.IdleTimeout = -time.Second }, []string{"http.idle_timeout"}},
		{"header timeout over read timeout", func(c *Config) { c.ReadHeaderTimeout = time.Minute }, []string{"http.read_header_timeout"}},
		{"query timeout over write timeout", func(c *Config) { c.QueryTimeout = time.Minute }, []string{"http.", "http.write_timeout"}},
		{"url over headers", func(c *Config) { c.MaxURLBytes = c.MaxHeaderBytes + 1 }, []string{"http.max_url_bytes", "http.max_header_bytes"}},
		{"negative url bytes", func(c *Config) { c.MaxURLBytes = -1 }, []string{"http.max_url_bytes"}},
		{"negative body bytes", func(c *Config) { c.MaxBodyBytes = -1 }, []string{"http.max_body_bytes"}},
		{"negative range", func(c *Config) { c.MaxRange = -time.Hour }, []string{"http.max_range"}},
		{"no streams", func(c *Config) { c.MaxStreams = -1 }, []string{"http.max_streams"}},
		{"negative heartbeat", func(c *Config) { c.StreamHeartbeat = -1 }, []string{"http.stream_heartbeat"}},
		{"short token", func(c *Config) { c.Token = "short" }, []string{"http.token", "16"}},
		{"token with a space", func(c *Config) { c.Token = "0123456789 abcdef" }, []string{"http.token", "spaces"}},
		{"metrics auth without token", func(c *Config) { c.MetricsAuth = true }, []string{"http.metrics_auth"}},
		{"cert without key", func(c *Config) { c.TLSCert = "cert.pem" }, []string{"http.tls_cert and http.tls_key"}},
		{"key without cert", func(c *Config) { c.TLSKey = "key.pem" }, []string{"http.tls_cert and http.tls_key"}},
		{
			"every problem at once",
			func(c *Config) { c.Addr, c.MaxLimit, c.ReadTimeout = "x", -1, -1 },
			[]string{"http.addr", "http.max_limit", "http.read_timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Config{}.WithDefaults()
			tt.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	st, err := store.New(store.Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	reg := prometheus.NewRegistry()

	_, err = New(Config{}, Deps{}, nil, reg)
	require.ErrorIs(t, err, ErrMissingDependency)
	for _, f := range []string{"store", "engine", "gatherer"} {
		require.ErrorContains(t, err, f)
	}
	_, err = New(Config{}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, nil)
	require.ErrorIs(t, err, ErrMissingDependency)
	require.ErrorContains(t, err, "registerer")

	_, err = New(Config{MaxLimit: -1}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.ErrorContains(t, err, "http.max_limit")

	_, err = New(Config{}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	_, err = New(Config{}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.ErrorContains(t, err, "register metrics", "the same registry twice")
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"0", time.Unix(0, 0).UTC(), true},
		{"1795428000", time.Unix(1795428000, 0).UTC(), true},
		{"1795428000.25", time.Unix(1795428000, 250_000_000).UTC(), true},
		{"1795428000.123456789", time.Unix(1795428000, 123456789).UTC(), true},
		{"253402300799", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true},
		{"2026-11-22T10:00:00Z", t0, true},
		{"2026-11-22T10:00:00.5Z", t0.Add(500 * time.Millisecond), true},
		{"2026-11-22T11:00:00 01:00", t0, true},
		{"253402300800", time.Time{}, false},
		{"-1", time.Time{}, false},
		{"1.", time.Time{}, false},
		{".5", time.Time{}, false},
		{"1e9", time.Time{}, false},
		{"2026-11-22", time.Time{}, false},
		{"2026-11-22T10:00:00", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, e := timeParam(url.Values{"from": {tt.in}}, "from")
			if !tt.ok {
				require.NotNil(t, e)
				require.Equal(t, CodeBadParameter, e.Code)
				require.Contains(t, e.Message, `"from"`)
				return
			}
			require.Nil(t, e)
			require.True(t, tt.want.Equal(got), "got %v, want %v", got, tt.want)
		})
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	var th throttle
	now := t0
	n, ok := th.allow(now)
	require.True(t, ok)
	require.Zero(t, n)
	for range 3 {
		now = now.Add(time.Second)
		_, ok = th.allow(now)
		require.False(t, ok)
	}
	n, ok = th.allow(now.Add(warnInterval))
	require.True(t, ok)
	require.Equal(t, 3, n)
}

// gateEngine blocks Groups until release is closed, after telling entered.
type gateEngine struct {
	fakeEngine
	entered chan struct{}
	release chan struct{}
}

func (g *gateEngine) Groups(ctx context.Context) ([]aggregate.GroupInfo, error) {
	close(g.entered)
	select {
	case <-g.release:
		return g.fakeEngine.Groups(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	t.Run("serves until cancelled", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, ln) }()

		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.JSONEq(t, `{"status":"ok"}`, string(body))

		cancel()
		require.NoError(t, <-served)
		_, err = client.Get("http://" + ln.Addr().String() + "/healthz")
		require.Error(t, err, "the listener is closed")
	})

	t.Run("finishes running requests", func(t *testing.T) {
		t.Parallel()
		eng := &gateEngine{fakeEngine: *goodEngine(), entered: make(chan struct{}), release: make(chan struct{})}
		s, _ := newServer(t, fixture{engine: eng})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, ln) }()

		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		type result struct {
			code int
			err  error
		}
		got := make(chan result, 1)
		go func() {
			resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/api/v1/groups")
			if err != nil {
				got <- result{err: err}
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			got <- result{resp.StatusCode, errors.Join(err, resp.Body.Close())}
		}()
		<-eng.entered
		cancel()
		select {
		case err := <-served:
			t.Fatalf("Serve returned %v with a request running", err)
		default:
		}
		close(eng.release)
		r := <-got
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.code)
		require.NoError(t, <-served)
	})

	t.Run("listens on the configured address", func(t *testing.T) {
		t.Parallel()
		logs := listenLog{addr: make(chan string, 1)}
		reg := prometheus.NewRegistry()
		s, err := New(Config{Addr: "127.0.0.1:0"}, Deps{Store: newStore(t), Engine: goodEngine(), Gatherer: reg}, slog.New(logs), reg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, nil) }()

		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("http://" + <-logs.addr + "/readyz")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		cancel()
		require.NoError(t, <-served)
	})

	t.Run("cannot listen", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{cfg: Config{Addr: "127.0.0.1:99999"}})
		err := s.Serve(t.Context(), nil)
		require.ErrorContains(t, err, "api: listen")
	})
}

// listenLog is a slog.Handler that passes on the addr of "http listening".
type listenLog struct{ addr chan string }

func (listenLog) Enabled(context.Context, slog.Level) bool { return true }
func (l listenLog) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l listenLog) WithGroup(string) slog.Handler          { return l }

func (l listenLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "http listening" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "addr" {
				l.addr <- a.Value.String()
			}
			return true
		})
	}
	return nil
}

// TestErrorJSON pins the wire form of errors.
func TestErrorJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(&Error{Status: 400, Code: CodeBadParameter, Message: "m"})
	require.NoError(t, err)
	require.JSONEq(t, `{"error":"m","code":"bad_parameter"}`, string(b))
	require.Equal(t, "api: 400 bad_parameter: m", fmt.Sprint(&Error{Status: 400, Code: CodeBadParameter, Message: "m"}))
}

func TestCursorPages(t *testing.T) {
	t.Parallel()
	type window struct{ start, revision int }
	// walk follows next_cursor from query and returns the pages.
	walk := func(t *testing.T, s *Server, query string) [][]window {
		t.Helper()
		var pages [][]window
		cursor := ""
		for range 10 {
			target := "/api/v1/aggregates?" + query
			if cursor != "" {
				target += "&cursor=" + url.QueryEscape(cursor)
			}
			rec := do(s.Handler(), http.MethodGet, target, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			r := decode[AggregatesResponse](t, rec)
			page := []window{}
			for _, a := range r.Aggregates {
				page = append(page, window{int(a.Window.Start.Sub(t0) / (10 * time.Second)), a.Revision})
			}
			pages = append(pages, page)
			if r.NextCursor == "" {
				return pages
			}
			cursor = r.NextCursor
		}
		t.Fatal("more than 10 pages")
		return nil
	}
	t.Run("by limit", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{})
		require.Equal(t, [][]window{{{4, 0}, {5, 0}}, {{2, 1}, {3, 0}}, {{0, 0}, {1, 0}}},
			walk(t, s, "group=site-a&metric=power_kw&limit=2"))
	})
	t.Run("within a range", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{})
		require.Equal(t, [][]window{{{3, 0}, {4, 0}}, {{1, 0}, {2, 1}}},
			walk(t, s, "group=site-a&metric=power_kw&limit=2&from="+start(1).Format(time.RFC3339)+"&to="+start(5).Format(time.RFC3339)))
	})
	t.Run("by points, whole windows", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{cfg: Config{MaxLimit: 3}})
		require.Equal(t, [][]window{{{3, 0}, {4, 0}, {5, 0}}, {{1, 0}, {2, 0}, {2, 1}}, {{0, 0}}},
			walk(t, s, "group=site-a&metric=power_kw&revisions=all"))
	})
	t.Run("the last page has no cursor", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{})
		require.Len(t, walk(t, s, "group=site-a&metric=power_kw"), 1)
	})
	t.Run("a cursor of another query", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t, fixture{})
		rec := do(s.Handler(), http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw&limit=1", nil)
		c := decode[AggregatesResponse](t, rec).NextCursor
		require.NotEmpty(t, c)
		for _, q := range []string{"group=site-b&metric=power_kw", "group=site-a&metric=power_kw&revisions=all", "group=site-a&metric=power_kw&from=1795341600"} {
			rec = do(s.Handler(), http.MethodGet, "/api/v1/aggregates?"+q+"&cursor="+c, nil)
			require.Equal(t, http.StatusBadRequest, rec.Code, q)
			require.Contains(t, decode[Error](t, rec).Message, "another query")
		}
		// The limit may change from page to page.
		rec = do(s.Handler(), http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw&limit=3&cursor="+c, nil)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Len(t, decode[AggregatesResponse](t, rec).Aggregates, 3)
	})
}

func TestLatestEventID(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	rec := do(s.Handler(), http.MethodGet, "/api/v1/aggregates/latest", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	r := decode[LatestResponse](t, rec)
	require.Equal(t, fmt.Sprintf("%d-9", s.deps.Store.Epoch()), r.LastEventID)
}

// TestInternalError: a response that cannot be encoded is a JSON 500, not
// a half-written body.
func TestInternalError(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	rec := httptest.NewRecorder()
	s.writeJSON(rec, http.StatusOK, map[string]any{"x": make(chan int)})
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, CodeInternal, decode[Error](t, rec).Code)
}
