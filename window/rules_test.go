package window

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHoppingProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		step := time.Duration(1+rng.IntN(20)) * time.Second
		n := 1 + rng.IntN(8)
		h := NewHopping(Config{Size: step * time.Duration(n), Step: step})
		ts := rng.Int64N(1e12) - 5e11
		ws := h.Windows(ts)
		require.Len(t, ws, n, "a reading lands in exactly size/step windows")
		for i, w := range ws {
			require.True(t, w <= ts && ts < w+h.Size(), "window %d contains the reading", w)
			require.Zero(t, ((w%h.Step())+h.Step())%h.Step(), "windows start on the step grid")
			if i > 0 {
				require.Equal(t, ws[i-1]+h.Step(), w)
			}
		}
		// The windows just outside do not contain it.
		require.LessOrEqual(t, ws[0]-h.Step()+h.Size(), ts, "the window before the first does not contain it")
		require.Greater(t, ws[len(ws)-1]+h.Step(), ts)
		require.Equal(t, ws[len(ws)-1], h.Pane(ts))
		require.Equal(t, ws[0], h.First(ts))
	}
	require.True(t, NewHopping(Config{Size: time.Second}).Tumbling(), "zero step means tumbling")
}

func TestConfigValidateStep(t *testing.T) {
	t.Parallel()
	ok := Config{Size: time.Minute, Step: 10 * time.Second}.WithDefaults()
	require.NoError(t, ok.Validate())
	for _, step := range []time.Duration{7 * time.Second, 2 * time.Minute, -time.Second, 100 * time.Millisecond} {
		c := ok
		c.Step = step
		require.ErrorContains(t, c.Validate(), "window.step", "step %v", step)
	}
	require.NoError(t, Config{Size: time.Minute}.WithDefaults().Validate(), "zero step: tumbling")
}

func TestGateDecide(t *testing.T) {
	t.Parallel()
	tumbling := Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second}
	hopping := Config{Size: 30 * time.Second, Step: 10 * time.Second, AllowedLateness: 20 * time.Second}
	tests := []struct {
		name            string
		cfg             Config
		cutoff, emitted float64
		pane            float64
		want            Decision
	}{
		{"tumbling: not emitted", tumbling, 100, 120, 120, Accept},
		{"tumbling: emitted, open", tumbling, 100, 120, 110, Revise},
		{"tumbling: oldest open", tumbling, 100, 120, 100, Revise},
		{"tumbling: final", tumbling, 100, 120, 90, TooLate},
		{"tumbling: nothing open", tumbling, 120, 120, 120, Accept},
		{"hopping: its oldest window emitted", hopping, 100, 120, 130, Revise},
		{"hopping: no window emitted", hopping, 100, 120, 140, Accept},
		{"hopping: older windows final, newest open", hopping, 120, 130, 120, Revise},
		{"hopping: older windows final, newest not emitted", hopping, 120, 120, 120, Accept},
		{"hopping: every window final", hopping, 120, 130, 110, TooLate},
	}
	for _, tt := range tests {
		g := NewGate(tt.cfg.WithDefaults())
		g.Publish(s(tt.cutoff), s(tt.emitted))
		require.Equal(t, tt.want, g.Decide(s(tt.pane)), tt.name)
	}
}

func TestGateInit(t *testing.T) {
	t.Parallel()
	g := NewGate(Config{Size: 10 * time.Second, AllowedLateness: 60 * time.Second})
	require.Equal(t, Accept, g.Decide(s(-1e9)), "unset: everything accepted")
	g.Init(s(1000))
	require.Equal(t, s(930), g.Cutoff(), "the lateness horizon at the first reading")
	require.Equal(t, TooLate, g.Decide(s(920)))
	require.Equal(t, Accept, g.Decide(s(930)))
	g.Init(s(5000))
	require.Equal(t, s(930), g.Cutoff(), "Init only sets an unset cutoff")
	g.Publish(s(990), s(1000))
	g.Init(s(9000))
	require.Equal(t, s(990), g.Cutoff(), "Init never overrides a published cutoff")
}

