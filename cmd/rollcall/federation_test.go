package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/gateway"
)

func TestFederationFlags(t *testing.T) {
	cfg, _, err := loadConfig("serve", []string{"--upstream", "nats://127.0.0.1:7422", "--mqtt-client-id", "gw-north"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "nats://127.0.0.1:7422", cfg.Federation.Upstream)
	require.True(t, cfg.NATS.Enabled, "--upstream turns the nats sink on")
	require.Equal(t, gateway.RoleGateway, cfg.Role)
	require.NoError(t, cfg.Validate())

	t.Setenv("ROLLCALL_LEAF_LISTEN", "127.0.0.1:7000")
	cfg, _, err = loadConfig("serve", []string{"--role", "central", "--nats-url", "nats://127.0.0.1:4222"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, gateway.RoleCentral, cfg.Role)
	require.Equal(t, "127.0.0.1:7000", cfg.Federation.LeafListen)
	require.Equal(t, "nats://127.0.0.1:4222", cfg.Federation.NATSURL)
	require.NoError(t, cfg.Validate())

	cfg, _, err = loadConfig("serve", []string{"--role", "hub"}, io.Discard)
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), `role: "hub"`)
}
