package staleness

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReducerReduce(t *testing.T) {
	t.Parallel()
	s := Summary{N: 4, Sum: 20, Min: 2, Max: 9, First: 3, Last: 7}
	for r, want := range map[Reducer]float64{
		ReduceMean: 5, ReduceLast: 7, ReduceMin: 2, ReduceMax: 9, ReduceSum: 20, ReduceDelta: 4,
	} {
		require.Equal(t, want, r.Reduce(s), string(r))
		require.Equal(t, r == ReduceSum || r == ReduceDelta, r.Additive(), string(r))
	}
	require.Len(t, Reducers(), 7)
	require.Len(t, Stats(), 5)
	require.Len(t, Imputes(), 3)
}

func TestImputeEstimate(t *testing.T) {
	t.Parallel()
	k := &LastKnown{Value: 5, TS: 1, Has: true, Reduced: 50, HasReduced: true}
	tests := []struct {
		i    Impute
		r    Reducer
		k    *LastKnown
		want float64
		ok   bool
	}{
		{ImputeLast, ReduceMean, k, 5, true},
		{ImputeLast, ReduceSum, k, 50, true},
		{ImputeLast, ReduceDelta, k, 50, true},
		{ImputeLast, ReduceMean, &LastKnown{}, 0, false},
		{ImputeZero, ReduceMean, &LastKnown{}, 0, true},
		{ImputeNone, ReduceMean, k, 0, false},
	}
	for _, tt := range tests {
		v, ok := tt.i.Estimate(tt.r, tt.k)
		require.Equal(t, tt.ok, ok, "%s/%s", tt.i, tt.r)
		require.Equal(t, tt.want, v, "%s/%s", tt.i, tt.r)
	}
}

func TestMetricMissingBounds(t *testing.T) {
	t.Parallel()
	sec := int64(time.Second)
	m := Metric{Min: 0, Max: 100, MaxRatePerS: 2, Reducer: ReduceMean}
	lo, hi := m.MissingBounds(&LastKnown{Value: 50, TS: 10 * sec, Has: true}, 10*sec, 20*sec)
	require.Equal(t, [2]float64{30, 70}, [2]float64{lo, hi}, "last ± rate × 10 s")
	lo, hi = m.MissingBounds(&LastKnown{}, 10*sec, 20*sec)
	require.Equal(t, [2]float64{0, 100}, [2]float64{lo, hi}, "the physical range")
	m.Reducer = ReduceSum
	lo, hi = m.MissingBounds(&LastKnown{}, 10*sec, 20*sec)
	require.True(t, math.IsInf(lo, -1) && math.IsInf(hi, 1), "a sum is unbounded")
	m.Reducer, m.Monotonic = ReduceDelta, true
	lo, hi = m.MissingBounds(&LastKnown{}, 10*sec, 20*sec)
	require.Equal(t, [2]float64{0, 20}, [2]float64{lo, hi}, "rate × window, not below 0 for a counter")
}

func TestMetricPlausible(t *testing.T) {
	t.Parallel()
	power := Metric{Min: 0, Max: 100, MaxRatePerS: math.Inf(1)}
	counter := Metric{Min: 0, Max: math.Inf(1), Monotonic: true}
	tests := []struct {
		name  string
		m     Metric
		v     float64
		after bool
		prev  float64
		want  bool
	}{
		{"inside the range", power, 50, true, 90, true},
		{"at the bounds", power, 100, false, 0, true},
		{"above max", power, 100.5, false, 0, false},
		{"below min", power, -1, false, 0, false},
		{"not monotonic: may fall", power, 10, true, 90, true},
		{"counter rises", counter, 11, true, 10, true},
		{"counter stays", counter, 10, true, 10, true},
		{"counter falls in the same boot", counter, 9, true, 10, false},
		{"counter falls after a reboot or out of order", counter, 9, false, 10, true},
		{"counter below its min", counter, -1, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.m.Plausible(tt.v, tt.after, tt.prev))
		})
	}
}
