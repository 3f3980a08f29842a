// Package render draws pictures of rollcall's Grafana dashboards from
// snapshots of their data, for the screenshots in docs/dashboards.md
// (docs/img/dashboard-*.png). Grafana itself cannot run where rollcall is
// built and tested (INFRA.md § 5), so this is a look-alike: an HTML page
// per dashboard, with one SVG or table per panel laid out on Grafana's
// grid in Grafana's dark theme, shot with headless Chromium. The panels
// follow their JSON (units, decimals, overrides, value mappings,
// thresholds, bands, stacking, legends, annotations) in a simplified
// drawing; a Grafana release may draw some option differently.
//
// It is a documentation tool: nothing of it is linked into rollcall.
// cmd/dashrender runs it.
//
// # Consumes
//
// Snapshots (dashboards.Snapshot, one JSON file per dashboard) that
// TestIntegrationDashboards writes with -update into
// dashboards/testdata/snapshots: every panel's query results from a real
// InfluxDB and Prometheus, with the variables and time range they were
// run with.
//
// # Emits
//
// Page returns a dashboard's HTML page; Screenshot shoots one with
// Chromium; Run does both for every snapshot of a directory and writes
// dashboard-<name>.png (or .html) files.
//
// # Drops
//
// What it cannot draw: panel types other than row, timeseries, stat,
// table and state-timeline are drawn as empty panels, value mappings other
// than "value" are not applied, and a table shows only the rows that fit.
package render
