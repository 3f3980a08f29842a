package sparkplug_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/sim"
)

// t0 is the tests' clock: Unix ms.
const t0 = uint64(1_800_000_000_000)

// edge is a test edge node plant/edge1 with devices, publishing in order.
type edge struct {
	t     *testing.T
	h     *sparkplug.Host
	seq   uint64
	ts    uint64
	bdSeq uint64
}

func newEdge(t *testing.T, l ingest.Limits) (*edge, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	m, err := sparkplug.NewMetrics(reg)
	require.NoError(t, err)
	return &edge{t: t, h: sparkplug.NewHost(l, m), ts: t0}, reg
}

func (e *edge) msg(kind ingest.TopicKind, device string, payload []byte) *ingest.Message {
	id := "plant/edge1"
	if device != "" {
		id += ":" + device
	}
	return &ingest.Message{
		Kind: kind, Site: "plant", Device: id, Payload: payload,
		Received: int64(e.ts) * int64(time.Millisecond),
	}
}

// send publishes kind with the node's next seq (NBIRTH: 0) and returns the
// result.
func (e *edge) send(kind ingest.TopicKind, device string, ms ...sim.SpMetric) (*sparkplug.Result, error) {
	e.t.Helper()
	e.ts += 100
	if kind == ingest.TopicSpNBirth {
		e.seq = 0
	}
	if kind == ingest.TopicSpNBirth || kind == ingest.TopicSpNDeath {
		ms = append([]sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64, Value: float64(e.bdSeq)}}, ms...)
	}
	p := sim.AppendSpPayload(nil, e.ts, e.seq%256, kind != ingest.TopicSpNDeath, ms)
	if kind != ingest.TopicSpNDeath {
		e.seq++
	}
	return e.h.Handle(e.msg(kind, device, p))
}

func (e *edge) must(kind ingest.TopicKind, device string, ms ...sim.SpMetric) *sparkplug.Result {
	e.t.Helper()
	r, err := e.send(kind, device, ms...)
	require.NoError(e.t, err)
	return r
}

func birthMetric(name string, alias uint64, v float64) sim.SpMetric {
	return sim.SpMetric{Name: name, Alias: alias, HasAlias: true, Datatype: sim.SpDouble, Value: v}
}

func dataMetric(alias uint64, v float64) sim.SpMetric {
	return sim.SpMetric{Alias: alias, HasAlias: true, Datatype: sim.SpDouble, Value: v}
}

func TestSparkplugSession(t *testing.T) {
	e, reg := newEdge(t, ingest.Limits{})
	_, err := e.send(ingest.TopicSpNData, "", dataMetric(1, 1))
	require.Equal(t, ingest.ReasonNoBirth, ingest.ReasonOf(err), "NDATA before NBIRTH")

	r := e.must(ingest.TopicSpNBirth, "", birthMetric("temp_c", 1, 21.5),
		sim.SpMetric{Name: "Node Control/Rebirth", Datatype: sim.SpBoolean})
	require.Equal(t, sparkplug.StatusOnline, r.Status)
	require.Len(t, r.Readings, 1)
	require.Equal(t, []ingest.Metric{{Name: "temp_c", Value: 21.5}}, r.Readings[0].Metrics, "bdSeq and Node Control are not readings")
	boot := r.Boot

	_, err = e.send(ingest.TopicSpDData, "pump-1", dataMetric(1, 1))
	require.Equal(t, ingest.ReasonNoBirth, ingest.ReasonOf(err), "DDATA before DBIRTH")

	r = e.must(ingest.TopicSpDBirth, "pump-1", birthMetric("flow_m3h", 1, 10),
		sim.SpMetric{Name: "mode", Alias: 2, HasAlias: true, Datatype: sim.SpString, String: "auto"},
		sim.SpMetric{Name: "count", Alias: 3, HasAlias: true, Datatype: sim.SpInt32, Value: -3})
	require.Equal(t, sparkplug.StatusOnline, r.Status)
	require.Equal(t, []ingest.Metric{{Name: "flow_m3h", Value: 10}, {Name: "count", Value: -3}}, r.Readings[0].Metrics)

	r = e.must(ingest.TopicSpDData, "pump-1", dataMetric(1, 11), dataMetric(9, 1),
		sim.SpMetric{Alias: 2, HasAlias: true, Datatype: sim.SpString, String: "manual"},
		sim.SpMetric{Alias: 3, HasAlias: true, Null: true})
	require.Equal(t, []ingest.Metric{{Name: "flow_m3h", Value: 11}}, r.Readings[0].Metrics)
	require.Equal(t, boot, r.Boot)
	require.EqualValues(t, 3, r.Seq)
	skipped := func(reason string) float64 {
		return counter(t, reg, "rollcall_sparkplug_metrics_skipped_total", reason)
	}
	require.InDelta(t, 1, skipped(sparkplug.SkipUnknownAlias), 0)
	require.InDelta(t, 2, skipped(sparkplug.SkipNotNumeric), 0, "the birth's and the DATA's string")
	require.InDelta(t, 1, skipped(sparkplug.SkipNull), 0)
	require.InDelta(t, 2, skipped(sparkplug.SkipControl), 0, "bdSeq, Node Control/Rebirth")

	// An NDEATH of another session is ignored; the session's own ends it.
	e.bdSeq = 7
	r = e.must(ingest.TopicSpNDeath, "")
	require.True(t, r.Stale)
	e.bdSeq = 0
	r = e.must(ingest.TopicSpNDeath, "")
	require.Equal(t, sparkplug.StatusOffline, r.Status)
	require.Equal(t, []string{"plant/edge1:pump-1"}, r.Offline)
	firstBirth := sim.AppendSpPayload(nil, t0+100, 0, true, []sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64}, birthMetric("temp_c", 1, 21.5)})
	r, err = e.h.Handle(e.msg(ingest.TopicSpNBirth, "", firstBirth))
	require.NoError(t, err)
	require.True(t, r.Stale, "the session's birth, redelivered after its death, does not revive it")
	_, err = e.send(ingest.TopicSpDData, "pump-1", dataMetric(1, 1))
	require.Equal(t, ingest.ReasonNoBirth, ingest.ReasonOf(err), "DDATA after NDEATH")

	// A rebirth with a new bdSeq is a new boot; the old birth, replayed, is stale.
	e.bdSeq = 1
	r = e.must(ingest.TopicSpNBirth, "", birthMetric("temp_c", 1, 22))
	require.Greater(t, r.Boot, boot)
	require.Zero(t, r.Seq)
	old := sim.AppendSpPayload(nil, t0+100, 0, true, []sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64}, birthMetric("temp_c", 1, 21.5)})
	r, err = e.h.Handle(e.msg(ingest.TopicSpNBirth, "", old))
	require.NoError(t, err)
	require.True(t, r.Stale)
}

