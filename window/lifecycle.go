package window

import "slices"

// Lifecycle tracks which windows of one group have been emitted provisional
// and which are final. It is not safe for concurrent use; the aggregate
// stage's coordinator owns one per group.
type Lifecycle struct {
	cfg        Config
	h          Hopping
	lateness   int64
	maxCatchUp int

	started   bool
	next      int64   // start of the first window not yet emitted
	open      []int64 // starts of provisional, not yet final windows, ascending
	adopted   []int64 // windows before next to emit at the next Advance (Adopt)
	watermark int64

	// Skipped counts windows never emitted because the watermark jumped more
	// than MaxCatchUp windows ahead.
	Skipped uint64
}

// NewLifecycle returns the lifecycle of a group whose first window is the
// oldest one containing first (Unix ns).
func NewLifecycle(cfg Config, first int64) *Lifecycle {
	h := NewHopping(cfg)
	return &Lifecycle{
		cfg:        cfg,
		h:          h,
		lateness:   int64(cfg.AllowedLateness),
		maxCatchUp: cfg.MaxCatchUp,
		next:       h.First(first),
	}
}

// Watermark returns the group's watermark (Unix ns); it never goes back.
func (l *Lifecycle) Watermark() int64 { return l.watermark }

// Rewind moves the first window back to the oldest one containing ts, as
// long as nothing has been emitted yet and ts is not before floor. It lets
// data that was queued in the broker before the gateway started count.
func (l *Lifecycle) Rewind(ts, floor int64) {
	if l.started {
		return
	}
	ts = max(ts, floor)
	if s := l.h.First(ts); s < l.next {
		l.next = s
	}
}

// Started reports whether the group has emitted a window.
func (l *Lifecycle) Started() bool { return l.started }

// Cutoff returns the start of the oldest window that still accepts readings.
// A reading whose newest window starts before it is too late.
func (l *Lifecycle) Cutoff() int64 {
	if len(l.open) > 0 {
		return l.open[0]
	}
	return l.next
}

// CutoffAt returns the cutoff the group's readings are judged by after a
// round at now (Gate.Publish): Cutoff once the group has emitted a window;
// before that, anything within the lateness horizon is accepted (a broker's
// backlog at start), and the first window moves back to the oldest reading
// (Rewind).
func (l *Lifecycle) CutoffAt(now int64) int64 {
	if l.started {
		return l.Cutoff()
	}
	return min(l.Cutoff(), l.cfg.Horizon(now))
}

// Open returns the provisional, not yet final windows, oldest first. The
// slice is owned by l and valid until the next Advance.
func (l *Lifecycle) Open() []int64 { return l.open }

// Adopt schedules the window at start for emission at the next Advance when
// it lies before the windows the lifecycle emits on its own: a window that
// holds readings accepted under an earlier, lower cutoff (a reading counted
// accepted must reach an aggregate). Windows at or after Next, and open
// ones, need nothing.
func (l *Lifecycle) Adopt(start int64) {
	switch {
	case !l.started:
		l.next = min(l.next, start)
	case start >= l.next, slices.Contains(l.open, start), slices.Contains(l.adopted, start):
	default:
		l.adopted = append(l.adopted, start)
	}
}

// Advance raises the watermark to wm (it never goes back) and returns the
// windows that became provisional and those that became final, oldest first.
// A window emitted provisional in this call may be final in the same call
// (when the watermark jumped past its lateness).
func (l *Lifecycle) Advance(wm int64) (provisional, final []int64) {
	if wm > l.watermark {
		l.watermark = wm
	}
	size, step := l.h.size, l.h.step
	if l.watermark >= l.next+size {
		if due := (l.watermark-l.next-size)/step + 1; due > int64(l.maxCatchUp) {
			skip := due - int64(l.maxCatchUp)
			l.next += skip * step
			l.Skipped += uint64(skip)
		}
	}
	if len(l.adopted) > 0 {
		slices.Sort(l.adopted)
		provisional = append(provisional, l.adopted...)
		l.open = append(l.open, l.adopted...)
		slices.Sort(l.open)
		l.adopted = l.adopted[:0]
	}
	for l.next+size <= l.watermark {
		provisional = append(provisional, l.next)
		l.open = append(l.open, l.next)
		l.next += step
		l.started = true
	}
	i := 0
	for i < len(l.open) && l.open[i]+size+l.lateness <= l.watermark {
		i++
	}
	if i > 0 {
		final = append(final, l.open[:i]...)
		l.open = append(l.open[:0], l.open[i:]...)
	}
	return provisional, final
}

// Next returns the start of the first window not yet emitted provisional:
// readings for earlier windows (at or after Cutoff) are revisions.
func (l *Lifecycle) Next() int64 { return l.next }

// LifecycleSnapshot is the serialisable form of a Lifecycle.
type LifecycleSnapshot struct {
	Started   bool
	Next      int64
	Open      []int64
	Adopted   []int64
	Watermark int64
	Skipped   uint64
}

// Snapshot returns l's state.
func (l *Lifecycle) Snapshot() LifecycleSnapshot {
	return LifecycleSnapshot{
		Started: l.started, Next: l.next, Open: slices.Clone(l.open), Adopted: slices.Clone(l.adopted),
		Watermark: l.watermark, Skipped: l.Skipped,
	}
}

// Restore sets l to a snapshot taken with the same Config.
func (l *Lifecycle) Restore(s LifecycleSnapshot) {
	l.started, l.next, l.watermark, l.Skipped = s.Started, s.Next, s.Watermark, s.Skipped
	l.open, l.adopted = slices.Clone(s.Open), slices.Clone(s.Adopted)
}
