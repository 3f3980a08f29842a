// Package dedup decides, per device, whether a reading is fresh, a duplicate,
// a redelivery or a replay, so that nothing is ever counted twice; and it
// flags devices that keep replaying.
//
// # Consumes
//
// Decoded readings of one device, in arrival order, from the device's shard,
// with the MQTT DUP flag (Reading.Redelivered) and the device's learned
// reporting interval (from staleness).
//
// # Emits
//
// A Verdict per reading (State.Check). Fresh readings (including
// out-of-order ones inside the window) go on to the window stage. Detector
// reports when a device becomes replaying and when it stops.
//
// # Drops
//
// Nothing but Fresh is counted in any aggregate; the aggregate stage counts
// the others:
//
//   - Duplicate: an already-seen message whose event time is within
//     max(replay.min_age, 3 learned intervals) of the device's newest
//     (ReplayConfig.MinAgeFor), the normal QoS 1 redelivery:
//     rollcall_messages_total{outcome="duplicate"} and the duplicates of the
//     window it claims.
//   - Redelivery: an already-seen message the broker flagged DUP, whatever
//     its age: a transport artefact (e.g. a restart lost the
//     acknowledgement), rollcall_messages_total{outcome="duplicate"} only,
//     never the device's duplicate or replay.
//   - Replay: an already-seen old message, a seq behind the window, or an
//     older boot: rollcall_messages_total{outcome="replay"}, the replays of
//     the window it claims, and the device's Detector.
//
// # Algorithm
//
// Per device and boot, a sliding anti-replay bitmap over seq (as in IPsec and
// DTLS) of Config.Window bits: a seq ahead of the newest slides the window, a
// seq inside it is checked against its bit, a seq behind it is a replay. A
// reading without seq falls back to (event time, xxhash of its metrics) in a
// ring of Config.HashSlots entries per device. A Detector flags its device
// replaying after ReplayConfig.Threshold replays within ReplayConfig.Window,
// and clears the flag after ReplayConfig.Quiet without one.
package dedup
