package journal

import (
	"fmt"
	"math"
	"os"
)

// damage is a stretch of bad bytes followed by an intact block.
type damage struct {
	off      int64
	from, to uint64 // records lost, inclusive; none when to < from
	reason   string
}

// tail is what a scan of the last segment found.
type tail struct {
	end      uint64   // the index after the last intact record
	validEnd int64    // the offset after the last intact block
	damaged  []damage // bad bytes before validEnd
	// tornRecords is the record count the header at validEnd claims, when
	// that header is whole and fits (a torn write usually leaves it intact).
	tornRecords uint64
	tornReason  string
}

// recover lists the segments, repairs the last one and opens it for
// appending. The segments before it are not read: Readers check them.
func (j *Journal) recover() error {
	segs, err := listSegments(j.cfg.Dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		s := newSegment(1)
		if j.f, err = j.create(s); err != nil {
			return err
		}
		segs = []*segment{s}
	} else {
		last := segs[len(segs)-1]
		if j.f, err = os.OpenFile(segmentPath(j.cfg.Dir, last.name), os.O_RDWR|os.O_APPEND, 0); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		t, err := scanTail(j.f, last)
		if err != nil {
			return fmt.Errorf("journal: scan %s: %w", last.name, err)
		}
		if err := j.repair(last, t); err != nil {
			return err
		}
		if len(t.damaged) > 0 {
			// Leave the damage to Readers, which skip it, and write from here
			// on into a new segment: a segment is damaged in the middle or
			// at its end, never both.
			s := newSegment(t.end)
			f, err := j.create(s)
			if err != nil {
				return err
			}
			_ = j.f.Close()
			last.sealed, last.end = true, t.end
			j.f = f
			segs = append(segs, s)
		}
	}
	j.segs = segs
	j.next = j.active().end
	var size int64
	for _, s := range segs {
		size += s.written
	}
	j.size.Store(size)
	j.nsegs.Store(int64(len(segs)))
	j.first.Store(segs[0].first)
	j.last.Store(j.next - 1)
	return nil
}

// repair cuts the torn tail off the last segment and reports the damage
// before it.
func (j *Journal) repair(last *segment, t tail) error {
	for _, d := range t.damaged {
		j.noteLost(last.name, d.off, d.from, d.to, d.reason)
	}
	if torn := last.written - t.validEnd; torn > 0 {
		if err := j.f.Truncate(t.validEnd); err != nil {
			return fmt.Errorf("journal: cut torn tail of %s: %w", last.name, err)
		}
		if j.cfg.fsync() {
			if err := j.f.Sync(); err != nil {
				return fmt.Errorf("journal: fsync %s: %w", last.name, err)
			}
		}
		j.m.truncated.WithLabelValues(ReasonTornTail).Add(float64(t.tornRecords))
		j.log.Warn("journal torn tail cut", "segment", last.name, "offset", t.validEnd,
			"bytes", torn, "records", t.tornRecords, "reason", t.tornReason)
	}
	last.written, last.size, last.end = t.validEnd, t.validEnd, t.end
	return nil
}

// scanTail reads every block of the last segment s, checking each, and
// finds where its intact blocks end. Bad bytes followed by an intact block
// are damage; bad bytes up to the end of the file are the torn tail.
func scanTail(f *os.File, s *segment) (tail, error) {
	var br blockReader
	defer br.close()
	t := tail{end: s.first}
	limit := s.written
	for off := int64(0); off < limit; {
		h, _, err := br.read(f, off, limit, 0)
		switch {
		case err != nil && !isBad(err):
			return t, err
		case err == nil && h.first == t.end:
			off += h.size()
			t.end, t.validEnd = h.end(), off
			continue
		case err == nil && h.first > t.end:
			t.damaged = append(t.damaged, damage{off: off, from: t.end, to: h.first - 1, reason: "records missing before block"})
			t.end = h.first
			continue
		}
		reason := "block out of order"
		if err != nil {
			reason = err.Error()
		}
		next, nh, found, ferr := br.find(f, off+1, limit, t.end, math.MaxUint64)
		if ferr != nil {
			return t, ferr
		}
		if !found {
			t.tornReason = reason
			break
		}
		t.damaged = append(t.damaged, damage{off: off, from: t.end, to: nh.first - 1, reason: reason})
		off, t.end = next, nh.first
	}
	if limit-t.validEnd >= headerSize {
		var hdr [headerSize]byte
		if _, err := f.ReadAt(hdr[:], t.validEnd); err == nil {
			if h, err := parseHeader(hdr[:]); err == nil && h.first == t.end {
				t.tornRecords = uint64(h.count)
			}
		}
	} else if limit > t.validEnd {
		t.tornReason = "truncated header"
	}
	return t, nil
}
