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
// For every device a State (live, late, silent, offline, delayed,
// never_seen, retired): the aggregate stage reports expected-but-missing
// devices with their state, last seen time and age. Roster answers which
// group a device belongs to and how its metrics aggregate (Reducer, Stat,
// Impute).
//
// # Roster rule
//
// The per-device data (Member, Liveness) lives with the device's state in
// its shard; the rules are here:
//
//   - Join: a listed device belongs to its fleet-file group and is expected
//     from the start; an unlisted one joins the group whose match pattern
//     fits, else its site's group (when learning is enabled), and is
//     expected only in windows ending after its first event
//     (Member.ExpectedIn).
//   - Retires: a learned device silent for longer than learn.retire_after
//     retires: it leaves the roster (no longer expected, no longer counted
//     against limits.max_devices) and its State is retired.
//   - Tombstones keep retired devices, reported retired, up to
//     learn.max_retired (default DefaultMaxRetired, split over the shards);
//     past it the oldest retirement is forgotten. A retired device that
//     comes back is learned anew.
//
// # Drops
//
//   - With learning disabled, a device the fleet file neither lists nor
//     matches is rejected as unknown_device (counted by the aggregate stage
//     in rollcall_messages_rejected_total{reason="unknown_device"}).
//   - A retired device past learn.max_retired is forgotten:
//     rollcall_devices_forgotten_total (retirements are counted in
//     rollcall_devices_retired_total). Retired devices are not checkpointed:
//     after a restart they are no longer reported.
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
//
// # Clock rule
//
// Clock (liveness.clock_correction, on by default) measures a device's clock
// offset as the minimum of receive time − event time over blocks of
// ClockBlock readings (delay only adds); two consecutive blocks that agree
// within half of Config.ClockDeadBand make it stable; it then moves down at
// once and up only after ClockRaise agreeing blocks. A stable offset is
// applied when the clock is ahead by more than Config.ClockDeadBand or
// behind by more than Config.ClockMinLag (a smaller lag is transport delay,
// the same on the wire), less the typical delay of the group's honest
// devices (Sample.TypicalDelay), since the offset holds the device's
// quickest delivery. A stamp ahead of its receive time by more than the
// dead band that no stable offset explains, and every reading after a clock
// jump until ClockConfirm readings agree on the new offset, takes the
// receive time minus the device's typical delay: such a stamp never moves a
// watermark and is never rejected future_ts. A step back is a jump only for
// a reading in rhythm (next seq, arriving within four intervals of the
// previous one) or the first of a new boot that suddenly lags: a flushed backlog comes after a gap, a
// replay repeats an old seq, a redelivery (DUP) teaches nothing. The worked
// example is in docs/semantics.md, "Clock correction".
package staleness
