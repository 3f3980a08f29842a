package ingestlog

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

// Replayer takes the journal's records at recovery, in journal order:
// the engine's replayer, adapted by the gateway.
type Replayer interface {
	// Reading takes a journaled reading (m.Index set); m is the
	// replayer's.
	Reading(m ingest.Message)
	// Round replays a recorded emit round; an error stops the replay.
	Round(ctx context.Context, m Mark) error
}

// Replay hands r every record from index from on (from the oldest one kept
// if that is later), before Run writes anything. A malformed record is logged and
// skipped; a journal that cannot be read, or an error from r, stops the
// replay and is returned. While it runs, ReplayStatus says how far it is,
// and a progress line (records and bytes replayed, rate, time left) is
// logged every journal.DefaultProgressInterval.
func (l *Log) Replay(ctx context.Context, from uint64, r Replayer) error {
	from = max(l.j.FirstIndex(), from)
	jr, err := l.j.NewReader(from)
	if err != nil {
		return fmt.Errorf("ingestlog: replay: %w", err)
	}
	defer func() { _ = jr.Close() }() // a reader's Close releases; the replay's outcome is what counts
	var total uint64
	if last := l.j.LastIndex(); last >= from {
		total = last - from + 1
	}
	p := journal.NewProgress("journal replay", total, l.j.Size(), l.log, l.cfg.Now)
	l.replay.Store(p)
	defer l.replay.Store(nil)
	readings, rounds := 0, 0
	for {
		idx, rec, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("ingestlog: replay at %d: %w", idx, err)
		}
		p.Add(1, len(rec))
		m, mark, isMark, err := decodeRecord(idx, rec)
		if err != nil {
			l.log.Error("skipping a malformed journal record", "index", idx, "err", err)
			continue
		}
		if isMark {
			rounds++
			if err := r.Round(ctx, mark); err != nil {
				return err
			}
			continue
		}
		readings++
		r.Reading(m)
	}
	if readings+rounds > 0 {
		p.Finish()
		l.log.Info("journal replayed", "from", from, "readings", readings, "rounds", rounds)
	}
	return nil
}

// ReplayStatus says how far a running Replay is ("journal replay: 1200 of
// 50000 records (2%), ..."); ok is false when no replay runs. It may be
// called from any goroutine.
func (l *Log) ReplayStatus() (status string, ok bool) {
	if p := l.replay.Load(); p != nil {
		return p.Status(), true
	}
	return "", false
}
