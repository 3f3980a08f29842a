// Package ingest is the trust boundary: the MQTT subscription (paho, over
// TCP or TLS), the embedded broker (nats-server with its MQTT listener and
// JetStream; per-device authentication and ACLs, and a TLS listener), topic
// templates and device identities, and the decoding and validation of
// payloads into Readings.
//
// # Consumes
//
// MQTT messages on the telemetry and status topic templates (by default
// fleet/{site}/{device}/telemetry and fleet/{site}/{device}/status), at
// QoS 1 (default) or QoS 0; and, with topics.sparkplug (the default), the
// Sparkplug B namespace spBv1.0/# beside them (sparkplug_topic.go: a
// message kind per Sparkplug type, the identity group/edge or
// group/edge:device; package ingest/sparkplug decodes the payloads in the
// workers). Sparkplug commands and STATE are acknowledged and ignored
// (ErrSparkplugIgnored).
//
// # Emits
//
// Messages, through a Router, to the ingest journal stage (journal/ingestlog),
// which journals them and hands them to the aggregation workers; the
// workers decode them with a Decoder into Readings. The paho callback only
// parses the topic, makes the admission checks that need neither state nor
// decoding (Limits.Admit: payload size, empty payload, a telemetry payload
// that does not open a JSON object), and offers the message to a bounded
// queue: at QoS 0 it
// never blocks (a full queue sheds), at QoS 1 it waits up to
// MQTTConfig.QueueWait (mqtt.queue_wait, at most 5 s, far below the
// keepalive) for room. At QoS 1 a message is acknowledged to the broker
// only after the journal's group commit made it durable (or at once when it
// is rejected before that: in the callback, or too large for the journal); the broker's
// in-flight window (max_ack_pending / max_inflight_messages) bounds what is
// unacknowledged, and with the embedded broker the ingest queue is validated
// to hold it.
//
// # Drops
//
//   - Rejected in the callback, before the journal (Router.Reject; the
//     message is acknowledged, never journaled, counted in
//     rollcall_messages_rejected_total{reason} and
//     rollcall_messages_total{outcome="rejected"}, and sampled): a topic
//     that matches neither template, or whose site or device id is empty,
//     too long or not in IDChars (bad_topic); a telemetry payload over
//     limits.max_payload_bytes or a status payload over
//     MaxStatusPayloadBytes or a Sparkplug payload over
//     limits.sparkplug_max_payload_bytes (too_large); an empty payload, or
//     a telemetry payload that does not start a JSON object (bad_json; an
//     empty Sparkplug payload is bad_protobuf). So one client
//     flooding oversize or garbage payloads cannot fill the journal.
//   - A payload that fails decoding: rejected with its reason (bad_json,
//     bad_ts, future_ts, spoofed, bad_value, too_many_metrics), counted by
//     the worker in rollcall_messages_rejected_total{reason}.
//     spoofed: the payload's device field names another device than the
//     topic (neither its identity nor its name).
//   - With broker.auth, a client publishing on a topic its ACL does not
//     allow (a device on another device's topics) is refused by the
//     embedded broker before rollcall sees the message: not counted here.
//   - QoS 0 while the ingest queue is full: shed,
//     rollcall_ingest_dropped_total{reason="overload"}.
//   - QoS 1 while the ingest queue stays full for mqtt.queue_wait (only when
//     the broker's in-flight window exceeds the queue): not dropped but left
//     unacknowledged for the broker to redeliver,
//     rollcall_ingest_unacked_total.
//
// # Identity
//
// A device is named by its fleet-wide identity, site/name: ID joins the
// topic's site and device placeholders (SplitID inverts it), so that
// wt-01 at site-a and wt-01 at site-b are two devices in every stage,
// store and interface. Message.Device, the devices file and the broker's
// ACLs use it.
//
// # The embedded broker's security
//
// BrokerAuth: a devices file maps each identity to a bcrypt hash (rollcall
// passwd); a device connects with its identity as username and may publish
// only on its own telemetry and status topics (and, with Sparkplug, as the
// edge node of that identity: its node's and devices' messages). Other clients are
// broker.auth.users with explicit topic permissions. BrokerTLS: a TLS MQTT
// listener whose certificate, key and client CA are reloaded on SIGHUP
// (Broker.ReloadTLS); with a client CA every client presents a certificate
// whose CN is its identity or user name. Without auth the broker takes
// anonymous clients, and a listener that is not on loopback is refused at
// start unless broker.allow_anonymous. rollcall's own subscription uses a
// user made at start (Broker.Subscriber).
//
// # Admission limits and the rejects sample
//
// ingest owns the admission limits of the limits: section (Limits): payload
// size, metrics per message, metric name length, future skew, and the
// per-device token bucket (Bucket, Limits.Allow: limits.device_rate,
// limits.device_burst). It also owns the reject reasons (ReasonIndex indexes
// counters kept in arrays) and the bounded, rate-limited sample of rejected
// messages behind GET /api/v1/rejects (RejectLog: DefaultRejectSamples
// kept, at most DefaultRejectSampleRate per second, MaxRejectPayload bytes
// of each payload). The aggregation workers apply the limits: a known
// device past its rate is rejected before decoding, counted in
// rollcall_messages_rejected_total{reason="rate_limited"}; a rejection past
// the sample rate is only counted (not_sampled in the API).
package ingest
