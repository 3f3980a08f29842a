package federation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rollcall-iot/rollcall/ingest"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

// Names of what the central tier creates in its JetStream.
const (
	// StreamPrefix + gateway id is the central stream that sources one
	// gateway's partials stream across the gateway's domain.
	StreamPrefix = "ROLLCALL_GW_"
	// ConsumerName is the central tier's durable consumer on each of them.
	ConsumerName = "rollcall-central"
	// DefaultAckWait is how long JetStream waits for the central tier's
	// acknowledgement before redelivering; it must cover a checkpoint.
	DefaultAckWait = 2 * time.Minute
	// DefaultMaxAckPending bounds the partials of one gateway that are
	// merged but not yet acknowledged (waiting for a checkpoint).
	DefaultMaxAckPending = 100000
	// DefaultStreamMaxAge is how long a central stream keeps a partial.
	DefaultStreamMaxAge = 24 * time.Hour
	// fetchWait bounds one pull.
	fetchWait = time.Second
)

// SourceConfig configures a Source.
type SourceConfig struct {
	// URL is the NATS server of the central tier (the hub's client URL or
	// federation.nats_url); CredsFile its credentials.
	URL, CredsFile string
	// Gateways is the roster sourced from the start.
	Gateways []string
	// Learn sources gateways that announce themselves.
	Learn bool
	// Replicas of each central stream.
	Replicas int
	// MaxGateways bounds the roster.
	MaxGateways int
	// CheckpointInterval is how often the merged state is checkpointed
	// and what it holds acknowledged.
	CheckpointInterval time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before it
	// redelivers. Default: DefaultAckWait.
	AckWait time.Duration
	// Checkpoint persists the merger's snapshot; the partials behind it are
	// acknowledged only after it returned nil.
	Checkpoint func(ctx context.Context, msgs []natssink.Message) error
}

// Source creates, for every gateway on the roster, a stream that sources
// the gateway's partials across its JetStream domain, consumes each with a
// durable consumer, merges what arrives and acknowledges it after the next
// checkpoint.
type Source struct {
	cfg    SourceConfig
	log    *slog.Logger
	merger *Merger
	nc     *natsgo.Conn
	js     jetstream.JetStream

	mu      sync.Mutex
	sourced map[string]bool
	pending []jetstream.Msg // merged, waiting for a checkpoint
	wg      sync.WaitGroup
}

// NewSource connects to cfg.URL. Close releases the connection.
func NewSource(cfg SourceConfig, merger *Merger, log *slog.Logger) (*Source, error) {
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []natsgo.Option{natsgo.Name("rollcall central"), natsgo.MaxReconnects(-1), natsgo.RetryOnFailedConnect(true)}
	if cfg.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(cfg.CredsFile))
	}
	nc, err := natsgo.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("federation: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("federation: jetstream: %w", err)
	}
	return &Source{cfg: cfg, log: log, merger: merger, nc: nc, js: js, sourced: map[string]bool{}}, nil
}

// Connected reports whether the NATS connection is up.
func (s *Source) Connected() bool { return s.nc.IsConnected() }

// Run sources the roster and every gateway that announces itself (with
// Learn), checkpoints and acknowledges every CheckpointInterval, and ticks
// the merger every second, until ctx is done; then it takes a last
// checkpoint.
func (s *Source) Run(ctx context.Context) error {
	announce := make(chan string, 64)
	if s.cfg.Learn {
		sub, err := s.nc.Subscribe(natssink.AnnounceSubject+".*", func(m *natsgo.Msg) {
			select {
			case announce <- strings.TrimPrefix(m.Subject, natssink.AnnounceSubject+"."):
			default: // it announces again
			}
		})
		if err != nil {
			return fmt.Errorf("federation: subscribe to announcements: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	for _, gw := range s.cfg.Gateways {
		s.merger.AddGateway(gw, false)
		s.source(ctx, gw)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cp := time.NewTicker(s.cfg.CheckpointInterval)
	defer cp.Stop()
	defer s.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			s.wg.Wait() // the consumers stop with ctx
			return s.checkpoint(sctx)
		case gw := <-announce:
			s.source(ctx, gw)
		case <-tick.C:
			s.merger.Tick()
		case <-cp.C:
			if err := s.checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("central checkpoint failed; nothing new acknowledged", "err", err)
			}
		}
	}
}

// source starts sourcing gateway gw, once.
func (s *Source) source(ctx context.Context, gw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sourced[gw] {
		return
	}
	if len(s.sourced) >= s.cfg.MaxGateways {
		s.merger.m.refused.Inc()
		return
	}
	if !ingest.ValidDomain(gw) {
		return
	}
	s.sourced[gw] = true
	s.merger.AddGateway(gw, !slices.Contains(s.cfg.Gateways, gw))
	s.wg.Go(func() { s.consume(ctx, gw) })
}

// consume ensures gw's stream and consumer (retrying until they exist)
// and merges what arrives until ctx is done.
func (s *Source) consume(ctx context.Context, gw string) {
	var cons jetstream.Consumer
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if cons, err = s.ensure(ctx, gw); err == nil {
			break
		}
		s.log.Warn("cannot source gateway yet; retrying", "gateway", gw, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	s.log.Info("sourcing gateway", "gateway", gw, "stream", StreamPrefix+gw)
	for ctx.Err() == nil {
		s.fetch(ctx, cons, gw)
	}
}

// fetch pulls one batch (waiting up to fetchWait) and handles it.
func (s *Source) fetch(ctx context.Context, cons jetstream.Consumer, gw string) {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(DefaultFetchBatch, jetstream.FetchContext(fctx))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("fetch failed", "gateway", gw, "err", err)
			<-fctx.Done() // do not spin
		}
		return
	}
	for m := range batch.Messages() {
		s.handle(m)
	}
}

// handle merges one delivered partial and queues its acknowledgement.
func (s *Source) handle(m jetstream.Msg) {
	msg, err := natssink.Decode(m.Data())
	if err != nil {
		s.merger.m.invalid.Inc()
		_ = m.Term()
		return
	}
	s.merger.Add(msg, time.Now())
	s.mu.Lock()
	s.pending = append(s.pending, m)
	s.mu.Unlock()
}

// ensure creates (or updates) gw's central stream and durable consumer.
func (s *Source) ensure(ctx context.Context, gw string) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := StreamPrefix + gw
	st, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "rollcall: partials of gateway " + gw + ", sourced from its JetStream domain",
		Sources:     []*jetstream.StreamSource{{Name: natssink.StreamName, Domain: gw}},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      DefaultStreamMaxAge,
		Replicas:    s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: DefaultMaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
}

// checkpoint persists the merger's state and then acknowledges every
// partial merged before it.
func (s *Source) checkpoint(ctx context.Context) error {
	s.mu.Lock()
	acks := s.pending
	s.pending = nil
	s.mu.Unlock()
	if err := s.cfg.Checkpoint(ctx, s.merger.Snapshot()); err != nil {
		s.mu.Lock()
		s.pending = append(acks, s.pending...)
		s.mu.Unlock()
		return err
	}
	var errs []error
	for _, m := range acks {
		if err := m.Ack(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Not acknowledged: JetStream redelivers them, and a repeated
		// revision changes nothing.
		return fmt.Errorf("federation: %d acknowledgements failed: %w", len(errs), errs[0])
	}
	return nil
}

// Sourced returns how many gateways are sourced.
func (s *Source) Sourced() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sourced)
}

// Close closes the connection, after Run returned.
func (s *Source) Close() { s.nc.Close() }
