package sparkplug

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rollcall-iot/rollcall/ingest"
)

// This file decodes the Sparkplug B Payload message over the protobuf wire
// format with protowire: no generated code and no protoc, so the build
// stays reproducible, and the decoder allocates nothing but the growth of
// the caller's metric slice. Field numbers are those of the Sparkplug 3.0
// specification's sparkplug_b.proto (chapter 6); fields rollcall does not
// use (uuid, body, metadata, properties, datasets, templates, extensions)
// are skipped, whatever their content, as long as the wire format is valid.

// Payload fields.
const (
	fieldPayloadTimestamp = 1
	fieldPayloadMetrics   = 2
	fieldPayloadSeq       = 3
)

// Metric fields.
const (
	fieldMetricName         = 1
	fieldMetricAlias        = 2
	fieldMetricTimestamp    = 3
	fieldMetricDatatype     = 4
	fieldMetricIsHistorical = 5
	fieldMetricIsTransient  = 6
	fieldMetricIsNull       = 7
	fieldMetricIntValue     = 10
	fieldMetricLongValue    = 11
	fieldMetricFloatValue   = 12
	fieldMetricDoubleValue  = 13
	fieldMetricBoolValue    = 14
	fieldMetricStringValue  = 15
)

// Datatypes (the DataType enum of the specification) rollcall reads.
const (
	TypeUnknown  = 0
	TypeInt8     = 1
	TypeInt16    = 2
	TypeInt32    = 3
	TypeInt64    = 4
	TypeUInt8    = 5
	TypeUInt16   = 6
	TypeUInt32   = 7
	TypeUInt64   = 8
	TypeFloat    = 9
	TypeDouble   = 10
	TypeBoolean  = 11
	TypeString   = 12
	TypeDateTime = 13
)

// Value kinds: which member of a metric's value oneof was present.
const (
	valueNone   uint8 = iota
	valueInt          // int_value (uint32 on the wire)
	valueLong         // long_value (uint64)
	valueFloat        // float_value
	valueDouble       // double_value
	valueOther        // boolean, string, bytes, dataset, template, extension
)

// Payload is the part of a Sparkplug B payload rollcall uses.
type Payload struct {
	// Timestamp is the payload's timestamp, Unix milliseconds (0: absent).
	Timestamp uint64
	// Seq is the sequence number, 0 to 255; HasSeq is false without one.
	Seq    uint64
	HasSeq bool
	// Metrics are the payload's metrics in order. Names alias the decoded
	// buffer: they are valid only as long as it is.
	Metrics []Metric
}

// Metric is one decoded metric.
type Metric struct {
	// Name is the metric name, nil when absent (DATA messages use aliases).
	Name []byte
	// Alias and HasAlias: the metric alias.
	Alias    uint64
	HasAlias bool
	// Timestamp is the metric's own timestamp, Unix ms (0: absent).
	Timestamp uint64
	// Datatype is the DataType enum value (TypeUnknown when absent: DATA
	// messages may omit it, and the birth's then applies).
	Datatype uint32
	// Historical, Transient and Null are the is_historical, is_transient
	// and is_null flags.
	Historical, Transient, Null bool
	// kind and bits hold the value: the integer bits, or the float bits.
	kind uint8
	bits uint64
}

// Value converts m's value to float64 following datatype dt: signed
// integers are sign-extended from their width (Int8 -1 arrives as 0xFF or
// 0xFFFFFFFF depending on the implementation; both read -1). ok is false
// for a metric without a numeric value or a non-numeric datatype.
func (m *Metric) Value(dt uint32) (v float64, ok bool) {
	switch m.kind {
	case valueFloat:
		if dt != TypeFloat && dt != TypeUnknown {
			return 0, false
		}
		return float64(math.Float32frombits(uint32(m.bits))), true
	case valueDouble:
		if dt != TypeDouble && dt != TypeUnknown {
			return 0, false
		}
		return math.Float64frombits(m.bits), true
	case valueInt, valueLong:
		switch dt {
		case TypeInt8:
			return float64(int8(m.bits)), true
		case TypeInt16:
			return float64(int16(m.bits)), true
		case TypeInt32:
			return float64(int32(m.bits)), true
		case TypeInt64:
			return float64(int64(m.bits)), true
		case TypeUInt8:
			return float64(uint8(m.bits)), true
		case TypeUInt16:
			return float64(uint16(m.bits)), true
		case TypeUInt32:
			return float64(uint32(m.bits)), true
		case TypeUInt64:
			return float64(m.bits), true
		}
	}
	return 0, false
}

