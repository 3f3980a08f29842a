// Package api is rollcall's HTTP interface: the aggregate history, device
// and group state, probes, Prometheus metrics and a status page.
//
// # Consumes
//
// Read-only views: the aggregate history in a *store.Store, device and
// group state from the aggregation engine (the Engine interface), a
// readiness function and a prometheus.Gatherer. The package never writes to
// any of them.
//
// # Emits
//
// JSON over HTTP (gzip- or zstd-compressed when the client accepts it and
// the body is at least 1 KiB; klauspost/compress/gzhttp):
//
//	GET /api/v1/aggregates?group=&metric=&from=&to=&limit=&revisions=
//	    {"aggregates": [...]}: one series' windows, newest last. group and
//	    metric are required. from and to (RFC 3339 or Unix seconds) bound
//	    window starts, from <= start < to. limit keeps the newest windows
//	    (default Config.DefaultLimit, at most Config.MaxLimit). revisions is
//	    "latest" (default: the latest revision of each window) or "all"
//	    (every kept revision, oldest first, so a window appears once per
//	    revision).
//	GET /api/v1/aggregates/latest?group=&metric=
//	    {"aggregates": [...]}: the newest window of every series matching the
//	    optional filters, sorted by group and metric.
//	GET /api/v1/devices?state=&group=
//	    {"devices": [...]}: aggregate.DeviceInfo of the matching devices,
//	    sorted by id. state is one of staleness.States.
//	GET /api/v1/devices/{id}
//	    One aggregate.DeviceInfo.
//	GET /api/v1/groups
//	    {"groups": [...]}: each aggregate.GroupInfo with "coverage", per
//	    metric the coverage of its newest window (GroupStatus).
//	GET /healthz    {"status": "ok"} while the process serves HTTP.
//	GET /readyz     {"status": "ready"}, or 503 not_ready with Deps.Ready's reason.
//	GET /metrics    Prometheus exposition of Deps.Gatherer.
//	GET /           An HTML status page that refreshes itself every 5 s.
//
// HEAD is accepted wherever GET is.
//
// # Errors
//
// Every error is a JSON Error, {"error": "...", "code": "..."}, with
// Content-Type application/json:
//
//	400 missing_parameter   a required query parameter is absent or empty
//	400 bad_parameter       a parameter is malformed, repeated or out of range
//	                        (the message names it)
//	404 unknown_device      GET /api/v1/devices/{id} for a device not tracked
//	404 not_found           no such route
//	405 method_not_allowed  the route exists but not for the method (Allow says which)
//	422 unknown_group       the group is unknown
//	422 unknown_metric      the metric is unknown, or unknown in the group
//	500 internal            a response could not be encoded (a bug; logged)
//	503 not_ready           GET /readyz while not ready
//	503 unavailable         the engine did not answer within
//	                        Config.QueryTimeout, or has stopped
//
// # Limits
//
// Every request is bounded: Config.MaxLimit windows per history answer,
// Config.QueryTimeout per engine query, Config.MaxHeaderBytes of request
// headers, and the read, write and idle timeouts of the http.Server. Series
// and windows are bounded by the store itself (store.Config).
//
// # Drops
//
// Nothing: the package only reads. A request over a limit is refused with
// 400, an engine query over its time limit with 503; both are counted in
// rollcall_api_requests_total{handler,code}. Latency is in
// rollcall_api_request_duration_seconds{handler}. The handler label is one
// of aggregates, aggregates_latest, devices, device, groups, healthz,
// readyz, metrics, status and not_found (every unknown path); a 405 counts
// under the route's handler.
package api
