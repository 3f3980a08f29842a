// Package sim is the fleet simulator (DESIGN.md, "The simulator"): wind
// turbines and generic devices that publish telemetry over MQTT, faults
// scripted per device and time range, and the ground truth that tests score
// rollcall against. cmd/fleetsim runs it against any broker; `rollcall demo`
// runs DemoConfig in process. docs/simulator.md describes the scenario format.
//
// # Consumes
//
// A Scenario (YAML, LoadScenario; shipped examples in sim/scenarios, by name
// with ExampleScenario) and a Config: the broker URL (or Config.Deliver for
// an in-process run), Speed, Start, and a writer for the truth.
//
// # Emits
//
// MQTT messages in the wire format of DESIGN.md, "Wire format", on
// fleet/{site}/{device}/telemetry (Scenario.Topics):
//
//	{"seq":1,"boot":1,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}
//
// Its fields:
//
//   - seq counts a device's readings from 1 within a boot; readings a fault
//     loses still take their number, so the gaps show. boot is the number of
//     the Fleet.Run call, plus one per reboot fault.
//   - ts is the reading's simulated time in UTC, truncated to milliseconds
//     (shifted by a clock_skew fault). At Speed 1 it is the wall clock; at
//     Speed N simulated time runs N times as fast and, by default, starts in
//     the past so that it ends at the wall clock (Config.Start).
//   - Turbines publish power_kw and wind_ms, rounded to 0.1; generic devices
//     the metrics of their site, rounded to their resolution.
//
// Devices with an MQTT connection of their own (offline faults,
// Scenario.LastWill) publish "online" on their status topic when it comes up
// and have the Last Will "offline"; all others share one connection. With
// Config.DevicePasswords every device has a connection of its own and
// authenticates with its identity as username, as a broker with per-device
// credentials requires (a spoof fault then publishes with the spoofer's
// credentials, which such a broker refuses).
//
// A device is named by its fleet-wide identity, site/name (DeviceID), in
// the truth, the Messages and the scenario's fault lists (where a bare name
// still works while it is unique in the fleet); with numbering "site" the
// same names repeat at every site.
//
// The ground truth goes to Config.Truth as JSON lines: a TruthRun, one
// TruthWindow per group, metric and window (the statistics over the devices
// of each device's mean over the samples it generated, published or not), a
// TruthFault per injected fault when it ends, and a TruthEnd. ReadTruth
// parses it. The truth holds one window's sums at a time: its memory is one
// number per device and metric.
//
// # Ordering and delivery
//
// One goroutine runs every device from one event heap in simulated-time
// order (no goroutine or ticker per device); events at equal times run in
// the order they were scheduled. With the same scenario, seed and start, a
// run publishes the same messages in the same order and writes the same
// truth, byte for byte (Config.Deliver; over MQTT the broker may interleave
// connections). The physics (wind field, power curve, generic processes)
// draw from random streams per site and per device, and faults from streams
// of their own, so a fault changes no value (a burst adds samples).
//
// Publishes are at least once at QoS ≥ 1 and the schedule never waits for a
// confirmation, only for a full in-flight window (Config.MaxInflight). When
// the broker or the machine is too slow, readings go out late: nothing is
// skipped, Stats.Lag grows and a warning is logged.
//
// # Losses, each counted (Stats)
//
//   - Lost: readings of a device that is silent, offline or rebooting, and
//     held messages due while their device is offline. Scripted; also in the
//     truth's fault records.
//   - Dropped: held messages past a partition's buffer (the oldest go) or
//     past Config.MaxPending (the newest go); logged at most once per
//     WarnEvery.
//   - Failed: publishes the client failed, or the broker did not confirm
//     within AckTimeout or before the run stopped (DrainTimeout); logged at
//     most once per WarnEvery.
//   - Unsent: messages still held (delayed, buffered, reordered) when the run
//     stopped.
package sim
