package aggregate

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// Defaults for Config.
const (
	// DefaultQueueLen is each shard's input queue, in messages. The ingest
	// journal feeds it with Submit, which waits while it is full
	// (backpressure to the broker), so it need not hold the broker's
	// in-flight window.
	DefaultQueueLen = 8192
	// DefaultEmitInterval is how often watermarks are advanced and due
	// windows emitted.
	DefaultEmitInterval = 50 * time.Millisecond
	// DefaultMinCoverage is the coverage ratio below which quality is bad.
	DefaultMinCoverage = 0.5
	// DefaultMaxDevices bounds the tracked devices.
	DefaultMaxDevices = 100_000
	// DefaultMaxGroups bounds the groups.
	DefaultMaxGroups = 1000
	// DefaultMaxGroupMetrics bounds the distinct metrics of one group.
	DefaultMaxGroupMetrics = 64
	// DefaultMaxOpenWindows bounds each device's open windows. With the
	// defaults a device has about (lateness + future skew) / window + 2 = 9
	// open, but a fast backlog drain runs through event time faster than
	// the emit rounds close windows, so the guard is generous: it is for
	// far-off clocks, not for load.
	DefaultMaxOpenWindows = 1024
	// DefaultMaxMissingListed bounds the devices an aggregate names as missing.
	DefaultMaxMissingListed = 100
	// DefaultStateScanInterval is how often device states are counted and
	// learned devices retired.
	DefaultStateScanInterval = time.Second
)

// Config configures the aggregation engine. Zero fields mean the defaults.
type Config struct {
	// Shards is the number of workers; devices are assigned by hash of their
	// id. Default: GOMAXPROCS.
	Shards int `yaml:"shards"`
	// QueueLen is each shard's input queue capacity in messages.
	// Default: 8192.
	QueueLen int `yaml:"queue_len"`
	// EmitInterval is how often watermarks advance and due windows are
	// emitted. Default: 50ms.
	EmitInterval time.Duration `yaml:"emit_interval"`
	// MinCoverage is the coverage ratio below which an aggregate's quality
	// is bad. Default: 0.5.
	MinCoverage float64 `yaml:"min_coverage"`
	// RejectSamples bounds the recent rejected messages kept for
	// GET /api/v1/rejects. Default: ingest.DefaultRejectSamples (100).
	RejectSamples int `yaml:"reject_samples"`
	// RejectSampleRate bounds the samples taken per second; rejections past
	// it are only counted. Default: ingest.DefaultRejectSampleRate (10).
	RejectSampleRate float64 `yaml:"reject_sample_rate"`
	// MaxMissingListed bounds the missing devices an aggregate names; the
	// rest are counted in coverage.missing_unlisted. Default: 100.
	MaxMissingListed int `yaml:"max_missing_listed"`

	// Window, Dedup, Replay, Liveness and Limits configure the stages the
	// workers run. The gateway's config file has them as top-level sections.
	Window   window.Config      `yaml:"-"`
	Dedup    dedup.Config       `yaml:"-"`
	Replay   dedup.ReplayConfig `yaml:"-"`
	Liveness staleness.Config   `yaml:"-"`
	Limits   Limits             `yaml:"-"`

	// Now is the gateway clock. Default: time.Now.
	Now func() time.Time `yaml:"-"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.EmitInterval == 0 {
		c.EmitInterval = DefaultEmitInterval
	}
	if c.MinCoverage == 0 {
		c.MinCoverage = DefaultMinCoverage
	}
	if c.RejectSamples == 0 {
		c.RejectSamples = ingest.DefaultRejectSamples
	}
	if c.RejectSampleRate == 0 {
		c.RejectSampleRate = ingest.DefaultRejectSampleRate
	}
	if c.MaxMissingListed == 0 {
		c.MaxMissingListed = DefaultMaxMissingListed
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Window = c.Window.WithDefaults()
	c.Replay = c.Replay.WithDefaults()
	c.Liveness = c.Liveness.WithDefaults()
	c.Dedup = c.Dedup.WithDefaults()
	c.Limits = c.Limits.WithDefaults()
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Shards < 1 || c.Shards > 256 {
		errs = append(errs, fmt.Errorf("aggregate.shards: %d must be in [1, 256]", c.Shards))
	}
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("aggregate.queue_len: %d must be positive", c.QueueLen))
	}
	if c.EmitInterval < time.Millisecond {
		errs = append(errs, fmt.Errorf("aggregate.emit_interval: %v is below 1ms", c.EmitInterval))
	}
	if c.RejectSamples < 1 || c.RejectSamples > 100_000 {
		errs = append(errs, fmt.Errorf("aggregate.reject_samples: %d must be in [1, 100000]", c.RejectSamples))
	}
	if !(c.RejectSampleRate > 0) {
		errs = append(errs, fmt.Errorf("aggregate.reject_sample_rate: %v must be positive", c.RejectSampleRate))
	}
	if c.MinCoverage < 0 || c.MinCoverage > 1 {
		errs = append(errs, fmt.Errorf("aggregate.min_coverage: %v must be in [0, 1]", c.MinCoverage))
	}
	if c.MaxMissingListed < 1 {
		errs = append(errs, fmt.Errorf("aggregate.max_missing_listed: %d must be positive", c.MaxMissingListed))
	}
	errs = append(errs, c.Window.Validate(), c.Dedup.Validate(), c.Replay.Validate(), c.Liveness.Validate(), c.Limits.Validate())
	return errors.Join(errs...)
}

// Limits are the limits: section of the configuration: ingest's admission
// limits (message sizes, device rate; ingest owns them) and the aggregate
// stage's own bounds on its state. Zero fields mean the defaults.
type Limits struct {
	ingest.Limits `yaml:",inline"`
	// MaxDevices bounds the tracked devices; messages from new devices past
	// it are rejected unknown_device. Default: 100000.
	MaxDevices int `yaml:"max_devices"`
	// MaxGroups bounds the groups; devices of new groups past it are
	// rejected unknown_device. Default: 1000.
	MaxGroups int `yaml:"max_groups"`
	// MaxGroupMetrics bounds the distinct metrics per group; values of
	// further metrics are ignored and counted. Default: 64.
	MaxGroupMetrics int `yaml:"max_group_metrics"`
	// MaxOpenWindows bounds the windows one device has open (accepting
	// readings); a reading that would open another is rejected
	// too_many_windows. Default: 1024.
	MaxOpenWindows int `yaml:"max_open_windows"`
}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	l.Limits = l.Limits.WithDefaults()
	if l.MaxDevices == 0 {
		l.MaxDevices = DefaultMaxDevices
	}
	if l.MaxGroups == 0 {
		l.MaxGroups = DefaultMaxGroups
	}
	if l.MaxGroupMetrics == 0 {
		l.MaxGroupMetrics = DefaultMaxGroupMetrics
	}
	if l.MaxOpenWindows == 0 {
		l.MaxOpenWindows = DefaultMaxOpenWindows
	}
	return l
}

// Validate reports every problem with l (with its defaults applied) at once.
func (l Limits) Validate() error {
	errs := []error{l.Limits.Validate()}
	if l.MaxOpenWindows < 1 {
		errs = append(errs, fmt.Errorf("limits.max_open_windows: %d must be at least 1", l.MaxOpenWindows))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"limits.max_devices", l.MaxDevices}, {"limits.max_groups", l.MaxGroups}, {"limits.max_group_metrics", l.MaxGroupMetrics}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s: %d must be positive", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}
