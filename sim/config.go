package sim

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of Config.
const (
	// DefaultDevicesPerSite is the default number of turbines per site.
	DefaultDevicesPerSite = 10
	// DefaultInterval is the default reporting interval of every device.
	DefaultInterval = time.Second
	// DefaultQoS is the default MQTT QoS of telemetry publishes.
	DefaultQoS = 1
	// DefaultSeed is the default seed of the value generator.
	DefaultSeed = 1
	// DefaultTopicTemplate is the default telemetry topic (DESIGN.md, "Wire format").
	DefaultTopicTemplate = "fleet/{site}/{device}/telemetry"
	// DefaultClientIDPrefix is the default prefix of the fleet's MQTT client id.
	DefaultClientIDPrefix = "rollcall-sim"

	// MaxDevices is the largest fleet (sites × devices per site) a Fleet runs.
	MaxDevices = 10000
	// MinInterval is the shortest Config.Interval.
	MinInterval = 10 * time.Millisecond
	// MaxInterval is the longest Config.Interval.
	MaxInterval = time.Hour

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
	// AckTimeout is how long a publish may stay unconfirmed (no PUBACK at QoS 1)
	// before it counts as failed.
	AckTimeout = 10 * time.Second
	// DrainTimeout bounds how long Run waits, after ctx is done, for the
	// confirmations of publishes already sent.
	DrainTimeout = time.Second
	// DisconnectQuiesce is how long the MQTT disconnect may take.
	DisconnectQuiesce = 250 * time.Millisecond
	// WarnEvery is the shortest interval between two warnings of one kind
	// (failed publishes, missed slots).
	WarnEvery = 10 * time.Second
)

// The demo fleet's fault (DESIGN.md, "rollcall demo").
const (
	// DemoSilentDevice is the turbine of the demo fleet that goes silent.
	DemoSilentDevice = "wt-07"
	// DemoSilentAfter is when, after the fleet starts, DemoSilentDevice goes silent.
	DemoSilentAfter = 3 * time.Second
	// DemoDevicesPerSite is the demo fleet's turbines per site, so the site
	// with the silent turbine reports 19 of 20.
	DemoDevicesPerSite = 20
)

// DefaultSites returns the default sites, "site-a" and "site-b". It returns a
// new slice at each call.
func DefaultSites() []string { return []string{"site-a", "site-b"} }

// FaultKind names a scripted device fault.
type FaultKind string

// FaultSilent stops a device's publishing at Fault.After, without a Last
// Will: the broker and the gateway see nothing but the absence of readings.
// It is the only kind the stand-in simulates.
const FaultSilent FaultKind = "silent"

// Fault scripts one device's misbehaviour.
type Fault struct {
	// Device is the id of the faulty device, for example "wt-07".
	Device string `yaml:"device"`
	// Kind is the fault. Only FaultSilent is supported.
	Kind FaultKind `yaml:"kind"`
	// After is when the fault starts, measured from the fleet's start (the
	// first scheduled publish). Zero: from the start.
	After time.Duration `yaml:"after"`
}

// Config describes a small simulated fleet. The zero value of every field
// except BrokerURL means its default (see WithDefaults).
//
// Devices are numbered across the fleet in site order: with the defaults,
// site-a has wt-01 … wt-10 and site-b has wt-11 … wt-20.
type Config struct {
	// BrokerURL is the MQTT broker, as a paho URL such as
	// "tcp://127.0.0.1:1883". Required.
	BrokerURL string `yaml:"broker_url"`
	// Sites are the site names, substituted for {site} in TopicTemplate.
	// Default: DefaultSites() ("site-a", "site-b").
	Sites []string `yaml:"sites"`
	// DevicesPerSite is the number of turbines at each site. Sites ×
	// DevicesPerSite is at most MaxDevices. Default: DefaultDevicesPerSite (10).
	DevicesPerSite int `yaml:"devices_per_site"`
	// Interval is each device's reporting interval, between MinInterval and
	// MaxInterval. Default: DefaultInterval (1s).
	Interval time.Duration `yaml:"interval"`
	// QoS is the MQTT QoS of telemetry publishes, 1 or 2. Zero means the
	// default, so the stand-in cannot publish at QoS 0. Default: DefaultQoS (1).
	QoS byte `yaml:"qos"`
	// Seed seeds the value generator: equal seeds and fleet layouts give equal
	// values. Zero means the default. Default: DefaultSeed (1).
	Seed int64 `yaml:"seed"`
	// Faults script device faults; at most one per device.
	Faults []Fault `yaml:"faults"`
	// TopicTemplate is the telemetry topic, with the placeholders {site} and
	// {device}; {device} is required. Default: DefaultTopicTemplate
	// ("fleet/{site}/{device}/telemetry").
	TopicTemplate string `yaml:"topic_template"`
	// ClientIDPrefix prefixes the fleet's MQTT client id, which is
	// "<prefix>-<8 random hex digits>" so that fleets do not take over each
	// other's sessions. Default: DefaultClientIDPrefix ("rollcall-sim").
	ClientIDPrefix string `yaml:"client_id_prefix"`
	// Now is the clock. The fleet schedules publishes and stamps readings
	// with it. Default: time.Now.
	Now func() time.Time `yaml:"-"`
}

