package ingest

import (
	"fmt"
	"math"
	"time"
)

// Decoder limits that are not configurable.
const (
	// DefaultMaxInternedNames is how many distinct metric names (and unknown
	// top-level keys) a Decoder interns. Past it, new names are allocated per
	// message; names interned earlier stay interned.
	DefaultMaxInternedNames = 4096
	// MaxStatusPayloadBytes is the largest status payload DecodeStatus
	// accepts.
	MaxStatusPayloadBytes = 1024
)

// Decoder decodes and validates telemetry payloads (see DESIGN.md, "Wire
// format"). It is not safe for concurrent use: use one per worker. It
// interns metric names in a bounded cache (DefaultMaxInternedNames; when
// full, new names are allocated normally), so in the steady state decoding a
// payload allocates only the Metrics slice of its Reading.
type Decoder struct {
	limits  Limits
	s       scanner
	scratch []byte   // unescaped strings of the current payload
	metrics []Metric // metrics of the current payload, copied out on success
	gen     uint64   // counts Decode calls; see internEntry
	seen    dupSet   // metric names of the current payload that are not interned
	keys    dupSet   // unknown top-level keys of the current payload that are not interned
	names   map[string]*internEntry
	prev    []*internEntry // the previous payload's metric names, by position (nil: not interned)
}

// NewDecoder returns a Decoder that enforces l (zero fields mean the
// defaults; see Limits.Validate).
func NewDecoder(l Limits) *Decoder {
	return &Decoder{limits: l.WithDefaults(), names: make(map[string]*internEntry)}
}

// Top-level keys, as bits of a set.
const (
	keySeq = 1 << iota
	keyBoot
	keyTS
	keyDevice
	keyMetrics
)

// Decode validates a telemetry payload received on the topic of site and
// device (the device's fleet-wide identity, site/name: see ID) and, when it
// is valid, fills r: Site and Device from the
// arguments, Received = received (Unix ns), the rest from the payload, with
// Redelivered false (the caller sets it). r.Metrics reuses the capacity of
// r's previous Metrics (a caller that decodes into the same Reading again
// allocates nothing for them), so nothing may keep it across calls. On
// error, r is left unchanged and the error is a *RejectError naming
// the first problem in payload order (too_large is checked before parsing).
func (d *Decoder) Decode(site, device string, payload []byte, received int64, r *Reading) error {
	if err := d.limits.checkSize(payload); err != nil {
		return err
	}
	d.s = scanner{data: payload}
	defer func() { d.s.data = nil }() // do not keep the payload alive
	d.metrics = d.metrics[:0]
	d.gen++
	d.seen.reset()
	d.keys.reset()
	out := Reading{Site: site, Device: device, Received: received}
	s := &d.s
	if err := s.objectStart(); err != nil {
		return err
	}
	s.skipWS()
	var have int
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if s.peek() != '"' {
				return s.unexpected("a string object key")
			}
			keyAt := s.pos
			key, kind, err := s.readString()
			if err != nil {
				return err
			}
			if kind == strEscaped {
				d.scratch = unescape(d.scratch[:0], key)
				key = d.scratch
			}
			var k int
			switch string(key) {
			case "seq":
				k = keySeq
			case "boot":
				k = keyBoot
			case "ts":
				k = keyTS
			case "device":
				k = keyDevice
			case "metrics":
				k = keyMetrics
			default:
				if _, dup := d.internKey(key); dup {
					return s.errAt(keyAt, "duplicate key %s", quoteTrunc(key, 64))
				}
			}
			if have&k != 0 {
				return s.errAt(keyAt, "duplicate key %q", key)
			}
			have |= k
			if err := s.colon(); err != nil {
				return err
			}
			switch k {
			case keySeq:
				out.Seq, err = d.readUint("seq")
				out.HasSeq = true
			case keyBoot:
				out.Boot, err = d.readUint("boot")
			case keyTS:
				out.TS, d.scratch, err = readTS(s, d.scratch)
				if err == nil {
					err = d.checkFuture(out.TS, received)
				}
			case keyDevice:
				err = d.readDevice(site, device)
			case keyMetrics:
				err = d.readMetrics()
			default:
				err = s.skipValue(2)
			}
			if err != nil {
				return err
			}
			done, err := s.next('}')
			if err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	s.skipWS()
	if s.pos != len(payload) {
		return s.errAt(s.pos, "trailing data after the JSON object")
	}
	if have&keyMetrics == 0 {
		return reject(ReasonBadJSON, `"metrics" is missing`)
	}
	if have&keyTS == 0 {
		out.TS, out.TSMissing = received, true
	}
	out.Metrics = append(r.Metrics[:0], d.metrics...)
	*r = out
	return nil
}

