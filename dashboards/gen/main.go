// Command gen writes rollcall's Grafana dashboards as JSON into
// dashboards/grafana/dashboards. Run it with `go generate ./dashboards`
// after changing a dashboard; TestDashboardsGenerated fails while the
// committed JSON differs from what the Go definitions produce.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rollcall-iot/rollcall/dashboards"
)

func main() {
	dir := filepath.Join(dashboards.Dir, "dashboards")
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := dashboards.Write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
