package influx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/journal"
)

// Spool layout under Config.Spool.Dir.
const (
	spoolJournalDir = "journal"
	spoolAckedFile  = "acked"
)

// spool is the store-and-forward queue: a journal of line-protocol records
// (one per aggregate, PointsPerAggregate lines) plus the index of the last
// record InfluxDB acknowledged, persisted in the file "acked".
//
// Records are appended at the end and read in order from acked+1. After a
// batch is acknowledged, ack persists its last index (before anything newer
// may be written to InfluxDB directly, so a crash cannot resend an older
// revision over a newer one) and deletes the journal segments before it.
// Re-sending an acknowledged record is otherwise harmless: InfluxDB
// overwrites the same series and timestamp with the same values.
//
// Writes (append, ack, close) serialise on mu; they come from Run, or from
// Write after Run has stopped. The reader side (next) belongs to Run alone.
type spool struct {
	log     *slog.Logger
	m       *metrics
	ackPath string
	fsync   bool

	mu       sync.Mutex
	j        *journal.Journal // guarded by mu for writes
	acked    uint64           // guarded by mu
	oldest   uint64           // index of the oldest record stored, committed or not; guarded by mu
	closed   bool             // guarded by mu
	lastWarn time.Time        // rate limit for log lines; guarded by mu

	// Run only.
	r     *journal.Reader
	rNext uint64 // index r returns next
}

// spooled is one record read back from the spool.
type spooled struct {
	idx uint64
	rec []byte
}

// openSpool opens (or creates) the spool in cfg.Dir and restores the
// acknowledged index.
func openSpool(cfg journal.Config, log *slog.Logger, reg prometheus.Registerer, m *metrics) (*spool, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("influx: spool: %w", err)
	}
	s := &spool{
		log:     log,
		m:       m,
		ackPath: filepath.Join(cfg.Dir, spoolAckedFile),
		fsync:   cfg.Sync != "none",
	}
	jcfg := cfg
	jcfg.Dir = filepath.Join(cfg.Dir, spoolJournalDir)
	j, err := journal.Open(jcfg, log.With("journal", "spool"),
		prometheus.WrapRegistererWith(prometheus.Labels{"journal": "spool"}, reg))
	if err != nil {
		return nil, fmt.Errorf("influx: spool: %w", err)
	}
	s.j = j
	acked, err := readAcked(s.ackPath)
	if err != nil {
		// Resending from the start is safe (InfluxDB overwrites), only slow.
		log.Warn("spool acked index unreadable; resending the whole spool", slog.Any("err", err))
		acked = 0
	}
	// Clamp: records before the first stored one are gone (acknowledged,
	// or dropped for space), and an index past LastIndex belongs to an
	// older journal.
	last := j.LastIndex()
	s.oldest = s.firstIndex()
	acked = min(acked, last)
	acked = max(acked, s.oldest-1)
	s.acked = acked
	s.updateGauges()
	if n := last - acked; n > 0 {
		log.Info("spool holds aggregates; draining when InfluxDB accepts writes",
			slog.Uint64("records", n), slog.Int64("bytes", j.Size()))
	}
	return s, nil
}

