package aggregate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

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
		})
	}
}
