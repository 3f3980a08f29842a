package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/journal"
)

// startGateway runs a gateway with the embedded broker on random ports.
func startGateway(t *testing.T, dir string, mutate func(*Config)) (*Gateway, func()) {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	cfg.MQTT.ClientID = "rollcall-" + filepath.Base(dir)
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := New(cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	require.Eventually(t, func() bool { return g.ready() == nil }, 10*time.Second, 20*time.Millisecond)
	return g, func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func publishN(t *testing.T, url string, n int, ts func(i int) time.Time) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(100)
	for i := range n {
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"pad":%q,"metrics":{"power_kw":%d}}`, i+1, ts(i).UnixMilli(), strings.Repeat("x", 200), i%100)
		pt := c.Publish(fmt.Sprintf("fleet/s/d%02d/telemetry", i%10), 1, false, p)
		require.True(t, pt.WaitTimeout(10*time.Second))
		require.NoError(t, pt.Error())
	}
}

// A journal that fills up stops acknowledging (backpressure), and the next
// checkpoint frees it: nothing is lost and ingest goes on.
func TestIntegrationJournalFullRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	g, stop := startGateway(t, t.TempDir(), func(c *Config) {
		c.Journal.SegmentBytes = 16 << 10
		c.Journal.MaxBytes = 32 << 10
		c.Journal.BlockBytes = 4 << 10
		c.Journal.Compression = journal.CompressionNone
		c.Checkpoint.Interval = 200 * time.Millisecond
	})
	defer stop()
	const n = 2000 // ~500 KB of records through a 32 KiB journal
	now := time.Now()
	publishN(t, g.MQTTURL(), n, func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) })
	ok := assertEventually(func() bool {
		return counter(t, g.reg, "rollcall_messages_total", "outcome", "accepted") == n
	}, 60*time.Second)
	if !ok {
		mfs, _ := g.reg.Gather()
		for _, mf := range mfs {
			if strings.Contains(mf.GetName(), "journal") || strings.Contains(mf.GetName(), "checkpoint") || mf.GetName() == "rollcall_messages_total" {
				for _, m := range mf.GetMetric() {
					t.Logf("%s %v %v %v", mf.GetName(), m.GetLabel(), m.GetCounter().GetValue(), m.GetGauge().GetValue())
				}
			}
		}
		t.Fatalf("not every message accepted; ready: %v", g.ready())
	}
	require.Positive(t, counter(t, g.reg, "rollcall_journal_full_total", "journal", "ingest"), "the journal did fill up")
	require.Positive(t, testutil.ToFloat64(g.ckTime), "checkpoints ran")
}

func assertEventually(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling metrics, not synchronising
	}
	return cond()
}

// counter returns the value of the counter name whose label has value.
func counter(t *testing.T, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A restart with another shard count replays the journal's readings and
// starts (the rounds cannot be repeated exactly, nothing is lost).
func TestIntegrationRestartWithOtherShardCount(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	dir := t.TempDir()
	g, stop := startGateway(t, dir, func(c *Config) {
		c.Aggregate.Shards = 2
		c.Checkpoint.Interval = time.Hour // everything is in the journal
	})
	now := time.Now()
	publishN(t, g.MQTTURL(), 50, func(i int) time.Time { return now.Add(time.Duration(i) * 10 * time.Millisecond) })
	require.Eventually(t, func() bool {
		return counter(t, g.reg, "rollcall_messages_total", "outcome", "accepted") == 50
	}, 10*time.Second, 20*time.Millisecond)
	// Kill-like: remove the shutdown checkpoint so the restart must replay.
	stop()
	require.NoError(t, os.Remove(filepath.Join(dir, "checkpoint", checkpointFile)))
	g2, stop2 := startGateway(t, dir, func(c *Config) { c.Aggregate.Shards = 3 })
	defer stop2()
	devs, err := g2.engine.Devices(context.Background(), aggregate.DeviceFilter{})
	require.NoError(t, err)
	var accepted uint64
	for _, d := range devs {
		accepted += d.Counts.Accepted
	}
	require.Equal(t, uint64(50), accepted, "every journaled reading replayed")
}
