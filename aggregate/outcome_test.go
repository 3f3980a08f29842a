package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/window"
)

// testWindow is the window configuration of the outcome tests.
var testWindow = window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, AllowedSkew: 2 * time.Second}

// requireOneOutcome checks the one-outcome rule over a finished run: every
// message has exactly one outcome, every rejection a reason, and the
// accepted readings are exactly those the final aggregates count (each
// message carries power_kw, so the power_kw samples of the finals add up
// to the accepted messages). windowsPerReading is size/step when every
// accepted reading reaches all its windows; -size/step when late readings
// may miss some of them (hopping windows).
func requireOneOutcome(t *testing.T, msgs []streamMsg, out []Aggregate, outcomes map[string]float64, windowsPerReading int) {
	t.Helper()
	var total, reasons float64
	for _, o := range []string{OutcomeAccepted, OutcomeDuplicate, OutcomeReplay, OutcomeRejected} {
		total += outcomes[o]
	}
	for _, r := range ingest.RejectReasons {
		reasons += outcomes["rejected:"+r]
	}
	require.Equal(t, float64(len(msgs)), total, "every message has one outcome: %v", outcomes)
	require.Equal(t, outcomes[OutcomeRejected], reasons, "every rejection has a reason: %v", outcomes)
	type key struct {
		group string
		start time.Time
	}
	finals := map[key]Aggregate{}
	var samples uint64
	for _, a := range out {
		if a.Metric != "power_kw" || !a.Final {
			continue
		}
		k := key{a.Group, a.Window.Start}
		_, dup := finals[k]
		require.False(t, dup, "one final per window: %s %v", a.Group, a.Window.Start)
		finals[k] = a
		samples += a.Counts.Samples
	}
	accepted := uint64(outcomes[OutcomeAccepted])
	if windowsPerReading < 0 {
		// Hopping windows with late readings: a late reading revises the
		// windows still open and misses those already final, so each
		// accepted reading is in at least one final and at most size/step.
		require.GreaterOrEqual(t, samples, accepted, "every accepted reading is in a final: %v", outcomes)
		require.LessOrEqual(t, samples, accepted*uint64(-windowsPerReading), "%v", outcomes)
		return
	}
	require.Equal(t, accepted*uint64(windowsPerReading), samples,
		"accepted readings are exactly those in the final aggregates (×%d windows each): %v", windowsPerReading, outcomes)
}

// genOutcomeStream returns a minute of readings with random arrival orders,
// clock offsets and group creation times: devices of the listed site-a and
// of learned sites s5..s7 that start at random seconds, with clocks up to
// 20 s fast or 90 s slow, random transport delays (some past the
// lateness), a backlog flushed when a device starts, and year-old readings.
func genOutcomeStream(r *rand.Rand) []streamMsg {
	type dev struct {
		site, id string
		offset   time.Duration
		from     int
	}
	var devs []dev
	for _, id := range []string{"a01", "a02", "a03"} {
		devs = append(devs, dev{site: "site-a", id: "site-a/" + id})
	}
	for s := 5; s <= 7; s++ {
		site := fmt.Sprintf("s%d", s)
		for i := range 1 + r.IntN(3) {
			devs = append(devs, dev{site: site, id: fmt.Sprintf("%s/d%d", site, i), from: r.IntN(40)})
		}
	}
	for i := range devs {
		switch r.IntN(4) {
		case 0:
			devs[i].offset = time.Duration(r.IntN(20_000)) * time.Millisecond
		case 1:
			devs[i].offset = -time.Duration(r.IntN(90_000)) * time.Millisecond
		}
	}
	var msgs []streamMsg
	seq := map[string]uint64{}
	add := func(d dev, at, ts time.Duration) {
		seq[d.id]++
		msgs = append(msgs, streamMsg{at: at, site: d.site, dev: d.id, seq: seq[d.id], ts: ts, power: float64(r.IntN(5000)) / 100})
	}
	for _, d := range devs {
		if r.IntN(2) == 0 { // a backlog flushed when the device starts
			for k := range 1 + r.IntN(30) {
				add(d, time.Duration(d.from)*time.Second, time.Duration(d.from-1-k*3)*time.Second+d.offset)
			}
		}
		for i := d.from; i < 60; i++ {
			delay := time.Duration(r.IntN(500)) * time.Millisecond
			switch r.IntN(12) {
			case 0:
				delay += time.Duration(r.IntN(40)) * time.Second // late, maybe too late
			case 1:
				add(d, time.Duration(i)*time.Second, -365*24*time.Hour) // a year old
			}
			add(d, time.Duration(i)*time.Second+delay, time.Duration(i)*time.Second+d.offset)
		}
	}
	slices.SortStableFunc(msgs, func(a, b streamMsg) int { return int(a.at - b.at) })
	// Shuffle messages that arrive in the same second: arrival order is random.
	for i := 0; i < len(msgs); {
		j := i
		for j < len(msgs) && msgs[j].at/time.Second == msgs[i].at/time.Second {
			j++
		}
		r.Shuffle(j-i, func(a, b int) { msgs[i+a], msgs[i+b] = msgs[i+b], msgs[i+a] })
		slices.SortStableFunc(msgs[i:j], func(a, b streamMsg) int { return int(a.at - b.at) })
		i = j
	}
	return msgs
}

func TestEngineOneOutcomeProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			msgs := genOutcomeStream(rand.New(rand.NewPCG(seed, 15)))
			// With max_catch_up 1 a backlog makes the first round skip
			// windows that hold accepted readings: they are adopted.
			catchUp := testWindow
			catchUp.MaxCatchUp = 1
			hopping := testWindow
			hopping.Size, hopping.Step = 30*time.Second, 10*time.Second
			for _, shards := range []int{1, 3} {
				for _, w := range []window.Config{testWindow, catchUp, hopping} {
					out, outcomes := runStreamWith(t, Config{Shards: shards, Window: w}, msgs)
					require.Positive(t, outcomes["rejected:"+ingest.ReasonTooLate], "the stream has too_late readings")
					perReading := 1
					if w.Step != 0 {
						perReading = -int(w.Size / w.Step)
					}
					requireOneOutcome(t, msgs, out, outcomes, perReading)
				}
			}
		})
	}
}

// Issue 15's reproduction: a new group's first readings are a year old and
// arrive fast, across its first emit rounds. They used to be counted
// accepted (the group had no cutoff before its first round), then purged
// by the round's lateness floor, in no aggregate. Now they are too_late.
func TestEngineYearOldReadingsOfANewGroup(t *testing.T) {
	t.Parallel()
	var msgs []streamMsg
	for i := range 2000 {
		d := fmt.Sprintf("s9/d%d", i%4)
		msgs = append(msgs, streamMsg{
			at: time.Duration(i) * 100 * time.Microsecond, site: "s9", dev: d, seq: uint64(i/4 + 1),
			ts: -365*24*time.Hour + time.Duration(i)*time.Millisecond, power: 10,
		})
	}
	// And a fresh device of the same group, and a backlog within the
	// lateness horizon: both accepted and aggregated.
	for i := range 30 {
		msgs = append(msgs, streamMsg{at: time.Duration(i) * time.Second, site: "s9", dev: "s9/fresh", seq: uint64(i + 1), ts: time.Duration(i) * time.Second, power: 1})
		msgs = append(msgs, streamMsg{at: 50 * time.Millisecond, site: "s9", dev: "s9/backlog", seq: uint64(i + 1), ts: time.Duration(i-25) * time.Second, power: 2})
	}
	slices.SortStableFunc(msgs, func(a, b streamMsg) int { return int(a.at - b.at) })
	out, outcomes := runStreamWith(t, Config{Shards: 2, Window: testWindow}, msgs)
	require.Equal(t, 2000.0, outcomes["rejected:"+ingest.ReasonTooLate], "the year-old readings are too late: %v", outcomes)
	require.Equal(t, 60.0, outcomes[OutcomeAccepted], "%v", outcomes)
	requireOneOutcome(t, msgs, out, outcomes, 1)
}

