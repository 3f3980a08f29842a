package federation

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/ingest"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

// runSource runs a Source over merger until the returned stop is called.
func runSource(t *testing.T, url string, m *Merger, checkpoint func(context.Context, []natssink.Message) error) (stop func()) {
	t.Helper()
	s, err := NewSource(SourceConfig{
		URL: url, Gateways: []string{"gw-a"}, Replicas: 1, MaxGateways: 10,
		CheckpointInterval: 100 * time.Millisecond, AckWait: time.Second, Checkpoint: checkpoint,
	}, m, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	return func() { cancel(); wg.Wait(); s.Close() }
}

// TestSourceAcksAfterCheckpoint: what the central tier merged but could
// not checkpoint is not acknowledged, and JetStream delivers it again
// after a crash; what it checkpointed is acknowledged and restored from
// the checkpoint, not delivered again.
func TestSourceAcksAfterCheckpoint(t *testing.T) {
	hub, err := NewHub(HubConfig{LeafListen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "central"}, nil)
	require.NoError(t, err)
	t.Cleanup(hub.Shutdown)
	leaf, err := ingest.NewBroker(ingest.BrokerConfig{
		Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Domain: "gw-a", ServerName: "gw-a",
		Upstream: ingest.LeafRemote{URLs: []string{"nats://" + hub.LeafAddr()}},
	}, nil)
	require.NoError(t, err)
	t.Cleanup(leaf.Shutdown)
	sk, err := natssink.New(natssink.Config{URL: leaf.ClientURL(), GatewayID: "gw-a"}.WithDefaults(), nil, prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(sk.Close)
	for i := range 3 {
		m := msg("gw-a", i, 0, true, []float64{100}, 0)
		p := m.Partial()
		require.NoError(t, sk.WritePartial(context.Background(), aggregate.Aggregate{
			Final: true, EmittedAt: m.EmittedAt,
			Staleness: aggregate.Staleness{Watermark: m.Watermark},
		}, &p))
	}
	newMerger := func() *Merger {
		m, err := NewMerger(MergerConfig{MaxListed: 10, MaxWindows: 8}, &recorder{}, nil)
		require.NoError(t, err)
		return m
	}

	// A central tier whose checkpoints fail merges but acknowledges nothing.
	m1 := newMerger()
	stop := runSource(t, hub.ClientURL(), m1, func(context.Context, []natssink.Message) error { return errors.New("disk full") })
	require.Eventually(t, func() bool { return testutil.ToFloat64(m1.m.merged) == 3 }, 30*time.Second, 10*time.Millisecond)
	stop() // the crash

	// After the restart JetStream delivers the three again.
	file := filepath.Join(t.TempDir(), "checkpoint.json")
	write := func(_ context.Context, msgs []natssink.Message) error { return WriteCheckpoint(file, msgs) }
	m2 := newMerger()
	stop = runSource(t, hub.ClientURL(), m2, write)
	require.Eventually(t, func() bool { return testutil.ToFloat64(m2.m.merged) == 3 }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		msgs, err := ReadCheckpoint(file)
		return err == nil && len(msgs) == 3
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return settled(t, hub) }, 10*time.Second, 10*time.Millisecond, "all three acknowledged")
	stop()

	// Restored from the checkpoint; nothing delivered again.
	m3 := newMerger()
	msgs, err := ReadCheckpoint(file)
	require.NoError(t, err)
	m3.Restore(msgs)
	require.Equal(t, 3.0, testutil.ToFloat64(m3.m.merged))
	stop = runSource(t, hub.ClientURL(), m3, write)
	defer stop()
	require.True(t, settled(t, hub), "nothing left to deliver or redeliver")
	require.Equal(t, 3.0, testutil.ToFloat64(m3.m.merged))
	require.Zero(t, testutil.ToFloat64(m3.m.repeated), "nothing redelivered")
}

// settled reports whether the central consumer of gw-a has delivered and
// had acknowledged every partial of its stream.
func settled(t *testing.T, hub *Hub) bool {
	nc, err := natsgo.Connect(hub.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	c, err := js.Consumer(context.Background(), StreamPrefix+"gw-a", ConsumerName)
	if err != nil {
		return false
	}
	i := c.CachedInfo()
	return i.NumPending == 0 && i.NumAckPending == 0 && i.AckFloor.Stream == 3
}
