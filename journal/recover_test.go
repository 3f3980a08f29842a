package journal

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// tornFixture is a closed journal of several segments whose last segment
// holds several blocks.
type tornFixture struct {
	dir    string
	cfg    Config
	last   uint64
	path   string      // the last segment
	blocks []blockInfo // its blocks
}

func newTornFixture(t *testing.T, compression string) tornFixture {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, compression)
	j, _ := open(t, cfg)
	var last uint64
	for {
		appendN(t, j, last+1, last+13)
		var err error
		last, err = j.Commit()
		require.NoError(t, err)
		files := segmentFiles(t, dir)
		if len(files) >= 3 && len(blocksOf(t, files[len(files)-1])) >= 8 {
			break
		}
	}
	require.NoError(t, j.Close())
	files := segmentFiles(t, dir)
	path := files[len(files)-1]
	return tornFixture{dir: dir, cfg: cfg, last: last, path: path, blocks: blocksOf(t, path)}
}

// damaged copies the fixture, lets damage edit the copy of the last
// segment, and opens the copy.
func (f tornFixture) damaged(t *testing.T, damage func(data []byte) []byte) (*Journal, string) {
	t.Helper()
	dir := copyDir(t, f.dir)
	path := filepath.Join(dir, filepath.Base(f.path))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, damage(data), 0o600))
	cfg := f.cfg
	cfg.Dir = dir
	j, _ := open(t, cfg)
	return j, dir
}

// requireRecovered checks a journal recovered up to keep: its records, its
// indexes, and that it goes on from there (and reopens without cutting).
func requireRecovered(t *testing.T, j *Journal, dir string, cfg Config, keep uint64) {
	t.Helper()
	require.Equal(t, keep, j.LastIndex())
	recs, errs := readAll(t, j, 1)
	require.Empty(t, errs)
	requireRecords(t, recs, span(1, keep))
	idx, err := j.Append(recordFor(keep + 1))
	require.NoError(t, err)
	require.Equal(t, keep+1, idx)
	require.NoError(t, j.Close())
	cfg.Dir = dir
	j, _ = open(t, cfg)
	defer mustClose(t, j)
	require.Equal(t, keep+1, j.LastIndex())
	require.Zero(t, truncated(j, ReasonTornTail)+truncated(j, ReasonCorrupt))
}

// Cutting the last segment anywhere loses exactly the block that the cut
// tears (counted when its header survived) and keeps every block before it.
func TestTornTailTruncated(t *testing.T) {
	t.Parallel()
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			f := newTornFixture(t, c)
			size := f.blocks[len(f.blocks)-1].off + f.blocks[len(f.blocks)-1].size
			rng := rand.New(rand.NewPCG(42, 1))
			cuts := []int64{0, 1, headerSize - 1, headerSize, size - 1, f.blocks[3].off, f.blocks[3].off + headerSize}
			for range 80 {
				cuts = append(cuts, rng.Int64N(size))
			}
			for _, cut := range cuts {
				keep := f.blocks[0].first - 1
				var torn float64
				for _, b := range f.blocks {
					switch {
					case b.off+b.size <= cut:
						keep = b.last()
					case cut > b.off && cut-b.off >= headerSize:
						torn = float64(b.count)
					}
				}
				j, dir := f.damaged(t, func(data []byte) []byte { return data[:cut] })
				require.Equal(t, torn, truncated(j, ReasonTornTail), "cut at %d", cut)
				require.Zero(t, truncated(j, ReasonCorrupt))
				requireRecovered(t, j, dir, f.cfg, keep)
			}
		})
	}
}

// Flipping bytes in the last block loses that block only.
func TestTornTailFlipped(t *testing.T) {
	t.Parallel()
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			f := newTornFixture(t, c)
			b := f.blocks[len(f.blocks)-1]
			rng := rand.New(rand.NewPCG(7, uint64(len(c))))
			for range 80 {
				flips := 1 + rng.IntN(3)
				inPayload := true
				j, dir := f.damaged(t, func(data []byte) []byte {
					for range flips {
						at := rng.Int64N(b.size)
						inPayload = inPayload && at >= 28 // the CRC or the payload
						data[b.off+at] ^= byte(1 + rng.IntN(255))
					}
					return data
				})
				if inPayload {
					require.Equal(t, float64(b.count), truncated(j, ReasonTornTail))
				}
				require.Zero(t, truncated(j, ReasonCorrupt))
				requireRecovered(t, j, dir, f.cfg, b.first-1)
			}
		})
	}
}

