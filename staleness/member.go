package staleness

import (
	"iter"
	"slices"
)

// Member is one device's membership of the roster: listed or learned, since
// when, and whether it retired. It is a value kept with the device's state by
// the device's owner (its shard); the membership rules are its methods and
// the Roster's (Join, Retires), so that they live here and not with the
// caller.
type Member struct {
	// Listed: the fleet file lists the device. It is expected from the start
	// and never retires.
	Listed bool
	// FirstEvent is the event time (Unix ns) of a learned device's first
	// message: it is expected only in windows that end after it.
	FirstEvent int64
	// Retired is the gateway time (Unix ns) the device retired, 0 while it is
	// on the roster.
	Retired int64
}

// Join returns the group and the membership of device id (site/name) first
// seen on site with event time ts; it fails with Resolve's reject when the
// device may not join.
func (r *Roster) Join(site, id string, ts int64) (group string, m Member, err error) {
	group, listed, err := r.Resolve(site, id)
	m.Listed = listed
	if !listed {
		m.FirstEvent = ts
	}
	return group, m, err
}

// ExpectedIn reports whether the device is expected in the window that ends
// at end (Unix ns): a listed device always, a learned one once its first
// event is before end, a retired one never (it left the roster).
func (m *Member) ExpectedIn(end int64) bool {
	return m.Retired == 0 && (m.Listed || m.FirstEvent < end)
}

// Retires reports whether a device retires at now (Unix ns): a learned
// device that was seen (lastSeen, Unix ns, 0 for never) and has been silent
// for longer than learn.retire_after. A listed device never retires.
func (r *Roster) Retires(m *Member, lastSeen, now int64) bool {
	return !m.Listed && m.Retired == 0 && lastSeen != 0 && now-lastSeen > int64(r.RetireAfter())
}

// State returns the device's state at now: retired once it retired,
// otherwise its liveness state.
func (m *Member) State(l *Liveness, cfg *Config, now int64) State {
	if m.Retired != 0 {
		return StateRetired
	}
	return l.State(cfg, now)
}

// Tombstones keeps retired devices, so that they are reported retired, up to
// a limit (learn.max_retired, split over the owners); past it the oldest
// retirement is forgotten, and Forgotten counts it. A tombstone leaves when
// its device comes back (Take). T is the owner's per-device state. It is
// owned by one goroutine and not safe for concurrent use.
type Tombstones[T any] struct {
	limit int
	order []string // ids, oldest retirement first
	byID  map[string]T
	// Forgotten counts the tombstones dropped because limit were kept.
	Forgotten uint64
}

// NewTombstones returns an empty set that keeps at most limit tombstones (at
// least one).
func NewTombstones[T any](limit int) *Tombstones[T] {
	return &Tombstones[T]{limit: max(1, limit), byID: map[string]T{}}
}

// Add keeps v as the tombstone of device id, forgetting the oldest one when
// the set is full.
func (t *Tombstones[T]) Add(id string, v T) {
	if _, ok := t.byID[id]; ok {
		t.drop(id)
	}
	if len(t.order) >= t.limit {
		delete(t.byID, t.order[0])
		t.order = slices.Delete(t.order, 0, 1)
		t.Forgotten++
	}
	t.order = append(t.order, id)
	t.byID[id] = v
}

// Take removes and returns the tombstone of id: its device came back.
func (t *Tombstones[T]) Take(id string) (T, bool) {
	v, ok := t.byID[id]
	if ok {
		t.drop(id)
	}
	return v, ok
}

func (t *Tombstones[T]) drop(id string) {
	delete(t.byID, id)
	if i := slices.Index(t.order, id); i >= 0 {
		t.order = slices.Delete(t.order, i, i+1)
	}
}

// Get returns the tombstone of id.
func (t *Tombstones[T]) Get(id string) (T, bool) {
	v, ok := t.byID[id]
	return v, ok
}

// Len returns how many tombstones are kept.
func (t *Tombstones[T]) Len() int { return len(t.order) }

// All yields the tombstones, oldest retirement first.
func (t *Tombstones[T]) All() iter.Seq2[string, T] {
	return func(yield func(string, T) bool) {
		for _, id := range t.order {
			if !yield(id, t.byID[id]) {
				return
			}
		}
	}
}
