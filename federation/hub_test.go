package federation

import (
	"context"
	"log/slog"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

func TestLeafDomainSourcing(t *testing.T) {
	hub, err := NewHub(HubConfig{LeafListen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "central"}, slog.Default())
	require.NoError(t, err)
	t.Cleanup(hub.Shutdown)
	leaf, err := ingest.NewBroker(ingest.BrokerConfig{
		Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "gw-a", ServerName: "gw-a",
		Upstream: ingest.LeafRemote{URLs: []string{"nats://" + hub.LeafAddr()}},
	}, slog.Default())
	require.NoError(t, err)
	t.Cleanup(leaf.Shutdown)
	require.Eventually(t, leaf.LeafConnected, 10*time.Second, 10*time.Millisecond)

	ctx := context.Background()
	lc, err := natsgo.Connect(leaf.ClientURL())
	require.NoError(t, err)
	defer lc.Close()
	ljs, _ := jetstream.New(lc)
	_, err = ljs.CreateStream(ctx, jetstream.StreamConfig{Name: "ROLLCALL_PARTIALS", Subjects: []string{"rollcall.v1.partials.>"}})
	require.NoError(t, err)
	_, err = ljs.Publish(ctx, "rollcall.v1.partials.a.b", []byte("x"))
	require.NoError(t, err)

	hc, err := natsgo.Connect(hub.ClientURL())
	require.NoError(t, err)
	defer hc.Close()
	hjs, _ := jetstream.New(hc)
	st, err := hjs.CreateStream(ctx, jetstream.StreamConfig{Name: "FED_gw-a", Sources: []*jetstream.StreamSource{{Name: "ROLLCALL_PARTIALS", Domain: "gw-a"}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		i, err := st.Info(ctx)
		return err == nil && i.State.Msgs == 1
	}, 10*time.Second, 50*time.Millisecond)
}
