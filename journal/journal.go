package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Journal is a segmented, append-only log of records with group commit.
//
// One goroutine writes: Append, Commit, DeleteBefore, DropOldest and Close
// must not run concurrently with each other. Readers (NewReader and the
// Reader's methods) and FirstIndex, LastIndex and Size may run in any
// goroutine, concurrently with the writer.
type Journal struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	lock *os.File
	enc  *encoder

	// The writer's state.
	f        *os.File // the last segment, open for appending
	pending  []byte   // the open block's records, length-prefixed
	pendingN uint32   // records in pending
	next     uint64   // the index the next Append returns
	dirty    bool     // written since the last fsync
	err      error    // sticky: set by a failed fsync or an unrepaired write

	// mu guards segs, the fields of the segments in it (except written,
	// which only the writer uses), lost and notify. Readers take it once per
	// block, the writer once per Commit and per segment change. Segment
	// files are opened and removed under it, so a Reader never opens a
	// removed file.
	mu     sync.Mutex
	segs   []*segment        // oldest first; the last is being written
	lost   map[uint64]uint64 // damage already counted: first lost index → last
	notify chan struct{}     // closed when records are published, then replaced

	first  atomic.Uint64 // segs[0].first
	last   atomic.Uint64 // the last committed index, 0 before the first
	size   atomic.Int64  // bytes of all segment files
	nsegs  atomic.Int64  // len(segs)
	closed atomic.Bool
}

// Open opens the journal in cfg.Dir, creating the directory if needed, and
// recovers it: it cuts a torn tail off the last segment (a block that is
// partial or fails its checksum, and anything after it), logs and counts
// what was cut, and continues the indexes after the last intact record.
// Damage elsewhere is left for Readers to report (see the package doc). A
// nil log discards; a nil reg registers no metrics. Close unregisters them.
func Open(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Journal, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		cfg:    cfg,
		log:    log.With("stage", "journal", "dir", cfg.Dir),
		lock:   lock,
		lost:   make(map[uint64]uint64),
		notify: make(chan struct{}),
	}
	codec, _ := codecOf(cfg.Compression)
	if j.enc, err = newEncoder(codec); err != nil {
		_ = lock.Close()
		return nil, err
	}
	j.m, err = newMetrics(reg,
		func() float64 { return float64(j.size.Load()) },
		func() float64 { return float64(j.nsegs.Load()) })
	if err != nil {
		j.enc.close()
		_ = lock.Close()
		return nil, err
	}
	if err := j.recover(); err != nil {
		if j.f != nil {
			_ = j.f.Close()
		}
		j.m.unregister()
		j.enc.close()
		_ = lock.Close()
		return nil, err
	}
	j.log.Info("journal opened", "first_index", j.FirstIndex(), "last_index", j.LastIndex(),
		"segments", len(j.segs), "size_bytes", j.Size())
	return j, nil
}

// Append adds rec to the open block and returns its index: 1 for the
// journal's first record, then contiguous across its life and across
// reopening. It copies rec. It does not wait for durability, and Readers do
// not see the record before the next Commit. When the open block is full
// Append writes it first (compressed, not fsynced). It returns ErrFull,
// appending nothing, when the record could take the journal past
// Config.MaxBytes, and ErrTooLarge for a record over MaxRecordBytes.
func (j *Journal) Append(rec []byte) (uint64, error) {
	if err := j.usable(); err != nil {
		return 0, err
	}
	if len(rec) > MaxRecordBytes {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(rec), MaxRecordBytes)
	}
	need := uvarintLen(len(rec)) + len(rec)
	// The bound assumes no compression and a new block for rec: written
	// blocks never exceed it, so the journal never exceeds MaxBytes.
	if j.size.Load()+int64(len(j.pending)+need+2*headerSize) > j.cfg.MaxBytes {
		j.m.full.Inc()
		return 0, ErrFull
	}
	if j.pendingN > 0 && len(j.pending)+need > j.cfg.BlockBytes {
		if err := j.flush(); err != nil {
			return 0, err
		}
	}
	j.pending = binary.AppendUvarint(j.pending, uint64(len(rec)))
	j.pending = append(j.pending, rec...)
	j.pendingN++
	idx := j.next
	j.next++
	j.m.appendedRecords.Inc()
	j.m.appendedBytes.Add(float64(len(rec)))
	return idx, nil
}

