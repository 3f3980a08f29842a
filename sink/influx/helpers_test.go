package influx

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/journal"
)

// Run starts a goroutine; every test must stop it (and the HTTP client's
// connections) before it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is 2026-11-22T10:00:00Z.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// agg returns the aggregate of group/metric for the 10 s window starting at
// t0 + start seconds, revision rev; its sum's value is start*100+rev.
func agg(group, metric string, start, rev int) aggregate.Aggregate {
	s := t0.Add(time.Duration(start) * time.Second)
	v := aggregate.Num(start*100 + rev)
	nan := aggregate.Num(math.NaN())
	return aggregate.Aggregate{
		Group: group, Metric: metric,
		Window: aggregate.Window{Start: s, End: s.Add(10 * time.Second)},
		Stats: aggregate.Stats{
			Sum:   aggregate.Stat{Value: v, Lower: v - 1, Upper: v + 1, Reported: v},
			Mean:  aggregate.Stat{Value: v / 2, Lower: nan, Upper: nan, Reported: v / 2},
			Min:   aggregate.Stat{Value: 1, Lower: 0, Upper: 1, Reported: 1},
			Max:   aggregate.Stat{Value: 9, Lower: 9, Upper: aggregate.Num(math.Inf(1)), Reported: 9},
			Count: aggregate.CountStat{Value: 3},
		},
		Coverage:  aggregate.Coverage{Expected: 4, Reported: 3, Partial: 1, Ratio: 0.75},
		Staleness: aggregate.Staleness{MaxAgeS: 1.5},
		Quality:   aggregate.QualityUncertain,
		Revision:  rev,
	}
}

// response is what fakeInflux answers to one request.
type response struct {
	status int
	// retryAfter is the Retry-After header, if not empty.
	retryAfter string
	// maxLines answers 413 to bodies of more lines (0: no limit).
	maxLines int
	// hangup closes the connection without a response (a network error).
	hangup bool
	// block waits until the request's context ends.
	block bool
}

// fakeInflux is an InfluxDB /api/v2/write endpoint: it answers from a
// script, then with def, and keeps every line it accepted.
type fakeInflux struct {
	mu     sync.Mutex
	script []response
	def    response
	reqs   int
	urls   []string
	auth   []string
	lines  []string
	// blocked, if not nil, receives a value when a block request arrives.
	blocked chan struct{}
}

func newFake(script ...response) *fakeInflux {
	return &fakeInflux{script: script, def: response{status: http.StatusNoContent}}
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	var lines []string
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	f.mu.Lock()
	f.reqs++
	f.urls = append(f.urls, r.URL.String())
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	resp := f.def
	if len(f.script) > 0 {
		resp, f.script = f.script[0], f.script[1:]
	}
	if resp.status == 0 {
		resp.status = http.StatusNoContent
	}
	if resp.maxLines > 0 && len(lines) > resp.maxLines {
		resp.status = http.StatusRequestEntityTooLarge
	}
	if resp.status/100 == 2 && !resp.hangup && !resp.block {
		f.lines = append(f.lines, lines...)
	}
	f.mu.Unlock()
	switch {
	case resp.hangup:
		if hj, ok := w.(http.Hijacker); ok {
			c, _, err := hj.Hijack()
			if err == nil {
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case resp.block:
		if f.blocked != nil {
			f.blocked <- struct{}{}
		}
		<-r.Context().Done()
		return
	}
	if resp.retryAfter != "" {
		w.Header().Set("Retry-After", resp.retryAfter)
	}
	if resp.status/100 != 2 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, `{"code":"test","message":"scripted status"}`)
		return
	}
	w.WriteHeader(resp.status)
}

// set replaces the default response and clears the script.
func (f *fakeInflux) set(def response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.def, f.script = def, nil
}

func (f *fakeInflux) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs
}

func (f *fakeInflux) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

// sums returns, in write order, the value of every accepted sum point
// (start*100+rev, see agg).
func (f *fakeInflux) sums() []string {
	var out []string
	for _, l := range f.written() {
		if !strings.Contains(l, ",stat=sum ") {
			continue
		}
		out = append(out, fieldOf(l, "value"))
	}
	return out
}

// fieldOf returns the raw value of field key in line protocol line l.
func fieldOf(l, key string) string {
	fields := strings.Fields(l)[1]
	for _, kv := range strings.Split(fields, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// handlerTransport serves requests in memory: no sockets, no goroutines,
// so it works inside a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

// sleeper records the waits of in-place retries without waiting.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testConfig is a config for url with a spool in dir, small limits and a
// recording sleeper.
func testConfig(url, dir string, sl *sleeper) Config {
	return Config{
		URL: url, Database: "telemetry", RetentionPolicy: "autogen",
		BatchSize: 50, FlushInterval: 20 * time.Millisecond, Timeout: 5 * time.Second,
		BackoffInitial: 10 * time.Millisecond, BackoffMax: time.Second,
		BreakerFailures: 3, BreakerCooldown: 100 * time.Millisecond,
		Spool: journal.Config{Dir: dir, SegmentBytes: journal.MinSegmentBytes, BlockBytes: 1024, MaxBytes: 1 << 20},
		Sleep: sl.sleep,
	}
}

// newSink returns a sink that is closed when the test ends.
func newSink(t *testing.T, cfg Config) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, nil, reg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, reg
}

// run starts s.Run and returns a stop function that cancels it and waits;
// the test's cleanup stops it too.
func run(t *testing.T, s *Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

func writeAll(t *testing.T, s *Sink, as ...aggregate.Aggregate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range as {
		require.NoError(t, s.Write(ctx, a))
	}
}

// recs encodes as.
func recs(as ...aggregate.Aggregate) [][]byte {
	out := make([][]byte, len(as))
	for i, a := range as {
		out[i] = appendAggregate(nil, a)
	}
	return out
}

func windows(n int) []aggregate.Aggregate {
	out := make([]aggregate.Aggregate, n)
	for i := range out {
		out[i] = agg("site-a", "power_kw", 10*i, 0)
	}
	return out
}

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (s *Sink) writes(result string) float64 { return counter(s.m.writes.WithLabelValues(result)) }

func (s *Sink) dropped(reason string) float64 {
	return counter(s.m.dropped.WithLabelValues(reason))
}
