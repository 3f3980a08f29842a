package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

// Defaults of the ingest journal stage.
const (
	// DefaultIngestQueueLen is the queue between the MQTT callback and the
	// journal writer. It must hold the broker's whole in-flight window.
	DefaultIngestQueueLen = 8192
	// DefaultMaxBatch bounds the messages of one group commit.
	DefaultMaxBatch = 4096
	// fullRetry is how often a full journal is retried.
	fullRetry = 100 * time.Millisecond
	// markTimeout bounds how long an emit round waits for its mark to be
	// committed.
	markTimeout = 5 * time.Second
)

// Journal record types.
const (
	recReading byte = 1
	recMark    byte = 2
)

// durable is the ingest journal stage between the MQTT callback and the
// engine: it journals each message, group-commits every commit interval,
// acknowledges QoS 1 messages only after their commit, then hands them to
// the engine (waiting while the engine is full: backpressure up to the
// broker). It also journals the engine's round marks. One goroutine (run)
// owns the journal.
type durable struct {
	j        *journal.Journal
	eng      *aggregate.Engine
	log      *slog.Logger
	interval time.Duration

	in    chan ingest.Message
	marks chan markRequest
	ctl   chan func()

	// Owned by run's goroutine.
	ctx          context.Context
	lastReading  uint64 // journal index of the newest reading record
	batch        []ingest.Message
	pendingMarks []markRequest

	isFull   atomic.Bool
	failing  atomic.Bool
	full     prometheus.Gauge
	overload prometheus.Counter
	waited   prometheus.Counter
	errs     *prometheus.CounterVec
	queueLen prometheus.GaugeFunc
}

type markRequest struct {
	mark aggregate.RoundMark
	idx  uint64
	done chan markResult
}

type markResult struct {
	idx uint64
	err error
}

var _ ingest.WaitRouter = (*durable)(nil)

func newDurable(j *journal.Journal, eng *aggregate.Engine, queueLen int, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) (*durable, error) {
	d := &durable{
		j: j, eng: eng, log: log.With("stage", "journal"), interval: interval,
		in:    make(chan ingest.Message, queueLen),
		marks: make(chan markRequest, 16),
		ctl:   make(chan func()),
		full: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_journal_full",
			Help: "1 while the ingest journal is full: nothing is acknowledged (the broker holds the rest) until a checkpoint frees space.",
		}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_ingest_queue_full_total",
			Help: "Messages the ingest queue (before the journal) could not take.",
		}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_ingest_queue_waits_total",
			Help: "QoS 1 messages that found the ingest queue full and waited for room (up to mqtt.queue_wait).",
		}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_journal_write_errors_total",
			Help: "Ingest journal append or commit failures, by operation.",
		}, []string{"op"}),
	}
	d.queueLen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rollcall_ingest_queue_length",
		Help: "Messages waiting for the ingest journal.",
	}, func() float64 { return float64(len(d.in)) })
	for _, op := range []string{"append", "commit"} {
		d.errs.WithLabelValues(op)
	}
	for _, c := range []prometheus.Collector{d.full, d.overload, d.waited, d.errs, d.queueLen} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("journal stage: register metrics: %w", err)
		}
	}
	return d, nil
}

// Offer implements ingest.Router: it queues m for the journal without
// blocking.
func (d *durable) Offer(m ingest.Message) bool {
	select {
	case d.in <- m:
		return true
	default:
		d.overload.Inc()
		return false
	}
}

// OfferWait implements ingest.WaitRouter: Offer, waiting up to wait for
// room in the queue.
func (d *durable) OfferWait(m ingest.Message, wait time.Duration) bool {
	select {
	case d.in <- m:
		return true
	default:
	}
	d.waited.Inc()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case d.in <- m:
		return true
	case <-t.C:
		d.overload.Inc()
		return false
	}
}

// Room implements ingest.WaitRouter.
func (d *durable) Room() bool { return len(d.in) < cap(d.in) }

// Reject implements ingest.Router: rejections are counted, not journaled.
func (d *durable) Reject(r ingest.Rejection) { d.eng.Reject(r) }

// record journals a round mark, waits for its commit and returns its
// journal index. It is the engine's recorder.
func (d *durable) record(m aggregate.RoundMark) (uint64, error) {
	// A full or failing journal cannot take the mark either; waiting for it
	// would stall every round, and with them the checkpoint that frees the
	// journal. The round goes unrecorded (counted by the engine).
	if d.Full() || d.Failing() {
		return 0, errJournalUnavailable
	}
	req := markRequest{mark: m, done: make(chan markResult, 1)}
	t := time.NewTimer(markTimeout)
	defer t.Stop()
	select {
	case d.marks <- req:
	case <-t.C:
		return 0, errors.New("journal: mark not accepted in time")
	}
	select {
	case r := <-req.done:
		return r.idx, r.err
	case <-t.C:
		return 0, errors.New("journal: mark not committed in time")
	}
}

