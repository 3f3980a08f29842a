package api

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler names: the handler label of rollcall_api_requests_total and
// rollcall_api_request_duration_seconds.
const (
	handlerAggregates       = "aggregates"
	handlerAggregatesLatest = "aggregates_latest"
	handlerDevices          = "devices"
	handlerDevice           = "device"
	handlerGroups           = "groups"
	handlerHealthz          = "healthz"
	handlerReadyz           = "readyz"
	handlerMetrics          = "metrics"
	handlerStatus           = "status"
	handlerNotFound         = "not_found"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_api_requests_total",
			Help: "HTTP API requests by handler and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rollcall_api_request_duration_seconds",
			Help:    "HTTP API request latency by handler, until the handler returns.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
	}
	for _, h := range []string{
		handlerAggregates, handlerAggregatesLatest, handlerDevices, handlerDevice, handlerGroups,
		handlerHealthz, handlerReadyz, handlerMetrics, handlerStatus, handlerNotFound,
	} {
		m.duration.WithLabelValues(h)
	}
	cs := []prometheus.Collector{m.requests, m.duration}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// instrument counts and times the requests h serves under the handler label
// name.
func (m *metrics) instrument(name string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"handler": name}
	// MustCurryWith panics only when the label names do not match the
	// vectors above: a programmer error.
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels),
		promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels), h))
}
