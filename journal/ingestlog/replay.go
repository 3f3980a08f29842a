package ingestlog

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rollcall-iot/rollcall/ingest"
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
// replay and is returned.
func (l *Log) Replay(ctx context.Context, from uint64, r Replayer) error {
	from = max(l.j.FirstIndex(), from)
	jr, err := l.j.NewReader(from)
	if err != nil {
		return fmt.Errorf("ingestlog: replay: %w", err)
	}
	defer func() { _ = jr.Close() }() // a reader's Close releases; the replay's outcome is what counts
	readings, rounds := 0, 0
	for {
		idx, rec, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("ingestlog: replay at %d: %w", idx, err)
		}
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
		l.log.Info("journal replayed", "from", from, "readings", readings, "rounds", rounds)
	}
	return nil
}
