package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// Defaults for Config.
const (
	// DefaultQueueLen is each sink's queue, in aggregates.
	DefaultQueueLen = 4096
	// DefaultDrainTimeout bounds how long sinks may write their queues at
	// shutdown.
	DefaultDrainTimeout = 5 * time.Second
)

// Drop reasons: the reason label of rollcall_sink_dropped_total.
const (
	DropQueueFull = "queue_full"
	DropShutdown  = "shutdown"
)

// Config configures the fan-out. Zero fields mean the defaults.
type Config struct {
	// QueueLen is each sink's queue capacity in aggregates. Default: 4096.
	QueueLen int `yaml:"queue_len"`
	// DrainTimeout bounds the time sinks get to write their queues at
	// shutdown. Default: 5s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("sink.queue_len: %d must be positive", c.QueueLen))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("sink.drain_timeout: %v is negative", c.DrainTimeout))
	}
	return errors.Join(errs...)
}

// Writer is one sink. Write is called from the sink's own goroutine only,
// one aggregate at a time, in emission order; it may block (that only
// delays this sink). It owns a after the call. An error means the aggregate
// was not written and will not be retried by the fan-out.
type Writer interface {
	Name() string
	Write(ctx context.Context, a aggregate.Aggregate) error
}

// PartialWriter is a Writer that also wants the mergeable partial behind
// each aggregate (sink/nats publishes it for federation). When the engine
// hands the fan-out a partial (aggregate.PartialEmitter), the fan-out calls
// WritePartial instead of Write, under Write's contract; otherwise Write.
// p is shared with the other sinks: WritePartial must not modify it.
type PartialWriter interface {
	Writer
	WritePartial(ctx context.Context, a aggregate.Aggregate, p *aggregate.Partial) error
}

// Fanout delivers every aggregate to every Writer through per-sink queues.
type Fanout struct {
	cfg    Config
	log    *slog.Logger
	queues []*queue

	dropped *prometheus.CounterVec
	errs    *prometheus.CounterVec
	written *prometheus.CounterVec
	qlen    *prometheus.GaugeVec
	qcap    *prometheus.GaugeVec
}

type queue struct {
	w  Writer
	ch chan item
}

// item is one queued aggregate and, when the engine gave one, its partial.
type item struct {
	a aggregate.Aggregate
	p *aggregate.Partial
}

var _ aggregate.PartialEmitter = (*Fanout)(nil)

// NewFanout returns a fan-out to writers.
func NewFanout(cfg Config, log *slog.Logger, reg prometheus.Registerer, writers ...Writer) (*Fanout, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fanout{
		cfg: cfg, log: log.With("stage", "sink"),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_sink_dropped_total",
			Help: "Aggregates a sink dropped, by sink and reason.",
		}, []string{"sink", "reason"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_sink_errors_total",
			Help: "Failed sink writes, by sink.",
		}, []string{"sink"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_sink_written_total",
			Help: "Aggregates written, by sink.",
		}, []string{"sink"}),
		qlen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rollcall_sink_queue_length",
			Help: "Aggregates waiting in a sink's queue.",
		}, []string{"sink"}),
		qcap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rollcall_sink_queue_capacity",
			Help: "Capacity of a sink's queue (sink.queue_len).",
		}, []string{"sink"}),
	}
	for _, w := range writers {
		f.queues = append(f.queues, &queue{w: w, ch: make(chan item, cfg.QueueLen)})
		f.qcap.WithLabelValues(w.Name()).Set(float64(cfg.QueueLen))
		for _, r := range []string{DropQueueFull, DropShutdown} {
			f.dropped.WithLabelValues(w.Name(), r)
		}
		f.errs.WithLabelValues(w.Name())
		f.written.WithLabelValues(w.Name())
	}
	for _, c := range []prometheus.Collector{f.dropped, f.errs, f.written, f.qlen, f.qcap} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("sink: register metrics: %w", err)
		}
	}
	return f, nil
}

// Emit queues a on every sink without blocking: a full queue drops its
// oldest aggregate. Emit is called from one goroutine.
func (f *Fanout) Emit(a aggregate.Aggregate) { f.enqueue(item{a: a}) }

// EmitPartial is Emit with the partial behind a, for PartialWriters; the
// other sinks get a alone.
func (f *Fanout) EmitPartial(a aggregate.Aggregate, p aggregate.Partial) {
	f.enqueue(item{a: a, p: &p})
}

func (f *Fanout) enqueue(it item) {
	for _, q := range f.queues {
		for {
			select {
			case q.ch <- it:
			default:
				select {
				case <-q.ch:
					f.dropped.WithLabelValues(q.w.Name(), DropQueueFull).Inc()
				default:
				}
				continue
			}
			break
		}
		f.qlen.WithLabelValues(q.w.Name()).Set(float64(len(q.ch)))
	}
}

// Run writes queued aggregates to each sink until ctx is done, then lets
// each sink write what is queued for up to DrainTimeout and counts the rest.
// The caller stops calling Emit before cancelling ctx.
func (f *Fanout) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range f.queues {
		wg.Go(func() { f.run(ctx, q) })
	}
	wg.Wait()
	return nil
}

func (f *Fanout) run(ctx context.Context, q *queue) {
	name := q.w.Name()
	pw, _ := q.w.(PartialWriter)
	write := func(wctx context.Context, it item) {
		var err error
		if pw != nil && it.p != nil {
			err = pw.WritePartial(wctx, it.a, it.p)
		} else {
			err = q.w.Write(wctx, it.a)
		}
		if err != nil {
			f.errs.WithLabelValues(name).Inc()
			f.log.LogAttrs(wctx, slog.LevelDebug, "sink write failed", slog.String("sink", name), slog.Any("err", err))
			return
		}
		f.written.WithLabelValues(name).Inc()
	}
	// first is an aggregate taken from the queue after ctx ended: select
	// picks among ready cases at random, so at shutdown it may take from the
	// queue rather than see ctx.Done. Such an aggregate belongs to the drain
	// and must not be written with the cancelled ctx (a context-aware Write
	// would fail it at once).
	var first *item
loop:
	for {
		select {
		case it := <-q.ch:
			if ctx.Err() != nil {
				first = &it
				break loop
			}
			write(ctx, it)
			f.qlen.WithLabelValues(name).Set(float64(len(q.ch)))
		case <-ctx.Done():
			break loop
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), f.cfg.DrainTimeout)
	defer cancel()
	if first != nil {
		write(dctx, *first)
	}
	for {
		select {
		case it := <-q.ch:
			if dctx.Err() != nil {
				f.dropped.WithLabelValues(name, DropShutdown).Inc()
				continue
			}
			write(dctx, it)
		default:
			f.qlen.WithLabelValues(name).Set(0)
			return
		}
	}
}
