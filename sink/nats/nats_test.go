package nats

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall-iot/rollcall/ingest"
)

// The sink and the test servers start goroutines; every test must stop them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs a nats-server with JetStream on a random loopback port
// and shuts it down in t.Cleanup.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := ingest.StartServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(),
	}, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func newSink(t *testing.T, cfg Config) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.GatewayID == "" {
		cfg.GatewayID = "gw-1"
	}
	s, err := New(cfg, nil, reg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, reg
}

// consume returns every message in the stream, waiting up to 10 s for n.
func consume(t *testing.T, url string, n int) []jetstream.Msg {
	t.Helper()
	nc, err := natsgo.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for len(out) < n {
		b, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		for m := range b.Messages() {
			out = append(out, m)
		}
		require.NoError(t, ctx.Err(), "got %d of %d messages", len(out), n)
	}
	return out
}

func TestPublishFinalAndRevisions(t *testing.T) {
	srv := startServer(t)
	s, reg := newSink(t, Config{URL: srv.ClientURL(), MaxAge: time.Hour, MaxBytes: 1 << 20})
	ctx := context.Background()
	p := part(map[string]float64{"a1": 1.5, "a2": 2}, []string{"a3"}, 0, 10)

	require.NoError(t, s.WritePartial(ctx, emission(0, false), &p), "provisional")
	require.NoError(t, s.WritePartial(ctx, emission(1, false), &p), "revision")
	require.NoError(t, s.WritePartial(ctx, emission(2, true), &p), "final")
	require.NoError(t, s.WritePartial(ctx, emission(2, true), &p), "a retried final is stored once")
	require.ErrorIs(t, s.Write(ctx, emission(3, true)), ErrNoPartial)

	require.Equal(t, 1.0, testutil.ToFloat64(s.skipped.WithLabelValues(SkipProvisional)))
	require.Equal(t, 3.0, testutil.ToFloat64(s.published))
	require.Zero(t, testutil.ToFloat64(s.errs))
	require.Zero(t, testutil.ToFloat64(s.retries))
	require.Equal(t, 1.0, testutil.ToFloat64(s.connected))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 6, n, "five metrics and rollcall_nats_stream_removed_total")

	msgs := consume(t, srv.ClientURL(), 2)
	require.Len(t, msgs, 2)
	for i, msg := range msgs {
		require.Equal(t, "rollcall.v1.partials.site-a.power_kw", msg.Subject())
		m, err := Decode(msg.Data())
		require.NoError(t, err)
		require.Equal(t, i+1, m.Revision)
		require.Equal(t, i == 1, m.Final)
		require.Equal(t, "gw-1", m.Gateway)
		got := m.Partial()
		require.True(t, p.Equal(&got))
		require.Equal(t, m.MsgID(), msg.Headers().Get(jetstream.MsgIDHeader))
	}

	// The stream was created with the configured limits.
	nc, err := natsgo.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(ctx, StreamName)
	require.NoError(t, err)
	c := st.CachedInfo().Config
	require.Equal(t, []string{"rollcall.v1.partials.>"}, c.Subjects)
	require.Equal(t, time.Hour, c.MaxAge)
	require.Equal(t, int64(1<<20), c.MaxBytes)
	require.Equal(t, jetstream.FileStorage, c.Storage)
	require.Equal(t, uint64(2), st.CachedInfo().State.Msgs)
}

// TestStreamRecreated: a stream deleted behind the sink's back is created
// again by the next publish, within the same attempt budget.
func TestStreamRecreated(t *testing.T) {
	srv := startServer(t)
	s, _ := newSink(t, Config{URL: srv.ClientURL(), RetryBackoff: time.Millisecond})
	ctx := context.Background()
	nc, err := natsgo.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteStream(ctx, StreamName))

	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	require.NoError(t, s.WritePartial(ctx, emission(0, true), &p))
	require.Equal(t, 1.0, testutil.ToFloat64(s.published))
	require.Len(t, consume(t, srv.ClientURL(), 1), 1)
}

// TestExistingStreamKept: a stream an operator created is used as it is.
func TestExistingStreamKept(t *testing.T) {
	srv := startServer(t)
	nc, err := natsgo.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: StreamName, Subjects: []string{SubjectPrefix + ".>"}, MaxAge: time.Minute, Storage: jetstream.MemoryStorage,
	})
	require.NoError(t, err)
	s, _ := newSink(t, Config{URL: srv.ClientURL()})
	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	require.NoError(t, s.WritePartial(context.Background(), emission(0, true), &p))
	st, err := js.Stream(context.Background(), StreamName)
	require.NoError(t, err)
	require.Equal(t, time.Minute, st.CachedInfo().Config.MaxAge)
	require.Equal(t, jetstream.MemoryStorage, st.CachedInfo().Config.Storage)
	require.Equal(t, uint64(1), st.CachedInfo().State.Msgs)
}

