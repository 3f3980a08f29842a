package influx

import (
	"log/slog"

	"github.com/rollcall-iot/rollcall/journal"
)

// startupDrain follows the drain of what the spool held at start (the
// backlog of an earlier run): its progress is logged every
// journal.DefaultProgressInterval, and DrainStatus reports it for the
// gateway's readiness.
type startupDrain struct {
	p      *journal.Progress
	target uint64 // the last record spooled before the start
}

// followStartupDrain starts following the spool's start-up backlog, if it
// has one. Called by New, before Run.
func (s *Sink) followStartupDrain() {
	s.sp.mu.Lock()
	last, acked, size := s.sp.j.LastIndex(), s.sp.acked, s.sp.j.Size()
	s.sp.mu.Unlock()
	if last <= acked {
		return
	}
	s.drain.Store(&startupDrain{
		p:      journal.NewProgress("influx spool drain", last-acked, size, s.log, s.cfg.Now),
		target: last,
	})
}

// noteDrained counts the spooled records InfluxDB took (or refused for
// good), and ends the start-up drain once its last record is done. Run
// only.
func (s *Sink) noteDrained(items []spooled) {
	d := s.drain.Load()
	if d == nil || len(items) == 0 {
		return
	}
	n := 0
	for _, it := range items {
		n += len(it.rec)
	}
	d.p.Add(len(items), n)
	if items[len(items)-1].idx >= d.target || s.sp.empty() {
		d.p.Finish()
		s.drain.Store(nil)
	}
}

// pauseStartupDrain stops readiness from waiting for the start-up drain
// when InfluxDB does not accept writes: the backlog is then an outage like
// any other, visible in rollcall_influx_spool_records. Run only.
func (s *Sink) pauseStartupDrain() {
	if d := s.drain.Swap(nil); d != nil {
		s.log.Warn("influx spool drain paused: influxdb does not accept writes; readiness no longer waits for it",
			slog.String("progress", d.p.Status()))
	}
}

// DrainStatus says how far the drain of the spool's start-up backlog is
// ("influx spool drain: 1200 of 50000 records (2%), ..."); ok is false
// when there is none, it is done, or it paused because InfluxDB does not
// accept writes. It may be called from any goroutine.
func (s *Sink) DrainStatus() (status string, ok bool) {
	if d := s.drain.Load(); d != nil {
		return d.p.Status(), true
	}
	return "", false
}