// counter returns the value of counter name{label} in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{%s} not found", name, label)
	return 0
}

// TestSparkplugSeqWrap: seq wraps at 256 many times; the extended seq keeps
// counting, and an old message, replayed after two wraps, is keyed with its
// original extended seq.
func TestSparkplugSeqWrap(t *testing.T) {
	e, reg := newEdge(t, ingest.Limits{})
	e.must(ingest.TopicSpNBirth, "")
	e.must(ingest.TopicSpDBirth, "d", birthMetric("v", 1, 0))
	var oldPayload []byte
	var oldSeq uint64
	for i := range 1000 {
		p := sim.AppendSpPayload(nil, e.ts+100, e.seq%256, true, []sim.SpMetric{dataMetric(1, float64(i))})
		e.ts += 100
		e.seq++
		r, err := e.h.Handle(e.msg(ingest.TopicSpDData, "d", p))
		require.NoError(t, err)
		require.Equal(t, e.seq-1, r.Seq, "message %d", i)
		if i == 500 {
			oldPayload, oldSeq = p, r.Seq
		}
	}
	require.InDelta(t, 0, counter(t, reg, "rollcall_sparkplug_messages_total", "DDATA")-1000, 0)
	r, err := e.h.Handle(e.msg(ingest.TopicSpDData, "d", oldPayload))
	require.NoError(t, err)
	require.Equal(t, oldSeq, r.Seq, "a replay two wraps later keeps its seq")

	require.InDelta(t, 1, counter(t, reg, "rollcall_sparkplug_seq_gaps_total", ""), 0, "the replay is out of sequence")
	// A lost message is a gap; the next one still extends by two.
	e.seq++
	r = e.must(ingest.TopicSpDData, "d", dataMetric(1, 1))
	require.Equal(t, e.seq-1, r.Seq)
	require.InDelta(t, 2, counter(t, reg, "rollcall_sparkplug_seq_gaps_total", ""), 0)
}

func TestSparkplugValues(t *testing.T) {
	e, _ := newEdge(t, ingest.Limits{})
	e.must(ingest.TopicSpNBirth, "")
	// Int8 -1 written as 0xFF and as a sign-extended 64-bit varint; Float.
	raw := sim.AppendSpPayload(nil, e.ts+100, 1, true, nil)
	raw = appendMetric(raw, "a", 1, 0xFF)
	raw = appendMetric(raw, "b", 1, math.MaxUint64)
	raw = appendMetric(raw, "c", 5, 200)
	r, err := e.h.Handle(e.msg(ingest.TopicSpDBirth, "d", raw))
	require.NoError(t, err)
	require.Equal(t, []ingest.Metric{{Name: "a", Value: -1}, {Name: "b", Value: -1}, {Name: "c", Value: 200}}, r.Readings[0].Metrics)
}

