package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

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

// Payload formats: Scenario.Format.
const (
	// FormatJSON is rollcall's JSON on the scenario's topic templates.
	FormatJSON = "json"
	// FormatSparkplug is Sparkplug B: every simulated device is an edge
	// node {site}/{name} (its own metrics, NDATA), with an NBIRTH at the
	// start, at every reconnection and at every reboot (the next bdSeq),
	// and an NDEATH as its Last Will (docs/simulator.md).
	FormatSparkplug = "sparkplug"
)

// spNamespace is the Sparkplug B 3.0 topic namespace.
const spNamespace = "spBv1.0"

// validateFormat checks Format against the faults: a spoof needs a payload
// that names its device, which Sparkplug's does not (only the broker's ACL
// stops a Sparkplug spoofer).
func (s Scenario) validateFormat() error {
	switch s.Format {
	case FormatJSON:
		return nil
	case FormatSparkplug:
	default:
		return fmt.Errorf("format: %q is not %q or %q", s.Format, FormatJSON, FormatSparkplug)
	}
	var errs []error
	for i, f := range s.Faults {
		if f.Kind == FaultSpoof {
			errs = append(errs, fmt.Errorf("faults[%d]: spoof does not apply to format sparkplug (the payload names no device)", i))
		}
	}
	return errors.Join(errs...)
}

// spPlan sets device d's Sparkplug topics: NDATA for readings, NDEATH
// (its Last Will, with bdSeq 0, the first session's) and NBIRTH.
func spPlan(d *devicePlan, site string) {
	d.topic = spNamespace + "/" + site + "/NDATA/" + d.name
	d.statusTopic = spNamespace + "/" + site + "/NDEATH/" + d.name
	d.birthTopic = spNamespace + "/" + site + "/NBIRTH/" + d.name
	d.will = spDeath(0)
}

func (r *run) sparkplug() bool { return r.p.scenario.Format == FormatSparkplug }

// payload returns the payload of device d's reading vals (of metrics names)
// at ts: JSON, or a Sparkplug NDATA whose metrics carry only their
// aliases (1, 2, ... in the group's metric order, as the birth defined
// them) and seq the session's seq mod 256.
func (r *run) payload(d *devState, ts time.Time, names []string, vals []float64) []byte {
	if !r.sparkplug() {
		return appendTelemetry(make([]byte, 0, 128), "", d.seq, d.boot, ts, names, vals)
	}
	ms := make([]SpMetric, len(vals))
	for i, v := range vals {
		ms[i] = SpMetric{Alias: uint64(i + 1), HasAlias: true, Datatype: SpDouble, Value: v}
	}
	return AppendSpPayload(make([]byte, 0, 16+12*len(vals)), uint64(ts.UnixMilli()), d.seq%256, true, ms)
}

// garble returns a malformed variant of valid: for Sparkplug, valid with a
// truncated field tag appended, which no protobuf decoder accepts.
func (r *run) garble(d *devState, valid []byte, ts time.Time) []byte {
	if !r.sparkplug() {
		return malformed(d.malformedN, valid, d.seq, d.boot, ts)
	}
	return append(append([]byte(nil), valid...), 0xff)
}

// pad returns valid padded to at least size bytes: for Sparkplug, with a
// body field (5) of padding.
func (r *run) pad(valid []byte, size int) []byte {
	if !r.sparkplug() {
		return oversize(valid, size)
	}
	b := append([]byte(nil), valid...)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, make([]byte, max(size-len(valid), 0)))
}

// spStatus turns status message m of device di into its Sparkplug form:
// a birth is an NBIRTH (seq 0: the device's seq starts again), a will an
// NDEATH of the session's bdSeq.
func (r *run) spStatus(di int32, m *Message) {
	d := &r.devs[di]
	if m.Kind == MessageWill {
		m.Payload = spDeath(d.bdSeq)
		return
	}
	d.seq = 0
	m.Topic = d.p.birthTopic
	m.Payload = spBirth(d.bdSeq, m.At, r.p.groups[d.p.group].Metrics)
}

// spRebirth publishes device di's NBIRTH after a reboot, at t.
func (r *run) spRebirth(di int, t time.Duration) {
	d := &r.devs[di]
	m := Message{Topic: d.p.birthTopic, QoS: 1, Kind: MessageBirth, Device: d.p.id, At: r.start.Add(t)}
	m.Payload = spBirth(d.bdSeq, m.At, r.p.groups[d.p.group].Metrics)
	r.f.ctr.status.Add(1)
	r.tr.publish(int32(di), &m)
}

// spBirth is an NBIRTH: bdSeq, and every metric with its name, alias and
// datatype but no value (is_null): a birth's values are readings, and
// the simulator's truth has none at a birth.
func spBirth(bdSeq uint64, at time.Time, names []string) []byte {
	ms := make([]SpMetric, 0, 1+len(names))
	ms = append(ms, SpMetric{Name: "bdSeq", Datatype: SpInt64, Value: float64(bdSeq % 256)})
	for i, n := range names {
		ms = append(ms, SpMetric{Name: n, Alias: uint64(i + 1), HasAlias: true, Datatype: SpDouble, Null: true})
	}
	return AppendSpPayload(nil, uint64(at.UnixMilli()), 0, true, ms)
}

// spDeath is an NDEATH: bdSeq only (a Will has no meaningful timestamp).
func spDeath(bdSeq uint64) []byte {
	return AppendSpPayload(nil, 0, 0, false, []SpMetric{{Name: "bdSeq", Datatype: SpInt64, Value: float64(bdSeq % 256)}})
}
