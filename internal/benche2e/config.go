package benche2e

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"
)

// Subjects.
const (
	SubjectPaho     = "paho"
	SubjectPahoJSON = "paho+json"
	SubjectRollcall = "rollcall"
)

// Scenarios.
const (
	ScenarioRate  = "rate"
	ScenarioMax   = "max"
	ScenarioDrain = "drain"
)

// Defaults of Config: sized so that `make bench-e2e` finishes in a few
// minutes on a 2-core machine.
const (
	DefaultDevices       = 10000
	DefaultSites         = 100
	DefaultRate          = 40000
	DefaultRateMessages  = 600000
	DefaultMaxMessages   = 600000
	DefaultDrainMessages = 500000
	DefaultRuns          = 2
	// DefaultInflight is the started mosquitto's max_inflight_messages:
	// the value docs/deployment.md recommends for rollcall (at most half
	// of aggregate.queue_len). mosquitto's own default is 20.
	DefaultInflight = 1024
	// DefaultStall is how long a measurement waits without progress before
	// it gives up and reports what it got.
	DefaultStall = 15 * time.Second
	// allowedSkew is rollcall's default window.allowed_skew: a group's
	// watermark is its newest event time minus this.
	allowedSkew = 2 * time.Second
)

// Config configures a benchmark run. Zero fields take the defaults.
type Config struct {
	// Broker is an external broker URL (tcp://host:port). Empty: a
	// mosquitto is started for each measurement.
	Broker string
	// Mosquitto is the mosquitto binary. Default: from PATH or /usr/sbin.
	Mosquitto string
	// Inflight is the started mosquitto's max_inflight_messages.
	Inflight int
	// Rollcall is the rollcall binary. Default: built with go build.
	Rollcall string
	// Devices and Sites shape the fleet.
	Devices, Sites int
	// Rate is the QoS 0 publish rate of the rate scenario, messages/s.
	Rate int
	// RateMessages, MaxMessages and DrainMessages are the messages of one
	// measurement of each scenario.
	RateMessages, MaxMessages, DrainMessages int
	// Runs is how often each measurement is repeated.
	Runs int
	// Scenarios to run, in order. Default: rate, max, drain.
	Scenarios []string
	// Subjects to measure. Default: all (paho+json only in rate and max).
	Subjects []string
	// Stall is how long a measurement may make no progress.
	Stall time.Duration
	// GOMEMLIMIT, if set, is passed to rollcall.
	GOMEMLIMIT string
	// RollcallConfig is YAML appended to rollcall's config file, which
	// otherwise only sets mqtt.qos (e.g. "journal: {queue_len: 65536}").
	RollcallConfig string
	// WorkDir holds the brokers' and rollcall's files and logs. Default: a
	// temp dir, removed at the end unless Keep or a measurement failed or
	// was incomplete.
	WorkDir string
	Keep    bool
	// Out receives the report.
	Out io.Writer
	// Log receives progress.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Devices, DefaultDevices)
	def(&c.Sites, DefaultSites)
	def(&c.Rate, DefaultRate)
	def(&c.RateMessages, DefaultRateMessages)
	def(&c.MaxMessages, DefaultMaxMessages)
	def(&c.DrainMessages, DefaultDrainMessages)
	def(&c.Runs, DefaultRuns)
	def(&c.Inflight, DefaultInflight)
	if c.Stall == 0 {
		c.Stall = DefaultStall
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = []string{ScenarioRate, ScenarioMax, ScenarioDrain}
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{SubjectPaho, SubjectPahoJSON, SubjectRollcall}
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Devices < 1 || c.Sites < 1 || c.Sites > c.Devices || c.Sites > 1000 || c.Devices/c.Sites > 1000 {
		errs = append(errs, fmt.Errorf("devices %d in sites %d: need 1 ≤ sites ≤ min(devices, 1000) and ≤ 1000 devices a site", c.Devices, c.Sites))
	}
	if c.Rate < 0 || c.RateMessages < 1 || c.MaxMessages < 1 || c.DrainMessages < 1 || c.Runs < 1 {
		errs = append(errs, errors.New("rate, messages and runs must be positive"))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains([]string{ScenarioRate, ScenarioMax, ScenarioDrain}, s) {
			errs = append(errs, fmt.Errorf("scenario %q: want rate, max or drain", s))
		}
	}
	for _, s := range c.Subjects {
		if !slices.Contains([]string{SubjectPaho, SubjectPahoJSON, SubjectRollcall}, s) {
			errs = append(errs, fmt.Errorf("subject %q: want paho, paho+json or rollcall", s))
		}
	}
	return errors.Join(errs...)
}
