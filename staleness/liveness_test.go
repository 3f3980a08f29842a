package staleness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// at returns a time as Unix ns, t0 plus d.
func at(d time.Duration) int64 {
	const t0 = int64(1_795_341_600) * int64(time.Second) // 2026-11-22T10:00:00Z
	return t0 + int64(d)
}

func TestLivenessState(t *testing.T) {
	t.Parallel()
	type check struct {
		now  time.Duration
		want State
	}
	tests := []struct {
		name     string
		interval time.Duration
		setup    func(l *Liveness)
		checks   []check
	}{
		{
			name: "zero value is never seen", interval: time.Second,
			setup:  func(*Liveness) {},
			checks: []check{{0, StateNeverSeen}, {time.Hour, StateNeverSeen}},
		},
		{
			// 1 Hz: late at 3 intervals (3 s), silent at 10 (10 s).
			name: "1 Hz device", interval: time.Second,
			setup: func(l *Liveness) { l.Observe(at(0), at(0)) },
			checks: []check{
				{0, StateLive},
				{2 * time.Second, StateLive},
				{3*time.Second - 1, StateLive},
				{3 * time.Second, StateLate},
				{10*time.Second - 1, StateLate},
				{10 * time.Second, StateSilent},
				{time.Hour, StateSilent},
			},
		},
		{
			// A 60 s device is not late after 2 s (nor after two minutes).
			name: "60 s device", interval: time.Minute,
			setup: func(l *Liveness) { l.Observe(at(0), at(0)) },
			checks: []check{
				{2 * time.Second, StateLive},
				{179 * time.Second, StateLive},
				{180 * time.Second, StateLate},
				{599 * time.Second, StateLate},
				{600 * time.Second, StateSilent},
			},
		},
		{
			name: "clock behind last seen is live", interval: time.Second,
			setup:  func(l *Liveness) { l.Observe(at(time.Minute), at(time.Minute)) },
			checks: []check{{0, StateLive}},
		},
		{
			name: "interval floor of 1ms", interval: 0,
			setup: func(l *Liveness) { l.Observe(at(0), at(0)) },
			checks: []check{
				{3*time.Millisecond - 1, StateLive},
				{3 * time.Millisecond, StateLate},
				{10 * time.Millisecond, StateSilent},
			},
		},
		{
			name: "offline by status", interval: time.Second,
			setup: func(l *Liveness) {
				l.Observe(at(0), at(0))
				l.SetStatus(false, at(time.Second))
			},
			checks: []check{{time.Second, StateOffline}, {time.Hour, StateOffline}},
		},
		{
			name: "offline before ever seen", interval: time.Second,
			setup:  func(l *Liveness) { l.SetStatus(false, at(0)) },
			checks: []check{{0, StateOffline}},
		},
		{
			name: "offline cleared by a reading", interval: time.Second,
			setup: func(l *Liveness) {
				l.Observe(at(0), at(0))
				l.SetStatus(false, at(time.Second))
				l.Observe(at(2*time.Second), at(2*time.Second))
			},
			checks: []check{{2 * time.Second, StateLive}},
		},
		{
			name: "offline cleared by online: back to the interval rule", interval: time.Second,
			setup: func(l *Liveness) {
				l.Observe(at(0), at(0))
				l.SetStatus(false, at(time.Second))
				l.SetStatus(true, at(2*time.Second))
			},
			checks: []check{{2 * time.Second, StateLive}, {5 * time.Second, StateLate}, {20 * time.Second, StateSilent}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLiveness(tt.interval)
			tt.setup(&l)
			for _, c := range tt.checks {
				require.Equal(t, c.want, l.State(at(c.now)), "state at +%v", c.now)
			}
		})
	}
}

func TestLivenessStatusFields(t *testing.T) {
	t.Parallel()
	l := NewLiveness(time.Second)
	l.SetStatus(false, at(5*time.Second))
	require.True(t, l.Offline)
	require.Equal(t, at(5*time.Second), l.OfflineAt)
	l.SetStatus(true, at(6*time.Second))
	require.False(t, l.Offline)
	require.Equal(t, at(5*time.Second), l.OfflineAt, "online keeps when it went offline")
}

