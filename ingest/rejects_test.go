package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRejectLog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	l := NewRejectLog(3, 10)
	for i := range 15 { // all at one instant: the burst of 10 is sampled
		l.Add(now, "bad_json", fmt.Sprint(i), "s", "d", "", []byte("x"))
	}
	got, skipped := l.Samples()
	require.Equal(t, uint64(5), skipped, "past the rate limit: counted, not kept")
	require.Len(t, got, 3, "bounded by its size")
	require.Equal(t, []string{"7", "8", "9"}, []string{got[0].Detail, got[1].Detail, got[2].Detail}, "newest kept, oldest first")

	// A second later, the limiter has refilled.
	l.Add(now.Add(time.Second), "too_large", "big", "s", "d", "", []byte(strings.Repeat("é", 300)+"\xff"))
	got, _ = l.Samples()
	last := got[len(got)-1]
	require.Equal(t, "too_large", last.Reason)
	require.Equal(t, 601, last.PayloadBytes)
	require.LessOrEqual(t, len(last.Payload), MaxRejectPayload+3, "truncated")
	require.True(t, strings.HasPrefix(last.Payload, "ééé"))
	require.NotContains(t, last.Payload, "\xff")
}
