package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFederationConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // each must appear in the error; none: valid
	}{
		{"upstream", func(c *Config) { c.Federation.Upstream, c.MQTT.ClientID = "nats://127.0.0.1:7422", "gw-north" }, nil},
		{"upstream with a dotted id", func(c *Config) { c.Federation.Upstream, c.MQTT.ClientID = "nats://127.0.0.1:7422", "gw.north" }, []string{"nats.gateway_id"}},
		{"upstream with an external broker", func(c *Config) {
			c.Federation.Upstream, c.MQTT.ClientID, c.MQTT.URL = "nats://127.0.0.1:7422", "gw", "tcp://127.0.0.1:1883"
			c.NATS.URL = "nats://127.0.0.1:4222"
		}, []string{"federation.upstream: needs the embedded broker"}},
		{"bad upstream url", func(c *Config) { c.Federation.Upstream, c.MQTT.ClientID = "hub", "gw" }, []string{"broker.upstream"}},
		{"unknown role", func(c *Config) { c.Role = "hub" }, []string{"role"}},
		{"central", func(c *Config) { c.Role = RoleCentral }, nil},
		{"central with an upstream", func(c *Config) { c.Role, c.Federation.Upstream = RoleCentral, "nats://127.0.0.1:7422" }, []string{"a central tier has no upstream"}},
		{
			"central roster", func(c *Config) { c.Role, c.Federation.Gateways = RoleCentral, []string{"gw-a", "central", "a.b"} },
			[]string{`federation.gateways: "central" is the central domain`, `federation.gateways: "a.b"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.mutate(&c)
			c = c.WithDefaults()
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	// The upstream turns the nats sink on and names the broker's domain.
	c := Defaults()
	c.Federation.Upstream, c.MQTT.ClientID = "nats://127.0.0.1:7422", "gw-north"
	c = c.WithDefaults()
	require.True(t, c.NATS.Enabled)
	b := c.brokerConfig()
	require.Equal(t, "gw-north", b.Domain)
	require.Equal(t, "gw-north", b.ServerName)
	require.Equal(t, []string{"nats://127.0.0.1:7422"}, b.Upstream.URLs)
}
