package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// A block on disk is a fixed header followed by its payload:
//
//	offset size field
//	0      4    magic "RCJB"
//	4      1    version (1)
//	5      1    codec: 0 none, 1 s2, 2 zstd
//	6      2    reserved, 0
//	8      8    index of the first record
//	16     4    record count, at least 1
//	20     4    payload length (compressed)
//	24     4    records length (uncompressed)
//	28     4    CRC-32C (Castagnoli) of bytes 0-27 and the payload
//	32          payload
//
// Integers are little-endian. The records, once decompressed, are each a
// uvarint length and that many bytes. A codec that would not shrink the
// records is replaced by none, so a compressed payload is always shorter than
// its records and an uncompressed one exactly as long.
const (
	headerSize   = 32
	blockVersion = 1

	codecNone byte = 0
	codecS2   byte = 1
	codecZstd byte = 2

	// maxRecordsLen bounds a block's records: BlockBytes of small records,
	// or one record of up to MaxRecordBytes. Larger headers are corrupt.
	maxRecordsLen = MaxRecordBytes + binary.MaxVarintLen64
)

var (
	blockMagic = [4]byte{'R', 'C', 'J', 'B'}
	// castagnoli is read-only after initialisation.
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func codecOf(name string) (byte, bool) {
	switch name {
	case CompressionNone:
		return codecNone, true
	case CompressionS2:
		return codecS2, true
	case CompressionZstd:
		return codecZstd, true
	}
	return 0, false
}

type header struct {
	codec      byte
	first      uint64
	count      uint32
	payloadLen uint32
	recordsLen uint32
	crc        uint32
}

// end is the index after the block's last record.
func (h header) end() uint64 { return h.first + uint64(h.count) }

// size is the block's length on disk.
func (h header) size() int64 { return headerSize + int64(h.payloadLen) }

// badBlock is the reason a block is not valid. It is not an I/O error: the
// bytes were read, and they are wrong.
type badBlock string

func (b badBlock) Error() string { return string(b) }

func isBad(err error) bool {
	var b badBlock
	return errors.As(err, &b)
}

// parseHeader decodes and checks a header's fields, not its checksum.
func parseHeader(b []byte) (header, error) {
	if !bytes.Equal(b[0:4], blockMagic[:]) {
		return header{}, badBlock("bad magic")
	}
	if b[4] != blockVersion {
		return header{}, badBlock(fmt.Sprintf("unknown version %d", b[4]))
	}
	h := header{
		codec:      b[5],
		first:      binary.LittleEndian.Uint64(b[8:]),
		count:      binary.LittleEndian.Uint32(b[16:]),
		payloadLen: binary.LittleEndian.Uint32(b[20:]),
		recordsLen: binary.LittleEndian.Uint32(b[24:]),
		crc:        binary.LittleEndian.Uint32(b[28:]),
	}
	switch {
	case h.codec > codecZstd:
		return h, badBlock(fmt.Sprintf("unknown codec %d", h.codec))
	case b[6] != 0 || b[7] != 0:
		return h, badBlock("reserved bytes set")
	case h.first == 0 || h.end() < h.first:
		return h, badBlock("bad first index")
	case h.count == 0 || h.recordsLen < h.count || h.recordsLen > maxRecordsLen:
		return h, badBlock("bad record count or length")
	case h.codec == codecNone && h.payloadLen != h.recordsLen,
		h.codec != codecNone && (h.payloadLen == 0 || h.payloadLen >= h.recordsLen):
		return h, badBlock("bad payload length")
	}
	return h, nil
}

// encoder builds blocks. It is owned by the writer.
type encoder struct {
	codec byte
	zstd  *zstd.Encoder
	buf   []byte
}

func newEncoder(codec byte) (*encoder, error) {
	e := &encoder{codec: codec}
	if codec == codecZstd {
		// EncodeAll runs in the caller's goroutine; concurrency 1 keeps a
		// single encoder state. Our CRC covers the payload, so zstd's own
		// checksum would be redundant.
		z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
		if err != nil {
			return nil, fmt.Errorf("journal: zstd encoder: %w", err)
		}
		e.zstd = z
	}
	return e, nil
}

// encode returns the block holding records (count records, the first with
// index first), in a buffer reused by the next call.
func (e *encoder) encode(first uint64, count uint32, records []byte) []byte {
	b := e.buf[:0]
	b = append(b, make([]byte, headerSize)...)
	codec := e.codec
	switch codec {
	case codecS2:
		n := headerSize + s2.MaxEncodedLen(len(records))
		if cap(b) < n {
			b = make([]byte, headerSize, n)
		}
		// s2.Encode writes into its dst when it is large enough, as it is.
		dst := b[headerSize:n]
		enc := s2.Encode(dst, records)
		if len(enc) > 0 && &enc[0] != &dst[0] {
			b = append(b[:headerSize], enc...) // not expected: s2 encodes in place
		} else {
			b = b[:headerSize+len(enc)]
		}
	case codecZstd:
		b = e.zstd.EncodeAll(records, b)
	}
	if codec == codecNone || len(b)-headerSize >= len(records) {
		codec = codecNone
		b = append(b[:headerSize], records...)
	}
	copy(b[0:4], blockMagic[:])
	b[4], b[5], b[6], b[7] = blockVersion, codec, 0, 0
	binary.LittleEndian.PutUint64(b[8:], first)
	binary.LittleEndian.PutUint32(b[16:], count)
	binary.LittleEndian.PutUint32(b[20:], uint32(len(b)-headerSize))
	binary.LittleEndian.PutUint32(b[24:], uint32(len(records)))
	crc := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[headerSize:])
	binary.LittleEndian.PutUint32(b[28:], crc)
	e.buf = b
	return b
}

