package staleness

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// at returns a time as Unix ns, t0 plus d.
func at(d time.Duration) int64 {
	const t0 = int64(1_795_341_600) * int64(time.Second) // 2026-11-22T10:00:00Z
	return t0 + int64(d)
}

// cfg is the default liveness configuration.
var cfg = Config{}.WithDefaults()

// A regular device's σ is floored at 0.25 × its interval, so (from the
// normal tail: P(Z > 5.612) = 1e-8, P(Z > 21.27) ≈ 1e-100) it is late at
// interval + 5.612·σ and silent at interval + 21.27·σ.
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
			// 1 Hz, σ = 0.25 s: late from 2.403 s, silent from 6.318 s.
			name: "1 Hz device is late after a few seconds", interval: time.Second,
			setup: func(l *Liveness) { l.Observe(at(0), at(0)) },
			checks: []check{
				{0, StateLive},
				{time.Second, StateLive},
				{2300 * time.Millisecond, StateLive},
				{2500 * time.Millisecond, StateLate},
				{6200 * time.Millisecond, StateLate},
				{6500 * time.Millisecond, StateSilent},
				{time.Hour, StateSilent},
			},
		},
		{
			// 60 s, σ = 15 s: late from 144.2 s, silent from 379 s.
			name: "60 s device is not late after 2 s", interval: time.Minute,
			setup: func(l *Liveness) { l.Observe(at(0), at(0)) },
			checks: []check{
				{2 * time.Second, StateLive},
				{140 * time.Second, StateLive},
				{148 * time.Second, StateLate},
				{375 * time.Second, StateLate},
				{385 * time.Second, StateSilent},
			},
		},
		{
			name: "clock behind last seen is live", interval: time.Second,
			setup:  func(l *Liveness) { l.Observe(at(10*time.Second), at(10*time.Second)) },
			checks: []check{{5 * time.Second, StateLive}},
		},
		{
			name: "offline wins, a reading clears it", interval: time.Second,
			setup: func(l *Liveness) {
				l.Observe(at(0), at(0))
				l.SetStatus(false, at(time.Second))
			},
			checks: []check{{time.Second, StateOffline}, {time.Hour, StateOffline}},
		},
		{
			name: "offline before any reading", interval: time.Second,
			setup:  func(l *Liveness) { l.SetStatus(false, at(0)) },
			checks: []check{{time.Second, StateOffline}},
		},
		{
			// Data arrives, but 40 s behind its receive time (> 30 s).
			name: "backfilling device is delayed", interval: time.Second,
			setup:  func(l *Liveness) { l.Observe(at(100*time.Second), at(60*time.Second)) },
			checks: []check{{100 * time.Second, StateDelayed}, {time.Hour, StateSilent}},
		},
		{
			name: "20 s lag is within the delay tolerance", interval: time.Second,
			setup:  func(l *Liveness) { l.Observe(at(100*time.Second), at(80*time.Second)) },
			checks: []check{{100 * time.Second, StateLive}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLiveness(tt.interval)
			tt.setup(&l)
			for _, c := range tt.checks {
				require.Equal(t, c.want, l.State(&cfg, at(c.now)), "at %v", c.now)
			}
		})
	}
	l := NewLiveness(time.Second)
	l.Observe(at(0), at(0))
	l.SetStatus(false, at(time.Second))
	l.Observe(at(2*time.Second), at(2*time.Second))
	require.Equal(t, StateLive, l.State(&cfg, at(2*time.Second)), "a reading after offline clears it")
}

// phiOf against the standard normal tail: P(Z > x) = 10^-phi.
func TestPhiOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ x, phi float64 }{
		{0, 0.30103},          // P = 0.5
		{1.2815516, 1},        // P = 0.1
		{3.0902323, 3},        // P = 0.001
		{5.6120012, 8},        // P = 1e-8
		{8.2221, 16},          // P = 1e-16
		{-3.0902323, 0.00043}, // P = 0.999
	} {
		require.InDelta(t, c.phi, phiOf(c.x), 1e-3, "x=%v", c.x)
	}
	// The asymptotic branch (z >= 25) continues the exact one.
	below, above := phiOf(25*math.Sqrt2-1e-9), phiOf(25*math.Sqrt2+1e-9)
	require.InEpsilon(t, below, above, 1e-4)
	require.False(t, math.IsInf(phiOf(1e6), 0), "saturates, never Inf")
}

func TestLivenessVarianceWidensTolerance(t *testing.T) {
	t.Parallel()
	// Seed 1 s (variance (0.25 s)²), then a 3 s gap: diff 2 s, so the mean
	// becomes 1.25 s and the variance 0.875·(0.0625 + 0.125·4) = 0.4921875 s².
	l := NewLiveness(time.Second)
	l.Observe(at(0), at(0))
	l.Observe(at(3*time.Second), at(3*time.Second))
	require.Equal(t, int64(1_250_000_000), l.Interval)
	require.InDelta(t, math.Sqrt(0.4921875)*1e9, l.StdDev(&cfg), 1)
	// A jittery device gets more slack: 2.403 s after the last message is no
	// longer late (late from 1.25 + 5.612·0.7016 = 5.19 s).
	require.Equal(t, StateLive, l.State(&cfg, at(3*time.Second+2500*time.Millisecond)))
	require.Equal(t, StateLate, l.State(&cfg, at(3*time.Second+5300*time.Millisecond)))
}

func TestLivenessConfig(t *testing.T) {
	t.Parallel()
	require.NoError(t, cfg.Validate())
	err := Config{PhiLate: 5, PhiSilent: 4, MinStdDev: -1, StdDevRatio: -1, DelayTolerance: -1}.Validate()
	for _, f := range []string{"liveness.phi_silent", "liveness.min_std_dev", "liveness.std_dev_ratio", "liveness.delay_tolerance"} {
		require.ErrorContains(t, err, f)
	}
	require.ErrorContains(t, Config{PhiLate: -1}.WithDefaults().Validate(), "liveness.phi_late")
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
	// Seeded at 1 s, the device reports every 10 s. Before it learns, 10 s
	// of quiet is silent; after ten 10 s gaps it is not even late at 10 s.
	l := NewLiveness(time.Second)
	l.Observe(at(0), at(0))
	require.Equal(t, StateSilent, l.State(&cfg, at(10*time.Second)))
	for i := 1; i <= 10; i++ {
		r := time.Duration(i) * 10 * time.Second
		l.Observe(at(r), at(r))
	}
	require.Equal(t, StateLive, l.State(&cfg, at(110*time.Second)))
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
