// Package influx is the InfluxDB sink: it writes aggregates as points with
// influxdb-client-go/v2's blocking write API (/api/v2/write, which InfluxDB
// 1.8+, 2.x and 3.x serve), in batches, with its own retries, a circuit
// breaker and a journal-backed spool that stores aggregates while InfluxDB
// is unavailable and forwards them, in order, when it returns.
//
// # Consumes
//
// Aggregates, as a sink.Writer behind the fan-out's queue. Write encodes
// the aggregate and hands it to Run's goroutine; it blocks while Run is busy
// with a request, which is bounded (see Lifecycle), or until its context is
// done. The fan-out's queue absorbs bursts meanwhile.
//
// # Emits
//
// Per aggregate, PointsPerAggregate points in measurement
// rollcall_aggregate, one per group statistic:
//
//   - tags: group, metric, stat (sum, mean, min, max, count);
//   - fields: value, lower, upper, reported (floats), expected and
//     reporting (integers: expected devices, reporting devices), coverage
//     (float, reporting/expected), max_age_s (float), revision (integer),
//     final (boolean), quality (string: good, uncertain, bad);
//   - timestamp: the window start, in nanoseconds.
//
// Unknown and unbounded values (NaN, ±Inf: the API's null) are left out of
// the point, since line protocol has no null: an InfluxQL query returns null
// for them, and a missing upper bound means "unbounded", not zero. The count
// statistic is exact: its value, lower, upper and reported are all the
// number of reporting devices. value is a float for every stat, because a
// field's type is fixed per measurement (a conflict is a 400).
//
// # Device snapshots
//
// Every Config.Devices.Interval (default 10 s; negative: off) the gateway
// hands WriteDevices the state of every device (aggregate.Engine.Devices),
// written as one point per device in measurement rollcall_device, at the
// snapshot time aligned to the interval:
//
//   - tags: group, device (its fleet-wide identity, site/name);
//   - fields: state (string: live, late, silent, offline, delayed,
//     never_seen, retired), replaying and listed (booleans), interval_s (learned
//     reporting interval), phi, accepted, duplicates, replays and rejected
//     (integers, cumulative since the device was first tracked; rejected
//     over every reason), and, once the device has been seen, age_s
//     (seconds since its newest message), last_seen_ms (that message's
//     receive time, Unix milliseconds) and clock_offset_s (receive time
//     minus event time of its newest reading).
//
// state is a field so that a state change does not start a new series; a
// device is one series. Prometheus has no per-device label (STYLE.md § 8),
// so this measurement is what the Devices dashboard's tables read.
//
// A snapshot holds at most Config.Devices.Max devices (default 10,000):
// replaying devices first, then the other non-live ones, then by id; the
// rest are counted in rollcall_influx_device_points_dropped_total{reason=
// "max_devices"}. Snapshots are current state, not history: they go out in
// batches of BatchSize, once, and are never retried in place or spooled.
// While InfluxDB is unavailable (breaker open, a failed request, or
// aggregates waiting in the spool, which go first) a snapshot is dropped
// and counted (reason unavailable); a 4xx drops its batch (rejected); a
// snapshot not handed over before its deadline or after Run stopped is
// counted as canceled. Their requests count in
// rollcall_influx_writes_total and in the breaker like any other;
// acknowledged points count in rollcall_influx_device_points_total, not in
// rollcall_influx_points_total.
//
// # Ordering and delivery
//
// Per sink, aggregates reach InfluxDB in emission order: a batch goes out
// directly only while the spool is empty; otherwise it is appended behind
// the spool, which drains oldest first. A revision of a window writes the
// same series and timestamp, so InfluxDB keeps the newest revision; the
// order is what makes that the latest one.
//
// Delivery is at-least-once, and effectively once in InfluxDB: a point
// sent twice (a retried request that had in fact succeeded, or spooled
// records resent after a crash before their acknowledgement was persisted)
// overwrites itself with the same values.
//
// # Batching
//
// Run collects aggregates into a batch of at most Config.BatchSize points
// (whole aggregates) and sends it when full or Config.FlushInterval after its
// first aggregate. The spool drains in batches of the same size.
//
// # Failures
//
// Each request's outcome is classified by HTTP status (STYLE.md § 5.9) and
// counted in rollcall_influx_writes_total{result}:
//
//   - 2xx, success: the points count in rollcall_influx_points_total.
//   - 400, 422 and other 4xx, rejected: permanent; the batch is dropped and
//     its points counted (reason rejected). InfluxDB 1.8 writes the valid
//     points of a partially bad batch, so the count is an upper bound.
//   - 413, too_large: the batch is split in halves, recursively; a single
//     aggregate still too large is dropped (reason too_large).
//   - 401, 403, 404, config_error: the URL, token, org, bucket or
//     database is wrong (404: the database does not exist). Logged at Error
//     (a human must act), counted as a breaker failure, and the batch is
//     spooled: nothing is lost while the configuration is fixed.
//   - 429, 503, throttled: retried in place after Retry-After (seconds or an
//     HTTP date, capped at MaxRetryAfter), or after a backoff when absent. A
//     Retry-After longer than Config.BackoffMax is not waited out in place:
//     the batch is spooled and the spool is not drained before it ends.
//   - 408, other 5xx (server_error), and network errors and timeouts
//     (network_error): retried in place with exponential backoff and full
//     jitter (uniform in [0, min(BackoffMax, BackoffInitial·2^n))), at most
//     Config.MaxRetries times, then spooled.
//   - canceled: Run's context ended mid-request; the batch is spooled and
//     the breaker is not charged.
//
// # Circuit breaker
//
// Config.BreakerFailures consecutive failed requests (config_error,
// throttled, server_error, network_error) open the breaker: no requests for
// Config.BreakerCooldown (or a longer Retry-After), and every aggregate goes
// to the spool. Then it is half-open: the next request is a single probe
// (Run sends one request at a time); success closes it, failure re-opens
// it. rollcall_influx_circuit_state is 0 closed, 1 half-open, 2 open. A
// rejected or too-large answer proves the server up and resets the count.
//
// # Store and forward
//
// The spool is a journal (package journal) in Config.Spool.Dir/journal, one
// record per aggregate (its line protocol), plus the file
// Config.Spool.Dir/acked holding the index of the last record InfluxDB
// acknowledged. Aggregates go to the spool when the breaker is open, when
// the in-place retries are exhausted, when the spool already holds
// aggregates (to keep the order), and at shutdown. Run drains it when the
// breaker allows: a batch from the oldest unacknowledged record, and on
// success it writes the acked file (fsynced, unless Config.Spool.Sync is
// "none") before the spool can count as empty, then deletes the journal
// segments before it. So a restart neither resends what was acknowledged
// nor loses what was not; a restart reopens the spool and drains it.
// rollcall_influx_spool_records counts unacknowledged aggregates and
// rollcall_influx_spool_bytes the journal's bytes while any are left (0 once
// drained: the journal keeps its current segment, acknowledged records
// only, until it rolls over). rollcall_influx_spooled_points_total counts
// points stored for later.
//
// # Drops
//
// Points are dropped, and counted in
// rollcall_influx_dropped_points_total{reason}, only:
//
//   - rejected: InfluxDB refused the batch as bad data (see Failures);
//   - too_large: one aggregate alone got 413;
//   - spool_full: the spool reached Config.Spool.MaxBytes; it drops its
//     oldest segment (the unacknowledged aggregates in it are counted) to
//     take the new one, or the new one when it cannot make room;
//   - spool_error: the spool could not store an aggregate (a disk error),
//     or the journal cannot read stored records back (corruption).
//
// Not counted here: aggregates the fan-out drops from a full queue
// (rollcall_sink_dropped_total), and, on kill -9, the partial batch in
// memory (at most BatchSize points, at most FlushInterval old) and the
// aggregate Write was handing over.
//
// # Lifecycle
//
// New opens the spool; Run(ctx) must run for Write to make progress. Write
// blocks at most for the request Run is in: (1+MaxRetries)·Timeout plus
// MaxRetries·BackoffMax at worst (40 s with the defaults), typically a few
// milliseconds. When ctx is done, Run cancels its request, spools the
// partial batch and returns; from then on Write spools directly, so the
// fan-out's own shutdown drain loses nothing (it is sent at the next start).
// The intended order in the gateway:
//
//  1. Stop emitting.
//  2. Stop the fan-out: sink.Fanout.Run returns after its drain.
//  3. Cancel Run's context and wait for Run to return.
//  4. Close.
//
// Cancelling the fan-out and Run together is also safe. Close closes the
// spool and unregisters the metrics; Write returns ErrClosed afterwards, and
// Close refuses while Run is running.
package influx