func TestRevisions(t *testing.T) {
	t.Parallel()
	var r Revisions
	step := func(prov, fin, changed bool) (int, bool) { return r.Next(prov, fin, changed) }
	rev, ok := step(false, false, false)
	require.True(t, ok, "a window never emitted is emitted (revision 0) as soon as it is asked")
	require.Zero(t, rev)
	_, ok = step(false, false, false)
	require.False(t, ok, "unchanged: nothing")
	rev, ok = step(false, false, true)
	require.True(t, ok)
	require.Equal(t, 1, rev, "a change is a revision")
	rev, ok = step(false, true, false)
	require.True(t, ok)
	require.Equal(t, 2, rev, "finalisation is a revision")

	r = Revisions{}
	rev, ok = step(true, true, true)
	require.True(t, ok)
	require.Zero(t, rev, "provisional and final at once is revision 0")
}

func TestWatermark(t *testing.T) {
	t.Parallel()
	cfg := Config{AllowedSkew: 2 * time.Second, IdleTimeout: 30 * time.Second}
	now := s(1000)
	tests := []struct {
		name   string
		newest []float64
		want   float64
	}{
		{"no devices: the gateway clock minus idle", nil, 970},
		{"one device", []float64{999}, 997},
		{"honest devices: lower median minus skew", []float64{998, 999, 999.5}, 997},
		{"one fast device cannot drag it ahead", []float64{998, 999, 999.5, 1020}, 997},
		{"a fast minority cannot", []float64{998, 999, 999.5, 1012, 1020}, 997.5},
		{"a slow device is ignored when not live", []float64{998, 999, 999.5, 940}, 997},
		{"all silent: idle", []float64{900, 950, 960}, 970},
		{"never below idle", []float64{971, 972, 973}, 970},
		{"a fast majority moves it", []float64{998, 1010, 1012}, 1008},
	}
	for _, tt := range tests {
		var ns []int64
		for _, x := range tt.newest {
			ns = append(ns, s(x))
		}
		require.Equal(t, s(tt.want), cfg.Watermark(now, ns), tt.name)
	}
}

func TestNth(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		xs := make([]int64, 1+rng.IntN(50))
		for i := range xs {
			xs[i] = rng.Int64N(20) // many ties
		}
		sorted := slices.Sorted(slices.Values(xs))
		k := rng.IntN(len(xs))
		require.Equal(t, sorted[k], nth(xs, k))
	}
}

func TestLifecycleHopping(t *testing.T) {
	t.Parallel()
	// 30 s windows every 10 s, 20 s lateness: [w, w+30) is provisional at
	// w+30 and final at w+50.
	cfg := Config{Size: 30 * time.Second, Step: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 64}
	l := NewLifecycle(cfg, s(1005))
	require.Equal(t, s(980), l.Next(), "the oldest window containing the first reading")
	prov, fin := l.Advance(s(1010))
	require.Equal(t, ss(980), prov)
	require.Nil(t, fin)
	prov, fin = l.Advance(s(1030))
	require.Equal(t, ss(990, 1000), prov)
	require.Equal(t, ss(980), fin)
	require.Equal(t, s(990), l.Cutoff())
	require.Equal(t, s(1010), l.Next())

	c := cfg
	c.MaxCatchUp = 2
	l = NewLifecycle(c, s(1000))
	prov, _ = l.Advance(s(1100))
	// Due: 980..1070 (10 windows), 2 allowed.
	require.Equal(t, ss(1060, 1070), prov)
	require.Equal(t, uint64(8), l.Skipped)
}

