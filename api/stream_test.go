package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink/store"
)

// sseEvent is one event of a stream; a comment line is an event with
// Comment set.
type sseEvent struct {
	ID, Event, Data, Comment string
	Retry                    int
}

// readEvents parses r as a Server-Sent Events stream onto the returned
// channel, closed at the end of the stream.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sseEvent
		have := false
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if have {
					ch <- ev
				}
				ev, have = sseEvent{}, false
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			have = true
			switch field {
			case "":
				ev.Comment = value
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data = value
			case "retry":
				ev.Retry, _ = strconv.Atoi(value)
			}
		}
	}()
	return ch
}

// next returns the next event that is not a comment or a retry line.
func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the stream ended")
			if ev.Event == "" && ev.Data == "" {
				continue
			}
			return ev
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

// noEvent asserts that the stream sends nothing but comments until a
// heartbeat comes.
func noEventBeforeHeartbeat(t *testing.T, events <-chan sseEvent) {
	t.Helper()
	for {
		select {
		case ev := <-events:
			if ev.Comment == "heartbeat" {
				return
			}
			require.Empty(t, ev.Event, "unexpected event %+v", ev)
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat within 10 s")
		}
	}
}

// streamServer runs a fixture server's handler on a loopback listener.
type streamServer struct {
	s     *Server
	store *store.Store
	url   string
	tr    *http.Transport
}

func newStreamServer(t *testing.T, cfg Config, st *store.Store) *streamServer {
	t.Helper()
	if st == nil {
		st = newStore(t)
	}
	if cfg.StreamHeartbeat == 0 {
		cfg.StreamHeartbeat = 20 * time.Millisecond
	}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &streamServer{s: s, store: st, url: srv.URL, tr: tr}
}

// open opens a stream; it is closed at the end of the test.
func (ss *streamServer) open(t *testing.T, query, lastEventID string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ss.url+"/api/v1/aggregates/stream"+query, nil)
	require.NoError(t, err)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := (&http.Client{Transport: ss.tr}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	return resp, readEvents(resp.Body)
}

func (ss *streamServer) id(seq uint64) string {
	return fmt.Sprintf("%d-%d", ss.store.Epoch(), seq)
}

func decodeAgg(t *testing.T, ev sseEvent) aggregate.Aggregate {
	t.Helper()
	require.Equal(t, EventAggregate, ev.Event)
	var a aggregate.Aggregate
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &a))
	return a
}

