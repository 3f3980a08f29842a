package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// testConfig is a journal with small blocks and segments, so that a few
// thousand records span many of both.
func testConfig(dir, compression string) Config {
	return Config{
		Dir: dir, SegmentBytes: MinSegmentBytes * 4, MaxBytes: 1 << 30,
		Sync: SyncNone, Compression: compression, BlockBytes: 1024,
	}
}

func open(t testing.TB, cfg Config) (*Journal, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	j, err := Open(cfg, nil, reg)
	require.NoError(t, err)
	return j, reg
}

// recordFor is the content of record idx: mostly JSON-like text of 0 to
// 300 bytes, now and then empty or larger than a test block.
func recordFor(idx uint64) []byte {
	rng := rand.New(rand.NewPCG(idx, 0x6a6f75726e616c))
	var n int
	switch p := rng.IntN(100); {
	case p < 5:
		n = 0
	case p < 8:
		n = 1024 + rng.IntN(4096)
	default:
		n = rng.IntN(300)
	}
	b := fmt.Appendf(nil, `{"seq":%d,"boot":3,"ts":"2026-11-22T10:00:%02d.%03dZ","metrics":{"power_kw":%d.%d}}`,
		idx, idx%60, rng.IntN(1000), rng.IntN(3000), rng.IntN(10))
	for len(b) < n {
		b = append(b, byte('a'+rng.IntN(26)))
	}
	return b[:n]
}

// appendN appends the records from..to (their recordFor contents), checking
// the indexes Append returns.
func appendN(t testing.TB, j *Journal, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		idx, err := j.Append(recordFor(i))
		require.NoError(t, err)
		require.Equal(t, i, idx)
	}
}

type rec struct {
	idx uint64
	b   []byte
}

// readAll reads from from to the current end, collecting records and the
// errors between them.
func readAll(t testing.TB, j *Journal, from uint64) ([]rec, []error) {
	t.Helper()
	r, err := j.NewReader(from)
	require.NoError(t, err)
	defer mustClose(t, r)
	var recs []rec
	var errs []error
	for {
		idx, b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, errs
		}
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			errs = append(errs, err)
			require.Less(t, len(errs), 1000, "endless errors")
			continue
		}
		recs = append(recs, rec{idx, slices.Clone(b)})
	}
}

// requireRecords checks that recs are exactly the records with the given
// indexes, with their recordFor contents.
func requireRecords(t testing.TB, recs []rec, idxs []uint64) {
	t.Helper()
	require.Len(t, recs, len(idxs))
	for i, r := range recs {
		require.Equal(t, idxs[i], r.idx)
		require.Equal(t, recordFor(r.idx), r.b, "record %d", r.idx)
	}
}

func span(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// blockInfo is a block as the test sees it, parsed without the package's
// code.
type blockInfo struct {
	off, size int64
	first     uint64
	count     uint64
}

func (b blockInfo) last() uint64 { return b.first + b.count - 1 }

// blocksOf walks the blocks of an intact segment file.
func blocksOf(t testing.TB, path string) []blockInfo {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var bs []blockInfo
	for off := 0; off < len(data); {
		require.GreaterOrEqual(t, len(data)-off, 32, "partial header at %d", off)
		h := data[off:]
		require.Equal(t, "RCJB", string(h[:4]))
		size := 32 + int64(binary.LittleEndian.Uint32(h[20:]))
		bs = append(bs, blockInfo{
			off: int64(off), size: size,
			first: binary.LittleEndian.Uint64(h[8:]), count: uint64(binary.LittleEndian.Uint32(h[16:])),
		})
		off += int(size)
	}
	return bs
}

// segmentFiles returns the segment file paths of dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	slices.Sort(m)
	return m
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range segmentFiles(t, dir) {
		info, err := os.Stat(p)
		require.NoError(t, err)
		n += info.Size()
	}
	return n
}

func truncated(j *Journal, reason string) float64 {
	return testutil.ToFloat64(j.m.truncated.WithLabelValues(reason))
}

// copyDir copies the files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
	return dst
}

// mustClose closes c, a Journal or Reader, when deferred at the end of a
// test, and fails the test if closing fails. ErrClosed is fine: the test may
// have closed c itself.
func mustClose(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil && !errors.Is(err, ErrClosed) {
		t.Errorf("close: %v", err)
	}
}
