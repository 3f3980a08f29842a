package sparkplug

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rollcall-iot/rollcall/ingest"
)

// wrapRing is how many seq wraps (of 256 messages) a node remembers the
// start time of, to place an old message in the right wrap; older ones
// fall behind dedup's window (1024 = 4 wraps) anyway.
const wrapRing = 8

// Status changes a message makes.
const (
	StatusNone int8 = iota
	StatusOnline
	StatusOffline
)

// Result is what one Sparkplug message means for the pipeline.
type Result struct {
	// Status is the liveness change of the message's identity (the
	// node's for N* messages, the device's for D* messages).
	Status int8
	// Offline lists, for an NDEATH, the identities of the node's devices
	// that were born: they go offline with their node.
	Offline []string
	// Stale: a birth or death of an older session (see the Ignore*
	// reasons); nothing else in the result is set.
	Stale bool
	// Boot and Seq key the message for dedup: Boot is the node session's
	// epoch (see node.boot), Seq the 0-255 seq extended by the node's wrap
	// count. HasSeq is false for NDEATH, which has no seq.
	Boot, Seq uint64
	HasSeq    bool
	// TS is the message's event time, Unix ns: its payload timestamp, or
	// the receive time without one.
	TS int64
	// Readings are the message's numeric metrics, one reading per distinct
	// metric timestamp, in order of first appearance; each has the
	// message's Boot and Seq with HasSeq false (dedup judges the message
	// once, by Boot and Seq, before the readings count).
	Readings []ingest.Reading
	// Historical flags, per reading, readings whose metrics are all
	// is_historical: late data, not a sign of life.
	Historical []bool
}

// def is one metric a birth defined.
type def struct {
	name string
	dt   uint32
}

// metricSet holds the metrics one birth defined, by alias and by name.
type metricSet struct {
	defs    []def
	byAlias map[uint64]int32
	byName  map[string]int32
}

func (s *metricSet) reset() {
	s.defs = s.defs[:0]
	clear(s.byAlias)
	clear(s.byName)
}

// device is a device's session within its node's.
type device struct {
	born    bool
	metrics metricSet
}

// node is one edge node's session state: what the specification asks a
// host application to track (bdSeq, seq, aliases, births).
type node struct {
	born    bool
	bdSeq   uint64
	birthTS int64 // Unix ms of the NBIRTH payload
	// boot is the session's epoch for dedup: it grows at every new NBIRTH
	// (max(previous + 1, the NBIRTH's timestamp in ms)), so that a rebirth
	// with a new bdSeq is a new boot and a message of an earlier session
	// is from an older boot. prevBoot is the previous session's.
	boot, prevBoot uint64
	lastSeq        uint8
	ext            uint64 // extended seq of the newest message in order
	newestTS       int64  // Unix ms of the newest payload timestamp in order
	wrapTS         [wrapRing]int64
	metrics        metricSet
	devices        map[string]*device
	defined        int // aliases defined by the node and its devices (limits.sparkplug_max_aliases)
}

// Host is one worker's Sparkplug host application state: the sessions of
// the edge nodes routed to it (every message of a node and its devices
// goes to one worker, see ingest.SparkplugNode). It is not safe for
// concurrent use. rollcall is a passive host: it never publishes.
type Host struct {
	limits ingest.Limits
	m      *Metrics
	nodes  map[string]*node
	p      Payload
	res    Result
}

// NewHost returns a Host enforcing limits (zero fields: defaults) and
// counting into m (shared by every worker).
func NewHost(limits ingest.Limits, m *Metrics) *Host {
	return &Host{limits: limits.WithDefaults(), m: m, nodes: map[string]*node{}}
}

// Nodes returns how many node sessions the host tracks.
func (h *Host) Nodes() int { return len(h.nodes) }

var errNodes = &ingest.RejectError{Reason: ingest.ReasonUnknownDevice, Detail: "limits.sparkplug_max_nodes edge nodes are tracked"}

