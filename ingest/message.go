package ingest

import "time"

// Message is one MQTT message on its way from the subscription callback to
// the device's worker, where it is decoded. The callback only parses the
// topic (to route by device) so that it never blocks and never does the
// payload work.
type Message struct {
	Kind TopicKind
	Site string
	// Device is the fleet-wide identity, site/name (ID).
	Device string
	// Payload is owned by the message; nobody modifies it.
	Payload []byte
	// Received is the gateway's receive time, Unix nanoseconds.
	Received int64
	// Redelivered is the MQTT DUP flag.
	Redelivered bool
	// Index is the message's journal index once it is journaled (0 before,
	// or without a journal).
	Index uint64
	// Ack acknowledges the message to the broker (QoS 1). It is nil when
	// there is nothing to acknowledge (QoS 0). The consumer calls it exactly
	// once, after the message has been accepted (or rejected for good).
	Ack func()
}

// Router takes messages from the subscription callback. Offer must not
// block: it returns false when the message cannot be queued, and the caller
// then counts it as dropped (QoS 0) or leaves it unacknowledged for the
// broker to redeliver (QoS 1). Reject counts a message rejected before it
// could be routed (e.g. bad_topic); it must not block either. Both are
// called from one goroutine at a time.
type Router interface {
	Offer(m Message) bool
	Reject(r Rejection)
}

// WaitRouter is a Router that can also wait, up to a bound, for room: the
// subscriber uses it for QoS 1 messages (see MQTTConfig.QueueWait).
type WaitRouter interface {
	Router
	// OfferWait is Offer, waiting up to wait for room.
	OfferWait(m Message, wait time.Duration) bool
	// Room reports whether Offer would take a message now: the subscriber
	// reconnects for a redelivery only then (see MQTTConfig.RedeliverAfter).
	Room() bool
}

// Rejection is a message rejected before routing.
type Rejection struct {
	// Reason is a Reason* constant; Detail says what exactly was wrong.
	Reason, Detail string
	Topic          string
	// Site and Device are the topic's, when it parsed (empty for
	// bad_topic); Device is the fleet-wide identity, site/name.
	Site, Device string
	// Payload is owned by the rejection; nobody modifies it.
	Payload []byte
	// Received is the gateway's receive time, Unix nanoseconds.
	Received int64
}
