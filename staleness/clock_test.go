package staleness

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clockRun feeds a device reporting every iv through a Clock: reading i is
// stamped at i·iv + skew(i) by the device's clock and received at
// i·iv + delay(i) (true time). It returns the corrected times minus the true
// times, and the kinds.
type clockRun struct {
	t     *testing.T
	cfg   Config
	c     Clock
	iv    time.Duration
	seq   uint64
	boot  uint64
	errs  []time.Duration
	kinds []CorrectionKind
}

func newClockRun(t *testing.T, cfg Config) *clockRun {
	return &clockRun{t: t, cfg: cfg.WithDefaults(), iv: 250 * time.Millisecond, boot: 1}
}

// send sends reading i (true time i·iv) with the device clock off by skew,
// received delay after it was taken.
func (r *clockRun) send(i int, skew, delay time.Duration) (time.Duration, CorrectionKind) {
	r.seq++
	truth := int64(time.Duration(i) * r.iv)
	ts, k := r.c.Correct(&r.cfg, Sample{
		Recv: truth + int64(delay), TS: truth + int64(skew), Seq: r.seq, Boot: r.boot, HasSeq: true, Interval: int64(r.iv),
		MaxAhead: int64(10 * time.Second),
	})
	r.errs = append(r.errs, time.Duration(ts-truth))
	r.kinds = append(r.kinds, k)
	return time.Duration(ts - truth), k
}

// honest sends readings 0 … n−1 from a correct clock with delays of 5–50 ms.
func (r *clockRun) honest(rng *rand.Rand, n int) {
	for i := range n {
		r.send(i, 0, delay(rng))
	}
}

// delay is a transport delay of 5–50 ms.
func delay(rng *rand.Rand) time.Duration {
	return 5*time.Millisecond + time.Duration(rng.Int64N(int64(45*time.Millisecond)))
}

func TestClockHonestDeviceIsNotCorrected(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	r := newClockRun(t, Config{})
	for i := range 400 {
		d := delay(rng)
		if i%37 == 0 {
			d += 3 * time.Second // a straggler, jitter
		}
		e, k := r.send(i, 0, d)
		require.Equal(t, CorrectionNone, k, "reading %d", i)
		require.Zero(t, e)
	}
	require.True(t, r.c.Stable)
	require.Less(t, r.c.Est, int64(50*time.Millisecond))
	require.Zero(t, r.c.Applied(&r.cfg))
	require.False(t, r.c.CorrectedIn(0, int64(time.Hour)))
}

func TestClockSkewedDeviceIsCorrectedToTrueTime(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{20 * time.Second, -20 * time.Second, 5 * time.Second, -8 * time.Second, time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(3, 4))
			r := newClockRun(t, Config{})
			for i := range 200 {
				e, k := r.send(i, skew, delay(rng))
				if i >= 2*ClockBlock {
					require.Equal(t, CorrectionOffset, k, "reading %d", i)
				}
				// Corrected (or receive-stamped): within the transport
				// delay of the true time, never at the device's stamp.
				if k != CorrectionNone {
					require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d: %v off", i, e)
				}
			}
			require.True(t, r.c.Stable)
			require.InDelta(t, -skew.Seconds(), time.Duration(r.c.Applied(&r.cfg)).Seconds(), 0.06)
			require.True(t, r.c.CorrectedIn(int64(10*time.Second), int64(12*time.Second)))
		})
	}
}

func TestClockAheadIsReceiveStampedFromTheFirstReading(t *testing.T) {
	t.Parallel()
	r := newClockRun(t, Config{})
	e, k := r.send(0, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, CorrectionReceive, k)
	require.Equal(t, 10*time.Millisecond, e, "the receive time: no typical delay known yet")
	// Within the dead band, an unmeasured clock's stamp stands.
	r = newClockRun(t, Config{})
	e, k = r.send(0, 900*time.Millisecond, 10*time.Millisecond)
	require.Equal(t, CorrectionNone, k)
	require.Equal(t, 900*time.Millisecond, e)
}

func TestClockSmallLagIsTransportDelay(t *testing.T) {
	t.Parallel()
	// A device whose readings arrive 3 s after their stamps: a clock 3 s
	// behind or a slow link, the same on the wire; below clock_min_lag the
	// stamps stand.
	r := newClockRun(t, Config{})
	for i := range 100 {
		_, k := r.send(i, 0, 3*time.Second)
		require.Equal(t, CorrectionNone, k)
	}
	require.True(t, r.c.Stable)
	require.Zero(t, r.c.Applied(&r.cfg))
}

