package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDetector(t *testing.T) {
	t.Parallel()
	cfg := ReplayConfig{Threshold: 3, Window: 10 * time.Second, Quiet: 30 * time.Second}.WithDefaults()
	s := func(sec float64) int64 { return int64(sec * float64(time.Second)) }

	t.Run("flagged at the third replay within the window", func(t *testing.T) {
		t.Parallel()
		var d Detector
		require.Nil(t, d.times, "no memory before the first replay")
		require.False(t, d.Observe(&cfg, s(100)))
		require.False(t, d.Observe(&cfg, s(103)))
		require.True(t, d.Observe(&cfg, s(106)), "third repetition flags")
		require.True(t, d.Flagged)
		require.Equal(t, s(106), d.Since)
		require.False(t, d.Observe(&cfg, s(109)), "already flagged: no second change")
		require.Equal(t, uint64(4), d.Total)
		require.Equal(t, s(100), d.First)
		require.Equal(t, s(109), d.Last)
	})
	t.Run("replays spread wider than the window do not flag", func(t *testing.T) {
		t.Parallel()
		var d Detector
		for i := range 10 {
			require.False(t, d.Observe(&cfg, s(float64(i)*6)), "replay %d", i) // 3 replays span 12 s > 10 s
		}
		require.False(t, d.Flagged)
		require.Equal(t, uint64(10), d.Total)
	})
	t.Run("unflagged after quiet, and can be flagged again", func(t *testing.T) {
		t.Parallel()
		var d Detector
		for _, at := range []float64{0, 1, 2} {
			d.Observe(&cfg, s(at))
		}
		require.True(t, d.Flagged)
		require.False(t, d.Expire(&cfg, s(31.9)), "29.9 s quiet is not enough")
		require.True(t, d.Expire(&cfg, s(32)), "30 s after the last replay")
		require.False(t, d.Flagged)
		require.False(t, d.Expire(&cfg, s(40)), "no second change")
		require.False(t, d.Observe(&cfg, s(50)), "the count starts again after unflagging")
		require.False(t, d.Observe(&cfg, s(51)))
		require.True(t, d.Observe(&cfg, s(52)))
	})
	t.Run("threshold one flags at the first replay", func(t *testing.T) {
		t.Parallel()
		one := ReplayConfig{Threshold: 1}.WithDefaults()
		var d Detector
		require.True(t, d.Observe(&one, s(1)))
	})
}

func TestReplayConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, ReplayConfig{MinAge: 5 * time.Second, Threshold: 2, Window: time.Minute, Quiet: 30 * time.Second}, ReplayConfig{}.WithDefaults())
	require.NoError(t, ReplayConfig{}.WithDefaults().Validate())
	err := ReplayConfig{MinAge: -1, Threshold: 65, Window: -1, Quiet: -1}.Validate()
	for _, f := range []string{"replay.min_age", "replay.threshold", "replay.window", "replay.quiet"} {
		require.ErrorContains(t, err, f)
	}
}
