// Command gen writes rollcall's Grafana dashboards as JSON into
// dashboards/grafana/dashboards. Run it with `go generate ./dashboards`
// after changing a dashboard; TestDashboardsGenerated fails while the
// committed JSON differs from what the Go definitions produce.
//
// It is a build tool: nothing of it is linked into rollcall. It writes one
// file per dashboard (dashboards.Write) into grafana/dashboards relative to
// the working directory, which go generate sets to dashboards/, or into the
// directory given as its only argument:
//
//	go run ./dashboards/gen /tmp/dashboards
//
// It exits 1 when a dashboard does not encode or a file cannot be written.
package main
