// Package dedup decides, per device, whether a reading is fresh, a duplicate
// or a replay, so that nothing is ever counted twice.
//
// # Consumes
//
// Decoded readings of one device, in arrival order, from the device's shard.
//
// # Emits
//
// A Verdict per reading. Fresh readings (including out-of-order ones inside
// the window) go on to the window stage.
//
// # Drops
//
// Duplicates (an already-seen message whose event time is within
// Config.ReplayMinAge of the device's newest: the normal QoS 1 redelivery)
// and replays (an already-seen old message, a seq behind the window, or an
// older boot) are not counted in any aggregate; the aggregate stage counts
// them in rollcall_messages_total{outcome="duplicate"|"replay"} and in the
// counts of the window they claim to belong to.
//
// # Algorithm
//
// Per device and boot, a sliding anti-replay bitmap over seq (as in IPsec and
// DTLS) of Config.Window bits: a seq ahead of the newest slides the window, a
// seq inside it is checked against its bit, a seq behind it is a replay. A
// reading without seq falls back to (event time, xxhash of its metrics) in a
// ring of Config.HashSlots entries per device.
package dedup
