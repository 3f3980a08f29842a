package ingestlog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// JournalLabel is the value of the journal label on every rollcall_journal_*
// metric of the ingest journal (the InfluxDB spool's is "spool").
const JournalLabel = "ingest"

// Operations: the op label of rollcall_journal_write_errors_total.
const (
	// OpAppend is a failed Append (a full journal is counted too).
	OpAppend = "append"
	// OpCommit is a failed Commit.
	OpCommit = "commit"
)

type metrics struct {
	// Registered with the journal label.
	full      prometheus.Gauge
	writeErrs *prometheus.CounterVec
	// The ingest queue's.
	queueFull  prometheus.Counter
	queueWaits prometheus.Counter
	queueLen   prometheus.GaugeFunc
	queueCap   prometheus.Gauge

	regs       []prometheus.Registerer
	collectors []prometheus.Collector
}

// newMetrics registers the stage's metrics: the journal's with jreg (reg
// wrapped with the journal label), the ingest queue's with reg. A nil reg
// registers nothing.
func newMetrics(reg, jreg prometheus.Registerer, queueLen func() float64) (*metrics, error) {
	m := &metrics{
		full: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_journal_full",
			Help: "1 while the journal is full: nothing is acknowledged (the broker holds the rest) until a checkpoint frees space.",
		}),
		writeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_journal_write_errors_total",
			Help: "Journal append or commit failures, by operation.",
		}, []string{"op"}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_ingest_queue_full_total",
			Help: "Messages the ingest queue (before the journal) could not take.",
		}),
		queueWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_ingest_queue_waits_total",
			Help: "QoS 1 messages that found the ingest queue full and waited for room (up to mqtt.queue_wait).",
		}),
		queueLen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rollcall_ingest_queue_length",
			Help: "Messages waiting for the ingest journal.",
		}, queueLen),
		queueCap: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_ingest_queue_capacity",
			Help: "Capacity of the ingest queue (journal.queue_len).",
		}),
	}
	for _, op := range []string{OpAppend, OpCommit} {
		m.writeErrs.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	list := []struct {
		reg prometheus.Registerer
		c   prometheus.Collector
	}{
		{jreg, m.full},
		{jreg, m.writeErrs},
		{reg, m.queueFull},
		{reg, m.queueWaits},
		{reg, m.queueLen},
		{reg, m.queueCap},
	}
	for _, e := range list {
		if err := e.reg.Register(e.c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("ingestlog: register metrics: %w", err)
		}
		m.regs, m.collectors = append(m.regs, e.reg), append(m.collectors, e.c)
	}
	return m, nil
}

// unregister removes what newMetrics registered.
func (m *metrics) unregister() {
	for i, c := range m.collectors {
		m.regs[i].Unregister(c)
	}
	m.regs, m.collectors = nil, nil
}

func (m *metrics) setFull(full bool) {
	if full {
		m.full.Set(1)
	} else {
		m.full.Set(0)
	}
}
