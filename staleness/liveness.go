package staleness

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// State is a device's liveness state.
type State string

// Device states; see DESIGN.md § Device states.
const (
	StateLive      State = "live"
	StateLate      State = "late"
	StateSilent    State = "silent"
	StateOffline   State = "offline"
	StateDelayed   State = "delayed"
	StateNeverSeen State = "never_seen"
	StateRetired   State = "retired"
)

// States lists every state, so gauges can be pre-initialised.
var States = []State{StateLive, StateLate, StateSilent, StateOffline, StateDelayed, StateNeverSeen, StateRetired}

// Defaults for Config.
const (
	// DefaultPhiLate: a device is late from this suspicion level on
	// (P(a message this late) = 10^-8 under its learned rhythm).
	DefaultPhiLate = 8.0
	// DefaultPhiSilent: a device is silent from this suspicion level on.
	DefaultPhiSilent = 100.0
	// DefaultMinStdDev floors the learned standard deviation of the
	// inter-arrival time, so a perfectly regular device is not called late
	// at the first jitter.
	DefaultMinStdDev = 100 * time.Millisecond
	// DefaultStdDevRatio floors the standard deviation relative to the
	// mean interval (0.25: late at about 2.4 and silent at about 6.3
	// intervals for a regular device).
	DefaultStdDevRatio = 0.25
	// DefaultDelayTolerance: a device whose newest reading's event time lags
	// its receive time by more than this is delayed (backfilling).
	DefaultDelayTolerance = 30 * time.Second
	// ewmaWeight is the weight of a new inter-arrival sample.
	ewmaWeight = 0.125
)

// Config configures liveness (DESIGN.md's phi_late, phi_silent,
// delay_tolerance). The zero value means the defaults.
type Config struct {
	// PhiLate is the phi from which a device is late. Default: 8.
	PhiLate float64 `yaml:"phi_late"`
	// PhiSilent is the phi from which a device is silent. Default: 100.
	PhiSilent float64 `yaml:"phi_silent"`
	// MinStdDev floors the learned inter-arrival standard deviation.
	// Default: 100ms.
	MinStdDev time.Duration `yaml:"min_std_dev"`
	// StdDevRatio floors the standard deviation as a fraction of the mean
	// interval. Default: 0.25.
	StdDevRatio float64 `yaml:"std_dev_ratio"`
	// DelayTolerance is how far the newest reading's event time may lag its
	// receive time before the device is delayed. Default: 30s.
	DelayTolerance time.Duration `yaml:"delay_tolerance"`
	// ClockCorrection corrects the event times of a device whose clock
	// offset is measured and stable (Clock). Default: on.
	ClockCorrection *bool `yaml:"clock_correction"`
	// ClockDeadBand: a clock ahead by no more than this is not corrected.
	// Default: DefaultClockDeadBand (1s).
	ClockDeadBand time.Duration `yaml:"clock_dead_band"`
	// ClockMinLag: a stable lag is corrected only beyond this (below, it
	// is transport delay). Default: DefaultClockMinLag (5s).
	ClockMinLag time.Duration `yaml:"clock_min_lag"`
	// ClockMaxCorrection: stamps further ahead of their receive time are
	// rejected future_ts, not corrected, and a stable offset larger than
	// this either way is not applied (a device a year behind, in rhythm, is
	// taken for a backlog: its stamps stand). Default:
	// DefaultClockMaxCorrection (24h).
	ClockMaxCorrection time.Duration `yaml:"clock_max_correction"`
}

// Correcting reports whether clock correction is on.
func (c *Config) Correcting() bool { return c.ClockCorrection == nil || *c.ClockCorrection }

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.PhiLate == 0 {
		c.PhiLate = DefaultPhiLate
	}
	if c.PhiSilent == 0 {
		c.PhiSilent = DefaultPhiSilent
	}
	if c.MinStdDev == 0 {
		c.MinStdDev = DefaultMinStdDev
	}
	if c.StdDevRatio == 0 {
		c.StdDevRatio = DefaultStdDevRatio
	}
	if c.DelayTolerance == 0 {
		c.DelayTolerance = DefaultDelayTolerance
	}
	if c.ClockCorrection == nil {
		on := true
		c.ClockCorrection = &on
	}
	if c.ClockDeadBand == 0 {
		c.ClockDeadBand = DefaultClockDeadBand
	}
	if c.ClockMinLag == 0 {
		c.ClockMinLag = DefaultClockMinLag
	}
	if c.ClockMaxCorrection == 0 {
		c.ClockMaxCorrection = DefaultClockMaxCorrection
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if !(c.PhiLate > 0) || math.IsInf(c.PhiLate, 0) {
		errs = append(errs, fmt.Errorf("liveness.phi_late: %v must be positive", c.PhiLate))
	}
	if !(c.PhiSilent > c.PhiLate) || math.IsInf(c.PhiSilent, 0) {
		errs = append(errs, fmt.Errorf("liveness.phi_silent: %v must be above liveness.phi_late %v", c.PhiSilent, c.PhiLate))
	}
	if c.MinStdDev <= 0 {
		errs = append(errs, fmt.Errorf("liveness.min_std_dev: %v must be positive", c.MinStdDev))
	}
	if !(c.StdDevRatio >= 0 && c.StdDevRatio <= 10) {
		errs = append(errs, fmt.Errorf("liveness.std_dev_ratio: %v must be in [0, 10]", c.StdDevRatio))
	}
	if c.DelayTolerance <= 0 {
		errs = append(errs, fmt.Errorf("liveness.delay_tolerance: %v must be positive", c.DelayTolerance))
	}
	if c.ClockDeadBand <= 0 {
		errs = append(errs, fmt.Errorf("liveness.clock_dead_band: %v must be positive", c.ClockDeadBand))
	}
	if c.ClockMinLag < c.ClockDeadBand {
		errs = append(errs, fmt.Errorf("liveness.clock_min_lag: %v must be at least liveness.clock_dead_band %v", c.ClockMinLag, c.ClockDeadBand))
	}
	if c.ClockMaxCorrection < 0 {
		errs = append(errs, fmt.Errorf("liveness.clock_max_correction: %v must not be negative", c.ClockMaxCorrection))
	}
	return errors.Join(errs...)
}

