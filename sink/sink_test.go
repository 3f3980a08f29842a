package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// agg returns aggregate number n (carried in Revision, so that order and
// identity are visible to the writers).
func agg(n int) aggregate.Aggregate {
	return aggregate.Aggregate{Group: "site-a", Metric: "power_kw", Revision: n}
}

// recorder is a Writer that keeps the numbers of what it wrote. With fail
// set, Write fails for the numbers it returns true for (after recording them).
type recorder struct {
	name string
	fail func(n int) bool

	mu  sync.Mutex
	got []int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Write(_ context.Context, a aggregate.Aggregate) error {
	r.mu.Lock()
	r.got = append(r.got, a.Revision)
	r.mu.Unlock()
	if r.fail != nil && r.fail(a.Revision) {
		return errors.New("write failed")
	}
	return nil
}

func (r *recorder) seen() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.got...)
}

// stuck is a Writer whose Write blocks until its context ends. It reports
// each call on calls (buffered generously) and records what it was given.
type stuck struct {
	recorder
	calls chan int
}

func newStuck(name string) *stuck {
	return &stuck{recorder: recorder{name: name}, calls: make(chan int, 1000)}
}

func (s *stuck) Write(ctx context.Context, a aggregate.Aggregate) error {
	_ = s.recorder.Write(ctx, a)
	s.calls <- a.Revision
	<-ctx.Done()
	return ctx.Err()
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// start runs f until the returned stop function is called; stop returns
// Run's error.
func start(t *testing.T, f *Fanout) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func counter(c *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(c.WithLabelValues(labels...))
}

func TestFanoutDeliversInOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		writers int
		n       int
	}{
		{"one writer", 1, 100},
		{"three writers", 3, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ws []Writer
			var rs []*recorder
			for i := range tt.writers {
				r := &recorder{name: string(rune('a' + i))}
				rs = append(rs, r)
				ws = append(ws, r)
			}
			// The queue holds everything, so nothing may be dropped.
			f, err := NewFanout(Config{QueueLen: tt.n}, nil, prometheus.NewRegistry(), ws...)
			require.NoError(t, err)
			stop := start(t, f)
			for i := range tt.n {
				f.Emit(agg(i))
			}
			want := seq(0, tt.n)
			for _, r := range rs {
				require.Eventually(t, func() bool { return len(r.seen()) == tt.n }, 10*time.Second, time.Millisecond)
				require.Equal(t, want, r.seen(), "writer %s", r.name)
			}
			require.NoError(t, stop())
			for _, r := range rs {
				require.Equal(t, float64(tt.n), counter(f.written, r.name))
				require.Zero(t, counter(f.dropped, r.name, DropQueueFull))
				require.Zero(t, counter(f.dropped, r.name, DropShutdown))
				require.Zero(t, counter(f.errs, r.name))
			}
		})
	}
}

