package window

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Config.
const (
	// DefaultSize is the tumbling window length.
	DefaultSize = 10 * time.Second
	// DefaultAllowedLateness is how long after a window's provisional emission
	// late readings still revise it.
	DefaultAllowedLateness = 60 * time.Second
	// DefaultAllowedSkew is subtracted from a group's newest event time to
	// form its watermark, so ordinary jitter between devices is not late.
	DefaultAllowedSkew = 2 * time.Second
	// DefaultIdleTimeout bounds how far a group's watermark may lag the
	// gateway clock: a group that goes quiet still emits windows (0 of N).
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxCatchUp is the most windows one group emits in one step.
	DefaultMaxCatchUp = 64
	// MaxWindowsPerReading bounds Size/Step: the windows one reading belongs
	// to, and the panes (accumulators) a device holds per metric and window.
	MaxWindowsPerReading = 360
)

// Config configures windowing. The zero value means the defaults.
type Config struct {
	// Size is the window length, aligned to the Unix epoch. Default: 10s.
	Size time.Duration `yaml:"size"`
	// Step is how often a window starts (hopping windows): a window of Size
	// starts every Step, so a reading belongs to Size/Step windows. Step
	// must divide Size; zero (the default) or Size means tumbling windows.
	Step time.Duration `yaml:"step"`
	// AllowedLateness is how long after the watermark passes a window's end
	// the window still accepts late readings (each one a revision). After
	// that the window is final and later readings are too_late.
	// Default: 60s.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// AllowedSkew is subtracted from the newest event time of a group to form
	// its watermark. Default: 2s.
	AllowedSkew time.Duration `yaml:"allowed_skew"`
	// IdleTimeout is the most a group's watermark lags the gateway clock, so
	// a group whose devices all went silent keeps emitting windows.
	// Default: 30s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxCatchUp bounds the windows one group emits in one step; windows
	// skipped past it are counted. Default: 64.
	MaxCatchUp int `yaml:"max_catch_up"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = DefaultAllowedLateness
	}
	if c.AllowedSkew == 0 {
		c.AllowedSkew = DefaultAllowedSkew
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxCatchUp == 0 {
		c.MaxCatchUp = DefaultMaxCatchUp
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Size < time.Millisecond {
		errs = append(errs, fmt.Errorf("window.size: %v is below the minimum 1ms", c.Size))
	}
	switch {
	case c.Step < 0:
		errs = append(errs, fmt.Errorf("window.step: %v is negative", c.Step))
	case c.Size < time.Millisecond:
		// Reported above; a step cannot be judged against it.
	case c.Step > c.Size || (c.Step > 0 && c.Size%c.Step != 0):
		errs = append(errs, fmt.Errorf("window.step: %v must divide window.size %v", c.Step, c.Size))
	case c.Step > 0 && c.Size/c.Step > MaxWindowsPerReading:
		errs = append(errs, fmt.Errorf("window.step: %v gives %d windows per reading, more than %d", c.Step, c.Size/c.Step, MaxWindowsPerReading))
	}
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("window.allowed_lateness: %v is negative", c.AllowedLateness))
	}
	if c.AllowedSkew < 0 {
		errs = append(errs, fmt.Errorf("window.allowed_skew: %v is negative", c.AllowedSkew))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("window.idle_timeout: %v must be positive", c.IdleTimeout))
	}
	if c.MaxCatchUp < 1 {
		errs = append(errs, fmt.Errorf("window.max_catch_up: %d must be at least 1", c.MaxCatchUp))
	}
	return errors.Join(errs...)
}

// Horizon returns the lateness horizon at now (Unix ns): now − AllowedLateness
// − Size. Before a group's first emission it accepts readings back to it
// (Gate.Init, Lifecycle.CutoffAt), and its first window moves back no
// further (Lifecycle.Rewind's floor).
func (c Config) Horizon(now int64) int64 { return now - int64(c.AllowedLateness) - int64(c.Size) }

// Tumbling assigns event times to epoch-aligned windows of one size.
type Tumbling struct {
	size int64
}

// NewTumbling returns a Tumbling assigner; size must be positive.
func NewTumbling(size time.Duration) Tumbling { return Tumbling{size: int64(size)} }

// Size returns the window length in nanoseconds.
func (t Tumbling) Size() int64 { return t.size }

// Start returns the start (Unix ns) of the window containing ts. Windows are
// half-open: [start, start+size).
func (t Tumbling) Start(ts int64) int64 {
	r := ts % t.size
	if r < 0 {
		r += t.size
	}
	return ts - r
}

// Hopping assigns event times to epoch-aligned windows of length size that
// start every step (step divides size). A reading belongs to size/step
// windows; with step = size they are tumbling windows. Time is cut into
// panes of length step: a window is the union of the size/step panes from
// its start, so state kept per pane is bounded and merged per window.
type Hopping struct {
	size, step int64
}

// NewHopping returns the assigner of cfg's windows (Size and Step, with
// Step = Size when zero).
func NewHopping(cfg Config) Hopping {
	h := Hopping{size: int64(cfg.Size), step: int64(cfg.Step)}
	if h.step <= 0 {
		h.step = h.size
	}
	return h
}

// Size returns the window length in nanoseconds.
func (h Hopping) Size() int64 { return h.size }

// Step returns the distance between window starts (and the pane length) in
// nanoseconds.
func (h Hopping) Step() int64 { return h.step }

// Tumbling reports whether windows do not overlap (step = size).
func (h Hopping) Tumbling() bool { return h.step == h.size }

// Pane returns the start of the pane containing ts, which is also the start
// of the newest window containing ts.
func (h Hopping) Pane(ts int64) int64 { return Tumbling{size: h.step}.Start(ts) }

// First returns the start of the oldest window containing ts.
func (h Hopping) First(ts int64) int64 { return h.Pane(ts) - h.size + h.step }

// Windows returns the starts of the windows containing ts, oldest first:
// size/step of them.
func (h Hopping) Windows(ts int64) []int64 {
	out := make([]int64, 0, h.size/h.step)
	for w := h.First(ts); w <= h.Pane(ts); w += h.step {
		out = append(out, w)
	}
	return out
}
