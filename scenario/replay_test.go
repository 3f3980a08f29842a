package scenario

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/sim"
)

// TestIntegrationDuplicateReplay is issue 4's integration test: the
// simulator's duplicate and replay faults against a running gateway.
//
//   - wt-03 publishes every reading twice, wt-04 a third of them three
//     times (plain re-publishes, no DUP flag: the device's duplicates);
//   - wt-08 re-sends its last reading from before 6 s, byte for byte, every
//     3 s from 6 s to 24 s (five repetitions, at 9, 12, 15, 18 and 21 s).
//
// Checked: the reported sums equal the truth (nothing counted twice), the
// duplicates are counted exactly (device and aggregate counts), every
// repetition is recognised and none accepted, the replaying device is
// flagged within three repetitions (device resource and the flags of its
// group's aggregates) and unflagged after replay.quiet (8 s here).
func TestIntegrationDuplicateReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenario); run without -short")
	}
	t.Parallel()
	const (
		replayer = "site-b/wt-08"
		every    = 3 * time.Second
		// quiet is short, but longer than the replay period plus the
		// delivery jitter of a loaded machine (seconds, under -race), so
		// the flag does not flap between repetitions.
		quiet = 8 * time.Second
	)
	s := fleet(t, "duplicate-replay", 36*sec,
		sim.FaultSpec{Kind: sim.FaultDuplicate, Devices: one("site-a/wt-03")},
		sim.FaultSpec{Kind: sim.FaultDuplicate, Devices: one("site-a/wt-04"), Copies: 2, Probability: 0.3},
		sim.FaultSpec{Kind: sim.FaultReplay, Devices: one(replayer), From: 6 * sec, To: 24 * sec, Every: every})
	e := newEnv(t, s, func(c *gateway.Config) { c.Replay.Quiet = quiet })
	require.Equal(t, 2, e.cfg.Replay.Threshold, "the default replay.threshold")
	r := e.run(false)
	w := newWire(t, r, e.cfg.Window.Size, e.futureLimit())

	// Nothing counted twice: every final aggregate is complete and equals
	// the truth exactly.
	rp := score(t, e, r, w)
	t.Log(rp)
	require.Equal(t, rp.finals, rp.complete, "every window of the run has every device")
	checkDevices(t, e, r, w)

	// Duplicates counted exactly, by the device and in its group's
	// aggregates.
	var dupA uint64
	for _, id := range []string{"site-a/wt-03", "site-a/wt-04"} {
		f, ok := r.fault(sim.FaultDuplicate, id)
		require.True(t, ok)
		require.Positive(t, f.Messages)
		d := e.device(id)
		require.Equal(t, f.Messages, d.Counts.Duplicates, "%s: duplicates counted, as the simulator sent them", id)
		require.Zero(t, d.Counts.Replays, "%s: a duplicate is not a replay", id)
		dupA += d.Counts.Duplicates
	}
	require.Equal(t, dupA, latestCounts(r, "site-a").Duplicates, "site-a's aggregates count each duplicate once, in its window")

	// Every repetition of the replaying device recognised, none accepted
	// (its accepted count equals its distinct readings: checkDevices).
	f, ok := r.fault(sim.FaultReplay, replayer)
	require.True(t, ok)
	require.EqualValues(t, 5, f.Messages, "repetitions at 9, 12, 15, 18 and 21 s")
	require.NotNil(t, f.ReplayTS)
	reps := make([]time.Time, f.Messages)
	for k := range reps {
		reps[k] = f.From.Add(time.Duration(k+1) * every)
	}
	d := e.device(replayer)
	t.Logf("%s: replays %d, duplicates %d, first replay %v, last replay %v; repetitions at %v (re-sent reading of %s)",
		replayer, d.Counts.Replays, d.Counts.Duplicates, ptrClock(d.FirstReplay), ptrClock(d.LastReplay), clocks(reps), clock(*f.ReplayTS))
	require.Equal(t, f.Messages, d.Counts.Replays+d.Counts.Duplicates, "%s: every repetition recognised", replayer)
	site := latestCounts(r, "site-b")
	require.Equal(t, d.Counts.Duplicates, site.Duplicates, "site-b's aggregates count the repetitions taken for duplicates")
	require.LessOrEqual(t, site.Replays, d.Counts.Replays, "site-b's aggregates count replays only in windows still open")

	// Flagged within three repetitions: when it is first seen flagged, the
	// gateway has received at most three (each one counted as a replay or,
	// when recent, a duplicate).
	var since time.Time
	for _, p := range e.samples() {
		if dv := p.devices[replayer]; dv.Replaying && dv.ReplayingSince != nil {
			since = *dv.ReplayingSince
			seen := dv.Counts.Replays + dv.Counts.Duplicates
			t.Logf("%s flagged replaying at %s, after %d repetitions (%d replays, %d duplicates)",
				replayer, clock(since), seen, dv.Counts.Replays, dv.Counts.Duplicates)
			if seen > 3 {
				t.Errorf("%s flagged after %d repetitions (%d counted replays, %d duplicates; replay.threshold %d, replay.min_age %v), want within three",
					replayer, seen, dv.Counts.Replays, dv.Counts.Duplicates, e.cfg.Replay.Threshold, e.cfg.Replay.MinAge)
			}
			break
		}
	}
	if since.IsZero() {
		t.Fatalf("%s never flagged replaying (replays %d, duplicates %d); repetitions at %v", replayer, d.Counts.Replays, d.Counts.Duplicates, clocks(reps))
	}
	require.True(t, since.After(reps[0]), "flagged only after it replayed")

	// Unflagged after the quiet period: flagged until its last replay (as
	// the gateway received it) + quiet, and from then on (the state scan
	// runs every second) unflagged.
	require.NotNil(t, d.LastReplay)
	last := *d.LastReplay
	require.True(t, last.After(reps[len(reps)-1]), "the last replay is the last repetition")
	unflag := last.Add(quiet)
	for _, p := range e.samples() {
		flagged := p.devices[replayer].Replaying
		switch {
		case p.at.After(since.Add(500*time.Millisecond)) && p.at.Before(unflag.Add(-500*time.Millisecond)) && !flagged:
			t.Errorf("%s unflagged at %s, before the quiet period after its last repetition (%s) ended", replayer, clock(p.at), clock(last))
		case p.at.After(unflag.Add(3*time.Second)) && flagged:
			t.Errorf("%s still flagged at %s, quiet since %s (replay.quiet %v)", replayer, clock(p.at), clock(last), quiet)
		}
	}
	require.False(t, e.device(replayer).Replaying, "%s unflagged at the end", replayer)

	// The flag in its group's aggregates while it is flagged, and only then.
	flag := aggregate.FlagReplaying + replayer
	flaggedAggs := 0
	for _, k := range []series{{"site-a", sim.MetricPower}, {"site-b", sim.MetricPower}, {"site-b", sim.MetricWind}} {
		for _, a := range r.aggs[k] {
			has := slices.Contains(a.Flags, flag)
			switch {
			case k.group == "site-a" && len(a.Flags) > 0:
				t.Errorf("site-a aggregate flagged %v", a.Flags)
			case k.group == "site-a":
			case a.EmittedAt.After(since.Add(300*time.Millisecond)) && a.EmittedAt.Before(unflag.Add(-300*time.Millisecond)):
				flaggedAggs++
				if !has {
					t.Errorf("%s/%s window %s rev %d emitted %s while %s is flagged, flags %v", k.group, k.metric, clock(a.Window.Start), a.Revision, clock(a.EmittedAt), replayer, a.Flags)
				}
			case (a.EmittedAt.Before(since) || a.EmittedAt.After(unflag.Add(2*time.Second))) && has:
				t.Errorf("%s/%s window %s rev %d emitted %s flagged %v while %s is not flagged", k.group, k.metric, clock(a.Window.Start), a.Revision, clock(a.EmittedAt), a.Flags, replayer)
			}
		}
	}
	require.Positive(t, flaggedAggs, "aggregates emitted while %s is flagged", replayer)
}

// latestCounts sums the counts of the latest revision of every window of
// group's power_kw series.
func latestCounts(r *result, group string) aggregate.Counts {
	latest := map[int64]aggregate.Aggregate{}
	for _, a := range r.aggs[series{group, sim.MetricPower}] {
		k := a.Window.Start.UnixNano()
		if b, ok := latest[k]; !ok || a.Revision > b.Revision {
			latest[k] = a
		}
	}
	var c aggregate.Counts
	for _, a := range latest {
		c.Samples += a.Counts.Samples
		c.Duplicates += a.Counts.Duplicates
		c.Replays += a.Counts.Replays
		c.Late += a.Counts.Late
	}
	return c
}

func clocks(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = clock(t)
	}
	return out
}

func ptrClock(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return clock(*t)
}
