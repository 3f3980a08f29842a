package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/sim"
)

// chromiumFlags make headless Chromium quiet and self-contained (INFRA.md
// § 6). --virtual-time-budget lets the page's script fetch and draw before
// the DOM is dumped or the screenshot taken.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--hide-scrollbars", "--virtual-time-budget=8000",
}

// chromium runs Chromium on url with extra arguments and returns its
// stdout.
func chromium(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	all := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir())
	all = append(append(all, args...), url)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return out
}

// limitedBuffer keeps the last 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// getJSON decodes url's JSON answer into v; false if it is not a 200.
func getJSON(url string, v any) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}

// TestIntegrationStatusPage loads the status page in headless Chromium
// against a gateway fed by the demo fleet (wt-07 in site-a goes silent
// after 3 s) and checks what it shows: site-a's coverage 19/20, the chart
// of its latest aggregates, the silent device on top of the devices, the
// pipeline, and the live stream. It saves screenshots (desktop and phone)
// in the test's artifact directory: keep them with
// `go test -run TestIntegrationStatusPage -artifacts -outputdir DIR ./api/apitest/`.
func TestIntegrationStatusPage(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	bin := testserver.RequireBinary(t, "chromium")
	gw := Start(t, Options{Fleet: sim.DemoFleet, Window: 2 * time.Second, Lateness: 4 * time.Second})

	fleet, err := sim.New(sim.DemoConfig(gw.MQTTURL), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- fleet.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-simDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("simulated fleet: %v", err)
		}
	})

	// Wait for what the page is to show: site-a at 19 of 20 for a few
	// windows, and wt-07 called silent.
	require.Eventually(t, func() bool {
		var h struct {
			Aggregates []struct {
				Coverage struct{ Expected, Reported int } `json:"coverage"`
			} `json:"aggregates"`
		}
		if !getJSON(gw.URL+"/api/v1/aggregates?group=site-a&metric=power_kw", &h) || len(h.Aggregates) < 5 {
			return false
		}
		last := h.Aggregates[len(h.Aggregates)-1].Coverage
		return last.Expected == 20 && last.Reported == 19
	}, 60*time.Second, 200*time.Millisecond, "site-a reports 19 of 20")
	require.Eventually(t, func() bool {
		var d struct {
			Devices []struct{ ID string } `json:"devices"`
		}
		return getJSON(gw.URL+"/api/v1/devices?state=silent", &d) && len(d.Devices) == 1 && d.Devices[0].ID == sim.DemoSilentDevice
	}, 60*time.Second, 200*time.Millisecond, "wt-07 is silent")

	dom := string(chromium(t, bin, gw.URL+"/", "--window-size=1280,1800", "--dump-dom"))
	if t.Failed() {
		return
	}
	defer func() {
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(t.ArtifactDir(), "status.html"), []byte(dom), 0o600)
			t.Logf("the page's DOM is in %s", t.ArtifactDir())
		}
	}()
	require.Contains(t, dom, `data-loaded="true"`, "the script loaded the data")
	require.NotRegexp(t, `<p id="error" class="banner" role="alert">`, dom, "no error banner")

	// Fleet coverage: site-a's card says 19/20.
	siteA := regexp.MustCompile(`(?s)<article class="card group" data-group="site-a">.*?</article>`).FindString(dom)
	require.NotEmpty(t, siteA, "site-a's coverage card")
	require.Contains(t, siteA, `<strong class="coverage">19/20</strong>`)
	require.Contains(t, siteA, "1 silent")

	// The chart of site-a's power: windows, the estimate line and the band.
	card := regexp.MustCompile(`(?s)<article class="card series" data-group="site-a" data-metric="power_kw">.*?</article>`).FindString(dom)
	require.NotEmpty(t, card, "site-a power_kw's chart card")
	// A device whose samples are still in transit at emission is partial.
	require.Regexp(t, `<span class="coverage">19/20( \(\d+ partial\))?</span>`, card)
	svgTag := regexp.MustCompile(`<svg[^>]*class="chart"[^>]*>`).FindString(card)
	require.NotEmpty(t, svgTag, "the chart")
	m := regexp.MustCompile(`data-windows="(\d+)"`).FindStringSubmatch(svgTag)
	require.NotNil(t, m)
	windows, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, windows, 5, "windows drawn")
	require.Regexp(t, `<path d="M[0-9.]+,[0-9.]+(L[0-9.]+,[0-9.]+){3,}" class="value">`, card, "the estimate line")
	require.Regexp(t, `<polygon points="[^"]+" class="band">`, card, "the uncertainty band")
	require.Regexp(t, `<circle [^>]*class="dot q-(uncertain|bad|good)"`, card)

	// Devices: wt-07, silent, on top; only replaying devices (wt-32, once
	// flagged) may come before it.
	tbody := regexp.MustCompile(`(?s)<tbody>.*?</tbody>`).FindString(dom)
	rows := regexp.MustCompile(`(?s)<tr class="([^"]*)">(.*?)</tr>`).FindAllStringSubmatch(tbody, -1)
	require.NotEmpty(t, rows, "device rows")
	silent := -1
	for i, r := range rows {
		if strings.Contains(r[2], "<td>"+sim.DemoSilentDevice+"</td>") {
			silent = i
			require.Contains(t, r[1], "s-silent")
			break
		}
		require.Contains(t, r[1], "replaying", "row %d before the silent device", i)
	}
	require.GreaterOrEqual(t, silent, 0, "wt-07 is listed")

	// Pipeline health and the live stream.
	require.Contains(t, dom, "<h3>Messages</h3>")
	require.Contains(t, dom, `<span class="badge q-good">ready</span>`)
	require.Contains(t, dom, `<span id="live" class="badge on"`, "the stream is connected")

	// Screenshots, for people.
	dir := t.ArtifactDir()
	for _, shot := range []struct{ name, size string }{{"status.png", "1280,1800"}, {"status-phone.png", "412,1800"}} {
		file := filepath.Join(dir, shot.name)
		chromium(t, bin, gw.URL+"/", "--window-size="+shot.size, "--screenshot="+file)
		fi, err := os.Stat(file)
		require.NoError(t, err)
		require.Greater(t, fi.Size(), int64(10<<10), "a screenshot with something in it")
	}
	t.Logf("screenshots in %s", dir)
}
