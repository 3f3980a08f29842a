package federation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// mergerMetrics are the central tier's counters.
type mergerMetrics struct {
	merged   prometheus.Counter
	repeated prometheus.Counter
	tooOld   prometheus.Counter
	evicted  prometheus.Counter
	emitted  prometheus.Counter
	invalid  prometheus.Counter
	refused  prometheus.Counter
}

func newMergerMetrics() *mergerMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &mergerMetrics{
		merged:   c("rollcall_federation_partials_merged_total", "Gateway partials merged into a central window (a new revision)."),
		repeated: c("rollcall_federation_partials_repeated_total", "Gateway partials ignored as an older or repeated revision (redelivery, replay)."),
		tooOld:   c("rollcall_federation_partials_too_old_total", "Gateway partials older than every kept window of their group and metric (federation.max_windows)."),
		evicted:  c("rollcall_federation_windows_evicted_total", "Central windows dropped to keep federation.max_windows per group and metric."),
		emitted:  c("rollcall_federation_aggregates_emitted_total", "Central aggregates emitted (every revision)."),
		invalid:  c("rollcall_federation_partials_invalid_total", "Messages in a gateway's stream that do not decode as a partial; acknowledged and dropped."),
		refused:  c("rollcall_federation_gateways_refused_total", "Gateways not sourced because the roster is full (federation.max_gateways)."),
	}
}

func (m *mergerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.merged, m.repeated, m.tooOld, m.evicted, m.emitted, m.invalid, m.refused}
}

// register registers every collector, or none.
func (m *mergerMetrics) register(reg prometheus.Registerer) error {
	cs := m.collectors()
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("federation: register metrics: %w", err)
		}
	}
	return nil
}

// unregister unregisters every collector.
func (m *mergerMetrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