// honestAndFast returns 90 s of readings of site-a's six listed devices
// (honest clocks, up to 300 ms of jitter) and, unless fast is 0, of a
// learned device of site-a whose clock runs fast ahead.
func honestAndFast(r *rand.Rand, fast time.Duration) []streamMsg {
	var msgs []streamMsg
	seq := map[string]uint64{}
	for i := range 90 {
		at := time.Duration(i)*time.Second + 17*time.Millisecond
		for d := 1; d <= 6; d++ {
			id := fmt.Sprintf("site-a/a%02d", d)
			seq[id]++
			ts := time.Duration(i)*time.Second - time.Duration(r.IntN(300))*time.Millisecond
			msgs = append(msgs, streamMsg{at: at, site: "site-a", dev: id, seq: seq[id], ts: ts, power: 10})
		}
		if fast != 0 {
			seq["fast"]++
			msgs = append(msgs, streamMsg{at: at, site: "site-a", dev: "site-a/fast", seq: seq["fast"], ts: time.Duration(i)*time.Second + fast, power: 10})
		}
	}
	return msgs
}

// revisionsAndLate counts the revisions (not final) among out and the late
// readings the finals count.
func revisionsAndLate(out []Aggregate) (revisions int, late uint64) {
	for _, a := range out {
		if a.Metric != "power_kw" {
			continue
		}
		if a.Revision > 0 && !a.Final {
			revisions++
		}
		if a.Final {
			late += a.Counts.Late
		}
	}
	return revisions, late
}

// Clocks lie: one device of a group whose clock runs 8 to 20 s fast must
// not drag the group's watermark ahead. The honest devices' readings are
// never too late and revise no more windows than without it (none: their
// jitter is within allowed_skew).
func TestEngineFastClockDoesNotDragTheWatermark(t *testing.T) {
	t.Parallel()
	cfg := Config{Shards: 2, Window: testWindow}
	cfg.Limits.MaxFutureSkew = 30 * time.Second // the fast clock's readings are accepted
	base := honestAndFast(rand.New(rand.NewPCG(1, 1)), 0)
	out, outcomes := runStreamWith(t, cfg, base)
	baseRevisions, baseLate := revisionsAndLate(out)
	require.Zero(t, outcomes[OutcomeRejected], "%v", outcomes)
	for _, fast := range []time.Duration{8 * time.Second, 13500 * time.Millisecond, 20 * time.Second} {
		t.Run(fmt.Sprint("fast=", fast), func(t *testing.T) {
			msgs := honestAndFast(rand.New(rand.NewPCG(1, 1)), fast)
			out, outcomes := runStreamWith(t, cfg, msgs)
			require.Zero(t, outcomes["rejected:"+ingest.ReasonTooLate], "no honest reading is too late: %v", outcomes)
			require.Zero(t, outcomes[OutcomeRejected], "%v", outcomes)
			revisions, late := revisionsAndLate(out)
			require.LessOrEqual(t, revisions, baseRevisions, "no more revisions than without the fast clock")
			require.LessOrEqual(t, late, baseLate, "no more late readings than without the fast clock")
			// Every window's final counts the six honest devices.
			// runStreamWith's t0: synctest's epoch plus 10 s.
			t0 := time.Date(2000, 1, 1, 0, 0, 10, 0, time.UTC)
			finals := slices.DeleteFunc(slices.Clone(out), func(a Aggregate) bool {
				return !a.Final || a.Group != "site-a" || a.Metric != "power_kw" || a.Window.Start.Before(t0) || !a.Window.End.Before(t0.Add(90*time.Second))
			})
			require.Len(t, finals, 8)
			for _, a := range finals {
				require.GreaterOrEqual(t, a.Coverage.Reported, 6, "window %v", a.Window.Start)
				for _, m := range a.Coverage.Missing {
					require.Equal(t, "site-a/fast", m.Device, "window %v", a.Window.Start)
				}
			}
			requireOneOutcome(t, msgs, out, outcomes, 1)
			// site-b never reports: its watermark follows the gateway
			// clock minus idle_timeout, and its windows keep coming, 0 of 5.
			dark := 0
			for _, a := range out {
				if a.Group == "site-b" && a.Final && a.Metric == "power_kw" {
					require.Zero(t, a.Coverage.Reported)
					require.Equal(t, QualityBad, a.Quality)
					dark++
				}
			}
			require.Greater(t, dark, 8, "a dark site keeps emitting windows")
		})
	}
}

