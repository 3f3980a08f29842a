package testserver

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

func TestIntegrationPrometheusHelper(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts prometheus")
	}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_value", Help: "A test gauge."}, []string{"site"})
	reg.MustRegister(g)
	g.WithLabelValues("a").Set(41.5)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()
	host := strings.TrimPrefix(target.URL, "http://")

	srv := Prometheus(t, host)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	srv.WaitTarget(host)

	v, err := srv.Query(`probe_value{site="a"}`)
	require.NoError(t, err)
	require.Len(t, v, 1)
	require.Equal(t, 41.5, v[0].Value)
	require.Equal(t, "rollcall", v[0].Metric["job"])
	require.WithinDuration(t, time.Now(), v[0].Time, time.Minute)

	// A changed value shows up within a few scrapes.
	g.WithLabelValues("a").Set(7)
	require.Eventually(t, func() bool {
		v, err := srv.Query(`probe_value{site="a"} == 7`)
		return err == nil && len(v) == 1
	}, 10*time.Second, 100*time.Millisecond)

	_, err = srv.Query(`probe_value{`)
	require.Error(t, err, "a bad query is an error")
	_, err = srv.Query(`scalar(probe_value)`)
	require.ErrorContains(t, err, "want vector")
}
