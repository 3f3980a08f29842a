package aggregate

import (
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// The increase reducer (counters, monotonic: true): a window's value is the
// counter's increase over exactly [start, end), with the counter at each
// boundary interpolated between the samples on either side of it
// (staleness.Metric.Step and Share; docs/semantics.md, "Counters").
//
// State: a window's accumulator keeps its first and last sample (with their
// boots, CounterState) and what the resets between them add; the device's
// metric keeps the last sample of the windows already purged (before). The
// samples on either side of a window are the last one of the nearest
// earlier window (or before) and the first one of the nearest later window.
// A sample that becomes a window's first or last changes the boundary
// shares of the windows between it and its neighbours: those already
// emitted are revised (marked dirty) like windows that took a late reading.

// CounterState is what the increase reducer keeps in an accumulator besides
// its first and last samples: their boots, and what the resets between
// them add to last − first.
type CounterState struct {
	FirstBoot, LastBoot uint64
	// Resets is what the resets between the first and last sample add to
	// last − first (the new series count from 0); Slack is how much more
	// the true increase across them may be (staleness.Metric.Step).
	Resets, Slack float64
}

// firstSample returns the accumulator's first sample (a counter's).
func (a *accumulator) firstSample() staleness.CounterSample {
	return staleness.CounterSample{TS: a.firstTS, Value: a.first, Boot: a.ctr.FirstBoot}
}

// lastSample returns the accumulator's last sample (a counter's).
func (a *accumulator) lastSample() staleness.CounterSample {
	return staleness.CounterSample{TS: a.lastTS, Value: a.last, Boot: a.ctr.LastBoot}
}

// addCounter adds a counter sample. A sample before the first or after the
// last adds its step to them; one in between is taken to be of their
// series (it does not change a series' last − first).
func (a *accumulator) addCounter(m *staleness.Metric, v float64, ts int64, boot uint64) {
	if a.n == 0 {
		a.add(v, ts)
		a.ctr = CounterState{FirstBoot: boot, LastBoot: boot}
		return
	}
	first, last := a.firstSample(), a.lastSample()
	s := staleness.CounterSample{TS: ts, Value: v, Boot: boot}
	a.add(v, ts)
	switch {
	case ts < first.TS:
		a.ctr.FirstBoot = boot
		a.ctr.addStep(m.Step(s, first), s, first)
	case ts >= last.TS:
		a.ctr.LastBoot = boot
		a.ctr.addStep(m.Step(last, s), last, s)
	}
}

// addStep records what step x from x0 to x1 adds beyond x1 − x0.
func (c *CounterState) addStep(x staleness.Increase, x0, x1 staleness.CounterSample) {
	c.Resets += x.Value - (x1.Value - x0.Value)
	c.Slack += x.Hi - x.Value
}

// mergeCounter merges o, a counter accumulator of the same device and
// metric over a disjoint span before or after a's (a consecutive pane of a
// hopping window), into a: the step from the earlier one's last sample to
// the later one's first joins them, so the merge has the inner increase of
// one accumulator that took both's samples.
func (a *accumulator) mergeCounter(m *staleness.Metric, o *accumulator) {
	if o.n == 0 {
		return
	}
	if a.n == 0 {
		*a = *o
		return
	}
	x, y := *a, *o
	if y.firstTS < x.firstTS {
		x, y = y, x
	}
	*a = accumulator{
		n: x.n + y.n, sum: x.sum + y.sum, min: min(x.min, y.min), max: max(x.max, y.max),
		first: x.first, firstTS: x.firstTS, last: y.last, lastTS: y.lastTS, step: max(x.step, y.step),
		ctr: CounterState{
			FirstBoot: x.ctr.FirstBoot, LastBoot: y.ctr.LastBoot,
			Resets: x.ctr.Resets + y.ctr.Resets, Slack: x.ctr.Slack + y.ctr.Slack,
		},
	}
	a.ctr.addStep(m.Step(x.lastSample(), y.firstSample()), x.lastSample(), y.firstSample())
}

// inner is the increase from the accumulator's first to its last sample.
func (a *accumulator) inner() staleness.Increase {
	v := a.last - a.first + a.ctr.Resets
	return staleness.Increase{Value: v, Lo: v, Hi: v + a.ctr.Slack}
}

// counterNeighbours returns metric slot i's last sample before start and
// first sample at or after end among d's open windows (before the oldest:
// the metric's before sample).
func (d *device) counterNeighbours(i int, start, end int64) (prev, next staleness.CounterSample, hasPrev, hasNext bool) {
	for j := len(d.wins) - 1; j >= 0 && !hasPrev; j-- {
		if w := &d.wins[j]; w.start < start && i < len(w.accs) && w.accs[i].n > 0 {
			prev, hasPrev = w.accs[i].lastSample(), true
		}
	}
	if !hasPrev {
		dm := &d.metrics[i]
		prev, hasPrev = dm.before, dm.hasBefore && dm.before.TS < start
	}
	for j := range d.wins {
		if w := &d.wins[j]; w.start >= end && i < len(w.accs) && w.accs[i].n > 0 {
			return prev, w.accs[i].firstSample(), hasPrev, true
		}
	}
	return prev, next, hasPrev, false
}

// keepCounters remembers, before windows ws are purged, the newest sample
// of each counter metric in them: the sample before the remaining windows.
func (d *device) keepCounters(ws []devWindow) {
	for i := range d.metrics {
		dm := &d.metrics[i]
		if dm.spec.Reducer != staleness.ReduceIncrease {
			continue
		}
		for j := range ws {
			if w := &ws[j]; i < len(w.accs) && w.accs[i].n > 0 && (!dm.hasBefore || w.accs[i].lastTS >= dm.before.TS) {
				dm.before, dm.hasBefore = w.accs[i].lastSample(), true
			}
		}
	}
}

// counterIncrease returns the increase of d's metric slot i over
// [start, end), a its accumulator there (nil or empty: no sample). With
// samples in the window (reported), it is the share of the step from the
// sample before to the first one, the steps inside, and the share of the
// step from the last one to the sample after; a side without a known
// neighbour is extrapolated at the device's slope. Without samples it is
// the share of the step between the samples on either side, when both are
// known (ok), else nothing is known.
func (d *device) counterIncrease(i int, a *accumulator, start, end int64) (x staleness.Increase, reported, ok bool) {
	m := d.metrics[i].spec
	prev, next, hasPrev, hasNext := d.counterNeighbours(i, start, end)
	if a == nil || a.n == 0 {
		if !hasPrev || !hasNext {
			return x, false, false
		}
		return m.Share(m.Step(prev, next), prev.TS, next.TS, start, end), false, true
	}
	first, last := a.firstSample(), a.lastSample()
	x = a.inner()
	var head, tail staleness.Increase
	if hasPrev {
		head = m.Share(m.Step(prev, first), prev.TS, first.TS, start, end)
	}
	if hasNext {
		tail = m.Share(m.Step(last, next), last.TS, next.TS, start, end)
	}
	// slope is the device's increase per ns: inside the window, else
	// over the known step next to it.
	var slope float64
	switch {
	case last.TS > first.TS:
		slope = x.Value / float64(last.TS-first.TS)
	case hasPrev && first.TS > prev.TS:
		slope = m.Step(prev, first).Value / float64(first.TS-prev.TS)
	case hasNext && next.TS > last.TS:
		slope = m.Step(last, next).Value / float64(next.TS-last.TS)
	}
	if !hasPrev {
		head = m.Extrapolate(slope, first.TS-start)
	}
	if !hasNext {
		tail = m.Extrapolate(slope, end-last.TS)
	}
	x.Add(head)
	x.Add(tail)
	return x, true, true
}

// acceptCounter adds counter sample v of reading r to d's accumulator a of
// metric slot i in the pane at start, and marks the panes whose windows'
// boundary shares it changes dirty: when it is the pane's new first
// sample, those from its predecessor's pane up to this one; when its new
// last, those after it up to its successor's pane. A window with a dirty
// pane that was emitted is revised.
func (s *shard) acceptCounter(d *device, i int, a *accumulator, v float64, ts int64, boot uint64, start int64) {
	a.addCounter(d.metrics[i].spec, v, ts, boot)
	step := s.hop.Step()
	prev, next, hasPrev, hasNext := d.counterNeighbours(i, start, start+step)
	if hasPrev && a.firstTS == ts {
		s.reviseCounterPanes(d.g, s.hop.Pane(prev.TS), start-step)
	}
	if hasNext && a.lastTS == ts {
		s.reviseCounterPanes(d.g, start+step, s.hop.Pane(next.TS))
	}
}

// reviseCounterPanes marks group g's panes that start in [from, to] and
// lie in an emitted, still open window dirty (revised at the next
// emission).
func (s *shard) reviseCounterPanes(g *shardGroup, from, to int64) {
	step := s.hop.Step()
	gate := g.shared.gate
	if gate.Emitted() == window.Unset {
		return // nothing emitted yet: nothing to revise
	}
	from = max(from, gate.Cutoff())
	// The last pane of an emitted window: windows before Emitted are.
	to = min(to, gate.Emitted()-1+s.hop.Size()-step)
	for p := s.hop.Pane(from); p <= to; p += step {
		if p < from {
			continue
		}
		if g.dirty == nil {
			g.dirty = map[int64]struct{}{}
		}
		g.dirty[p] = struct{}{}
	}
}

// counterPartial adds device d's increase of metric slot i in the window
// [start, end) to p (w: d's window there, nil when none): reported when
// it has samples there; otherwise missing, estimated and bounded by the
// step between the samples on either side when both are known (an
// interpolation, not an imputation: impute: none still leaves it out of
// the value), else by the physics (missingBounds).
func (s *shard) counterPartial(p *Partial, d *device, i int, w *devWindow, start, end, now int64) {
	var a *accumulator
	if w != nil && i < len(w.accs) {
		a = &w.accs[i]
	}
	dm := &d.metrics[i]
	x, reported, ok := d.counterIncrease(i, a, start, end)
	if reported {
		dm.recordReduced(x.Value, start)
		gs := a.shortfall(start, end, d.member.FirstEvent, &dm.rhythm)
		p.AddReported(x.Value, x.Lo, x.Hi, gs.missing() > 0, uint64(a.n), a.lastTS)
		return
	}
	md := MissingDevice{Device: d.id, State: string(s.state(d, now)), LastSeen: d.live.LastSeen}
	if ok {
		p.AddMissing(md, x.Lo, x.Hi, x.Value, dm.spec.Impute != staleness.ImputeNone, s.cfg.MaxMissingListed)
		return
	}
	lo, hi, imp, hasImp := missingBounds(*dm.spec, dm, start, end)
	p.AddMissing(md, lo, hi, imp, hasImp, s.cfg.MaxMissingListed)
}
