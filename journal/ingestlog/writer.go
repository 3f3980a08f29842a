package ingestlog

import (
	"context"
	"errors"
	"time"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

// Run journals until ctx is done, then journals what is queued, commits,
// hands it over and returns nil. Stop the subscription first. Run is the
// only goroutine that writes the journal.
func (l *Log) Run(ctx context.Context) error {
	l.ctx = ctx
	timer := time.NewTimer(l.cfg.CommitInterval)
	timer.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			l.drainFlush()
			return nil
		case f := <-l.ctl:
			l.flush()
			f()
		case m := <-l.in:
			l.add(m)
		case r := <-l.marks:
			idx, err := l.append(encodeMark(r.mark))
			if err != nil {
				r.done <- markResult{err: err}
				continue
			}
			r.idx = idx
			l.pendingMarks = append(l.pendingMarks, r)
		case <-timer.C:
			pending = false
			l.flush()
			continue
		}
		if len(l.batch) >= l.cfg.MaxBatch {
			l.flush()
		} else if !pending {
			pending = true
			timer.Reset(l.cfg.CommitInterval)
		}
	}
}

// add journals m into the current batch. A message the journal can never
// take (larger than a record may be) is rejected too_large and
// acknowledged, so that it cannot block the queue behind it.
func (l *Log) add(m ingest.Message) {
	idx, err := l.append(encodeReading(m))
	switch {
	case errors.Is(err, journal.ErrTooLarge):
		l.consumer.Reject(ingest.Rejection{
			Reason: ingest.ReasonTooLarge, Detail: err.Error(),
			Topic: m.Site + "/" + m.Device, Payload: m.Payload, Received: m.Received,
		})
		if m.Ack != nil {
			m.Ack()
		}
		return
	case err != nil:
		return // shutting down: left unacknowledged, the broker redelivers it
	}
	m.Index = idx
	l.lastReading = idx
	l.batch = append(l.batch, m)
}

// append appends a record, retrying while the journal is full or failing
// (nothing is acknowledged meanwhile: the broker holds the rest) until ctx
// is done. While it waits it keeps serving control requests: a
// checkpoint's Release is what frees a full journal.
func (l *Log) append(rec []byte) (uint64, error) {
	for {
		idx, err := l.j.Append(rec)
		if err == nil {
			l.setFull(false)
			l.setFailing(nil)
			return idx, nil
		}
		l.m.writeErrs.WithLabelValues(OpAppend).Inc()
		switch {
		case errors.Is(err, journal.ErrTooLarge):
			return 0, err
		case errors.Is(err, journal.ErrFull):
			l.setFull(true)
		default:
			l.setFailing(err)
		}
		l.flush() // what is already appended can still be committed
		t := time.NewTimer(RetryInterval)
		select {
		case <-l.ctx.Done():
			t.Stop()
			return 0, l.ctx.Err()
		case f := <-l.ctl:
			t.Stop()
			f()
		case <-t.C:
		}
	}
}

// flush commits the batch, then acknowledges its messages, hands them to
// the consumer (waiting while it is full) and releases the round marks.
func (l *Log) flush() {
	if len(l.batch) == 0 && len(l.pendingMarks) == 0 {
		return
	}
	for {
		_, err := l.j.Commit()
		if err == nil {
			l.setFailing(nil)
			break
		}
		l.m.writeErrs.WithLabelValues(OpCommit).Inc()
		l.setFailing(err)
		if !sleepCtx(l.ctx, RetryInterval) {
			return
		}
	}
	for _, r := range l.pendingMarks {
		r.done <- markResult{idx: r.idx}
	}
	for _, m := range l.batch {
		if m.Ack != nil {
			m.Ack()
			m.Ack = nil
		}
		if err := l.consumer.Submit(context.WithoutCancel(l.ctx), m); err != nil {
			l.log.Error("engine refused a journaled message", "err", err)
		}
	}
	l.batch, l.pendingMarks = l.batch[:0], l.pendingMarks[:0]
}

// drainFlush journals everything queued now and flushes. At shutdown (ctx
// done) a full journal is not waited for: an unjournaled message stays
// unacknowledged and the broker redelivers it.
func (l *Log) drainFlush() {
	for {
		select {
		case m := <-l.in:
			if l.ctx.Err() != nil {
				if idx, err := l.j.Append(encodeReading(m)); err == nil {
					m.Index = idx
					l.batch = append(l.batch, m)
				}
				continue
			}
			l.add(m)
		default:
			l.flush()
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