// readUint reads the value of the integer field name (seq or boot).
func (d *Decoder) readUint(name string) (uint64, error) {
	s := &d.s
	at := s.pos
	if c := s.peek(); c != '-' && !isDigit(c) {
		if kind := s.kind(); kind != "" {
			return 0, s.errAt(at, "%s must be a non-negative integer, got %s", name, kind)
		}
		return 0, s.unexpected("a JSON value")
	}
	num, err := s.readNumber()
	if err != nil {
		return 0, err
	}
	v, problem := parseUint(num)
	if problem != "" {
		return 0, s.errAt(at, "%s %s %s", name, numTrunc(num), problem)
	}
	return v, nil
}

// checkFuture rejects ts when it is more than MaxFutureSkew ahead of
// received.
func (d *Decoder) checkFuture(ts, received int64) error {
	limit := received + int64(d.limits.MaxFutureSkew)
	if limit < received { // overflow
		limit = math.MaxInt64
	}
	if ts > limit {
		return reject(ReasonFutureTS, fmt.Sprintf("ts %s is %s ahead of the receive time %s (max_future_skew %s)",
			time.Unix(0, ts).UTC().Format(time.RFC3339Nano), time.Duration(ts-received),
			time.Unix(0, received).UTC().Format(time.RFC3339Nano), d.limits.MaxFutureSkew))
	}
	return nil
}

// isNameOf reports whether name is the name part of identity site/name.
func isNameOf(name []byte, site, identity string) bool {
	return len(identity) == len(site)+1+len(name) && identity[:len(site)] == site &&
		identity[len(site)] == '/' && identity[len(site)+1:] == string(name)
}

// readDevice reads the device value and rejects it as spoofed unless it
// names the device of the topic: its identity (site/name) or its name.
func (d *Decoder) readDevice(site, device string) error {
	s := &d.s
	if s.peek() != '"' {
		if kind := s.kind(); kind != "" {
			return s.errAt(s.pos, "device must be a string, got %s", kind)
		}
		return s.unexpected("a JSON value")
	}
	raw, kind, err := s.readString()
	if err != nil {
		return err
	}
	if kind == strEscaped {
		d.scratch = unescape(d.scratch[:0], raw)
		raw = d.scratch
	}
	if string(raw) != device && !isNameOf(raw, site, device) {
		return reject(ReasonSpoofed, fmt.Sprintf("payload device %s does not match topic device %q",
			quoteTrunc(raw, 128), device))
	}
	return nil
}

// readMetrics reads the metrics object into d.metrics.
func (d *Decoder) readMetrics() error {
	s := &d.s
	if s.peek() != '{' {
		if kind := s.kind(); kind != "" {
			return s.errAt(s.pos, `"metrics" must be an object, got %s`, kind)
		}
		return s.unexpected("a JSON value")
	}
	s.pos++
	s.skipWS()
	if s.peek() == '}' {
		return s.errAt(s.pos, `"metrics" is empty`)
	}
	for {
		if s.peek() != '"' {
			return s.unexpected("a string metric name")
		}
		at := s.pos
		raw, kind, err := s.readString()
		if err != nil {
			return err
		}
		if kind == strEscaped {
			d.scratch = unescape(d.scratch[:0], raw)
			raw = d.scratch
		}
		if err := d.checkName(at, raw, kind); err != nil {
			return err
		}
		if len(d.metrics) >= d.limits.MaxMetrics {
			return reject(ReasonTooManyMetrics, fmt.Sprintf("more than %d metrics (max_metrics)", d.limits.MaxMetrics))
		}
		name, dup := d.internMetric(raw)
		if dup {
			return s.errAt(at, "duplicate metric %q", name)
		}
		if err := s.colon(); err != nil {
			return err
		}
		v, err := d.readValue(name)
		if err != nil {
			return err
		}
		d.metrics = append(d.metrics, Metric{Name: name, Value: v})
		done, err := s.next('}')
		if err != nil || done {
			return err
		}
	}
}

// checkName checks a metric name (unescaped, of the given kind) found at
// offset at.
func (d *Decoder) checkName(at int, name []byte, kind strKind) error {
	switch {
	case len(name) == 0:
		return d.s.errAt(at, "empty metric name")
	case len(name) > d.limits.MaxMetricNameLen:
		return d.s.errAt(at, "metric name %s is longer than %d bytes (max_metric_name_len)",
			quoteTrunc(name, 64), d.limits.MaxMetricNameLen)
	}
	if kind == strPrintable {
		return nil
	}
	for i, c := range name {
		// C0 controls, DEL, and C1 controls (U+0080..U+009F, 0xC2 0x80..0x9F in UTF-8).
		if c < 0x20 || c == 0x7f || c == 0xC2 && i+1 < len(name) && name[i+1] < 0xA0 {
			return d.s.errAt(at, "metric name %s contains a control character", quoteTrunc(name, 64))
		}
	}
	return nil
}

