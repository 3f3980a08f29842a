package nats

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

func (s *Sink) registerMetrics(reg prometheus.Registerer) error {
	s.published = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_nats_published_total",
		Help: "Partials published to JetStream and acknowledged.",
	})
	s.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_nats_publish_retries_total",
		Help: "Publish attempts retried after a failure.",
	})
	s.errs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_nats_publish_errors_total",
		Help: "Partials dropped after nats.publish_attempts failed attempts (never with the default, 0: until published).",
	})
	s.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_nats_skipped_total",
		Help: "Emissions not published by design, by reason (provisional: revision 0, not final).",
	}, []string{"reason"})
	s.skipped.WithLabelValues(SkipProvisional)
	s.connected = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rollcall_nats_connected",
		Help: "1 while the NATS connection of the partials sink is up.",
	}, func() float64 {
		if s.nc.IsConnected() {
			return 1
		}
		return 0
	})
	removed := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rollcall_nats_stream_removed_total",
		Help: "Partials the stream removed because nats.max_age or nats.max_bytes bound (a hub may or may not have sourced them before).",
	}, func() float64 { return float64(s.removed.Load()) })
	cs := []prometheus.Collector{s.published, s.retries, s.errs, s.skipped, s.connected, removed}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("nats: register metrics: %w", err)
		}
	}
	return nil
}
