package influx

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// The breaker's state machine, driven by a fake clock, with the state gauge
// asserted after every step.
func TestBreaker(t *testing.T) {
	t.Parallel()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "state"})
	b := newBreaker(3, 10*time.Second, func(s int) { gauge.Set(float64(s)) })
	now := t0
	state := func(want int) {
		t.Helper()
		require.Equal(t, want, b.state)
		require.Equal(t, float64(want), counter(gauge), "rollcall_influx_circuit_state")
	}
	state(StateClosed)

	// Failures below the threshold keep it closed; a success resets them.
	b.failure(now, 0)
	b.failure(now, 0)
	b.success()
	b.failure(now, 0)
	b.failure(now, 0)
	require.True(t, b.allow(now))
	state(StateClosed)

	// The third consecutive failure opens it for the cool-down.
	b.failure(now, 0)
	state(StateOpen)
	require.False(t, b.allow(now.Add(9*time.Second)))
	require.True(t, b.blocked(now.Add(9*time.Second)))
	require.Equal(t, now.Add(10*time.Second), b.until())

	// After the cool-down, one probe: a failure re-opens at once.
	now = now.Add(10 * time.Second)
	require.False(t, b.blocked(now))
	state(StateOpen) // blocked does not change the state
	require.True(t, b.allow(now))
	state(StateHalfOpen)
	b.failure(now, 0)
	state(StateOpen)
	require.False(t, b.allow(now.Add(time.Second)))

	// A Retry-After longer than the cool-down keeps it open longer.
	now = now.Add(10 * time.Second)
	require.True(t, b.allow(now))
	b.failure(now, time.Minute)
	state(StateOpen)
	require.False(t, b.allow(now.Add(59*time.Second)))

	// A successful probe closes it and clears the count.
	now = now.Add(time.Minute)
	require.True(t, b.allow(now))
	state(StateHalfOpen)
	b.success()
	state(StateClosed)
	b.failure(now, 0)
	b.failure(now, 0)
	state(StateClosed)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const initial, maxWait = 100 * time.Millisecond, 5 * time.Second
	top := func(n int64) int64 { return n - 1 } // the largest value rnd may return
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000} {
		want *= time.Millisecond
		require.Equal(t, want-1, backoff(attempt, initial, maxWait, top), "attempt %d", attempt)
		require.Equal(t, time.Duration(0), backoff(attempt, initial, maxWait, func(int64) int64 { return 0 }))
	}
	require.Equal(t, maxWait-1, backoff(1000, initial, maxWait, top), "no overflow")
	for range 100 {
		d := backoff(3, initial, maxWait, nil)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.Less(t, d, 800*time.Millisecond)
	}
}
