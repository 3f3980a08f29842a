package journal

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := testConfig(dir, c)
			j, _ := open(t, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 3000
			for i := uint64(1); i <= n; {
				k := min(uint64(1+rng.IntN(100)), n-i+1)
				appendN(t, j, i, i+k-1)
				last, err := j.Commit()
				require.NoError(t, err)
				require.Equal(t, i+k-1, last)
				i += k
			}
			require.Equal(t, uint64(1), j.FirstIndex())
			require.Equal(t, uint64(n), j.LastIndex())
			require.Equal(t, dirSize(t, dir), j.Size())
			require.Greater(t, len(segmentFiles(t, dir)), 3, "rotated")
			recs, errs := readAll(t, j, 1)
			require.Empty(t, errs)
			requireRecords(t, recs, span(1, n))
			require.NoError(t, j.Close())

			// Reopen: the indexes continue.
			j, _ = open(t, cfg)
			require.Equal(t, uint64(1), j.FirstIndex())
			require.Equal(t, uint64(n), j.LastIndex())
			appendN(t, j, n+1, n+500)
			_, err := j.Commit()
			require.NoError(t, err)
			require.NoError(t, j.Close())

			// Reopen with another codec: blocks carry theirs.
			cfg.Compression = CompressionZstd
			if c == CompressionZstd {
				cfg.Compression = CompressionS2
			}
			j, reg := open(t, cfg)
			defer mustClose(t, j)
			appendN(t, j, n+501, n+600)
			_, err = j.Commit()
			require.NoError(t, err)
			recs, errs = readAll(t, j, 0)
			require.Empty(t, errs)
			requireRecords(t, recs, span(1, n+600))
			require.Equal(t, dirSize(t, dir), j.Size())
			require.Equal(t, float64(len(segmentFiles(t, dir))), testutil.ToFloat64(j.m.segments))
			require.Equal(t, float64(j.Size()), testutil.ToFloat64(j.m.size))
			require.Equal(t, 0.0, truncated(j, ReasonTornTail)+truncated(j, ReasonCorrupt))
			series, err := testutil.GatherAndCount(reg, "rollcall_journal_appended_records_total")
			require.NoError(t, err)
			require.Equal(t, 1, series)
			require.Equal(t, 100.0, testutil.ToFloat64(j.m.appendedRecords))
		})
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionS2))
	require.Equal(t, uint64(0), j.FirstIndex())
	require.Equal(t, uint64(0), j.LastIndex())
	last, err := j.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(0), last)
	require.Equal(t, 0.0, testutil.ToFloat64(j.m.commits), "an empty commit is not counted")
	recs, errs := readAll(t, j, 1)
	require.Empty(t, recs)
	require.Empty(t, errs)
	require.NoError(t, j.Close())
	require.Equal(t, []string{filepath.Join(dir, "00000000000000000001.seg")}, segmentFiles(t, dir))

	j, _ = open(t, testConfig(dir, CompressionS2))
	defer mustClose(t, j)
	idx, err := j.Append(nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1), idx)
}

// Appended records are invisible until Commit, even once their blocks are
// written, and LastIndex follows Commit.
func TestCommitVisibility(t *testing.T) {
	t.Parallel()
	j, _ := open(t, testConfig(t.TempDir(), CompressionS2))
	defer mustClose(t, j)
	r, err := j.NewReader(1)
	require.NoError(t, err)
	defer mustClose(t, r)

	appendN(t, j, 1, 200) // many blocks, and a new segment
	require.Positive(t, j.Size(), "blocks written before Commit")
	require.Equal(t, uint64(0), j.LastIndex())
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)

	_, err = j.Commit()
	require.NoError(t, err)
	require.Equal(t, uint64(200), j.LastIndex())
	for i := uint64(1); i <= 200; i++ {
		idx, b, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, i, idx)
		require.Equal(t, recordFor(i), b)
	}
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestCloseCommits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionZstd))
	appendN(t, j, 1, 10)
	require.NoError(t, j.Close())

	j, _ = open(t, testConfig(dir, CompressionZstd))
	defer mustClose(t, j)
	require.Equal(t, uint64(10), j.LastIndex())
	recs, _ := readAll(t, j, 1)
	requireRecords(t, recs, span(1, 10))
}

func TestClosed(t *testing.T) {
	t.Parallel()
	j, _ := open(t, testConfig(t.TempDir(), CompressionS2))
	r, err := j.NewReader(1)
	require.NoError(t, err)
	require.NoError(t, j.Close())

	require.ErrorIs(t, j.Close(), ErrClosed)
	_, err = j.Append([]byte("x"))
	require.ErrorIs(t, err, ErrClosed)
	_, err = j.Commit()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, j.DeleteBefore(1), ErrClosed)
	_, err = j.DropOldest()
	require.ErrorIs(t, err, ErrClosed)
	_, err = j.NewReader(1)
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = r.Next()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, r.Wait(t.Context()), ErrClosed)
	require.NoError(t, r.Close())
}

func TestLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionS2))
	_, err := Open(testConfig(dir, CompressionS2), nil, nil)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, j.Close())
	j, err = Open(testConfig(dir, CompressionS2), nil, nil) // released
	require.NoError(t, err)
	require.NoError(t, j.Close())
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	j, _ := open(t, testConfig(t.TempDir(), CompressionNone))
	defer mustClose(t, j)
	_, err := j.Append(make([]byte, MaxRecordBytes+1))
	require.ErrorIs(t, err, ErrTooLarge)
	idx, err := j.Append(make([]byte, 100<<10)) // larger than a block: a block of its own
	require.NoError(t, err)
	require.Equal(t, uint64(1), idx)
	_, err = j.Commit()
	require.NoError(t, err)
	recs, _ := readAll(t, j, 1)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].b, 100<<10)
}

// A segment file is named after its first record; the writer starts a new
// one before the first block past SegmentBytes, so a segment exceeds it by
// less than one block.
func TestRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(dir, CompressionNone)
	cfg.SegmentBytes = MinSegmentBytes
	j, _ := open(t, cfg)
	defer mustClose(t, j)
	for i := uint64(1); i <= 2000; i += 10 {
		appendN(t, j, i, i+9)
		_, err := j.Commit()
		require.NoError(t, err)
	}
	files := segmentFiles(t, dir)
	require.Greater(t, len(files), 10)
	require.Equal(t, float64(len(files)), testutil.ToFloat64(j.m.segments))
	next := uint64(1)
	for i, p := range files {
		require.Equal(t, fmt.Sprintf("%020d.seg", next), filepath.Base(p))
		blocks := blocksOf(t, p)
		var size, largest int64
		for _, b := range blocks {
			require.Equal(t, next, b.first)
			next += b.count
			size += b.size
			largest = max(largest, b.size)
		}
		if i < len(files)-1 {
			require.GreaterOrEqual(t, size, cfg.SegmentBytes, p)
			require.Less(t, size-largest, cfg.SegmentBytes, "started a new segment late: %s", p)
		}
	}
	require.Equal(t, uint64(2001), next)
}

// Append refuses with ErrFull before the journal exceeds MaxBytes;
// DropOldest makes room.
func TestMaxBytes(t *testing.T) {
	t.Parallel()
	for _, c := range []string{CompressionNone, CompressionS2} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := testConfig(dir, c)
			cfg.SegmentBytes, cfg.MaxBytes = MinSegmentBytes, 3*MinSegmentBytes
			j, _ := open(t, cfg)
			defer mustClose(t, j)
			var idx uint64
			for {
				i, err := j.Append(recordFor(idx + 1))
				if err != nil {
					require.ErrorIs(t, err, ErrFull)
					break
				}
				idx = i
				if idx%7 == 0 {
					_, err := j.Commit()
					require.NoError(t, err)
				}
			}
			require.Equal(t, 1.0, testutil.ToFloat64(j.m.full))
			_, err := j.Append(recordFor(idx + 1))
			require.ErrorIs(t, err, ErrFull)
			require.Equal(t, 2.0, testutil.ToFloat64(j.m.full))
			_, err = j.Commit()
			require.NoError(t, err)
			require.LessOrEqual(t, j.Size(), cfg.MaxBytes)
			require.Equal(t, dirSize(t, dir), j.Size())
			require.Equal(t, idx, j.LastIndex())

			n, err := j.DropOldest()
			require.NoError(t, err)
			require.Positive(t, n)
			got, err := j.Append(recordFor(idx + 1))
			require.NoError(t, err)
			require.Equal(t, idx+1, got)
		})
	}
}

// segmentFirsts returns the first index of each segment of dir.
func segmentFirsts(t *testing.T, dir string) []uint64 {
	t.Helper()
	var firsts []uint64
	for _, p := range segmentFiles(t, dir) {
		first, ok := parseSegmentName(filepath.Base(p))
		require.True(t, ok)
		firsts = append(firsts, first)
	}
	return firsts
}

func fillSegments(t *testing.T, j *Journal, dir string, segments int) uint64 {
	t.Helper()
	var last uint64
	for len(segmentFiles(t, dir)) < segments {
		appendN(t, j, last+1, last+20)
		var err error
		last, err = j.Commit()
		require.NoError(t, err)
	}
	return last
}

