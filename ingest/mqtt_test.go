package ingest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// fakeRouter records what the subscriber hands it. With refuse set, Offer
// returns false (a full queue).
type fakeRouter struct {
	mu      sync.Mutex
	refuse  bool
	msgs    []Message
	offers  int
	rejects map[string]int
	// rejections are the Reject calls, in order.
	rejections []Rejection
}

func (r *fakeRouter) Offer(m Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offers++
	if r.refuse {
		return false
	}
	r.msgs = append(r.msgs, m)
	return true
}

func (r *fakeRouter) Reject(rej Rejection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rejects == nil {
		r.rejects = map[string]int{}
	}
	r.rejects[rej.Reason]++
	r.rejections = append(r.rejections, rej)
}

func (r *fakeRouter) snapshot() (msgs []Message, offers int, rejects map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rej := map[string]int{}
	for k, v := range r.rejects {
		rej[k] = v
	}
	return append([]Message(nil), r.msgs...), r.offers, rej
}

func startSubscriber(t *testing.T, url string, qos int, r Router) *Subscriber {
	t.Helper()
	topics, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	s, err := NewSubscriber(MQTTConfig{URL: url, ClientID: "rollcall-" + t.Name(), QoS: qos, CleanSession: true}, Limits{}, topics, r, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	s.Start()
	t.Cleanup(s.Stop)
	require.Eventually(t, s.Connected, 10*time.Second, 10*time.Millisecond)
	return s
}

func TestSubscriberRoutesAndRejectsBadTopics(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	r := &fakeRouter{}
	startSubscriber(t, b.MQTTURL(), 1, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	waitToken(t, pub.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	waitToken(t, pub.Publish("fleet/site-a/wt-01/status", 1, false, `offline`))
	waitToken(t, pub.Publish("fleet/site-a/"+strings.Repeat("x", 200)+"/telemetry", 1, false, `{}`)) // id too long
	waitToken(t, pub.Publish("fleet/site-a/wt-01/status", 1, false, strings.Repeat("x", MaxStatusPayloadBytes+1)))
	require.Eventually(t, func() bool {
		msgs, _, rej := r.snapshot()
		return len(msgs) == 2 && rej[ReasonBadTopic] == 1 && rej[ReasonTooLarge] == 1
	}, 10*time.Second, 10*time.Millisecond)
	msgs, _, _ := r.snapshot()
	r.mu.Lock()
	rejections := slices.Clone(r.rejections) // two subscriptions: in either order
	r.mu.Unlock()
	slices.SortFunc(rejections, func(a, b Rejection) int { return strings.Compare(a.Reason, b.Reason) })
	require.Equal(t, ReasonTooLarge, rejections[1].Reason, "the status payload over its limit")
	require.Equal(t, "site-a/wt-01", rejections[1].Device)
	rej := rejections[0]
	require.Equal(t, ReasonBadTopic, rej.Reason)
	require.Contains(t, rej.Topic, strings.Repeat("x", 200))
	require.NotEmpty(t, rej.Detail)
	require.NotZero(t, rej.Received)
	require.Equal(t, TopicTelemetry, msgs[0].Kind)
	require.Equal(t, "site-a", msgs[0].Site)
	require.Equal(t, "site-a/wt-01", msgs[0].Device, "the device is its fleet-wide identity")
	require.JSONEq(t, `{"metrics":{"x":1}}`, string(msgs[0].Payload))
	require.NotNil(t, msgs[0].Ack, "QoS 1 messages carry their ack")
	require.NotZero(t, msgs[0].Received)
	require.Equal(t, TopicStatus, msgs[1].Kind)
}

// A payload that fails the stateless checks is rejected in the callback
// with its reason and never offered to the ingest queue (the journal), and
// it is acknowledged: with an in-flight window of one message, the normal
// message behind it arrives only because it was.
func TestSubscriberRejectsBeforeTheJournal(t *testing.T) {
	b := startBroker(t, BrokerConfig{MaxAckPending: 1})
	r := &fakeRouter{}
	startSubscriber(t, b.MQTTURL(), 1, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	oversize := `{"metrics":{"x":1}}` + strings.Repeat(" ", DefaultMaxPayloadBytes)
	waitToken(t, pub.Publish("fleet/site-a/wt-01/telemetry", 1, false, oversize))
	waitToken(t, pub.Publish("fleet/site-a/wt-01/telemetry", 1, false, "\xff garbage"))
	waitToken(t, pub.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":2}}`))
	require.Eventually(t, func() bool { msgs, _, _ := r.snapshot(); return len(msgs) == 1 }, 10*time.Second, 10*time.Millisecond)
	msgs, offers, rej := r.snapshot()
	require.Len(t, msgs, 1)
	require.JSONEq(t, `{"metrics":{"x":2}}`, string(msgs[0].Payload), "the normal message behind them is processed")
	require.Equal(t, 1, offers, "nothing rejected was offered to the journal")
	require.Equal(t, map[string]int{ReasonTooLarge: 1, ReasonBadJSON: 1}, rej)
	r.mu.Lock()
	first := r.rejections[0]
	r.mu.Unlock()
	require.Equal(t, "site-a", first.Site)
	require.Equal(t, "site-a/wt-01", first.Device)
	require.Equal(t, "fleet/site-a/wt-01/telemetry", first.Topic)
	require.Contains(t, first.Detail, "max_payload_bytes")
	require.Len(t, first.Payload, len(oversize), "the router samples it")
}

func TestSubscriberShedsQoS0WhenFull(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	r := &fakeRouter{refuse: true}
	s := startSubscriber(t, b.MQTTURL(), 0, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	publishN(t, pub, "fleet/s/d/telemetry", 0, 25)
	require.Eventually(t, func() bool { _, offers, _ := r.snapshot(); return offers == 25 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 25.0, testutil.ToFloat64(s.dropped.WithLabelValues(DropOverload)))
	require.Zero(t, testutil.ToFloat64(s.unacked))
}

// At QoS 1 a message the queue cannot take is not dropped: it stays
// unacknowledged and the broker redelivers it.
func TestSubscriberLeavesQoS1UnackedWhenFull(t *testing.T) {
	b := startBroker(t, BrokerConfig{AckWait: time.Second})
	r := &fakeRouter{refuse: true}
	s := startSubscriber(t, b.MQTTURL(), 1, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	waitToken(t, pub.Publish("fleet/s/d/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.unacked) >= 1 }, 10*time.Second, 10*time.Millisecond)
	require.Zero(t, testutil.ToFloat64(s.dropped.WithLabelValues(DropOverload)))
	// Once there is room, the redelivery (after ack_wait) is taken.
	r.mu.Lock()
	r.refuse = false
	r.mu.Unlock()
	require.Eventually(t, func() bool { msgs, _, _ := r.snapshot(); return len(msgs) == 1 }, 10*time.Second, 20*time.Millisecond)
	msgs, _, _ := r.snapshot()
	require.True(t, msgs[0].Redelivered, "the broker marks the redelivery DUP")
}

// Backpressure: the broker delivers at most max_ack_pending unacknowledged
// messages; acknowledging releases more.
func TestSubscriberAckGatesDelivery(t *testing.T) {
	const window = 10
	b := startBroker(t, BrokerConfig{MaxAckPending: window})
	r := &fakeRouter{}
	startSubscriber(t, b.MQTTURL(), 1, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	publishN(t, pub, "fleet/s/d/telemetry", 1, 3*window)
	require.Eventually(t, func() bool { msgs, _, _ := r.snapshot(); return len(msgs) == window }, 10*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { msgs, _, _ := r.snapshot(); return len(msgs) > window }, 300*time.Millisecond, 20*time.Millisecond)
	msgs, _, _ := r.snapshot()
	for _, m := range msgs {
		m.Ack()
	}
	require.Eventually(t, func() bool { msgs, _, _ := r.snapshot(); return len(msgs) == 2*window }, 10*time.Second, 10*time.Millisecond)
}

func TestMQTTConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  MQTTConfig
		want string
	}{
		{"missing url", MQTTConfig{}, "mqtt.url"},
		{"qos 2", MQTTConfig{URL: "tcp://x:1", QoS: 2}, "mqtt.qos"},
		{"short keepalive", MQTTConfig{URL: "tcp://x:1", KeepAlive: time.Millisecond}, "mqtt.keep_alive"},
		{"short redeliver_after", MQTTConfig{URL: "tcp://x:1", RedeliverAfter: time.Millisecond}, "mqtt.redeliver_after"},
		{"long queue_wait", MQTTConfig{URL: "tcp://x:1", QueueWait: 10 * time.Second}, "mqtt.queue_wait"},
		{"negative queue_wait", MQTTConfig{URL: "tcp://x:1", QueueWait: -time.Second}, "mqtt.queue_wait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, MQTTConfig{URL: "tcp://x:1", QoS: 1}.WithDefaults().Validate())
}

// waitRouter is a fakeRouter that is a WaitRouter, with Room settable.
type waitRouter struct {
	fakeRouter
	room bool
}

func (r *waitRouter) OfferWait(m Message, _ time.Duration) bool { return r.Offer(m) }

func (r *waitRouter) Room() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.room
}

func (r *waitRouter) set(refuse, room bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse, r.room = refuse, room
}

// A QoS 1 message the queue refused is redelivered by a reconnect, but only
// once the queue has room: a reconnect into a stuck queue would only bring
// the same refusal again.
func TestSubscriberReconnectsForRedeliveryWhenRoom(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	r := &waitRouter{}
	r.set(true, false)
	s := startSubscriber(t, b.MQTTURL(), 1, r)
	pub := connect(t, b.MQTTURL(), "pub", nil)
	waitToken(t, pub.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.unacked) == 1 }, 10*time.Second, 10*time.Millisecond)

	// No room: no reconnect, however long the flow has stopped (here
	// over twice mqtt.redeliver_after).
	time.Sleep(2*DefaultRedeliverAfter + DefaultRedeliverAfter/2)
	require.Zero(t, testutil.ToFloat64(s.reconnects), "no reconnect while the queue is full")

	r.set(false, true)
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.reconnects) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, s.Connected, 10*time.Second, 10*time.Millisecond)
}