// Bytes appended after the last block (a write torn before its header was
// whole, or garbage) are cut and count no records.
func TestTornTailGarbage(t *testing.T) {
	t.Parallel()
	f := newTornFixture(t, CompressionS2)
	j, dir := f.damaged(t, func(data []byte) []byte { return append(data, "RCJB\x01garbage"...) })
	require.Zero(t, truncated(j, ReasonTornTail))
	requireRecovered(t, j, dir, f.cfg, f.last)
}

// corruptFixture is a journal of several segments and the blocks of each.
type corruptFixture struct {
	dir    string
	cfg    Config
	last   uint64
	files  []string
	blocks [][]blockInfo
}

func newCorruptFixture(t *testing.T, compression string) corruptFixture {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, compression)
	j, _ := open(t, cfg)
	last := fillSegments(t, j, dir, 5)
	for files := segmentFiles(t, dir); len(blocksOf(t, files[len(files)-1])) < 4; {
		appendN(t, j, last+1, last+3)
		var err error
		last, err = j.Commit()
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
	f := corruptFixture{dir: dir, cfg: cfg, last: last, files: segmentFiles(t, dir)}
	for _, p := range f.files {
		f.blocks = append(f.blocks, blocksOf(t, p))
	}
	return f
}

func (f corruptFixture) damaged(t *testing.T, seg int, damage func(data []byte) []byte) (*Journal, string) {
	t.Helper()
	dir := copyDir(t, f.dir)
	path := filepath.Join(dir, filepath.Base(f.files[seg]))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, damage(data), 0o600))
	cfg := f.cfg
	cfg.Dir = dir
	j, _ := open(t, cfg)
	return j, dir
}

// without returns 1..last without lost's range.
func without(last, lostFirst, lostLast uint64) []uint64 {
	return append(span(1, lostFirst-1), span(lostLast+1, last)...)
}

func requireCorrupt(t *testing.T, err error, seg string, off int64, first, last uint64) {
	t.Helper()
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, filepath.Base(seg), ce.Segment)
	require.Equal(t, off, ce.Offset)
	require.Equal(t, first, ce.First, "first lost")
	require.Equal(t, last, ce.Last, "last lost")
}

// A bad block in an earlier segment is left alone by Open; a Reader
// reports exactly its records as ErrCorrupt at its place, counted once, and
// reads on.
func TestCorruptEarlierSegment(t *testing.T) {
	t.Parallel()
	damages := map[string]func(data []byte, b blockInfo){
		"payload":  func(data []byte, b blockInfo) { data[b.off+b.size-1] ^= 0x40 },
		"magic":    func(data []byte, b blockInfo) { data[b.off] = 'X' },
		"length":   func(data []byte, b blockInfo) { data[b.off+21] ^= 0x10 },
		"crc":      func(data []byte, b blockInfo) { data[b.off+28] ^= 1 },
		"zeroed":   func(data []byte, b blockInfo) { clear(data[b.off : b.off+b.size]) },
		"reserved": func(data []byte, b blockInfo) { data[b.off+6] = 1 },
	}
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		f := newCorruptFixture(t, c)
		for name, damage := range damages {
			t.Run(c+"/"+name, func(t *testing.T) {
				t.Parallel()
				const seg = 1
				// A block of several records in the middle of the segment.
				bs := f.blocks[seg]
				i := len(bs) / 2
				for bs[i].count < 2 {
					i++
				}
				b := bs[i]
				j, _ := f.damaged(t, seg, func(data []byte) []byte { damage(data, b); return data })
				defer mustClose(t, j)
				require.Zero(t, truncated(j, ReasonTornTail)+truncated(j, ReasonCorrupt), "Open reads the last segment only")
				require.Equal(t, f.last, j.LastIndex())

				for range 2 { // the second reader's report is not counted again
					recs, errs := readAll(t, j, 1)
					requireRecords(t, recs, without(f.last, b.first, b.last()))
					require.Len(t, errs, 1)
					requireCorrupt(t, errs[0], f.files[seg], b.off, b.first, b.last())
					require.Equal(t, float64(b.count), truncated(j, ReasonCorrupt))
				}

				// A reader from inside the block loses only its part of it.
				recs, errs := readAll(t, j, b.first+1)
				requireRecords(t, recs, span(b.last()+1, f.last))
				require.Len(t, errs, 1)
				requireCorrupt(t, errs[0], f.files[seg], b.off, b.first+1, b.last())
				// One from after it sees nothing wrong.
				recs, errs = readAll(t, j, b.last()+1)
				require.Empty(t, errs)
				requireRecords(t, recs, span(b.last()+1, f.last))
				require.Equal(t, float64(b.count), truncated(j, ReasonCorrupt))
			})
		}
	}
}