func TestClockJump(t *testing.T) {
	t.Parallel()
	for _, jump := range []time.Duration{time.Hour, -90 * time.Second, 30 * time.Second} {
		t.Run(jump.String(), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(5, 6))
			r := newClockRun(t, Config{})
			for i := range 100 {
				r.send(i, 0, delay(rng))
			}
			require.True(t, r.c.Stable)
			delayBefore := r.c.Delay
			require.Positive(t, delayBefore)
			// The clock steps: no reading is stamped off by the jump, the
			// first ones take the receive time minus the typical delay.
			for i := 100; i < 300; i++ {
				e, k := r.send(i, jump, delay(rng))
				if i < 100+ClockConfirm-1 {
					require.Equal(t, CorrectionReceive, k, "reading %d", i)
				}
				require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d: %v off (%v)", i, e, k)
			}
			require.EqualValues(t, 1, r.c.Jumps)
			require.False(t, r.c.Jumping)
			require.InDelta(t, -jump.Seconds(), time.Duration(r.c.Applied(&r.cfg)).Seconds(), 0.06)
			// And steps back (NTP): re-converges to no correction.
			for i := 300; i < 500; i++ {
				e, _ := r.send(i, 0, delay(rng))
				require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d: %v off", i, e)
			}
			require.EqualValues(t, 2, r.c.Jumps)
			require.Zero(t, r.c.Applied(&r.cfg))
		})
	}
}

func TestClockBackfillIsNotCorrected(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	r := newClockRun(t, Config{})
	r.honest(rng, 100)
	// Partitioned for 30 s (readings 100–219 buffered), then flushed at
	// once at 130 s, then live again: the backlog keeps its stamps.
	flush := 130 * time.Second
	for i := 100; i < 220; i++ {
		taken := time.Duration(i) * r.iv
		e, k := r.send(i, 0, flush-taken+time.Duration(i-100)*time.Millisecond)
		require.Equal(t, CorrectionNone, k, "flushed reading %d", i)
		require.Zero(t, e)
	}
	for i := 520; i < 700; i++ {
		e, k := r.send(i, 0, delay(rng))
		require.Equal(t, CorrectionNone, k, "reading %d", i)
		require.Zero(t, e)
	}
	require.Zero(t, r.c.Jumps)
}

func TestClockDelayThatStartsIsNotAJump(t *testing.T) {
	t.Parallel()
	// A link that starts delaying every reading by 60 s: the first delayed
	// reading comes after a 60 s gap, so it is a backlog, not a jump; the
	// stable 60 s lag is then corrected (it is beyond clock_min_lag, and a
	// clock 60 s behind looks the same).
	rng := rand.New(rand.NewPCG(9, 10))
	r := newClockRun(t, Config{})
	r.honest(rng, 100)
	for i := 100; i < 300; i++ {
		_, k := r.send(i, 0, 60*time.Second)
		require.NotEqual(t, CorrectionReceive, k, "reading %d", i)
	}
	require.Zero(t, r.c.Jumps)
}

func TestClockRedeliveryTeachesNothing(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	var c Clock
	for i := range int64(20) {
		ts := i * int64(250*time.Millisecond)
		c.Correct(&cfg, Sample{Recv: ts + int64(time.Millisecond), TS: ts, Seq: uint64(i + 1), Boot: 1, HasSeq: true, Interval: int64(250 * time.Millisecond)})
	}
	before := c
	// A copy of reading 3 delivered 40 s later.
	ts, k := c.Correct(&cfg, Sample{Recv: int64(45 * time.Second), TS: int64(750 * time.Millisecond), Seq: 4, Boot: 1, HasSeq: true, Redelivered: true})
	require.Equal(t, CorrectionNone, k)
	require.Equal(t, int64(750*time.Millisecond), ts)
	require.Equal(t, before.LastRecv, c.LastRecv)
	require.Equal(t, before.Est, c.Est)
}

func TestClockCorrectionOff(t *testing.T) {
	t.Parallel()
	off := false
	r := newClockRun(t, Config{ClockCorrection: &off})
	for i := range 50 {
		e, k := r.send(i, 20*time.Second, time.Millisecond)
		require.Equal(t, CorrectionNone, k)
		require.Equal(t, 20*time.Second, e)
	}
}

func TestClockConfig(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	require.True(t, c.Correcting())
	require.Equal(t, DefaultClockDeadBand, c.ClockDeadBand)
	c.ClockMinLag = 500 * time.Millisecond
	c.ClockMaxCorrection = -1
	err := c.Validate()
	require.ErrorContains(t, err, "liveness.clock_min_lag")
	require.ErrorContains(t, err, "liveness.clock_max_correction")
	c = Config{ClockDeadBand: -1}.WithDefaults()
	require.ErrorContains(t, c.Validate(), "liveness.clock_dead_band")
}

