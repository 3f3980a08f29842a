package ingestlog

import (
	"encoding/binary"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Record types: the first byte of every journal record.
const (
	recReading byte = 1
	recMark    byte = 2
)

// maxMarkShards bounds the per-shard positions a decoded mark may claim.
const maxMarkShards = 1024

// Mark records one emit round of the consumer: its sequence number, the
// gateway clock it ran at (Unix nanoseconds), and how far each of the
// consumer's shards had got in the journal. The engine's round mark
// converts to it and back.
type Mark struct {
	Seq       uint64
	Now       int64
	Processed []uint64
}

// encodeReading is a reading record: type, kind, flags, receive time, site,
// device, payload.
func encodeReading(m ingest.Message) []byte {
	b := make([]byte, 0, 3+binary.MaxVarintLen64*3+len(m.Site)+len(m.Device)+len(m.Payload))
	var flags byte
	if m.Redelivered {
		flags = 1
	}
	b = append(b, recReading, byte(m.Kind), flags)
	b = binary.AppendVarint(b, m.Received)
	b = binary.AppendUvarint(b, uint64(len(m.Site)))
	b = append(b, m.Site...)
	b = binary.AppendUvarint(b, uint64(len(m.Device)))
	b = append(b, m.Device...)
	return append(b, m.Payload...)
}

// encodeMark is a round-mark record: type, seq, clock, per-shard progress.
func encodeMark(m Mark) []byte {
	b := []byte{recMark}
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendVarint(b, m.Now)
	b = binary.AppendUvarint(b, uint64(len(m.Processed)))
	for _, p := range m.Processed {
		b = binary.AppendUvarint(b, p)
	}
	return b
}

// decodeRecord returns a reading (with idx as its Index) or a round mark.
// The reading's payload is a copy: rec may be reused.
func decodeRecord(idx uint64, rec []byte) (m ingest.Message, mark Mark, isMark bool, err error) {
	if len(rec) == 0 {
		return m, mark, false, ErrBadRecord
	}
	r := &byteReader{b: rec[1:]}
	switch rec[0] {
	case recReading:
		kind, flags := r.byte(), r.byte()
		m = ingest.Message{Kind: ingest.TopicKind(kind), Redelivered: flags&1 != 0, Index: idx}
		m.Received = r.varint()
		m.Site = string(r.bytes(r.uvarint()))
		m.Device = string(r.bytes(r.uvarint()))
		if site, name := ingest.SplitID(m.Device); site == "" && m.Site != "" {
			// Written before a device was its identity, site/name.
			m.Device = ingest.ID(m.Site, name)
		}
		m.Payload = append([]byte(nil), r.b...)
		return m, mark, false, r.err
	case recMark:
		mark.Seq = r.uvarint()
		mark.Now = r.varint()
		n := r.uvarint()
		if n > maxMarkShards {
			return m, mark, true, ErrBadRecord
		}
		for range n {
			mark.Processed = append(mark.Processed, r.uvarint())
		}
		return m, mark, true, r.err
	}
	return m, mark, false, ErrBadRecord
}

// byteReader reads a record's fields; the first failure sticks in err.
type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) byte() byte {
	if len(r.b) == 0 {
		r.err = ErrBadRecord
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrBadRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrBadRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.err = ErrBadRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
