package window

import (
	"math"
	"sync/atomic"
)

// Decision is what a group's window lifecycle says about one reading.
type Decision uint8

// The decisions, one per reading (Gate.Decide).
const (
	// Accept: the reading's windows have not been emitted yet; it counts in
	// their first emission.
	Accept Decision = iota
	// Revise: a window of the reading was emitted provisional and is not
	// final; the reading revises it (a new revision is emitted).
	Revise
	// TooLate: every window of the reading is final (or before the group's
	// lateness horizon); the reading is dropped and counted too_late.
	TooLate
)

// Unset is the cutoff of a Gate nobody has published to: every window is
// accepted until Init or Publish.
const Unset = math.MinInt64

// Gate is the lock-free view of one group's lifecycle that the workers
// consult for every reading: the cutoff (the oldest window still accepting
// readings) and the first window not yet emitted. The coordinator publishes
// both after each round; workers only read them (and Init a new group's
// cutoff once). Safe for concurrent use.
type Gate struct {
	h       Hopping
	cfg     Config
	cutoff  atomic.Int64
	emitted atomic.Int64
}

// NewGate returns the gate of a new group windowed by cfg, accepting
// everything until Init or Publish.
func NewGate(cfg Config) *Gate {
	g := &Gate{h: NewHopping(cfg), cfg: cfg}
	g.cutoff.Store(Unset)
	g.emitted.Store(Unset)
	return g
}

// Init sets the cutoff of a group nobody has published to yet to the
// lateness horizon at now (the receive time of its first reading): a group
// born with a broker's backlog accepts what its first window can still
// hold, and older readings are too late, not silently lost.
func (g *Gate) Init(now int64) {
	if g.cutoff.Load() == Unset {
		g.cutoff.CompareAndSwap(Unset, g.cfg.Horizon(now))
	}
}

// Publish sets the cutoff and the first window not yet emitted
// (Lifecycle.CutoffAt and Lifecycle.Next after a round).
func (g *Gate) Publish(cutoff, emitted int64) {
	g.cutoff.Store(cutoff)
	g.emitted.Store(emitted)
}

// Cutoff returns the published cutoff.
func (g *Gate) Cutoff() int64 { return g.cutoff.Load() }

// Emitted returns the published first window not yet emitted.
func (g *Gate) Emitted() int64 { return g.emitted.Load() }

// Decide returns the decision for a reading whose pane (Hopping.Pane)
// starts at pane: too late when its newest window is before the cutoff, a
// revision when one of its windows at or after the cutoff was emitted, and
// accepted otherwise.
func (g *Gate) Decide(pane int64) Decision {
	c := g.cutoff.Load()
	if pane < c {
		return TooLate
	}
	if max(pane-g.h.size+g.h.step, c) < g.emitted.Load() {
		return Revise
	}
	return Accept
}
