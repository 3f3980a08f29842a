// Package sim is a small simulated fleet of wind turbines that publishes
// telemetry to an MQTT broker. It is the in-process stand-in that
// `rollcall demo` runs (DemoConfig: two sites of 20 turbines, wt-07 in
// site-a going silent after 3s, so site-a reports 19 of 20); the full scenario-driven simulator, fleetsim, comes
// later (DESIGN.md, "The simulator").
//
// # What it emits
//
// Each device publishes one reading per Config.Interval on its own telemetry
// topic (Config.TopicTemplate, by default fleet/{site}/{device}/telemetry),
// in the wire format of DESIGN.md, "Wire format":
//
//	{"seq":1,"boot":1,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}
//
// The fields:
//
//   - seq counts a device's published readings from 1, without gaps.
//   - boot is the number of the Fleet.Run call (1 for the first): each run is
//     a restart of every device.
//   - ts is the reading's scheduled time in UTC, truncated to milliseconds,
//     not the time it was actually sent.
//   - wind_ms is the site's wind (an AR(1) process around 9 m/s, clamped to
//     [0, 30]) plus per-turbine noise; power_kw is PowerKW at that speed. Both
//     are rounded to 0.1, and power_kw is exactly the rounded PowerKW(wind_ms).
//
// Devices are numbered across the fleet (with 10 per site, site-a has
// wt-01 … wt-10 and site-b wt-11 … wt-20). Their publishes are spread evenly over the interval in fleet
// order, so they do not all arrive at once. One goroutine, woken by one
// ticker, runs the whole schedule; one MQTT client (clean session, no Last
// Will) publishes for every device.
//
// # Determinism
//
// The values depend only on Config.Seed and the fleet's layout (sites and
// devices per site): a run draws them round by round from a seeded PCG
// generator, including the rounds and devices it does not publish. The
// timestamps follow the schedule, so with an injected Config.Now the whole
// message stream is reproducible; only the MQTT client id is random.
//
// # Faults
//
// Config.Faults scripts per-device faults. Only FaultSilent exists: the
// device stops publishing at Fault.After after the start, without a Last
// Will.
//
// # Delivery and losses
//
// Publishes are at least once (QoS 1 by default); the schedule never waits
// for a confirmation. Readings are lost in two ways, each counted and logged
// at Warn at most once per WarnEvery:
//
//   - Fleet.Missed: the fleet fell more than one Interval behind its schedule
//     (a stalled process or a publish blocked on the connection) and skipped
//     the overdue readings. seq does not advance for them.
//   - Fleet.Failed: the client reported an error for a publish, or it was
//     unconfirmed after AckTimeout or when Run stopped (after DrainTimeout).
//     These are included in Fleet.Sent, and seq advanced for them.
package sim
