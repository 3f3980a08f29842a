package federation

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/staleness"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const win = 10 * time.Second

// recorder is an Emitter that keeps every emission.
type recorder struct {
	mu  sync.Mutex
	got []aggregate.Aggregate
}

func (r *recorder) EmitPartial(a aggregate.Aggregate, _ aggregate.Partial) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
}

func (r *recorder) last() aggregate.Aggregate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// clock is a settable Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// msg is gateway gw's partial of window i (starting t0 + i·win) of
// site-a/power_kw: values reported, n missing devices.
func msg(gw string, i int, rev int, final bool, values []float64, missing int) natssink.Message {
	start := t0.Add(time.Duration(i) * win)
	p := aggregate.NewPartial("site-a", "power_kw", start.UnixNano(), start.Add(win).UnixNano())
	for _, v := range values {
		p.AddReported(v, v, v, false, 1, start.UnixNano())
	}
	for j := range missing {
		p.AddMissing(aggregate.MissingDevice{Device: gw + "-m" + string(rune('0'+j)), State: "silent"}, 0, 3000, 0, false, 10)
	}
	a := p.Finish(aggregate.FinishInfo{Watermark: start.Add(win).UnixNano(), EmittedAt: start.Add(win + time.Second), Revision: rev, Final: final})
	return natssink.NewMessage(gw, a, &p)
}

func newTestMerger(t *testing.T, c *clock) (*Merger, *recorder, *prometheus.Registry) {
	t.Helper()
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	m, err := NewMerger(MergerConfig{
		MaxListed: 10, MinCoverage: 0.5, MaxWindows: 8, Now: c.Now, SilentAfter: time.Hour,
		Liveness: staleness.Config{PhiSilent: 8, PhiLate: 3},
		Bounds:   func(string, string) (float64, float64) { return 0, 3000 },
	}, rec, reg)
	require.NoError(t, err)
	return m, rec, reg
}

// TestMergeRevisionsReplace: a group split across two gateways merges into
// the union; a later revision replaces that gateway's earlier one; a
// repeated or older one changes nothing; the window is final when both
// gateways' finals are in.
func TestMergeRevisionsReplace(t *testing.T) {
	c := &clock{now: t0.Add(win + time.Second)}
	m, rec, _ := newTestMerger(t, c)

	require.True(t, m.Add(msg("gw-a", 0, 1, false, []float64{100, 200}, 1), c.Now()))
	a := rec.last()
	require.Equal(t, 3, a.Coverage.Expected)
	require.False(t, a.Final)
	require.True(t, m.Add(msg("gw-b", 0, 0, true, []float64{50}, 0), c.Now()))
	a = rec.last()
	require.Equal(t, 4, a.Coverage.Expected, "union of the rosters")
	require.Equal(t, 3, a.Coverage.Reported)
	require.Equal(t, 350.0, float64(a.Stats.Sum.Reported))
	require.False(t, a.Final, "gw-a's final is not in yet")

	// gw-a's late device arrives: revision 2 replaces revision 1.
	require.True(t, m.Add(msg("gw-a", 0, 2, true, []float64{100, 200, 300}, 0), c.Now()))
	a = rec.last()
	require.Equal(t, 4, a.Coverage.Expected, "replaced, not added")
	require.Equal(t, 4, a.Coverage.Reported)
	require.Equal(t, 650.0, float64(a.Stats.Sum.Value))
	require.Equal(t, 650.0, float64(a.Stats.Sum.Lower))
	require.Equal(t, 650.0, float64(a.Stats.Sum.Upper))
	require.True(t, a.Final)
	require.Equal(t, aggregate.QualityGood, a.Quality)
	require.Equal(t, 2, a.Revision)

	n := rec.count()
	require.False(t, m.Add(msg("gw-a", 0, 2, true, []float64{100, 200, 300}, 0), c.Now()), "a redelivery")
	require.False(t, m.Add(msg("gw-a", 0, 1, false, []float64{100, 200}, 1), c.Now()), "an older revision")
	require.Equal(t, n, rec.count(), "nothing emitted")
	require.Equal(t, 2.0, testutil.ToFloat64(m.m.repeated))
}

