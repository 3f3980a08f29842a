// Package dashboards defines rollcall's Grafana dashboards and ships them,
// with Grafana provisioning files, in grafana/ (docs/dashboards.md says
// how to install them):
//
//   - grafana/provisioning/datasources/rollcall.yaml: an InfluxDB
//     datasource queried with InfluxQL (uid rollcall-influxdb) and a
//     Prometheus one (uid rollcall-prometheus);
//   - grafana/provisioning/dashboards/rollcall.yaml: a file provider;
//   - grafana/dashboards/*.json: Fleet overview (rollcall-fleet), Devices
//     (rollcall-devices) and Pipeline health (rollcall-pipeline).
//
// The dashboards are written in Go (fleet.go, devices.go, pipeline.go, on
// the small Grafana model in grafana.go) and generated into JSON by
// `go generate ./dashboards`; a test fails while the committed JSON
// differs from the definitions.
//
// # Consumes
//
// At run time, nothing of rollcall's own: Grafana reads InfluxDB
// (measurement rollcall_aggregate, written by sink/influx, one point per
// group, metric, statistic and window; measurement rollcall_device, the
// device snapshots) and Prometheus (the gateway's rollcall_* metrics and
// the Go and process collectors).
//
// # Emits and drops
//
// Nothing; the package has no run-time behaviour. The dashboards show what
// the pipeline drops: "Drops by reason" on Pipeline health covers every
// drop counter, and Devices shows the device points left out of
// snapshots (rollcall_influx_device_points_dropped_total).
//
// # Tests
//
// The unit tests check every dashboard's structure: schema version, unique
// uids and panel ids, datasource references that resolve to the
// provisioned datasources, variables that exist, units Grafana knows, a
// grid without overlaps, and a description on every panel.
// TestIntegrationDashboards fills a real InfluxDB and a real Prometheus
// through a gateway fed by the simulator, runs every panel and annotation
// query with Grafana's macros and variables expanded as Grafana does, and
// checks the results against the panels' overrides, sort columns and
// value mappings (FieldOptions, Matcher.Matches, Organize in fields.go:
// what the panel options mean for the fields a query returns). It saves
// each dashboard's results as a Snapshot (with -update into SnapshotDir),
// from which cmd/dashrender (package dashboards/render) draws the
// screenshots docs/img/dashboard-*.png in headless Chromium.
//
// # Why not the Grafana foundation SDK
//
// Issue 18 asked to rebuild the dashboards with
// github.com/grafana/grafana-foundation-sdk/go if it fits. v0.0.22 (the
// newest the Go module proxy serves, beside v0.0.20) was examined on
// 2026-12-08 and the builder was left as it is. What fits: the module has
// no dependencies, needs go 1.21, is Apache-2.0, and has typed builders for
// every panel type used here (timeseries, stat, table, state-timeline),
// for Prometheus queries and for query and custom variables. What does
// not:
//
//   - It has no InfluxDB query type at all (neither InfluxQL nor Flux; its
//     datasource packages are athena, azuremonitor, bigquery, cloudwatch,
//     elasticsearch, expr, googlecloudmonitoring, loki, parca, prometheus,
//     pyroscope, tempo and testdata). Of the 66 queries here, the 18
//     InfluxQL panel targets, the 4 InfluxQL variables and the "Revised
//     windows" annotation would need a home-made variants.Dataquery type:
//     the aggregates, the point of the Fleet overview, would stay as
//     hand-typed as they are now. Only the 43 Prometheus queries would gain
//     types.
//   - Its AnnotationQuery has no place for the legacy top-level InfluxQL
//     fields (query, textColumn, tagsColumn) the annotation carries beside
//     its target, and its AnnotationTarget is typed for the "grafana"
//     datasource only.
//   - It writes schemaVersion 42 (Grafana 11+), where these dashboards
//     declare 39 so that Grafana 10.4 loads them without migration.
//
// A port would replace build.go and the three definitions (about 800
// lines) for types on a third of the queries, with every option and
// default to re-check against the committed JSON and the query tests. It
// becomes worth it when the SDK ships an InfluxDB dataquery; then keep
// grafana.go as the model the tests decode the JSON into, build with the
// SDK's builders in fleet.go, devices.go and pipeline.go, and compare the
// decoded models before and after.
package dashboards

//go:generate go run ./gen
