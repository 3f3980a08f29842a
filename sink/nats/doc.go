// Package nats publishes this gateway's mergeable partial aggregates to a
// NATS JetStream stream, for federation: a rollcall one tier up merges the
// partials of many gateways with the same code that merges the shards of
// one (aggregate.Partial.Merge), and finishes them into aggregates.
//
// # Consumes
//
// Every aggregate the engine emits, with the merged partial behind it, as a
// sink.PartialWriter behind the fan-out (its own queue and goroutine).
//
// # Emits
//
// Final and revised partials (revision > 0, or final) as JSON, encoding
// version 2 (see Encode and docs/federation.md), to the subject
// rollcall.v1.partials.<group>.<metric> (Subject escapes the names) in the
// JetStream stream ROLLCALL_PARTIALS, which New creates when it does not
// exist (subjects rollcall.v1.partials.>, file storage, Config.MaxAge and
// Config.MaxBytes, discarding the oldest messages at a limit). An existing
// stream is used as it is; a different max age or size is logged. Every
// message carries a Nats-Msg-Id (gateway, group, metric, window start,
// revision), so a publish retried after a lost acknowledgement is stored
// once within the stream's duplicate window.
//
// Provisional emissions (revision 0, not final) are not published: they are
// followed by a revision or the final one, and upstream waits for those.
// They are counted in rollcall_nats_skipped_total{reason="provisional"}.
//
// # Delivery
//
// At least once per partial while NATS is reachable: Write publishes
// synchronously and waits for the stream's acknowledgement. Each
// (gateway, group, metric, window) arrives in revision order, because the
// fan-out writes in emission order and one publish completes before the
// next starts.
//
// # Drops
//
// A publish that fails (no connection, no acknowledgement within
// Config.PublishTimeout, stream missing or full) is retried up to
// Config.PublishAttempts times in all, with exponential backoff and jitter
// from Config.RetryBackoff (retries counted in
// rollcall_nats_publish_retries_total); then the partial is dropped and
// counted in rollcall_nats_publish_errors_total (and, by the fan-out, in
// rollcall_sink_errors_total{sink="nats"}). While NATS is down, the
// fan-out queue in front of this sink fills and drops its oldest aggregates
// (rollcall_sink_dropped_total{sink="nats",reason="queue_full"}); nothing
// waits on it. An aggregate that reaches Write without a partial is an
// error (ErrNoPartial). The stream itself discards its oldest messages
// beyond MaxAge or MaxBytes.
package nats