// TestGatewayDark: a gateway silent past its rhythm has its devices counted
// missing with physical bounds in the windows it did not send, flagged;
// its late partials revise those windows to exact values.
func TestGatewayDark(t *testing.T) {
	c := &clock{}
	m, rec, _ := newTestMerger(t, c)
	for i := range 6 { // both gateways report six windows, on rhythm
		c.set(t0.Add(time.Duration(i+1)*win + time.Second))
		m.Add(msg("gw-a", i, 0, true, []float64{100, 200}, 0), c.Now())
		if i > 0 { // gw-b's partial is not in yet: its device counts missing, not dark
			a := rec.last()
			require.Equal(t, 3, a.Coverage.Expected)
			require.Equal(t, 2, a.Coverage.Reported)
			require.Empty(t, a.Flags)
			require.False(t, a.Final)
		}
		m.Add(msg("gw-b", i, 0, true, []float64{50}, 0), c.Now())
	}
	gws, err := m.Gateways(context.Background())
	require.NoError(t, err)
	require.Len(t, gws, 2)
	require.Equal(t, "live", gws[1].State)
	require.Equal(t, map[string]int{"site-a": 1}, gws[1].Groups)

	// gw-b goes dark: gw-a reports windows 6 to 9 alone.
	for i := 6; i < 10; i++ {
		c.set(t0.Add(time.Duration(i+1)*win + time.Second))
		m.Add(msg("gw-a", i, 0, true, []float64{100, 200}, 0), c.Now())
		m.Tick()
	}
	gws, _ = m.Gateways(context.Background())
	require.Equal(t, "silent", gws[1].State)
	a := rec.last()
	require.Equal(t, t0.Add(9*win), a.Window.Start)
	require.Equal(t, 3, a.Coverage.Expected)
	require.Equal(t, 2, a.Coverage.Reported)
	require.Equal(t, 1, a.Coverage.MissingUnlisted)
	require.Contains(t, a.Flags, FlagGatewayDark+"gw-b")
	require.Equal(t, 300.0, float64(a.Stats.Sum.Lower))
	require.Equal(t, 3300.0, float64(a.Stats.Sum.Upper), "bounds contain the truth, 350")
	require.False(t, a.Final)
	devs, err := m.Devices(context.Background(), aggregate.DeviceFilter{State: "silent"})
	require.NoError(t, err)
	require.Len(t, devs, 1)
	require.Equal(t, "gw-b", devs[0].ID)
	groups, err := m.Groups(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int{"live": 2, "silent": 1}, groups[0].States)

	// gw-b returns and flushes: every window becomes exact and final.
	for i := 6; i < 10; i++ {
		m.Add(msg("gw-b", i, 0, true, []float64{50}, 0), c.Now())
		a = rec.last()
		require.Equal(t, t0.Add(time.Duration(i)*win), a.Window.Start)
		require.Equal(t, 350.0, float64(a.Stats.Sum.Lower))
		require.Equal(t, 350.0, float64(a.Stats.Sum.Upper))
		require.True(t, a.Final)
		require.NotContains(t, a.Flags, FlagGatewayDark+"gw-b")
	}
}

// TestDarkGatewayAlone: windows of a group that only a dark gateway serves
// are created by Tick, with every device missing and bad quality.
func TestDarkGatewayAlone(t *testing.T) {
	c := &clock{}
	m, rec, _ := newTestMerger(t, c)
	for i := range 4 {
		c.set(t0.Add(time.Duration(i+1)*win + time.Second))
		m.Add(msg("gw-b", i, 0, true, []float64{50, 60}, 0), c.Now())
	}
	c.set(t0.Add(10 * win))
	m.Tick()
	a := rec.last()
	require.Equal(t, 0, a.Coverage.Reported)
	require.Equal(t, 2, a.Coverage.Expected)
	require.Equal(t, aggregate.QualityBad, a.Quality)
	require.Equal(t, 6000.0, float64(a.Stats.Sum.Upper))
	require.True(t, math.IsNaN(float64(a.Stats.Sum.Reported)) || float64(a.Stats.Sum.Reported) == 0)
}

// TestMaxWindows: the oldest window is evicted past MaxWindows, and a
// partial older than every kept window is refused and counted.
func TestMaxWindows(t *testing.T) {
	c := &clock{now: t0}
	m, _, _ := newTestMerger(t, c)
	for i := range 10 {
		require.True(t, m.Add(msg("gw-a", i, 0, true, []float64{1}, 0), c.Now()))
	}
	require.Equal(t, 2.0, testutil.ToFloat64(m.m.evicted))
	require.False(t, m.Add(msg("gw-a", 0, 1, true, []float64{1}, 0), c.Now()))
	require.Equal(t, 1.0, testutil.ToFloat64(m.m.tooOld))
	require.Len(t, m.Snapshot(), 8)
}
