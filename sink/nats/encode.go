package nats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// Version is the partial encoding version Encode writes and Decode reads.
// Adding fields keeps the version; changing or removing one increments it.
const Version = 2

// Message is one published partial, encoding version 2: JSON with the
// window's identity, the emission it belongs to and the full mergeable
// summary. docs/federation.md describes every field. Times are RFC 3339
// with nanoseconds, UTC; floats are JSON numbers, or the strings "+Inf",
// "-Inf" and "NaN" (see Float).
type Message struct {
	// Version is the encoding version, Version.
	Version int `json:"v"`
	// Gateway is the publishing gateway's Config.GatewayID.
	Gateway string `json:"gateway"`
	// Group, Metric and Window identify the partial.
	Group  string           `json:"group"`
	Metric string           `json:"metric"`
	Window aggregate.Window `json:"window"`
	// Revision and Final are those of the aggregate this partial was
	// emitted with. A later revision of the same gateway and window
	// replaces an earlier one; it is not merged with it.
	Revision int  `json:"revision"`
	Final    bool `json:"final"`
	// EmittedAt and Watermark are the gateway's emission time and the
	// group's watermark then.
	EmittedAt time.Time `json:"emitted_at"`
	Watermark time.Time `json:"watermark"`
	// Summary is the mergeable numeric part.
	Summary Summary `json:"summary"`
	// Missing lists missing devices sorted by id (at most the gateway's
	// aggregate.max_missing_listed; Summary.MissingUnlisted counts the
	// rest).
	Missing []Missing `json:"missing"`
	// Flags are sorted, unique flags such as "replaying:wt-12".
	Flags []string `json:"flags"`
}

// Summary is aggregate.Summary in encoding version 2.
type Summary struct {
	Expected int `json:"expected"`
	Reported int `json:"reported"`
	Imputed  int `json:"imputed"`
	Partial  int `json:"partial"`

	Sum    Float `json:"sum"`
	Min    Float `json:"min"`
	Max    Float `json:"max"`
	ImpSum Float `json:"imp_sum"`
	ImpMin Float `json:"imp_min"`
	ImpMax Float `json:"imp_max"`
	LoSum  Float `json:"lo_sum"`
	HiSum  Float `json:"hi_sum"`
	LoMin  Float `json:"lo_min"`
	HiMin  Float `json:"hi_min"`
	LoMax  Float `json:"lo_max"`
	HiMax  Float `json:"hi_max"`

	RepLoSum Float `json:"rep_lo_sum"`
	RepHiSum Float `json:"rep_hi_sum"`
	RepLoMin Float `json:"rep_lo_min"`
	RepHiMin Float `json:"rep_hi_min"`
	RepLoMax Float `json:"rep_lo_max"`
	RepHiMax Float `json:"rep_hi_max"`

	MissingUnlisted int `json:"missing_unlisted"`

	Samples    uint64 `json:"samples"`
	Duplicates uint64 `json:"duplicates"`
	Replays    uint64 `json:"replays"`
	Late       uint64 `json:"late"`

	// OldestNewest is the earliest among the reporting devices' newest
	// sample times; null when no device reported.
	OldestNewest *time.Time `json:"oldest_newest"`
}

// newSummary returns s in encoding version 2.
func newSummary(s *aggregate.Summary) Summary {
	w := Summary{
		Expected: s.Expected, Reported: s.Reported, Imputed: s.Imputed, Partial: s.Partial,
		MissingUnlisted: s.MissingUnlisted,
		Samples:         s.Samples, Duplicates: s.Duplicates, Replays: s.Replays, Late: s.Late,
	}
	w.Sum, w.Min, w.Max = floats(s.Values)
	w.RepLoSum, w.RepLoMin, w.RepLoMax = floats(s.ReportedBounds.Lo)
	w.RepHiSum, w.RepHiMin, w.RepHiMax = floats(s.ReportedBounds.Hi)
	w.ImpSum, w.ImpMin, w.ImpMax = floats(s.ImputedValues)
	w.LoSum, w.LoMin, w.LoMax = floats(s.MissingBounds.Lo)
	w.HiSum, w.HiMin, w.HiMax = floats(s.MissingBounds.Hi)
	if s.OldestNewest != math.MaxInt64 {
		t := time.Unix(0, s.OldestNewest).UTC()
		w.OldestNewest = &t
	}
	return w
}

