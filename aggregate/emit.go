package aggregate

import (
	"slices"
	"time"
)

// store records shard i's partial for its window until the window is final.
func (e *Engine) store(i int, p Partial) {
	k := openKey{p.Group, p.Metric, p.Start}
	oa := e.open[k]
	if oa == nil {
		n := len(e.shards)
		oa = &openAgg{parts: make([]Partial, n), has: make([]bool, n), fresh: make([]bool, n)}
		e.open[k] = oa
	}
	oa.parts[i], oa.has[i], oa.fresh[i] = p, true, true
}

// joined records that shard i now holds devices of group, and that its
// part of the group's windows emitted before is empty: a shard joins a group
// only with a newly learned device, which is expected from the window of its
// first reading on (a late first reading makes that window dirty, and the
// shard's partial for it replaces the empty one in the same round). Without
// it, revisions of those windows would wait for shard i until they are final.
func (e *Engine) joined(group string, i int) {
	for k, oa := range e.open {
		if k.group == group && !oa.has[i] {
			oa.parts[i] = NewPartial(k.group, k.metric, k.start, k.start+int64(e.cfg.Window.Size))
			oa.has[i] = true
		}
	}
}

// emitDue emits, group by group and oldest window first: the windows that
// became provisional (revision 0), the open windows some shard revised, and
// the windows that became final.
func (e *Engine) emitDue(names []string, due map[string]dueWindows, at time.Time) {
	for _, n := range names {
		d, ok := due[n]
		if !ok {
			continue
		}
		g := e.groups[n]
		for k, oa := range e.sortedOpen(n) {
			prov := slices.Contains(d.provisional, k.start)
			fin := slices.Contains(d.final, k.start)
			// Unless final, a window waits until every shard holding the
			// group's devices reported it (a metric first seen in a late
			// reading: the others report it when it becomes final).
			if fin || oa.complete(g.members) {
				if rev, ok := oa.revs.Next(prov, fin, oa.changed()); ok {
					e.send(k, oa, rev, fin, g, at)
				} else {
					clear(oa.fresh)
				}
			}
			if fin {
				delete(e.open, k)
			}
		}
	}
}

// sortedOpen yields group n's open aggregates that have news this round, by
// window then metric.
func (e *Engine) sortedOpen(n string) func(yield func(openKey, *openAgg) bool) {
	var keys []openKey
	for k, oa := range e.open {
		if k.group == n && oa.pending() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b openKey) int {
		if a.start != b.start {
			return int(min(max(a.start-b.start, -1), 1))
		}
		switch {
		case a.metric < b.metric:
			return -1
		case a.metric > b.metric:
			return 1
		}
		return 0
	})
	return func(yield func(openKey, *openAgg) bool) {
		for _, k := range keys {
			if !yield(k, e.open[k]) {
				return
			}
		}
	}
}

func (e *Engine) send(k openKey, oa *openAgg, rev int, final bool, g *coordGroup, at time.Time) {
	var merged Partial
	first := true
	for i := range oa.parts {
		if !oa.has[i] {
			continue
		}
		if first {
			merged = oa.parts[i]
			merged.Missing = slices.Clone(merged.Missing)
			merged.Flags = slices.Clone(merged.Flags)
			first = false
			continue
		}
		merged.Merge(&oa.parts[i], e.cfg.MaxMissingListed)
	}
	oa.commit()
	kind := KindRevision
	switch {
	case final:
		kind = KindFinal
	case rev == 0:
		kind = KindProvisional
	}
	e.m.emitted.WithLabelValues(kind).Inc()
	a := merged.Finish(FinishInfo{
		Watermark:   g.lc.Watermark(),
		EmittedAt:   at,
		Revision:    rev,
		Final:       final,
		MinCoverage: e.cfg.MinCoverage,
	})
	if pe, ok := e.emit.(PartialEmitter); ok {
		pe.EmitPartial(a, merged) // merged owns its slices (cloned above)
		return
	}
	e.emit.Emit(a)
}

// PartialEmitter is an Emitter that also takes the merged partial behind
// each aggregate: this gateway's summary of the window, which a tier above
// merges with other gateways' (federation). When the engine's Emitter
// implements it, the engine calls EmitPartial instead of Emit, under the
// same contract; p is owned by the receiver.
type PartialEmitter interface {
	Emitter
	EmitPartial(a Aggregate, p Partial)
}