// TestStreamRevisionAndResume is the stream's contract: one event per
// aggregate, revisions included, and a client that comes back with
// Last-Event-ID gets what it missed.
func TestStreamRevisionAndResume(t *testing.T) {
	t.Parallel()
	ss := newStreamServer(t, Config{}, nil)
	require.Equal(t, uint64(9), ss.store.Seq(), "newStore adds 9 aggregates")

	resp, events := ss.open(t, "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Empty(t, resp.Header.Get("Content-Encoding"))
	first := <-events
	require.Equal(t, 2000, first.Retry)
	// Live only: nothing from before the connection.
	noEventBeforeHeartbeat(t, events)

	// Window 5 is revised: the revision is an event of its own.
	rev := agg("site-a", "power_kw", 5, 1)
	ss.store.Add(rev)
	ev := next(t, events)
	require.Equal(t, ss.id(10), ev.ID)
	got := decodeAgg(t, ev)
	require.Equal(t, 1, got.Revision)
	require.True(t, start(5).Equal(got.Window.Start))
	require.Equal(t, "site-a", got.Group)
	resp.Body.Close()

	// Missed while away.
	ss.store.Add(agg("site-a", "power_kw", 6, 0)) // 11
	ss.store.Add(agg("site-b", "temp_c", 1, 0))   // 12
	resp, events = ss.open(t, "", ss.id(10))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ev = next(t, events)
	require.Equal(t, ss.id(11), ev.ID)
	require.True(t, start(6).Equal(decodeAgg(t, ev).Window.Start))
	ev = next(t, events)
	require.Equal(t, ss.id(12), ev.ID)
	require.Equal(t, "site-b", decodeAgg(t, ev).Group)
	// And live after that.
	ss.store.Add(agg("site-a", "power_kw", 7, 0)) // 13
	require.Equal(t, ss.id(13), next(t, events).ID)

	// Filtered, and the id as a parameter (EventSource cannot set headers
	// on its first request).
	_, events = ss.open(t, "?group=site-b&last_event_id="+ss.id(9), "")
	ev = next(t, events)
	require.Equal(t, ss.id(12), ev.ID)
	_, events = ss.open(t, "?group=site-a&metric=power_kw", ss.id(10))
	require.Equal(t, ss.id(11), next(t, events).ID)
	require.Equal(t, ss.id(13), next(t, events).ID)

	// At least what the clients read; a closed stream's handler may have
	// sent more before it noticed.
	require.GreaterOrEqual(t, testutil.ToFloat64(ss.s.m.streamEvents), 7.0)
}

func TestStreamResets(t *testing.T) {
	t.Parallel()
	st, err := store.New(store.Config{Backlog: 4}, prometheus.NewRegistry())
	require.NoError(t, err)
	for i := range 9 {
		st.Add(agg("site-a", "power_kw", i, 0))
	}
	ss := newStreamServer(t, Config{}, st)

	t.Run("expired", func(t *testing.T) {
		_, events := ss.open(t, "", ss.id(2))
		ev := next(t, events)
		require.Equal(t, EventReset, ev.Event)
		require.JSONEq(t, `{"reason":"expired","lost":3}`, ev.Data, "3, 4 and 5 are gone")
		require.Equal(t, ss.id(5), ev.ID, "the client moves past what it lost")
		for seq := uint64(6); seq <= 9; seq++ {
			require.Equal(t, ss.id(seq), next(t, events).ID)
		}
	})
	t.Run("restarted", func(t *testing.T) {
		_, events := ss.open(t, "", "1-5")
		ev := next(t, events)
		require.Equal(t, EventReset, ev.Event)
		require.JSONEq(t, `{"reason":"restarted","lost":0}`, ev.Data)
		require.Equal(t, ss.id(9), ev.ID)
		noEventBeforeHeartbeat(t, events)
	})
	require.InDelta(t, 1, testutil.ToFloat64(ss.s.m.streamResets.WithLabelValues(resetExpired)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(ss.s.m.streamResets.WithLabelValues(resetRestarted)), 0)
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	ss := newStreamServer(t, Config{MaxStreams: 2}, nil)
	tests := []struct {
		name, query, lastID string
		status              int
		code                string
	}{
		{"malformed id", "", "yesterday", 400, CodeBadParameter},
		{"id from the future", "", ss.id(99), 400, CodeBadParameter},
		{"malformed id parameter", "?last_event_id=x", "", 400, CodeBadParameter},
		{"unknown group", "?group=site-x", "", 422, CodeUnknownGroup},
		{"unknown metric", "?metric=rpm", "", 422, CodeUnknownMetric},
		{"metric not in group", "?group=site-b&metric=power_kw", "", 422, CodeUnknownMetric},
		{"repeated group", "?group=a&group=b", "", 400, CodeBadParameter},
		{"unknown parameter", "?since=1", "", 400, CodeBadParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := ss.open(t, tt.query, tt.lastID)
			require.Equal(t, tt.status, resp.StatusCode)
			var e Error
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			require.Equal(t, tt.code, e.Code, e.Message)
		})
	}

	t.Run("a group the engine knows, without windows yet", func(t *testing.T) {
		resp, _ := ss.open(t, "?group=site-c", "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp.Body.Close()
	})

	t.Run("too many streams", func(t *testing.T) {
		// Earlier subtests' streams may still be closing: wait for none.
		require.Eventually(t, func() bool { return testutil.ToFloat64(ss.s.m.streams) == 0 }, 10*time.Second, 5*time.Millisecond)
		a, _ := ss.open(t, "", "")
		require.Equal(t, http.StatusOK, a.StatusCode)
		b, _ := ss.open(t, "", "")
		require.Equal(t, http.StatusOK, b.StatusCode)
		c, _ := ss.open(t, "", "")
		require.Equal(t, http.StatusTooManyRequests, c.StatusCode)
		require.Equal(t, "2", c.Header.Get("Retry-After"))
		var e Error
		require.NoError(t, json.NewDecoder(c.Body).Decode(&e))
		require.Equal(t, CodeTooManyStreams, e.Code)
		require.Contains(t, e.Message, "http.max_streams")
		require.InDelta(t, 1, testutil.ToFloat64(ss.s.m.refused.WithLabelValues(refusedTooManyStreams)), 0)
		require.InDelta(t, 2, testutil.ToFloat64(ss.s.m.streams), 0)

		// A closed stream frees its slot.
		a.Body.Close()
		require.Eventually(t, func() bool {
			d, _ := ss.open(t, "", "")
			d.Body.Close()
			return d.StatusCode == http.StatusOK
		}, 10*time.Second, 5*time.Millisecond)
	})
}

func TestStreamHead(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	rec := do(s.Handler(), http.MethodHead, "/api/v1/aggregates/stream", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/event-stream", rec.Header().Get("Content-Type"))
	require.Empty(t, rec.Body.String())
}

// gatedWriter is a ResponseWriter whose first Write blocks until release
// is closed, after closing entered: a client that stops reading.
type gatedWriter struct {
	header  http.Header
	entered chan struct{}
	release chan struct{}
	once    sync.Once

	mu  sync.Mutex
	buf strings.Builder
}

func (g *gatedWriter) Header() http.Header { return g.header }
func (g *gatedWriter) WriteHeader(int)     {}
func (g *gatedWriter) Flush()              {}

func (g *gatedWriter) Write(b []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(b)
}

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestStreamLagged: a reader slower than the backlog is told what it lost,
// and ingest never waited for it.
func TestStreamLagged(t *testing.T) {
	t.Parallel()
	st, err := store.New(store.Config{Backlog: 4}, prometheus.NewRegistry())
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	s, err := New(Config{}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)

	w := &gatedWriter{header: http.Header{}, entered: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/aggregates/stream", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Handler().ServeHTTP(w, req)
	}()
	<-w.entered // the handler is stuck writing
	for i := range 10 {
		st.Add(agg("site-a", "power_kw", i, 0)) // never waits
	}
	close(w.release)
	last := fmt.Sprintf("id: %d-10\n", st.Epoch())
	require.Eventually(t, func() bool { return strings.Contains(w.String(), last) }, 10*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	out := w.String()
	require.Contains(t, out, "event: reset\ndata: {\"reason\":\"lagged\",\"lost\":6}\n")
	for seq := 7; seq <= 10; seq++ {
		require.Contains(t, out, fmt.Sprintf("id: %d-%d\nevent: aggregate\n", st.Epoch(), seq))
	}
	require.NotContains(t, out, fmt.Sprintf("id: %d-6\nevent: aggregate", st.Epoch()))
	require.InDelta(t, 1, testutil.ToFloat64(s.m.streamResets.WithLabelValues(resetLagged)), 0)
}

// serveForTest runs s.Serve on a loopback listener until the test ends.
func serveForTest(t *testing.T, s *Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serr = <-served
		})
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

// TestStreamOutlivesReadTimeout: the server's read timeout must not cut a
// stream, and a shutdown ends streams at once instead of waiting for them.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	reg := prometheus.NewRegistry()
	s, err := New(Config{
		ReadHeaderTimeout: 50 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		QueryTimeout: 10 * time.Millisecond, WriteTimeout: time.Second, StreamHeartbeat: 25 * time.Millisecond,
	}, Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	addr, stop := serveForTest(t, s)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/api/v1/aggregates/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	// 12 heartbeats of 25 ms: three read timeouts long.
	for range 12 {
		noEventBeforeHeartbeat(t, events)
	}
	st.Add(agg("site-a", "power_kw", 6, 0))
	require.Equal(t, fmt.Sprintf("%d-10", st.Epoch()), next(t, events).ID)

	began := time.Now()
	require.NoError(t, stop(), "a clean shutdown: the stream ended")
	require.Less(t, time.Since(began), ShutdownTimeout, "did not wait for the stream")
	for range events { // ends
	}
}

// TestStreamDropsSlowClient: a client that stops reading is dropped after
// the write timeout, and counted.
func TestStreamDropsSlowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("writes tens of MB")
	}
	t.Parallel()
	const n = 4096
	st, err := store.New(store.Config{Backlog: n}, prometheus.NewRegistry())
	require.NoError(t, err)
	// Big aggregates, so that the backlog is far more than the socket
	// buffers hold.
	missing := make([]aggregate.Missing, 100)
	for i := range missing {
		missing[i] = aggregate.Missing{Device: fmt.Sprintf("device-with-a-long-name-%04d", i), State: "silent"}
	}
	for i := range n {
		a := agg("site-a", "power_kw", i, 0)
		a.Coverage.Missing = missing
		st.Add(a)
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{WriteTimeout: 200 * time.Millisecond, QueryTimeout: 10 * time.Millisecond},
		Deps{Store: st, Engine: goodEngine(), Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	addr, _ := serveForTest(t, s)

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close()) }()
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	_, err = fmt.Fprintf(conn, "GET /api/v1/aggregates/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: %d-0\r\n\r\n", st.Epoch())
	require.NoError(t, err)
	// Never read.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(s.m.streamDrops.WithLabelValues(dropSlowClient)) == 1
	}, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.m.streams) == 0 }, 10*time.Second, 10*time.Millisecond)
}
