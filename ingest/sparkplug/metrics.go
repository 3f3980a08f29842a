package sparkplug

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Reasons a metric of an accepted message is skipped: the reason label of
// rollcall_sparkplug_metrics_skipped_total.
const (
	// SkipNotNumeric: a datatype rollcall does not aggregate (Boolean,
	// String, DateTime, DataSet, Template, arrays...).
	SkipNotNumeric = "not_numeric"
	// SkipNull: the metric's is_null flag is set.
	SkipNull = "null"
	// SkipUnknownAlias: a DATA metric whose alias (or name) the birth did
	// not define. A host would ask for a rebirth; rollcall never publishes
	// NCMD.
	SkipUnknownAlias = "unknown_alias"
	// SkipTooManyAliases: a birth metric past limits.sparkplug_max_aliases.
	SkipTooManyAliases = "too_many_aliases"
	// SkipBadName: a birth metric without a name, or whose name is empty,
	// too long (limits.max_metric_name_len), not UTF-8 or holds a control
	// character.
	SkipBadName = "bad_name"
	// SkipBadValue: a birth metric whose value is not finite (the birth
	// still defines it; a DATA message with one is rejected bad_value).
	SkipBadValue = "bad_value"
	// SkipControl: bdSeq and the "Node Control/" and "Device Control/"
	// metrics, which are protocol, not measurements.
	SkipControl = "control"
)

// skipReasons lists the skip reasons, pre-initialised to 0.
var skipReasons = [...]string{SkipNotNumeric, SkipNull, SkipUnknownAlias, SkipTooManyAliases, SkipBadName, SkipBadValue, SkipControl}

// Reasons a whole message is ignored without being rejected: the reason
// label of rollcall_sparkplug_ignored_total.
const (
	// IgnoreStaleDeath: an NDEATH whose bdSeq is not the current session's
	// (the Will of a connection the node has since replaced), or of a node
	// not born; the specification says to ignore it.
	IgnoreStaleDeath = "stale_death"
	// IgnoreStaleBirth: an NBIRTH older than the current session's (a
	// replayed or very late birth); the session is kept.
	IgnoreStaleBirth = "stale_birth"
)

var ignoreReasons = [...]string{IgnoreStaleDeath, IgnoreStaleBirth}

// messageTypes are the type label values of rollcall_sparkplug_messages_total.
var messageTypes = [...]ingest.TopicKind{
	ingest.TopicSpNBirth, ingest.TopicSpNDeath, ingest.TopicSpNData,
	ingest.TopicSpDBirth, ingest.TopicSpDDeath, ingest.TopicSpDData,
}

// Metrics are the Sparkplug counters, shared by every worker's Host (they
// are Prometheus counters, safe for concurrent use), and the gateway-wide
// count of node sessions that limits.sparkplug_max_nodes bounds.
type Metrics struct {
	messages *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	ignored  *prometheus.CounterVec
	gaps     prometheus.Counter
	nodesG   prometheus.GaugeFunc
	nodes    atomic.Int64

	// The label children, resolved once: the hot path does no label
	// lookup.
	byKind [len(messageTypes)]prometheus.Counter
	skip   map[string]prometheus.Counter
	ignore map[string]prometheus.Counter

	reg prometheus.Registerer
}

// NewMetrics registers the Sparkplug metrics with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{reg: reg}
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_sparkplug_messages_total",
		Help: "Sparkplug B messages handled by the workers, by message type (rejected ones included).",
	}, []string{"type"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_sparkplug_metrics_skipped_total",
		Help: "Metrics of Sparkplug B messages that did not become readings, by reason.",
	}, []string{"reason"})
	m.ignored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_sparkplug_ignored_total",
		Help: "Sparkplug B births and deaths ignored as the specification says, by reason.",
	}, []string{"reason"})
	m.gaps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_sparkplug_seq_gaps_total",
		Help: "Sparkplug B messages whose seq was not the previous one's + 1 (mod 256): lost or reordered messages.",
	})
	m.nodesG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rollcall_sparkplug_nodes",
		Help: "Sparkplug B edge node sessions tracked (limits.sparkplug_max_nodes).",
	}, func() float64 { return float64(m.nodes.Load()) })
	m.skip, m.ignore = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for i, t := range messageTypes {
		m.byKind[i] = m.messages.WithLabelValues(t.String())
	}
	for _, r := range skipReasons {
		m.skip[r] = m.skipped.WithLabelValues(r)
	}
	for _, r := range ignoreReasons {
		m.ignore[r] = m.ignored.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, d := range m.collectors()[:i] {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("sparkplug: register metrics: %w", err)
		}
	}
	return m, nil
}

// message counts one message of Sparkplug kind k.
func (m *Metrics) message(k ingest.TopicKind) {
	if i := int(k - ingest.TopicSpNBirth); i >= 0 && i < len(m.byKind) {
		m.byKind[i].Inc()
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.messages, m.skipped, m.ignored, m.gaps, m.nodesG}
}

// Unregister removes the metrics from the registerer NewMetrics was given.
func (m *Metrics) Unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
