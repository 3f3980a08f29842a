// Command dashrender draws the screenshots of rollcall's Grafana
// dashboards in docs/img from the snapshots TestIntegrationDashboards
// writes, with headless Chromium (package dashboards/render). It is a
// documentation tool; docs/dashboards.md says when to run it:
//
//	go test ./dashboards -run TestIntegrationDashboards -update
//	go run ./cmd/dashrender
//
// Run it from the repository's root, or give the directories.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rollcall-iot/rollcall/dashboards/render"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dashrender", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg render.Config
	fs.StringVar(&cfg.Snapshots, "snapshots", render.DefaultSnapshots, "directory of the dashboard snapshots (*.json)")
	fs.StringVar(&cfg.Out, "out", render.DefaultOut, "directory for dashboard-<name>.png")
	fs.StringVar(&cfg.Chromium, "chromium", render.DefaultChromium, "headless Chromium binary")
	fs.BoolVar(&cfg.HTML, "html", false, "write dashboard-<name>.html pages instead of screenshots (no Chromium)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: dashrender [flags]\n\nDraws docs/img/dashboard-*.png from the snapshots TestIntegrationDashboards -update writes.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dashrender: unexpected arguments %q\n", fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := render.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "dashrender:", err)
		return 1
	}
	return 0
}