// Commit writes the open block and, unless Config.Sync is "none", fsyncs
// the segment. When it returns without error, every record appended before
// is durable and visible to Readers. It returns the last committed index. A
// Commit with nothing appended since the last one does nothing. After a
// failed write the records stay in memory and a later Commit retries; a
// failed fsync is permanent (the kernel may have dropped the dirty pages, so
// a retry could report success for lost data): every later call returns the
// error, and the journal must be closed and reopened, which recovers what
// is on disk.
func (j *Journal) Commit() (uint64, error) {
	if err := j.usable(); err != nil {
		return j.last.Load(), err
	}
	if j.next-1 == j.last.Load() {
		return j.next - 1, nil
	}
	start := time.Now()
	if err := j.flush(); err != nil {
		return j.last.Load(), err
	}
	if j.cfg.fsync() && j.dirty {
		if err := j.f.Sync(); err != nil {
			return j.last.Load(), j.fail(fmt.Errorf("journal: fsync %s: %w", j.active().name, err))
		}
	}
	j.dirty = false
	j.publish()
	j.m.commits.Inc()
	j.m.commitTime.Observe(time.Since(start).Seconds())
	return j.next - 1, nil
}

// FirstIndex returns the index of the oldest committed record still stored,
// or 0 when none is. It is safe for concurrent use.
func (j *Journal) FirstIndex() uint64 {
	if first := j.first.Load(); first <= j.last.Load() {
		return first
	}
	return 0
}

// LastIndex returns the index of the newest committed record, or 0 before
// the first. It is safe for concurrent use. It keeps its value when the
// records are removed, so the next Append returns at least LastIndex()+1.
func (j *Journal) LastIndex() uint64 { return j.last.Load() }

// Size returns the bytes of all segment files, blocks written but not yet
// committed included. It is safe for concurrent use.
func (j *Journal) Size() int64 { return j.size.Load() }

// DeleteBefore removes the segments all of whose records have indexes below
// idx: records a consumer no longer needs (the ingest journal, after a
// checkpoint). The segment holding idx stays, and so does the segment being
// written. Readers still on a removed segment move on to FirstIndex.
func (j *Journal) DeleteBefore(idx uint64) error {
	if err := j.usable(); err != nil {
		return err
	}
	removed := 0
	for len(j.segs) > 1 && j.segs[1].first <= idx {
		if _, err := j.removeOldest(); err != nil {
			return err
		}
		removed++
	}
	if removed > 0 && j.cfg.fsync() {
		return syncDir(j.cfg.Dir)
	}
	return nil
}

// DropOldest removes the oldest segment to make room (the spool, on ErrFull)
// and returns how many records it held, counted in
// rollcall_journal_dropped_records_total{reason="drop_oldest"}. It never
// removes the segment being written: with only that one left it returns 0.
// Readers still on the removed segment move on to FirstIndex.
func (j *Journal) DropOldest() (int, error) {
	if err := j.usable(); err != nil {
		return 0, err
	}
	if len(j.segs) < 2 {
		return 0, nil
	}
	s, err := j.removeOldest()
	if err != nil {
		return 0, err
	}
	n := s.end - s.first
	j.m.dropped.WithLabelValues(ReasonDropOldest).Add(float64(n))
	j.log.Warn("journal dropped oldest segment", "segment", s.name, "records", n, "bytes", s.written)
	if j.cfg.fsync() {
		if err := syncDir(j.cfg.Dir); err != nil {
			return int(n), err
		}
	}
	return int(n), nil
}

// Close commits the open block, closes the files, releases the directory
// and unregisters the metrics. Readers get ErrClosed from then on; they
// must still be closed. A second Close returns ErrClosed.
func (j *Journal) Close() error {
	if j.closed.Load() {
		return ErrClosed
	}
	var errs []error
	if j.err != nil {
		errs = append(errs, j.err)
	} else if _, err := j.Commit(); err != nil {
		errs = append(errs, err)
	}
	j.mu.Lock()
	j.closed.Store(true)
	close(j.notify) // wakes Reader.Wait; stays closed
	j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("journal: close: %w", err))
	}
	_ = j.lock.Close() // releases the flock
	j.enc.close()
	j.m.unregister()
	return errors.Join(errs...)
}

func (j *Journal) usable() error {
	if j.closed.Load() {
		return ErrClosed
	}
	return j.err
}

// fail makes err permanent.
func (j *Journal) fail(err error) error {
	j.err = err
	j.log.Error("journal failed: reopen it to recover", "err", err)
	return err
}

func (j *Journal) active() *segment { return j.segs[len(j.segs)-1] }

