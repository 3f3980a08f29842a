// Package api is rollcall's HTTP interface: the aggregate history and its
// live stream, device and group state, rejected-message samples, probes,
// Prometheus metrics and a status page.
//
// # Consumes
//
// Read-only views: the aggregate history in a *store.Store (and its
// subscriptions, for the stream), device and group state from the
// aggregation engine (the Engine interface), and the optional Deps
// functions (readiness, reject samples, the fleet's statistic per metric),
// and a prometheus.Gatherer. The package never writes to any of them.
//
// # Emits
//
// JSON over HTTP (gzip- or zstd-compressed when the client accepts it and
// the body is at least 1 KiB; klauspost/compress/gzhttp), HTTPS when
// Config.TLSCert and Config.TLSKey are set. docs/api.md is the reference
// and docs/api.yaml the OpenAPI 3 description (TestOpenAPI holds it to the
// routes and types here).
//
//	GET /api/v1/aggregates?group=&metric=&from=&to=&limit=&revisions=&cursor=
//	    AggregatesResponse: one page of a series' windows, oldest first; the
//	    newest limit windows of [from, to). next_cursor pages back in time.
//	GET /api/v1/aggregates/latest?group=&metric=
//	    LatestResponse: the newest window of every matching series and the
//	    stream position (last_event_id) of the answer.
//	GET /api/v1/aggregates/stream?group=&metric=&last_event_id=
//	    Server-Sent Events: "aggregate" per stored aggregate (every window
//	    and revision), id "<epoch>-<seq>"; Last-Event-ID resumes while the
//	    store's backlog holds it, else a "reset" event (StreamReset).
//	GET /api/v1/devices?state=&group=   DevicesResponse
//	GET /api/v1/devices/{site}/{device} one aggregate.DeviceInfo
//	GET /api/v1/groups                  GroupsResponse
//	GET /api/v1/rejects?reason=&device= RejectsResponse
//	GET /api/v1/pipeline                PipelineResponse: rollcall_ counters and
//	                                    gauges, for the status page
//	GET /healthz    {"status": "ok"} while the process serves HTTP.
//	GET /readyz     {"status": "ready"}, or 503 not_ready with Deps.Ready's reason.
//	GET /metrics    Prometheus exposition of Deps.Gatherer.
//	GET /           The status page: static files embedded in the binary
//	                (static/), drawn by its script from the API and updated
//	                from the stream.
//
// HEAD is accepted wherever GET is. An /api/v1 route refuses query
// parameters it does not take (400 bad_parameter), to catch typos. A device
// is named by its fleet-wide identity, site/name (ingest.ID), in answers and
// in ?device=; the device route takes it as its two path segments.
//
// # Authentication
//
// With Config.Token set, every /api/v1 request needs "Authorization:
// Bearer <token>" (401 unauthorized otherwise); the comparison is constant
// time. /healthz, /readyz and the status page's files are always open (they
// hold no data; the page asks for the token), /metrics unless
// Config.MetricsAuth.
//
// # Errors
//
// Every error is a JSON Error, {"error": "...", "code": "..."}, with
// Content-Type application/json:
//
//	400 missing_parameter   a required query parameter is absent or empty
//	400 bad_parameter       a parameter is malformed, repeated, unknown or out
//	                        of range (the message names it)
//	400 range_too_large     to − from exceeds Config.MaxRange
//	400 limit_too_large     limit exceeds Config.MaxLimit
//	401 unauthorized        no or another bearer token (WWW-Authenticate: Bearer)
//	404 unknown_device      GET /api/v1/devices/{site}/{device}, device not tracked
//	404 not_found           no such route
//	405 method_not_allowed  the route exists but not for the method (Allow says which)
//	413 too_large           the body exceeds Config.MaxBodyBytes
//	414 uri_too_long        path and query exceed Config.MaxURLBytes
//	422 unknown_group       the group is unknown
//	422 unknown_metric      the metric is unknown, or unknown in the group
//	429 too_many_streams    Config.MaxStreams streams are open (Retry-After)
//	500 internal            a response could not be encoded (a bug; logged)
//	503 not_ready           GET /readyz while not ready
//	503 unavailable         the engine did not answer within
//	                        Config.QueryTimeout, or has stopped
//
// Headers over Config.MaxHeaderBytes get net/http's plain-text 431.
//
// # Limits
//
// Every request is bounded: Config.MaxURLBytes, Config.MaxBodyBytes and
// Config.MaxHeaderBytes of request; Config.MaxRange of history per query and
// Config.MaxLimit aggregates per answer; Config.QueryTimeout per engine
// query; Config.MaxStreams streams, each written with Config.WriteTimeout
// per write; MaxPipelineSeries series per pipeline answer; and the read,
// write and idle timeouts of the http.Server (a stream lifts its read
// deadline). Series, windows and the stream backlog are bounded by the
// store (store.Config).
//
// # Drops
//
// Nothing is dropped on the way in: the package only reads. Every refusal
// by a limit or for want of the token is counted in
// rollcall_api_refused_total{reason} (reason = the error code), every
// request in rollcall_api_requests_total{handler,code}, latency in
// rollcall_api_request_duration_seconds{handler}. The handler label is one
// of aggregates, aggregates_latest, stream, devices, device, groups,
// rejects, pipeline, healthz, readyz, metrics, status, static and not_found
// (every unknown path); a 405 counts under the route's handler.
//
// On a stream, a client that falls further behind than the store's backlog
// gets a reset event instead of what it missed
// (rollcall_api_stream_resets_total{reason="lagged"}; "expired" and
// "restarted" count resumptions that came too late or from an earlier
// run); a client that takes no data for Config.WriteTimeout is
// disconnected (rollcall_api_stream_dropped_total{reason="slow_client"}).
// Ingest never waits for a stream. Open streams are in rollcall_api_streams,
// events sent in rollcall_api_stream_events_total.
package api
