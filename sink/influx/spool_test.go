package influx

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/journal"
)

func openTestSpool(t *testing.T, cfg journal.Config) (*spool, *metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	require.NoError(t, err)
	sp, err := openSpool(cfg, slog.New(slog.DiscardHandler), reg, m)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.close() })
	return sp, m
}

func rec(i int) []byte { return []byte(fmt.Sprintf("record-%04d\n", i)) }

func readAll(t *testing.T, sp *spool, batch int) []string {
	t.Helper()
	var out []string
	for {
		items, err := sp.next(batch)
		require.NoError(t, err)
		if len(items) == 0 {
			return out
		}
		for _, it := range items {
			out = append(out, string(it.rec))
		}
		require.NoError(t, sp.ack(items[len(items)-1].idx))
	}
}

// Records come back in order; the acknowledged index survives a reopen, so
// the reopened spool neither resends acknowledged records nor loses others.
func TestSpoolOrderAndAckAcrossReopen(t *testing.T) {
	t.Parallel()
	cfg := journal.Config{Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, BlockBytes: 1024, MaxBytes: 1 << 20}
	sp, m := openTestSpool(t, cfg)
	require.True(t, sp.empty())
	var want [][]byte
	for i := range 100 {
		want = append(want, rec(i))
	}
	require.NoError(t, sp.append(want[:60]))
	require.NoError(t, sp.append(want[60:]))
	require.False(t, sp.empty())
	require.Equal(t, 100.0, counter(m.spoolRecords))
	require.Equal(t, 500.0, counter(m.spooled), "points")

	// Deliver 42 (in batches of 7 and an unacknowledged read after them).
	var got []string
	for range 6 {
		items, err := sp.next(7)
		require.NoError(t, err)
		require.Len(t, items, 7)
		for _, it := range items {
			got = append(got, string(it.rec))
		}
		require.NoError(t, sp.ack(items[6].idx))
	}
	items, err := sp.next(5)
	require.NoError(t, err)
	require.Len(t, items, 5, "read but not acknowledged: sent again after reopen")
	require.Equal(t, 58.0, counter(m.spoolRecords))
	require.NoError(t, sp.close())
	ack, err := os.ReadFile(filepath.Join(cfg.Dir, spoolAckedFile))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d\n", 42), string(ack))

	sp2, m2 := openTestSpool(t, cfg)
	require.Equal(t, 58.0, counter(m2.spoolRecords), "restored")
	got = append(got, readAll(t, sp2, 9)...)
	var wantS []string
	for _, w := range want {
		wantS = append(wantS, string(w))
	}
	require.Equal(t, wantS, got, "each record once, in order")
	require.True(t, sp2.empty())
	require.Equal(t, 0.0, counter(m2.spoolRecords))
	require.Equal(t, 0.0, counter(m2.spoolBytes))

	// New records after the drain continue the indexes.
	require.NoError(t, sp2.append([][]byte{rec(100)}))
	require.Equal(t, []string{string(rec(100))}, readAll(t, sp2, 10))
}

// An unreadable acked file means resending everything (harmless), not
// failing; an index past the journal's end is clamped.
func TestSpoolBadAckedFile(t *testing.T) {
	t.Parallel()
	cfg := journal.Config{Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, BlockBytes: 1024, MaxBytes: 1 << 20}
	sp, _ := openTestSpool(t, cfg)
	require.NoError(t, sp.append([][]byte{rec(1), rec(2)}))
	require.NoError(t, sp.close())

	require.NoError(t, os.WriteFile(filepath.Join(cfg.Dir, spoolAckedFile), []byte("garbage"), 0o644))
	sp, m := openTestSpool(t, cfg)
	require.Equal(t, 2.0, counter(m.spoolRecords))
	require.NoError(t, sp.close())

	require.NoError(t, os.WriteFile(filepath.Join(cfg.Dir, spoolAckedFile), []byte("999\n"), 0o644))
	sp, m = openTestSpool(t, cfg)
	require.Equal(t, 0.0, counter(m.spoolRecords))
	require.True(t, sp.empty())
}

