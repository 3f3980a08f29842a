// Package sink fans aggregates out to sinks, each behind its own bounded
// queue and goroutine (a bulkhead): a slow or failing sink never blocks the
// engine or another sink.
//
// # Consumes
//
// Every aggregate the engine emits (provisional, revisions, final), through
// Fanout.Emit, which never blocks.
//
// # Emits
//
// Each aggregate to every Writer, in emission order per sink. When the
// engine hands over the merged partial behind an aggregate
// (aggregate.PartialEmitter), a PartialWriter (sink/nats) gets it too,
// through WritePartial; the partial is shared and read-only.
//
// # Drops
//
// When a sink's queue is full, its oldest queued aggregate is dropped and
// counted in rollcall_sink_dropped_total{sink,reason="queue_full"}. A Write
// error is counted in rollcall_sink_errors_total{sink} and the aggregate is
// dropped (retrying sinks such as InfluxDB retry inside Write). At shutdown,
// what a sink has not written within Config.DrainTimeout is counted with
// reason="shutdown".
package sink
