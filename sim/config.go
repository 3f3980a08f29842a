package sim

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"
)

// Defaults and limits of Config and of the MQTT connections.
const (
	// DefaultSpeed runs simulated time at the pace of the wall clock.
	DefaultSpeed = 1.0
	// DefaultClientIDPrefix is the default prefix of the MQTT client ids.
	DefaultClientIDPrefix = "rollcall-sim"
	// DefaultMaxInflight is the default Config.MaxInflight.
	DefaultMaxInflight = 10_000
	// DefaultMaxPending is the default Config.MaxPending.
	DefaultMaxPending = 1_000_000
	// MaxDeviceConnections is the most devices with an MQTT connection of
	// their own (offline faults, Scenario.LastWill). Each costs a socket and
	// a few goroutines in the simulator and a session in the broker.
	MaxDeviceConnections = 1000

	// ConnectAttempts is how many times Run tries to connect before it gives up.
	ConnectAttempts = 5
	// ConnectTimeout bounds one connection attempt (TCP dial plus CONNACK).
	ConnectTimeout = 5 * time.Second
	// ConnectBackoff is the wait after the first failed connection attempt; it
	// doubles after every further failure, up to ConnectBackoffMax.
	ConnectBackoff = 250 * time.Millisecond
	// ConnectBackoffMax caps the wait between connection attempts, and between
	// the client's reconnection attempts after a lost connection.
	ConnectBackoffMax = 4 * time.Second
	// PublishTimeout bounds how long one publish may wait for the client to
	// take it; then it fails. It is paho's own bound; a write deadline per
	// message (paho's WriteTimeout) would cost a third of the throughput.
	PublishTimeout = 30 * time.Second
	// AckTimeout is how long a publish may stay unconfirmed (no PUBACK at
	// QoS ≥ 1, not written at QoS 0) before it counts as failed.
	AckTimeout = 10 * time.Second
	// DrainTimeout bounds how long Run waits, when it stops, for the
	// confirmations of publishes already sent.
	DrainTimeout = 2 * time.Second
	// DisconnectQuiesce is how long an MQTT disconnect may take.
	DisconnectQuiesce = 250 * time.Millisecond
	// WarnEvery is the shortest interval between two warnings of one kind.
	WarnEvery = 10 * time.Second
	// maxSleep bounds one wait of the schedule, so that confirmations are
	// reaped and the clock re-read at least this often.
	maxSleep = time.Second
	// pacingTick is the shortest wait of the schedule: events due within it
	// go out together, at most this late. It bounds the wake-ups to 1000/s,
	// which cost more than the messages themselves with 10,000 devices.
	pacingTick = time.Millisecond
)

// Config is one run of a scenario: where it publishes, how fast, and where
// the ground truth goes. The zero value of every field except BrokerURL (or
// Deliver) and Scenario means its default.
type Config struct {
	// BrokerURL is the MQTT broker, as a paho URL such as
	// "tcp://127.0.0.1:1883". Required unless Deliver is set. Devices with
	// a connection of their own need tcp:// or mqtt://.
	BrokerURL string
	// Scenario is what to simulate. Its zero fields mean their defaults.
	Scenario Scenario
	// Speed is how many simulated seconds pass per wall-clock second;
	// math.Inf(1) runs as fast as the publisher takes messages (it needs
	// Scenario.Duration). Wire timestamps are simulated time. Default: 1.
	Speed float64
	// Start is the simulated time of the start. Zero means Scenario.Start,
	// or when that is zero, derived from Now when Run starts, so that
	// simulated time ends at the wall clock and never runs ahead of it:
	// now − Duration × (1 − 1/Speed) (now itself at speed 1, now −
	// Duration at infinite speed). Truncated to milliseconds.
	Start time.Time
	// Truth receives the ground truth as JSON lines (see TruthWindow,
	// TruthFault). Nil: no truth is computed.
	Truth io.Writer
	// Deliver, when set, replaces MQTT: every message the broker would see
	// (telemetry, births and the Last Wills the broker would publish) is
	// handed to Deliver, synchronously, in order, on the goroutine of Run.
	// For tests and benchmarks. Deliver must not block for long; it may keep
	// m.Payload but must not modify it (duplicates and replays share it).
	Deliver func(m Message)
	// ClientIDPrefix prefixes the MQTT client ids:
	// "<prefix>-<8 random hex digits>" for the shared connection and
	// "<prefix>-<hex>-<device>" for a device's own one.
	// Default: DefaultClientIDPrefix ("rollcall-sim").
	ClientIDPrefix string
	// MaxInflight bounds the publishes awaiting their confirmation; when it
	// is reached the schedule waits (and falls behind). Default:
	// DefaultMaxInflight (10000).
	MaxInflight int
	// MaxPending bounds the messages the simulator holds for later sending
	// (delay, jitter, reorder and partition flushes); past it new ones are
	// dropped and counted in Stats.Dropped. Default: DefaultMaxPending.
	MaxPending int
	// DevicePasswords, when set, makes every device authenticate on an MQTT
	// connection of its own: username its identity (site/name, DeviceID)
	// and password DevicePasswords[identity], as against a broker with
	// per-device credentials and ACLs (DESIGN.md § Identity and security).
	// A spoof fault then publishes on its target's topic with the
	// spoofer's credentials, which such a broker refuses. Every device
	// needs an entry; the shared connection is not opened. Counts against
	// MaxDeviceConnections.
	DevicePasswords map[string]string
	// Now is the wall clock. It must advance like time.Now (or run in a
	// testing/synctest bubble), because the schedule sleeps with timers.
	// Default: time.Now.
	Now func() time.Time
}

