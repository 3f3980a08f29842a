package staleness

import "time"

// Clock correction defaults (Config.ClockCorrection and its bands).
const (
	// DefaultClockDeadBand: a device whose clock is measured ahead of the
	// gateway's by no more than this is not corrected (its stamps are within
	// what window.allowed_skew absorbs).
	DefaultClockDeadBand = time.Second
	// DefaultClockMinLag: a device whose event times lag their receive
	// times by a stable amount is corrected only beyond this; below it the
	// lag is taken as transport delay (which looks exactly the same on the
	// wire) and the stamps stand.
	DefaultClockMinLag = 5 * time.Second
	// DefaultClockMaxCorrection bounds how far ahead of its receive time a
	// stamp may be and still be corrected rather than rejected future_ts
	// at decoding.
	DefaultClockMaxCorrection = 24 * time.Hour
	// ClockBlock is how many samples make one block of the estimator: an
	// offset is stable when the minima of two consecutive blocks agree.
	ClockBlock = 8
	// ClockConfirm is how many consecutive readings must agree on a new
	// offset after a clock jump before it is taken as the device's offset.
	ClockConfirm = 8
	// ClockRaise is how many consecutive blocks must agree on an offset
	// above a stable estimate before it moves up: slower deliveries (a
	// stalled network) raise every offset for a while, and only a clock
	// that stepped back (not in rhythm, or by less than a jump) raises
	// them for good.
	ClockRaise = 6
)

// CorrectionKind says how Clock.Correct obtained a reading's event time.
type CorrectionKind uint8

// Correction kinds.
const (
	// CorrectionNone: the device's stamp stands.
	CorrectionNone CorrectionKind = iota
	// CorrectionOffset: the stamp plus the device's stable measured offset.
	CorrectionOffset
	// CorrectionReceive: the receive time minus the device's typical delay
	// (from the second reading of an episode on: its stamp plus the
	// smallest offset of the episode so far, which is never later),
	// because its clock is not to be trusted right now (it jumped, or its
	// stamp is ahead of its receive time and no stable offset explains it).
	CorrectionReceive
)

// Clock estimates one device's clock offset from its readings and corrects
// their event times (DESIGN.md § Time, "Clocks lie"; the rule is in doc.go).
// Offsets are receive time minus event time: network delay only adds to
// them, so the minimum over a block of readings is the clock's offset plus
// the quickest delivery. Its zero value knows nothing. It is owned by the
// device's shard and not safe for concurrent use.
type Clock struct {
	// Est is the stable offset estimate (ns), valid when Stable.
	Est int64
	// Stable is set once two consecutive block minima agreed.
	Stable bool
	// Delay is the quickest delivery measured while the device's offset
	// was within the dead band: the delay receive-time stamping subtracts.
	Delay int64
	// LastOffset is the newest reading's raw offset (ns); LastRecv its
	// receive time, 0 before the first reading.
	LastOffset, LastRecv int64
	// Jumps counts the clock jumps detected.
	Jumps uint32
	// Jumping is set from a detected jump until the new offset is
	// confirmed; Cand is the candidate offset, CandN its agreeing readings.
	Jumping bool
	CandN   uint16
	Cand    int64
	// From and To bracket the corrected event times of the device (ns;
	// From 0 when none): the windows they touch carry the flag.
	From, To int64
	// RecvFrom and RecvTo bracket the event times that took the receive
	// time (CorrectionReceive; RecvFrom 0 when none): placed only to
	// within the spread of deliveries, a sample near a window's edge may
	// belong to the neighbour.
	RecvFrom, RecvTo int64

	blockMin, prevMin int64
	upMin             int64 // the smallest of the blocks above the estimate (upN of them)
	blockN, upN       uint8
	hasPrev           bool
	lastSeq, lastBoot uint64
}

// Sample is one reading as the clock sees it.
type Sample struct {
	// Recv and TS are the receive and (device) event times, Unix ns.
	Recv, TS int64
	// Seq and Boot number the reading when HasSeq.
	Seq, Boot uint64
	HasSeq    bool
	// Redelivered is the broker's DUP flag: a copy, whose receive time says
	// nothing about the device's clock.
	Redelivered bool
	// Interval is the device's learned reporting interval (ns).
	Interval int64
	// MaxAhead is how far ahead of its receive time a corrected stamp may
	// be (ns; limits.max_future_skew); further ahead it takes the receive
	// time.
	MaxAhead int64
	// TypicalDelay is the quickest delivery of honest devices near this
	// one (ns; its group's), subtracted from corrected times; 0: unknown,
	// the device's own Delay is used.
	TypicalDelay int64
}

// Needs reports whether a correction of s may apply, so that a caller
// computes Sample.TypicalDelay only then: the clock is corrected or
// untrusted, or s's stamp is ahead of its receive time.
func (c *Clock) Needs(cfg *Config, s *Sample) bool {
	return c.Jumping || c.Applied(cfg) != 0 || s.TS-s.Recv > int64(cfg.ClockDeadBand)
}