// DemoConfig returns the fleet of `rollcall demo`: two sites of 20 turbines
// (site-a wt-01..wt-20, site-b wt-21..wt-40), where wt-07 (site-a) goes
// silent after 3s, so site-a reports 19 of 20.
func DemoConfig(brokerURL string) Config {
	return Config{
		BrokerURL:      brokerURL,
		DevicesPerSite: DemoDevicesPerSite,
		Faults:         []Fault{{Device: DemoSilentDevice, Kind: FaultSilent, After: DemoSilentAfter}},
	}.WithDefaults()
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Sites) == 0 {
		c.Sites = DefaultSites()
	}
	if c.DevicesPerSite == 0 {
		c.DevicesPerSite = DefaultDevicesPerSite
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.QoS == 0 {
		c.QoS = DefaultQoS
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.TopicTemplate == "" {
		c.TopicTemplate = DefaultTopicTemplate
	}
	if c.ClientIDPrefix == "" {
		c.ClientIDPrefix = DefaultClientIDPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate returns every problem of c at once. Zero values that WithDefaults
// fills are accepted.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.BrokerURL == "" {
		add("broker_url: required")
	} else if u, err := url.Parse(c.BrokerURL); err != nil || u.Scheme == "" || u.Host == "" {
		add("broker_url: %q is not a URL of the form scheme://host:port", c.BrokerURL)
	}
	for i, s := range c.Sites {
		switch {
		case s == "":
			add("sites[%d]: empty", i)
		case strings.ContainsAny(s, "/+#"):
			add("sites[%d]: %q contains one of / + #", i, s)
		case slices.Index(c.Sites, s) < i:
			add("sites[%d]: %q is listed twice", i, s)
		}
	}
	c = c.WithDefaults() // the checks below need the effective sizes
	// ids stays nil while the fleet size is invalid.
	var ids []string
	switch n := len(c.Sites) * c.DevicesPerSite; {
	case c.DevicesPerSite < 0:
		add("devices_per_site: %d is negative", c.DevicesPerSite)
	case n > MaxDevices:
		add("sites, devices_per_site: %d sites × %d devices is more than MaxDevices (%d)",
			len(c.Sites), c.DevicesPerSite, MaxDevices)
	default:
		ids = c.deviceIDs()
	}
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		add("interval: %s is not between %s and %s", c.Interval, MinInterval, MaxInterval)
	}
	if c.QoS > 2 {
		add("qos: %d is not 1 or 2", c.QoS)
	}
	if !strings.Contains(c.TopicTemplate, "{device}") {
		add("topic_template: %q lacks the {device} placeholder", c.TopicTemplate)
	}
	if strings.ContainsAny(c.TopicTemplate, "+#") {
		add("topic_template: %q contains a wildcard (+ or #)", c.TopicTemplate)
	}
	if strings.ContainsAny(c.ClientIDPrefix, " \t\r\n") {
		add("client_id_prefix: %q contains white space", c.ClientIDPrefix)
	}
	for i, f := range c.Faults {
		if ids != nil && !slices.Contains(ids, f.Device) {
			add("faults[%d].device: %q is not in the fleet (%s … %s)", i, f.Device, ids[0], ids[len(ids)-1])
		}
		if slices.IndexFunc(c.Faults[:i], func(g Fault) bool { return g.Device == f.Device }) >= 0 {
			add("faults[%d].device: %q already has a fault", i, f.Device)
		}
		if f.Kind != FaultSilent {
			add("faults[%d].kind: %q is not a known fault kind (known: %q)", i, f.Kind, FaultSilent)
		}
		if f.After < 0 {
			add("faults[%d].after: %s is negative", i, f.After)
		}
	}
	return errors.Join(errs...)
}

// deviceIDs returns the device ids of a valid c in fleet order: "wt-01",
// "wt-02", …, numbered across the sites.
func (c Config) deviceIDs() []string {
	ids := make([]string, len(c.Sites)*c.DevicesPerSite)
	for i := range ids {
		ids[i] = fmt.Sprintf("wt-%02d", i+1)
	}
	return ids
}
