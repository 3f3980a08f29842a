package gateway

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// TestIntegrationMosquittoBacklogRedelivered: Debian's mosquitto 2.0.11
// sends a persistent session's backlog past its in-flight window to a
// client that acknowledges in batches, so a small ingest queue overflows
// and what it refused stays unacknowledged; mosquitto redelivers that only
// at a reconnect. The subscriber reconnects once the queue has room again,
// and every message is accepted.
func TestIntegrationMosquittoBacklogRedelivered(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	mq := testserver.Mosquitto(t)
	dir := t.TempDir()
	mutate := func(c *Config) {
		c.MQTT.URL = mq.URL
		c.Journal.QueueLen = 64
	}
	_, stop := startGateway(t, dir, mutate)
	stop() // its persistent session stays at the broker and queues the backlog

	// 500 readings of each of 10 devices, each device's seq counting from 1
	// (a redelivery far behind its device's newest seq, beyond
	// dedup.window, could not be told from a replay).
	const n = 5000
	now := time.Now()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("pub-" + filepath.Base(dir)))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	for i := range n {
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d}}`, i/10+1, now.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i%100)
		pt := c.Publish(fmt.Sprintf("fleet/s/d%02d/telemetry", i%10), 1, false, p)
		require.True(t, pt.WaitTimeout(10*time.Second))
		require.NoError(t, pt.Error())
	}
	c.Disconnect(100)

	g, stop := startGateway(t, dir, mutate)
	defer stop()
	accepted := func() float64 { return counter(t, g.reg, "rollcall_messages_total", "outcome", "accepted") }
	if !assertEventually(func() bool { return accepted() == n }, 60*time.Second) {
		t.Fatalf("accepted %v of %d (duplicates %v); received %v, unacked %v, reconnects %v", accepted(), n,
			counter(t, g.reg, "rollcall_messages_total", "outcome", "duplicate"), metricValue(t, g, "rollcall_ingest_received_total"),
			metricValue(t, g, "rollcall_ingest_unacked_total"), metricValue(t, g, "rollcall_ingest_redeliver_reconnects_total"))
	}
	require.Positive(t, metricValue(t, g, "rollcall_ingest_unacked_total"), "the queue overflowed (else this test shows nothing)")
	require.Positive(t, metricValue(t, g, "rollcall_ingest_redeliver_reconnects_total"), "the subscriber reconnected for the redelivery")
}

// metricValue returns the value of the unlabelled counter or gauge name.
func metricValue(t *testing.T, g *Gateway, name string) float64 {
	t.Helper()
	v, err := testutil.GatherAndCount(g.reg, name)
	require.NoError(t, err)
	if v == 0 {
		return 0
	}
	mfs, err := g.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}
