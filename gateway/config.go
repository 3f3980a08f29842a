package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/federation"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal/ingestlog"
	"github.com/rollcall-iot/rollcall/sink"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/sink/prom"
	"github.com/rollcall-iot/rollcall/sink/store"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// Defaults for Config.
const (
	// DefaultDataDir holds the embedded broker's store (and later the journal).
	DefaultDataDir = "./data"
	// DefaultShutdownTimeout bounds a graceful shutdown.
	DefaultShutdownTimeout = 15 * time.Second
)

// Config is the whole gateway configuration: the YAML file's shape.
type Config struct {
	// DataDir holds persistent state. Default: ./data.
	DataDir string `yaml:"data_dir"`
	// Fleet is the fleet file (roster and physics). Empty: learn every
	// device, no physical envelope.
	Fleet string `yaml:"fleet"`
	// HTTP configures the API server.
	HTTP api.Config `yaml:"http"`
	// MQTT configures the subscription. An empty mqtt.url starts the
	// embedded broker and subscribes to it.
	MQTT ingest.MQTTConfig `yaml:"mqtt"`
	// Broker configures the embedded broker (used when mqtt.url is empty).
	Broker ingest.BrokerConfig `yaml:"broker"`
	// Topics are the topic templates.
	Topics TopicsConfig `yaml:"topics"`
	// Aggregate configures the workers and emission.
	Aggregate aggregate.Config `yaml:"aggregate"`
	// Window configures event-time windows.
	Window window.Config `yaml:"window"`
	// Dedup configures deduplication.
	Dedup dedup.Config `yaml:"dedup"`
	// Replay configures the duplicate/replay boundary and dynamic replay
	// detection.
	Replay dedup.ReplayConfig `yaml:"replay"`
	// Liveness configures device states (phi accrual, delayed).
	Liveness staleness.Config `yaml:"liveness"`
	// Limits are the admission limits (ingest: sizes, device rate) and the
	// aggregate stage's limits on its state (devices, groups, windows).
	Limits aggregate.Limits `yaml:"limits"`
	// Journal is the ingest journal: every accepted message is journaled
	// and, at QoS 1, acknowledged only after its group commit.
	Journal ingestlog.Config `yaml:"journal"`
	// Checkpoint configures checkpoints of the engine and the API store.
	Checkpoint CheckpointConfig `yaml:"checkpoint"`
	// Sink configures the fan-out to sinks.
	Sink sink.Config `yaml:"sink"`
	// Store bounds the API's in-memory history.
	Store store.Config `yaml:"store"`
	// Prom configures the Prometheus sink (latest aggregates as gauges).
	Prom prom.Config `yaml:"prom"`
	// NATS configures the NATS sink (partials for federation).
	NATS natssink.Config `yaml:"nats"`
	// Influx configures the InfluxDB sink.
	Influx InfluxConfig `yaml:"influx"`
	// Role is "gateway" (devices over MQTT) or "central" (the federation
	// tier over gateways' partials). Default: gateway.
	Role string `yaml:"role"`
	// Federation configures the leaf-node link to a hub (gateway) and the
	// central tier (see docs/federation.md).
	Federation federation.Config `yaml:"federation"`
	// ShutdownTimeout bounds a graceful shutdown. Default: 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// LogLevel is debug, info, warn or error. Default: info.
	LogLevel string `yaml:"log_level"`
}

// TopicsConfig are the topic templates; {site} and {device} are placeholders.
type TopicsConfig struct {
	// Telemetry default: fleet/{site}/{device}/telemetry.
	Telemetry string `yaml:"telemetry"`
	// Status default: fleet/{site}/{device}/status.
	Status string `yaml:"status"`
	// Sparkplug turns the Sparkplug B namespace (spBv1.0/..., see
	// docs/sparkplug.md) on or off beside the JSON templates. Default: true.
	Sparkplug *bool `yaml:"sparkplug"`
}

// SparkplugOn reports whether topics.sparkplug is on (the default).
func (c TopicsConfig) SparkplugOn() bool { return c.Sparkplug == nil || *c.Sparkplug }

