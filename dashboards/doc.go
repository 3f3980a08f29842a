// Package dashboards will hold rollcall's Grafana dashboards and
// provisioning files, and the test that runs every panel query against a
// real InfluxDB and Prometheus (see DESIGN.md § Interfaces). It consumes the
// InfluxDB measurement rollcall_aggregate and the rollcall_* Prometheus
// metrics; it emits nothing at run time and drops nothing.
//
// It holds no dashboards yet: they need the InfluxDB and Prometheus sinks,
// which come first.
package dashboards
