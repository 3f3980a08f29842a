package gateway_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/internal/scrape"
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
		m := drainBacklog(t, 0).Metrics(t)
		require.Positive(t, m["rollcall_ingest_queue_waits_total"], "the queue was full (else this test shows nothing)")
		require.Zero(t, m["rollcall_ingest_unacked_total"], "nothing left unacknowledged")
	})
	t.Run("redeliver", func(t *testing.T) {
		m := drainBacklog(t, time.Microsecond).Metrics(t)
		require.Positive(t, m["rollcall_ingest_unacked_total"], "messages were left unacknowledged (else this test shows nothing)")
		require.Positive(t, m["rollcall_ingest_redeliver_reconnects_total"], "the subscriber reconnected for their redelivery")
	})
}

// drainBacklog queues a backlog for a gateway's persistent session at a
// mosquitto while the gateway is down, starts it again with a 64-message
// ingest queue and mqtt.queue_wait wait (0: the default), checks that it
// accepts every message and returns it.
func drainBacklog(t *testing.T, wait time.Duration) *gatewaytest.Gateway {
	mq := testserver.Mosquitto(t)
	cfg := gatewaytest.Config(t)
	cfg.MQTT.URL = mq.URL
	cfg.MQTT.QueueWait = wait
	cfg.Journal.QueueLen = 64
	// Its persistent session stays at the broker and queues the backlog.
	gatewaytest.Start(t, cfg).Stop()

	// 500 readings of each of 10 devices, each device's seq counting from 1
	// (a redelivery far behind its device's newest seq, beyond
	// dedup.window, could not be told from a replay), in the past.
	const n, devs = 5000, 10
	now := time.Now()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("pub-" + filepath.Base(cfg.DataDir)))
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

	gw := gatewaytest.Start(t, cfg)
	accepted := func() bool {
		m, err := scrape.Get(t.Context(), nil, gw.URL+"/metrics")
		return err == nil && m[`rollcall_messages_total{outcome="accepted"}`] == n
	}
	if !assert.Eventually(t, accepted, 60*time.Second, 200*time.Millisecond) {
		m := gw.Metrics(t)
		t.Fatalf("accepted %v of %d (duplicates %v); received %v, unacked %v, reconnects %v", m[`rollcall_messages_total{outcome="accepted"}`], n,
			m[`rollcall_messages_total{outcome="duplicate"}`], m["rollcall_ingest_received_total"],
			m["rollcall_ingest_unacked_total"], m["rollcall_ingest_redeliver_reconnects_total"])
	}
	return gw
}
