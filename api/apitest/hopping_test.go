package apitest

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

const hoppingFleet = `
defaults:
  interval: 100ms
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: last}
groups:
  site-a: {devices: [a1, a2]}
learn: {enabled: false}
`

// TestIntegrationHoppingWindows runs a gateway with 3 s windows every 1 s
// (window.step) and checks them through the HTTP API: overlapping windows
// listed by start, one per step, each 3 s long with its own revisions and
// final; the windows the readings cover fully count 30 readings of each
// device (60 samples) and sum the two devices' means. With Chromium
// installed, the status page draws every window, one per step, no gaps.
func TestIntegrationHoppingWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	gw := Start(t, Options{
		Fleet: []byte(hoppingFleet), Window: 3 * time.Second, Step: time.Second, Lateness: time.Second,
		Skew: 500 * time.Millisecond, IdleTimeout: time.Second,
	})
	const readings = 60
	base := PublishExact(t, gw.MQTTURL, readings)
	// Windows [base+k, base+k+3) for k = 0..3 hold 3 s of readings.
	full := func(a aggregate.Aggregate) bool {
		return !a.Window.Start.Before(base) && !a.Window.End.After(base.Add(readings*100*time.Millisecond))
	}
	var aggs []aggregate.Aggregate
	require.Eventually(t, func() bool {
		var h struct {
			Aggregates []aggregate.Aggregate `json:"aggregates"`
		}
		if !getJSON(gw.URL+"/api/v1/aggregates?group=site-a&metric=power_kw&limit=1000&revisions=all", &h) {
			return false
		}
		aggs = h.Aggregates
		n := 0
		for _, a := range aggs {
			if a.Final && full(a) {
				n++
			}
		}
		return n == 4
	}, 30*time.Second, 100*time.Millisecond, "the four fully covered windows are final")

	starts := map[time.Time]int{} // window start → revisions seen
	var prev time.Time
	for _, a := range aggs {
		require.Equal(t, 3*time.Second, a.Window.End.Sub(a.Window.Start), "every window is 3 s long")
		require.Zero(t, a.Window.Start.Sub(a.Window.Start.Truncate(time.Second)), "windows start on the step grid")
		if !prev.IsZero() && !a.Window.Start.Equal(prev) {
			require.Equal(t, time.Second, a.Window.Start.Sub(prev), "listed by start, one window per step")
		}
		prev = a.Window.Start
		require.Equal(t, starts[a.Window.Start], a.Revision, "each window numbers its own revisions")
		starts[a.Window.Start]++
		if a.Final && full(a) {
			require.Equal(t, uint64(60), a.Counts.Samples, "window %v", a.Window.Start)
			require.InDelta(t, 350, float64(a.Stats.Sum.Reported), 1e-9, "window %v", a.Window.Start)
			require.Equal(t, 2, a.Coverage.Reported)
		}
	}

	t.Run("status page", func(t *testing.T) {
		bin := testserver.RequireBinary(t, "chromium")
		dom := string(chromium(t, bin, gw.URL+"/", "--window-size=1280,1800", "--dump-dom"))
		card := regexp.MustCompile(`(?s)<article class="card series" data-group="site-a" data-metric="power_kw">.*?</article>`).FindString(dom)
		require.NotEmpty(t, card, "site-a power_kw's chart card")
		svgTag := regexp.MustCompile(`<svg[^>]*class="chart"[^>]*>`).FindString(card)
		require.Contains(t, svgTag, `data-gaps="0"`, "overlapping windows leave no gaps")
		m := regexp.MustCompile(`data-windows="(\d+)"`).FindStringSubmatch(svgTag)
		require.NotNil(t, m)
		drawn, _ := strconv.Atoi(m[1])
		require.GreaterOrEqual(t, drawn, len(starts)-1, "one window drawn per step (%d windows listed)", len(starts))
	})
}
