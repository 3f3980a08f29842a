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
package dashboards

//go:generate go run ./gen
