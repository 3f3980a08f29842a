package influx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/journal"
	"github.com/rollcall-iot/rollcall/sink"
)

// logEvery rate-limits repeated warnings and errors.
const logEvery = 10 * time.Second

// Sink writes aggregates to InfluxDB (see the package doc). Write hands
// aggregates to Run, which owns batching, sending, the breaker and the
// spool's reader; Run must be running for Write to make progress.
type Sink struct {
	cfg Config
	log *slog.Logger
	reg prometheus.Registerer
	m   *metrics
	w   api.WriteAPIBlocking
	hc  *http.Client
	sp  *spool

	// in carries encoded aggregates from Write to Run. It is unbuffered,
	// so an aggregate is either taken by Run or, once Run has stopped
	// (stopped is closed), spooled by Write itself: none is stranded.
	in       chan []byte
	devs     chan [][]byte // device snapshots (a line per device) from WriteDevices, unbuffered like in
	stopped  chan struct{}
	stopOnce sync.Once
	running  atomic.Int32                 // runIdle, runActive, runDone
	drain    atomic.Pointer[startupDrain] // the start-up backlog's drain (startup.go); nil when none

	// Run only.
	br         *breaker
	pending    [][]byte
	flushAt    time.Time // when the pending batch is sent, zero if none
	retryAt    time.Time // no drain attempt before this
	failStreak int       // consecutive failed deliveries, for the backoff between drains
	lastLog    map[string]time.Time
}

// Run states.
const (
	runIdle int32 = iota
	runActive
	runDone
)

var _ sink.Writer = (*Sink)(nil)

// New opens the spool and returns a sink; start Run, then Write. The caller
// calls Close after Run has returned.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("stage", "sink", "sink", "influx")
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(cfg.Spool, log, reg, m)
	if err != nil {
		m.unregister(reg)
		return nil, err
	}
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Transport != nil {
		rt = cfg.Transport
	}
	// No http.Client.Timeout: each request gets a context with cfg.Timeout,
	// which also ends it when Run's context ends.
	hc := &http.Client{Transport: rt}
	auth := ""
	if cfg.Token != "" {
		auth = "Token " + string(cfg.Token)
	}
	svc := ihttp.NewService(strings.TrimSuffix(cfg.URL, "/")+"/", auth,
		ihttp.DefaultOptions().SetHTTPClient(hc).SetApplicationName("rollcall"))
	s := &Sink{
		cfg: cfg, log: log, reg: reg, m: m, sp: sp, hc: hc,
		w: api.NewWriteAPIBlocking(cfg.Org, cfg.bucket(), svc,
			write.DefaultOptions().SetPrecision(time.Nanosecond).SetUseGZip(cfg.Gzip)),
		in:      make(chan []byte),
		devs:    make(chan [][]byte),
		stopped: make(chan struct{}),
		lastLog: map[string]time.Time{},
	}
	s.br = newBreaker(cfg.BreakerFailures, cfg.BreakerCooldown, func(st int) { m.circuit.Set(float64(st)) })
	s.followStartupDrain()
	log.Info("influx sink configured", slog.Any("config", cfg))
	return s, nil
}

// Name implements sink.Writer.
func (s *Sink) Name() string { return "influx" }

// Write implements sink.Writer. It encodes a and hands it to Run, waiting
// while Run is busy with a request (bounded by Config.Timeout per attempt
// and the in-place retries) or until ctx is done. After Run has returned,
// Write appends a to the spool itself, so aggregates the fan-out drains at
// shutdown are kept for the next start. A nil error means the sink took
// responsibility for a (InfluxDB, the in-memory batch or the spool), not
// that InfluxDB has it. After Close it returns ErrClosed.
func (s *Sink) Write(ctx context.Context, a aggregate.Aggregate) error {
	rec := appendAggregate(make([]byte, 0, 256*PointsPerAggregate), a)
	select {
	case s.in <- rec:
		return nil
	case <-s.stopped:
		return s.sp.append([][]byte{rec})
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run sends aggregates until ctx is done: it batches what Write hands it,
// sends batches (or spools them while InfluxDB is unavailable), and drains
// the spool in order when the breaker allows. When ctx is done it spools
// the partial batch (durably; the next start sends it) and returns; Write
// then spools directly. Run returns nil, or an error if called twice.
func (s *Sink) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(runIdle, runActive) {
		return errors.New("influx: Run called twice or after Close")
	}
	defer s.running.Store(runDone)
	s.log.Info("influx sink started")
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		now := s.cfg.Now()
		if !s.flushAt.IsZero() && !now.Before(s.flushAt) {
			s.flush(ctx)
			continue
		}
		if s.canDrain(now) {
			s.drainOnce(ctx)
			// Take what Write offers between drain batches, so a long
			// drain does not stall the fan-out.
			select {
			case rec := <-s.in:
				s.add(ctx, rec)
			case lines := <-s.devs:
				s.sendDevices(ctx, lines)
			default:
			}
			continue
		}
		var wakeC <-chan time.Time
		if at := s.wakeAt(now); !at.IsZero() {
			timer.Reset(max(at.Sub(now), time.Millisecond))
			wakeC = timer.C
		}
		select {
		case <-ctx.Done():
		case rec := <-s.in:
			s.add(ctx, rec)
		case lines := <-s.devs:
			s.sendDevices(ctx, lines)
		case <-wakeC:
		}
	}
	// Shutdown: spool the partial batch first, then let Write spool, so
	// the spool keeps emission order.
	if len(s.pending) > 0 {
		_ = s.sp.append(s.takePending()) // counted and logged by the spool
	}
	s.stopOnce.Do(func() { close(s.stopped) })
	s.log.Info("influx sink stopped", slog.Bool("spool_empty", s.sp.empty()))
	return nil
}

