package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink"
)

// Skip reasons: the reason label of rollcall_nats_skipped_total.
const (
	// SkipProvisional: a first, provisional emission, which is not
	// published (a revision or the final one follows).
	SkipProvisional = "provisional"
)

// warnInterval is the least time between two "publish failed" warnings.
const warnInterval = 10 * time.Second

// statsInterval is the least time between two looks at the stream's state
// (for rollcall_nats_stream_removed_total) and two announcements.
const statsInterval = 5 * time.Second

// Sink publishes partials to JetStream. Write and WritePartial are called
// from the fan-out's goroutine for this sink only; Close after it stopped.
type Sink struct {
	cfg Config
	log *slog.Logger
	nc  *natsgo.Conn
	js  jetstream.JetStream

	// Owned by the writing goroutine.
	streamReady bool
	lastWarn    time.Time
	failed      int // publish failures since the last warning
	lastStats   time.Time

	removed atomic.Uint64 // partials the stream's limits removed

	published prometheus.Counter
	retries   prometheus.Counter
	errs      prometheus.Counter
	skipped   *prometheus.CounterVec
	connected prometheus.GaugeFunc
}

var _ sink.PartialWriter = (*Sink)(nil)

// New connects to cfg.URL and returns the sink. An unreachable server is
// not an error: the client keeps reconnecting in the background, and the
// stream is created at the first publish that finds the server. Close
// releases the connection.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.WithDefaults()
	err := cfg.Validate()
	if cfg.URL == "" {
		err = errors.Join(err, errors.New("nats.url: required"))
	}
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, log: log.With("stage", "sink", "sink", "nats")}
	opts := []natsgo.Option{
		natsgo.Name("rollcall " + cfg.GatewayID),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				s.log.Warn("nats disconnected", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) { s.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(cfg.CredsFile))
	}
	if s.nc, err = natsgo.Connect(cfg.URL, opts...); err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		s.nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	if err := s.registerMetrics(reg); err != nil {
		s.nc.Close()
		return nil, err
	}
	if s.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.PublishTimeout)
		defer cancel()
		if err := s.ensureStream(ctx); err != nil {
			s.log.Warn("nats stream not ready; retrying at the first publish", "stream", StreamName, "err", err)
		}
	} else {
		s.log.Warn("nats server not reachable yet; reconnecting in the background", "url", cfg.RedactedURL())
	}
	return s, nil
}

// Name implements sink.Writer.
func (s *Sink) Name() string { return "nats" }

// Write implements sink.Writer: without a partial there is nothing to
// publish, so it returns ErrNoPartial.
func (s *Sink) Write(context.Context, aggregate.Aggregate) error { return ErrNoPartial }

// WritePartial implements sink.PartialWriter: it publishes p unless a is
// provisional, retrying as configured: by default until the stream
// acknowledged it or ctx ends (shutdown). With limited attempts it returns
// the last error once they are used up (the partial is then dropped and
// counted).
func (s *Sink) WritePartial(ctx context.Context, a aggregate.Aggregate, p *aggregate.Partial) error {
	if !a.Final && a.Revision == 0 {
		s.skipped.WithLabelValues(SkipProvisional).Inc()
		return nil
	}
	m := NewMessage(s.cfg.GatewayID, a, p)
	data, err := json.Marshal(m)
	if err != nil {
		s.errs.Inc()
		return err
	}
	msg := &natsgo.Msg{Subject: Subject(m.Group, m.Metric), Data: data, Header: natsgo.Header{}}
	msg.Header.Set("Content-Type", "application/json")
	id := m.MsgID()
	for attempt := 1; ; attempt++ {
		if err = s.publish(ctx, msg, id); err == nil {
			s.published.Inc()
			if time.Since(s.lastStats) >= statsInterval {
				s.refreshStats(ctx)
				s.announce()
			}
			return nil
		}
		if s.cfg.PublishAttempts == 0 {
			s.warn(err, "nats publish failed; retrying until published")
		}
		if s.cfg.PublishAttempts > 0 && attempt >= s.cfg.PublishAttempts || !s.wait(ctx, attempt) {
			break
		}
		s.retries.Inc()
	}
	s.errs.Inc()
	s.warn(err, "nats publish failed; partial dropped")
	return fmt.Errorf("nats: publish %s: %w", msg.Subject, err)
}

