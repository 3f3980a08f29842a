package store

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// After a restart the journal replay re-emits revisions the store already
// holds (its checkpoint can be newer than the engine's): each replaces
// itself, and the newest revision stays the latest.
func TestReplayedRevisionsKeepOrder(t *testing.T) {
	s, err := New(Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	agg := func(rev int, final bool, reported int) aggregate.Aggregate {
		return aggregate.Aggregate{
			Group: "g", Metric: "m", Window: aggregate.Window{Start: start, End: start.Add(10 * time.Second)},
			Revision: rev, Final: final, Coverage: aggregate.Coverage{Reported: reported},
		}
	}
	s.Add(agg(0, false, 1))
	s.Add(agg(1, true, 2))
	s.Restore(nil)
	s.Add(agg(0, false, 1)) // replayed
	latest, err := s.History(Query{Group: "g", Metric: "m"})
	require.NoError(t, err)
	require.Len(t, latest, 1)
	require.True(t, latest[0].Final, "the final stays the latest")
	require.Equal(t, 1, latest[0].Revision)
	all, err := s.History(Query{Group: "g", Metric: "m", AllRevisions: true})
	require.NoError(t, err)
	require.Len(t, all, 2, "a replayed revision replaces itself")
	require.Equal(t, []int{0, 1}, []int{all[0].Revision, all[1].Revision})

	// Restored from a checkpoint, then the same revisions replayed.
	s2, err := New(Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	s2.Restore(s.Snapshot())
	s2.Add(agg(1, true, 2))
	s2.Add(agg(0, false, 1))
	all2, err := s2.History(Query{Group: "g", Metric: "m", AllRevisions: true})
	require.NoError(t, err)
	require.Equal(t, all, all2)
}
