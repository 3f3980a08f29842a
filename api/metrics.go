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
	handlerStream           = "stream"
	handlerDevices          = "devices"
	handlerDevice           = "device"
	handlerGroups           = "groups"
	handlerRejects          = "rejects"
	handlerPipeline         = "pipeline"
	handlerHealthz          = "healthz"
	handlerReadyz           = "readyz"
	handlerMetrics          = "metrics"
	handlerStatus           = "status"
	handlerStatic           = "static"
	handlerNotFound         = "not_found"
	// handlerPprof (pprof.go) labels every /debug/pprof route.
)

// Refusal reasons: the reason label of rollcall_api_refused_total, one per
// limit (and the token). They are the error codes of the refusals.
const (
	refusedUnauthorized   = CodeUnauthorized
	refusedRangeTooLarge  = CodeRangeTooLarge
	refusedLimitTooLarge  = CodeLimitTooLarge
	refusedTooManyStreams = CodeTooManyStreams
	refusedTooLarge       = CodeTooLarge
	refusedURITooLong     = CodeURITooLong
)

// Stream reset reasons: the reason label of
// rollcall_api_stream_resets_total.
const (
	// resetLagged: a client read so slowly that the store's backlog
	// dropped aggregates it had not been sent.
	resetLagged = "lagged"
	// resetExpired: a client resumed (Last-Event-ID) from an aggregate the
	// backlog no longer holds.
	resetExpired = "expired"
	// resetRestarted: a client resumed with an id of an earlier run of the
	// process.
	resetRestarted = "restarted"
)

// dropSlowClient is the reason label of rollcall_api_stream_dropped_total
// for a stream closed because a write did not finish within
// Config.WriteTimeout.
const dropSlowClient = "slow_client"

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	refused      *prometheus.CounterVec
	streams      prometheus.Gauge
	streamEvents prometheus.Counter
	streamResets *prometheus.CounterVec
	streamDrops  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_api_requests_total",
			Help: "HTTP API requests by handler and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rollcall_api_request_duration_seconds",
			Help:    "HTTP API request latency by handler, until the handler returns (for streams: the stream's life).",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_api_refused_total",
			Help: "HTTP API requests refused by a limit or for want of the bearer token, by reason (the error code).",
		}, []string{"reason"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_api_streams",
			Help: "Server-Sent Events streams open.",
		}),
		streamEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_api_stream_events_total",
			Help: "Aggregate events sent on Server-Sent Events streams.",
		}),
		streamResets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_api_stream_resets_total",
			Help: "Reset events sent on streams (the client missed aggregates), by reason.",
		}, []string{"reason"}),
		streamDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_api_stream_dropped_total",
			Help: "Streams the server closed on a client, by reason.",
		}, []string{"reason"}),
	}
	for _, h := range []string{
		handlerAggregates, handlerAggregatesLatest, handlerStream, handlerDevices, handlerDevice, handlerGroups,
		handlerRejects, handlerPipeline, handlerHealthz, handlerReadyz, handlerMetrics, handlerStatus, handlerStatic,
		handlerNotFound, handlerPprof,
	} {
		m.duration.WithLabelValues(h)
	}
	for _, r := range []string{
		refusedUnauthorized, refusedRangeTooLarge, refusedLimitTooLarge, refusedTooManyStreams, refusedTooLarge, refusedURITooLong,
	} {
		m.refused.WithLabelValues(r)
	}
	for _, r := range []string{resetLagged, resetExpired, resetRestarted} {
		m.streamResets.WithLabelValues(r)
	}
	m.streamDrops.WithLabelValues(dropSlowClient)
	cs := []prometheus.Collector{m.requests, m.duration, m.refused, m.streams, m.streamEvents, m.streamResets, m.streamDrops}
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