func TestDeleteBefore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionS2))
	defer mustClose(t, j)
	last := fillSegments(t, j, dir, 5)
	f := segmentFirsts(t, dir)

	// A reader in the first segment, to be moved on.
	r, err := j.NewReader(1)
	require.NoError(t, err)
	defer mustClose(t, r)
	idx, _, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, uint64(1), idx)

	require.NoError(t, j.DeleteBefore(f[1])) // every record of segment 0 is below
	require.Equal(t, f[1:], segmentFirsts(t, dir))
	require.NoError(t, j.DeleteBefore(f[2]-1)) // segment 1 holds f[2]-1: it stays
	require.Equal(t, f[1:], segmentFirsts(t, dir))
	require.NoError(t, j.DeleteBefore(f[2]+1))
	require.Equal(t, f[2:], segmentFirsts(t, dir))
	require.Equal(t, f[2], j.FirstIndex())
	require.Equal(t, dirSize(t, dir), j.Size())

	idx, b, err := r.Next() // its segment is gone, its block in memory
	require.NoError(t, err)
	require.Equal(t, recordFor(idx), b)
	for idx < f[2] {
		idx, b, err = r.Next()
		require.NoError(t, err)
		require.Equal(t, recordFor(idx), b)
	}
	require.Equal(t, f[2], idx, "moved on to FirstIndex")

	require.NoError(t, j.DeleteBefore(math.MaxUint64)) // never the segment being written
	require.Equal(t, f[len(f)-1:], segmentFirsts(t, dir))
	require.Equal(t, 0.0, testutil.ToFloat64(j.m.dropped.WithLabelValues(ReasonDropOldest)))
	recs, _ := readAll(t, j, 1)
	requireRecords(t, recs, span(f[len(f)-1], last))
}

func TestDropOldest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionZstd))
	defer mustClose(t, j)
	last := fillSegments(t, j, dir, 4)
	f := segmentFirsts(t, dir)
	size := j.Size()

	n, err := j.DropOldest()
	require.NoError(t, err)
	require.Equal(t, int(f[1]-f[0]), n)
	require.Equal(t, float64(n), testutil.ToFloat64(j.m.dropped.WithLabelValues(ReasonDropOldest)))
	require.Less(t, j.Size(), size)
	require.Equal(t, f[1], j.FirstIndex())

	total := n
	for range 2 {
		n, err = j.DropOldest()
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, int(f[3]-1), total)
	n, err = j.DropOldest() // the segment being written stays
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, float64(total), testutil.ToFloat64(j.m.dropped.WithLabelValues(ReasonDropOldest)))
	recs, _ := readAll(t, j, 1)
	requireRecords(t, recs, span(f[3], last))
	require.Equal(t, dirSize(t, dir), j.Size())
}

// Two journals, as the gateway runs them, register under one registry
// through label-wrapped registerers, and a closed one can be reopened.
func TestMetricsWrapped(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	wrap := func(name string) prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"journal": name}, reg)
	}
	ingestDir, spoolDir := t.TempDir(), t.TempDir()
	ingest, err := Open(testConfig(ingestDir, CompressionS2), nil, wrap("ingest"))
	require.NoError(t, err)
	defer mustClose(t, ingest)
	spool, err := Open(testConfig(spoolDir, CompressionS2), nil, wrap("spool"))
	require.NoError(t, err)
	_, err = spool.Append([]byte("x"))
	require.NoError(t, err)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP rollcall_journal_appended_records_total Records appended to the journal.
