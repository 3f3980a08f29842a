package staleness

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sec = int64(time.Second)

func TestCounterStep(t *testing.T) {
	t.Parallel()
	m := Metric{MaxRatePerS: 2, Monotonic: true, Reducer: ReduceIncrease}
	a := CounterSample{TS: 0, Value: 100, Boot: 1}
	require.Equal(t, Increase{5, 5, 5}, m.Step(a, CounterSample{TS: 10 * sec, Value: 105, Boot: 1}), "one series: exact")
	// A new boot: the new series counted 3 since the reset; the old one may
	// have grown up to the rate over the whole step.
	require.Equal(t, Increase{3, 3, 20}, m.Step(a, CounterSample{TS: 10 * sec, Value: 3, Boot: 2}), "reset by boot")
	require.Equal(t, Increase{3, 3, 20}, m.Step(a, CounterSample{TS: 10 * sec, Value: 3, Boot: 1}), "reset by a drop")
	require.Equal(t, Increase{30, 30, 30}, m.Step(a, CounterSample{TS: 10 * sec, Value: 30, Boot: 2}), "the new series already past rate × step")
	m.MaxRatePerS = math.Inf(1)
	require.True(t, math.IsInf(m.Step(a, CounterSample{TS: sec, Value: 3, Boot: 2}).Hi, 1), "no rate: unbounded")
}

func TestCounterShare(t *testing.T) {
	t.Parallel()
	m := Metric{MaxRatePerS: 1, Monotonic: true, Reducer: ReduceIncrease}
	x := Increase{8, 8, 8} // over [0 s, 10 s]
	// [4 s, 20 s) holds 6 s of the 10 s step: 4.8 by interpolation; at
	// least 8 − 4 s × rate 1 = 4, at most 6 s × 1 = 6.
	got := m.Share(x, 0, 10*sec, 4*sec, 20*sec)
	require.InDelta(t, 4.8, got.Value, 1e-12)
	require.Equal(t, [2]float64{4, 6}, [2]float64{got.Lo, got.Hi})
	require.Equal(t, x, m.Share(x, 0, 10*sec, 0, 10*sec), "all of it")
	require.Equal(t, Increase{}, m.Share(x, 0, 10*sec, 10*sec, 20*sec), "none of it")
	require.Equal(t, x, m.Share(x, 5*sec, 5*sec, 0, 10*sec), "a step of no length inside")
	// Monotonicity alone: [0, x].
	m.MaxRatePerS = math.Inf(1)
	got = m.Share(x, 0, 10*sec, 5*sec, 20*sec)
	require.Equal(t, Increase{4, 0, 8}, got)
	// Samples faster than the rate: lo never above hi.
	m.MaxRatePerS = 0.1
	got = m.Share(Increase{8, 8, 8}, 0, 10*sec, 5*sec, 20*sec)
	require.LessOrEqual(t, got.Lo, got.Hi)
	require.True(t, got.Lo <= got.Value && got.Value <= got.Hi)
}

func TestCounterExtrapolate(t *testing.T) {
	t.Parallel()
	m := Metric{MaxRatePerS: 2, Monotonic: true, Reducer: ReduceIncrease}
	require.Equal(t, Increase{3, 0, 6}, m.Extrapolate(1/float64(sec), 3*sec))
	require.Equal(t, Increase{6, 0, 6}, m.Extrapolate(5/float64(sec), 3*sec), "clamped to the rate")
	require.Equal(t, Increase{0, 0, 6}, m.Extrapolate(-1, 3*sec), "never negative")
	require.Equal(t, Increase{}, m.Extrapolate(1, 0))
}

func TestIncreaseMissingBoundsAndReduce(t *testing.T) {
	t.Parallel()
	m := Metric{MaxRatePerS: 2, Monotonic: true, Reducer: ReduceIncrease}
	lo, hi := m.MissingBounds(&LastKnown{}, 0, 10*sec)
	require.Equal(t, [2]float64{0, 20}, [2]float64{lo, hi})
	m.MaxRatePerS = math.Inf(1)
	lo, hi = m.MissingBounds(&LastKnown{}, 0, 10*sec)
	require.Equal(t, 0.0, lo)
	require.True(t, math.IsInf(hi, 1))
	require.True(t, ReduceIncrease.Additive())
	require.Equal(t, 4.0, ReduceIncrease.Reduce(Summary{N: 2, First: 3, Last: 7}))
	v, ok := ImputeLast.Estimate(ReduceIncrease, &LastKnown{Value: 1000, Has: true, Reduced: 7, HasReduced: true})
	require.True(t, ok)
	require.Equal(t, 7.0, v, "the last window's increase, not the counter's value")
}

func TestFleetIncreaseNeedsMonotonic(t *testing.T) {
	t.Parallel()
	_, err := ParseFleet([]byte("defaults: {metrics: {e: {device: increase}}}"))
	require.ErrorContains(t, err, "defaults.metrics.e.device: increase needs monotonic: true")
	_, err = ParseFleet([]byte("defaults: {metrics: {e: {monotonic: true, device: increase, max_rate_per_s: 1}}}"))
	require.NoError(t, err)
	_, err = ParseFleet([]byte("defaults: {metrics: {e: {monotonic: true}}}\ndevices: {d: {metrics: {e: {device: increase}}}}"))
	require.NoError(t, err, "monotonic inherited from the defaults")
	_, err = ParseFleet([]byte("defaults: {metrics: {e: {monotonic: true, device: increase}}}\ndevices: {d: {metrics: {e: {monotonic: false}}}}"))
	require.ErrorContains(t, err, "devices.d.metrics.e.device: increase needs monotonic: true")
}
