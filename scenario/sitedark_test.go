package scenario

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/sim"
)

// The site-dark scenarios: every device of site-a stops from darkFrom to
// darkTo of the run, site-b carries on.
const (
	darkFrom = 10 * sec
	darkTo   = 26 * sec
	darkRun  = 40 * sec
)

// siteDark is one way for site-a to go dark.
func siteDark(t *testing.T, kind sim.FaultKind, mutate func(*gateway.Config), states ...string) calibration {
	return calibration{
		s: fleet(t, "site-dark-"+string(kind), darkRun,
			sim.FaultSpec{Kind: kind, Sites: []string{"site-a"}, From: darkFrom, To: darkTo}),
		mutate: mutate,
		// The offline fault cuts connections under a publish: what the
		// broker got is what a subscriber saw.
		record: kind == sim.FaultOffline,
		check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
			checkDark(t, e, r, "site-a", states)
			if kind == sim.FaultPartition {
				for i := 1; i <= 5; i++ {
					checkPartition("site-a", fmt.Sprintf("site-a/wt-%02d", i), darkFrom, darkTo, true)(t, e, r, w, rp)
				}
			}
		},
	}
}

// TestIntegrationSiteDark is DESIGN's headline promise end to end, through
// the HTTP API: when every device of a group stops, silently, with their
// Last Wills (every device's connection to the gateway's broker drops), or
// behind a partition that later flushes, the group's windows keep coming,
// with 0 of N reported, quality bad and bounds that contain the truth;
// when the site returns its windows are complete again, and a flushed
// backlog revises the dark windows to exact values.
func TestIntegrationSiteDark(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenarios); run without -short")
	}
	t.Parallel()
	runCalibrations(t, []calibration{
		siteDark(t, sim.FaultSilent, nil, "late", "silent"),
		siteDark(t, sim.FaultOffline, nil, "offline"),
		// The flushed readings are up to 16 s old: the lateness covers
		// them.
		siteDark(t, sim.FaultPartition, func(c *gateway.Config) { c.Window.AllowedLateness = 30 * sec }, "late", "silent"),
	})
}

// checkDark checks group's windows while it is dark and after: the first
// revision of every window inside the dark period whose watermark (the
// gateway clock minus the idle timeout) passed before the site returned was
// emitted while it was dark, with no device reported, quality bad, every
// device missing in one of states (once the gateway could know), and
// bounds containing the truth; every device is live again soon after the
// return, and the finals after it are complete.
func checkDark(t *testing.T, e *env, r *result, group string, states []string) {
	t.Helper()
	from, to := r.start.Add(darkFrom), r.start.Add(darkTo)
	// The last device reading before from may be up to one interval
	// earlier; the windows from the next one on hold no reading.
	firstDark := time.Unix(0, windowStartNs(from.Add(testWindow-1))).UTC()
	due := to.Add(-e.cfg.Window.IdleTimeout - sec)
	n := 0
	for _, tw := range r.scored() {
		if tw.Group != group || tw.Start.Before(firstDark) || tw.End.After(due) {
			continue
		}
		revs := r.revisions(group, tw.Metric, tw.Start)
		require.NotEmpty(t, revs, "%s/%s window %s emitted", group, tw.Metric, clock(tw.Start))
		n++
		a := revs[0]
		switch {
		case !a.EmittedAt.Before(to):
			t.Errorf("window %s first emitted at %s, after the site returned at %s: %s", clock(tw.Start), clock(a.EmittedAt), clock(to), describe(a, tw))
		case a.Coverage.Reported != 0 || a.Coverage.Expected != 5:
			t.Errorf("window %s while dark: %d of %d reported, want 0 of 5", clock(tw.Start), a.Coverage.Reported, a.Coverage.Expected)
		case a.Quality != aggregate.QualityBad:
			t.Errorf("window %s while dark: quality %s, want bad", clock(tw.Start), a.Quality)
		case !contains(a, tw) || !(a.Stats.Sum.Upper > a.Stats.Sum.Lower):
			t.Errorf("window %s while dark: bounds do not contain the truth: %s", clock(tw.Start), describe(a, tw))
		}
		for _, m := range a.Coverage.Missing {
			if a.EmittedAt.After(from.Add(e.cfg.Window.IdleTimeout)) && !slices.Contains(states, m.State) {
				t.Errorf("window %s while dark: %s missing as %q, want one of %v", clock(tw.Start), m.Device, m.State, states)
			}
		}
	}
	require.GreaterOrEqual(t, n, 2*int(due.Sub(firstDark)/testWindow)-2, "%s windows while dark", group)
	for i := 1; i <= 5; i++ {
		checkPolledState(t, e, fmt.Sprintf("%s/wt-%02d", group, i), to.Add(5*sec), r.end, "live", "late")
	}
	checkComplete(t, r, group, to.Add(testWindow), r.end)
}

// windowStartNs is the start (Unix ns) of the testWindow window holding t.
func windowStartNs(t time.Time) int64 {
	n, d := t.UnixNano(), int64(testWindow)
	return n - n%d
}