// QuickDelay returns the device's quickest delivery when its clock needs no
// correction (within the dead band): measured (Delay), or, before it is,
// the smallest offset of its blocks so far when that lies in (0, dead
// band]. It is a typical delay for the devices near it (Sample.TypicalDelay).
func (c *Clock) QuickDelay(cfg *Config) (int64, bool) {
	switch {
	case c.Jumping:
		return 0, false
	case c.Stable:
		return c.Delay, c.Delay > 0 && c.Applied(cfg) == 0
	}
	q := int64(-1)
	if c.blockN > 0 {
		q = c.blockMin
	}
	if c.hasPrev && (q < 0 || c.prevMin < q) {
		q = c.prevMin
	}
	return q, q > 0 && q <= int64(cfg.ClockDeadBand)
}

// Correct observes s and returns the event time to use and how it was
// obtained: never more than max(s.MaxAhead, the dead band) ahead of s.Recv.
// With correction disabled it returns s.TS.
func (c *Clock) Correct(cfg *Config, s Sample) (int64, CorrectionKind) {
	if !cfg.Correcting() {
		return s.TS, CorrectionNone
	}
	off := s.Recv - s.TS
	next := c.LastRecv == 0 || (s.HasSeq && s.Boot == c.lastBoot && s.Seq == c.lastSeq+1) || (!s.HasSeq && s.TS > c.LastRecv-c.LastOffset)
	live := c.LastRecv != 0 && s.Recv-c.LastRecv <= liveGap(s.Interval)
	// A new boot is where a clock without a real-time clock starts over:
	// its first reading lagging far behind is a jump, however long the
	// device was down.
	reboot := c.LastRecv != 0 && s.HasSeq && s.Boot > c.lastBoot
	prevOff := c.LastOffset
	if !s.Redelivered {
		c.LastOffset, c.LastRecv = off, s.Recv
		if s.HasSeq {
			c.lastSeq, c.lastBoot = s.Seq, s.Boot
		}
	}
	kind := c.observe(cfg, off, prevOff, (next && live || reboot) && !s.Redelivered, s.Redelivered)
	delay := c.Delay
	if s.TypicalDelay > 0 {
		delay = s.TypicalDelay
	}
	ts := s.TS
	switch {
	case kind == CorrectionOffset:
		// The offset includes the device's quickest delivery; the typical
		// one takes it back to the time the reading was taken.
		ts = s.TS + c.Applied(cfg) - delay
	case kind == CorrectionReceive && c.Jumping:
		// The new offset as measured so far: the receive time for the
		// first reading, then each stamp plus the quickest delivery yet.
		ts = min(s.TS+c.Cand, s.Recv) - delay
	}
	if ts-s.Recv > max(s.MaxAhead, int64(cfg.ClockDeadBand)) {
		// Never a stamp further ahead than the future_ts rule allows.
		ts, kind = s.Recv-delay, CorrectionReceive
	}
	if kind != CorrectionNone {
		if c.From == 0 || ts < c.From {
			c.From = ts
		}
		c.To = max(c.To, ts)
	}
	if kind == CorrectionReceive {
		if c.RecvFrom == 0 || ts < c.RecvFrom {
			c.RecvFrom = ts
		}
		c.RecvTo = max(c.RecvTo, ts)
	}
	return ts, kind
}

// observe updates the estimate with offset off (prev: the device's previous
// reading's) and says how to correct the reading. inRhythm is a live,
// next-in-sequence reading: the only kind whose sudden lag is a jump
// rather than a backlog or a straggler. A copy (dup) teaches nothing.
func (c *Clock) observe(cfg *Config, off, prev int64, inRhythm, dup bool) CorrectionKind {
	dead, lag := int64(cfg.ClockDeadBand), int64(cfg.ClockMinLag)
	if c.Jumping {
		return c.confirm(cfg, off)
	}
	ref, known := c.Est, c.Stable
	switch {
	case dup:
	case off < c.Applied(cfg)-dead:
		// Even corrected, the stamp is ahead of its receive time by more
		// than the dead band, which no delivery allows: the clock stepped
		// forward (or, not yet measured, runs ahead). Its stamp must not
		// move the watermark. (Below an estimate inflated by slow
		// deliveries is not ahead: the blocks bring the estimate down.)
		c.startJump(off)
		return CorrectionReceive
	case known && inRhythm && off > ref+lag && prev <= ref+lag:
		// A live reading, next in sequence, suddenly far older than its
		// predecessor: the clock stepped back (a backlog comes after a
		// gap in arrivals, a replay repeats an old seq).
		c.startJump(off)
		return CorrectionReceive
	default:
		c.addSample(cfg, off)
	}
	if c.Applied(cfg) != 0 {
		return CorrectionOffset
	}
	return CorrectionNone
}

