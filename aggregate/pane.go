package aggregate

import (
	"math"

	"github.com/rollcall-iot/rollcall/staleness"
)

// A device's windows (devWindow) are panes of length window.step: with
// tumbling windows a pane is a window; with hopping windows a window is the
// union of the size/step panes from its start, merged when it is reported
// (span). A device holds at most (size + allowed_lateness)/step panes per
// group, each with one accumulator per metric.

// merge folds b's samples into a, as if they had been added to a.
func (a *accumulator) merge(b *accumulator) {
	switch {
	case b.n == 0:
		return
	case a.n == 0:
		step := a.step
		*a = *b
		a.step = max(step, b.step)
		return
	}
	a.n += b.n
	a.sum += b.sum
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
	if b.firstTS < a.firstTS {
		a.first, a.firstTS = b.first, b.firstTS
	}
	if b.lastTS >= a.lastTS {
		a.last, a.lastTS = b.last, b.lastTS
	}
	a.step = max(a.step, b.step)
}

// mergePane folds device d's pane p into w (counts, newest,
// accumulators). Panes come in ascending order, so a counter's
// accumulators join across the step between them (mergeCounter).
func (w *devWindow) mergePane(d *device, p *devWindow) {
	w.duplicates += p.duplicates
	w.replays += p.replays
	w.late += p.late
	w.newest = max(w.newest, p.newest)
	for len(w.accs) < len(p.accs) {
		w.accs = append(w.accs, accumulator{})
	}
	for i := range p.accs {
		if i < len(d.metrics) && d.metrics[i].spec.Reducer == staleness.ReduceIncrease {
			w.accs[i].mergeCounter(d.metrics[i].spec, &p.accs[i])
			continue
		}
		w.accs[i].merge(&p.accs[i])
	}
}

// span returns d's state in the window [start, end): its pane at start
// with tumbling windows, else its panes in the window merged into the
// shard's scratch window (valid until the next span). Nil when d has no
// pane in the window.
func (s *shard) span(d *device, start, end int64) *devWindow {
	if s.hop.Tumbling() {
		return d.findWindow(start)
	}
	w := &s.scratch
	*w = devWindow{start: start, accs: w.accs[:0]}
	found := false
	for i := range d.wins {
		if p := &d.wins[i]; start <= p.start && p.start < end {
			w.mergePane(d, p)
			found = true
		}
	}
	if !found {
		return nil
	}
	return w
}

// purge drops the panes that start before cutoff and returns the starts of
// those it keeps: the orphans, panes before the cutoff that no window in
// reported (this round's flushed windows, each of length size) covers.
// Their readings were accepted under an earlier, lower cutoff; they are kept
// until the coordinator adopted and reported their windows.
func (d *device) purge(cutoff int64, reported []int64, size int64) []int64 {
	if len(d.wins) == 0 || d.wins[0].start >= cutoff {
		return nil // panes are ascending: nothing to purge
	}
	var orphans []int64
	n := 0
	for i, w := range d.wins {
		switch {
		case w.start >= cutoff:
		case covered(w.start, reported, size):
			d.keepCounters(d.wins[i : i+1])
			continue
		default:
			orphans = append(orphans, w.start)
		}
		d.wins[n] = w
		n++
	}
	clear(d.wins[n:])
	d.wins = d.wins[:n]
	return orphans
}

// covered reports whether a window in starts (each of length size)
// contains the pane at p.
func covered(p int64, starts []int64, size int64) bool {
	for _, w := range starts {
		if w <= p && p < w+size {
			return true
		}
	}
	return false
}
