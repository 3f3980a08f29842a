package dedup

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for ReplayConfig.
const (
	// DefaultReplayThreshold is the number of replays within ReplayWindow
	// that flags a device replaying. Two: a device re-sending one reading
	// every few seconds has its first re-send counted a duplicate (it is
	// still recent), so it is flagged at its third repetition.
	DefaultReplayThreshold = 2
	// DefaultReplayWindow is the sliding window the replays are counted in.
	DefaultReplayWindow = time.Minute
	// DefaultReplayQuiet is how long a flagged device must send no replay
	// to be unflagged.
	DefaultReplayQuiet = 30 * time.Second
	// MaxReplayThreshold bounds the per-device memory of the detector.
	MaxReplayThreshold = 64
)

// ReplayConfig configures dynamic replay detection (DESIGN.md's replay.*
// settings). The zero value means the defaults.
type ReplayConfig struct {
	// MinAge: an already-seen message whose event time is older than the
	// device's newest by more than max(MinAge, 3 learned intervals) is a
	// replay, otherwise a duplicate (a QoS 1 redelivery). See MinAgeFor.
	// Default: 5s.
	MinAge time.Duration `yaml:"min_age"`
	// Threshold is the number of replays within Window that flags a device
	// replaying. Default: 2 (a device re-sending an old reading is flagged
	// at its third repetition: the first is still a recent duplicate). At
	// most 64.
	Threshold int `yaml:"threshold"`
	// Window is the sliding window, in gateway time, replays are counted
	// over. Default: 1m.
	Window time.Duration `yaml:"window"`
	// Quiet is how long a flagged device must send no replay before it is
	// unflagged (the hysteresis). Default: 30s.
	Quiet time.Duration `yaml:"quiet"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c ReplayConfig) WithDefaults() ReplayConfig {
	if c.MinAge == 0 {
		c.MinAge = DefaultReplayMinAge
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultReplayThreshold
	}
	if c.Window == 0 {
		c.Window = DefaultReplayWindow
	}
	if c.Quiet == 0 {
		c.Quiet = DefaultReplayQuiet
	}
	return c
}

// Validate reports every problem with c at once.
func (c ReplayConfig) Validate() error {
	var errs []error
	if c.MinAge < 0 {
		errs = append(errs, fmt.Errorf("replay.min_age: %v is negative", c.MinAge))
	}
	if c.Threshold < 1 || c.Threshold > MaxReplayThreshold {
		errs = append(errs, fmt.Errorf("replay.threshold: %d must be in [1, %d]", c.Threshold, MaxReplayThreshold))
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("replay.window: %v must be positive", c.Window))
	}
	if c.Quiet <= 0 {
		errs = append(errs, fmt.Errorf("replay.quiet: %v must be positive", c.Quiet))
	}
	return errors.Join(errs...)
}

// MinAgeFor returns the duplicate/replay boundary of a device whose learned
// reporting interval is interval: max(MinAge, MinAgeIntervals × interval),
// so that a QoS 1 redelivery of a slow device's previous reading is still
// recent.
func (c *ReplayConfig) MinAgeFor(interval time.Duration) time.Duration {
	return max(c.MinAge, MinAgeIntervals*interval)
}

// Detector flags a device that keeps sending replays. Its zero value has
// seen no replay; it allocates only at the first one. It is owned by the
// device's shard and not safe for concurrent use.
type Detector struct {
	times []int64 // ring of the last Threshold replay times (gateway, Unix ns)
	pos   int

	// Total counts the device's replays.
	Total uint64
	// First and Last are the gateway times of the first and the latest
	// replay (Unix ns), 0 before any.
	First, Last int64
	// Flagged is set while the device is replaying; Since is when it was
	// flagged.
	Flagged bool
	Since   int64
}

// Observe records a replay received at now and reports whether the device
// just became flagged.
func (d *Detector) Observe(cfg *ReplayConfig, now int64) (flagged bool) {
	d.Total++
	d.Last = now
	if d.First == 0 {
		d.First = now
	}
	if len(d.times) < cfg.Threshold {
		d.times = append(d.times, now)
	} else {
		d.times[d.pos] = now
		d.pos = (d.pos + 1) % len(d.times)
	}
	if d.Flagged || len(d.times) < cfg.Threshold {
		return false
	}
	// The ring holds the last Threshold replays; the oldest is at pos.
	if oldest := d.times[d.pos%len(d.times)]; now-oldest <= int64(cfg.Window) {
		d.Flagged, d.Since = true, now
		return true
	}
	return false
}

// Expire unflags the device when it sent no replay for Quiet, and reports
// whether it just did.
func (d *Detector) Expire(cfg *ReplayConfig, now int64) (cleared bool) {
	if d.Flagged && now-d.Last >= int64(cfg.Quiet) {
		d.Flagged, d.Since = false, 0
		d.times, d.pos = d.times[:0], 0
		return true
	}
	return false
}

// DetectorSnapshot is the serialisable form of a Detector.
type DetectorSnapshot struct {
	Times       []int64
	Pos         int
	Total       uint64
	First, Last int64
	Flagged     bool
	Since       int64
}

// Snapshot returns d's state.
func (d *Detector) Snapshot() DetectorSnapshot {
	return DetectorSnapshot{
		Times: append([]int64(nil), d.times...), Pos: d.pos, Total: d.Total,
		First: d.First, Last: d.Last, Flagged: d.Flagged, Since: d.Since,
	}
}

// Restore sets d to a snapshot.
func (d *Detector) Restore(s DetectorSnapshot) {
	*d = Detector{pos: s.Pos, Total: s.Total, First: s.First, Last: s.Last, Flagged: s.Flagged, Since: s.Since}
	if len(s.Times) > 0 {
		d.times = append([]int64(nil), s.Times...)
	}
}