// summary returns the aggregate.Summary w encodes.
func (w *Summary) summary() aggregate.Summary {
	s := aggregate.Summary{
		Devices:         aggregate.Devices{Expected: w.Expected, Reported: w.Reported, Imputed: w.Imputed, Partial: w.Partial},
		Counts:          aggregate.Counts{Samples: w.Samples, Duplicates: w.Duplicates, Replays: w.Replays, Late: w.Late},
		Values:          span(w.Sum, w.Min, w.Max),
		ReportedBounds:  aggregate.Bounds{Lo: span(w.RepLoSum, w.RepLoMin, w.RepLoMax), Hi: span(w.RepHiSum, w.RepHiMin, w.RepHiMax)},
		ImputedValues:   span(w.ImpSum, w.ImpMin, w.ImpMax),
		MissingBounds:   aggregate.Bounds{Lo: span(w.LoSum, w.LoMin, w.LoMax), Hi: span(w.HiSum, w.HiMin, w.HiMax)},
		MissingUnlisted: w.MissingUnlisted,
		OldestNewest:    math.MaxInt64,
	}
	if w.OldestNewest != nil {
		s.OldestNewest = w.OldestNewest.UnixNano()
	}
	return s
}

// floats returns a span's sum, minimum and maximum as wire floats.
func floats(s aggregate.Span) (sum, lo, hi Float) { return Float(s.Sum), Float(s.Min), Float(s.Max) }

// span is the aggregate.Span of a wire sum, minimum and maximum.
func span(sum, lo, hi Float) aggregate.Span {
	return aggregate.Span{Sum: float64(sum), Min: float64(lo), Max: float64(hi)}
}

// Missing is aggregate.MissingDevice in encoding version 2.
type Missing struct {
	Device string `json:"device"`
	State  string `json:"state"`
	// LastSeen is the gateway's receive time of the device's last message;
	// absent if it was never seen.
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// Float is a float64 that encodes ±Inf and NaN as the JSON strings "+Inf",
// "-Inf" and "NaN" (as Prometheus does), so that an empty minimum (+Inf)
// or an unbounded sum of bounds survives the round trip exactly. Finite
// values are JSON numbers in the shortest form that parses back to the same
// float64.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = Float(math.NaN())
		return nil
	case `"+Inf"`:
		*f = Float(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = Float(math.Inf(-1))
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return fmt.Errorf("%w: %.20s is not a number", ErrInvalid, b)
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%w: %.20s: %w", ErrInvalid, b, err)
	}
	*f = Float(v)
	return nil
}

// NewMessage returns the message of partial p, emitted by gateway with
// aggregate a (which carries the revision, finality, emission time and
// watermark).
func NewMessage(gateway string, a aggregate.Aggregate, p *aggregate.Partial) Message {
	m := Message{
		Version: Version, Gateway: gateway,
		Group: p.Group, Metric: p.Metric,
		Window:   aggregate.Window{Start: time.Unix(0, p.Start).UTC(), End: time.Unix(0, p.End).UTC()},
		Revision: a.Revision, Final: a.Final,
		EmittedAt: a.EmittedAt.UTC(), Watermark: a.Staleness.Watermark.UTC(),
		Summary: newSummary(&p.Summary),
		Missing: make([]Missing, 0, len(p.Missing)),
		Flags:   append([]string{}, p.Flags...),
	}
	for _, d := range p.Missing {
		md := Missing{Device: d.Device, State: d.State}
		if d.LastSeen != 0 {
			t := time.Unix(0, d.LastSeen).UTC()
			md.LastSeen = &t
		}
		m.Missing = append(m.Missing, md)
	}
	return m
}

// Encode returns the version 2 encoding of partial p (see NewMessage).
func Encode(gateway string, a aggregate.Aggregate, p *aggregate.Partial) ([]byte, error) {
	return json.Marshal(NewMessage(gateway, a, p))
}

