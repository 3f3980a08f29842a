package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// t0 is 2026-11-22T10:00:00Z.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// agg returns the aggregate of group/metric for the 10 s window starting at
// t0 + start seconds, revision rev.
func agg(group, metric string, start, rev int) aggregate.Aggregate {
	s := t0.Add(time.Duration(start) * time.Second)
	return aggregate.Aggregate{
		Group: group, Metric: metric,
		Window:   aggregate.Window{Start: s, End: s.Add(10 * time.Second)},
		Revision: rev,
		Stats:    aggregate.Stats{Sum: aggregate.Stat{Value: aggregate.Num(start*100 + rev)}},
	}
}

// id names an aggregate by its window start (seconds after t0) and revision.
type id struct{ start, rev int }

func ids(as []aggregate.Aggregate) []id {
	out := make([]id, len(as))
	for i, a := range as {
		out[i] = id{int(a.Window.Start.Sub(t0) / time.Second), a.Revision}
	}
	return out
}

func newStore(t *testing.T, cfg Config) (*Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, reg)
	require.NoError(t, err)
	return s, reg
}

func evicted(s *Store, reason string) float64 {
	return testutil.ToFloat64(s.evicted.WithLabelValues(reason))
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	// Windows 0..90 s, added out of order; windows 10 and 30 have revisions.
	for _, start := range []int{50, 0, 90, 20, 10, 70, 30, 40, 80, 60} {
		s.Add(agg("site-a", "power_kw", start, 0))
	}
	s.Add(agg("site-a", "power_kw", 10, 1))
	s.Add(agg("site-a", "power_kw", 30, 1))
	s.Add(agg("site-a", "power_kw", 10, 2))
	// Another series must not leak in.
	s.Add(agg("site-a", "wind_ms", 25, 0))
	s.Add(agg("site-b", "power_kw", 25, 0))

	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		q    Query
		want []id
	}{
		{"everything, latest revisions", Query{}, []id{{0, 0}, {10, 2}, {20, 0}, {30, 1}, {40, 0}, {50, 0}, {60, 0}, {70, 0}, {80, 0}, {90, 0}}},
		{
			"every revision",
			Query{AllRevisions: true},
			[]id{{0, 0}, {10, 0}, {10, 1}, {10, 2}, {20, 0}, {30, 0}, {30, 1}, {40, 0}, {50, 0}, {60, 0}, {70, 0}, {80, 0}, {90, 0}},
		},
		{"from is inclusive, to exclusive", Query{From: at(30), To: at(60)}, []id{{30, 1}, {40, 0}, {50, 0}}},
		{"from only", Query{From: at(80)}, []id{{80, 0}, {90, 0}}},
		{"to only", Query{To: at(20)}, []id{{0, 0}, {10, 2}}},
		{"bounds between window starts", Query{From: at(25), To: at(41)}, []id{{30, 1}, {40, 0}}},
		{"from equals to", Query{From: at(30), To: at(30)}, []id{}},
		{"from after to", Query{From: at(60), To: at(30)}, []id{}},
		{"range before everything", Query{To: at(-10)}, []id{}},
		{"range after everything", Query{From: at(100)}, []id{}},
		{"limit keeps the newest", Query{Limit: 3}, []id{{70, 0}, {80, 0}, {90, 0}}},
		{"limit within a range", Query{From: at(10), To: at(60), Limit: 2}, []id{{40, 0}, {50, 0}}},
		{"limit counts windows, not revisions", Query{To: at(20), Limit: 1, AllRevisions: true}, []id{{10, 0}, {10, 1}, {10, 2}}},
		{"limit above the count", Query{From: at(70), Limit: 100}, []id{{70, 0}, {80, 0}, {90, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := tt.q
			q.Group, q.Metric = "site-a", "power_kw"
			got, err := s.History(q)
			require.NoError(t, err)
			require.Equal(t, tt.want, ids(got))
		})
	}
	t.Run("values are the stored aggregates", func(t *testing.T) {
		t.Parallel()
		got, err := s.History(Query{Group: "site-a", Metric: "power_kw", From: at(10), To: at(11)})
		require.NoError(t, err)
		require.Equal(t, []aggregate.Aggregate{agg("site-a", "power_kw", 10, 2)}, got)
	})
}