// TestPublishFailure: with the server gone, each partial is tried
// PublishAttempts times, then dropped and counted; Write returns within
// the attempt budget.
func TestPublishFailure(t *testing.T) {
	srv := startServer(t)
	s, _ := newSink(t, Config{
		URL: srv.ClientURL(), PublishAttempts: 3, PublishTimeout: 100 * time.Millisecond, RetryBackoff: time.Millisecond,
	})
	srv.Shutdown()
	srv.WaitForShutdown()

	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	for i := range 2 {
		t0 := time.Now()
		err := s.WritePartial(context.Background(), emission(i+1, false), &p)
		require.Error(t, err)
		require.Less(t, time.Since(t0), 3*time.Second, "bounded by attempts × (timeout + backoff)")
	}
	require.Equal(t, 2.0, testutil.ToFloat64(s.errs))
	require.Equal(t, 4.0, testutil.ToFloat64(s.retries), "2 retries per partial")
	require.Zero(t, testutil.ToFloat64(s.published))
	require.Zero(t, testutil.ToFloat64(s.connected))

	// A cancelled context ends the retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.WritePartial(ctx, emission(3, true), &p), context.Canceled)
	require.Equal(t, 3.0, testutil.ToFloat64(s.errs))
	require.Equal(t, 4.0, testutil.ToFloat64(s.retries))
}

// TestServerDownAtStart: New does not fail when the server is not up yet;
// the first publish after it came up creates the stream.
func TestServerDownAtStart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: freePort(t), NoSigs: true, NoLog: true, JetStream: true, StoreDir: t.TempDir()}
	url := "nats://127.0.0.1:" + strconv.Itoa(opts.Port)
	s, _ := newSink(t, Config{URL: url, RetryBackoff: 50 * time.Millisecond, PublishAttempts: 10})
	require.Zero(t, testutil.ToFloat64(s.connected))

	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.connected) == 1 }, 10*time.Second, 10*time.Millisecond)

	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	require.NoError(t, s.WritePartial(context.Background(), emission(0, true), &p))
	require.Len(t, consume(t, url, 1), 1)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	d := Config{GatewayID: "gw"}.WithDefaults()
	require.Equal(t, Config{
		GatewayID: "gw", MaxAge: DefaultMaxAge, MaxBytes: DefaultMaxBytes, PublishTimeout: DefaultPublishTimeout,
		PublishAttempts: DefaultPublishAttempts, RetryBackoff: DefaultRetryBackoff,
	}, d)
	require.NoError(t, d.Validate())
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"bad url", func(c *Config) { c.URL = "nats//x" }, []string{"nats.url"}},
		{"cluster urls", func(c *Config) { c.URL = "nats://a:4222, nats://b:4222" }, nil},
		{"no gateway id", func(c *Config) { c.GatewayID = "" }, []string{"nats.gateway_id"}},
		{"negative limits", func(c *Config) { c.MaxAge, c.MaxBytes = -1, -1 }, []string{"nats.max_age", "nats.max_bytes"}},
		{"attempts", func(c *Config) { c.PublishAttempts = MaxPublishAttempts + 1 }, []string{"nats.publish_attempts"}},
		{"timeouts", func(c *Config) { c.PublishTimeout, c.RetryBackoff = -1, -1 }, []string{"nats.publish_timeout", "nats.retry_backoff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := d
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	_, err := New(Config{GatewayID: "gw"}, nil, prometheus.NewRegistry())
	require.ErrorContains(t, err, "nats.url: required")
	require.Equal(t, "nats://u:xxxxx@a:4222,nats://b:4222", Config{URL: "nats://u:secret@a:4222, nats://b:4222"}.RedactedURL())
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// TestOutageDelaysNeverDrops: with the default attempts (0), a partial
// written while the server is down waits, retrying, and is published once
// the server is back; nothing is dropped or counted as an error.
func TestOutageDelaysNeverDrops(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: freePort(t), NoSigs: true, NoLog: true, JetStream: true, StoreDir: t.TempDir()}
	start := func() *server.Server {
		srv, err := ingest.StartServer(opts, nil)
		require.NoError(t, err)
		return srv
	}
	srv := start()
	url := "nats://127.0.0.1:" + strconv.Itoa(opts.Port)
	s, _ := newSink(t, Config{URL: url, PublishTimeout: 200 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	require.NoError(t, s.WritePartial(context.Background(), emission(0, true), &p))
	srv.Shutdown()
	srv.WaitForShutdown()

	done := make(chan error, 1)
	go func() { done <- s.WritePartial(context.Background(), emission(1, true), &p) }()
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.retries) >= 2 }, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WritePartial returned %v while the server was down", err)
	default:
	}
	srv = start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("WritePartial did not return after the server came back")
	}
	require.Zero(t, testutil.ToFloat64(s.errs))
	require.Equal(t, 2.0, testutil.ToFloat64(s.published))
	require.Len(t, consume(t, url, 2), 2)

	// Shutdown (ctx cancelled) ends the retries.
	srv.Shutdown()
	srv.WaitForShutdown()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.WritePartial(ctx, emission(2, true), &p) }()
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.retries) >= 4 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.Error(t, <-done)
}

// TestStreamLimitsCounted: when max_bytes binds, the partials the stream
// removed are counted.
func TestStreamLimitsCounted(t *testing.T) {
	srv := startServer(t)
	s, reg := newSink(t, Config{URL: srv.ClientURL(), MaxBytes: 4096})
	p := part(map[string]float64{"a1": 1}, nil, 0, 0)
	for i := range 20 {
		require.NoError(t, s.WritePartial(context.Background(), emission(i+1, false), &p))
	}
	s.refreshStats(context.Background())
	n, err := testutil.GatherAndCount(reg, "rollcall_nats_stream_removed_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Positive(t, s.removed.Load(), "max_bytes 4096 holds fewer than 20 partials")
}
