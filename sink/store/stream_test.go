package store

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// seqs returns the sequence numbers of es.
func seqs(es []Entry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestSince(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{Backlog: 4})
	require.NotZero(t, s.Epoch())
	es, next, lost := s.Since(0, "", "", 0)
	require.Empty(t, es)
	require.Zero(t, next)
	require.Zero(t, lost)

	s.Add(agg("a", "p", 0, 0)) // 1
	s.Add(agg("b", "p", 0, 0)) // 2
	s.Add(agg("a", "w", 0, 0)) // 3
	s.Add(agg("a", "p", 0, 1)) // 4: a revision gets its own number
	require.Equal(t, uint64(4), s.Seq())

	es, next, lost = s.Since(0, "", "", 0)
	require.Equal(t, []uint64{1, 2, 3, 4}, seqs(es))
	require.Equal(t, uint64(4), next)
	require.Zero(t, lost)
	require.Equal(t, agg("a", "p", 0, 1), es[3].Aggregate)

	es, next, _ = s.Since(1, "a", "", 0)
	require.Equal(t, []uint64{3, 4}, seqs(es), "filtered by group")
	require.Equal(t, uint64(4), next)
	es, _, _ = s.Since(0, "", "p", 0)
	require.Equal(t, []uint64{1, 2, 4}, seqs(es), "filtered by metric")
	es, next, _ = s.Since(0, "a", "p", 1)
	require.Equal(t, []uint64{1}, seqs(es), "limited")
	require.Equal(t, uint64(1), next)
	es, next, _ = s.Since(1, "", "x", 0)
	require.Empty(t, es, "nothing matches")
	require.Equal(t, uint64(4), next, "but everything was examined")
	es, next, _ = s.Since(4, "", "", 0)
	require.Empty(t, es, "up to date")
	require.Equal(t, uint64(4), next)
	es, next, _ = s.Since(9, "", "", 0)
	require.Empty(t, es, "a number from the future")
	require.Equal(t, uint64(9), next)

	// Two more: 1 and 2 fall out of the backlog of 4.
	s.Add(agg("a", "p", 10, 0)) // 5
	s.Add(agg("a", "p", 20, 0)) // 6
	es, next, lost = s.Since(0, "", "", 0)
	require.Equal(t, []uint64{3, 4, 5, 6}, seqs(es))
	require.Equal(t, uint64(6), next)
	require.Equal(t, uint64(2), lost, "1 and 2 are gone")
	es, _, lost = s.Since(2, "", "", 0)
	require.Equal(t, []uint64{3, 4, 5, 6}, seqs(es))
	require.Zero(t, lost, "2 was seen: nothing lost")
	es, _, lost = s.Since(1, "b", "", 0)
	require.Empty(t, es)
	require.Equal(t, uint64(1), lost, "2 is gone; the backlog cannot tell that it was b's")

	// The history keeps what the backlog dropped.
	got, err := s.History(Query{Group: "b", Metric: "p"})
	require.NoError(t, err)
	require.Len(t, got, 1)
}

func TestSinceSkipsRefusedSeries(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{MaxSeries: 1})
	s.Add(agg("a", "p", 0, 0))
	s.Add(agg("b", "p", 0, 0)) // refused: no number
	s.Add(agg("a", "p", 10, 0))
	es, _, _ := s.Since(0, "", "", 0)
	require.Equal(t, []uint64{1, 2}, seqs(es))
	require.Equal(t, "a", es[1].Aggregate.Group)
}

func TestLatestSeq(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	aggs, seq := s.LatestSeq("", "")
	require.Empty(t, aggs)
	require.Zero(t, seq)
	s.Add(agg("a", "p", 0, 0))
	s.Add(agg("a", "p", 10, 0))
	aggs, seq = s.LatestSeq("a", "p")
	require.Len(t, aggs, 1)
	require.Equal(t, uint64(2), seq)
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{Backlog: 8})
	sub, err := s.Subscribe()
	require.NoError(t, err)
	other, err := s.Subscribe()
	require.NoError(t, err)
	require.InDelta(t, 2, testutil.ToFloat64(s.subscribers), 0)

	select {
	case <-sub.C():
		t.Fatal("a signal before anything was added")
	default:
	}
	// Nobody reads: Add must not wait, and the signals merge into one.
	for i := range 100 {
		s.Add(agg("a", "p", i*10, 0))
	}
	<-sub.C()
	select {
	case <-sub.C():
		t.Fatal("signals did not merge")
	default:
	}
	es, next, lost := s.Since(0, "", "", 0)
	require.Len(t, es, 8)
	require.Equal(t, uint64(100), next)
	require.Equal(t, uint64(92), lost, "the reader fell further behind than the backlog")

	s.Add(agg("a", "p", 1000, 0))
	<-sub.C()
	es, _, lost = s.Since(next, "", "", 0)
	require.Equal(t, []uint64{101}, seqs(es))
	require.Zero(t, lost)

	sub.Close()
	sub.Close() // idempotent
	require.InDelta(t, 1, testutil.ToFloat64(s.subscribers), 0)
	s.Add(agg("a", "p", 1010, 0))
	<-other.C()
	other.Close()
	require.InDelta(t, 0, testutil.ToFloat64(s.subscribers), 0)
}

func TestMaxSubscribers(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Config{})
	subs := make([]*Subscription, 0, MaxSubscribers)
	for range MaxSubscribers {
		sub, err := s.Subscribe()
		require.NoError(t, err)
		subs = append(subs, sub)
	}
	_, err := s.Subscribe()
	require.ErrorIs(t, err, ErrTooManySubscribers)
	subs[0].Close()
	sub, err := s.Subscribe()
	require.NoError(t, err)
	sub.Close()
	for _, sub := range subs[1:] {
		sub.Close()
	}
}

// TestSubscriberRace is a smoke test for the race detector: one writer,
// readers that follow with Since, and a reader that never reads. Every
// following reader sees every aggregate exactly once, in order.
func TestSubscriberRace(t *testing.T) {
	t.Parallel()
	const n = 2000
	s, _ := newStore(t, Config{Backlog: n})
	stuck, err := s.Subscribe()
	require.NoError(t, err)
	defer stuck.Close()
	var wg sync.WaitGroup
	for range 3 {
		sub, err := s.Subscribe()
		require.NoError(t, err)
		wg.Go(func() {
			defer sub.Close()
			var after uint64
			var got []uint64
			for after < n {
				<-sub.C()
				es, next, lost := s.Since(after, "", "", 0)
				if lost != 0 {
					t.Errorf("lost %d with a backlog of everything", lost)
					return
				}
				got = append(got, seqs(es)...)
				after = next
			}
			for i, seq := range got {
				if seq != uint64(i+1) {
					t.Errorf("got %d at %d", seq, i)
					return
				}
			}
		})
	}
	start := time.Now()
	for i := range n {
		s.Add(aggregate.Aggregate{Group: "g", Metric: "m", Window: aggregate.Window{Start: start.Add(time.Duration(i) * time.Second)}})
	}
	wg.Wait()
}
