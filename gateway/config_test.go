package gateway

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/staleness"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // each must appear in the error
	}{
		{"negative payload limit", func(c *Config) { c.Limits.MaxPayloadBytes = -1 }, []string{"limits.max_payload_bytes"}},
		{"negative max devices", func(c *Config) { c.Limits.MaxDevices = -1 }, []string{"limits.max_devices"}},
		{"queue smaller than the in-flight window", func(c *Config) { c.Journal.QueueLen = 100; c.Topics.Sparkplug = new(bool) }, []string{"journal.queue_len", "2 × broker.max_ack_pending = 2048"}},
		{"queue smaller than the in-flight window with sparkplug", func(c *Config) { c.Journal.QueueLen = 3000 }, []string{"journal.queue_len", "3 × broker.max_ack_pending = 3072"}},
		{"bad journal sync", func(c *Config) { c.Journal.Sync = "sometimes" }, []string{"journal.sync"}},
		{"checkpoint interval too short", func(c *Config) { c.Checkpoint.Interval = time.Millisecond }, []string{"checkpoint.interval"}},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, []string{"log_level"}},
		{"bad broker listen", func(c *Config) { c.Broker.Listen = "nope" }, []string{"broker.listen"}},
		{"bad qos", func(c *Config) { c.MQTT.QoS = 2 }, []string{"mqtt.qos"}},
		{"bad topic template", func(c *Config) { c.Topics.Telemetry = "fleet/{site}/telemetry" }, []string{"topics"}},
		{"bad prom series limit", func(c *Config) { c.Prom.MaxSeries = -1 }, []string{"prom.max_series"}},
		{"negative prom series ttl", func(c *Config) { c.Prom.SeriesTTL = -time.Second }, []string{"prom.series_ttl", "negative"}},
		{"prom series ttl within a window", func(c *Config) { c.Prom.SeriesTTL = 5 * time.Second }, []string{"prom.series_ttl: 5s must exceed window.size (10s)"}},
		{"nats without a server", func(c *Config) { c.NATS.Enabled, c.MQTT.URL = true, "tcp://127.0.0.1:1883" }, []string{"nats.url: required"}},
		{"bad nats limits", func(c *Config) { c.NATS.MaxBytes, c.NATS.PublishAttempts = -1, 99 }, []string{"nats.max_bytes", "nats.publish_attempts"}},
		{"several at once", func(c *Config) { c.Window.Size = -time.Second; c.HTTP.Addr = "x" }, []string{"window.size", "http.addr"}},
		{"step does not divide the size", func(c *Config) { c.Window.Size, c.Window.Step = time.Minute, 7*time.Second }, []string{"window.step"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mutate(&c)
			err := c.WithDefaults().Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	require.NoError(t, Defaults().Validate())
	// The queue rule is about the embedded broker's window only.
	c := Defaults()
	c.Journal.QueueLen, c.MQTT.URL = 100, "tcp://127.0.0.1:1883"
	require.NoError(t, c.WithDefaults().Validate())
	// With the embedded broker, nats.url defaults to its NATS listener; the
	// gateway id to the MQTT client id.
	c = Defaults()
	c.NATS.Enabled, c.MQTT.ClientID = true, "gw-7"
	c = c.WithDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, "gw-7", c.natsConfig().GatewayID)
	c.NATS.GatewayID = "gw-8"
	require.Equal(t, "gw-8", c.natsConfig().GatewayID)
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	c, err := LoadFile(write("ok.yaml", "window: {size: 5s}\nlimits: {max_devices: 7, max_payload_bytes: 1000}\n"), Defaults())
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, c.Window.Size)
	require.Equal(t, 7, c.Limits.MaxDevices)
	require.Equal(t, 1000, c.Limits.MaxPayloadBytes)
	require.Equal(t, 60*time.Second, c.Window.AllowedLateness, "untouched keys keep their defaults")
	require.Equal(t, 7, c.WithDefaults().aggregateConfig().Limits.MaxDevices)
	c, err = LoadFile(write("hopping.yaml", "window: {size: 1m, step: 10s}\n"), Defaults())
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.WithDefaults().aggregateConfig().Window.Step, "window.step reaches the engine")
	require.NoError(t, c.WithDefaults().Validate())

	_, err = LoadFile(write("typo.yaml", "windw: {size: 5s}\n"), Defaults())
	require.ErrorContains(t, err, "windw", "unknown keys are errors")
	_, err = LoadFile(filepath.Join(dir, "missing.yaml"), Defaults())
	require.Error(t, err)
}

// The shipped examples stay loadable.
func TestExamples(t *testing.T) {
	c, err := LoadFile("../examples/rollcall.yaml", Defaults())
	require.NoError(t, err)
	require.NoError(t, c.WithDefaults().Validate())
	_, err = staleness.LoadFleet("../examples/fleet.yaml")
	require.NoError(t, err)
	f, err := staleness.ParseFleet(sim.DemoFleet)
	require.NoError(t, err)
	require.Len(t, f.Groups["site-a"].Devices, sim.DemoDevicesPerSite)
	require.Contains(t, f.Groups["site-a"].Devices, strings.TrimPrefix(sim.DemoSilentDevice, "site-a/"))
}

// A failing New stops what it started and returns an error (no panic).
func TestNewFailsCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = busy.Close() }()
	c := Defaults()
	c.DataDir = t.TempDir()
	c.Broker.Listen = "127.0.0.1:0"
	c.HTTP.Addr = busy.Addr().String()
	_, err = New(c, nil)
	require.ErrorContains(t, err, "http.addr")
	// The journal it opened was closed: a second gateway can take it.
	c.HTTP.Addr = "127.0.0.1:0"
	g, err := New(c, nil)
	require.NoError(t, err)
	g.close()
}

func TestInfluxConfigErrorsNameTheSectionOnce(t *testing.T) {
	c := Defaults()
	c.Influx.Enabled = true
	err := c.WithDefaults().Validate()
	require.ErrorContains(t, err, "influx.url")
	require.NotContains(t, err.Error(), "influx.influx.")
}
