package federation

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	d := Config{}.WithDefaults()
	require.NoError(t, d.Validate())
	require.Equal(t, DefaultLeafListen, d.LeafListen)
	require.True(t, *d.Learn)
	bad := d
	bad.Domain, bad.Gateways, bad.NATSURL, bad.Replicas = "a.b", []string{"gw 1"}, "nats//x", 7
	bad.SilentAfter, bad.MaxGateways, bad.MaxWindows = -1, -1, -1
	err := bad.Validate()
	for _, w := range []string{
		"federation.domain", "federation.gateways", "federation.nats_url", "federation.replicas",
		"federation.silent_after", "federation.max_gateways", "federation.max_windows",
	} {
		require.ErrorContains(t, err, w)
	}
	r := Config{Upstream: "nats://a:7422, nats://b:7422", CredsFile: "x.creds"}.Leaf()
	require.Equal(t, []string{"nats://a:7422", "nats://b:7422"}, r.URLs)
	require.Equal(t, "x.creds", r.CredsFile)
}

func TestCheckpointFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "checkpoint.json")
	msgs, err := ReadCheckpoint(name)
	require.NoError(t, err, "no checkpoint yet")
	require.Empty(t, msgs)
	want := msg("gw-a", 0, 2, true, []float64{1, 2}, 1)
	require.NoError(t, WriteCheckpoint(name, []natssink.Message{want}))
	msgs, err = ReadCheckpoint(name)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	p, q := msgs[0].Partial(), want.Partial()
	require.True(t, p.Equal(&q))

	require.NoError(t, os.WriteFile(name, []byte(`{"v":9}`), 0o600))
	_, err = ReadCheckpoint(name)
	require.ErrorContains(t, err, "version 9")
	require.NoError(t, os.WriteFile(name, []byte(`{`), 0o600))
	_, err = ReadCheckpoint(name)
	require.ErrorContains(t, err, "federation: checkpoint")
	require.Error(t, WriteCheckpoint(filepath.Join(dir, "missing", "c.json"), nil))
}