func TestLifecycleAdopt(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, MaxCatchUp: 64}
	l := NewLifecycle(cfg, s(1000))
	l.Adopt(s(950))
	require.Equal(t, s(950), l.Next(), "before the first emission Adopt rewinds")
	l.Advance(s(1010))
	require.Equal(t, s(1010), l.Next())
	l.Adopt(s(1010)) // not emitted yet: nothing to do
	l.Adopt(s(990))  // open: nothing to do
	l.Adopt(s(900))
	l.Adopt(s(900))
	l.Adopt(s(890))
	prov, fin := l.Advance(s(1010))
	require.Equal(t, ss(890, 900), prov, "adopted windows are emitted once, oldest first")
	require.Equal(t, ss(890, 900), fin, "and are final at once when past their lateness")
	prov, fin = l.Advance(s(1010))
	require.Nil(t, prov)
	require.Nil(t, fin)
	l.Adopt(s(970))
	snap := l.Snapshot()
	r := NewLifecycle(cfg, 0)
	r.Restore(snap)
	require.Equal(t, snap, r.Snapshot(), "adopted windows survive a snapshot")
	prov, fin = r.Advance(s(1010))
	require.Equal(t, ss(970), prov)
	require.Equal(t, ss(970), fin)
	require.Equal(t, s(990), r.Cutoff())
}

func TestLifecycleCutoffAt(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 10 * time.Second, AllowedLateness: 60 * time.Second, MaxCatchUp: 64}
	l := NewLifecycle(cfg, s(1000))
	require.Equal(t, s(930), l.CutoffAt(s(1000)), "before the first emission: the lateness horizon")
	l.Advance(s(1010))
	require.Equal(t, s(1000), l.CutoffAt(s(5000)), "after it: the oldest open window")
}

// Lifecycle and Gate agree, for random hopping configurations and
// watermark sequences: every window from the first is emitted provisional
// once, in order, then final once; the cutoff never goes back; and a pane
// is too late exactly when every window containing it is final, a revision
// exactly when one containing it is emitted and not final.
func TestLifecycleGateProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 9))
	for range 300 {
		step := time.Duration(1+r.IntN(5)) * time.Second
		cfg := Config{Size: step * time.Duration(1+r.IntN(6)), Step: step, AllowedLateness: time.Duration(r.IntN(20)) * time.Second, MaxCatchUp: 1 << 20}
		h := NewHopping(cfg)
		first := s(1000 + float64(r.IntN(100)))
		l := NewLifecycle(cfg, first)
		g := NewGate(cfg)
		state := map[int64]string{} // window start → "provisional" | "final"
		wm, cutoff := first, int64(Unset)
		for range 40 {
			wm += int64(r.IntN(8)) * int64(time.Second) / 2
			prov, fin := l.Advance(wm)
			for _, w := range prov {
				require.Empty(t, state[w], "window %d emitted once", w)
				require.LessOrEqual(t, w+h.Size(), wm)
				state[w] = "provisional"
			}
			for _, w := range fin {
				require.Equal(t, "provisional", state[w], "final after provisional")
				require.LessOrEqual(t, w+h.Size()+int64(cfg.AllowedLateness), wm)
				state[w] = "final"
			}
			require.GreaterOrEqual(t, l.Cutoff(), cutoff, "the cutoff never goes back")
			cutoff = l.Cutoff()
			g.Publish(l.Cutoff(), l.Next())
			for range 20 {
				p := h.Pane(first + r.Int64N(int64(wm-first)+int64(20*time.Second)) - int64(10*time.Second))
				allFinal, someOpen := true, false
				for _, w := range h.Windows(p) {
					switch {
					case w < l.Next() && w >= h.First(first) && state[w] != "final":
						allFinal = false
						someOpen = true
					case w >= l.Next():
						allFinal = false
					}
				}
				switch g.Decide(p) {
				case TooLate:
					require.True(t, allFinal, "pane %d too late but a window is not final", p)
				case Revise:
					require.True(t, someOpen, "pane %d revises but no window is open", p)
				case Accept:
					require.False(t, allFinal, "pane %d accepted into final windows", p)
					require.False(t, someOpen, "pane %d accepted but a window is open", p)
				}
			}
		}
		// Every window from the first is emitted, in order, with no hole.
		for w := h.First(first); w < l.Next(); w += h.Step() {
			require.NotEmpty(t, state[w], "window %d emitted", w)
		}
	}
}