func readAcked(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// writeAcked replaces the acked file atomically (temp file and rename),
// synced unless the journal runs with sync: none.
func (s *spool) writeAcked(idx uint64) error {
	tmp := s.ackPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(idx, 10) + "\n")
	if err == nil && s.fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.ackPath)
	}
	if err == nil && s.fsync {
		err = syncDir(filepath.Dir(s.ackPath))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// append stores recs in order and commits them. When the spool is full it
// drops its oldest segment (counted as spool_full, the unacknowledged
// records in it only) and retries; a record that still does not fit is
// dropped and counted. It returns ErrClosed after close, without counting.
func (s *spool) append(recs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	defer s.updateGauges()
	appended := 0
	var errs []error
	for _, rec := range recs {
		err := s.appendOne(rec)
		switch {
		case err == nil:
			appended++
		case errors.Is(err, errSpoolFull):
			s.m.dropped.WithLabelValues(DropSpoolFull).Add(PointsPerAggregate)
			errs = append(errs, err)
		default:
			s.m.dropped.WithLabelValues(DropSpoolError).Add(PointsPerAggregate)
			errs = append(errs, err)
		}
	}
	if appended > 0 {
		if _, err := s.j.Commit(); err != nil {
			// The records' fate is unknown; count them lost.
			s.m.dropped.WithLabelValues(DropSpoolError).Add(float64(appended * PointsPerAggregate))
			errs = append(errs, fmt.Errorf("influx: spool commit: %w", err))
		} else {
			s.m.spooled.Add(float64(appended * PointsPerAggregate))
		}
	}
	err := errors.Join(errs...)
	if err != nil && time.Since(s.lastWarn) >= logEvery {
		s.lastWarn = time.Now()
		s.log.Error("spool lost aggregates", slog.Any("err", err))
	}
	return err
}

// appendOne appends rec, dropping oldest segments while the journal is
// full. The caller holds mu.
func (s *spool) appendOne(rec []byte) error {
	for {
		_, err := s.j.Append(rec)
		if !errors.Is(err, journal.ErrFull) {
			if err != nil {
				return fmt.Errorf("influx: spool append: %w", err)
			}
			return nil
		}
		n, derr := s.j.DropOldest()
		if derr != nil || n == 0 {
			return fmt.Errorf("%w: %d bytes", errSpoolFull, s.j.Size())
		}
		// The segment held [oldest, oldest+n): segments are contiguous, and
		// the journal's FirstIndex cannot say, because the records may be
		// ones this append wrote and has not committed yet. Those after
		// acked were never delivered.
		end := s.oldest + uint64(n)
		if from := max(s.oldest, s.acked+1); end > from {
			s.m.dropped.WithLabelValues(DropSpoolFull).Add(float64((end - from) * PointsPerAggregate))
		}
		s.oldest = end
		// Readers skip removed records; a reader behind acked reopens.
		s.acked = max(s.acked, end-1)
		if time.Since(s.lastWarn) >= logEvery {
			s.lastWarn = time.Now()
			s.log.Warn("spool full; dropped its oldest segment",
				slog.Int("records", n), slog.Int64("bytes", s.j.Size()))
		}
	}
}

// firstIndex is the index of the oldest committed record still stored, or
// LastIndex+1 when none is (the journal's FirstIndex is 0 then). Call it
// when nothing is appended but uncommitted.
func (s *spool) firstIndex() uint64 {
	if first := s.j.FirstIndex(); first > 0 {
		return first
	}
	return s.j.LastIndex() + 1
}

// empty reports whether every spooled record is acknowledged.
func (s *spool) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || s.acked >= s.j.LastIndex()
}

// next reads up to n unacknowledged records, oldest first. It may return
// records and an error (the records before the error). Run only.
func (s *spool) next(n int) ([]spooled, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	want := max(s.acked+1, s.j.FirstIndex())
	s.mu.Unlock()

	// Keep the reader while it is where the next unacknowledged record is
	// (the usual case: the previous batch was acknowledged whole).
	if s.r == nil || s.rNext != want {
		s.closeReader()
		r, err := s.j.NewReader(want)
		if err != nil {
			return nil, fmt.Errorf("influx: spool reader at %d: %w", want, err)
		}
		s.r, s.rNext = r, want
	}
	var out []spooled
	for len(out) < n {
		idx, rec, err := s.r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.closeReader()
			return out, fmt.Errorf("influx: spool read at %d: %w", s.rNext, err)
		}
		s.rNext = idx + 1
		// The reader may reuse rec's memory.
		out = append(out, spooled{idx: idx, rec: append([]byte(nil), rec...)})
	}
	return out, nil
}

// skip acknowledges the records first..last, which the journal cannot read
// back, and counts those not acknowledged before as spool_error drops.
func (s *spool) skip(first, last uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if last <= s.acked {
		return nil
	}
	lost := last - max(first-1, s.acked)
	if err := s.ackLocked(last); err != nil {
		return err
	}
	s.m.dropped.WithLabelValues(DropSpoolError).Add(float64(lost * PointsPerAggregate))
	return nil
}

func (s *spool) closeReader() {
	if s.r != nil {
		_ = s.r.Close()
		s.r = nil
	}
}

// ack records that every record up to idx is delivered (or dropped): it
// persists idx and deletes the segments before it.
func (s *spool) ack(idx uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.ackLocked(idx)
}

// ackLocked is ack; the caller holds mu.
func (s *spool) ackLocked(idx uint64) error {
	if idx <= s.acked {
		return nil
	}
	defer s.updateGauges()
	if err := s.writeAcked(idx); err != nil {
		// Leave acked as it was, so the spool is not empty: an unpersisted
		// ack could let a restart resend an old revision over a newer direct
		// write. The records are sent again (harmless) and acked then.
		return fmt.Errorf("influx: spool ack: %w", err)
	}
	s.acked = idx
	if err := s.j.DeleteBefore(idx + 1); err != nil {
		return fmt.Errorf("influx: spool delete: %w", err)
	}
	s.oldest = max(s.oldest, s.firstIndex())
	return nil
}

// updateGauges sets the spool gauges. The caller holds mu.
func (s *spool) updateGauges() {
	records := s.j.LastIndex() - min(s.acked, s.j.LastIndex())
	s.m.spoolRecords.Set(float64(records))
	if records == 0 {
		// The journal keeps its active segment (acknowledged records only)
		// until it rolls over; that is not backlog.
		s.m.spoolBytes.Set(0)
	} else {
		s.m.spoolBytes.Set(float64(s.j.Size()))
	}
}

// close closes the reader and the journal; later appends return ErrClosed.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closeReader()
	return s.j.Close()
}
