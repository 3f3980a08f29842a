package aggregate

import (
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
)

func TestMissingBounds(t *testing.T) {
	t.Parallel()
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	inf := math.Inf(1)
	spec := func(reducer staleness.Reducer, impute staleness.Impute, min, max, rate float64, monotonic bool) staleness.Metric {
		return staleness.Metric{Name: "m", Min: min, Max: max, MaxRatePerS: rate, Reducer: reducer, Impute: impute, Monotonic: monotonic}
	}
	last := func(v float64, at float64) *devMetric { return &devMetric{last: v, lastTS: sec(at), has: true} }
	tests := []struct {
		name        string
		m           staleness.Metric
		dm          *devMetric
		start, end  float64
		lo, hi, imp float64
		hasImp      bool
	}{
		{"never seen: the physical range", spec("mean", "last", 0, 100, 2, false), nil, 10, 20, 0, 100, 0, false},
		// Last 30 at 9 s; window [10, 20) reaches 11 s from it: 30 ± 22.
		{"ramp-limited around the last value", spec("mean", "last", 0, 100, 2, false), last(30, 9), 10, 20, 8, 52, 30, true},
		{"clamped to the range", spec("mean", "last", 0, 100, 10, false), last(30, 9), 10, 20, 0, 100, 30, true},
		{"no rate: the physical range", spec("mean", "last", 0, 100, inf, false), last(30, 9), 10, 20, 0, 100, 30, true},
		// Last sample after the window (a gap): 30 at 25 s, window [10, 20) is 15 s away at its start.
		{"last value after the window", spec("last", "last", 0, 100, 1, false), last(30, 25), 10, 20, 15, 45, 30, true},
		{"unbounded spec", spec("max", "zero", -inf, inf, inf, false), last(30, 9), 10, 20, -inf, inf, 0, true},
		{"sum is unbounded", spec("sum", "last", 0, 100, 2, false), &devMetric{last: 5, lastTS: sec(9), has: true, reduced: 50, hasReduced: true}, 10, 20, -inf, inf, 50, true},
		{"delta of a monotonic counter: [0, rate × window]", spec("delta", "none", 0, inf, 3, true), last(1000, 9), 10, 20, 0, 30, 0, false},
		{"delta without rate is unbounded", spec("delta", "none", -inf, inf, inf, false), nil, 10, 20, -inf, inf, 0, false},
		{"impute none", spec("mean", "none", 0, 100, 2, false), last(30, 9), 10, 20, 8, 52, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lo, hi, imp, ok := missingBounds(tc.m, tc.dm, sec(tc.start), sec(tc.end))
			require.Equal(t, tc.lo, lo, "lower")
			require.Equal(t, tc.hi, hi, "upper")
			require.Equal(t, tc.hasImp, ok, "imputed?")
			if ok {
				require.Equal(t, tc.imp, imp, "imputed")
			}
		})
	}
}

func TestEnginePlausibility(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		ts := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(ts))
		send := func(d string, seq, boot uint64, metrics string) {
			p := fmt.Sprintf(`{"seq":%d,"boot":%d,"ts":%d,"metrics":{%s}}`, seq, boot, ts.UnixMilli(), metrics)
			require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/" + d, Payload: []byte(p), Received: time.Now().UnixNano()}))
			ts = ts.Add(time.Second)
			time.Sleep(time.Until(ts))
		}
		send("d1", 1, 1, `"power_kw":50,"energy_kwh":100`)
		send("d1", 2, 1, `"power_kw":150`)                // above max 100
		send("d1", 3, 1, `"power_kw":-1`)                 // below min 0
		send("d1", 4, 1, `"power_kw":50,"energy_kwh":90`) // counter went down
		send("d1", 1, 2, `"power_kw":50,"energy_kwh":5`)  // after a reboot it may reset
		send("d1", 2, 2, `"power_kw":50,"energy_kwh":6`)
		synctest.Wait()
		time.Sleep(time.Second)
		require.Equal(t, 3.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonImplausible)))
		require.Equal(t, 3.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
		ds, err := h.e.Devices(t.Context(), DeviceFilter{ID: "site-a/d1"})
		require.NoError(t, err)
		require.Equal(t, uint64(3), ds[0].Counts.Rejected[ingest.ReasonImplausible])
		require.Equal(t, 6.0, ds[0].Metrics["energy_kwh"])
		samples, skipped := h.e.Rejects()
		require.Zero(t, skipped)
		require.Len(t, samples, 3)
		require.Equal(t, "implausible", samples[0].Reason)
		require.Equal(t, "site-a/d1", samples[0].Device)
		require.Contains(t, samples[0].Detail, `"power_kw": 150`)
		require.Contains(t, samples[0].Payload, `"power_kw":150`)
	})
}
