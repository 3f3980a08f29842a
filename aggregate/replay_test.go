package aggregate

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// A device that re-sends one old reading every 3 s is flagged within three
// repetitions, never counted, visible in its group's aggregates and in the
// device resource, and unflagged after the quiet period.
func TestEngineReplayingDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		device := func() DeviceInfo {
			ds, err := h.e.Devices(context.Background(), DeviceFilter{ID: "site-a/d3"})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			return ds[0]
		}
		var flaggedAt time.Duration
		for i := range 40 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			h.send("d1", ts, 10)
			h.send("d2", ts, 20)
			h.send("d3", ts, 30)
			if i >= 15 && i <= 21 && (i-15)%3 == 0 {
				// d3 re-sends its second reading (seq 2, 1 s into the run).
				h.sendSeq("d3", 2, t0.Add(time.Second), 999)
				synctest.Wait()
				if flaggedAt == 0 && device().Replaying {
					flaggedAt = time.Duration(i) * time.Second
				}
			}
		}
		// The first re-send (at 15 s) is already 14 s old: a replay. With
		// replay.threshold 2 the second flags the device.
		require.Equal(t, 18*time.Second, flaggedAt, "flagged within three repetitions")
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.replaying) /* set by the 1 s state scan */, "gauge")
		d := device()
		require.True(t, d.Replaying)
		require.NotNil(t, d.FirstReplay)
		require.Equal(t, uint64(3), d.Counts.Replays)
		require.Equal(t, 3.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeReplay)))

		// The window emitted while d3 is flagged carries the flag; nothing
		// of the replayed 999 is counted.
		a, ok := h.c.find("power_kw", t0.Add(20*time.Second), 0)
		require.True(t, ok)
		require.Equal(t, []string{"replaying:site-a/d3"}, a.Flags)
		require.InDelta(t, 60, float64(a.Stats.Sum.Value), 1e-9)
		early, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Empty(t, early.Flags, "before the replays")
		require.InDelta(t, 60, float64(early.Stats.Sum.Value), 1e-9, "the replayed value never counts")

		// 30 s after the last replay (at 21 s) the flag clears.
		time.Sleep(time.Until(t0.Add(52 * time.Second)))
		synctest.Wait()
		require.False(t, device().Replaying)
		require.Equal(t, 0.0, testutil.ToFloat64(h.e.m.replaying))
	})
}
