package staleness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRosterJoinAndExpected(t *testing.T) {
	t.Parallel()
	r := mustRoster(t, designFleet)
	const ts = int64(100 * time.Second)
	g, m, err := r.Join("site-a", "site-a/wt-01", ts)
	require.NoError(t, err)
	require.Equal(t, "site-a", g)
	require.Equal(t, Member{Listed: true}, m, "a listed device has no first event")
	require.True(t, m.ExpectedIn(1), "listed: expected from the start")

	g, m, err = r.Join("site-b", "site-b/wt-99", ts)
	require.NoError(t, err)
	require.Equal(t, "site-b", g)
	require.Equal(t, Member{FirstEvent: ts}, m)
	require.False(t, m.ExpectedIn(ts), "not in a window ending at its first event")
	require.True(t, m.ExpectedIn(ts+1), "in every window ending after it")

	m.Retired = ts + 1
	require.False(t, m.ExpectedIn(ts+10), "a retired device left the roster")

	_, _, err = mustRoster(t, "learn: {enabled: false}").Join("site-b", "site-b/wt-99", ts)
	require.ErrorIs(t, err, ErrNotOnRoster, "learning disabled")
}

func TestRosterRetires(t *testing.T) {
	t.Parallel()
	r := mustRoster(t, "groups: {site-a: {devices: [wt-01]}}\nlearn: {retire_after: 10s}")
	require.Equal(t, 10*time.Second, r.RetireAfter())
	s := func(x float64) int64 { return int64(x * float64(time.Second)) }
	learned, listed := Member{FirstEvent: s(1)}, Member{Listed: true}
	tests := []struct {
		name          string
		m             Member
		lastSeen, now int64
		want          bool
	}{
		{"learned, silent 10 s: not yet", learned, s(100), s(110), false},
		{"learned, silent past retire_after", learned, s(100), s(110.001), true},
		{"learned, never seen", learned, 0, s(1000), false},
		{"listed never retires", listed, s(100), s(1000), false},
		{"already retired", Member{FirstEvent: s(1), Retired: s(200)}, s(100), s(1000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, r.Retires(&tt.m, tt.lastSeen, tt.now))
		})
	}
}

func TestMemberState(t *testing.T) {
	t.Parallel()
	cfg := Config{}.WithDefaults()
	l := NewLiveness(time.Second)
	m := Member{FirstEvent: 1}
	require.Equal(t, StateNeverSeen, m.State(&l, &cfg, int64(time.Hour)), "the liveness state while on the roster")
	m.Retired = 5
	require.Equal(t, StateRetired, m.State(&l, &cfg, int64(time.Hour)))
}

func TestTombstones(t *testing.T) {
	t.Parallel()
	ts := NewTombstones[int](3)
	for i, id := range []string{"a", "b", "c"} {
		ts.Add(id, i)
	}
	require.Equal(t, 3, ts.Len())
	require.Zero(t, ts.Forgotten)
	ts.Add("d", 3)
	require.Equal(t, 3, ts.Len(), "bounded")
	require.Equal(t, uint64(1), ts.Forgotten, "the oldest was forgotten")
	_, ok := ts.Get("a")
	require.False(t, ok)
	ids := func() []string {
		var out []string
		for id := range ts.All() {
			out = append(out, id)
		}
		return out
	}
	require.Equal(t, []string{"b", "c", "d"}, ids(), "oldest retirement first")

	v, ok := ts.Take("c")
	require.True(t, ok, "a device that comes back leaves its tombstone")
	require.Equal(t, 2, v)
	require.Equal(t, []string{"b", "d"}, ids())
	_, ok = ts.Take("c")
	require.False(t, ok)

	ts.Add("b", 9) // retired again: now the newest
	require.Equal(t, []string{"d", "b"}, ids())
	v, _ = ts.Get("b")
	require.Equal(t, 9, v)
	require.Equal(t, uint64(1), ts.Forgotten)

	require.Equal(t, 1, NewTombstones[int](0).limit, "at least one")
}

func TestFleetMaxRetired(t *testing.T) {
	t.Parallel()
	require.Equal(t, DefaultMaxRetired, mustRoster(t, "").MaxRetired())
	require.Equal(t, 5, mustRoster(t, "learn: {max_retired: 5}").MaxRetired())
}