// publish makes one attempt: the stream first if it is not known to
// exist, then the message, waiting for the stream's acknowledgement.
func (s *Sink) publish(ctx context.Context, msg *natsgo.Msg, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if !s.streamReady {
		if err := s.ensureStream(ctx); err != nil {
			return err
		}
	}
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamName))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		s.streamReady = false // deleted behind our back: create it again
	}
	return err
}

// wait sleeps before retry number attempt: RetryBackoff doubled per
// earlier retry, capped at MaxRetryBackoff, with jitter in [d/2, d). It
// returns false when ctx ends first.
func (s *Sink) wait(ctx context.Context, attempt int) bool {
	d := min(s.cfg.RetryBackoff<<(attempt-1), MaxRetryBackoff)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// warn logs a failed publish at most once per warnInterval.
func (s *Sink) warn(err error, msg string) {
	s.failed++
	if now := time.Now(); now.Sub(s.lastWarn) >= warnInterval {
		s.log.Warn(msg, "err", err, "failures_since_last_warning", s.failed) //nolint:sloglint // one of two constants
		s.lastWarn, s.failed = now, 0
	}
}

// ensureStream creates the stream if it does not exist. An existing stream
// is left as it is (an operator may have set it up with replicas or other
// limits); a max age or size different from the config is logged.
func (s *Sink) ensureStream(ctx context.Context) error {
	st, err := s.js.Stream(ctx, StreamName)
	switch {
	case err == nil:
		c := st.CachedInfo().Config
		if c.MaxAge != s.cfg.MaxAge || c.MaxBytes != s.cfg.MaxBytes {
			s.log.Warn("nats stream exists with other limits; keeping them", "stream", StreamName,
				"max_age", c.MaxAge, "max_bytes", c.MaxBytes, "config_max_age", s.cfg.MaxAge, "config_max_bytes", s.cfg.MaxBytes)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        StreamName,
			Description: "rollcall partial aggregates for federation (docs/federation.md)",
			Subjects:    []string{SubjectPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      s.cfg.MaxAge,
			MaxBytes:    s.cfg.MaxBytes,
			Duplicates:  min(DuplicateWindow, s.cfg.MaxAge),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another gateway on the same server was first
		}
		if err != nil {
			return fmt.Errorf("create stream %s: %w", StreamName, err)
		}
		s.log.Info("nats stream created", "stream", StreamName, "max_age", s.cfg.MaxAge, "max_bytes", s.cfg.MaxBytes)
	default:
		return fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	s.streamReady = true
	return nil
}

// refreshStats reads how many partials the stream's max_age and max_bytes
// removed: in a limits-retention stream that nobody deletes from, every
// sequence below the first one left.
func (s *Sink) refreshStats(ctx context.Context) {
	s.lastStats = time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	st, err := s.js.Stream(ctx, StreamName)
	if err != nil {
		return
	}
	state := st.CachedInfo().State
	if state.FirstSeq > 0 {
		n := state.FirstSeq - 1 + uint64(state.NumDeleted)
		if n > s.removed.Load() {
			s.removed.Store(n)
		}
	}
}

// announce tells a central tier, if one listens, that this gateway has
// partials (see AnnounceSubject). It is best effort: it repeats.
func (s *Sink) announce() {
	if err := s.nc.Publish(AnnounceSubject+"."+token(s.cfg.GatewayID), nil); err != nil {
		s.log.Debug("nats announce failed", "err", err)
	}
}

// Close closes the connection. Call it after the fan-out has stopped.
func (s *Sink) Close() {
	s.nc.Close()
}
