package ingest

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// TestBrokerClosesClientOnTopicWithSpace pins what nats-server's MQTT
// listener does with a topic that holds whitespace (valid MQTT, but not a
// valid NATS subject): it closes the publisher's connection, the broker
// publishes the client's Last Will, and a QoS 1 publish in a persistent
// session is re-sent by the client on every reconnect, so the device
// flaps offline/online until it drops the message. docs/deployment.md
// (Topics with spaces) describes it for operators.
func TestBrokerClosesClientOnTopicWithSpace(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{})
	const status = "rollcall/site-a/wt-01/status"
	statuses := make(chan string, 1000)
	sub := connect(t, b.MQTTURL(), "sub", nil)
	waitToken(t, sub.Subscribe(status, 1, func(_ mqtt.Client, m mqtt.Message) { statuses <- string(m.Payload()) }))

	// One store across connections, as a device's persistent session
	// keeps its in-flight messages: each new connection re-sends them.
	store := mqtt.NewMemoryStore()
	for i := range 3 {
		lost := make(chan error, 1)
		dev := connect(t, b.MQTTURL(), "dev", func(o *mqtt.ClientOptions) {
			o.SetWill(status, "offline", 1, false).SetCleanSession(false).SetStore(store)
			o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
		})
		if i == 0 {
			dev.Publish("rollcall/site a/wt-01/telemetry", 1, false, `{"power_mw":1}`)
		}
		select {
		case err := <-lost:
			require.Error(t, err, "connection %d", i)
		case <-time.After(10 * time.Second):
			t.Fatalf("the broker did not close connection %d", i)
		}
		select {
		case s := <-statuses:
			require.Equal(t, "offline", s, "the broker publishes the Will (connection %d)", i)
		case <-time.After(10 * time.Second):
			t.Fatalf("no Will after connection %d", i)
		}
	}
}