// Liveness tracks one device's arrivals: phi accrual (Hayashibara et al.)
// over an EWMA of its inter-arrival times. Its zero value is a device never
// seen. It is owned by the device's shard and not safe for concurrent use.
type Liveness struct {
	// LastSeen is the receive time (Unix ns) of the newest message, 0 if none.
	LastSeen int64
	// LastEvent is the newest event time (Unix ns) seen.
	LastEvent int64
	// Interval is the learned mean inter-arrival time (ns), seeded from the
	// fleet file's interval.
	Interval int64
	// Variance is the learned variance of the inter-arrival time, ns².
	Variance float64
	// Offset is receive time minus event time of the newest reading (ns):
	// transport delay plus how far the device's clock lags.
	Offset int64
	// Offline is set by a status/Last Will "offline" message and cleared by
	// any later reading or "online".
	Offline bool
	// OfflineAt is when the device was reported offline (Unix ns).
	OfflineAt int64
}

// NewLiveness returns the liveness of a device expected every interval.
func NewLiveness(interval time.Duration) Liveness {
	iv := float64(interval) * DefaultStdDevRatio
	return Liveness{Interval: int64(interval), Variance: iv * iv}
}

// Observe records a reading received at recv with event time ts. Only
// readings that advance the device's event time teach its rhythm: a flushed
// backlog proves the device alive but says nothing about its interval.
func (l *Liveness) Observe(recv, ts int64) {
	l.Offline = false
	if l.LastSeen != 0 && ts <= l.LastEvent {
		l.LastSeen = max(l.LastSeen, recv)
		return
	}
	if l.LastSeen != 0 && recv > l.LastSeen {
		gap := float64(recv - l.LastSeen)
		diff := gap - float64(l.Interval)
		l.Interval += int64(ewmaWeight * diff)
		l.Variance = (1 - ewmaWeight) * (l.Variance + ewmaWeight*diff*diff)
	}
	l.LastSeen = max(l.LastSeen, recv)
	l.LastEvent = ts
	l.Offset = recv - ts
}

// SetStatus records a status message ("online" or "offline") received at recv.
func (l *Liveness) SetStatus(online bool, recv int64) {
	l.Offline = !online
	if !online {
		l.OfflineAt = recv
	}
}

// StdDev returns the inter-arrival standard deviation used for phi: the
// learned one, floored by cfg.
func (l *Liveness) StdDev(cfg *Config) float64 {
	return max(math.Sqrt(l.Variance), float64(cfg.MinStdDev), cfg.StdDevRatio*float64(l.Interval))
}

// Phi returns the suspicion level at now: −log10 of the probability that a
// device with this rhythm stays quiet this long (normal inter-arrival
// model). 0 right after a message; +Inf is never returned (it saturates).
func (l *Liveness) Phi(cfg *Config, now int64) float64 {
	if l.LastSeen == 0 || now <= l.LastSeen {
		return 0
	}
	x := (float64(now-l.LastSeen) - float64(l.Interval)) / l.StdDev(cfg)
	return phiOf(x)
}

// phiOf is −log10(P(Z > x)) for a standard normal Z, accurate far into the
// tail where erfc underflows.
func phiOf(x float64) float64 {
	z := x / math.Sqrt2
	if z < 25 {
		return -math.Log10(0.5 * math.Erfc(z))
	}
	// erfc(z) ≈ exp(−z²) / (z √π) for large z.
	lnP := -z*z - math.Log(z*math.Sqrt(math.Pi)) + math.Log(0.5)
	return -lnP / math.Ln10
}

// State returns the device's state at now (Unix ns).
func (l *Liveness) State(cfg *Config, now int64) State {
	switch {
	case l.Offline:
		return StateOffline
	case l.LastSeen == 0:
		return StateNeverSeen
	}
	switch phi := l.Phi(cfg, now); {
	case phi >= cfg.PhiSilent:
		return StateSilent
	case phi >= cfg.PhiLate:
		return StateLate
	}
	if l.Offset > int64(cfg.DelayTolerance) {
		return StateDelayed
	}
	return StateLive
}