// Decode parses and checks one message. Unknown fields are ignored (a newer
// gateway may add some); an unknown version is ErrVersion; a message that
// could not have come from a gateway is ErrInvalid.
func Decode(b []byte) (Message, error) {
	var v struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if v.Version != Version {
		return Message{}, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v.Version, Version)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		if errors.Is(err, ErrInvalid) {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := m.check(); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return m, nil
}

func (m *Message) check() error {
	s := &m.Summary
	var errs []error
	if m.Gateway == "" || m.Group == "" || m.Metric == "" {
		errs = append(errs, errors.New("gateway, group and metric are required"))
	}
	if !m.Window.End.After(m.Window.Start) {
		errs = append(errs, errors.New("window end is not after its start"))
	}
	ts := []time.Time{m.Window.Start, m.Window.End, m.EmittedAt, m.Watermark}
	if s.OldestNewest != nil {
		ts = append(ts, *s.OldestNewest)
	}
	for _, d := range m.Missing {
		if d.LastSeen != nil {
			ts = append(ts, *d.LastSeen)
		}
	}
	for _, t := range ts {
		if !time.Unix(0, t.UnixNano()).Equal(t) {
			errs = append(errs, fmt.Errorf("time %v is outside the years 1678 to 2262", t))
			break
		}
	}
	if m.Revision < 0 {
		errs = append(errs, errors.New("negative revision"))
	}
	missing := s.Expected - s.Reported
	if s.Reported < 0 || s.Imputed < 0 || s.Partial < 0 || s.Partial > s.Reported || s.MissingUnlisted < 0 || missing < 0 ||
		s.Imputed > missing || len(m.Missing)+s.MissingUnlisted > missing {
		errs = append(errs, fmt.Errorf("inconsistent device counts: expected %d, reported %d (%d partial), imputed %d, missing %d listed + %d unlisted",
			s.Expected, s.Reported, s.Partial, s.Imputed, len(m.Missing), s.MissingUnlisted))
	}
	if (s.Reported > 0) != (s.OldestNewest != nil) {
		errs = append(errs, errors.New("oldest_newest must be set exactly when a device reported"))
	}
	return errors.Join(errs...)
}

// Partial returns the mergeable partial m carries.
func (m *Message) Partial() aggregate.Partial {
	p := aggregate.Partial{
		Group: m.Group, Metric: m.Metric,
		Start: m.Window.Start.UnixNano(), End: m.Window.End.UnixNano(),
		Summary: m.Summary.summary(),
	}
	for _, d := range m.Missing {
		md := aggregate.MissingDevice{Device: d.Device, State: d.State}
		if d.LastSeen != nil {
			md.LastSeen = d.LastSeen.UnixNano()
		}
		p.Missing = append(p.Missing, md)
	}
	// Merge keeps these sorted; a decoded message is not trusted to be.
	p.SortMissing(0)
	if len(m.Flags) > 0 {
		p.Flags = slices.Compact(slices.Sorted(slices.Values(m.Flags)))
	}
	return p
}

// FinishInfo returns what aggregate.Partial.Finish needs to turn m's
// partial (or a merge of it) into the aggregate the gateway emitted, with
// the merging tier's minimum coverage.
func (m *Message) FinishInfo(minCoverage float64) aggregate.FinishInfo {
	return aggregate.FinishInfo{
		Watermark: m.Watermark.UnixNano(), EmittedAt: m.EmittedAt,
		Revision: m.Revision, Final: m.Final, MinCoverage: minCoverage,
	}
}

// MsgID is the message's Nats-Msg-Id: gateway, group, metric, window start
// (Unix ns) and revision, which identify one emission.
func (m *Message) MsgID() string {
	return strings.Join([]string{m.Gateway, m.Group, m.Metric, strconv.FormatInt(m.Window.Start.UnixNano(), 10), strconv.Itoa(m.Revision)}, "/")
}

// Subject returns the subject of a partial of group and metric:
// SubjectPrefix.<group>.<metric>. Bytes other than ASCII letters, digits,
// '-', '_' and ':' are written as %XX (upper-case hex), so that '.', '*',
// '>' and white space in a name cannot change the subject's tokens; an
// empty name is "%".
func Subject(group, metric string) string {
	return SubjectPrefix + "." + token(group) + "." + token(metric)
}

func token(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
