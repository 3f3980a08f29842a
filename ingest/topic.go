package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// TopicKind says which template a topic matched. The zero value is not a
// valid kind: Parse returns it only together with an error.
type TopicKind uint8

// Topic kinds.
const (
	// TopicTelemetry is a telemetry topic: its payload is a reading.
	TopicTelemetry TopicKind = iota + 1
	// TopicStatus is a status topic: its payload is a birth message or a
	// Last Will ("online" / "offline").
	TopicStatus
)

// String returns "telemetry", "status", a Sparkplug message type
// ("NBIRTH"...) or "unknown".
func (k TopicKind) String() string {
	switch k {
	case TopicTelemetry:
		return "telemetry"
	case TopicStatus:
		return "status"
	}
	if n := k.sparkplugName(); n != "" {
		return n
	}
	return "unknown"
}

// Topic template defaults and limits.
const (
	// DefaultTelemetryTopic is the default telemetry topic template.
	DefaultTelemetryTopic = "fleet/{site}/{device}/telemetry"
	// DefaultStatusTopic is the default status (birth and Last Will) topic
	// template.
	DefaultStatusTopic = "fleet/{site}/{device}/status"
	// MaxIDLen is the maximum length, in bytes, of a site or device id.
	MaxIDLen = 128
	// MaxTopicLen is the maximum length of an MQTT topic name, in bytes
	// (MQTT 3.1.1 and 5, section 1.5.3/1.5.4: a UTF-8 string of at most
	// 65,535 bytes).
	MaxTopicLen = 65535

	placeholderSite   = "{site}"
	placeholderDevice = "{device}"
)

// IDChars describes the bytes a site or device id may contain. The rule: an
// id is 1 to MaxIDLen bytes of ASCII letters, digits, '.', '_', ':' and '-'.
// Ids become Prometheus label values, InfluxDB tag values, API path segments
// and file names, so the set excludes anything that would need quoting or
// escaping in any of them (spaces, '/', '*', ',', '=', quotes, non-ASCII),
// and the MQTT wildcards '+' and '#'.
const IDChars = "[A-Za-z0-9._:-]"

// isIDByte reports whether c may appear in a site or device id (see IDChars).
func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}

// validID reports whether id follows the id rule (see IDChars).
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return false
		}
	}
	return true
}

// idProblem describes why id breaks the id rule; what names the level.
func idProblem(what, id string) string {
	switch {
	case len(id) == 0:
		return what + " level is empty"
	case len(id) > MaxIDLen:
		return fmt.Sprintf("%s level is %d bytes, longer than %d", what, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return fmt.Sprintf("%s level %s: %s at offset %d is not allowed (ids use %s)",
				what, quoteTrunc(id, 64), describeByte(id[i]), i, IDChars)
		}
	}
	return ""
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelSite
	levelDevice
)

// level is one '/'-separated level of a compiled template.
type level struct {
	kind levelKind
	lit  string // for levelLiteral
}

// template is one compiled topic template.
type template struct {
	raw    string
	levels []level
	filter string // the MQTT subscription filter: placeholders replaced by "+"
}

// Topics maps MQTT topics to (kind, site, device) and back, following the
// telemetry and status templates. A Topics is immutable and safe for
// concurrent use.
type Topics struct {
	telemetry template
	status    template
	// sparkplug: the Sparkplug B namespace is recognised too (WithSparkplug).
	sparkplug bool
}

// NewTopics compiles the telemetry and status templates. A template is a
// sequence of '/'-separated levels; each level is a literal, "{site}" or
// "{device}" (a placeholder is always a whole level). Each template must hold
// both placeholders exactly once, its literals must not contain the MQTT
// wildcards '+' and '#' (nor '{', '}' or NUL), and no topic may match both
// templates. The error lists every problem found.
func NewTopics(telemetry, status string) (*Topics, error) {
	tel, err1 := compileTemplate("telemetry", telemetry)
	st, err2 := compileTemplate("status", status)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if example, ok := overlap(tel, st); ok {
		return nil, fmt.Errorf("telemetry topic template %q and status topic template %q overlap: topic %q matches both",
			telemetry, status, example)
	}
	return &Topics{telemetry: tel, status: st}, nil
}

// compileTemplate parses one template; name says which one, for errors.
func compileTemplate(name, raw string) (template, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s topic template %q: %s", name, raw, fmt.Sprintf(format, args...)))
	}
	if raw == "" {
		bad("empty")
	}
	if len(raw) > MaxTopicLen {
		bad("%d bytes, longer than the MQTT limit of %d", len(raw), MaxTopicLen)
	}
	if !utf8.ValidString(raw) {
		bad("not valid UTF-8")
	}
	parts := strings.Split(raw, "/")
	levels := make([]level, 0, len(parts))
	filter := make([]string, 0, len(parts))
	var nSite, nDevice int
	for i, p := range parts {
		switch p {
		case placeholderSite:
			nSite++
			levels = append(levels, level{kind: levelSite})
			filter = append(filter, "+")
			continue
		case placeholderDevice:
			nDevice++
			levels = append(levels, level{kind: levelDevice})
			filter = append(filter, "+")
			continue
		}
		if strings.ContainsAny(p, "+#") {
			bad("level %d (%q): the MQTT wildcards + and # are not allowed in a template", i+1, p)
		}
		if strings.ContainsAny(p, "{}") {
			bad("level %d (%q): a placeholder must be a whole level, exactly {site} or {device}", i+1, p)
		}
		if strings.IndexByte(p, 0) >= 0 {
			bad("level %d: NUL is not allowed in an MQTT topic", i+1)
		}
		levels = append(levels, level{kind: levelLiteral, lit: p})
		filter = append(filter, p)
	}
	if nSite != 1 {
		bad("{site} must appear exactly once as a whole level, found %d", nSite)
	}
	if nDevice != 1 {
		bad("{device} must appear exactly once as a whole level, found %d", nDevice)
	}
	if len(errs) > 0 {
		return template{}, errors.Join(errs...)
	}
	return template{raw: raw, levels: levels, filter: strings.Join(filter, "/")}, nil
}

