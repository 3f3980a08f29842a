package sim

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEventQueueOrder(t *testing.T) {
	t.Parallel()
	var q eventQueue
	rng := rand.New(rand.NewPCG(1, 2))
	var want []event
	for i := range 2000 {
		e := event{at: time.Duration(rng.IntN(100)), arg: int32(i)}
		q.push(e)
		e.seq = uint64(i)
		want = append(want, e)
		if i%7 == 0 { // interleave pops
			got := q.pop()
			slices.SortStableFunc(want, func(a, b event) int { return cmp.Compare(a.at, b.at) })
			require.Equal(t, want[0].arg, got.arg)
			want = want[1:]
		}
	}
	slices.SortStableFunc(want, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	for _, w := range want {
		got := q.pop()
		require.Equal(t, w.at, got.at)
		require.Equal(t, w.arg, got.arg, "equal times run in scheduling order")
	}
	require.Zero(t, q.len())
}