func TestFanoutQueuesBeforeRun(t *testing.T) {
	t.Parallel()
	r := &recorder{name: "r"}
	f, err := NewFanout(Config{QueueLen: 3}, nil, prometheus.NewRegistry(), r)
	require.NoError(t, err)
	for i := range 5 {
		f.Emit(agg(i)) // no reader yet: 0 and 1 are dropped, oldest first
	}
	require.Equal(t, 2.0, counter(f.dropped, "r", DropQueueFull))
	require.Equal(t, 3.0, testutil.ToFloat64(f.qlen.WithLabelValues("r")))
	stop := start(t, f)
	require.Eventually(t, func() bool { return len(r.seen()) == 3 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.Equal(t, []int{2, 3, 4}, r.seen())
}

// TestFanoutStuckWriter: a writer that never returns (until its context
// ends) neither blocks Emit nor delays another writer; its own queue drops
// the oldest aggregates and counts them.
func TestFanoutStuckWriter(t *testing.T) {
	t.Parallel()
	const (
		queueLen = 4
		emitted  = 50
	)
	fast := &recorder{name: "fast"}
	slow := newStuck("stuck")
	f, err := NewFanout(Config{QueueLen: queueLen, DrainTimeout: time.Millisecond}, nil, prometheus.NewRegistry(), slow, fast)
	require.NoError(t, err)
	stop := start(t, f)

	emit := func(n int) {
		t.Helper()
		done := make(chan struct{})
		go func() { f.Emit(agg(n)); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Emit(%d) blocked", n)
		}
		// The fast writer gets each aggregate while the stuck one holds on.
		require.Eventually(t, func() bool { return len(fast.seen()) == n+1 }, 10*time.Second, time.Millisecond)
	}
	emit(0)
	require.Equal(t, 0, <-slow.calls, "the stuck writer took the first aggregate")
	for n := 1; n < emitted; n++ {
		emit(n)
	}
	require.Equal(t, seq(0, emitted), fast.seen())

	// One aggregate is in progress, queueLen wait, the rest were dropped.
	require.Equal(t, float64(emitted-queueLen-1), counter(f.dropped, "stuck", DropQueueFull))
	require.Equal(t, float64(queueLen), testutil.ToFloat64(f.qlen.WithLabelValues("stuck")))
	require.Zero(t, counter(f.dropped, "fast", DropQueueFull))

	require.NoError(t, stop())
	require.Equal(t, float64(emitted), counter(f.written, "fast"))
	// The queue kept the newest: after the one in progress (0), the drain
	// started on the oldest kept one.
	require.Equal(t, []int{0, emitted - queueLen}, slow.seen())
}

func TestFanoutWriteErrors(t *testing.T) {
	t.Parallel()
	odd := &recorder{name: "odd", fail: func(n int) bool { return n%2 == 1 }}
	ok := &recorder{name: "ok"}
	f, err := NewFanout(Config{QueueLen: 100}, nil, prometheus.NewRegistry(), odd, ok)
	require.NoError(t, err)
	stop := start(t, f)
	for i := range 10 {
		f.Emit(agg(i))
	}
	require.Eventually(t, func() bool { return len(odd.seen()) == 10 && len(ok.seen()) == 10 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.Equal(t, seq(0, 10), odd.seen(), "an error does not stop the sink")
	require.Equal(t, 5.0, counter(f.errs, "odd"))
	require.Equal(t, 5.0, counter(f.written, "odd"))
	require.Zero(t, counter(f.errs, "ok"))
	require.Equal(t, 10.0, counter(f.written, "ok"))
	require.Zero(t, counter(f.dropped, "odd", DropQueueFull))
}

// TestFanoutShutdownStuck: at shutdown a stuck writer gets DrainTimeout, then
// what is still queued is counted as dropped at shutdown, and Run returns.
func TestFanoutShutdownStuck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const (
			queueLen = 4
			emitted  = 10
			drain    = 2 * time.Second
		)
		slow := newStuck("stuck")
		f, err := NewFanout(Config{QueueLen: queueLen, DrainTimeout: drain}, nil, prometheus.NewRegistry(), slow)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()

		f.Emit(agg(0))
		synctest.Wait() // 0 is in progress
		for i := 1; i < emitted; i++ {
			f.Emit(agg(i))
		}
		require.Equal(t, float64(emitted-queueLen-1), counter(f.dropped, "stuck", DropQueueFull))

		t0 := time.Now()
		cancel()
		require.NoError(t, <-done)
		require.Equal(t, drain, time.Since(t0), "Run returns after DrainTimeout")

		// 0 failed when ctx ended; the drain tried 6 (the oldest kept) until
		// DrainTimeout; 7, 8, 9 were never tried.
		require.Equal(t, []int{0, emitted - queueLen}, slow.seen())
		require.Equal(t, 2.0, counter(f.errs, "stuck"))
		require.Equal(t, float64(queueLen-1), counter(f.dropped, "stuck", DropShutdown))
		require.Zero(t, counter(f.written, "stuck"))
		require.Zero(t, testutil.ToFloat64(f.qlen.WithLabelValues("stuck")))
		// Every aggregate is accounted for exactly once.
		require.Equal(t, float64(emitted),
			counter(f.written, "stuck")+counter(f.errs, "stuck")+
				counter(f.dropped, "stuck", DropQueueFull)+counter(f.dropped, "stuck", DropShutdown))
	})
}

// gated is a Writer that blocks on gate for its first call, and that, like
// any context-aware client, fails at once when its context has ended.
type gated struct {
	recorder
	gate    chan struct{}
	entered chan struct{}
	first   sync.Once
}

func (g *gated) Write(ctx context.Context, a aggregate.Aggregate) error {
	wait := false
	g.first.Do(func() { wait = true })
	if wait {
		close(g.entered)
		<-g.gate
	} else if err := ctx.Err(); err != nil {
		return err
	}
	return g.recorder.Write(ctx, a)
}

// TestFanoutShutdownDrains: what is queued when ctx ends is written with the
// drain context, never attempted with the cancelled one. The race between
// the queue and ctx.Done is repeated to make a wrong pick visible.
func TestFanoutShutdownDrains(t *testing.T) {
	t.Parallel()
	for range 50 {
		g := &gated{recorder: recorder{name: "g"}, gate: make(chan struct{}), entered: make(chan struct{})}
		f, err := NewFanout(Config{QueueLen: 8, DrainTimeout: time.Minute}, nil, prometheus.NewRegistry(), g)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		f.Emit(agg(0))
		<-g.entered
		for i := 1; i < 6; i++ {
			f.Emit(agg(i))
		}
		cancel()      // shutdown begins with 1..5 queued
		close(g.gate) // then 0 completes
		require.NoError(t, <-done)
		require.Equal(t, seq(0, 6), g.seen())
		require.Equal(t, 6.0, counter(f.written, "g"))
		require.Zero(t, counter(f.errs, "g"))
		require.Zero(t, counter(f.dropped, "g", DropShutdown))
	}
}

func TestFanoutRunWithoutWork(t *testing.T) {
	t.Parallel()
	r := &recorder{name: "r"}
	f, err := NewFanout(Config{}, nil, prometheus.NewRegistry(), r)
	require.NoError(t, err)
	stop := start(t, f)
	require.NoError(t, stop())
	require.Empty(t, r.seen())
}

func TestConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, Config{QueueLen: 4096, DrainTimeout: 5 * time.Second}, Config{}.WithDefaults())
	require.Equal(t, Config{QueueLen: 3, DrainTimeout: time.Second}, Config{QueueLen: 3, DrainTimeout: time.Second}.WithDefaults())
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults", Config{}, nil},
		{"queue of one", Config{QueueLen: 1, DrainTimeout: time.Nanosecond}, nil},
		{"negative queue", Config{QueueLen: -1}, []string{"sink.queue_len"}},
		{"negative drain", Config{DrainTimeout: -time.Second}, []string{"sink.drain_timeout"}},
		{"both", Config{QueueLen: -5, DrainTimeout: -1}, []string{"sink.queue_len", "sink.drain_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := NewFanout(tt.cfg, nil, prometheus.NewRegistry(), &recorder{name: "r"})
			if tt.want == nil {
				require.NoError(t, err)
				require.NotNil(t, f)
				return
			}
			require.Nil(t, f)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestMetricsPreinitialised(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := NewFanout(Config{}, nil, reg, &recorder{name: "a"}, &recorder{name: "b"})
	require.NoError(t, err)
	for name, want := range map[string]int{
		"rollcall_sink_dropped_total": 4, // 2 sinks × 2 reasons
		"rollcall_sink_errors_total":  2,
		"rollcall_sink_written_total": 2,
	} {
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		require.Equal(t, want, n, name)
	}
	// Registering the same metrics twice is an error, not a panic.
	_, err = NewFanout(Config{}, nil, reg, &recorder{name: "a"})
	require.Error(t, err)
}

// partialRecorder is a PartialWriter that records which method got each
// aggregate.
type partialRecorder struct {
	mu  sync.Mutex
	got []string
}

func (*partialRecorder) Name() string { return "partial" }

func (p *partialRecorder) Write(_ context.Context, a aggregate.Aggregate) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, fmt.Sprintf("write %d", a.Revision))
	return nil
}

func (p *partialRecorder) WritePartial(_ context.Context, a aggregate.Aggregate, pt *aggregate.Partial) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, fmt.Sprintf("partial %d %s %d", a.Revision, pt.Group, pt.Reported))
	return nil
}

func (p *partialRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// TestFanoutPartials: EmitPartial hands the partial to PartialWriters and
// the aggregate alone to other writers; Emit gives every writer Write.
func TestFanoutPartials(t *testing.T) {
	t.Parallel()
	pw := &partialRecorder{}
	r := &recorder{name: "plain"}
	f, err := NewFanout(Config{QueueLen: 10}, nil, prometheus.NewRegistry(), pw, r)
	require.NoError(t, err)
	stop := start(t, f)
	p := aggregate.NewPartial("site-a", "power_kw", 0, 10)
	p.AddReported(1, 1, 1, false, 1, 0)
	f.EmitPartial(agg(1), p)
	f.Emit(agg(2))
	require.Eventually(t, func() bool { return len(pw.seen()) == 2 && len(r.seen()) == 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.Equal(t, []string{"partial 1 site-a 1", "write 2"}, pw.seen())
	require.Equal(t, []int{1, 2}, r.seen())
}
