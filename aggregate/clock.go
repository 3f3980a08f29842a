package aggregate

import (
	"math"
	"time"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
)

// FlagClockCorrected prefixes the flag of a device whose event times were
// corrected (liveness.clock_correction: a measured clock offset, or the
// receive time after a clock jump) in the aggregate's window.
const FlagClockCorrected = "clock_corrected:"

// FlagClockUncertain prefixes the flag of a device whose readings in the
// aggregate's window were placed by their receive time (a clock not yet
// measured, or one that just jumped): true only to within a delivery, so
// the window's edges are uncertain, its bounds wider and its quality not
// good.
const FlagClockUncertain = "clock_uncertain:"

// correctClock corrects r's event time by d's clock (staleness.Clock). With
// correction on, the future_ts rule applies to the corrected time: the
// decoder lets stamps through up to liveness.clock_max_correction beyond
// limits.max_future_skew (decoderLimits), and the clock never returns one
// further ahead of its receive time than max_future_skew.
func (s *shard) correctClock(d *device, r *ingest.Reading) {
	if r.TSMissing || !s.cfg.Liveness.Correcting() {
		return
	}
	cfg := &s.cfg.Liveness
	smp := staleness.Sample{
		Recv: r.Received, TS: r.TS, Seq: r.Seq, Boot: r.Boot, HasSeq: r.HasSeq,
		Redelivered: r.Redelivered, Interval: d.live.Interval, MaxAhead: int64(s.cfg.Limits.MaxFutureSkew),
	}
	if d.clock.Needs(cfg, &smp) {
		smp.TypicalDelay = typicalDelay(d, cfg)
	}
	r.TS, _ = d.clock.Correct(cfg, smp)
}

// typicalDelay is the quickest delivery of the honest devices of d's group
// in this shard (staleness.Clock.QuickDelay), 0 when there is none. Only a
// reading whose clock may be corrected asks, so the scan is paid per
// corrected reading.
func typicalDelay(d *device, cfg *staleness.Config) int64 {
	var best int64
	for _, o := range d.g.devices {
		if q, ok := o.clock.QuickDelay(cfg); o != d && ok && (best == 0 || q < best) {
			best = q
		}
	}
	return best
}

// decoderLimits are the limits the shards' decoders check: with clock
// correction on, stamps up to liveness.clock_max_correction beyond
// max_future_skew pass decoding, to be corrected (correctClock).
func decoderLimits(cfg *Config) ingest.Limits {
	l := cfg.Limits.Limits
	if cfg.Liveness.Correcting() {
		l.MaxFutureSkew = time.Duration(min(int64(l.MaxFutureSkew)+int64(cfg.Liveness.ClockMaxCorrection), math.MaxInt64/2))
	}
	return l
}