// trim drops the block buffer when it grew past n bytes.
func (e *encoder) trim(n int) {
	if cap(e.buf) > n {
		e.buf = nil
	}
}

func (e *encoder) close() {
	if e.zstd != nil {
		_ = e.zstd.Close() // EncodeAll only: nothing is buffered
	}
}

// blockReader reads and checks blocks. Each Reader, and Open's recovery,
// owns one; the records it returns are valid until its next read.
type blockReader struct {
	hdr  [headerSize]byte
	raw  []byte
	dec  []byte
	zstd *zstd.Decoder
	scan []byte
}

// read returns the header of the block at off and its records, unless all
// of them have indexes below skipBelow (then the records are nil: a Reader
// looking for a later record does not decompress them). A block must end by
// limit. Bad bytes give a badBlock error; only I/O failures give another
// error. The checksum is always verified.
func (br *blockReader) read(ra io.ReaderAt, off, limit int64, skipBelow uint64) (header, []byte, error) {
	if limit-off < headerSize {
		return header{}, nil, badBlock("truncated header")
	}
	if err := readFull(ra, br.hdr[:], off); err != nil {
		return header{}, nil, err
	}
	h, err := parseHeader(br.hdr[:])
	if err != nil {
		return h, nil, err
	}
	if h.size() > limit-off {
		return h, nil, badBlock("truncated payload")
	}
	if cap(br.raw) < int(h.payloadLen) {
		br.raw = make([]byte, h.payloadLen)
	}
	payload := br.raw[:h.payloadLen]
	if err := readFull(ra, payload, off+headerSize); err != nil {
		return h, nil, err
	}
	crc := crc32.Update(crc32.Checksum(br.hdr[:28], castagnoli), castagnoli, payload)
	if crc != h.crc {
		return h, nil, badBlock("checksum mismatch")
	}
	if h.end() <= skipBelow {
		return h, nil, nil
	}
	recs, err := br.decode(h, payload)
	if err != nil {
		return h, nil, err
	}
	return h, recs, nil
}

func (br *blockReader) decode(h header, payload []byte) ([]byte, error) {
	n := int(h.recordsLen)
	var recs []byte
	switch h.codec {
	case codecNone:
		recs = payload
	case codecS2:
		if l, err := s2.DecodedLen(payload); err != nil || l != n {
			return nil, badBlock("s2: bad length")
		}
		if cap(br.dec) < n {
			br.dec = make([]byte, n)
		}
		out, err := s2.Decode(br.dec[:n], payload)
		if err != nil || len(out) != n {
			return nil, badBlock("s2: corrupt payload")
		}
		recs = out
	case codecZstd:
		if br.zstd == nil {
			z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(maxRecordsLen), zstd.WithDecodeAllCapLimit(true))
			if err != nil {
				return nil, fmt.Errorf("journal: zstd decoder: %w", err)
			}
			br.zstd = z
		}
		if cap(br.dec) < n {
			br.dec = make([]byte, n)
		}
		out, err := br.zstd.DecodeAll(payload, br.dec[:0:n])
		if err != nil || len(out) != n {
			return nil, badBlock("zstd: corrupt payload")
		}
		recs = out
	}
	if err := checkRecords(recs, h.count); err != nil {
		return nil, err
	}
	return recs, nil
}

// checkRecords verifies that recs is exactly count length-prefixed records.
func checkRecords(recs []byte, count uint32) error {
	for range count {
		l, k := binary.Uvarint(recs)
		if k <= 0 || l > uint64(len(recs)-k) {
			return badBlock("bad record framing")
		}
		recs = recs[k+int(l):]
	}
	if len(recs) != 0 {
		return badBlock("bad record framing")
	}
	return nil
}

// nextRecord splits the first record off recs, which checkRecords passed.
func nextRecord(recs []byte) (rec, rest []byte) {
	l, k := binary.Uvarint(recs)
	end := k + int(l)
	return recs[k:end:end], recs[end:]
}

// find looks for the first valid block at an offset in [from, limit) whose
// first index is at least minFirst and whose records end by maxEnd: where
// reading resumes after damage. Candidates are found by their magic and
// must pass every check read makes.
func (br *blockReader) find(ra io.ReaderAt, from, limit int64, minFirst, maxEnd uint64) (int64, header, bool, error) {
	const chunk = 64 << 10
	if cap(br.scan) < chunk {
		br.scan = make([]byte, chunk)
	}
	for pos := from; limit-pos >= headerSize; {
		n := int(min(int64(chunk), limit-pos))
		buf := br.scan[:n]
		if err := readFull(ra, buf, pos); err != nil {
			return 0, header{}, false, err
		}
		for i := 0; ; {
			j := bytes.Index(buf[i:], blockMagic[:])
			if j < 0 {
				break
			}
			off := pos + int64(i+j)
			h, _, err := br.read(ra, off, limit, 0)
			switch {
			case err == nil && h.first >= minFirst && h.end() <= maxEnd:
				return off, h, true, nil
			case err != nil && !isBad(err):
				return 0, header{}, false, err
			}
			i += j + 1
		}
		if pos+int64(n) >= limit {
			break
		}
		pos += int64(n - (len(blockMagic) - 1)) // a magic may straddle chunks
	}
	return 0, header{}, false, nil
}

func (br *blockReader) close() {
	if br.zstd != nil {
		br.zstd.Close()
		br.zstd = nil
	}
}

// readFull reads len(b) bytes at off. A short read means the file is shorter
// than the journal believed: the bytes are missing, a badBlock.
func readFull(ra io.ReaderAt, b []byte, off int64) error {
	n, err := ra.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return badBlock("file shorter than expected")
	}
	return fmt.Errorf("journal: read: %w", err)
}