// do runs f on the writer's goroutine (for DeleteBefore after a
// checkpoint) and waits.
func (d *durable) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case d.ctl <- func() { f(); close(done) }:
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

// Full reports whether the journal refuses appends.
func (d *durable) Full() bool { return d.isFull.Load() }

func (d *durable) setFull(full bool) {
	d.isFull.Store(full)
	if full {
		d.full.Set(1)
	} else {
		d.full.Set(0)
	}
}

// run journals until ctx is done, then journals what is queued, commits,
// hands it over and returns. The caller stops the subscription first.
func (d *durable) run(ctx context.Context) error {
	d.ctx = ctx
	timer := time.NewTimer(d.interval)
	timer.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			d.drainFlush()
			return nil
		case f := <-d.ctl:
			d.flush()
			f()
		case m := <-d.in:
			d.add(m)
		case r := <-d.marks:
			idx, err := d.append(encodeMark(r.mark))
			if err != nil {
				r.done <- markResult{err: err}
				continue
			}
			r.idx = idx
			d.pendingMarks = append(d.pendingMarks, r)
		case <-timer.C:
			pending = false
			d.flush()
			continue
		}
		if len(d.batch) >= DefaultMaxBatch {
			d.flush()
		} else if !pending {
			pending = true
			timer.Reset(d.interval)
		}
	}
}

// add journals m into the current batch. A message the journal can never
// take (larger than a record may be) is rejected too_large and
// acknowledged, so that it cannot block the queue behind it.
func (d *durable) add(m ingest.Message) {
	idx, err := d.append(encodeReading(m))
	switch {
	case errors.Is(err, journal.ErrTooLarge):
		d.eng.Reject(ingest.Rejection{Reason: ingest.ReasonTooLarge, Detail: err.Error(),
			Topic: m.Site + "/" + m.Device, Payload: m.Payload, Received: m.Received})
		if m.Ack != nil {
			m.Ack()
		}
		return
	case err != nil:
		return // shutting down: left unacknowledged, the broker redelivers it
	}
	m.Index = idx
	d.lastReading = idx
	d.batch = append(d.batch, m)
}

// append appends a record, retrying while the journal is full or failing
// (nothing is acknowledged meanwhile: the broker holds the rest) until ctx
// is done. While it waits it keeps serving control requests: a
// checkpoint's DeleteBefore is what frees a full journal.
func (d *durable) append(rec []byte) (uint64, error) {
	for {
		idx, err := d.j.Append(rec)
		if err == nil {
			d.setFull(false)
			d.setFailing(nil)
			return idx, nil
		}
		d.errs.WithLabelValues("append").Inc()
		switch {
		case errors.Is(err, journal.ErrTooLarge):
			return 0, err
		case errors.Is(err, journal.ErrFull):
			d.setFull(true)
		default:
			d.setFailing(err)
		}
		d.flush() // what is already appended can still be committed
		t := time.NewTimer(fullRetry)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return 0, d.ctx.Err()
		case f := <-d.ctl:
			t.Stop()
			f()
		case <-t.C:
		}
	}
}

// setFailing records whether journal writes fail (for /readyz), logging
// only the changes.
func (d *durable) setFailing(err error) {
	was := d.failing.Swap(err != nil)
	switch {
	case err != nil && !was:
		d.log.Error("journal writes failing; nothing is acknowledged until they succeed", "err", err)
	case err == nil && was:
		d.log.Info("journal writes succeed again")
	}
}

// Failing reports whether journal writes currently fail.
func (d *durable) Failing() bool { return d.failing.Load() }

// flush commits the batch, then acknowledges its messages, hands them to
// the engine (waiting while it is full) and releases the round marks.
func (d *durable) flush() {
	if len(d.batch) == 0 && len(d.pendingMarks) == 0 {
		return
	}
	for {
		_, err := d.j.Commit()
		if err == nil {
			d.setFailing(nil)
			break
		}
		d.errs.WithLabelValues("commit").Inc()
		d.setFailing(err)
		if !sleepCtx(d.ctx, fullRetry) {
			return
		}
	}
	for _, r := range d.pendingMarks {
		r.done <- markResult{idx: r.idx}
	}
	for _, m := range d.batch {
		if m.Ack != nil {
			m.Ack()
			m.Ack = nil
		}
		if err := d.eng.Submit(context.WithoutCancel(d.ctx), m); err != nil {
			d.log.Error("engine refused a journaled message", "err", err)
		}
	}
	d.batch, d.pendingMarks = d.batch[:0], d.pendingMarks[:0]
}

