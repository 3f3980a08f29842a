package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"
)

// ScreenshotTimeout bounds one Chromium run.
const ScreenshotTimeout = 60 * time.Second

// chromiumFlags make headless Chromium quiet and self-contained (INFRA.md
// § 6).
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--hide-scrollbars", "--force-device-scale-factor=1",
}

// Screenshot shoots the HTML file page, a page Page drew height pixels
// high, into the PNG file png with the headless Chromium binary bin,
// which keeps its profile in the directory profile. It fails when
// Chromium fails, takes longer than ScreenshotTimeout, or writes no file.
func Screenshot(ctx context.Context, bin, page, png, profile string, height int) error {
	if err := screenshot(ctx, bin, page, png, profile, height); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

func screenshot(ctx context.Context, bin, page, png, profile string, height int) error {
	ctx, cancel := context.WithTimeout(ctx, ScreenshotTimeout)
	defer cancel()
	args := append(slices.Clone(chromiumFlags), "--user-data-dir="+profile,
		fmt.Sprintf("--window-size=%d,%d", pageWidth, height), "--screenshot="+png, "file://"+page)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chromium: %w: %s", err, tail(out))
	}
	if _, err := os.Stat(png); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("chromium wrote no screenshot: %s", tail(out))
		}
		return err
	}
	return nil
}

// tail is the end of a command's output, for an error message.
func tail(b []byte) string {
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}