// Handle decodes the Sparkplug message m (m.Kind is a Sparkplug kind) and
// applies it to its node's session. The result is owned by h and valid
// until the next call. Errors are *ingest.RejectError: bad_protobuf,
// too_many_metrics, future_ts, bad_value (a DATA metric not finite),
// no_birth (DATA or a device message without the node's or device's
// birth), unknown_device (limits.sparkplug_max_nodes).
func (h *Host) Handle(m *ingest.Message) (*Result, error) {
	h.m.message(m.Kind)
	r := &h.res
	*r = Result{Readings: r.Readings[:0], Historical: r.Historical[:0], Offline: r.Offline[:0]}
	if err := h.limits.CheckSparkplugSize(m.Payload); err != nil {
		return nil, err
	}
	p := &h.p
	if err := DecodePayload(m.Payload, h.limits.MaxMetrics, p); err != nil {
		return nil, err
	}
	r.TS = m.Received
	if p.Timestamp != 0 {
		if p.Timestamp > uint64(math.MaxInt64/int64(time.Millisecond)) {
			return nil, &ingest.RejectError{Reason: ingest.ReasonBadTS, Detail: fmt.Sprintf("timestamp %d ms is out of range", p.Timestamp)}
		}
		r.TS = int64(p.Timestamp) * int64(time.Millisecond)
	}
	if err := h.checkFuture(r.TS, m.Received); err != nil {
		return nil, err
	}
	nodeID := ingest.SparkplugNode(m.Device)
	n := h.nodes[nodeID]
	switch m.Kind {
	case ingest.TopicSpNBirth:
		if n == nil {
			if h.m.nodes.Load() >= int64(h.limits.SparkplugMaxNodes) {
				return nil, errNodes
			}
			n = &node{devices: map[string]*device{}}
			h.nodes[nodeID] = n
			h.m.nodes.Add(1)
		}
		return r, h.nodeBirth(n, m, int64(p.Timestamp))
	case ingest.TopicSpNDeath:
		h.nodeDeath(n, nodeID, m)
		return r, nil
	}
	if n == nil || !n.born {
		return nil, noBirth("edge node %s", nodeID)
	}
	r.Boot, r.Seq, r.HasSeq = h.sequence(n, int64(p.Timestamp))
	switch m.Kind {
	case ingest.TopicSpNData:
		return r, h.readings(m, &n.metrics, false)
	}
	_, name := ingest.SplitID(m.Device)
	dev := n.devices[name]
	switch m.Kind {
	case ingest.TopicSpDBirth:
		if dev == nil {
			if n.defined >= h.limits.SparkplugMaxAliases {
				return nil, &ingest.RejectError{
					Reason: ingest.ReasonUnknownDevice,
					Detail: "the edge node defines limits.sparkplug_max_aliases metrics and devices",
				}
			}
			dev = &device{}
			n.devices[name] = dev
			n.defined++
		}
		n.defined -= len(dev.metrics.defs)
		dev.metrics.reset()
		dev.born = true
		r.Status = StatusOnline
		return r, h.birth(n, m, &dev.metrics)
	}
	if dev == nil || !dev.born {
		return nil, noBirth("device %s", m.Device)
	}
	if m.Kind == ingest.TopicSpDDeath {
		dev.born = false
		r.Status = StatusOffline
		return r, nil
	}
	return r, h.readings(m, &dev.metrics, false)
}

func noBirth(format string, args ...any) error {
	return &ingest.RejectError{
		Reason: ingest.ReasonNoBirth,
		Detail: fmt.Sprintf(format, args...) + " has no birth certificate in this session (rollcall does not request rebirths)",
	}
}

func (h *Host) checkFuture(ts, received int64) error {
	limit := received + int64(h.limits.MaxFutureSkew)
	if limit < received {
		limit = math.MaxInt64
	}
	if ts > limit {
		return &ingest.RejectError{Reason: ingest.ReasonFutureTS, Detail: fmt.Sprintf("timestamp %s is %s ahead of the receive time (max_future_skew %s)",
			time.Unix(0, ts).UTC().Format(time.RFC3339Nano), time.Duration(ts-received), h.limits.MaxFutureSkew)}
	}
	return nil
}

// bdSeqOf returns the value of the payload's bdSeq metric.
func bdSeqOf(p *Payload) (uint64, bool) {
	for i := range p.Metrics {
		if mt := &p.Metrics[i]; string(mt.Name) == "bdSeq" && (mt.kind == valueLong || mt.kind == valueInt) {
			return mt.bits, true
		}
	}
	return 0, false
}

