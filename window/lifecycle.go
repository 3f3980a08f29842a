package window

// Lifecycle tracks which windows of one group have been emitted provisional
// and which are final. It is not safe for concurrent use; the aggregate
// stage's coordinator owns one per group.
type Lifecycle struct {
	t          Tumbling
	lateness   int64
	maxCatchUp int

	started   bool
	next      int64   // start of the first window not yet emitted
	open      []int64 // starts of provisional, not yet final windows, ascending
	watermark int64

	// Skipped counts windows never emitted because the watermark jumped more
	// than MaxCatchUp windows ahead.
	Skipped uint64
}

// NewLifecycle returns the lifecycle of a group whose first window starts at
// or before first (Unix ns).
func NewLifecycle(cfg Config, first int64) *Lifecycle {
	t := NewTumbling(cfg.Size)
	return &Lifecycle{
		t:          t,
		lateness:   int64(cfg.AllowedLateness),
		maxCatchUp: cfg.MaxCatchUp,
		next:       t.Start(first),
	}
}

// Watermark returns the group's watermark (Unix ns); it never goes back.
func (l *Lifecycle) Watermark() int64 { return l.watermark }

// Rewind moves the first window back to the one containing ts, as long as
// nothing has been emitted yet and ts is not before floor. It lets data that
// was queued in the broker before the gateway started count.
func (l *Lifecycle) Rewind(ts, floor int64) {
	if l.started {
		return
	}
	ts = max(ts, floor)
	if s := l.t.Start(ts); s < l.next {
		l.next = s
	}
}

// Started reports whether the group has emitted a window.
func (l *Lifecycle) Started() bool { return l.started }

// Cutoff returns the start of the oldest window that still accepts readings.
// A reading whose window starts before it is too late.
func (l *Lifecycle) Cutoff() int64 {
	if len(l.open) > 0 {
		return l.open[0]
	}
	return l.next
}

// Open returns the provisional, not yet final windows, oldest first. The
// slice is owned by l and valid until the next Advance.
func (l *Lifecycle) Open() []int64 { return l.open }

// Advance raises the watermark to wm (it never goes back) and returns the
// windows that became provisional and those that became final, oldest first.
// A window emitted provisional in this call may be final in the same call
// (when the watermark jumped past its lateness).
func (l *Lifecycle) Advance(wm int64) (provisional, final []int64) {
	if wm > l.watermark {
		l.watermark = wm
	}
	size := l.t.size
	if n := (l.watermark - l.next) / size; n > int64(l.maxCatchUp) {
		skip := n - int64(l.maxCatchUp)
		l.next += skip * size
		l.Skipped += uint64(skip)
	}
	for l.next+size <= l.watermark {
		provisional = append(provisional, l.next)
		l.open = append(l.open, l.next)
		l.next += size
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
	Watermark int64
	Skipped   uint64
}

// Snapshot returns l's state.
func (l *Lifecycle) Snapshot() LifecycleSnapshot {
	return LifecycleSnapshot{Started: l.started, Next: l.next, Open: append([]int64(nil), l.open...), Watermark: l.watermark, Skipped: l.Skipped}
}

// Restore sets l to a snapshot taken with the same Config.
func (l *Lifecycle) Restore(s LifecycleSnapshot) {
	l.started, l.next, l.open, l.watermark, l.Skipped = s.Started, s.Next, append([]int64(nil), s.Open...), s.Watermark, s.Skipped
}
