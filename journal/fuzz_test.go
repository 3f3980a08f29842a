package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fuzz modes: bits of FuzzReader's mode argument.
const (
	// fuzzFixCRC sets the checksum of every block the input's length fields
	// chain together, so that the fuzzer reaches the decoders and the
	// record framing with bytes that pass the checksum.
	fuzzFixCRC = 1 << iota
	// fuzzSealed adds an empty later segment, so that the input is an
	// earlier segment: Open leaves it alone and the Reader meets its damage.
	fuzzSealed
)

// FuzzReader writes arbitrary bytes as a segment file, opens the journal
// and reads everything. Nothing may panic, Open must recover, and every
// record returned must come from a block that passes its checksum (checked
// here without the package's code).
func FuzzReader(f *testing.F) {
	for _, c := range []string{CompressionNone, CompressionS2, CompressionZstd} {
		seg := fuzzSeed(f, c)
		f.Add(seg, uint8(0))
		f.Add(seg, uint8(fuzzSealed))
		f.Add(seg[:len(seg)*2/3], uint8(0))
		bad := bytes.Clone(seg)
		bad[len(bad)/2] ^= 0x55
		f.Add(bad, uint8(fuzzSealed))
		f.Add(bad, uint8(fuzzFixCRC|fuzzSealed))
	}
	f.Add([]byte{}, uint8(0))
	f.Add([]byte("RCJB\x01\x00\x00\x00"), uint8(fuzzFixCRC))

	dir := fuzzDir(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) { fuzzReader(t, dir, data, mode) })
}

// fuzzDir is one directory for every execution in this process (they run
// one at a time; each empties it first), on tmpfs when there is one. Go's
// minimizer runs the target about n²/2 times for an n-byte input, and on
// the project's VMs an execution costs 2 ms on disk (creating, truncating
// and removing files) but 0.4 ms on tmpfs.
func fuzzDir(f *testing.F) string {
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "journal-fuzz-"); err == nil {
			f.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return f.TempDir()
}

func fuzzReader(t *testing.T, dir string, data []byte, mode uint8) {
	if len(data) > 1<<20 {
		return
	}
	if mode&fuzzFixCRC != 0 {
		fixCRCs(data)
	}
	valid := checksummedBlocks(data)
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	for _, p := range files {
		require.NoError(t, os.Remove(p))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o600))
	if mode&fuzzSealed != 0 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1000)), nil, 0o600))
	}
	j, err := Open(Config{Dir: dir, Sync: SyncNone, SegmentBytes: MinSegmentBytes, MaxBytes: 1 << 30, BlockBytes: 1024}, nil, nil)
	require.NoError(t, err)
	defer mustClose(t, j)

	r, err := j.NewReader(1)
	require.NoError(t, err)
	defer mustClose(t, r)
	var prev uint64
	for range 1 << 20 {
		idx, rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			continue
		}
		require.Greater(t, idx, prev, "indexes increase")
		require.LessOrEqual(t, idx, j.LastIndex())
		prev = idx
		require.True(t, coveredBy(valid, idx, len(rec)), "record %d is from no checksummed block", idx)
	}

	// The journal goes on after whatever it read.
	next, err := j.Append([]byte("after"))
	require.NoError(t, err)
	require.Equal(t, j.LastIndex()+1, next)
	_, err = j.Commit()
	require.NoError(t, err)
	idx, rec, err := r.Next()
	for errors.Is(err, ErrCorrupt) {
		idx, rec, err = r.Next()
	}
	require.NoError(t, err)
	require.Equal(t, next, idx)
	require.Equal(t, "after", string(rec))
}

// fuzzSeed is a segment of a few small blocks written by the journal:
// small, because every execution writes files, and minimizing an input
// costs executions in proportion to its length.
func fuzzSeed(tb testing.TB, compression string) []byte {
	dir := tb.TempDir()
	cfg := testConfig(dir, compression)
	cfg.BlockBytes = 32
	j, err := Open(cfg, nil, nil)
	require.NoError(tb, err)
	for i := uint64(1); i <= 7; i++ {
		_, err := j.Append(bytes.Repeat([]byte{'a' + byte(i%3)}, int(i%3)*12))
		require.NoError(tb, err)
		if i%3 == 0 {
			_, err = j.Commit()
			require.NoError(tb, err)
		}
	}
	require.NoError(tb, j.Close())
	b, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	require.NoError(tb, err)
	return b
}

type fuzzBlock struct {
	first, count uint64
	recordsLen   int
}

// checksummedBlocks finds every block in data, at any offset, whose
// checksum matches.
func checksummedBlocks(data []byte) []fuzzBlock {
	var bs []fuzzBlock
	tab := crc32.MakeTable(crc32.Castagnoli)
	for i := 0; i+32 <= len(data); i++ {
		if string(data[i:i+4]) != "RCJB" {
			continue
		}
		h := data[i : i+32]
		n := int(binary.LittleEndian.Uint32(h[20:]))
		if n < 0 || n > len(data)-i-32 {
			continue
		}
		crc := crc32.Update(crc32.Checksum(h[:28], tab), tab, data[i+32:i+32+n])
		if crc == binary.LittleEndian.Uint32(h[28:]) {
			bs = append(bs, fuzzBlock{
				first:      binary.LittleEndian.Uint64(h[8:]),
				count:      uint64(binary.LittleEndian.Uint32(h[16:])),
				recordsLen: int(binary.LittleEndian.Uint32(h[24:])),
			})
		}
	}
	return bs
}

func coveredBy(bs []fuzzBlock, idx uint64, recLen int) bool {
	for _, b := range bs {
		if idx >= b.first && idx-b.first < b.count && recLen < b.recordsLen {
			return true
		}
	}
	return false
}

// fixCRCs sets the checksums of the blocks chained from offset 0 by their
// payload lengths.
func fixCRCs(data []byte) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	for off := 0; off+32 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+20:]))
		if n < 0 || n > len(data)-off-32 {
			return
		}
		crc := crc32.Update(crc32.Checksum(data[off:off+28], tab), tab, data[off+32:off+32+n])
		binary.LittleEndian.PutUint32(data[off+28:], crc)
		off += 32 + n
	}
}
