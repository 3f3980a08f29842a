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
// Phi accrual (Hayashibara et al.): per device an EWMA of the mean and
// variance of its inter-arrival times (seeded by the fleet file's interval;
// only readings that advance its event time count, so a flushed backlog
// does not teach a false rhythm), and phi = −log10 P(quiet this long) under
// a normal model whose standard deviation is floored (Config.MinStdDev,
// Config.StdDevRatio). A device is late from Config.PhiLate and silent from
// Config.PhiSilent, so a device that reports every minute is not called late
// after two seconds, and a 1 Hz device is late after about 2.4 s and silent
// after about 6.3 s. A device whose newest reading lags its receive time by
// more than Config.DelayTolerance is delayed (backfilling); an "offline"
// status or Last Will makes it offline until its next reading.
package staleness
