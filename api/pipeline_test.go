package api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestPipeline(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollcall_messages_total", Help: "h"}, []string{"outcome"})
	msgs.WithLabelValues("accepted").Add(120)
	msgs.WithLabelValues("rejected").Add(3)
	qlen := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rollcall_aggregate_queue_length", Help: "h"})
	qlen.Set(7)
	perSeries := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rollcall_aggregate_value", Help: "h"}, []string{"group"})
	perSeries.WithLabelValues("site-a").Set(1)
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "go_something_total", Help: "h"})
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rollcall_x_seconds", Help: "h"})
	reg.MustRegister(msgs, qlen, perSeries, other, hist)

	s, err := New(Config{Now: func() time.Time { return fixtureNow }}, Deps{
		Store: newStore(t), Engine: goodEngine(), Gatherer: reg,
		Ready: func() error { return errors.New("not connected to the broker") },
	}, nil, reg)
	require.NoError(t, err)
	rec := do(s.Handler(), http.MethodGet, "/api/v1/pipeline", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	p := decode[PipelineResponse](t, rec)
	require.True(t, fixtureNow.Equal(p.Time))
	require.False(t, p.Ready)
	require.Equal(t, "not connected to the broker", p.NotReady)
	byKey := map[string]PipelineMetric{}
	for _, m := range p.Metrics {
		byKey[m.Name+"/"+m.Labels["outcome"]] = m
	}
	require.Equal(t, PipelineMetric{Name: "rollcall_messages_total", Type: "counter", Labels: map[string]string{"outcome": "accepted"}, Value: 120},
		byKey["rollcall_messages_total/accepted"])
	require.Equal(t, PipelineMetric{Name: "rollcall_aggregate_queue_length", Type: "gauge", Labels: map[string]string{}, Value: 7},
		byKey["rollcall_aggregate_queue_length/"])
	require.Contains(t, byKey, "rollcall_api_refused_total/", "the API's own counters")
	for _, m := range p.Metrics {
		require.NotEqual(t, "rollcall_aggregate_value", m.Name, "per-series gauges are not pipeline health")
		require.NotEqual(t, "go_something_total", m.Name)
		require.NotEqual(t, "rollcall_x_seconds", m.Name, "histograms are on /metrics")
	}
	require.Zero(t, p.Truncated)
}