// Defaults returns the configuration with every default filled in: the
// starting point that the config file, the environment and flags override.
func Defaults() Config {
	c := Config{
		DataDir: DefaultDataDir,
		HTTP:    api.Config{Addr: api.DefaultAddr},
		MQTT:    ingest.MQTTConfig{QoS: ingest.DefaultQoS},
		Broker:  ingest.BrokerConfig{Listen: ingest.DefaultMQTTListen},
		Topics:  TopicsConfig{Telemetry: ingest.DefaultTelemetryTopic, Status: ingest.DefaultStatusTopic},
		// A zero series_ttl is a choice (never expire), so its default is
		// set here, like mqtt.qos's.
		Prom:     prom.Config{SeriesTTL: prom.DefaultSeriesTTL},
		LogLevel: "info",
	}
	return c.WithDefaults()
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Topics.Telemetry == "" {
		c.Topics.Telemetry = ingest.DefaultTelemetryTopic
	}
	if c.Topics.Status == "" {
		c.Topics.Status = ingest.DefaultStatusTopic
	}
	c.HTTP = c.HTTP.WithDefaults()
	c.MQTT = c.MQTT.WithDefaults()
	c.Broker = c.Broker.WithDefaults()
	c.Window = c.Window.WithDefaults()
	c.Replay = c.Replay.WithDefaults()
	c.Liveness = c.Liveness.WithDefaults()
	c.Dedup = c.Dedup.WithDefaults()
	c.Limits = c.Limits.WithDefaults()
	c.Journal = c.Journal.WithDefaults()
	c.Checkpoint = c.Checkpoint.WithDefaults()
	c.Sink = c.Sink.WithDefaults()
	c.Store = c.Store.WithDefaults()
	c.Prom = c.Prom.WithDefaults()
	c.NATS = c.NATS.WithDefaults()
	c.Federation = c.Federation.WithDefaults()
	if c.Role == "" {
		c.Role = RoleGateway
	}
	if c.Federation.Upstream != "" {
		c.NATS.Enabled = true
	}
	if c.Influx.Enabled {
		c.Influx.Config = c.Influx.Config.WithDefaults()
	}
	c.Aggregate = c.aggregateConfig().WithDefaults()
	return c
}

// aggregateConfig is the engine's config with the top-level sections in.
func (c Config) aggregateConfig() aggregate.Config {
	a := c.Aggregate
	a.Window, a.Dedup, a.Replay, a.Liveness, a.Limits = c.Window, c.Dedup, c.Replay, c.Liveness, c.Limits
	return a
}

// Embedded reports whether the gateway runs its own broker.
func (c Config) Embedded() bool { return c.MQTT.URL == "" }

// Validate reports every problem with c at once, naming each field.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if _, err := slogLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: %v must be positive", c.ShutdownTimeout))
	}
	if _, err := ingest.NewTopics(c.Topics.Telemetry, c.Topics.Status); err != nil {
		errs = append(errs, fmt.Errorf("topics: %w", err))
	}
	errs = append(errs, c.HTTP.Validate(), c.aggregateConfig().Validate(), c.Sink.Validate(), c.Store.Validate(),
		validateJournal(c.Journal), c.Checkpoint.Validate())
	errs = append(errs, c.Prom.Validate(), c.natsConfig().Validate(), c.Influx.validate(), c.validateFederation())
	if c.Prom.SeriesTTL > 0 && c.Prom.SeriesTTL <= c.Window.Size {
		errs = append(errs, fmt.Errorf("prom.series_ttl: %v must exceed window.size (%v), or every group's gauges would vanish between windows (0: never expire)",
			c.Prom.SeriesTTL, c.Window.Size))
	}
	if c.NATS.Enabled && c.NATS.URL == "" && !c.Embedded() {
		errs = append(errs, errors.New("nats.url: required when mqtt.url names an external broker (there is no embedded NATS server)"))
	}
	mqtt := c.MQTT
	if c.Role == RoleCentral {
		return errors.Join(errs...) // no MQTT: the central tier reads partials
	}
	if c.Embedded() {
		mqtt.URL = "tcp://embedded" // filled in at start
		b := c.brokerConfig()
		b.StoreDir = c.DataDir
		errs = append(errs, section("broker", b.Validate()))
		if c.NATS.Enabled && c.NATS.URL == "" && c.NATS.MaxBytes >= int64(b.WithDefaults().MaxStoreBytes) {
			errs = append(errs, fmt.Errorf("nats.max_bytes: %d must be below broker.max_store_bytes (%v), which also holds the MQTT sessions",
				c.NATS.MaxBytes, b.WithDefaults().MaxStoreBytes))
		}
		// Every subscription (telemetry, status and, with Sparkplug,
		// spBv1.0/#) gets the broker's in-flight window; the ingest queue
		// must hold all of it.
		subs := 2
		if c.Topics.SparkplugOn() {
			subs = 3
		}
		if need := subs * c.Broker.MaxAckPending; c.MQTT.QoS > 0 && need > c.Journal.QueueLen {
			errs = append(errs, fmt.Errorf("journal.queue_len: %d must hold the broker's in-flight window, %d × broker.max_ack_pending = %d",
				c.Journal.QueueLen, subs, need))
		}
	}
	errs = append(errs, mqtt.Validate())
	return errors.Join(errs...)
}

// section prefixes every line of err with a config section name, for the
// validators of sections that do not know where they sit in the file.
func section(name string, err error) error {
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = name + "." + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// LoadFile reads a YAML config file over base. Unknown keys are errors.
func LoadFile(name string, base Config) (Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return base, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&base); err != nil && !errors.Is(err, io.EOF) {
		return base, fmt.Errorf("config %s: %w", name, err)
	}
	return base, nil
}

func slogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log_level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// ParseLogLevel parses a log level name (debug, info, warn, error).
func ParseLogLevel(s string) (slog.Level, error) { return slogLevel(s) }
