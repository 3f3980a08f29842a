// Package sparkplug is rollcall's Sparkplug B 3.0 host application, on the
// ingest side of the trust boundary: it decodes the protobuf Payload
// (decode.go, over the wire format with protowire, no generated code) and
// keeps each edge node's session (host.go), the state the specification
// asks a host to track.
//
// A worker (aggregate's shard) owns one Host; every message of an edge
// node and its devices is routed to the same worker (ingest.SparkplugNode),
// because seq, aliases and births span the node. Host.Handle turns a
// message into a Result: a liveness change (births online, deaths
// offline; an NDEATH takes the node's born devices with it), a dedup key
// (boot = the node session's epoch, seq = the 0-255 seq extended by the
// node's wrap count) and readings, one per distinct metric timestamp.
// rollcall is a passive host: nothing here publishes (no NCMD rebirth
// requests, no STATE).
//
// What is dropped, and where it is counted:
//   - a whole message, as an *ingest.RejectError: bad_protobuf, too_large
//     (limits.sparkplug_max_payload_bytes), too_many_metrics
//     (limits.max_metrics), future_ts, bad_ts, bad_value (a DATA metric not
//     finite), no_birth (DATA, or a device message, without the birth of
//     the current session), unknown_device (limits.sparkplug_max_nodes; a
//     new device past limits.sparkplug_max_aliases);
//   - one metric, in rollcall_sparkplug_metrics_skipped_total{reason}:
//     not_numeric, null, unknown_alias, too_many_aliases, bad_name,
//     bad_value (in a birth), control (bdSeq, Node Control/*);
//   - a birth or death the specification says to ignore, in
//     rollcall_sparkplug_ignored_total{reason}: stale_death (bdSeq not the
//     session's), stale_birth (older than the session's);
//   - nothing is dropped for a seq gap: it is counted in
//     rollcall_sparkplug_seq_gaps_total and dedup judges the message.
//
// The sessions are checkpointed (snapshot.go) with the rest of the
// workers' state. docs/sparkplug.md is the user's view.
package sparkplug
