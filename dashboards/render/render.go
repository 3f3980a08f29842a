package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rollcall-iot/rollcall/dashboards"
)

// Defaults of Config, relative to the repository's root.
const (
	DefaultSnapshots = "dashboards/" + dashboards.SnapshotDir
	DefaultOut       = "docs/img"
	DefaultChromium  = "chromium"
)

// Config says what Run draws and where.
type Config struct {
	// Snapshots is the directory of the snapshots to draw, every *.json
	// in it. Default: DefaultSnapshots.
	Snapshots string
	// Out is the directory the pictures go to, dashboard-<name>.png for
	// the dashboard with uid rollcall-<name>. Default: DefaultOut.
	Out string
	// Chromium is the headless Chromium binary, a path or a name on
	// $PATH. Default: DefaultChromium.
	Chromium string
	// HTML writes each page as dashboard-<name>.html into Out instead of
	// a screenshot, without Chromium.
	HTML bool
}

func (c Config) withDefaults() Config {
	if c.Snapshots == "" {
		c.Snapshots = DefaultSnapshots
	}
	if c.Out == "" {
		c.Out = DefaultOut
	}
	if c.Chromium == "" {
		c.Chromium = DefaultChromium
	}
	return c
}

// Run draws every snapshot of cfg.Snapshots into cfg.Out: a page per
// dashboard, shot with headless Chromium (or written as HTML). A nil log
// logs nothing.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	files, err := filepath.Glob(filepath.Join(cfg.Snapshots, "*.json"))
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("%w in %s: run TestIntegrationDashboards with -update", ErrNoSnapshots, cfg.Snapshots)
	}
	bin := cfg.Chromium
	if !cfg.HTML {
		if bin, err = exec.LookPath(cfg.Chromium); err != nil {
			return fmt.Errorf("render: chromium: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "dashrender-")
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("render: %w", rerr))
		}
	}()
	for _, f := range files {
		s, err := dashboards.ReadSnapshot(f)
		if err != nil {
			return err
		}
		out, err := draw(ctx, cfg, bin, tmp, s)
		if err != nil {
			return fmt.Errorf("render: %s: %w", s.UID, err)
		}
		log.Info("drew dashboard", "uid", s.UID, "panels", len(s.Panels), "file", out)
	}
	return nil
}

// draw draws one snapshot into cfg.Out, with its page and Chromium's
// profile in tmp, and returns the file it wrote.
func draw(ctx context.Context, cfg Config, bin, tmp string, s *dashboards.Snapshot) (string, error) {
	page, height := Page(s)
	name := "dashboard-" + strings.TrimPrefix(s.UID, "rollcall-")
	if cfg.HTML {
		out := filepath.Join(cfg.Out, name+".html")
		return out, os.WriteFile(out, []byte(page), 0o644)
	}
	html := filepath.Join(tmp, name+".html")
	if err := os.WriteFile(html, []byte(page), 0o644); err != nil {
		return "", err
	}
	profile, err := os.MkdirTemp(tmp, "profile-")
	if err != nil {
		return "", err
	}
	// Chromium resolves a relative path against its own directory.
	out, err := filepath.Abs(filepath.Join(cfg.Out, name+".png"))
	if err != nil {
		return "", err
	}
	return out, screenshot(ctx, bin, html, out, profile, height)
}