// Close closes the spool and the HTTP client's idle connections and
// unregisters the metrics. Call it after Run has returned (and after the
// fan-out has stopped calling Write): Write returns ErrClosed afterwards.
func (s *Sink) Close() error {
	for {
		st := s.running.Load()
		if st == runActive {
			return errors.New("influx: Close while Run is running; cancel its context and wait first")
		}
		if s.running.CompareAndSwap(st, runDone) {
			break
		}
	}
	s.stopOnce.Do(func() { close(s.stopped) })
	err := s.sp.close()
	s.hc.CloseIdleConnections()
	s.m.unregister(s.reg)
	return err
}

// add appends rec to the pending batch, and sends the batch when full.
func (s *Sink) add(ctx context.Context, rec []byte) {
	if len(s.pending) == 0 {
		s.flushAt = s.cfg.Now().Add(s.cfg.FlushInterval)
	}
	s.pending = append(s.pending, rec)
	if (len(s.pending)+1)*PointsPerAggregate > s.cfg.BatchSize {
		s.flush(ctx)
	}
}

func (s *Sink) takePending() [][]byte {
	p := s.pending
	s.pending, s.flushAt = nil, time.Time{}
	return p
}

// flush sends the pending batch, or spools it: when the spool holds older
// aggregates (order), when the breaker is open, or when sending failed.
func (s *Sink) flush(ctx context.Context) {
	recs := s.takePending()
	if len(recs) == 0 {
		return
	}
	if !s.sp.empty() || s.br.blocked(s.cfg.Now()) {
		_ = s.sp.append(recs)
		return
	}
	if n := s.deliver(ctx, recs); n < len(recs) {
		_ = s.sp.append(recs[n:])
	}
}

// canDrain reports whether Run should send a batch from the spool now.
func (s *Sink) canDrain(now time.Time) bool {
	return !s.sp.empty() && !now.Before(s.retryAt) && !s.br.blocked(now)
}

// wakeAt is the earliest time Run has work without new input: the pending
// batch's flush, or the next drain attempt. Zero means none.
func (s *Sink) wakeAt(now time.Time) time.Time {
	at := s.flushAt
	if !s.sp.empty() {
		d := s.retryAt
		if s.br.blocked(now) && s.br.until().After(d) {
			d = s.br.until()
		}
		if at.IsZero() || d.Before(at) {
			at = d
		}
	}
	return at
}

// drainOnce sends the oldest batch of the spool and acknowledges what
// InfluxDB took.
func (s *Sink) drainOnce(ctx context.Context) {
	items, rerr := s.sp.next(s.cfg.BatchSize / PointsPerAggregate)
	if len(items) == 0 && rerr == nil {
		// Cannot happen while the journal and acked agree; back off rather
		// than spin if it does.
		s.logLimited("read", slog.LevelError, "spool holds records but reads none")
		s.noteFailure(0)
		return
	}
	if len(items) > 0 {
		recs := make([][]byte, len(items))
		for i, it := range items {
			recs[i] = it.rec
		}
		n := s.deliver(ctx, recs)
		if n > 0 {
			if err := s.sp.ack(items[n-1].idx); err != nil {
				s.logLimited("ack", slog.LevelError, "spool ack failed", slog.Any("err", err))
				s.noteFailure(0)
			} else {
				s.noteDrained(items[:n])
			}
		}
		if n < len(items) {
			return
		}
	}
	if rerr == nil || ctx.Err() != nil {
		return
	}
	var ce *journal.CorruptError
	if errors.As(rerr, &ce) {
		// The journal lost these records (bad checksum, torn segment); the
		// reader has moved past them. Skip them, counted, or the spool
		// would retry them forever.
		s.logLimited("corrupt", slog.LevelError, "spool records corrupt; dropped", slog.Any("err", rerr))
		if err := s.sp.skip(ce.First, ce.Last); err == nil {
			return
		}
	} else {
		s.logLimited("read", slog.LevelError, "spool read failed", slog.Any("err", rerr))
	}
	// The backoff keeps a failing disk from spinning.
	s.noteFailure(0)
}