// TestHistoryHopping: overlapping windows (30 s every 10 s) are listed by
// start, each with its own revisions.
func TestHistoryHopping(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	hop := func(start, rev int) aggregate.Aggregate {
		a := agg("site-a", "power_kw", start, rev)
		a.Window.End = a.Window.Start.Add(30 * time.Second)
		return a
	}
	for _, a := range []aggregate.Aggregate{hop(0, 0), hop(10, 0), hop(0, 1), hop(20, 0), hop(10, 1), hop(0, 2)} {
		s.Add(a)
	}
	got, err := s.History(Query{Group: "site-a", Metric: "power_kw"})
	require.NoError(t, err)
	require.Equal(t, []id{{0, 2}, {10, 1}, {20, 0}}, ids(got))
	require.Equal(t, t0.Add(40*time.Second), got[1].Window.End, "each window keeps its end")
	got, err = s.History(Query{Group: "site-a", Metric: "power_kw", AllRevisions: true, From: t0.Add(5 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, []id{{10, 0}, {10, 1}, {20, 0}}, ids(got), "from selects by start, not by overlap")
}

func TestHistoryUnknownSeries(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	s.Add(agg("site-a", "power_kw", 0, 0))
	for _, q := range []Query{
		{Group: "site-a", Metric: "wind_ms"},
		{Group: "site-b", Metric: "power_kw"},
		{},
	} {
		got, err := s.History(q)
		require.ErrorIs(t, err, ErrUnknownSeries, "%+v", q)
		require.Nil(t, got)
	}
}

func TestMaxWindows(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{MaxWindows: 3})
	q := Query{Group: "g", Metric: "m"}
	for _, start := range []int{10, 20, 30} {
		s.Add(agg("g", "m", start, 0))
	}
	require.Zero(t, evicted(s, EvictMaxWindows))

	s.Add(agg("g", "m", 40, 0)) // evicts 10
	got, err := s.History(q)
	require.NoError(t, err)
	require.Equal(t, []id{{20, 0}, {30, 0}, {40, 0}}, ids(got))
	require.Equal(t, 1.0, evicted(s, EvictMaxWindows))

	s.Add(agg("g", "m", 5, 0)) // older than everything kept: evicted at once
	got, err = s.History(q)
	require.NoError(t, err)
	require.Equal(t, []id{{20, 0}, {30, 0}, {40, 0}}, ids(got))
	require.Equal(t, 2.0, evicted(s, EvictMaxWindows))

	s.Add(agg("g", "m", 25, 0)) // in the middle: the oldest (20) goes
	got, err = s.History(q)
	require.NoError(t, err)
	require.Equal(t, []id{{25, 0}, {30, 0}, {40, 0}}, ids(got))
	require.Equal(t, 3.0, evicted(s, EvictMaxWindows))

	s.Add(agg("g", "m", 30, 1)) // a revision is not a new window
	require.Equal(t, 3.0, evicted(s, EvictMaxWindows))
	require.Zero(t, evicted(s, EvictMaxRevisions))
	require.Zero(t, evicted(s, EvictMaxSeries))
}

func TestMaxRevisions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{MaxRevisions: 2})
	q := Query{Group: "g", Metric: "m", AllRevisions: true}
	s.Add(agg("g", "m", 0, 0))
	s.Add(agg("g", "m", 0, 1))
	require.Zero(t, evicted(s, EvictMaxRevisions))
	s.Add(agg("g", "m", 0, 2))
	s.Add(agg("g", "m", 10, 0))
	s.Add(agg("g", "m", 0, 3))

	got, err := s.History(q)
	require.NoError(t, err)
	require.Equal(t, []id{{0, 2}, {0, 3}, {10, 0}}, ids(got))
	require.Equal(t, 2.0, evicted(s, EvictMaxRevisions))

	q.AllRevisions = false
	got, err = s.History(q)
	require.NoError(t, err)
	require.Equal(t, []id{{0, 3}, {10, 0}}, ids(got), "the latest revision is kept")
	require.Zero(t, evicted(s, EvictMaxWindows))
}

func TestMaxSeries(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{MaxSeries: 2})
	s.Add(agg("a", "p", 0, 0))
	s.Add(agg("a", "w", 0, 0))
	s.Add(agg("b", "p", 0, 0)) // refused
	s.Add(agg("b", "p", 10, 0))
	require.Equal(t, 2.0, evicted(s, EvictMaxSeries))

	_, err := s.History(Query{Group: "b", Metric: "p"})
	require.ErrorIs(t, err, ErrUnknownSeries)

	s.Add(agg("a", "p", 10, 0)) // existing series still grow
	s.Add(agg("a", "p", 10, 1))
	got, err := s.History(Query{Group: "a", Metric: "p", AllRevisions: true})
	require.NoError(t, err)
	require.Equal(t, []id{{0, 0}, {10, 0}, {10, 1}}, ids(got))
	require.Equal(t, 2.0, evicted(s, EvictMaxSeries))
	require.Len(t, s.Latest("", ""), 2)
}