// onTimeStream returns 80 s of readings of site-a's six listed devices, on
// time (jitter within allowed_skew), some missing, most with a temperature.
func onTimeStream(r *rand.Rand) []streamMsg {
	var msgs []streamMsg
	seq := map[string]uint64{}
	for i := range 80 {
		at := time.Duration(i)*time.Second + 17*time.Millisecond
		for d := 1; d <= 6; d++ {
			if r.IntN(8) == 0 {
				continue
			}
			id := fmt.Sprintf("site-a/a%02d", d)
			seq[id]++
			msgs = append(msgs, streamMsg{
				at: at, site: "site-a", dev: id, seq: seq[id],
				ts:    time.Duration(i)*time.Second - time.Duration(r.IntN(300))*time.Millisecond,
				power: float64(r.IntN(5000)) / 100, temp: float64(r.IntN(7000)-1000) / 100, hasTemp: r.IntN(5) != 0,
				energy: float64(1 + r.IntN(1000)),
			})
		}
	}
	return msgs
}

// Hopping windows (30 s every 10 s) over the same stream as tumbling 10 s
// windows: each hopping window's final counts the samples of the three
// tumbling windows it covers, its energy (device sum, group sum) is the sum
// of theirs, its maximum temperature (device max, group max) is theirs, and
// every accepted reading is in three finals.
func TestEngineHoppingEqualsCoveredTumbling(t *testing.T) {
	t.Parallel()
	msgs := onTimeStream(rand.New(rand.NewPCG(7, 15)))
	hopping := testWindow
	hopping.Size, hopping.Step = 30*time.Second, 10*time.Second
	for _, shards := range []int{1, 3} {
		tOut, tOutcomes := runStreamWith(t, Config{Shards: shards, Window: testWindow}, msgs)
		hOut, hOutcomes := runStreamWith(t, Config{Shards: shards, Window: hopping}, msgs)
		require.Equal(t, tOutcomes, hOutcomes, "the same readings are accepted")
		requireOneOutcome(t, msgs, tOut, tOutcomes, 1)
		finals := func(out []Aggregate, metric string) map[time.Time]Aggregate {
			m := map[time.Time]Aggregate{}
			for _, a := range out {
				if a.Final && a.Group == "site-a" && a.Metric == metric {
					m[a.Window.Start] = a
				}
			}
			return m
		}
		tPower, hPower := finals(tOut, "power_kw"), finals(hOut, "power_kw")
		tTemp, hTemp := finals(tOut, "temp_c"), finals(hOut, "temp_c")
		tEnergy, hEnergy := finals(tOut, "energy_wh"), finals(hOut, "energy_wh")
		checked, checkedSums := 0, 0
		var hSamples uint64
		for start, h := range hPower {
			require.Equal(t, start.Add(30*time.Second), h.Window.End, "a hopping window is 30 s long")
			hSamples += h.Counts.Samples
			var samples uint64
			var energy float64
			maxTemp, hasTemp := math.Inf(-1), false
			for k := range 3 {
				sub := start.Add(time.Duration(k) * 10 * time.Second)
				samples += tPower[sub].Counts.Samples
				if te, ok := tEnergy[sub]; ok && te.Counts.Samples > 0 {
					energy += float64(te.Stats.Sum.Reported)
				}
				if tt, ok := tTemp[sub]; ok && tt.Counts.Samples > 0 {
					maxTemp, hasTemp = math.Max(maxTemp, float64(tt.Stats.Max.Value)), true
				}
			}
			require.Equal(t, samples, h.Counts.Samples, "window %v: samples", start)
			if he := hEnergy[start]; he.Counts.Samples > 0 {
				require.InDelta(t, energy, float64(he.Stats.Sum.Reported), 1e-6, "window %v: the sum of device sums is the tumbling windows' total", start)
				checkedSums++
			}
			if hasTemp {
				require.Equal(t, maxTemp, float64(hTemp[start].Stats.Max.Value), "window %v: max temperature", start)
				checked++
			}
		}
		require.Greater(t, checked, 5)
		require.Greater(t, checkedSums, 5)
		require.Equal(t, 3*uint64(hOutcomes[OutcomeAccepted]), hSamples, "every accepted reading is in three finals")
	}
}