// nodeBirth starts a new session of n at an NBIRTH (ts: its timestamp, ms),
// or recognises a redelivered or stale one.
func (h *Host) nodeBirth(n *node, m *ingest.Message, ts int64) error {
	r := &h.res
	bd, _ := bdSeqOf(&h.p)
	switch {
	case n.born && bd == n.bdSeq && ts == n.birthTS:
		// The same birth again (a QoS 1 redelivery): same session; its
		// readings again, for dedup to judge.
		r.Status = StatusOnline
		r.Boot, r.Seq, r.HasSeq = n.boot, 0, true
		return h.readings(m, &n.metrics, false)
	case n.boot != 0 && ts <= n.birthTS:
		// Older than the session's birth, or that birth again after the
		// node's death: not a new session.
		h.m.ignore[IgnoreStaleBirth].Inc()
		r.Stale = true
		return nil
	}
	n.prevBoot = n.boot
	n.boot = max(n.boot+1, uint64(max(ts, 0)))
	n.born, n.bdSeq, n.birthTS = true, bd, ts
	n.lastSeq, n.ext, n.newestTS = uint8(h.p.Seq), 0, ts
	n.wrapTS = [wrapRing]int64{ts}
	for _, d := range n.devices {
		d.born = false
	}
	n.defined -= len(n.metrics.defs)
	n.metrics.reset()
	r.Status = StatusOnline
	r.Boot, r.Seq, r.HasSeq = n.boot, 0, true
	return h.birth(n, m, &n.metrics)
}

// nodeDeath ends n's session at an NDEATH whose bdSeq matches the
// session's; any other is ignored (the specification's rule for a Will of
// an older connection).
func (h *Host) nodeDeath(n *node, nodeID string, m *ingest.Message) {
	r := &h.res
	bd, ok := bdSeqOf(&h.p)
	if n == nil || !n.born || ok && bd != n.bdSeq {
		h.m.ignore[IgnoreStaleDeath].Inc()
		r.Stale = true
		return
	}
	n.born = false
	r.Status = StatusOffline
	r.Boot = n.boot
	site, _ := ingest.SplitID(nodeID)
	for name, d := range n.devices {
		if d.born {
			d.born = false
			r.Offline = append(r.Offline, ingest.ID(site, name))
		}
	}
	slices.Sort(r.Offline)
	_ = m
}

// sequence maps the payload's 0-255 seq (ts: its timestamp, ms) onto the
// node session's extended sequence, and returns the dedup key. The node's
// stream is contiguous (every message of the node and its devices takes
// the next seq), so in-order messages extend by one; a message that is not
// the next is a gap (counted) when it is not older than the newest
// message, and otherwise an old message (reordered, redelivered or
// replayed), placed in the wrap whose start time precedes its timestamp.
// A message older than the session is keyed with the previous boot, so
// that dedup calls it a replay.
func (h *Host) sequence(n *node, ts int64) (boot, seq uint64, ok bool) {
	if !h.p.HasSeq {
		return 0, 0, false
	}
	s := uint8(h.p.Seq)
	d := s - n.lastSeq
	switch {
	case d == 0:
		return n.boot, n.ext, true
	case d == 1 || d < 128 && ts >= n.newestTS:
		if d != 1 {
			h.m.gaps.Inc()
		}
		old := n.ext
		n.ext += uint64(d)
		n.lastSeq = s
		n.newestTS = max(n.newestTS, ts)
		if n.ext>>8 != old>>8 {
			n.wrapTS[(n.ext>>8)%wrapRing] = ts
		}
		return n.boot, n.ext, true
	}
	h.m.gaps.Inc()
	back := uint64(256 - int(d))
	if back > n.ext || ts < n.birthTS {
		return n.prevBoot, 0, true
	}
	e := n.ext - back
	for e >= 256 && n.ext>>8-e>>8 < wrapRing && ts < n.wrapTS[(e>>8)%wrapRing] {
		e -= 256
	}
	return n.boot, e, true
}

// birth learns the metrics of a birth into set and makes readings of their
// values.
func (h *Host) birth(n *node, m *ingest.Message, set *metricSet) error {
	if set.byAlias == nil {
		set.byAlias, set.byName = map[uint64]int32{}, map[string]int32{}
	}
	for i := range h.p.Metrics {
		mt := &h.p.Metrics[i]
		if reason := h.checkName(mt.Name); reason != "" {
			h.m.skip[reason].Inc()
			continue
		}
		if j, ok := set.byName[string(mt.Name)]; ok {
			set.defs[j].dt = mt.Datatype // redefined: the last wins
			if mt.HasAlias {
				set.byAlias[mt.Alias] = j
			}
			continue
		}
		if n.defined >= h.limits.SparkplugMaxAliases {
			h.m.skip[SkipTooManyAliases].Inc()
			mt.kind = valueNone
			continue
		}
		n.defined++
		j := int32(len(set.defs))
		set.defs = append(set.defs, def{name: string(mt.Name), dt: mt.Datatype})
		set.byName[set.defs[j].name] = j
		if mt.HasAlias {
			set.byAlias[mt.Alias] = j
		}
	}
	return h.readings(m, set, true)
}