func TestLivenessEWMA(t *testing.T) {
	t.Parallel()
	// interval' = interval·(1 − 0.125) + gap·0.125, computed by hand; every
	// value is exact in float64.
	tests := []struct {
		name     string
		seed     time.Duration
		recvs    []time.Duration // receive times, relative
		want     []int64         // Interval after each Observe
		lastSeen time.Duration
	}{
		{
			name: "first reading does not change the interval", seed: time.Second,
			recvs: []time.Duration{0}, want: []int64{1_000_000_000}, lastSeen: 0,
		},
		{
			// 1 s seed, 2 s gaps: 1.125 s, 1.234375 s, 1.330078125 s.
			name: "slower than seeded", seed: time.Second,
			recvs:    []time.Duration{0, 2 * time.Second, 4 * time.Second, 6 * time.Second},
			want:     []int64{1_000_000_000, 1_125_000_000, 1_234_375_000, 1_330_078_125},
			lastSeen: 6 * time.Second,
		},
		{
			// 1 s seed, 10 s gaps: 10 − 9·0.875^k s.
			name: "learns a 10 s rhythm", seed: time.Second,
			recvs:    []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second},
			want:     []int64{1_000_000_000, 2_125_000_000, 3_109_375_000, 3_970_703_125},
			lastSeen: 30 * time.Second,
		},
		{
			// 60 s seed, 1 s gaps: 52.625 s, 46.171875 s.
			name: "faster than seeded", seed: time.Minute,
			recvs:    []time.Duration{0, time.Second, 2 * time.Second},
			want:     []int64{60_000_000_000, 52_625_000_000, 46_171_875_000},
			lastSeen: 2 * time.Second,
		},
		{
			name: "out-of-order receive time is ignored", seed: time.Second,
			recvs:    []time.Duration{10 * time.Second, 8 * time.Second, 10 * time.Second},
			want:     []int64{1_000_000_000, 1_000_000_000, 1_000_000_000},
			lastSeen: 10 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLiveness(tt.seed)
			require.Equal(t, int64(tt.seed), l.Interval)
			for i, r := range tt.recvs {
				l.Observe(at(r), at(r))
				require.Equal(t, tt.want[i], l.Interval, "after observation %d", i)
			}
			require.Equal(t, at(tt.lastSeen), l.LastSeen)
		})
	}
}

func TestLivenessAdaptsToRhythm(t *testing.T) {
	t.Parallel()
	// Seeded at 1 s, the device reports every 10 s. Before learning, 10 s of
	// quiet is silent; after three 10 s gaps the interval is 3.970703125 s,
	// so 10 s is live and late starts at 3 × 3.970703125 = 11.912109375 s.
	l := NewLiveness(time.Second)
	l.Observe(at(0), at(0))
	require.Equal(t, StateSilent, l.State(at(10*time.Second)))
	for _, r := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second} {
		l.Observe(at(r), at(r))
	}
	require.Equal(t, StateLive, l.State(at(40*time.Second)))
	require.Equal(t, StateLive, l.State(at(30*time.Second+11_912_109_374)))
	require.Equal(t, StateLate, l.State(at(30*time.Second+11_912_109_375)))
	require.Equal(t, StateSilent, l.State(at(30*time.Second+39_707_031_250)))
}

func TestLivenessLastEvent(t *testing.T) {
	t.Parallel()
	l := NewLiveness(time.Second)
	l.Observe(at(10*time.Second), at(9*time.Second))
	l.Observe(at(11*time.Second), at(5*time.Second)) // backfilled, older event
	require.Equal(t, at(9*time.Second), l.LastEvent, "newest event time is kept")
	require.Equal(t, at(11*time.Second), l.LastSeen)
	l.Observe(at(12*time.Second), at(12*time.Second))
	require.Equal(t, at(12*time.Second), l.LastEvent)
}

func TestStatesComplete(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t, []State{"live", "late", "silent", "offline", "delayed", "never_seen", "retired"}, States)
}