// flush writes the open block, first starting a new segment when the last
// is full. A failed write is cut off again, leaving the records pending.
func (j *Journal) flush() error {
	if j.pendingN == 0 {
		return nil
	}
	if j.active().written >= j.cfg.SegmentBytes {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	s := j.active()
	b := j.enc.encode(j.next-uint64(j.pendingN), j.pendingN, j.pending)
	if _, err := j.f.Write(b); err != nil {
		err = fmt.Errorf("journal: write %s: %w", s.name, err)
		if terr := j.f.Truncate(s.written); terr != nil {
			return j.fail(fmt.Errorf("%w; cutting the partial block failed: %w", err, terr))
		}
		return err
	}
	s.written += int64(len(b))
	j.size.Add(int64(len(b)))
	j.m.writtenBytes.Add(float64(len(b)))
	j.pending, j.pendingN, j.dirty = j.pending[:0], 0, true
	if cap(j.pending) > 4*j.cfg.BlockBytes {
		j.pending = nil // do not keep a huge record's buffer
	}
	j.enc.trim(4 * j.cfg.BlockBytes)
	return nil
}

// rotate seals the last segment and starts a new one, named after the
// first record of the open block. The old segment is fsynced first, so the
// fsync of the new one at Commit covers everything before it.
func (j *Journal) rotate() error {
	old := j.active()
	if j.cfg.fsync() && j.dirty {
		if err := j.f.Sync(); err != nil {
			return j.fail(fmt.Errorf("journal: fsync %s: %w", old.name, err))
		}
	}
	first := j.next - uint64(j.pendingN)
	s := newSegment(first)
	f, err := j.create(s)
	if err != nil {
		return err
	}
	if err := j.f.Close(); err != nil {
		j.log.Warn("journal segment close failed", "segment", old.name, "err", err)
	}
	j.mu.Lock()
	old.sealed, old.end = true, first
	j.segs = append(j.segs, s)
	j.mu.Unlock()
	j.f, j.dirty = f, false
	j.nsegs.Add(1)
	return nil
}

// create creates the file of a new last segment. Its name is durable before
// any block in it is.
func (j *Journal) create(s *segment) (*os.File, error) {
	path := segmentPath(j.cfg.Dir, s.name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR|os.O_APPEND, filePerm)
	if err != nil {
		return nil, fmt.Errorf("journal: create segment: %w", err)
	}
	if j.cfg.fsync() {
		if err := syncDir(j.cfg.Dir); err != nil {
			_ = f.Close()
			return nil, j.fail(err)
		}
	}
	return f, nil
}

// publish makes everything written visible to Readers and wakes them.
func (j *Journal) publish() {
	j.mu.Lock()
	defer j.mu.Unlock()
	a := j.active()
	a.size, a.end = a.written, j.next
	// Segments sealed since the last publish hold committed blocks past
	// their published size.
	for i := len(j.segs) - 2; i >= 0 && j.segs[i].size != j.segs[i].written; i-- {
		j.segs[i].size = j.segs[i].written
	}
	j.last.Store(j.next - 1)
	close(j.notify)
	j.notify = make(chan struct{})
}

// removeOldest removes the oldest segment, which is not the last.
func (j *Journal) removeOldest() (*segment, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.segs[0]
	if err := os.Remove(segmentPath(j.cfg.Dir, s.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal: remove segment: %w", err)
	}
	j.segs[0] = nil
	j.segs = j.segs[1:]
	first := j.segs[0].first
	for from := range j.lost {
		if from < first {
			delete(j.lost, from)
		}
	}
	j.first.Store(first)
	j.size.Add(-s.written)
	j.nsegs.Add(-1)
	return s, nil
}

// segmentFor returns the segment that holds idx, or would: the last one
// starting at or before it. The caller holds mu.
func (j *Journal) segmentFor(idx uint64) *segment {
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].first > idx })
	return j.segs[max(i-1, 0)]
}

// segmentAt returns the segment starting at first, or nil once removed. The
// caller holds mu.
func (j *Journal) segmentAt(first uint64) *segment {
	i, ok := slices.BinarySearchFunc(j.segs, first, func(s *segment, first uint64) int {
		switch {
		case s.first < first:
			return -1
		case s.first > first:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return j.segs[i]
}

// noteLost counts and logs, once, committed records [from, to] that cannot
// be read back from segment name at off (none when to < from: damaged bytes
// between intact blocks). Open and every Reader report the same damage with
// the same from.
func (j *Journal) noteLost(name string, off int64, from, to uint64, reason string) {
	j.mu.Lock()
	_, seen := j.lost[from]
	if !seen {
		j.lost[from] = to
	}
	j.mu.Unlock()
	if seen {
		return
	}
	var n uint64
	if to >= from {
		n = to - from + 1
	}
	j.m.truncated.WithLabelValues(ReasonCorrupt).Add(float64(n))
	j.log.Error("journal records unreadable", "segment", name, "offset", off,
		"first", from, "last", to, "records", n, "reason", reason)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
