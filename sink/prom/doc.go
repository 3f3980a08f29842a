// Package prom exposes the latest aggregate of every group and metric as
// Prometheus gauges on the gateway's /metrics.
//
// # Consumes
//
// Every aggregate the engine emits, as a sink.Writer behind the fan-out.
// Write keeps, per (group, metric), the aggregate of the newest window; for
// the same window a higher revision (or the final one) replaces it. Older
// windows and lower revisions arriving late are ignored.
//
// # Emits
//
// At scrape time, through a prometheus.Collector, one set of gauges per
// (group, metric) (labels group and metric):
//
//   - rollcall_aggregate_value{stat,bound}: stat is sum, mean, min, max or
//     count; bound is value (the estimate including imputed devices), lower
//     and upper (the bounds on the true value), or reported (over the
//     devices that reported). count has bound="value" only. A number that is
//     unknown or unbounded (null in the API: no device reported, or a
//     missing device without a physical range) has no sample: Prometheus
//     has no way to say "unknown", and NaN or ±Inf would poison sums and
//     alerts. Absent means unknown.
//   - rollcall_group_coverage_ratio, rollcall_group_devices_reporting,
//     rollcall_group_devices_expected and rollcall_group_devices_partial:
//     coverage.
//   - rollcall_aggregate_quality{quality}: 1 for the aggregate's quality
//     (good, uncertain, bad), 0 for the other two (an enum, so
//     `rollcall_aggregate_quality{quality="bad"} == 1` selects bad series).
//   - rollcall_aggregate_window_start_timestamp_seconds, _revision, _final
//     and rollcall_aggregate_max_age_seconds (staleness; absent when no
//     device reported).
//
// Samples carry no timestamp (Prometheus stamps them with the scrape time);
// the window they describe is in rollcall_aggregate_window_start_timestamp_seconds,
// so `time() - rollcall_aggregate_window_start_timestamp_seconds` is how far
// behind the gauges are.
//
// # Drops
//
// At most Config.MaxSeries (group, metric) pairs are kept (each is at most 27
// Prometheus series). An aggregate of a new pair beyond the limit is not
// kept and is counted in rollcall_prom_series_dropped_total. Aggregates
// older than the kept one (an earlier window, or a lower revision of the
// same window) are ignored without a counter: the gauges show the latest
// state, and the fan-out delivers in emission order.
//
// # Expiry
//
// A pair that receives no aggregate for Config.SeriesTTL (prom.series_ttl;
// the gateway's default DefaultSeriesTTL, 10m) is removed: a group or
// metric that stopped existing leaves /metrics instead of showing its last
// values until restart, and Prometheus marks its series stale at the next
// scrape. Each removal counts in rollcall_prom_series_expired_total.
// Expired pairs are removed at every scrape and, when MaxSeries pairs are
// kept, before a new pair is refused, so expiry also makes room. A zero
// SeriesTTL keeps pairs until restart. rollcall_prom_series says how many
// pairs there are. Like every sink,
// the fan-out queue in front of it drops its oldest aggregate when full
// (rollcall_sink_dropped_total{sink="prom"}).
package prom