func TestClockSlowDeliveriesAreNotAJump(t *testing.T) {
	t.Parallel()
	// An honest device measured while every delivery took 1.5–1.6 s (a
	// loaded machine), then delivered in milliseconds again: its offset
	// drops below the estimate, but its stamps are never ahead of their
	// arrival: no jump, no receive time, and the estimate comes down.
	rng := rand.New(rand.NewPCG(11, 12))
	r := newClockRun(t, Config{})
	for i := range 40 {
		r.send(i, 0, 1500*time.Millisecond+delay(rng)*2)
	}
	require.True(t, r.c.Stable)
	require.Greater(t, r.c.Est, int64(time.Second))
	for i := 40; i < 100; i++ {
		e, k := r.send(i, 0, delay(rng))
		require.Equal(t, CorrectionNone, k, "reading %d", i)
		require.Zero(t, e)
	}
	require.Zero(t, r.c.Jumps)
	require.Less(t, r.c.Est, int64(50*time.Millisecond))
}

func TestClockSlowClockStepsForward(t *testing.T) {
	t.Parallel()
	// A clock 20 s behind, corrected by +20 s, steps 10 s forward: its
	// corrected stamps would be 10 s ahead of their arrival; they take the
	// receive time until +10 s is confirmed.
	rng := rand.New(rand.NewPCG(13, 14))
	r := newClockRun(t, Config{})
	for i := range 50 {
		r.send(i, -20*time.Second, delay(rng))
	}
	require.InDelta(t, 20, time.Duration(r.c.Applied(&r.cfg)).Seconds(), 0.06)
	for i := 50; i < 100; i++ {
		e, k := r.send(i, -10*time.Second, delay(rng))
		if i < 50+ClockConfirm-1 {
			require.Equal(t, CorrectionReceive, k, "reading %d", i)
		}
		require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d: %v off (%v)", i, e, k)
	}
	require.EqualValues(t, 1, r.c.Jumps)
	require.InDelta(t, 10, time.Duration(r.c.Applied(&r.cfg)).Seconds(), 0.06)
}

func TestClockTypicalDelay(t *testing.T) {
	t.Parallel()
	// Every delivery takes 40–60 ms, the skewed device's and its honest
	// neighbours' alike: with their typical delay, its corrected times are
	// the true ones to within the spread, not 40 ms late.
	rng := rand.New(rand.NewPCG(15, 16))
	r := newClockRun(t, Config{})
	for i := range 200 {
		d := 40*time.Millisecond + time.Duration(rng.Int64N(int64(20*time.Millisecond)))
		r.seq++
		truth := int64(time.Duration(i) * r.iv)
		s := Sample{
			Recv: truth + int64(d), TS: truth + int64(20*time.Second), Seq: r.seq, Boot: 1, HasSeq: true,
			Interval: int64(r.iv), MaxAhead: int64(10 * time.Second), TypicalDelay: int64(40 * time.Millisecond),
		}
		require.True(t, r.c.Needs(&r.cfg, &s), "its stamps are ahead, or corrected")
		ts, k := r.c.Correct(&r.cfg, s)
		require.NotEqual(t, CorrectionNone, k)
		if i >= 2*ClockBlock {
			require.InDelta(t, 0, time.Duration(ts-truth).Seconds(), 0.021, "reading %d", i)
		}
	}
	_, ok := r.c.QuickDelay(&r.cfg)
	require.False(t, ok, "a corrected clock is no measure of delivery")
}

func TestClockQuickDelay(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	var c Clock
	_, ok := c.QuickDelay(&cfg)
	require.False(t, ok, "nothing seen")
	iv := int64(250 * time.Millisecond)
	for i := range int64(3) {
		c.Correct(&cfg, Sample{Recv: i*iv + int64(7*time.Millisecond) - i*int64(time.Millisecond), TS: i * iv, Seq: uint64(i + 1), Boot: 1, HasSeq: true, Interval: iv})
	}
	q, ok := c.QuickDelay(&cfg)
	require.True(t, ok, "before it is measured: its quickest delivery so far")
	require.Equal(t, int64(5*time.Millisecond), q)
	for i := int64(3); i < 40; i++ {
		c.Correct(&cfg, Sample{Recv: i*iv + int64(5*time.Millisecond), TS: i * iv, Seq: uint64(i + 1), Boot: 1, HasSeq: true, Interval: iv})
	}
	q, ok = c.QuickDelay(&cfg)
	require.True(t, ok)
	require.Equal(t, int64(5*time.Millisecond), q)
	// A clock 3 s behind (a slow link, uncorrected) is no measure either.
	var slow Clock
	slow.Correct(&cfg, Sample{Recv: int64(3 * time.Second), TS: 0, Seq: 1, Boot: 1, HasSeq: true, Interval: iv})
	_, ok = slow.QuickDelay(&cfg)
	require.False(t, ok)
}