// startJump begins re-estimating from offset off.
func (c *Clock) startJump(off int64) {
	c.Jumping, c.Cand, c.CandN = true, off, 1
	c.blockN, c.hasPrev = 0, false
}

// confirm takes a reading's offset while a jump is unconfirmed: agreeing
// readings (within the dead band of the candidate, or later by a delay
// below the minimum lag) confirm it after ClockConfirm; one back at the old
// estimate ends the episode (a glitch, not a jump).
func (c *Clock) confirm(cfg *Config, off int64) CorrectionKind {
	dead, lag := int64(cfg.ClockDeadBand), int64(cfg.ClockMinLag)
	switch {
	case c.Stable && off >= c.Est-dead && off <= c.Est+dead && !(c.Cand >= c.Est-dead && c.Cand <= c.Est+dead):
		c.Jumping, c.CandN = false, 0
		return c.observe(cfg, off, off, false, false)
	case off >= c.Cand-dead && off <= c.Cand+lag:
		c.Cand = min(c.Cand, off)
		c.CandN++
	default:
		c.Cand, c.CandN = off, 1
	}
	if c.CandN >= ClockConfirm {
		c.Jumping, c.CandN = false, 0
		if c.Stable {
			c.Jumps++
		}
		c.Est, c.Stable = c.Cand, true
		c.blockN, c.hasPrev = 0, false
		if c.Applied(cfg) != 0 {
			return CorrectionOffset
		}
		return CorrectionNone
	}
	return CorrectionReceive
}

// addSample adds offset off to the block estimator.
func (c *Clock) addSample(cfg *Config, off int64) {
	if c.Stable && off < c.Est && off >= c.Est-int64(cfg.ClockDeadBand)/2 {
		c.Est = off // a quicker delivery than any yet
	}
	if c.blockN == 0 || off < c.blockMin {
		c.blockMin = off
	}
	c.blockN++
	if c.blockN < ClockBlock {
		return
	}
	bm, tol := c.blockMin, int64(cfg.ClockDeadBand)/2
	c.blockN = 0
	agree := c.hasPrev && abs64(bm-c.prevMin) <= tol
	if !c.Stable || bm <= c.Est+tol || !agree {
		c.upN = 0
	}
	switch {
	case c.Stable && abs64(bm-c.Est) <= tol:
		// The quickest delivery yet: corrected times are true times plus
		// it, however slow some blocks' deliveries were.
		c.Est = min(c.Est, bm)
	case c.Stable && bm > c.Est && agree:
		// Above the estimate: slower deliveries for a while, or a clock
		// that stepped back by less than a jump; only ClockRaise agreeing
		// blocks in a row move it up.
		if c.upN == 0 {
			c.upMin = min(bm, c.prevMin)
		}
		c.upN++
		c.upMin = min(c.upMin, bm)
		if int(c.upN)+1 >= ClockRaise {
			c.Est, c.upN = c.upMin, 0
		}
	case agree:
		// Two blocks agree on a new value: learned, or lower (a clock
		// that stepped forward by less than the dead band, or drifts).
		c.Est, c.Stable = min(bm, c.prevMin), true
	}
	c.prevMin, c.hasPrev = bm, true
	if c.Stable && c.Est >= 0 && c.Est <= int64(cfg.ClockDeadBand) {
		c.Delay = c.Est
	}
}

// Applied returns the offset added to the device's stamps now (ns): the
// stable estimate when it is ahead by more than the dead band or behind by
// more than the minimum lag, and by no more than clock_max_correction
// either way; else 0.
func (c *Clock) Applied(cfg *Config) int64 {
	if !c.Stable || c.Jumping || !cfg.Correcting() {
		return 0
	}
	if abs64(c.Est) > int64(cfg.ClockMaxCorrection) {
		// A stamp a year old, in rhythm, is more likely a backlog than a
		// clock: beyond clock_max_correction the stamps stand (too_late,
		// or future_ts), as they do without correction.
		return 0
	}
	if c.Est < -int64(cfg.ClockDeadBand) || c.Est > int64(cfg.ClockMinLag) {
		return c.Est
	}
	return 0
}

// CorrectedIn reports whether corrected event times of the device may lie
// in [start, end): the span of its corrected readings overlaps it.
func (c *Clock) CorrectedIn(start, end int64) bool {
	return c.From != 0 && c.From < end && c.To >= start
}

// ReceiveStampedIn reports whether readings of the device placed by their
// receive time may lie in [start, end).
func (c *Clock) ReceiveStampedIn(start, end int64) bool {
	return c.RecvFrom != 0 && c.RecvFrom < end && c.RecvTo >= start
}

// liveGap is how soon after its previous reading a reading must arrive to
// count as reporting live, in rhythm: four intervals, at least 2 s.
func liveGap(interval int64) int64 { return max(4*interval, int64(2*time.Second)) }

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