// Numeric reports whether datatype dt is one rollcall aggregates.
func Numeric(dt uint32) bool { return dt >= TypeInt8 && dt <= TypeDouble }

// errProto builds the bad_protobuf reject.
func errProto(format string, args ...any) error {
	return &ingest.RejectError{Reason: ingest.ReasonBadProtobuf, Detail: fmt.Sprintf(format, args...)}
}

// DecodePayload decodes b into p, reusing p.Metrics' capacity. At most
// maxMetrics metrics are accepted (more: too_many_metrics). Errors are
// *ingest.RejectError: bad_protobuf for anything the wire format or the
// field types do not allow, too_many_metrics. On error p is partly filled.
func DecodePayload(b []byte, maxMetrics int, p *Payload) error {
	*p = Payload{Metrics: p.Metrics[:0]}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto("payload: bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldPayloadTimestamp && typ == protowire.VarintType:
			p.Timestamp, n = protowire.ConsumeVarint(b)
		case num == fieldPayloadSeq && typ == protowire.VarintType:
			p.Seq, n = protowire.ConsumeVarint(b)
			p.HasSeq = true
		case num == fieldPayloadMetrics && typ == protowire.BytesType:
			var mb []byte
			mb, n = protowire.ConsumeBytes(b)
			if n < 0 {
				break
			}
			if len(p.Metrics) >= maxMetrics {
				return &ingest.RejectError{
					Reason: ingest.ReasonTooManyMetrics,
					Detail: fmt.Sprintf("more than %d metrics (max_metrics)", maxMetrics),
				}
			}
			p.Metrics = append(p.Metrics, Metric{})
			if err := decodeMetric(mb, &p.Metrics[len(p.Metrics)-1]); err != nil {
				return err
			}
		case num == fieldPayloadTimestamp || num == fieldPayloadSeq || num == fieldPayloadMetrics:
			return errProto("payload field %d: wire type %d", num, typ)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProto("payload field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// decodeMetric decodes one Metric message.
func decodeMetric(b []byte, m *Metric) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto("metric: bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		want := protowire.VarintType
		switch num {
		case fieldMetricName, fieldMetricStringValue:
			want = protowire.BytesType
		case fieldMetricFloatValue:
			want = protowire.Fixed32Type
		case fieldMetricDoubleValue:
			want = protowire.Fixed64Type
		case fieldMetricAlias, fieldMetricTimestamp, fieldMetricDatatype, fieldMetricIsHistorical,
			fieldMetricIsTransient, fieldMetricIsNull, fieldMetricIntValue, fieldMetricLongValue, fieldMetricBoolValue:
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errProto("metric field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num >= 16 && num <= 19 { // bytes, dataset, template, extension values
				m.kind = valueOther
			}
			continue
		}
		if typ != want {
			return errProto("metric field %d: wire type %d, want %d", num, typ, want)
		}
		var v uint64
		switch want {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			v = uint64(f)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		default:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			if num == fieldMetricName {
				m.Name = s
			}
		}
		if n < 0 {
			return errProto("metric field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldMetricAlias:
			m.Alias, m.HasAlias = v, true
		case fieldMetricTimestamp:
			m.Timestamp = v
		case fieldMetricDatatype:
			m.Datatype = uint32(v)
		case fieldMetricIsHistorical:
			m.Historical = v != 0
		case fieldMetricIsTransient:
			m.Transient = v != 0
		case fieldMetricIsNull:
			m.Null = v != 0
		case fieldMetricIntValue:
			m.kind, m.bits = valueInt, uint64(uint32(v))
		case fieldMetricLongValue:
			m.kind, m.bits = valueLong, v
		case fieldMetricFloatValue:
			m.kind, m.bits = valueFloat, v
		case fieldMetricDoubleValue:
			m.kind, m.bits = valueDouble, v
		case fieldMetricBoolValue, fieldMetricStringValue:
			m.kind = valueOther
		}
	}
	return nil
}