// WithDefaults returns c with every zero field set to its default, the
// scenario's included.
func (c Config) WithDefaults() Config {
	c.Scenario = c.Scenario.WithDefaults()
	if c.Speed == 0 {
		c.Speed = DefaultSpeed
	}
	if c.ClientIDPrefix == "" {
		c.ClientIDPrefix = DefaultClientIDPrefix
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate returns every problem of c at once, the scenario's included.
// Zero values that WithDefaults fills are accepted.
func (c Config) Validate() error {
	_, err := c.WithDefaults().validate()
	return err
}

// validate checks c (with defaults filled) and returns the compiled plan.
func (c Config) validate() (*plan, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Deliver == nil {
		if c.BrokerURL == "" {
			add("broker_url: required")
		} else if u, err := url.Parse(c.BrokerURL); err != nil || u.Scheme == "" || u.Host == "" {
			add("broker_url: %q is not a URL of the form scheme://host:port", c.BrokerURL)
		}
	}
	start := !c.Start.IsZero() || !c.Scenario.Start.IsZero()
	switch {
	case math.IsNaN(c.Speed) || c.Speed < 0:
		add("speed: %v is not a positive number or +Inf", c.Speed)
	case math.IsInf(c.Speed, 1) && c.Scenario.Duration == 0:
		add("speed: infinite speed needs a duration")
	case c.Speed > 1 && c.Scenario.Duration == 0 && !start:
		add("speed: %v needs a duration (or a start), so that simulated time can start in the past and never run ahead of the clock", c.Speed)
	}
	if strings.ContainsAny(c.ClientIDPrefix, " \t\r\n") {
		add("client_id_prefix: %q contains white space", c.ClientIDPrefix)
	}
	if c.MaxInflight < 1 {
		add("max_inflight: %d is less than 1", c.MaxInflight)
	}
	if c.MaxPending < 1 {
		add("max_pending: %d is less than 1", c.MaxPending)
	}
	if err := c.Scenario.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("scenario: %w", err))
		return nil, errors.Join(errs...)
	}
	p, err := compile(c.Scenario)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	if c.DevicePasswords != nil {
		var missing []string
		for _, d := range p.devices {
			if _, ok := c.DevicePasswords[d.id]; !ok && len(missing) < 3 {
				missing = append(missing, d.id)
			}
		}
		if len(missing) > 0 {
			add("device_passwords: no password for %s", strings.Join(missing, ", "))
		}
		if len(p.devices) > MaxDeviceConnections {
			add("device_passwords: %d devices would need a connection of their own; at most %d (MaxDeviceConnections)",
				len(p.devices), MaxDeviceConnections)
		}
	}
	if c.Deliver == nil && p.ownCount > 0 {
		if p.ownCount > MaxDeviceConnections {
			add("scenario: %d devices need a connection of their own (offline faults, last_will); at most %d (MaxDeviceConnections)",
				p.ownCount, MaxDeviceConnections)
		}
		if u, err := url.Parse(c.BrokerURL); err == nil && u.Scheme != "tcp" && u.Scheme != "mqtt" {
			add("broker_url: devices with a connection of their own (offline faults, last_will) need tcp:// or mqtt://, not %s://", u.Scheme)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}
