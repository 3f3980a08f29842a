package dashboards

import "strings"

// PipelineUID is the uid of the Pipeline health dashboard.
const PipelineUID = "rollcall-pipeline"

// inst selects the chosen gateways (Prometheus scrape targets).
const inst = `{instance=~"$instance"}`

// rate is the per-second rate of counter, summed by the given labels.
func rate(counter, by string) string {
	expr := `rate(` + counter + inst + `[$__rate_interval])`
	if by == "" {
		return `sum(` + expr + `)`
	}
	return `sum by (` + by + `) (` + expr + `)`
}

// quantile is the q-quantile of histogram (without _bucket), by the given
// extra labels.
func quantile(q, histogram, by string) string {
	by = strings.TrimPrefix(by+", le", ", ")
	return `histogram_quantile(` + q + `, sum by (` + by + `) (rate(` + histogram + `_bucket` + inst + `[$__rate_interval])))`
}

// Pipeline is the Pipeline health dashboard: throughput by outcome, drops
// by reason, queues, journal and emit latency, sinks (queues, InfluxDB
// writes, spool, circuit breaker), checkpoints and the process (Prometheus).
func Pipeline() *Dashboard {
	b := newBoard(PipelineUID, "rollcall / Pipeline health", `What the gateway is doing and what it is dropping: every stage's throughput, drops by reason, queue depth, latency, the sinks and the process, from the gateway's own /metrics (Prometheus).`, "pipeline")
	b.vars(promVar("instance", "Gateway", "The gateways (Prometheus scrape targets) to show.",
		`label_values(rollcall_messages_total, instance)`))

	b.row("Throughput and drops")
	b.add(12, 8, timeseries("Readings by outcome", `
Telemetry messages per second by outcome: accepted (aggregated), duplicate (a recent re-delivery, e.g. QoS 1), replay (an old message re-sent), rejected (see "Rejected by reason"). "received" is what the broker delivered; with nothing dropped it equals the sum of the outcomes.`,
		"suffix:msg/s",
		promRange(rate("rollcall_messages_total", "outcome"), "{{outcome}}"),
		promRange(rate("rollcall_ingest_received_total", ""), "received"),
	).override(byName("received"), prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{6, 4}}), fixedColor("text")))
	b.add(12, 8, timeseries("Rejected by reason", `
Rejected telemetry messages per second, by reason: bad_json, bad_ts, future_ts (timestamp beyond max_future_skew ahead), too_late (older than allowed_lateness), spoofed (device id differs from the topic), bad_value, implausible (outside the physical range), too_large, too_many_metrics, unknown_device (past max_devices or not on the roster), rate_limited, bad_topic. /api/v1/rejects keeps recent samples.`,
		"suffix:msg/s",
		promRange(rate("rollcall_messages_rejected_total", "reason"), "{{reason}}"),
	).option("legend", legend("table", "right", "max", "lastNotNull")))
	b.add(12, 8, timeseries("Drops by reason", `
Everything the pipeline dropped, per second, by stage and reason. ingest overload: QoS 0 messages shed because the queue was full. ingest queue full / unacked: QoS 1 messages left unacknowledged for the broker to redeliver (not lost). aggregate: metric values beyond max_group_metrics. windows skipped: the watermark jumped past max_catch_up windows. sink: aggregates a sink's queue dropped (oldest first). influx points: points InfluxDB refused or the spool could not keep. influx device points: device snapshot points not written (snapshots are never spooled). prom: series beyond prom.max_series. journal: records dropped to stay under max_bytes.`,
		"suffix:/s",
		promRange(rate("rollcall_ingest_dropped_total", "reason"), "ingest {{reason}}"),
		promRange(rate("rollcall_ingest_queue_full_total", ""), "ingest queue full (redelivered)"),
		promRange(rate("rollcall_ingest_unacked_total", ""), "ingest unacked (redelivered)"),
		promRange(rate("rollcall_aggregate_dropped_total", "reason"), "aggregate {{reason}}"),
		promRange(rate("rollcall_window_skipped_total", ""), "windows skipped"),
		promRange(rate("rollcall_sink_dropped_total", "sink, reason"), "sink {{sink}} {{reason}}"),
		promRange(rate("rollcall_influx_dropped_points_total", "reason"), "influx points {{reason}}"),
		promRange(rate("rollcall_influx_device_points_dropped_total", "reason"), "influx device points {{reason}}"),
		promRange(rate("rollcall_prom_series_dropped_total", "reason"), "prom {{reason}}"),
		promRange(rate("rollcall_journal_dropped_records_total", "journal, reason"), "journal {{journal}} {{reason}}"),
	).option("legend", legend("table", "right", "max")))
	b.add(12, 8, timeseries("Aggregates emitted", `
Aggregates per second by kind: provisional (a window's first emission, when the watermark passes its end), revision (late data changed an emitted window), final (allowed_lateness has passed). One per group, metric and window each.`,
		"suffix:aggregates/s",
		promRange(rate("rollcall_aggregate_emitted_total", "kind"), "{{kind}}"),
	))

	b.row("Queues and latency")
	b.add(12, 8, timeseries("Queue depth", `
Messages or aggregates waiting. ingest: between the MQTT callback and the journal. workers: the aggregation workers' input queues (capacity dashed; /readyz reports saturated above 90 %). sink: each sink's queue, which drops its oldest aggregate when full.`,
		"none",
		promRange(`sum(rollcall_ingest_queue_length`+inst+`)`, "ingest"),
		promRange(`sum(rollcall_aggregate_queue_length`+inst+`)`, "workers"),
		promRange(`sum(rollcall_aggregate_queue_capacity`+inst+`)`, "workers capacity"),
		promRange(`sum by (sink) (rollcall_sink_queue_length`+inst+`)`, "sink {{sink}}"),
	).override(byName("workers capacity"), prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{6, 4}}), fixedColor("text")))
	b.add(12, 8, timeseries("Journal commit latency", `
Time of one group commit of the ingest journal (and of the InfluxDB spool): compress and write the open block, then fsync. At QoS 1 a message is acknowledged only after its commit, so this is the floor of the acknowledgement latency.`,
		"s",
		promRange(quantile("0.5", "rollcall_journal_commit_seconds", "journal"), "p50 {{journal}}"),
		promRange(quantile("0.99", "rollcall_journal_commit_seconds", "journal"), "p99 {{journal}}"),
	))
	b.add(12, 8, timeseries("Emit round duration", `
Time of one emit round of the aggregation engine (every aggregate.emit_interval): collect the workers' state, merge partials, emit aggregates.`,
		"s",
		promRange(quantile("0.5", "rollcall_aggregate_emit_seconds", ""), "p50"),
		promRange(quantile("0.99", "rollcall_aggregate_emit_seconds", ""), "p99"),
	))
	b.add(12, 8, timeseries("Journal size", `
Bytes on disk of the ingest journal and of the InfluxDB spool. The ingest journal is trimmed after each checkpoint; when it reaches journal.max_bytes nothing is acknowledged (the broker holds messages) until a checkpoint frees space. The spool holds aggregates while InfluxDB is unavailable.`,
		"bytes",
		promRange(`sum by (journal) (rollcall_journal_size_bytes`+inst+`)`, "{{journal}}"),
	))

	b.row("Sinks")
	b.add(8, 8, timeseries("Sink writes", `
Aggregates written per second by each sink (store: the API's history; prom: the gauges; influx: handed to the InfluxDB sink; nats: partials), and failed writes.`,
		"suffix:aggregates/s",
		promRange(rate("rollcall_sink_written_total", "sink"), "{{sink}}"),
		promRange(rate("rollcall_sink_errors_total", "sink"), "{{sink}} errors"),
	))
	b.add(8, 8, timeseries("InfluxDB write requests", `
Write requests to InfluxDB per second by result: success, rejected (400: dropped), too_large (413: split), config_error (401/403/404: spooled until fixed), throttled (429/503), server_error, network_error (retried, then spooled), canceled.`,
		"suffix:req/s",
		promRange(rate("rollcall_influx_writes_total", "result"), "{{result}}"),
	))
	b.add(8, 8, timeseries("InfluxDB spool", `
Store and forward: bytes and aggregates in the InfluxDB spool, waiting for InfluxDB. 0 when InfluxDB keeps up. It drains in order when InfluxDB returns; at influx.spool.max_bytes its oldest segment is dropped (counted in "Drops by reason").`,
		"bytes",
		promRange(`sum(rollcall_influx_spool_bytes`+inst+`)`, "bytes"),
		promRange(`sum(rollcall_influx_spool_records`+inst+`)`, "aggregates"),
	).override(byName("aggregates"), prop("unit", "none"), prop("custom.axisPlacement", "right")))
	b.add(12, 5, timeline("InfluxDB circuit breaker", `
closed: writes flow. open: after influx.breaker_failures consecutive failed requests, nothing is sent for influx.breaker_cooldown and aggregates go to the spool. half-open: one probe request decides.`,
		promRange(`max by (instance) (rollcall_influx_circuit_state`+inst+`)`, "{{instance}}"),
	).mappings(valueMap("0", "closed", green, "1", "half-open", yellow, "2", "open", red)))
	b.add(12, 5, timeline("Broker connection", `
Whether the gateway is connected and subscribed to its MQTT broker. While disconnected, the broker keeps the persistent session and every unacknowledged QoS 1 message.`,
		promRange(`min by (instance) (rollcall_ingest_connected`+inst+`)`, "{{instance}}"),
	).mappings(valueMap("1", "connected", green, "0", "disconnected", red)))

	b.row("Checkpoints and process")
	b.add(6, 6, stat("Checkpoint age", `
Seconds since the last checkpoint (every checkpoint.interval, default 10 s). A restart replays the journal from the last checkpoint, so a growing age means a longer recovery and a larger journal. See checkpoint failures on the right.`,
		"s",
		promInstant(`time() - max by (instance) (rollcall_checkpoint_last_timestamp_seconds`+inst+`)`, "{{instance}}"),
	).thresholds(green, orange, 30, red, 120).decimals(0))
	b.add(6, 6, timeseries("Checkpoints", `
Checkpoint age over time, and failed checkpoints per second by reason (too_large, io_error, snapshot).`,
		"s",
		promRange(`time() - max by (instance) (rollcall_checkpoint_last_timestamp_seconds`+inst+`)`, "age {{instance}}"),
		promRange(rate("rollcall_checkpoint_failures_total", "reason"), "failed {{reason}}"),
	).override(byRegexp("/^failed/"), prop("unit", "suffix:/s"), prop("custom.axisPlacement", "right"), prop("custom.drawStyle", "bars")))
	b.add(6, 6, timeseries("Memory", `
Resident memory of the process, and the Go heap in use. Under a memory limit (GOMEMLIMIT; rollcall demo sets 256 MiB) the heap stays below it.`,
		"bytes",
		promRange(`sum by (instance) (process_resident_memory_bytes`+inst+`)`, "resident {{instance}}"),
		promRange(`sum by (instance) (go_memstats_heap_inuse_bytes`+inst+`)`, "heap in use {{instance}}"),
	))
	b.add(6, 6, timeseries("CPU and goroutines", `
CPU time per second (1 = one core) and goroutines. Goroutines are bounded: a steady climb is a leak.`,
		"percentunit",
		promRange(`sum by (instance) (rate(process_cpu_seconds_total`+inst+`[$__rate_interval]))`, "cpu {{instance}}"),
		promRange(`sum by (instance) (go_goroutines`+inst+`)`, "goroutines {{instance}}"),
	).override(byRegexp("/^goroutines/"), prop("unit", "none"), prop("custom.axisPlacement", "right")))
	return b.d
}
