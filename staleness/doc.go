// Package staleness owns the roster and per-device liveness.
//
// # Consumes
//
// The fleet file (groups, devices, each metric's physical envelope and
// reducers), accepted readings (arrival and event times) and status / Last
// Will messages ("online", "offline").
//
// # Emits
//
// For every device a State (live, late, silent, offline, never_seen, ...):
// the aggregate stage reports expected-but-missing devices with their state,
// last seen time and age. Roster answers which group a device belongs to and
// how its metrics aggregate; unlisted devices are learned into their site's
// group when learning is enabled.
//
// # Drops
//
// With learning disabled, a device the fleet file neither lists nor matches
// is rejected as unknown_device (counted by the aggregate stage in
// rollcall_messages_rejected_total{reason="unknown_device"}).
//
// # Liveness rule
//
// A device is late after LateAfterIntervals and silent after
// SilentAfterIntervals of its learned reporting interval (an EWMA of its
// inter-arrival times, seeded by the fleet file), so a device that reports
// every minute is not called late after two seconds.
package staleness
