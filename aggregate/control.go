package aggregate

import (
	"context"
	"slices"

	"github.com/rollcall-iot/rollcall/staleness"
)

// ctlRequest is a function the coordinator runs on a shard's goroutine, so
// that shard state is only ever touched by its owner. The function delivers
// its own typed result (see ask).
type ctlRequest func(*shard)

// ask runs f on every shard's goroutine and returns the results in shard
// order. It gives up with ErrStopped when stop closes before a shard took
// the request, and with ctx's error when ctx ends first; a shard that took
// a request always runs it (its result is then dropped).
func ask[T any](ctx context.Context, stop <-chan struct{}, shards []*shard, f func(*shard) T) ([]T, error) {
	out := make([]T, len(shards))
	done := make(chan struct{}, len(shards)) // never blocks a shard
	for i, s := range shards {
		req := func(s *shard) {
			out[i] = f(s)
			done <- struct{}{}
		}
		select {
		case s.ctl <- req:
		case <-stop:
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for range shards {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// all runs f on every shard from the coordinator's goroutine, which owns
// the shards' lifetime: they run until it returns, so all cannot fail.
func all[T any](e *Engine, f func(*shard) T) []T {
	out, _ := ask(context.Background(), nil, e.shards, f) // no stop, no deadline: no error
	return out
}

// query runs f on every shard unless the engine has stopped or ctx ends.
func query[T any](ctx context.Context, e *Engine, f func(*shard) T) ([]T, error) {
	return ask(ctx, e.done, e.shards, f)
}

// statusReply is a shard's report at the start of each emit round.
type statusReply struct {
	processed uint64 // highest journal index the shard has handled
	groups    []groupStatus
	cnt       counters
	states    map[staleness.State]int // nil when no scan happened this round
	replaying int                     // flagged devices, valid with states
}

type groupStatus struct {
	name               string
	maxEvent, minEvent int64
	hasEvent           bool
	newest             []int64 // the newest event time of each device that sent a reading (owned by the shard)
}

// status reports the shard's groups and counters since the last report;
// every StateScanInterval it also counts device states and retires the
// devices the roster retires (staleness.Roster.Retires).
func (s *shard) status(now int64) statusReply {
	r := statusReply{cnt: s.cnt, processed: s.processed}
	s.cnt = counters{lastEvent: s.cnt.lastEvent}
	for _, g := range s.groups {
		// g.newest is reused: the coordinator copies it (absorb) before it
		// asks for the next status.
		g.newest = g.newest[:0]
		for _, d := range g.devices {
			if d.accepted > 0 {
				g.newest = append(g.newest, d.live.LastEvent)
			}
		}
		r.groups = append(r.groups, groupStatus{name: g.name, maxEvent: g.maxEvent, minEvent: g.minEvent, hasEvent: g.hasEvent, newest: g.newest})
		g.hasEvent = false
	}
	if now-s.lastScan >= int64(DefaultStateScanInterval) {
		s.lastScan = now
		r.states = make(map[staleness.State]int, len(staleness.States))
		for _, d := range s.devices {
			if s.roster.Retires(&d.member, d.live.LastSeen, now) {
				s.retire(d, now)
				continue
			}
			r.states[s.state(d, now)]++
			if d.replay.Expire(&s.cfg.Replay, now) {
				s.log.Info("device stopped replaying", "device_id", d.id, "group", d.g.name, "replays", d.replay.Total)
			}
			if d.replay.Flagged {
				r.replaying++
			}
		}
		r.states[staleness.StateRetired] += s.retired.Len()
	}
	return r
}

// groupFlush is the coordinator's instruction for one group in one round.
type groupFlush struct {
	group   string
	metrics []string
	// windows lists every window to report: those becoming provisional or
	// final this round. Dirty open windows are added by the shard.
	windows []int64
	open    []int64 // windows that are provisional and not final after this round
	cutoff  int64
}

// flushReply is a shard's answer to a flush: the partials, and the orphans.
type flushReply struct {
	partials []Partial
	// orphans are panes before the cutoff that hold accepted readings no
	// window reported (accepted under an earlier, lower cutoff). The shard
	// keeps them; the coordinator adopts their windows (Lifecycle.Adopt),
	// so that every accepted reading reaches an aggregate.
	orphans []orphan
}

type orphan struct {
	group string
	start int64
}

// flush computes the partials the coordinator asked for, plus those of open
// windows revised by late readings, then drops state the coordinator no
// longer needs.
func (s *shard) flush(now int64, fl []groupFlush) flushReply {
	var out flushReply
	for i := range fl {
		f := &fl[i]
		g := s.groups[f.group]
		if g == nil {
			continue
		}
		for _, start := range f.windows {
			out.partials = s.partials(out.partials, g, f, start, now)
		}
		for _, start := range f.open {
			if !slices.Contains(f.windows, start) && s.revised(g, start) {
				out.partials = s.partials(out.partials, g, f, start, now)
			}
		}
		clear(g.dirty)
		for _, d := range g.devices {
			for _, p := range d.purge(f.cutoff, f.windows, s.hop.Size()) {
				if !slices.ContainsFunc(out.orphans, func(o orphan) bool { return o.group == g.name && o.start == p }) {
					out.orphans = append(out.orphans, orphan{g.name, p})
				}
			}
		}
	}
	return out
}

// revised reports whether a late reading revised a pane of g's window at
// start since the last flush.
func (s *shard) revised(g *shardGroup, start int64) bool {
	if s.hop.Tumbling() {
		_, ok := g.dirty[start]
		return ok
	}
	for p := range g.dirty {
		if start <= p && p < start+s.hop.Size() {
			return true
		}
	}
	return false
}

// partials appends one partial per metric of group g for the window at start.
func (s *shard) partials(out []Partial, g *shardGroup, f *groupFlush, start, now int64) []Partial {
	end := start + s.hop.Size()
	base := len(out)
	for _, m := range f.metrics {
		out = append(out, NewPartial(g.name, m, start, end))
	}
	ps := out[base:]
	for _, d := range g.devices {
		if !d.member.ExpectedIn(end) {
			continue
		}
		w := s.span(d, start, end)
		for mi, name := range f.metrics {
			p := &ps[mi]
			if d.replay.Flagged {
				p.AddFlag(FlagReplaying+d.id, s.cfg.MaxMissingListed)
			}
			if w != nil && d.clock.CorrectedIn(start, end) {
				p.AddFlag(FlagClockCorrected+d.id, s.cfg.MaxMissingListed)
			}
			if w != nil {
				p.Duplicates += uint64(w.duplicates)
				p.Replays += uint64(w.replays)
				p.Late += uint64(w.late)
			}
			i := d.slot(name)
			if i >= 0 && d.metrics[i].spec.Reducer == staleness.ReduceIncrease {
				s.counterPartial(p, d, i, w, start, end, now)
				continue
			}
			if w != nil && i >= 0 && i < len(w.accs) && w.accs[i].n > 0 {
				a := &w.accs[i]
				dm := &d.metrics[i]
				v := a.value(dm.spec.Reducer)
				dm.recordReduced(v, start)
				gs := a.shortfall(start, end, d.member.FirstEvent, &dm.rhythm)
				if d.clock.ReceiveStampedIn(start, end) {
					// Placed by their receive time, the samples at the
					// window's edges may belong to its neighbours, and
					// theirs here: the edges are uncertain.
					gs.before, gs.after = max(gs.before, 1), max(gs.after, 1)
					p.AddFlag(FlagClockUncertain+d.id, s.cfg.MaxMissingListed)
				}
				lo, hi := reportedBounds(dm.spec, a, v, start, end, gs)
				p.AddReported(v, lo, hi, gs.missing() > 0, uint64(a.n), a.lastTS)
				continue
			}
			spec, dm := s.roster.Metric(d.id, name), (*devMetric)(nil)
			if i >= 0 {
				spec, dm = *d.metrics[i].spec, &d.metrics[i]
			}
			lo, hi, imp, ok := missingBounds(spec, dm, start, end)
			md := MissingDevice{Device: d.id, State: string(s.state(d, now)), LastSeen: d.live.LastSeen}
			p.AddMissing(md, lo, hi, imp, ok, s.cfg.MaxMissingListed)
		}
	}
	return out
}
