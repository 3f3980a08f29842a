package gateway

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// TestIntegrationMosquittoBacklog drains a persistent session's backlog
// of 5,000 messages from Debian's mosquitto 2.0.11 through a 64-message
// ingest queue. mosquitto sends past its in-flight window to a client that
// acknowledges in batches, so the queue fills:
//   - by default the callback waits for room (mqtt.queue_wait), TCP holds
//     mosquitto back, and nothing is left unacknowledged;
//   - with a queue_wait too short to find room, messages are left
//     unacknowledged, which mosquitto redelivers only at a reconnect: the
//     subscriber reconnects once the flow stops (mqtt.redeliver_after).
//
// Either way every message is accepted, once.
func TestIntegrationMosquittoBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	t.Run("wait", func(t *testing.T) {
		g := drainBacklog(t, 0)
		require.Positive(t, metricValue(t, g, "rollcall_ingest_queue_waits_total"), "the queue was full (else this test shows nothing)")
		require.Zero(t, metricValue(t, g, "rollcall_ingest_unacked_total"), "nothing left unacknowledged")
	})
	t.Run("redeliver", func(t *testing.T) {
		g := drainBacklog(t, time.Microsecond)
		require.Positive(t, metricValue(t, g, "rollcall_ingest_unacked_total"), "messages were left unacknowledged (else this test shows nothing)")
		require.Positive(t, metricValue(t, g, "rollcall_ingest_redeliver_reconnects_total"), "the subscriber reconnected for their redelivery")
	})
}

// drainBacklog queues a backlog for a gateway's persistent session at a
// mosquitto while the gateway is down, starts it again with a 64-message
// ingest queue and mqtt.queue_wait wait (0: the default), checks that it
// accepts every message and returns it.
func drainBacklog(t *testing.T, wait time.Duration) *Gateway {
	mq := testserver.Mosquitto(t)
	dir := t.TempDir()
	mutate := func(c *Config) {
		c.MQTT.URL = mq.URL
		c.MQTT.QueueWait = wait
		c.Journal.QueueLen = 64
	}
	_, stop := startGateway(t, dir, mutate)
	stop() // its persistent session stays at the broker and queues the backlog

	// 500 readings of each of 10 devices, each device's seq counting from 1
	// (a redelivery far behind its device's newest seq, beyond
	// dedup.window, could not be told from a replay), in the past.
	const n, devs = 5000, 10
	now := time.Now()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("pub-" + filepath.Base(dir)))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	for i := range n {
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d}}`, i/devs+1, now.Add(time.Duration(i-n)*time.Millisecond).UnixMilli(), i%100)
		pt := c.Publish(fmt.Sprintf("fleet/s/d%02d/telemetry", i%devs), 1, false, p)
		require.True(t, pt.WaitTimeout(10*time.Second))
		require.NoError(t, pt.Error())
	}
	c.Disconnect(100)

	g, stop := startGateway(t, dir, mutate)
	t.Cleanup(stop)
	accepted := func() float64 { return counter(t, g.reg, "rollcall_messages_total", "outcome", "accepted") }
	if !assertEventually(func() bool { return accepted() == n }, 60*time.Second) {
		t.Fatalf("accepted %v of %d (duplicates %v); received %v, unacked %v, reconnects %v", accepted(), n,
			counter(t, g.reg, "rollcall_messages_total", "outcome", "duplicate"), metricValue(t, g, "rollcall_ingest_received_total"),
			metricValue(t, g, "rollcall_ingest_unacked_total"), metricValue(t, g, "rollcall_ingest_redeliver_reconnects_total"))
	}
	return g
}

// metricValue returns the value of the unlabelled counter or gauge name.
func metricValue(t *testing.T, g *Gateway, name string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}