// readValue reads the value of metric name: a finite JSON number.
func (d *Decoder) readValue(name string) (float64, error) {
	s := &d.s
	if lit := s.nonFinite(); lit != "" {
		// Not JSON, but what Python's json.dumps and others write for
		// non-finite floats: say so precisely rather than "bad JSON".
		return 0, reject(ReasonBadValue, fmt.Sprintf("metric %q: value %s is not finite (nor valid JSON)", name, lit))
	}
	if c := s.peek(); c != '-' && !isDigit(c) {
		if kind := s.kind(); kind != "" {
			return 0, reject(ReasonBadValue, fmt.Sprintf("metric %q: value is %s", name, kind))
		}
		return 0, s.unexpected("a JSON value")
	}
	v, num, finite, err := s.readFloat()
	if err != nil {
		return 0, err
	}
	if !finite {
		return 0, reject(ReasonBadValue, fmt.Sprintf("metric %q: value %s is not a finite float64",
			name, numTrunc(num)))
	}
	return v, nil
}

// internEntry is an interned name. metricGen and keyGen are the last
// Decode call (Decoder.gen) that saw the name as a metric name and as an
// unknown top-level key: one lookup both interns a name and detects its
// duplicates within a payload.
type internEntry struct {
	name              string
	metricGen, keyGen uint64
}

// lookup returns the interned entry for name, interning it when there is
// room, or nil when the cache is full.
func (d *Decoder) lookup(name []byte) *internEntry {
	if e, ok := d.names[string(name)]; ok {
		return e
	}
	if len(d.names) >= DefaultMaxInternedNames {
		return nil
	}
	e := &internEntry{name: string(name)}
	d.names[e.name] = e
	return e
}

// internMetric returns the metric name raw as a string, interned when
// possible, and whether the current payload already had it. Devices tend to
// send the same metrics in the same order every time, so it first tries the
// name the previous payload had at the same position, which saves hashing.
func (d *Decoder) internMetric(raw []byte) (name string, dup bool) {
	k := len(d.metrics)
	var e *internEntry
	if k < len(d.prev) && d.prev[k] != nil && d.prev[k].name == string(raw) {
		e = d.prev[k]
	} else {
		e = d.lookup(raw)
		if k < len(d.prev) {
			d.prev[k] = e
		} else {
			d.prev = append(d.prev, e)
		}
	}
	if e == nil {
		name = string(raw)
		return name, d.seen.add(name)
	}
	dup, e.metricGen = e.metricGen == d.gen, d.gen
	return e.name, dup
}

// internKey is internMetric for unknown top-level keys.
func (d *Decoder) internKey(raw []byte) (name string, dup bool) {
	e := d.lookup(raw)
	if e == nil {
		name = string(raw)
		return name, d.keys.add(name)
	}
	dup, e.keyGen = e.keyGen == d.gen, d.gen
	return e.name, dup
}

// dupSetLinear is how many names a dupSet compares linearly before it
// switches to a map.
const dupSetLinear = 16

// dupSet detects duplicate names within one payload. It compares linearly
// while small, then uses a map, so a payload with many keys costs O(n), not
// O(n²). It keeps its memory across reset.
type dupSet struct {
	list []string
	m    map[string]struct{}
}

func (s *dupSet) reset() {
	s.list = s.list[:0]
	if len(s.m) > 0 {
		clear(s.m)
	}
}

// add adds name and reports whether it was already in the set.
func (s *dupSet) add(name string) (dup bool) {
	if len(s.list) < dupSetLinear {
		for _, n := range s.list {
			if n == name {
				return true
			}
		}
		s.list = append(s.list, name)
		return false
	}
	if len(s.m) == 0 {
		if s.m == nil {
			s.m = make(map[string]struct{}, 2*dupSetLinear)
		}
		for _, n := range s.list {
			s.m[n] = struct{}{}
		}
	}
	if _, ok := s.m[name]; ok {
		return true
	}
	s.m[name] = struct{}{}
	return false
}

// objectStart skips the whitespace and the '{' that open a telemetry
// payload: anything else is bad_json.
func (s *scanner) objectStart() error {
	s.skipWS()
	if s.peek() != '{' {
		if len(s.data) == 0 {
			return reject(ReasonBadJSON, "payload is empty")
		}
		return s.unexpected("'{': the payload must be a JSON object")
	}
	s.pos++
	return nil
}