// appendMetric appends a metric with an int_value/long_value of datatype dt.
func appendMetric(b []byte, name string, dt uint32, v uint64) []byte {
	var m []byte
	m = append(m, 0x0a, byte(len(name)))
	m = append(m, name...)
	m = append(m, 0x20, byte(dt), 0x58) // datatype, long_value (11 << 3)
	for v >= 0x80 {
		m = append(m, byte(v)|0x80)
		v >>= 7
	}
	m = append(m, byte(v))
	b = append(b, 0x12, byte(len(m)))
	return append(b, m...)
}

// TestSparkplugHistorical: per-metric timestamps split a message into
// readings; is_historical marks backfill.
func TestSparkplugHistorical(t *testing.T) {
	e, _ := newEdge(t, ingest.Limits{})
	e.must(ingest.TopicSpNBirth, "")
	e.must(ingest.TopicSpDBirth, "d", birthMetric("v", 1, 0), birthMetric("w", 2, 0))
	m1, m2 := dataMetric(1, 1), dataMetric(1, 2)
	m1.Timestamp, m1.Historical = t0-60_000, true
	m2.Timestamp = e.ts + 100
	w := dataMetric(2, 3)
	w.Timestamp = e.ts + 100
	r := e.must(ingest.TopicSpDData, "d", m1, m2, w)
	require.Len(t, r.Readings, 2)
	require.Equal(t, int64(t0-60_000)*1e6, r.Readings[0].TS)
	require.Equal(t, []bool{true, false}, r.Historical)
	require.Equal(t, []ingest.Metric{{Name: "v", Value: 2}, {Name: "w", Value: 3}}, r.Readings[1].Metrics)
}

// TestSparkplugBirthSkips: a birth's metrics with a bad name or a
// non-finite value are skipped, the rest of the birth stands.
func TestSparkplugBirthSkips(t *testing.T) {
	e, reg := newEdge(t, ingest.Limits{MaxMetricNameLen: 8})
	r := e.must(ingest.TopicSpNBirth, "", birthMetric("ok", 1, 1), birthMetric("much_too_long", 2, 1),
		birthMetric("bad\x01", 3, 1), sim.SpMetric{Alias: 4, HasAlias: true, Datatype: sim.SpDouble, Value: 1},
		birthMetric("inf", 5, math.Inf(1)))
	require.Equal(t, []ingest.Metric{{Name: "ok", Value: 1}}, r.Readings[0].Metrics)
	require.InDelta(t, 3, counter(t, reg, "rollcall_sparkplug_metrics_skipped_total", sparkplug.SkipBadName), 0)
	require.InDelta(t, 1, counter(t, reg, "rollcall_sparkplug_metrics_skipped_total", sparkplug.SkipBadValue), 0)
	r = e.must(ingest.TopicSpNData, "", dataMetric(5, 2))
	require.Equal(t, []ingest.Metric{{Name: "inf", Value: 2}}, r.Readings[0].Metrics, "defined by the birth")
}

func TestSparkplugLimits(t *testing.T) {
	e, reg := newEdge(t, ingest.Limits{SparkplugMaxAliases: 4, MaxMetrics: 5, SparkplugMaxNodes: 1})
	e.must(ingest.TopicSpNBirth, "", birthMetric("a", 1, 1), birthMetric("b", 2, 1), birthMetric("c", 3, 1), birthMetric("d", 4, 1))
	require.InDelta(t, 1, counter(t, reg, "rollcall_sparkplug_metrics_skipped_total", sparkplug.SkipTooManyAliases), 0)
	_, err := e.send(ingest.TopicSpDBirth, "x", birthMetric("a", 1, 1))
	require.Equal(t, ingest.ReasonUnknownDevice, ingest.ReasonOf(err), "no alias left for a device")
	_, err = e.send(ingest.TopicSpNData, "", dataMetric(1, 1), dataMetric(1, 1), dataMetric(1, 1), dataMetric(1, 1), dataMetric(1, 1), dataMetric(1, 1))
	require.Equal(t, ingest.ReasonTooManyMetrics, ingest.ReasonOf(err))
	p := sim.AppendSpPayload(nil, t0, 0, true, nil)
	_, err = e.h.Handle(&ingest.Message{Kind: ingest.TopicSpNBirth, Site: "plant", Device: "plant/edge2", Payload: p, Received: int64(t0) * 1e6})
	require.Equal(t, ingest.ReasonUnknownDevice, ingest.ReasonOf(err), "sparkplug_max_nodes")
}

