package gateway_test

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
)

// TestIntegrationYearOldReadingsOfANewGroup is issue 15's reproduction: a
// gateway with mqtt.qos 0 and no fleet file (devices learned) receives
// 20,000 readings whose event times are a year old, at 10k/s, for a group
// it has never seen. None may be counted accepted without being in an
// aggregate: they are all too_late, and every message has an outcome.
func TestIntegrationYearOldReadingsOfANewGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	cfg := gatewaytest.Config(t)
	cfg.MQTT.QoS = 0
	cfg.Aggregate.EmitInterval = 20 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(gw.MQTTURL).SetClientID("year-old"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(100)
	const n, devs = 20000, 20
	old := time.Now().AddDate(-1, 0, 0)
	tick := time.NewTicker(10 * time.Millisecond) // 100 per tick: 10k/s
	defer tick.Stop()
	for i := range n {
		if i > 0 && i%100 == 0 {
			<-tick.C
		}
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d}}`, i/devs+1, old.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i%100)
		c.Publish(fmt.Sprintf("fleet/s9/d%02d/telemetry", i%devs), 0, false, p)
	}

	// Wait until every message that reached the pipeline has an outcome.
	var m map[string]float64
	require.Eventually(t, func() bool {
		m = gw.Metrics(t)
		received := m["rollcall_messages_received_total"]
		var outcomes float64
		for _, o := range []string{aggregate.OutcomeAccepted, aggregate.OutcomeDuplicate, aggregate.OutcomeReplay, aggregate.OutcomeRejected} {
			outcomes += m[`rollcall_messages_total{outcome="`+o+`"}`]
		}
		return received > 0 && received == outcomes && m["rollcall_ingest_received_total"] == received
	}, 30*time.Second, 100*time.Millisecond, "every received message has an outcome")
	require.Zero(t, m[`rollcall_messages_total{outcome="accepted"}`], "no year-old reading is accepted")
	require.Equal(t, m["rollcall_messages_received_total"], m[`rollcall_messages_rejected_total{reason="too_late"}`], "all are too_late")
	require.Greater(t, m["rollcall_messages_received_total"], float64(n/2), "most reached the pipeline")

	var out struct {
		Aggregates []aggregate.Aggregate `json:"aggregates"`
	}
	get(t, gw.URL+"/api/v1/aggregates?group=s9&metric=power_kw&limit=1000", &out)
	for _, a := range out.Aggregates {
		require.Zero(t, a.Counts.Samples, "no aggregate holds a year-old reading: %v", a.Window.Start)
	}
}
