package ingestlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

// Consumer takes what the stage committed: the aggregation engine
// implements it.
type Consumer interface {
	// Submit hands over a committed message (m.Index is its journal
	// index), waiting while the consumer is full, until ctx is done. The
	// stage calls it from its one goroutine, in journal order, and then no
	// longer touches m. An error is logged: the message is journaled, and
	// a restart replays it.
	Submit(ctx context.Context, m ingest.Message) error
	// Reject counts a message the stage rejected (a record too large for
	// the journal); it must not block. It is also called concurrently, from
	// the subscriber, for what the callback rejects.
	Reject(r ingest.Rejection)
}

// Log is the ingest journal stage (see the package doc). Offer, OfferWait,
// Room, Reject, Record, Full and Failing may be called concurrently with
// Run; Drain and Release run their work on Run's goroutine.
type Log struct {
	cfg      Config
	j        *journal.Journal
	consumer Consumer
	log      *slog.Logger
	m        *metrics

	in    chan ingest.Message
	marks chan markRequest
	ctl   chan func()

	// Owned by Run's goroutine.
	ctx          context.Context
	lastReading  uint64 // journal index of the newest reading record
	batch        []ingest.Message
	pendingMarks []markRequest

	isFull  atomic.Bool
	failing atomic.Bool
	// replay follows a running Replay; nil otherwise.
	replay atomic.Pointer[journal.Progress]
}

type markRequest struct {
	mark Mark
	idx  uint64
	done chan markResult
}

type markResult struct {
	idx uint64
	err error
}

var _ ingest.WaitRouter = (*Log)(nil)

// New opens the journal in cfg.Dir (defaults are applied) and returns the
// stage in front of it, handing what it commits to c. Its metrics go to
// reg; the journal's carry the label journal="ingest". Close releases
// the journal.
func New(cfg Config, c Consumer, log *slog.Logger, reg prometheus.Registerer) (*Log, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingestlog: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("stage", "journal")
	l := &Log{
		cfg: cfg, consumer: c, log: log,
		in:    make(chan ingest.Message, cfg.QueueLen),
		marks: make(chan markRequest, markQueueLen),
		ctl:   make(chan func()),
	}
	var jreg prometheus.Registerer
	if reg != nil {
		jreg = prometheus.WrapRegistererWith(prometheus.Labels{"journal": JournalLabel}, reg)
	}
	var err error
	if l.m, err = newMetrics(reg, jreg, func() float64 { return float64(len(l.in)) }); err != nil {
		return nil, err
	}
	l.m.queueCap.Set(float64(cfg.QueueLen))
	if l.j, err = journal.Open(cfg.Config, log, jreg); err != nil {
		l.m.unregister()
		return nil, fmt.Errorf("ingestlog: %w", err)
	}
	return l, nil
}

// Close closes the journal and unregisters the stage's metrics. Call it
// after Run returned.
func (l *Log) Close() error {
	l.m.unregister()
	return l.j.Close()
}

// Offer implements ingest.Router: it queues m for the journal without
// blocking.
func (l *Log) Offer(m ingest.Message) bool {
	select {
	case l.in <- m:
		return true
	default:
		l.m.queueFull.Inc()
		return false
	}
}

// OfferWait implements ingest.WaitRouter: Offer, waiting up to wait for
// room in the queue.
func (l *Log) OfferWait(m ingest.Message, wait time.Duration) bool {
	select {
	case l.in <- m:
		return true
	default:
	}
	l.m.queueWaits.Inc()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.in <- m:
		return true
	case <-t.C:
		l.m.queueFull.Inc()
		return false
	}
}

// Room implements ingest.WaitRouter.
func (l *Log) Room() bool { return len(l.in) < cap(l.in) }

// Reject implements ingest.Router: rejections go to the consumer, not to
// the journal.
func (l *Log) Reject(r ingest.Rejection) { l.consumer.Reject(r) }

// Record journals a round mark, waits for its commit and returns its
// journal index. It returns ErrUnavailable at once while the journal is
// full or failing, and ErrMarkTimeout after MarkTimeout.
func (l *Log) Record(m Mark) (uint64, error) {
	if l.Full() || l.Failing() {
		return 0, ErrUnavailable
	}
	req := markRequest{mark: m, done: make(chan markResult, 1)}
	t := time.NewTimer(MarkTimeout)
	defer t.Stop()
	select {
	case l.marks <- req:
	case <-t.C:
		return 0, fmt.Errorf("%w: not taken", ErrMarkTimeout)
	}
	select {
	case r := <-req.done:
		return r.idx, r.err
	case <-t.C:
		return 0, ErrMarkTimeout
	}
}

// Full reports whether the journal refuses appends for lack of space.
func (l *Log) Full() bool { return l.isFull.Load() }

// Failing reports whether journal writes currently fail.
func (l *Log) Failing() bool { return l.failing.Load() }

// Drain journals everything queued now and commits it (acknowledging and
// submitting it), on Run's goroutine, and waits until that is done or ctx
// is. Call it at shutdown after intake stopped.
func (l *Log) Drain(ctx context.Context) error { return l.do(ctx, l.drainFlush) }

// Release deletes the journal a checkpoint made redundant: the records up
// to handled (every shard of the consumer had handled them) and, when no
// reading after handled is left, the round marks up to lastMark too (a
// full journal keeps recording rounds). A failed deletion is logged.
func (l *Log) Release(ctx context.Context, handled, lastMark uint64) error {
	return l.do(ctx, func() {
		keep := handled + 1
		if l.lastReading <= handled {
			keep = max(handled, lastMark) + 1
		}
		if err := l.j.DeleteBefore(keep); err != nil {
			l.log.Error("deleting journal segments after a checkpoint failed", "err", err)
		}
	})
}

// do runs f on Run's goroutine and waits.
func (l *Log) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case l.ctl <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) setFull(full bool) {
	l.isFull.Store(full)
	l.m.setFull(full)
}

// setFailing records whether journal writes fail (for /readyz), logging
// only the changes.
func (l *Log) setFailing(err error) {
	was := l.failing.Swap(err != nil)
	switch {
	case err != nil && !was:
		l.log.Error("journal writes failing; nothing is acknowledged until they succeed", "err", err)
	case err == nil && was:
		l.log.Info("journal writes succeed again")
	}
}
