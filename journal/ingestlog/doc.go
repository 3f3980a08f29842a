// Package ingestlog is the ingest journal stage: it sits between the MQTT
// callback and the aggregation engine, journals every message, group-commits
// the journal, acknowledges QoS 1 messages only after their commit, and then
// hands them to its consumer (the engine). It also journals the engine's
// round marks, and replays the journal at recovery.
//
// # Consumes
//
//   - ingest.Messages from the subscriber's callback, through Offer (QoS 0:
//     never blocks) and OfferWait (QoS 1: waits up to mqtt.queue_wait for
//     room), into a bounded queue of Config.QueueLen messages
//     (rollcall_ingest_queue_length, rollcall_ingest_queue_capacity).
//   - Round marks from the engine, through Record, before each live emit
//     round.
//
// # Emits
//
// Each committed message, in journal order with its journal index in
// Message.Index, to the Consumer's Submit, waiting while the consumer is full
// (backpressure: the queue fills, acknowledgements slow down, and the broker
// holds the rest). At recovery, Replay hands every reading and round mark
// after a checkpoint, in journal order, to a Replayer.
//
// # Guarantees
//
// Ack after commit: one goroutine (Run) owns the journal. It appends each
// message as a record and commits every Config.CommitInterval (5 ms) or at
// Config.MaxBatch messages, whichever comes first; only after that commit
// (fsynced with journal sync "batch") does it acknowledge the batch's QoS 1
// messages, release the round marks it took, and submit the batch. Whatever
// is not acknowledged the broker still holds and redelivers, so kill -9 at
// any moment loses nothing that was acknowledged.
//
// The QoS 1 wait is bounded: OfferWait waits at most the duration it is
// given (mqtt.queue_wait, at most 5 s) for room, then refuses the message,
// which the subscriber leaves unacknowledged for the broker to redeliver.
// Record waits at most MarkTimeout for its mark to be committed.
//
// A full journal (journal.max_bytes) or a failing one (a disk error) refuses
// appends: the stage stops acknowledging and retries every RetryInterval,
// keeping what it already appended committable, until a checkpoint frees
// space (Release) or the disk recovers. Round marks are refused at once
// meanwhile (ErrUnavailable): waiting for them would stall the rounds and
// with them the checkpoint that frees the journal.
//
// At shutdown Drain journals and commits what is queued; after Run's context
// is done a full journal is not waited for, and what it cannot take stays
// unacknowledged for the broker to redeliver.
//
// # Drops
//
//   - Queue full: Offer and OfferWait (after its wait) return false and
//     count rollcall_ingest_queue_full_total; OfferWait also counts each wait
//     in rollcall_ingest_queue_waits_total. The subscriber sheds the message
//     at QoS 0 or leaves it unacknowledged at QoS 1 (see ingest).
//   - A record over journal.MaxRecordBytes: rejected too_large through
//     Consumer.Reject (rollcall_messages_rejected_total{reason="too_large"})
//     and acknowledged, so that it cannot block the queue behind it.
//   - Nothing else is dropped. A failed append or commit is counted in
//     rollcall_journal_write_errors_total{journal="ingest",op} and retried;
//     a full journal sets rollcall_journal_full{journal="ingest"} to 1 (and
//     the journal library counts rollcall_journal_full_total{journal="ingest"}).
//     A malformed record met by Replay is logged and skipped.
//
// # Metrics
//
// Every journal metric is named rollcall_journal_* and carries the label
// journal="ingest" (the InfluxDB spool's carry journal="spool"): those of
// the journal library, plus rollcall_journal_full and
// rollcall_journal_write_errors_total. The queue in front of the journal is
// the ingest queue: rollcall_ingest_queue_length, _capacity, _full_total and
// _waits_total.
package ingestlog
