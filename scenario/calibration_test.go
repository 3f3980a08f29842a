package scenario

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/sim"
)

// calibration is one fault scenario of TestIntegrationCalibration.
type calibration struct {
	s      sim.Scenario
	mutate func(*gateway.Config)
	// clocks marks a scenario with skewed or stepped clocks: its honest
	// devices are revised no more often than in the calm scenario.
	clocks bool
	// record takes the wire from a subscriber (see env.run).
	record bool
	// check runs the scenario's own checks (states, revisions) after the
	// common scoring.
	check func(t *testing.T, e *env, r *result, w *wire, rp *report)
}

func calibrations(t *testing.T) []calibration {
	return []calibration{
		{
			// No fault: the baseline of revisions the clock scenarios are
			// held to.
			s: fleet(t, "calm", 36*sec),
		},
		{
			s: fleet(t, "silent", 36*sec,
				sim.FaultSpec{Kind: sim.FaultSilent, Devices: one("site-a/wt-03"), From: 6 * sec}),
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				from := r.start.Add(6 * sec)
				silent := checkEpisode(t, e, "site-a/wt-03", from, r.end, 25*sec, "silent")
				checkMissingState(t, r, "site-a", "site-a/wt-03", from, r.end, time.Time{}, silent.Add(sec), "silent")
			},
		},
		{
			s: fleet(t, "offline", 36*sec,
				sim.FaultSpec{Kind: sim.FaultOffline, Devices: one("site-b/wt-08"), From: 8 * sec, To: 22 * sec}),
			record: true,
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				from, to := r.start.Add(8*sec), r.start.Add(22*sec)
				offline := checkEpisode(t, e, "site-b/wt-08", from, to, 5*sec, "offline")
				checkMissingState(t, r, "site-b", "site-b/wt-08", from, to, to, offline.Add(sec), "offline")
				checkPolledState(t, e, "site-b/wt-08", to.Add(5*sec), r.end, "live", "late")
				checkComplete(t, r, "site-b", to.Add(testWindow), r.end)
			},
		},
		{
			// Issue 5's integration test: a device partitioned for 30 s,
			// then flushing, shows first as missing with bounds, then its
			// windows are revised to exact values (revisions=all).
			s: fleet(t, "partition-and-flush", 50*sec,
				sim.FaultSpec{Kind: sim.FaultPartition, Devices: one("site-a/wt-02"), From: 8 * sec, To: 38 * sec}),
			// The flushed readings are up to 30 s old: the lateness covers
			// them, so the windows are still open when they arrive.
			mutate: func(c *gateway.Config) { c.Window.AllowedLateness = 40 * sec },
			check:  checkPartition("site-a", "site-a/wt-02", 8*sec, 38*sec, false),
		},
		{
			s: fleet(t, "delay", 36*sec,
				sim.FaultSpec{Kind: sim.FaultDelay, Devices: one("site-a/wt-04"), Delay: 3 * sec},
				sim.FaultSpec{Kind: sim.FaultDelay, Devices: one("site-b/wt-09"), Delay: 1500 * time.Millisecond, Probability: 0.5}),
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				require.Positive(t, rp.revised, "delayed readings revise windows")
			},
		},
		{
			s: fleet(t, "jitter", 36*sec,
				sim.FaultSpec{Kind: sim.FaultJitter, Devices: one("site-a/wt-02"), Jitter: 3 * sec},
				sim.FaultSpec{Kind: sim.FaultJitter, Devices: one("site-b/wt-07"), Jitter: sec}),
		},
		{
			// wt-03's clock is 20 s behind, wt-05's 20 s ahead (beyond
			// max_future_skew), wt-08's 5 s ahead: each is measured and
			// corrected to true time (liveness.clock_correction), and the
			// truth is in true time. (Until a clock ahead is measured its
			// readings take their receive time less its neighbours'
			// typical delay: true to within the spread of deliveries,
			// which under -race and load may carry one across a window
			// boundary. Such windows have uncertain edges (wider bounds).
			// Now and then, under -race, one window around the moment a
			// clock is first measured still misses the truth (a reporting
			// device short of samples): a 100 s run keeps that start-up
			// cost, which a day's run would not see, under 1 %.)
			s: fleet(t, "clock-skew", 100*sec,
				sim.FaultSpec{Kind: sim.FaultClockSkew, Devices: one("site-a/wt-03"), Skew: -20 * sec},
				sim.FaultSpec{Kind: sim.FaultClockSkew, Devices: one("site-a/wt-05"), Skew: 20 * sec},
				sim.FaultSpec{Kind: sim.FaultClockSkew, Devices: one("site-b/wt-08"), Skew: 5 * sec}),
			clocks: true,
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				require.Empty(t, w.future, "no reading is rejected future_ts")
				// In true time the finals are what the devices delivered,
				// but for the windows (both metrics) of wt-03's first two
				// blocks of readings (4 s: at most three windows): until
				// its offset is measured they are as old as they claim.
				require.LessOrEqual(t, rp.clockInexact, 6, "finals that differ from the wire in true time")
				for dev, off := range map[string]float64{"site-a/wt-03": 20, "site-a/wt-05": -20, "site-b/wt-08": -5} {
					checkClockOffset(t, e, dev, off, r.end)
					checkCorrection(t, e, dev, off, 0)
				}
				// Measured within two blocks of readings (the first ones of
				// wt-05 and wt-08 take their receive time at once).
				checkFlagged(t, r, "site-a", "site-a/wt-05", r.start.Add(testWindow), r.end)
				checkFlagged(t, r, "site-a", "site-a/wt-03", r.start.Add(3*testWindow), r.end)
				checkFlagged(t, r, "site-b", "site-b/wt-08", r.start.Add(testWindow), r.end)
				checkFlagged(t, r, "site-b", "site-b/wt-06", time.Time{}, time.Time{})
			},
		},
		{
			// wt-02's clock steps an hour ahead at 10 s (a reboot without a
			// real-time clock the other way round), wt-07's 90 s back at
			// 12 s (an NTP step): no reading is lost, none moves the
			// watermark, and each is corrected once the new offset is
			// confirmed.
			s: fleet(t, "clock-jump", 36*sec,
				sim.FaultSpec{Kind: sim.FaultClockJump, Devices: one("site-a/wt-02"), From: 10 * sec, Jump: time.Hour},
				sim.FaultSpec{Kind: sim.FaultClockJump, Devices: one("site-b/wt-07"), From: 12 * sec, Jump: -90 * sec}),
			clocks: true,
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				require.Zero(t, rp.clockInexact, "finals that differ from the wire in true time")
				checkCorrection(t, e, "site-a/wt-02", -3600, 1)
				checkCorrection(t, e, "site-b/wt-07", 90, 1)
				checkFlagged(t, r, "site-a", "site-a/wt-02", r.start.Add(10*sec+testWindow), r.end)
				checkFlagged(t, r, "site-b", "site-b/wt-07", r.start.Add(12*sec+testWindow), r.end)
			},
		},
		{
			s: fleet(t, "reorder", 36*sec,
				sim.FaultSpec{Kind: sim.FaultReorder, Devices: one("site-a/wt-04"), Window: 4},
				sim.FaultSpec{Kind: sim.FaultReorder, Devices: one("site-b/wt-09"), Window: 8}),
		},
		{
			s: fleet(t, "burst", 36*sec,
				sim.FaultSpec{Kind: sim.FaultBurst, Devices: one("site-a/wt-01"), Factor: 10, From: 10 * sec, To: 25 * sec},
				sim.FaultSpec{Kind: sim.FaultBurst, Devices: one("site-b/wt-06"), Factor: 4}),
			check: func(t *testing.T, e *env, r *result, w *wire, rp *report) {
				f, ok := r.fault(sim.FaultBurst, "site-a/wt-01")
				require.True(t, ok)
				require.Greater(t, f.Messages, uint64(15*4*9), "wt-01 reports 10× as often for 15 s")
			},
		},
	}
}