// At its byte limit the spool drops its oldest segment and counts the
// unacknowledged records in it as spool_full; what remains is the newest,
// in order, and every record is either still there or counted.
func TestSpoolFullDropsOldest(t *testing.T) {
	t.Parallel()
	cfg := journal.Config{
		Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, MaxBytes: 4 * journal.MinSegmentBytes,
		Compression: "none", BlockBytes: 512,
	}
	sp, m := openTestSpool(t, cfg)
	// 40 records acknowledged first: dropping them later is not a loss.
	const acked = 40
	for i := range acked {
		require.NoError(t, sp.append([][]byte{bigRec(i)}))
	}
	require.Len(t, readAll(t, sp, 100), acked)
	const n = 400
	for i := acked; i < n; i++ {
		require.NoError(t, sp.append([][]byte{bigRec(i)}))
	}
	left := readRecs(t, sp)
	require.Less(t, len(left), n-acked, "some were dropped")
	require.NotEmpty(t, left)
	require.Equal(t, float64((n-acked-len(left))*PointsPerAggregate), counter(m.dropped.WithLabelValues(DropSpoolFull)),
		"every unacknowledged record is still spooled or counted")
	for i, r := range left {
		require.Equal(t, string(bigRec(n-len(left)+i)), string(r), "the newest survive, in order")
	}
	require.LessOrEqual(t, int64(counter(m.spoolBytes)), cfg.MaxBytes)
}

// One append of more than the limit: the records dropped to make room
// include everything committed before, leaving only uncommitted ones (the
// journal's FirstIndex is 0 then).
func TestSpoolFullInOneAppend(t *testing.T) {
	t.Parallel()
	cfg := journal.Config{
		Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, MaxBytes: 2 * journal.MinSegmentBytes,
		Compression: "none", BlockBytes: 512,
	}
	sp, m := openTestSpool(t, cfg)
	require.NoError(t, sp.append([][]byte{bigRec(0), bigRec(1)}))
	var batch [][]byte
	const n = 200
	for i := 2; i < n; i++ {
		batch = append(batch, bigRec(i))
	}
	require.NoError(t, sp.append(batch))
	left := readRecs(t, sp)
	require.NotEmpty(t, left)
	require.Equal(t, float64(len(left)), counter(m.spoolRecords))
	require.Equal(t, float64((n-len(left))*PointsPerAggregate), counter(m.dropped.WithLabelValues(DropSpoolFull)))
	for i, r := range left {
		require.Equal(t, string(bigRec(n-len(left)+i)), string(r))
	}
	require.NoError(t, sp.ack(sp.acked+uint64(len(left))))
	require.True(t, sp.empty())
}

func bigRec(i int) []byte { return fmt.Appendf(nil, "%04d %0200d\n", i, i) }

// readRecs reads every unacknowledged record without acknowledging.
func readRecs(t *testing.T, sp *spool) [][]byte {
	t.Helper()
	items, err := sp.next(1 << 20)
	require.NoError(t, err)
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it.rec
	}
	return out
}

// A record larger than the whole spool is dropped and counted; append
// after close reports ErrClosed and counts nothing.
func TestSpoolRecordTooLargeAndClosed(t *testing.T) {
	t.Parallel()
	cfg := journal.Config{
		Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, BlockBytes: 1024, MaxBytes: 2 * journal.MinSegmentBytes,
		Compression: "none",
	}
	sp, m := openTestSpool(t, cfg)
	huge := make([]byte, 4*journal.MinSegmentBytes)
	require.Error(t, sp.append([][]byte{huge}))
	require.Equal(t, float64(PointsPerAggregate),
		counter(m.dropped.WithLabelValues(DropSpoolFull))+counter(m.dropped.WithLabelValues(DropSpoolError)))
	require.NoError(t, sp.close())
	require.ErrorIs(t, sp.append([][]byte{rec(1)}), ErrClosed)
	require.NoError(t, sp.close(), "idempotent")
}
