package journal

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Reader reads committed records in index order. It is not safe for
// concurrent use, but any number of Readers may run beside the writer, each
// with its own file handles and buffers.
type Reader struct {
	j    *Journal
	next uint64 // the index of the next record to return, at the earliest
	br   blockReader

	f        *os.File
	seg      segInfo // f's segment, refreshed under j.mu
	off      int64   // the offset of the next block in f
	blockEnd uint64  // the first index of the next block in f

	recs   []byte // the current block's records not yet returned
	recIdx uint64 // the index of the first of recs
	closed bool
}

// NewReader returns a Reader of the committed records from index from on
// (inclusive). A from below FirstIndex starts at FirstIndex; a from past
// LastIndex waits for that record.
func (j *Journal) NewReader(from uint64) (*Reader, error) {
	if j.closed.Load() {
		return nil, ErrClosed
	}
	return &Reader{j: j, next: max(from, j.first.Load(), 1)}, nil
}

// Next returns the next committed record and its index. rec is valid until
// the next call; the caller must not modify it. At the current end it
// returns io.EOF, and a later call returns the records committed since (see
// Wait). Records removed by DeleteBefore or DropOldest before this Reader got
// to them are skipped. Where committed records cannot be read back, Next
// returns a *CorruptError (errors.Is(err, ErrCorrupt)) naming them, and the
// following call continues after them. Any other error is an I/O error.
func (r *Reader) Next() (idx uint64, rec []byte, err error) {
	if r.closed || r.j.closed.Load() {
		return 0, nil, ErrClosed
	}
	for {
		for len(r.recs) > 0 {
			idx := r.recIdx
			rec, r.recs = nextRecord(r.recs)
			r.recIdx++
			if idx >= r.next {
				r.next = idx + 1
				return idx, rec, nil
			}
		}
		if r.next > r.j.last.Load() {
			return 0, nil, io.EOF
		}
		if err := r.advance(); err != nil {
			return 0, nil, err
		}
	}
}

// Wait blocks until a record at or after the Reader's position is
// committed, ctx is done (it returns ctx.Err()) or the journal is closed (it
// returns ErrClosed). Call it after Next returns io.EOF.
func (r *Reader) Wait(ctx context.Context) error {
	for {
		r.j.mu.Lock()
		ch := r.j.notify
		r.j.mu.Unlock()
		if r.closed || r.j.closed.Load() {
			return ErrClosed
		}
		if r.j.last.Load() >= r.next {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close releases the Reader's file and buffers. It always returns nil.
func (r *Reader) Close() error {
	r.closeSegment()
	r.br.close()
	r.closed = true
	return nil
}

// advance loads the block that holds r.next, or returns io.EOF, a
// *CorruptError or an I/O error.
func (r *Reader) advance() error {
	for {
		if err := r.refresh(); err != nil {
			return err
		}
		if r.off >= r.seg.size {
			if !r.seg.sealed {
				return io.EOF // its next block is not committed yet
			}
			var err error
			if r.blockEnd < r.seg.end {
				err = r.lose(r.off, r.seg.end-1, "segment ends early")
			}
			r.next = max(r.next, r.seg.end)
			r.closeSegment()
			if err != nil {
				return err
			}
			continue
		}
		h, recs, err := r.br.read(r.f, r.off, r.seg.size, r.next)
		fits := err == nil && h.end() <= r.seg.end
		switch {
		case err != nil && !isBad(err):
			return err
		case fits && h.first == r.blockEnd:
			r.off += h.size()
			r.blockEnd = h.end()
			if recs != nil {
				r.recs, r.recIdx = recs, h.first
				return nil
			}
			continue // all its records come before r.next
		case fits && h.first > r.blockEnd:
			err := r.lose(r.off, h.first-1, "records missing before block")
			r.blockEnd = h.first
			if err != nil {
				return err
			}
			continue
		}
		reason := "block out of order"
		if err != nil {
			reason = err.Error()
		}
		if err := r.resync(reason); err != nil {
			return err
		}
	}
}

// resync skips the bad block at r.off: on to the next intact block of the
// segment, or past the committed part of the segment when there is none.
func (r *Reader) resync(reason string) error {
	off, h, found, err := r.br.find(r.f, r.off+1, r.seg.size, r.blockEnd, r.seg.end)
	if err != nil {
		return err
	}
	if found {
		lerr := r.lose(r.off, h.first-1, reason)
		r.off, r.blockEnd = off, h.first
		return lerr
	}
	lerr := r.lose(r.off, r.seg.end-1, reason)
	if r.seg.sealed {
		r.next = max(r.next, r.seg.end)
		r.closeSegment()
	} else {
		// The writer appends after the committed part: read on from there.
		r.off, r.blockEnd = r.seg.size, r.seg.end
	}
	return lerr
}

// lose reports the records [r.blockEnd, to] lost at off: to the journal,
// which counts them once, and to the caller as a *CorruptError when any of
// them is at or after r.next.
func (r *Reader) lose(off int64, to uint64, reason string) error {
	from := r.blockEnd
	r.j.noteLost(r.seg.name, off, from, to, reason)
	if to < from || to < r.next {
		return nil
	}
	err := &CorruptError{Segment: r.seg.name, Offset: off, First: max(from, r.next), Last: to, Reason: reason}
	r.next = to + 1
	return err
}

// refresh brings r.seg up to date and opens the segment that holds r.next
// when none is open. It returns io.EOF when nothing is committed at r.next.
func (r *Reader) refresh() error {
	j := r.j
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed.Load() {
		return ErrClosed
	}
	if first := j.segs[0].first; r.next < first {
		r.next = first // removed by DeleteBefore or DropOldest
		r.closeSegment()
	}
	if r.f != nil {
		if s := j.segmentAt(r.seg.first); s != nil {
			r.seg = s.segInfo
			return nil
		}
		r.closeSegment()
	}
	if r.next > j.last.Load() {
		return io.EOF
	}
	s := j.segmentFor(r.next)
	f, err := os.Open(segmentPath(j.cfg.Dir, s.name))
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.f, r.seg, r.off, r.blockEnd = f, s.segInfo, 0, s.first
	return nil
}

func (r *Reader) closeSegment() {
	if r.f != nil {
		_ = r.f.Close() // read-only
		r.f = nil
	}
	r.recs = nil
}