// drainFlush journals everything queued now and flushes. At shutdown (ctx
// done) a full journal is not waited for: an unjournaled message stays
// unacknowledged and the broker redelivers it.
func (d *durable) drainFlush() {
	for {
		select {
		case m := <-d.in:
			if d.ctx.Err() != nil {
				if idx, err := d.j.Append(encodeReading(m)); err == nil {
					m.Index = idx
					d.batch = append(d.batch, m)
				}
				continue
			}
			d.add(m)
		default:
			d.flush()
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// encodeReading is a reading record: type, kind, flags, receive time, site,
// device, payload.
func encodeReading(m ingest.Message) []byte {
	b := make([]byte, 0, 3+binary.MaxVarintLen64*3+len(m.Site)+len(m.Device)+len(m.Payload))
	var flags byte
	if m.Redelivered {
		flags = 1
	}
	b = append(b, recReading, byte(m.Kind), flags)
	b = binary.AppendVarint(b, m.Received)
	b = binary.AppendUvarint(b, uint64(len(m.Site)))
	b = append(b, m.Site...)
	b = binary.AppendUvarint(b, uint64(len(m.Device)))
	b = append(b, m.Device...)
	return append(b, m.Payload...)
}

// encodeMark is a round-mark record: type, seq, clock, per-shard progress.
func encodeMark(m aggregate.RoundMark) []byte {
	b := []byte{recMark}
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendVarint(b, m.Now)
	b = binary.AppendUvarint(b, uint64(len(m.Processed)))
	for _, p := range m.Processed {
		b = binary.AppendUvarint(b, p)
	}
	return b
}

var (
	errBadRecord          = errors.New("journal: malformed record")
	errJournalUnavailable = errors.New("journal: full or failing")
)

// decodeRecord returns a reading (with idx as its Index) or a round mark.
func decodeRecord(idx uint64, rec []byte) (m ingest.Message, mark aggregate.RoundMark, isMark bool, err error) {
	if len(rec) == 0 {
		return m, mark, false, errBadRecord
	}
	r := &byteReader{b: rec[1:]}
	switch rec[0] {
	case recReading:
		kind, flags := r.byte(), r.byte()
		m = ingest.Message{Kind: ingest.TopicKind(kind), Redelivered: flags&1 != 0, Index: idx}
		m.Received = r.varint()
		m.Site = string(r.bytes(r.uvarint()))
		m.Device = string(r.bytes(r.uvarint()))
		m.Payload = append([]byte(nil), r.b...)
		return m, mark, false, r.err
	case recMark:
		mark.Seq = r.uvarint()
		mark.Now = r.varint()
		n := r.uvarint()
		if n > 1024 {
			return m, mark, true, errBadRecord
		}
		for range n {
			mark.Processed = append(mark.Processed, r.uvarint())
		}
		return m, mark, true, r.err
	}
	return m, mark, false, errBadRecord
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errBadRecord
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.err = errBadRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// DefaultCommitInterval is the ingest journal's group commit interval.
const DefaultCommitInterval = journal.DefaultCommitInterval

// JournalConfig configures the ingest journal.
type JournalConfig struct {
	journal.Config `yaml:",inline"`
	// CommitInterval is the group commit interval: QoS 1 messages are
	// acknowledged at most this long after they arrive. Default: 5ms.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// QueueLen is the ingest queue between the MQTT callback and the
	// journal, in messages; at QoS 1 it must hold the broker's whole
	// in-flight window. Default: 8192.
	QueueLen int `yaml:"queue_len"`
}

// withDefaults fills the defaults except Dir, which dir resolves against
// data_dir when the gateway is built (so that data_dir set after the
// defaults still moves it).
func (c JournalConfig) withDefaults() JournalConfig {
	dir := c.Dir
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultIngestQueueLen
	}
	c.Config = c.Config.WithDefaults()
	c.Dir = dir
	return c
}

// dir returns the journal directory: Dir, or <data_dir>/journal.
func (c JournalConfig) dir(dataDir string) string {
	if c.Dir != "" {
		return c.Dir
	}
	return filepath.Join(dataDir, "journal")
}

func (c JournalConfig) validate() error {
	var errs []error
	jc := c.Config
	if jc.Dir == "" {
		jc.Dir = "data_dir/journal" // resolved when the gateway is built
	}
	if err := jc.Validate(); err != nil {
		errs = append(errs, section("journal", err))
	}
	if c.CommitInterval < 0 || c.CommitInterval > time.Second {
		errs = append(errs, fmt.Errorf("journal.commit_interval: %v must be in [0, 1s]", c.CommitInterval))
	}
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("journal.queue_len: %d must be positive", c.QueueLen))
	}
	return errors.Join(errs...)
}