// deliver sends recs as one batch, retrying in place, and returns how many
// leading records are done (written, or dropped as permanently refused);
// the caller spools or keeps the rest. It splits on 413.
func (s *Sink) deliver(ctx context.Context, recs [][]byte) int {
	for attempt := 0; ; attempt++ {
		if !s.br.allow(s.cfg.Now()) {
			return 0
		}
		we := s.post(ctx, recs)
		switch we.class {
		case classOK:
			s.br.success()
			s.failStreak, s.retryAt = 0, time.Time{}
			s.m.points.Add(float64(len(recs) * PointsPerAggregate))
			return len(recs)
		case classRejected:
			s.br.success()
			s.m.dropped.WithLabelValues(DropRejected).Add(float64(len(recs) * PointsPerAggregate))
			s.logLimited("rejected", slog.LevelWarn, "influxdb rejected a batch; dropped",
				slog.Int("points", len(recs)*PointsPerAggregate), slog.Any("err", we))
			return len(recs)
		case classTooLarge:
			s.br.success()
			if len(recs) == 1 {
				s.m.dropped.WithLabelValues(DropTooLarge).Add(PointsPerAggregate)
				s.logLimited("too_large", slog.LevelWarn, "aggregate too large for influxdb; dropped", slog.Any("err", we))
				return 1
			}
			h := len(recs) / 2
			if n := s.deliver(ctx, recs[:h]); n < h {
				return n
			}
			return h + s.deliver(ctx, recs[h:])
		case classCanceled:
			return 0
		case classConfig:
			s.br.failure(s.cfg.Now(), 0)
			s.logLimited("config", slog.LevelError, "influxdb refused the write: check url, token, org, bucket/database; spooling",
				slog.Any("err", we))
			s.noteFailure(0)
			return 0
		}
		// Throttled or retryable.
		now := s.cfg.Now()
		s.br.failure(now, we.retryAfter)
		if attempt >= s.cfg.retries() || s.br.blocked(now) || we.retryAfter > s.cfg.BackoffMax {
			s.logLimited("unavailable", slog.LevelWarn, "influxdb unavailable; spooling", slog.Any("err", we))
			s.noteFailure(we.retryAfter)
			return 0
		}
		wait := we.retryAfter
		if wait == 0 {
			wait = backoff(attempt, s.cfg.BackoffInitial, s.cfg.BackoffMax, nil)
		}
		if s.cfg.Sleep(ctx, wait) != nil {
			return 0
		}
	}
}

// noteFailure schedules the next drain attempt after a failed delivery: no
// earlier than hint (Retry-After) and a backoff over the failure streak.
func (s *Sink) noteFailure(hint time.Duration) {
	s.pauseStartupDrain()
	d := backoff(s.failStreak, s.cfg.BackoffInitial, s.cfg.BackoffMax, nil)
	s.failStreak++
	s.retryAt = s.cfg.Now().Add(max(d, hint))
}

// post sends recs in one request and classifies the outcome.
func (s *Sink) post(ctx context.Context, recs [][]byte) *writeError {
	n := 0
	for _, r := range recs {
		n += len(r)
	}
	var body strings.Builder
	body.Grow(n)
	for _, r := range recs {
		body.Write(r)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	start := time.Now()
	err := s.w.WriteRecord(rctx, body.String())
	s.m.writeDuration.Observe(time.Since(start).Seconds())
	cancel()
	we := classify(err, ctx.Err(), s.cfg.Now())
	s.m.writes.WithLabelValues(we.result()).Inc()
	if we.class != classOK {
		s.log.LogAttrs(ctx, slog.LevelDebug, "influx write failed",
			slog.Int("records", len(recs)), slog.Any("err", we))
	}
	return we
}

// logLimited logs at most once per logEvery per key.
func (s *Sink) logLimited(key string, level slog.Level, msg string, attrs ...slog.Attr) {
	now := time.Now()
	if now.Sub(s.lastLog[key]) < logEvery {
		return
	}
	s.lastLog[key] = now
	//nolint:sloglint // a wrapper: every caller passes a constant message
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}
