package gateway

import (
	"context"
	"path/filepath"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal/ingestlog"
)

// The ingest journal stage is journal/ingestlog; this file adapts it to the
// gateway: its directory under data_dir, and the engine's round marks and
// replayer.

// journalDir returns the ingest journal's directory: journal.dir, or
// <data_dir>/journal.
func journalDir(c ingestlog.Config, dataDir string) string {
	if c.Dir != "" {
		return c.Dir
	}
	return filepath.Join(dataDir, "journal")
}

// validateJournal validates the journal section; an empty dir is resolved
// against data_dir when the gateway is built.
func validateJournal(c ingestlog.Config) error {
	if c.Dir == "" {
		c.Dir = "data_dir/journal"
	}
	return section("journal", c.Validate())
}

// openJournal opens the ingest journal stage in front of the engine and
// makes it the engine's round recorder.
func (g *Gateway) openJournal() error {
	jc := g.cfg.Journal
	jc.Dir = journalDir(jc, g.cfg.DataDir)
	var err error
	if g.ingestLog, err = ingestlog.New(jc, g.engine, g.log, g.reg); err != nil {
		return err
	}
	g.engine.SetRecorder(func(m aggregate.RoundMark) (uint64, error) {
		return g.ingestLog.Record(ingestlog.Mark(m))
	})
	return nil
}

// replayer adapts the engine's replayer to the journal's records. hook,
// if set, runs before each reading (tests block the replay with it).
type replayer struct {
	rp   *aggregate.Replayer
	hook func()
}

func (r replayer) Reading(m ingest.Message) {
	if r.hook != nil {
		r.hook()
	}
	r.rp.Reading(m)
}

func (r replayer) Round(ctx context.Context, m ingestlog.Mark) error {
	return r.rp.Round(ctx, aggregate.RoundMark(m))
}
