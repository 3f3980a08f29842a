package aggregate

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Merging the accumulators of panes equals adding every sample to one.
func TestAccumulatorMergeProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var whole, merged accumulator
		whole.step = int64(r.IntN(3))
		merged.step = whole.step
		for range 1 + r.IntN(5) {
			var pane accumulator
			pane.step = int64(r.IntN(3))
			for range r.IntN(6) {
				v, ts := r.NormFloat64()*100, r.Int64N(1000)
				pane.add(v, ts)
				whole.add(v, ts)
			}
			if pane.n > 0 { // an empty pane has no rhythm to contribute
				whole.step = max(whole.step, pane.step)
			}
			merged.merge(&pane)
		}
		require.Equal(t, whole.n, merged.n)
		if whole.n == 0 {
			continue
		}
		require.InDelta(t, whole.sum, merged.sum, 1e-9)
		whole.sum = merged.sum
		// Ties in event time may keep another sample as first or last.
		require.Equal(t, whole.firstTS, merged.firstTS)
		require.Equal(t, whole.lastTS, merged.lastTS)
		whole.first, whole.last = merged.first, merged.last
		require.Equal(t, whole, merged)
	}
}

func TestPurgeKeepsOrphans(t *testing.T) {
	t.Parallel()
	const size = 30
	d := &device{}
	for _, s := range []int64{0, 10, 20, 30, 40, 50} {
		d.window(s).accs = []accumulator{{n: 1}}
	}
	// Cutoff 40; windows 20 and 30 were reported this round (each 30 long:
	// panes 20..50 covered), panes 0 and 10 were not: orphans.
	orphans := d.purge(40, []int64{20, 30}, size)
	require.Equal(t, []int64{0, 10}, orphans)
	var starts []int64
	for _, w := range d.wins {
		starts = append(starts, w.start)
	}
	require.Equal(t, []int64{0, 10, 40, 50}, starts, "orphans are kept until adopted")
	require.Empty(t, d.purge(40, []int64{0, 10}, size), "reported at last: purged")
	require.Len(t, d.wins, 2)
	require.Nil(t, d.purge(40, nil, size), "nothing before the cutoff")
}