func TestLatest(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	s.Add(agg("b", "p", 20, 0))
	s.Add(agg("b", "p", 10, 0))
	s.Add(agg("b", "p", 20, 1))
	s.Add(agg("a", "w", 0, 0))
	s.Add(agg("a", "p", 30, 0))
	s.Add(agg("a", "p", 0, 4)) // an older window's revision does not make it the newest
	s.Add(agg("c", "x", 0, 0))

	type gm struct {
		group, metric string
		id
	}
	view := func(as []aggregate.Aggregate) []gm {
		out := make([]gm, len(as))
		for i, a := range as {
			out[i] = gm{a.Group, a.Metric, ids(as[i : i+1])[0]}
		}
		return out
	}
	tests := []struct {
		name, group, metric string
		want                []gm
	}{
		{"all, sorted by group then metric", "", "", []gm{{"a", "p", id{30, 0}}, {"a", "w", id{0, 0}}, {"b", "p", id{20, 1}}, {"c", "x", id{0, 0}}}},
		{"by group", "a", "", []gm{{"a", "p", id{30, 0}}, {"a", "w", id{0, 0}}}},
		{"by metric", "", "p", []gm{{"a", "p", id{30, 0}}, {"b", "p", id{20, 1}}}},
		{"by both", "b", "p", []gm{{"b", "p", id{20, 1}}}},
		{"unknown group", "z", "", []gm{}},
		{"known group, other group's metric", "c", "p", []gm{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := s.Latest(tt.group, tt.metric)
			require.NotNil(t, got)
			require.Equal(t, tt.want, view(got))
		})
	}
}

func TestHas(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	s.Add(agg("a", "p", 0, 0))
	s.Add(agg("b", "w", 0, 0))
	tests := []struct {
		group, metric           string
		groupKnown, metricKnown bool
	}{
		{"a", "p", true, true},
		{"a", "w", true, true}, // both known, from different series
		{"a", "x", true, false},
		{"z", "p", false, true},
		{"z", "x", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.metric, func(t *testing.T) {
			t.Parallel()
			g, m := s.Has(tt.group, tt.metric)
			require.Equal(t, tt.groupKnown, g, "group known")
			require.Equal(t, tt.metricKnown, m, "metric known")
		})
	}
	empty, _ := newStore(t, Config{})
	g, m := empty.Has("a", "p")
	require.False(t, g)
	require.False(t, m)
}

