package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// NATSClientURL returns the embedded broker's NATS client URL on loopback,
// for the tests of package gateway_test.
func NATSClientURL(g *Gateway) string { return loopbackURL(g.broker.ClientURL()) }

func TestLoopbackURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222": "nats://127.0.0.1:4222",
		"nats://0.0.0.0:4222":   "nats://127.0.0.1:4222",
		"nats://[::]:4222":      "nats://127.0.0.1:4222",
		"nats://gw.local:4222":  "nats://gw.local:4222",
	} {
		require.Equal(t, want, loopbackURL(in), in)
	}
}
