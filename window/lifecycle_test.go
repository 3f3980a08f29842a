package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// s returns x seconds as Unix ns; x may be fractional.
func s(x float64) int64 { return int64(x * float64(time.Second)) }

// ss returns seconds as Unix ns, or nil for none (so that expectations
// compare equal to what Advance returns when nothing became due).
func ss(xs ...float64) []int64 {
	if len(xs) == 0 {
		return nil
	}
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = s(x)
	}
	return out
}

// step is one Advance and the state expected after it.
type step struct {
	name         string
	wm           float64 // watermark passed to Advance, seconds
	provisional  []int64
	final        []int64
	wantWM       float64
	next, cutoff float64
	open         []int64
	skipped      uint64
}

func runSteps(t *testing.T, l *Lifecycle, steps []step) {
	t.Helper()
	for _, st := range steps {
		prov, fin := l.Advance(s(st.wm))
		require.Equal(t, st.provisional, prov, "%s: provisional", st.name)
		require.Equal(t, st.final, fin, "%s: final", st.name)
		require.Equal(t, s(st.wantWM), l.Watermark(), "%s: watermark", st.name)
		require.Equal(t, s(st.next), l.Next(), "%s: next", st.name)
		require.Equal(t, s(st.cutoff), l.Cutoff(), "%s: cutoff", st.name)
		if len(st.open) == 0 {
			require.Empty(t, l.Open(), "%s: open", st.name)
		} else {
			require.Equal(t, st.open, l.Open(), "%s: open", st.name)
		}
		require.Equal(t, st.skipped, l.Skipped, "%s: skipped", st.name)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	// 10 s windows, 20 s lateness: window [w, w+10) is provisional when the
	// watermark reaches w+10 and final when it reaches w+30.
	base := Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 64}
	tests := []struct {
		name  string
		cfg   Config
		first float64
		steps []step
	}{
		{
			name: "provisional then final", cfg: base, first: 1003,
			steps: []step{
				{name: "before the first end", wm: 1009.999, wantWM: 1009.999, next: 1000, cutoff: 1000},
				{name: "watermark reaches the end", wm: 1010, provisional: ss(1000), wantWM: 1010, next: 1010, cutoff: 1000, open: ss(1000)},
				{name: "second window", wm: 1025, provisional: ss(1010), wantWM: 1025, next: 1020, cutoff: 1000, open: ss(1000, 1010)},
				{name: "just before final", wm: 1029.999, wantWM: 1029.999, next: 1020, cutoff: 1000, open: ss(1000, 1010)},
				{name: "first final at end+lateness", wm: 1030, provisional: ss(1020), final: ss(1000), wantWM: 1030, next: 1030, cutoff: 1010, open: ss(1010, 1020)},
				{name: "watermark going back is ignored", wm: 1020, wantWM: 1030, next: 1030, cutoff: 1010, open: ss(1010, 1020)},
				{name: "same watermark again", wm: 1030, wantWM: 1030, next: 1030, cutoff: 1010, open: ss(1010, 1020)},
				{
					name: "provisional and final in one step", wm: 1060,
					provisional: ss(1030, 1040, 1050), final: ss(1010, 1020, 1030),
					wantWM: 1060, next: 1060, cutoff: 1040, open: ss(1040, 1050),
				},
				{
					name: "a longer jump within the catch-up limit", wm: 1200,
					provisional: ss(1060, 1070, 1080, 1090, 1100, 1110, 1120, 1130, 1140, 1150, 1160, 1170, 1180, 1190),
					final:       ss(1040, 1050, 1060, 1070, 1080, 1090, 1100, 1110, 1120, 1130, 1140, 1150, 1160, 1170),
					wantWM:      1200, next: 1200, cutoff: 1180, open: ss(1180, 1190),
				},
			},
		},
		{
			name: "zero lateness: final when provisional", cfg: Config{Size: 10 * time.Second, MaxCatchUp: 64}, first: 0.5,
			steps: []step{
				{name: "both at once", wm: 10, provisional: ss(0), final: ss(0), wantWM: 10, next: 10, cutoff: 10},
				{name: "two more", wm: 35, provisional: ss(10, 20), final: ss(10, 20), wantWM: 35, next: 30, cutoff: 30},
			},
		},
		{
			name: "catch up limit", cfg: Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 4}, first: 1000,
			steps: []step{
				{
					// 10 windows due (1000..1090), 4 allowed: 6 skipped.
					name: "jump of 10 windows", wm: 1100,
					provisional: ss(1060, 1070, 1080, 1090), final: ss(1060, 1070),
					wantWM: 1100, next: 1100, cutoff: 1080, open: ss(1080, 1090), skipped: 6,
				},
				{
					// Exactly 4 windows due: nothing skipped.
					name: "jump of exactly max", wm: 1140,
					provisional: ss(1100, 1110, 1120, 1130), final: ss(1080, 1090, 1100, 1110),
					wantWM: 1140, next: 1140, cutoff: 1120, open: ss(1120, 1130), skipped: 6,
				},
				{
					// 5 windows due (1140..1180): 1 skipped.
					name: "jump of max+1", wm: 1190,
					provisional: ss(1150, 1160, 1170, 1180), final: ss(1120, 1130, 1150, 1160),
					wantWM: 1190, next: 1190, cutoff: 1170, open: ss(1170, 1180), skipped: 7,
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLifecycle(tt.cfg, s(tt.first))
			require.Equal(t, s(tt.first)/int64(tt.cfg.Size)*int64(tt.cfg.Size), l.Next(), "first window")
			runSteps(t, l, tt.steps)
		})
	}
}

func TestLifecycleRewind(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 64}
	tests := []struct {
		name     string
		advance  float64 // Advance to this watermark first (0: not at all)
		ts       float64
		floor    float64
		wantNext float64
	}{
		{name: "back to an earlier window", ts: 975, floor: 0, wantNext: 970},
		{name: "to the window containing ts", ts: 999.999, floor: 0, wantNext: 990},
		{name: "never forward", ts: 1025, floor: 0, wantNext: 1000},
		{name: "same window", ts: 1001, floor: 0, wantNext: 1000},
		{name: "floor wins", ts: 900, floor: 950, wantNext: 950},
		{name: "floor inside a window keeps that window", ts: 900, floor: 955, wantNext: 950},
		{name: "floor after the first window: no change", ts: 900, floor: 1050, wantNext: 1000},
		{name: "after an Advance that emitted nothing", advance: 1005, ts: 975, floor: 0, wantNext: 970},
		{name: "not after the first emission", advance: 1010, ts: 975, floor: 0, wantNext: 1010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLifecycle(cfg, s(1003))
			if tt.advance != 0 {
				l.Advance(s(tt.advance))
			}
			l.Rewind(s(tt.ts), s(tt.floor))
			require.Equal(t, s(tt.wantNext), l.Next())
			if tt.advance < 1010 {
				require.Equal(t, s(tt.wantNext), l.Cutoff(), "nothing open yet: cutoff is next")
			}
		})
	}
}

func TestLifecycleRewindThenAdvance(t *testing.T) {
	t.Parallel()
	l := NewLifecycle(Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 64}, s(1003))
	l.Rewind(s(981), 0)
	l.Rewind(s(995), 0) // later than the current first window: ignored
	prov, fin := l.Advance(s(1009))
	require.Equal(t, ss(980, 990), prov)
	require.Nil(t, fin)
	require.Equal(t, s(980), l.Cutoff())
	l.Rewind(s(900), 0) // ignored: windows were emitted
	require.Equal(t, s(1000), l.Next())
	require.Equal(t, s(980), l.Cutoff())
}
