package sim

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes Sparkplug B payloads (Eclipse Sparkplug 3.0, chapter 6,
// the Payload message of sparkplug_b.proto) with protowire: the simulator
// speaks the wire format on its own, independently of rollcall's decoder.

// Sparkplug datatypes the simulator writes.
const (
	SpInt32   = 3
	SpInt64   = 4
	SpUInt32  = 7
	SpDouble  = 10
	SpBoolean = 11
	SpString  = 12
)

// SpMetric is one metric of a Sparkplug payload.
type SpMetric struct {
	// Name is written when not empty (births; DATA uses the alias).
	Name string
	// Alias is written when HasAlias.
	Alias    uint64
	HasAlias bool
	// Timestamp is the metric's timestamp, Unix ms (0: none).
	Timestamp uint64
	// Datatype is the DataType enum value (0: not written).
	Datatype uint32
	// Historical and Null are the is_historical and is_null flags.
	Historical, Null bool
	// Value is the value: written as double_value for SpDouble, as
	// long_value for SpInt64, int_value for SpInt32/SpUInt32 (two's
	// complement), boolean_value for SpBoolean; String for SpString.
	Value  float64
	String string
}

// AppendSpPayload appends a Sparkplug B Payload with timestamp ts (Unix ms),
// seq (written when hasSeq) and metrics to b.
func AppendSpPayload(b []byte, ts, seq uint64, hasSeq bool, metrics []SpMetric) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, ts)
	for i := range metrics {
		var mb [64]byte
		m := appendSpMetric(mb[:0], &metrics[i])
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	if hasSeq {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, seq)
	}
	return b
}

func appendSpMetric(b []byte, m *SpMetric) []byte {
	if m.Name != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, m.Name)
	}
	if m.HasAlias {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, m.Alias)
	}
	if m.Timestamp != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, m.Timestamp)
	}
	if m.Datatype != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.Datatype))
	}
	if m.Historical {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if m.Null {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		return protowire.AppendVarint(b, 1)
	}
	switch m.Datatype {
	case SpDouble:
		b = protowire.AppendTag(b, 13, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(m.Value))
	case SpInt64:
		b = protowire.AppendTag(b, 11, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(m.Value)))
	case SpInt32, SpUInt32:
		b = protowire.AppendTag(b, 10, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(uint32(int32(int64(m.Value)))))
	case SpBoolean:
		b = protowire.AppendTag(b, 14, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(m.Value != 0))
	case SpString:
		b = protowire.AppendTag(b, 15, protowire.BytesType)
		b = protowire.AppendString(b, m.String)
	}
	return b
}
