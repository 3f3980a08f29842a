package federation

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

// TestHubSourcesLeafDomain: a stream on the hub that sources a stream in a
// leaf node's JetStream domain, created before the leaf node connects and
// its stream exists, receives what the leaf node stored.
func TestHubSourcesLeafDomain(t *testing.T) {
	hub, err := NewHub(HubConfig{LeafListen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "central"}, nil)
	require.NoError(t, err)
	t.Cleanup(hub.Shutdown)
	ctx := context.Background()
	require.Equal(t, 0, hub.LeafNodes())
	hc, err := natsgo.Connect(hub.ClientURL())
	require.NoError(t, err)
	defer hc.Close()
	hjs, err := jetstream.New(hc)
	require.NoError(t, err)
	st, err := hjs.CreateStream(ctx, jetstream.StreamConfig{Name: "FED_gw-a", Sources: []*jetstream.StreamSource{{Name: "ROLLCALL_PARTIALS", Domain: "gw-a"}}})
	require.NoError(t, err)
	leaf, err := ingest.NewBroker(ingest.BrokerConfig{
		Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "gw-a", ServerName: "gw-a",
		Upstream: ingest.LeafRemote{URLs: []string{"nats://" + hub.LeafAddr()}},
	}, nil)
	require.NoError(t, err)
	t.Cleanup(leaf.Shutdown)
	require.Eventually(t, func() bool { return hub.LeafNodes() == 1 }, 10*time.Second, 10*time.Millisecond)
	lc, err := natsgo.Connect(leaf.ClientURL())
	require.NoError(t, err)
	defer lc.Close()
	ljs, err := jetstream.New(lc)
	require.NoError(t, err)
	_, err = ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "ROLLCALL_PARTIALS", Subjects: []string{"rollcall.v1.partials.>"}})
	require.NoError(t, err)
	_, err = ljs.Publish(ctx, "rollcall.v1.partials.a.b", []byte("x"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		i, err := st.Info(ctx)
		return err == nil && i.State.Msgs == 1
	}, 30*time.Second, 50*time.Millisecond)
}
