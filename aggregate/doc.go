// Package aggregate turns accepted readings into event-time windowed
// aggregates that say how much of the fleet they saw: two-level mergeable
// summaries (per device in a window, then across a group's devices),
// coverage, uncertainty bounds and imputation, the Aggregate type.
//
// Work is sharded by device (hash of its id) over Config.Shards workers;
// each worker owns the dedup, liveness, roster membership and window state
// of its devices, so the hot path takes no lock. A coordinator (Engine.Run)
// advances each group's watermark every Config.EmitInterval, asks the
// workers for the partials of due windows (a typed fan-out, ask) and merges
// them with the same code that merges partials from several gateways.
//
// The rules the workers apply live in the packages DESIGN.md gives them:
// admission limits, decoding and the rejects sample in ingest
// (Limits.Allow, Decoder, RejectLog); roster membership, retirement and
// device states in staleness (Roster.Join, Roster.Retires, Member); the
// duplicate/replay verdict in dedup (State.Check); the window lifecycle in
// window (the watermark: Config.Watermark; each reading's accept / revise /
// too_late: Gate.Decide; due windows: Lifecycle; revision numbers:
// Revisions); reducers, statistics and
// imputation policies are staleness.Reducer, Stat and Impute. This package
// holds the per-device data and the aggregation itself.
//
// # Consumes
//
// ingest.Messages (telemetry and status), queued on their device's worker
// (Config.QueueLen per worker, rollcall_aggregate_queue_length / _capacity)
// by Engine.Submit, which waits while the queue is full (the ingest
// journal's path: backpressure), or Engine.Offer, which never blocks and
// returns false instead; rejections decided before routing through
// Engine.Reject; the roster; and the gateway clock
// (Config.Now), or recorded rounds replayed after a crash (RoundMark).
//
// # Emits
//
// Every provisional window, revision and final to the Emitter
// (rollcall_aggregate_emitted_total{kind}), with its merged Partial to a
// PartialEmitter; device and group views for the API (Engine.Devices,
// Engine.Groups), the rejects sample (Engine.Rejects), and the
// devices-by-state gauges (rollcall_devices{state},
// rollcall_devices_replaying). Every message with an outcome (telemetry
// taken from the queue, a rejected status message, a reject before
// routing) is counted once in rollcall_messages_received_total and once in
// rollcall_messages_total{outcome} (accepted, duplicate, replay,
// rejected); every rejected one also once in
// rollcall_messages_rejected_total{reason}, so outcome="rejected" is the
// sum of the reasons.
//
// # Drops
//
// Nothing is dropped silently; each drop has its counter:
//
//   - A message rejected, by reason, in
//     rollcall_messages_rejected_total{reason}: rate_limited (the device is
//     past limits.device_rate, checked before decoding), the decoder's
//     reasons (too_large, bad_json, bad_ts, future_ts, spoofed, bad_value,
//     too_many_metrics), unknown_device (not on the roster with learning
//     disabled, or past limits.max_devices / limits.max_groups),
//     wrong_site (a name the fleet file lists only at other sites:
//     staleness.Roster.Resolve), too_late (window.Gate: its windows are
//     final, or older than a new group's lateness horizon), implausible (outside the metric's physical
//     envelope) and too_many_windows (the device has
//     limits.max_open_windows open); for Sparkplug B (sparkplug.go,
//     package ingest/sparkplug) also bad_protobuf and no_birth, each
//     reading of a message counting once (a message is one reading per
//     distinct metric timestamp). The rejects before routing come
//     through Engine.Reject: bad_topic, too_large and bad_json from the
//     subscription callback's stateless checks (ingest.Limits.Admit), and
//     records too large for the journal; they are not in the device's
//     counts (the sample names the device). A bounded sample is kept for
//     GET /api/v1/rejects.
//   - A duplicate, redelivery or replay (dedup's verdict) is not
//     aggregated: rollcall_messages_total{outcome="duplicate"|"replay"},
//     and the window's duplicates and replays.
//   - A metric value of a group that already has limits.max_group_metrics
//     metrics: rollcall_aggregate_dropped_total{reason="group_metrics_full"}.
//   - Windows a watermark jumped over (more than window.max_catch_up):
//     rollcall_window_skipped_total. Those holding accepted readings are
//     still emitted (orphans, adopted): an accepted reading always reaches
//     an aggregate.
//   - A retired device past learn.max_retired tombstones is forgotten:
//     rollcall_devices_forgotten_total (retirements:
//     rollcall_devices_retired_total).
//   - An emit round that could not be journaled (a replay after a crash may
//     then differ): rollcall_aggregate_round_record_errors_total.
//
// Missing devices past Config.MaxMissingListed are not named in an
// aggregate but counted in coverage.missing_unlisted.
package aggregate
