package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// MaxPipelineSeries bounds the series of a /api/v1/pipeline answer; the
// rest are counted in PipelineResponse.Truncated.
const MaxPipelineSeries = 1000

// pipelineExcluded are metric families left out of /api/v1/pipeline: one
// series per group and metric (the aggregates themselves, not the
// pipeline's health).
var pipelineExcluded = []string{"rollcall_aggregate_value", "rollcall_group_coverage_ratio"}

// PipelineResponse is the answer of /api/v1/pipeline: every rollcall_
// counter and gauge of the process (messages by outcome, rejections and
// drops by reason, queue lengths, devices by state, connection state), as
// /metrics has them, in JSON for the status page. Rates are the reader's
// business: two answers and their times.
type PipelineResponse struct {
	Time time.Time `json:"time"`
	// Ready is /readyz's verdict; NotReady its reason.
	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready,omitempty"`
	// Metrics are sorted by name, then labels.
	Metrics []PipelineMetric `json:"metrics"`
	// Truncated counts series left out past MaxPipelineSeries.
	Truncated int `json:"truncated,omitempty"`
}

// PipelineMetric is one series.
type PipelineMetric struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"` // counter or gauge
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

func (s *Server) handlePipeline(w http.ResponseWriter, _ *http.Request) {
	out := PipelineResponse{Time: s.cfg.Now().UTC(), Ready: true, Metrics: []PipelineMetric{}}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(); err != nil {
			out.Ready, out.NotReady = false, err.Error()
		}
	}
	// Gather returns what it could even with an error (a collector
	// failed); show that.
	families, err := s.deps.Gatherer.Gather()
	if err != nil {
		if n, ok := s.warn.allow(s.cfg.Now()); ok {
			s.log.Warn("gather metrics", "err", err, "suppressed", n)
		}
	}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "rollcall_") || slices.Contains(pipelineExcluded, name) {
			continue
		}
		var typ string
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			typ = "counter"
		case dto.MetricType_GAUGE:
			typ = "gauge"
		default:
			continue // histograms and summaries: see /metrics
		}
		for _, m := range f.GetMetric() {
			if len(out.Metrics) == MaxPipelineSeries {
				out.Truncated++
				continue
			}
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetGauge().GetValue()
			if typ == "counter" {
				v = m.GetCounter().GetValue()
			}
			out.Metrics = append(out.Metrics, PipelineMetric{Name: name, Type: typ, Labels: labels, Value: v})
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}
