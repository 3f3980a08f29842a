package scrape

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples holds every sample of a scrape by its series ("name" or
// `name{labels}`).
type Samples map[string]float64

// Parse reads the Prometheus text format from r.
func Parse(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	out := Samples{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			addMetric(out, name, m)
		}
	}
	return out, nil
}

// Get scrapes url with c (http.DefaultClient when nil).
func Get(ctx context.Context, c *http.Client, url string) (Samples, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s: %s", url, resp.Status)
	}
	return Parse(resp.Body)
}

// addMetric adds m's samples, named after its family name.
func addMetric(out Samples, name string, m *dto.Metric) {
	labels := m.GetLabel()
	switch {
	case m.Histogram != nil:
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			out[key(name+"_bucket", labels, "le", b.GetUpperBound())] = float64(b.GetCumulativeCount())
		}
		out[key(name+"_bucket", labels, "le", math.Inf(1))] = float64(h.GetSampleCount())
		out[key(name+"_sum", labels, "", 0)] = h.GetSampleSum()
		out[key(name+"_count", labels, "", 0)] = float64(h.GetSampleCount())
	case m.Summary != nil:
		s := m.GetSummary()
		for _, q := range s.GetQuantile() {
			out[key(name, labels, "quantile", q.GetQuantile())] = q.GetValue()
		}
		out[key(name+"_sum", labels, "", 0)] = s.GetSampleSum()
		out[key(name+"_count", labels, "", 0)] = float64(s.GetSampleCount())
	case m.Counter != nil:
		out[key(name, labels, "", 0)] = m.GetCounter().GetValue()
	case m.Gauge != nil:
		out[key(name, labels, "", 0)] = m.GetGauge().GetValue()
	default:
		out[key(name, labels, "", 0)] = m.GetUntyped().GetValue()
	}
}

// key spells a series as the text format does, with the extra label (le
// or quantile, when not "") last.
func key(name string, labels []*dto.LabelPair, extra string, v float64) string {
	labels = slices.SortedFunc(slices.Values(labels), func(a, b *dto.LabelPair) int {
		return strings.Compare(a.GetName(), b.GetName())
	})
	pairs := make([]string, 0, len(labels)+1)
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	if extra != "" {
		pairs = append(pairs, extra+`="`+formatFloat(v)+`"`)
	}
	if len(pairs) == 0 {
		return name
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// formatFloat formats an le or quantile value as client_golang writes it.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	default:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
}