// overlap reports whether some topic with valid ids matches both a and b,
// and returns one such topic.
func overlap(a, b template) (example string, ok bool) {
	if len(a.levels) != len(b.levels) {
		return "", false
	}
	parts := make([]string, len(a.levels))
	for i := range a.levels {
		la, lb := a.levels[i], b.levels[i]
		switch {
		case la.kind == levelLiteral && lb.kind == levelLiteral:
			if la.lit != lb.lit {
				return "", false
			}
			parts[i] = la.lit
		case la.kind == levelLiteral:
			if !validID(la.lit) {
				return "", false
			}
			parts[i] = la.lit
		case lb.kind == levelLiteral:
			if !validID(lb.lit) {
				return "", false
			}
			parts[i] = lb.lit
		default:
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/"), true
}

// Filters returns the MQTT subscription filters of the two templates: the
// templates with each placeholder replaced by the single-level wildcard "+",
// e.g. "fleet/+/+/telemetry".
func (t *Topics) Filters() (telemetry, status string) {
	return t.telemetry.filter, t.status.filter
}

// Parse matches a concrete topic against the templates and returns its kind,
// site and device: device is the device's fleet-wide identity, site/name
// (see ID), so that wt-01 at two sites is two devices. site and device are
// substrings of topic when the template has the site level right before
// the device level (the defaults): Parse then does not allocate when it
// succeeds. It returns a *RejectError with ReasonBadTopic
// when the topic matches neither template, or when its site or device level
// breaks the id rule (see IDChars): empty, longer than MaxIDLen bytes, or
// holding a byte outside IDChars.
func (t *Topics) Parse(topic string) (kind TopicKind, site, device string, err error) {
	if rest, ok := strings.CutPrefix(topic, SparkplugNamespace+"/"); ok && t.sparkplug {
		return parseSparkplug(topic, rest)
	}
	telSite, telDevice, telID, telOK := t.telemetry.match(topic)
	if telOK && validID(telSite) && validID(telDevice) {
		return TopicTelemetry, telSite, telID, nil
	}
	stSite, stDevice, stID, stOK := t.status.match(topic)
	if stOK && validID(stSite) && validID(stDevice) {
		return TopicStatus, stSite, stID, nil
	}
	switch {
	case telOK:
		return 0, "", "", badIDs(topic, TopicTelemetry, telSite, telDevice)
	case stOK:
		return 0, "", "", badIDs(topic, TopicStatus, stSite, stDevice)
	}
	return 0, "", "", reject(ReasonBadTopic, fmt.Sprintf("topic %s matches neither %q nor %q",
		quoteTrunc(topic, 256), t.telemetry.raw, t.status.raw))
}

// badIDs builds the reject for a topic that matched the template of kind but
// whose site or device level breaks the id rule.
func badIDs(topic string, kind TopicKind, site, device string) error {
	problem := idProblem("site", site)
	if problem == "" {
		problem = idProblem("device", device)
	}
	return reject(ReasonBadTopic, fmt.Sprintf("%s topic %s: %s", kind, quoteTrunc(topic, 256), problem))
}

// match matches topic against the template's levels. It returns the site and
// device levels (not yet checked against the id rule), the device's
// identity (ID) and whether the topic's structure matched. When the
// template has the site level right before the device level (the
// defaults), the identity is a substring of topic and match allocates
// nothing.
func (tp *template) match(topic string) (site, device, id string, ok bool) {
	rest := topic
	last := len(tp.levels) - 1
	siteAt, deviceAt := -1, -1
	for i := range tp.levels {
		lv := &tp.levels[i]
		at := len(topic) - len(rest)
		var seg string
		if i == last {
			if strings.IndexByte(rest, '/') >= 0 {
				return "", "", "", false
			}
			seg = rest
		} else {
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return "", "", "", false
			}
			seg, rest = rest[:j], rest[j+1:]
		}
		switch lv.kind {
		case levelLiteral:
			if seg != lv.lit {
				return "", "", "", false
			}
		case levelSite:
			site, siteAt = seg, at
		case levelDevice:
			device, deviceAt = seg, at
		}
	}
	if siteAt >= 0 && deviceAt == siteAt+len(site)+1 {
		return site, device, topic[siteAt : deviceAt+len(device)], true
	}
	return site, device, ID(site, device), true
}

// Topic builds the concrete topic of the given kind for site and device (a
// name, or an identity site/name as Parse returns it), the inverse of
// Parse. It does not check site and device against the id rule, and it
// returns "" for an unknown kind.
func (t *Topics) Topic(kind TopicKind, site, device string) string {
	if s, name := SplitID(device); s == site {
		device = name
	}
	var tp *template
	switch kind {
	case TopicTelemetry:
		tp = &t.telemetry
	case TopicStatus:
		tp = &t.status
	default:
		return ""
	}
	var b strings.Builder
	b.Grow(len(tp.raw) + len(site) + len(device))
	for i, lv := range tp.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		switch lv.kind {
		case levelLiteral:
			b.WriteString(lv.lit)
		case levelSite:
			b.WriteString(site)
		case levelDevice:
			b.WriteString(device)
		}
	}
	return b.String()
}
