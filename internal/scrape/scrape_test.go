package scrape

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	m, err := Parse(strings.NewReader(`# HELP rollcall_messages_total x
# TYPE rollcall_messages_total counter
rollcall_messages_total{outcome="accepted"} 41
rollcall_messages_total{outcome="rejected"} 1
rollcall_ingest_dropped_total{reason="overload"} 7
process_resident_memory_bytes 1.2e+07
`))
	require.NoError(t, err)
	require.Equal(t, Samples{
		`rollcall_messages_total{outcome="accepted"}`:      41,
		`rollcall_messages_total{outcome="rejected"}`:      1,
		`rollcall_ingest_dropped_total{reason="overload"}`: 7,
		"process_resident_memory_bytes":                    1.2e7,
	}, m)
}

func TestParseBad(t *testing.T) {
	for name, in := range map[string]string{
		"no value":     "garbage\n",
		"bad value":    "rollcall_x one\n",
		"bad label":    "rollcall_x{a=b} 1\n",
		"type clash":   "# TYPE rollcall_x counter\n# TYPE rollcall_x gauge\n",
		"second TYPE":  "rollcall_x 1\n# TYPE rollcall_x counter\n",
		"unterminated": "rollcall_x{a=\"b} 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(in))
			require.ErrorContains(t, err, "scrape: ")
		})
	}
}

// TestGet scrapes what client_golang exposes and finds each sample under
// the series the text format spells.
func TestGet(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollcall_x_total", Help: "x"}, []string{"zone", "a"})
	c.WithLabelValues("z", "1").Add(3)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rollcall_queue_length", Help: "q"})
	g.Set(5)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rollcall_emit_seconds", Help: "h", Buckets: []float64{0.5, 1}})
	h.Observe(0.25)
	h.Observe(2)
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "rollcall_lag_seconds", Help: "s", Objectives: map[float64]float64{0.5: 0.05}})
	s.Observe(4)
	reg.MustRegister(c, g, h, s)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	m, err := Get(t.Context(), nil, srv.URL)
	require.NoError(t, err)
	require.Equal(t, Samples{
		`rollcall_x_total{a="1",zone="z"}`:        3,
		"rollcall_queue_length":                   5,
		`rollcall_emit_seconds_bucket{le="0.5"}`:  1,
		`rollcall_emit_seconds_bucket{le="1"}`:    1,
		`rollcall_emit_seconds_bucket{le="+Inf"}`: 2,
		"rollcall_emit_seconds_sum":               2.25,
		"rollcall_emit_seconds_count":             2,
		`rollcall_lag_seconds{quantile="0.5"}`:    4,
		"rollcall_lag_seconds_sum":                4,
		"rollcall_lag_seconds_count":              1,
	}, m)

	_, err = Get(t.Context(), srv.Client(), srv.URL+"/nope\x7f")
	require.ErrorContains(t, err, "scrape: ")
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	_, err = Get(t.Context(), nil, notFound.URL)
	require.ErrorContains(t, err, "404")
}