func TestSparkplugDecodeBad(t *testing.T) {
	valid := sim.AppendSpPayload(nil, t0, 1, true, []sim.SpMetric{dataMetric(1, 1)})
	nan := sim.AppendSpPayload(nil, t0, 1, true, []sim.SpMetric{dataMetric(1, math.NaN())})
	cases := []struct {
		name, reason string
		payload      []byte
	}{
		{"empty", ingest.ReasonBadProtobuf, nil},
		{"truncated", ingest.ReasonBadProtobuf, valid[:len(valid)-3]},
		{"bad tag", ingest.ReasonBadProtobuf, []byte{0x00}},
		{"timestamp as bytes", ingest.ReasonBadProtobuf, []byte{0x0a, 0x01, 0x00}},
		{"metric name as varint", ingest.ReasonBadProtobuf, []byte{0x12, 0x02, 0x08, 0x01}},
		{"double as varint", ingest.ReasonBadProtobuf, []byte{0x12, 0x02, 0x68, 0x01}},
		{"json", ingest.ReasonBadProtobuf, []byte(`{"seq":1}`)},
		{"too large", ingest.ReasonTooLarge, make([]byte, 300<<10)},
		{"future", ingest.ReasonFutureTS, sim.AppendSpPayload(nil, t0+3_600_000, 1, true, nil)},
		{"nan", ingest.ReasonBadValue, nan},
		{"timestamp out of range", ingest.ReasonBadTS, sim.AppendSpPayload(nil, math.MaxUint64/2, 1, true, nil)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEdge(t, ingest.Limits{})
			e.must(ingest.TopicSpNBirth, "", birthMetric("v", 1, 0))
			e.ts = t0
			_, err := e.h.Handle(e.msg(ingest.TopicSpNData, "", c.payload))
			require.Equal(t, c.reason, ingest.ReasonOf(err), "%v", err)
		})
	}
}

// FuzzSparkplugDecode feeds arbitrary payloads to a born node's host, as
// every message type: nothing panics, every error is a reject with a
// reason, and every reading is finite with a non-empty name.
func FuzzSparkplugDecode(f *testing.F) {
	f.Add(sim.AppendSpPayload(nil, t0, 1, true, []sim.SpMetric{dataMetric(1, 1)}), uint8(2))
	f.Add(sim.AppendSpPayload(nil, t0, 0, true, []sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64}, birthMetric("x", 2, 3)}), uint8(0))
	f.Add(sim.AppendSpPayload(nil, t0, 1, true, []sim.SpMetric{birthMetric("y", 1, 3), {Name: "s", Datatype: sim.SpString, String: "z"}}), uint8(3))
	f.Add([]byte{0x12, 0x02, 0x68, 0x01}, uint8(5))
	f.Fuzz(func(t *testing.T, payload []byte, k uint8) {
		if len(payload) > 1<<16 {
			return
		}
		e, _ := newEdge(t, ingest.Limits{})
		e.must(ingest.TopicSpNBirth, "", birthMetric("v", 1, 0))
		e.must(ingest.TopicSpDBirth, "d", birthMetric("v", 1, 0))
		kind := ingest.TopicSpNBirth + ingest.TopicKind(k%6)
		dev := ""
		if kind >= ingest.TopicSpDBirth {
			dev = "d"
		}
		e.ts = t0 + 1000
		r, err := e.h.Handle(e.msg(kind, dev, payload))
		if err != nil {
			require.NotEmpty(t, ingest.ReasonOf(err), "%v", err)
			return
		}
		for _, rd := range r.Readings {
			require.NotEmpty(t, rd.Metrics)
			for _, m := range rd.Metrics {
				require.NotEmpty(t, m.Name)
				require.False(t, math.IsNaN(m.Value) || math.IsInf(m.Value, 0))
			}
		}
	})
}

// BenchmarkSparkplugDecode is Host.Handle on a DDATA message with aliases,
// beside ingest's BenchmarkDecode (the JSON decoder): protobuf decoding,
// alias resolution and the node's sequence, into readings.
func BenchmarkSparkplugDecode(b *testing.B) {
	for _, n := range []int{2, 16} {
		b.Run(fmt.Sprintf("metrics=%d", n), func(b *testing.B) {
			e, _ := newEdge(&testing.T{}, ingest.Limits{})
			var birth, data []sim.SpMetric
			for i := range n {
				birth = append(birth, birthMetric(fmt.Sprintf("metric_%d", i), uint64(i+1), 0))
				data = append(data, dataMetric(uint64(i+1), float64(i)*1.5))
			}
			e.must(ingest.TopicSpNBirth, "")
			e.must(ingest.TopicSpDBirth, "d", birth...)
			payload := sim.AppendSpPayload(nil, e.ts, 2, true, data)
			m := e.msg(ingest.TopicSpDData, "d", payload)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			k := 0
			for b.Loop() {
				if _, err := e.h.Handle(m); err != nil {
					b.Fatal(err)
				}
				k++
			}
			b.ReportMetric(float64(k)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}