func TestWriter(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	require.Equal(t, "store", s.Name())
	require.NoError(t, s.Write(context.Background(), agg("g", "m", 0, 0)))
	got, err := s.History(Query{Group: "g", Metric: "m"})
	require.NoError(t, err)
	require.Equal(t, []id{{0, 0}}, ids(got))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, Config{MaxSeries: 1000, MaxWindows: 360, MaxRevisions: 16, Backlog: 4096}, Config{}.WithDefaults())
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults", Config{}, nil},
		{"ones", Config{MaxSeries: 1, MaxWindows: 1, MaxRevisions: 1, Backlog: 1}, nil},
		{"negative series", Config{MaxSeries: -1}, []string{"store.max_series"}},
		{"negative windows", Config{MaxWindows: -1}, []string{"store.max_windows"}},
		{"negative revisions", Config{MaxRevisions: -1}, []string{"store.max_revisions"}},
		{"negative backlog", Config{Backlog: -1}, []string{"store.backlog"}},
		{"all", Config{MaxSeries: -1, MaxWindows: -2, MaxRevisions: -3, Backlog: -4}, []string{"store.max_series", "store.max_windows", "store.max_revisions", "store.backlog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.cfg, prometheus.NewRegistry())
			if tt.want == nil {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Nil(t, s)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestMetricsRegistered(t *testing.T) {
	t.Parallel()
	s, reg := newStore(t, Config{})
	// Every reason is exported from the start, at zero.
	require.Equal(t, 3, testutil.CollectAndCount(s.evicted, "rollcall_store_evicted_total"))
	n, err := testutil.GatherAndCount(reg, "rollcall_store_evicted_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = testutil.GatherAndCount(reg, "rollcall_store_subscribers")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	// A second store on the same registry is refused, and leaves nothing
	// registered behind.
	_, err = New(Config{}, reg)
	require.Error(t, err)
	reg.Unregister(s.evicted)
	_, err = New(Config{}, reg)
	require.Error(t, err, "the subscribers gauge is still registered")
	n, err = testutil.GatherAndCount(reg, "rollcall_store_evicted_total")
	require.NoError(t, err)
	require.Zero(t, n, "the failed New unregistered its counter")
}

// TestConcurrent is a smoke test for the race detector: writers and readers
// at once, then exact counts.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const (
		writers = 4
		windows = 200
		readers = 4
	)
	s, _ := newStore(t, Config{MaxWindows: 100, MaxRevisions: 2})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			g := fmt.Sprintf("g%d", w)
			for i := range windows {
				s.Add(agg(g, "m", i*10, 0))
				s.Add(agg(g, "m", i*10, 1))
				s.Add(agg(g, "m", i*10, 2))
				s.Add(agg("shared", "m", w*windows*10+i*10, 0))
			}
		})
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.History(Query{Group: fmt.Sprintf("g%d", r), Metric: "m", Limit: 10, AllRevisions: r%2 == 0})
				_ = s.Latest("", "m")
				_, _ = s.Has("shared", "m")
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()

	for w := range writers {
		got, err := s.History(Query{Group: fmt.Sprintf("g%d", w), Metric: "m", AllRevisions: true})
		require.NoError(t, err)
		require.Len(t, got, 100*2, "100 windows of 2 revisions each")
		require.Equal(t, id{1000, 1}, ids(got)[0])
		require.Equal(t, id{1990, 2}, ids(got)[len(got)-1])
	}
	got, err := s.History(Query{Group: "shared", Metric: "m"})
	require.NoError(t, err)
	require.Len(t, got, 100)
	// Evicting the oldest on every insert past the limit keeps the newest 100
	// of all 800 windows, whatever the interleaving: writer 3's last 100.
	require.Equal(t, id{3*windows*10 + 1000, 0}, ids(got)[0])
	require.Equal(t, id{3*windows*10 + 1990, 0}, ids(got)[99])
	// Windows: each own series evicted 100 of its 200, the shared one 700 of
	// 800. Revisions: every window's third revision evicted its first.
	require.Equal(t, float64(writers*100+(writers*windows-100)), evicted(s, EvictMaxWindows))
	require.Equal(t, float64(writers*windows), evicted(s, EvictMaxRevisions))
}

func TestHistoryPage(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	// Windows 0..50 s; window 30 has 3 revisions, window 40 has 2.
	for _, start := range []int{0, 10, 20, 30, 40, 50} {
		s.Add(agg("g", "m", start, 0))
	}
	s.Add(agg("g", "m", 30, 1))
	s.Add(agg("g", "m", 30, 2))
	s.Add(agg("g", "m", 40, 1))
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		q    Query
		want []id
		more bool
	}{
		{"everything", Query{}, []id{{0, 0}, {10, 0}, {20, 0}, {30, 2}, {40, 1}, {50, 0}}, false},
		{"limit leaves more", Query{Limit: 2}, []id{{40, 1}, {50, 0}}, true},
		{"next page", Query{Limit: 2, To: at(40)}, []id{{20, 0}, {30, 2}}, true},
		{"last page", Query{Limit: 2, To: at(20)}, []id{{0, 0}, {10, 0}}, false},
		{"limit inside a range leaves more", Query{From: at(10), To: at(40), Limit: 2}, []id{{20, 0}, {30, 2}}, true},
		{"exact fit", Query{From: at(20), To: at(40), Limit: 2}, []id{{20, 0}, {30, 2}}, false},
		{"points without revisions", Query{MaxPoints: 3}, []id{{30, 2}, {40, 1}, {50, 0}}, true},
		{
			"points cut at whole windows",
			Query{MaxPoints: 4, AllRevisions: true},
			[]id{{40, 0}, {40, 1}, {50, 0}},
			true,
		},
		{
			"points: the next page",
			Query{MaxPoints: 4, AllRevisions: true, To: at(40)},
			[]id{{20, 0}, {30, 0}, {30, 1}, {30, 2}},
			true,
		},
		{
			"points: one window even if it does not fit",
			Query{MaxPoints: 2, AllRevisions: true, To: at(40)},
			[]id{{30, 0}, {30, 1}, {30, 2}},
			true,
		},
		{"points and limit: the smaller wins", Query{MaxPoints: 10, Limit: 1, AllRevisions: true}, []id{{50, 0}}, true},
		{"empty range", Query{From: at(60)}, []id{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := tt.q
			q.Group, q.Metric = "g", "m"
			got, more, err := s.HistoryPage(q)
			require.NoError(t, err)
			require.Equal(t, tt.want, ids(got))
			require.Equal(t, tt.more, more, "more")
		})
	}
}