// TestIntegrationCalibration runs every fault scenario against its own
// gateway, all at once, and scores the aggregates against the simulator's
// ground truth (see score): the truth inside the bounds of every revision
// in ≥ 99 % of the windows, final aggregates exact. It logs the coverage and
// the median width of the bounds relative to the physics-optimal width.
func TestIntegrationCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenarios); run without -short")
	}
	t.Parallel()
	reports := runCalibrations(t, calibrations(t))
	calm := reports["calm"]
	for _, c := range calibrations(t) {
		// The honest devices of a group with a skewed or stepped clock are
		// never too_late (checkDevices) and not revised more often than
		// without it (two windows of leeway for a loaded machine).
		if rp := reports[c.s.Name]; c.clocks && rp != nil && calm != nil && rp.revised > calm.revised+2 {
			t.Errorf("%s: %d windows revised, %d in the calm run", c.s.Name, rp.revised, calm.revised)
		}
	}
}

// runCalibrations runs cases, each against its own gateway, all at once,
// scores them and logs the table; it returns the reports by scenario name.
func runCalibrations(t *testing.T, cases []calibration) map[string]*report {
	var (
		mu      sync.Mutex
		reports []*report
		wg      sync.WaitGroup
	)
	// The scenarios run in real time and mostly wait, so they all run at
	// once (subtests started from goroutines run concurrently, beyond
	// -parallel).
	for _, c := range cases {
		wg.Go(func() {
			t.Run(c.s.Name, func(t *testing.T) {
				e := newEnv(t, c.s, c.mutate)
				r := e.run(c.record)
				w := newWire(t, r, e.cfg.Window.Size, e.futureLimit())
				rp := score(t, e, r, w)
				t.Log(rp)
				mu.Lock()
				reports = append(reports, rp)
				mu.Unlock()
				checkDevices(t, e, r, w)
				if c.check != nil {
					c.check(t, e, r, w, rp)
				}
			})
		})
	}
	wg.Wait()
	slices.SortFunc(reports, func(a, b *report) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	byName := map[string]*report{}
	for _, rp := range reports {
		b.WriteString("\n" + rp.String())
		byName[rp.name] = rp
	}
	t.Logf("calibration against the ground truth in true time (window %v, bounds of sum/mean/min/max of every revision; width: power_kw sum bounds / physics-optimal):%s", testWindow, b.String())
	return byName
}

// checkMissingState checks that in every revision of group's power_kw
// windows lying inside [from, to) that was emitted before until (zero: any
// time), device is listed missing, with bounds wider than a point, and, in
// those emitted from stateFrom on, in one of states.
func checkMissingState(t *testing.T, r *result, group, device string, from, to, until, stateFrom time.Time, states ...string) {
	t.Helper()
	n := 0
	for _, a := range r.aggs[series{group, sim.MetricPower}] {
		if a.Window.Start.Before(from) || a.Window.End.After(to) || !until.IsZero() && !a.EmittedAt.Before(until) {
			continue
		}
		if _, ok := r.truth.Window(group, sim.MetricPower, a.Window.Start); !ok {
			continue
		}
		n++
		i := slices.IndexFunc(a.Coverage.Missing, func(m aggregate.Missing) bool { return m.Device == device })
		if i < 0 {
			t.Errorf("%s/%s window %s rev %d: %s not listed missing (missing %v)", group, a.Metric, clock(a.Window.Start), a.Revision, device, a.Coverage.Missing)
			continue
		}
		if st := a.Coverage.Missing[i].State; !a.EmittedAt.Before(stateFrom) && !slices.Contains(states, st) {
			t.Errorf("%s/%s window %s rev %d: %s missing as %q, want one of %v", group, a.Metric, clock(a.Window.Start), a.Revision, device, st, states)
		}
		if !(a.Stats.Sum.Upper > a.Stats.Sum.Lower) {
			t.Errorf("%s/%s window %s rev %d: %s missing but the sum bounds are [%v, %v]", group, a.Metric, clock(a.Window.Start), a.Revision, device, a.Stats.Sum.Lower, a.Stats.Sum.Upper)
		}
	}
	require.Positive(t, n, "%s has windows in [%s, %s)", group, clock(from), clock(to))
}

// checkEpisode checks that device's resource says state at the latest
// within after from, and from then on until to, and returns when it first
// said so. (How soon a stopped device is silent depends on the rhythm of
// arrivals the gateway learned; on a loaded machine deliveries come in bursts
// and it takes longer.)
func checkEpisode(t *testing.T, e *env, device string, from, to time.Time, within time.Duration, state string) time.Time {
	t.Helper()
	var first time.Time
	for _, p := range e.samples() {
		if p.at.Before(from) || !p.at.Before(to) {
			continue
		}
		d := p.devices[device]
		switch {
		case first.IsZero() && d.State == state:
			first = p.at
			t.Logf("%s %s %.1fs after %s (phi %.1f, learned interval %.3fs)", device, state, p.at.Sub(from).Seconds(), clock(from), d.Phi, d.IntervalS)
		case !first.IsZero() && d.State != state:
			t.Errorf("%s at %s: state %q after it was %s at %s, want %s until %s", device, clock(p.at), d.State, state, clock(first), state, clock(to))
		}
	}
	if first.IsZero() || first.After(from.Add(within)) {
		t.Fatalf("%s not %s within %v after %s (first at %s)", device, state, within, clock(from), clock(first))
	}
	return first
}

// checkPolledState checks that every sample of device's resource taken in
// [from, to) says one of states.
func checkPolledState(t *testing.T, e *env, device string, from, to time.Time, states ...string) {
	t.Helper()
	n := 0
	for _, p := range e.samples() {
		if p.at.Before(from) || !p.at.Before(to) {
			continue
		}
		n++
		if d := p.devices[device]; !slices.Contains(states, d.State) {
			age := math.NaN()
			if d.AgeS != nil {
				age = *d.AgeS
			}
			t.Errorf("%s at %s: state %q (phi %.1f, learned interval %.3fs, last seen %.1fs ago), want %v",
				device, clock(p.at), d.State, d.Phi, d.IntervalS, age, states)
		}
	}
	require.Greater(t, n, 3, "samples of %s in [%s, %s)", device, clock(from), clock(to))
}

// checkComplete checks that the final aggregates of group's windows inside
// [from, to) have every expected device.
func checkComplete(t *testing.T, r *result, group string, from, to time.Time) {
	t.Helper()
	for _, a := range r.aggs[series{group, sim.MetricPower}] {
		if !a.Final || a.Window.Start.Before(from) || a.Window.End.After(to) {
			continue
		}
		if tw, ok := r.truth.Window(group, sim.MetricPower, a.Window.Start); !ok || tw.Partial {
			continue
		}
		if a.Coverage.Reported != a.Coverage.Expected {
			t.Errorf("%s window %s final: %d of %d reported, missing %v", group, clock(a.Window.Start), a.Coverage.Reported, a.Coverage.Expected, a.Coverage.Missing)
		}
	}
}

// checkCorrection checks the clock correction the device resource shows
// at the end of the run: want seconds (minus the skew) plus the quickest
// delivery, and jumps clock jumps detected.
func checkCorrection(t *testing.T, e *env, device string, want float64, jumps uint32) {
	t.Helper()
	d := e.device(device)
	if d.ClockCorrectionS < want-0.05 || d.ClockCorrectionS > want+1 {
		t.Errorf("clock correction of %s: %.3fs, want %vs plus the quickest delivery", device, d.ClockCorrectionS, want)
	}
	require.Equal(t, jumps, d.ClockJumps, "clock jumps of %s", device)
	require.False(t, d.ClockReceiveTime, "%s: its offset is confirmed", device)
}

// checkFlagged checks that every power_kw aggregate of group's windows in
// [from, to) in which device reported carries its clock_corrected flag, and
// that none outside it does (from zero: no window carries it).
func checkFlagged(t *testing.T, r *result, group, device string, from, to time.Time) {
	t.Helper()
	flag, n := aggregate.FlagClockCorrected+device, 0
	for _, a := range r.aggs[series{group, sim.MetricPower}] {
		in := !from.IsZero() && !a.Window.Start.Before(from) && !a.Window.End.After(to)
		reported := !slices.ContainsFunc(a.Coverage.Missing, func(m aggregate.Missing) bool { return m.Device == device })
		switch has := slices.Contains(a.Flags, flag); {
		case in && reported && !has:
			t.Errorf("%s window %s rev %d: no %s flag (flags %v)", group, clock(a.Window.Start), a.Revision, flag, a.Flags)
		case from.IsZero() && has:
			t.Errorf("%s window %s rev %d: flagged %s", group, clock(a.Window.Start), a.Revision, flag)
		case in && reported:
			n++
		}
	}
	if !from.IsZero() {
		require.Positive(t, n, "%s windows flagged %s", group, flag)
	}
}

// checkClockOffset checks device's clock offset (receive minus event time)
// as sampled during the run: want seconds plus the transport delay, which on
// a loaded machine varies by seconds; its smallest value is the clock's
// offset plus the quickest delivery.
func checkClockOffset(t *testing.T, e *env, device string, want float64, end time.Time) {
	t.Helper()
	low := math.Inf(1)
	for _, p := range e.samples() {
		if off := p.devices[device].ClockOffsetS; p.at.Before(end) && off != nil {
			low = min(low, *off)
		}
	}
	if low < want-0.25 || low > want+1 {
		t.Errorf("clock offset of %s: at least %.3fs during the run, want %vs plus the transport delay", device, low, want)
	}
}

// checkPartition returns the partition scenario's checks: device of group is
// partitioned in [from, to) since the start and then flushes its buffer.
// With dark, the whole group is: its windows are due idle_timeout after
// their end (the gateway clock), not allowed_skew (the other devices').
func checkPartition(group, device string, from, to time.Duration, dark bool) func(t *testing.T, e *env, r *result, w *wire, rp *report) {
	return func(t *testing.T, e *env, r *result, w *wire, rp *report) {
		f, ok := r.fault(sim.FaultPartition, device)
		require.True(t, ok)
		require.EqualValues(t, int((to-from)/testInterval), f.Messages, "readings buffered by the partition")
		pFrom, pTo := r.start.Add(from), r.start.Add(to)
		silent := checkEpisode(t, e, device, pFrom, pTo, to-from-2*sec, "silent")
		checkPolledState(t, e, device, pTo.Add(5*sec), r.end, "live", "late")
		checkMissingState(t, r, group, device, pFrom, pTo, pTo, silent.Add(sec), "silent")
		// The windows inside the partition whose provisional aggregate is
		// due (watermark past the end) before the flush.
		quiet := e.cfg.Window.AllowedSkew
		if dark {
			quiet = e.cfg.Window.IdleTimeout
		}
		due := pTo.Add(-quiet - sec)
		windows := 0
		for _, metric := range []string{sim.MetricPower, sim.MetricWind} {
			for _, tw := range r.scored() {
				if tw.Group != group || tw.Metric != metric || tw.Start.Before(pFrom) || tw.End.After(due) {
					continue
				}
				windows++
				revs := r.revisions(group, metric, tw.Start)
				first := revs[0]
				// First: missing, with bounds that contain the truth.
				if first.Revision != 0 || !slices.ContainsFunc(first.Coverage.Missing, func(m aggregate.Missing) bool { return m.Device == device }) {
					t.Errorf("revision 0 should miss %s: %s", device, describe(first, tw))
				}
				if !(first.Stats.Sum.Upper > first.Stats.Sum.Lower) || !contains(first, tw) {
					t.Errorf("revision 0 should bound the truth: %s", describe(first, tw))
				}
				if first.Final || first.Quality == aggregate.QualityGood {
					t.Errorf("revision 0 is %s, final %v: %s", first.Quality, first.Final, describe(first, tw))
				}
				// Then: revised after the flush, before it is final, to the
				// exact values (the last revision before the final one).
				if len(revs) < 3 {
					t.Errorf("%s/%s window %s: revisions %v, want a provisional, a revision after the flush and a final",
						group, metric, clock(tw.Start), revisionNumbers(revs))
					continue
				}
				rev := revs[len(revs)-2]
				if rev.Final || rev.EmittedAt.Before(pTo) || rev.Coverage.Reported != rev.Coverage.Expected {
					t.Errorf("%s/%s window %s: the revision before the final one should be complete, after the flush at %s: %s",
						group, metric, clock(tw.Start), clock(pTo), describe(rev, tw))
				}
				s := rev.Stats.Sum
				if !relEq(float64(s.Reported), tw.Sum) || !relEq(float64(s.Lower), tw.Sum) || !relEq(float64(s.Upper), tw.Sum) {
					t.Errorf("%s/%s window %s revision %d: sum %v [%v, %v], want exactly the truth %v",
						group, metric, clock(tw.Start), rev.Revision, s.Reported, s.Lower, s.Upper, tw.Sum)
				}
				if rev.Counts.Late == 0 {
					t.Errorf("%s/%s window %s revision %d counts no late readings", group, metric, clock(tw.Start), rev.Revision)
				}
				final := revs[len(revs)-1]
				if !final.Final || final.Quality != aggregate.QualityGood || !relEq(float64(final.Stats.Sum.Reported), tw.Sum) {
					t.Errorf("final revision should be good and exact: %s", describe(final, tw))
				}
			}
		}
		require.GreaterOrEqual(t, windows, 2*int(math.Floor(float64(to-from-quiet-sec)/float64(testWindow)))-2, "windows inside the partition")
	}
}