// checkName returns the skip reason of a birth metric's name, or "".
func (h *Host) checkName(name []byte) string {
	if len(name) == 0 || len(name) > h.limits.MaxMetricNameLen || !utf8.Valid(name) {
		return SkipBadName
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return SkipBadName
		}
	}
	return ""
}

// control reports whether a metric is protocol rather than a measurement.
func control(name string) bool {
	return name == "bdSeq" || strings.HasPrefix(name, "Node Control/") || strings.HasPrefix(name, "Device Control/")
}

// readings turns the payload's numeric metrics, resolved through set, into
// the result's readings, one per distinct metric timestamp. In a birth a
// non-finite value is skipped; in DATA it rejects the message bad_value.
func (h *Host) readings(m *ingest.Message, set *metricSet, birth bool) error {
	r := &h.res
	for i := range h.p.Metrics {
		mt := &h.p.Metrics[i]
		if mt.kind == valueNone && !mt.Null {
			continue // a definition without a value (or skipped above)
		}
		j, ok := int32(-1), false
		if mt.HasAlias {
			j, ok = set.byAlias[mt.Alias]
		} else if mt.Name != nil {
			j, ok = set.byName[string(mt.Name)]
		}
		if !ok {
			if !birth { // a birth's unnamed metrics were counted bad_name
				h.m.skip[SkipUnknownAlias].Inc()
			}
			continue
		}
		df := &set.defs[j]
		dt := mt.Datatype
		if dt == TypeUnknown {
			dt = df.dt
		}
		var v float64
		switch {
		case control(df.name):
			h.m.skip[SkipControl].Inc()
			continue
		case mt.Null:
			h.m.skip[SkipNull].Inc()
			continue
		case !Numeric(dt):
			h.m.skip[SkipNotNumeric].Inc()
			continue
		}
		v, ok = mt.Value(dt)
		if !ok {
			h.m.skip[SkipNotNumeric].Inc()
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if birth {
				h.m.skip[SkipBadValue].Inc()
				continue
			}
			return &ingest.RejectError{Reason: ingest.ReasonBadValue, Detail: fmt.Sprintf("metric %q: value %v is not finite", df.name, v)}
		}
		ts := r.TS
		if mt.Timestamp != 0 && mt.Timestamp <= math.MaxInt64/uint64(time.Millisecond) {
			ts = int64(mt.Timestamp) * int64(time.Millisecond)
			if err := h.checkFuture(ts, m.Received); err != nil {
				return err
			}
		}
		h.add(m, df.name, v, ts, mt.Historical)
	}
	return nil
}

// add adds metric name = v at ts to the reading of ts, opening it if
// needed. A metric already in that reading (the same name twice at one
// time) keeps its last value.
func (h *Host) add(m *ingest.Message, name string, v float64, ts int64, historical bool) {
	r := &h.res
	k := -1
	for i := range r.Readings {
		if r.Readings[i].TS == ts {
			k = i
			break
		}
	}
	if k < 0 {
		k = len(r.Readings)
		if k < cap(r.Readings) {
			r.Readings = r.Readings[:k+1]
			r.Readings[k] = ingest.Reading{Metrics: r.Readings[k].Metrics[:0]}
		} else {
			r.Readings = append(r.Readings, ingest.Reading{})
		}
		rd := &r.Readings[k]
		rd.Site, rd.Device, rd.TS, rd.Received, rd.Redelivered = m.Site, m.Device, ts, m.Received, m.Redelivered
		rd.Boot, rd.Seq = r.Boot, r.Seq
		r.Historical = append(r.Historical, historical)
	}
	rd := &r.Readings[k]
	r.Historical[k] = r.Historical[k] && historical
	for i := range rd.Metrics {
		if rd.Metrics[i].Name == name {
			rd.Metrics[i].Value = v
			return
		}
	}
	rd.Metrics = append(rd.Metrics, ingest.Metric{Name: name, Value: v})
}
