package aggregate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
)

// Message outcomes: the outcome label of rollcall_messages_total.
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
	OutcomeReplay    = "replay"
	OutcomeRejected  = "rejected"
)

// Emission kinds: the kind label of rollcall_aggregate_emitted_total.
const (
	KindProvisional = "provisional"
	KindRevision    = "revision"
	KindFinal       = "final"
)

// DropGroupMetricsFull is the reason label of rollcall_aggregate_dropped_total
// for metric values ignored because their group has MaxGroupMetrics metrics.
const DropGroupMetricsFull = "group_metrics_full"

var outcomes = [...]string{OutcomeAccepted, OutcomeDuplicate, OutcomeReplay, OutcomeRejected}

const (
	outAccepted = iota
	outDuplicate
	outReplay
	outRejected
)

type metrics struct {
	received     prometheus.Counter
	messages     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	status       prometheus.Counter
	dropped      *prometheus.CounterVec
	devices      *prometheus.GaugeVec
	replaying    prometheus.Gauge
	retired      prometheus.Counter
	forgotten    prometheus.Counter
	emitted      *prometheus.CounterVec
	skipped      prometheus.Counter
	recordErrors prometheus.Counter
	groups       prometheus.Gauge
	emitTime     prometheus.Histogram
	lastEvent    prometheus.Gauge
	queueLen     prometheus.GaugeFunc
	queueCap     prometheus.GaugeFunc
	collectors   []prometheus.Collector
	reg          prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer, queueLen, queueCap func() float64) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_messages_received_total",
			Help: "Messages with an outcome (the sum of rollcall_messages_total): telemetry messages taken from the ingest queue by the workers, rejected status messages, and messages rejected before the queue.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_messages_total",
			Help: "Telemetry messages by outcome: accepted, duplicate, replay or rejected.",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_messages_rejected_total",
			Help: "Rejected telemetry messages by reason.",
		}, []string{"reason"}),
		status: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_status_messages_total",
			Help: "Accepted status (birth / Last Will) messages.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_aggregate_dropped_total",
			Help: "Metric values not aggregated, by reason.",
		}, []string{"reason"}),
		devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rollcall_devices",
			Help: "Tracked devices by liveness state.",
		}, []string{"state"}),
		replaying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_devices_replaying",
			Help: "Devices flagged as replaying old messages.",
		}),
		retired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_devices_retired_total",
			Help: "Learned devices retired: silent for longer than learn.retire_after, they left the roster.",
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_devices_forgotten_total",
			Help: "Retired devices forgotten (no longer reported retired) because learn.max_retired newer ones are kept.",
		}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_aggregate_emitted_total",
			Help: "Aggregates emitted, by kind: provisional, revision or final.",
		}, []string{"kind"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_window_skipped_total",
			Help: "Windows never emitted because a watermark jumped more than window.max_catch_up windows.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_aggregate_round_record_errors_total",
			Help: "Emit rounds that could not be recorded in the journal (a replay after a crash may then differ).",
		}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_aggregate_groups",
			Help: "Groups being aggregated.",
		}),
		emitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rollcall_aggregate_emit_seconds",
			Help:    "Time of one emit round: collecting shard state, merging partials, emitting aggregates.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_aggregate_last_event_timestamp_seconds",
			Help: "Newest event time accepted, Unix seconds.",
		}),
		queueLen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rollcall_aggregate_queue_length",
			Help: "Messages waiting in the workers' input queues.",
		}, queueLen),
		queueCap: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rollcall_aggregate_queue_capacity",
			Help: "Capacity of the workers' input queues, summed.",
		}, queueCap),
		reg: reg,
	}
	if err := m.register(); err != nil {
		return nil, err
	}
	return m, nil
}

// register pre-initialises every label value and registers the collectors,
// from one list; on failure it unregisters what it registered.
func (m *metrics) register() error {
	for _, o := range outcomes {
		m.messages.WithLabelValues(o)
	}
	for _, r := range ingest.RejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, s := range staleness.States {
		m.devices.WithLabelValues(string(s))
	}
	for _, k := range []string{KindProvisional, KindRevision, KindFinal} {
		m.emitted.WithLabelValues(k)
	}
	m.dropped.WithLabelValues(DropGroupMetricsFull)
	m.collectors = []prometheus.Collector{
		m.received, m.messages, m.rejected, m.status, m.dropped, m.devices, m.replaying, m.retired, m.forgotten, m.emitted,
		m.skipped, m.recordErrors, m.groups, m.emitTime, m.lastEvent, m.queueLen, m.queueCap,
	}
	for i, c := range m.collectors {
		if err := m.reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				m.reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
