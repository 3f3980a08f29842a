package window

// Revisions numbers one window's emissions (of one group and metric): its
// first emission is revision 0, each later one the previous + 1, and the
// one at finalisation is final.
type Revisions struct {
	// Rev is the revision last emitted.
	Rev int
	// Emitted reports whether the window was emitted at all.
	Emitted bool
}

// Next decides a window's emission in a round, given whether it became
// provisional this round, became final this round, and whether its content
// changed since its last emission. It returns the revision to emit and
// whether to emit at all, and records the emission.
func (r *Revisions) Next(provisional, final, changed bool) (rev int, emit bool) {
	switch {
	case provisional || !r.Emitted:
		rev = 0
	case final, changed:
		rev = r.Rev + 1
	default:
		return r.Rev, false
	}
	r.Rev, r.Emitted = rev, true
	return rev, true
}