// An earlier segment cut short (a sync: none power loss) loses the rest of
// its records up to its successor.
func TestSegmentEndsEarly(t *testing.T) {
	t.Parallel()
	f := newCorruptFixture(t, CompressionS2)
	const seg = 2
	next := f.blocks[seg+1][0].first
	for _, tc := range []struct {
		name   string
		cut    func(b blockInfo) int64
		reason string
	}{
		{"at a block boundary", func(b blockInfo) int64 { return b.off }, "segment ends early"},
		{"inside a block", func(b blockInfo) int64 { return b.off + b.size/2 }, "truncated payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := f.blocks[seg][2]
			j, _ := f.damaged(t, seg, func(data []byte) []byte { return data[:tc.cut(b)] })
			defer mustClose(t, j)
			recs, errs := readAll(t, j, 1)
			requireRecords(t, recs, without(f.last, b.first, next-1))
			require.Len(t, errs, 1)
			requireCorrupt(t, errs[0], f.files[seg], b.off, b.first, next-1)
			require.ErrorContains(t, errs[0], tc.reason)
			require.Equal(t, float64(next-b.first), truncated(j, ReasonCorrupt))
		})
	}
}

// A bad block in the middle of the last segment is not a torn tail: Open
// keeps the intact blocks after it, counts the lost records, and writes on
// into a new segment.
func TestCorruptLastSegmentMiddle(t *testing.T) {
	t.Parallel()
	f := newCorruptFixture(t, CompressionZstd)
	seg := len(f.files) - 1
	require.GreaterOrEqual(t, len(f.blocks[seg]), 3)
	b := f.blocks[seg][1]
	j, dir := f.damaged(t, seg, func(data []byte) []byte { data[b.off+40] ^= 0xff; return data })
	require.Equal(t, float64(b.count), truncated(j, ReasonCorrupt))
	require.Zero(t, truncated(j, ReasonTornTail))
	require.Equal(t, f.last, j.LastIndex())
	require.Len(t, segmentFiles(t, dir), len(f.files)+1, "a new segment")

	recs, errs := readAll(t, j, 1)
	requireRecords(t, recs, without(f.last, b.first, b.last()))
	require.Len(t, errs, 1)
	requireCorrupt(t, errs[0], f.files[seg], b.off, b.first, b.last())
	require.Equal(t, float64(b.count), truncated(j, ReasonCorrupt), "counted once")

	appendN(t, j, f.last+1, f.last+5)
	require.NoError(t, j.Close())
	j, _ = open(t, j.cfg)
	defer mustClose(t, j)
	require.Equal(t, f.last+5, j.LastIndex())
	require.Zero(t, truncated(j, ReasonCorrupt)+truncated(j, ReasonTornTail))
}

// Damage to committed blocks of the segment being written, while the
// journal is open: a Reader reports it, then reads what is committed later.
func TestCorruptActiveSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, _ := open(t, testConfig(dir, CompressionNone))
	defer mustClose(t, j)
	appendN(t, j, 1, 3)
	_, err := j.Commit()
	require.NoError(t, err)
	r, err := j.NewReader(1)
	require.NoError(t, err)
	defer mustClose(t, r)

	path := segmentFiles(t, dir)[0]
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)-1] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o600))

	_, _, err = r.Next()
	requireCorrupt(t, err, path, 0, 1, 3)
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)

	appendN(t, j, 4, 6)
	_, err = j.Commit()
	require.NoError(t, err)
	for i := uint64(4); i <= 6; i++ {
		idx, b, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, i, idx)
		require.Equal(t, recordFor(i), b)
	}
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}
