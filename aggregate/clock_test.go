package aggregate

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

// runSkewed sends d1 and d2 honestly and d3 with its clock 20 s ahead, every
// second for 40 s, d3 at a value of its own, and waits for the windows.
func runSkewed(t *testing.T, h *harness) time.Time {
	t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
	time.Sleep(time.Until(t0))
	for i := range 40 {
		ts := t0.Add(time.Duration(i) * time.Second)
		time.Sleep(time.Until(ts))
		h.send("d1", ts, 10)
		h.send("d2", ts, 20)
		h.send("d3", ts.Add(20*time.Second), float64(i))
	}
	time.Sleep(3 * time.Second)
	synctest.Wait()
	return t0
}

// A device whose clock is 20 s ahead (beyond max_future_skew) is corrected
// to true time: none of its readings is rejected, its windows hold its
// true-time values, the aggregates say so in their flags, and the device
// resource shows the correction.
func TestEngineClockCorrection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		t0 := runSkewed(t, h)
		require.Zero(t, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonFutureTS)))
		require.Equal(t, 120.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
		for k := range 3 {
			start := t0.Add(time.Duration(k) * 10 * time.Second)
			a, ok := h.c.find("power_kw", start, 0)
			require.True(t, ok, "window %d", k)
			require.Equal(t, 3, a.Coverage.Reported)
			// d3 sent i in true second i: its mean in window k is 10k + 4.5.
			require.InDelta(t, 10+20+float64(10*k)+4.5, float64(a.Stats.Sum.Reported), 1e-9, "window %d", k)
			require.True(t, slices.Contains(a.Flags, FlagClockCorrected+"site-a/d3"), "window %d flags %v", k, a.Flags)
			require.False(t, slices.Contains(a.Flags, FlagClockCorrected+"site-a/d1"))
			if k == 0 {
				// Its first readings, before the offset is measured, take
				// their receive time: placed to within a delivery, their
				// window's edges are uncertain.
				require.Less(t, float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Upper), "window %d: bounds widened", k)
				require.NotEqual(t, QualityGood, a.Quality, "window %d", k)
				require.Contains(t, a.Flags, FlagClockUncertain+"site-a/d3")
			} else {
				require.NotContains(t, a.Flags, FlagClockUncertain+"site-a/d3")
				require.Equal(t, a.Stats.Sum.Lower, a.Stats.Sum.Upper, "window %d: measured, corrected and exact", k)
			}
		}
		devs, err := h.e.Devices(t.Context(), DeviceFilter{ID: "site-a/d3"})
		require.NoError(t, err)
		require.Len(t, devs, 1)
		require.InDelta(t, -20, devs[0].ClockCorrectionS, 0.01)
		require.InDelta(t, -20, *devs[0].ClockOffsetS, 0.01, "the offset of the device's own stamps")
		require.False(t, devs[0].ClockReceiveTime)
		devs, err = h.e.Devices(t.Context(), DeviceFilter{ID: "site-a/d1"})
		require.NoError(t, err)
		require.Zero(t, devs[0].ClockCorrectionS)
	})
}

// With liveness.clock_correction off, the skewed device's stamps beyond
// max_future_skew are rejected future_ts, as they always were.
func TestEngineClockCorrectionOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := false
		h := newHarnessWith(t, 2, func(c *Config) { c.Liveness.ClockCorrection = &off })
		t0 := runSkewed(t, h)
		require.Equal(t, 40.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonFutureTS)))
		a, ok := h.c.find("power_kw", t0, 0)
		require.True(t, ok)
		require.Equal(t, 2, a.Coverage.Reported)
		require.Empty(t, a.Flags)
	})
}

// A stamp further ahead than liveness.clock_max_correction beyond
// max_future_skew is rejected future_ts at decoding, correction or not.
func TestEngineClockBeyondMaxCorrection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessWith(t, 1, func(c *Config) { c.Liveness.ClockMaxCorrection = time.Hour })
		h.send("d1", time.Now().Add(time.Hour+11*time.Second), 1)
		h.send("d2", time.Now().Add(time.Hour+9*time.Second), 1) // corrected: the receive time
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonFutureTS)))
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
	})
}
