package store

import (
	"slices"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// Snapshot returns every kept aggregate (every kept revision), series by
// series, oldest window first, for a checkpoint.
func (s *Store) Snapshot() []aggregate.Aggregate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []aggregate.Aggregate
	for _, sr := range s.series {
		for _, revs := range sr.windows {
			out = append(out, revs...)
		}
	}
	return out
}

// Restore loads a checkpoint's aggregates into an empty store, without
// notifying stream subscribers (they are history, not news). The store's
// limits apply as if they had been added in order.
func (s *Store) Restore(as []aggregate.Aggregate) {
	for _, a := range as {
		s.restoreOne(a)
	}
}

func (s *Store) restoreOne(a aggregate.Aggregate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{a.Group, a.Metric}
	sr := s.series[k]
	if sr == nil {
		if len(s.series) >= s.cfg.MaxSeries {
			return
		}
		sr = &series{}
		s.series[k] = sr
	}
	i, found := slices.BinarySearchFunc(sr.windows, a, func(revs []aggregate.Aggregate, a aggregate.Aggregate) int {
		return revs[0].Window.Start.Compare(a.Window.Start)
	})
	if found {
		sr.windows[i] = append(sr.windows[i], a)
		return
	}
	sr.windows = slices.Insert(sr.windows, i, []aggregate.Aggregate{a})
	if len(sr.windows) > s.cfg.MaxWindows {
		sr.windows = slices.Delete(sr.windows, 0, 1)
	}
}