func TestClockStalledDeliveriesDoNotMoveTheEstimate(t *testing.T) {
	t.Parallel()
	// A clock 5 s ahead, corrected; then for 5 s (20 readings, more than
	// two blocks) every delivery takes 1.5 s: its corrected times stay the
	// true ones, neither moved 1.5 s late nor taken for a jump.
	rng := rand.New(rand.NewPCG(17, 18))
	r := newClockRun(t, Config{})
	for i := range 60 {
		r.send(i, 5*time.Second, delay(rng))
	}
	est := r.c.Est
	for i := 60; i < 80; i++ {
		e, k := r.send(i, 5*time.Second, 1500*time.Millisecond+delay(rng))
		require.Equal(t, CorrectionOffset, k, "reading %d", i)
		require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d", i)
	}
	for i := 80; i < 120; i++ {
		e, _ := r.send(i, 5*time.Second, delay(rng))
		require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d", i)
	}
	require.Equal(t, est, r.c.Est)
	require.Zero(t, r.c.Jumps)
}

func TestClockRebootWithoutRealTimeClock(t *testing.T) {
	t.Parallel()
	// The device reboots after 10 s down and its clock starts an hour
	// behind: boot 2, seq 1. However long it was down, the new boot's lag
	// is a jump: its readings take the receive time, then are corrected.
	rng := rand.New(rand.NewPCG(19, 20))
	r := newClockRun(t, Config{})
	r.honest(rng, 100)
	r.boot, r.seq = 2, 0
	for i := 140; i < 200; i++ {
		e, k := r.send(i, -time.Hour, delay(rng))
		require.NotEqual(t, CorrectionNone, k, "reading %d", i)
		require.InDelta(t, 0, e.Seconds(), 0.06, "reading %d: %v off", i, e)
	}
	require.EqualValues(t, 1, r.c.Jumps)
	require.InDelta(t, 3600, time.Duration(r.c.Applied(&r.cfg)).Seconds(), 0.06)
}

func TestClockStepBackAfterAGapIsLearnedSlowly(t *testing.T) {
	t.Parallel()
	// A clock 20 s ahead, corrected; the device goes quiet for 10 s and
	// comes back with its clock right (a step back, but after a gap, so
	// not a jump). Its stamps are taken 20 s early until ClockRaise blocks
	// agree on the new offset; then they stand.
	rng := rand.New(rand.NewPCG(21, 22))
	r := newClockRun(t, Config{})
	for i := range 60 {
		r.send(i, 20*time.Second, delay(rng))
	}
	n := 0
	for i := 100; i < 200; i++ {
		e, k := r.send(i, 0, delay(rng))
		if k == CorrectionNone {
			require.Zero(t, e)
			continue
		}
		require.InDelta(t, -20, e.Seconds(), 0.06, "reading %d", i)
		n++
	}
	require.LessOrEqual(t, n, (ClockRaise+1)*ClockBlock, "a block under way, then ClockRaise agreeing ones")
	require.Zero(t, r.c.Applied(&r.cfg))
}

// TestClockLagBeyondMaxCorrectionIsNotCorrected: an hour behind is a slow
// clock and corrected; two days behind is beyond clock_max_correction
// (24 h): the stamps stand, as old as they claim (a backlog, most likely).
func TestClockLagBeyondMaxCorrectionIsNotCorrected(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 8))
	hour := newClockRun(t, Config{})
	days := newClockRun(t, Config{})
	for i := range 60 {
		hour.send(i, -time.Hour, delay(rng))
		days.send(i, -48*time.Hour, delay(rng))
	}
	require.NotZero(t, hour.c.Applied(&hour.cfg), "an hour behind is corrected")
	require.InDelta(t, 0, hour.errs[59].Seconds(), 0.1, "to true time")
	require.Zero(t, days.c.Applied(&days.cfg), "two days behind is not")
	require.Equal(t, CorrectionNone, days.kinds[59])
	require.Equal(t, -48*time.Hour, days.errs[59], "the stamp stands")
}