# TYPE rollcall_journal_appended_records_total counter
rollcall_journal_appended_records_total{journal="ingest"} 0
rollcall_journal_appended_records_total{journal="spool"} 1
# HELP rollcall_journal_truncated_records_total Records lost to a torn tail (cut at open) or to corruption (unreadable), by reason.
# TYPE rollcall_journal_truncated_records_total counter
rollcall_journal_truncated_records_total{journal="ingest",reason="corrupt"} 0
rollcall_journal_truncated_records_total{journal="ingest",reason="torn_tail"} 0
rollcall_journal_truncated_records_total{journal="spool",reason="corrupt"} 0
rollcall_journal_truncated_records_total{journal="spool",reason="torn_tail"} 0
`), "rollcall_journal_appended_records_total", "rollcall_journal_truncated_records_total"))

	require.NoError(t, spool.Close())
	spool, err = Open(testConfig(spoolDir, CompressionS2), nil, wrap("spool"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), spool.LastIndex())
	require.NoError(t, spool.Close())

	_, err = Open(testConfig(t.TempDir(), CompressionS2), nil, wrap("ingest"))
	require.ErrorContains(t, err, "register metrics", "a second journal with the same labels")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Config{Dir: "/tmp/j"}.WithDefaults()
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"sync always", func(c *Config) { c.Sync = SyncAlways }, nil},
		{"sync none, zstd", func(c *Config) { c.Sync, c.Compression = SyncNone, CompressionZstd }, nil},
		{"smallest", func(c *Config) {
			c.SegmentBytes, c.MaxBytes, c.BlockBytes = MinSegmentBytes, 2*MinSegmentBytes, 1
		}, nil},
		{"no dir", func(c *Config) { c.Dir = "" }, []string{"dir: required"}},
		{"segment too small", func(c *Config) { c.SegmentBytes = MinSegmentBytes - 1 }, []string{"segment_bytes: 4095 must be at least 4096"}},
		{"block zero", func(c *Config) { c.BlockBytes = 0 }, []string{"block_bytes: 0 must be between 1 and 16777216"}},
		{"block too large", func(c *Config) { c.BlockBytes = MaxBlockBytes + 1 }, []string{"block_bytes: 16777217"}},
		{"block over segment", func(c *Config) { c.SegmentBytes, c.BlockBytes = 8192, 8193 }, []string{"block_bytes: 8193 exceeds segment_bytes 8192"}},
		{"max below two segments", func(c *Config) { c.MaxBytes = 2*DefaultSegmentBytes - 1 }, []string{"max_bytes: 134217727 must be at least 2 × segment_bytes = 134217728"}},
		{"bad sync", func(c *Config) { c.Sync = "sometimes" }, []string{`sync: "sometimes" is not batch, always or none`}},
		{"bad compression", func(c *Config) { c.Compression = "gzip" }, []string{`compression: "gzip" is not s2, zstd or none`}},
		{"all at once", func(c *Config) {
			*c = Config{SegmentBytes: -1, MaxBytes: -1, BlockBytes: -1, Sync: "x", Compression: "y"}
		}, []string{"dir:", "segment_bytes:", "block_bytes:", "sync:", "compression:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.edit(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestOpenValidates(t *testing.T) {
	t.Parallel()
	_, err := Open(Config{}, nil, nil)
	require.ErrorContains(t, err, "dir: required")
	// Zero fields are defaults.
	j, err := Open(Config{Dir: filepath.Join(t.TempDir(), "a", "b")}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, Config{
		Dir: j.cfg.Dir, SegmentBytes: DefaultSegmentBytes, MaxBytes: DefaultMaxBytes,
		Sync: SyncBatch, Compression: CompressionS2, BlockBytes: DefaultBlockBytes,
	}, j.cfg)
	require.NoError(t, j.Close())
}

// Files that are not segments are left alone.
func TestForeignFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "00000000000000000000.seg", "1.seg", "0000000000000000000x.seg"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600))
	}
	j, _ := open(t, testConfig(dir, CompressionS2))
	appendN(t, j, 1, 5)
	require.NoError(t, j.Close())
	j, _ = open(t, testConfig(dir, CompressionS2))
	defer mustClose(t, j)
	recs, errs := readAll(t, j, 1)
	require.Empty(t, errs)
	requireRecords(t, recs, span(1, 5))
}

// The fsync paths: Commit, rotation, creating and removing segments.
func TestSyncBatch(t *testing.T) {
	t.Parallel()
	for _, sync := range []string{SyncBatch, SyncAlways} {
		t.Run(sync, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := testConfig(dir, CompressionS2)
			cfg.Sync = sync
			j, _ := open(t, cfg)
			last := fillSegments(t, j, dir, 4)
			n, err := j.DropOldest()
			require.NoError(t, err)
			require.Positive(t, n)
			f := segmentFirsts(t, dir)
			require.NoError(t, j.DeleteBefore(f[1]))
			require.NoError(t, j.Close())

			j, _ = open(t, cfg)
			defer mustClose(t, j)
			require.Equal(t, last, j.LastIndex())
			recs, errs := readAll(t, j, 0)
			require.Empty(t, errs)
			requireRecords(t, recs, span(f[1], last))
		})
	}
}

// A write that cannot be cut off again leaves the journal unusable until it
// is reopened; reopening recovers every committed record.
func TestFailureIsPermanent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(dir, CompressionS2)
	j, _ := open(t, cfg)
	appendN(t, j, 1, 10)
	_, err := j.Commit()
	require.NoError(t, err)
	appendN(t, j, 11, 12)
	require.NoError(t, j.f.Close()) // the next write and truncate fail

	_, err = j.Commit()
	require.Error(t, err)
	_, again := j.Commit()
	require.Equal(t, err, again, "the same error, without retrying")
	_, err = j.Append([]byte("x"))
	require.Equal(t, again, err)
	require.Equal(t, uint64(10), j.LastIndex())
	require.Error(t, j.Close())

	j, _ = open(t, cfg)
	defer mustClose(t, j)
	require.Equal(t, uint64(10), j.LastIndex())
	idx, err := j.Append([]byte("y"))
	require.NoError(t, err)
	require.Equal(t, uint64(11), idx)
}
