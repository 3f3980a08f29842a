package prom

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/fakeclock"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// TestSeriesExpiry: a pair without an aggregate for longer than SeriesTTL
// leaves the exposition and is counted; one that keeps receiving (even
// aggregates older than the kept one) stays; a zero TTL never expires.
func TestSeriesExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fakeclock.New(t0)
	s, reg := newSink(t, Config{SeriesTTL: time.Minute, Now: clk.Now})
	gone, kept := agg(t0, 0, false, 1), agg(t0, 1, false, 1)
	gone.Metric = "gone_kw"
	require.NoError(t, s.Write(ctx, gone))
	require.NoError(t, s.Write(ctx, kept))
	clk.Add(45 * time.Second)
	require.NoError(t, s.Write(ctx, agg(t0, 0, false, 1)), "an older revision still says the pair exists")
	clk.Add(30 * time.Second)
	n, err := testutil.GatherAndCount(reg, "rollcall_group_coverage_ratio")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Contains(t, s.series, key{"site-a", "power_kw"})
	_, err = testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(s.expired), "counted once, however many scrapes")

	never, _ := newSink(t, Config{Now: clk.Now})
	require.NoError(t, never.Write(ctx, gone))
	clk.Add(1000 * time.Hour)
	never.expire(clk.Now())
	require.Len(t, never.series, 1)
	require.Zero(t, testutil.ToFloat64(never.expired))
}

// TestSeriesExpiryMakesRoom: at max_series, an expired pair gives its
// place to a new one instead of the new one being dropped.
func TestSeriesExpiryMakesRoom(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(t0)
	s, _ := newSink(t, Config{MaxSeries: 1, SeriesTTL: time.Minute, Now: clk.Now})
	a, b := agg(t0, 0, false, 1), agg(t0, 0, false, 1)
	b.Metric = "other"
	require.NoError(t, s.Write(context.Background(), a))
	clk.Add(2 * time.Minute)
	require.NoError(t, s.Write(context.Background(), b))
	require.Contains(t, s.series, key{"site-a", "other"})
	require.Zero(t, testutil.ToFloat64(s.dropped.WithLabelValues(DropMaxSeries)))
	require.Equal(t, 1.0, testutil.ToFloat64(s.expired))
}

// TestIntegrationSeriesExpiry: a real Prometheus scrapes the sink; after
// the TTL the pair is gone from /metrics and Prometheus no longer returns
// its series (stale), while the expiry counter says why.
func TestIntegrationSeriesExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	clk := fakeclock.New(time.Now())
	s, reg := newSink(t, Config{SeriesTTL: time.Minute, Now: clk.Now})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	p := testserver.Prometheus(t, addr)
	require.NoError(t, s.Write(context.Background(), agg(t0, 0, false, 1)))
	p.WaitTarget(addr)

	const series = `rollcall_group_coverage_ratio{group="site-a",metric="power_kw"}`
	count := func(q string) func() bool {
		return func() bool {
			v, err := p.Query(q)
			return err == nil && len(v) == 1
		}
	}
	require.Eventually(t, count(series), 10*time.Second, 100*time.Millisecond, "present")

	clk.Add(time.Minute + time.Second)
	require.NotContains(t, scrape(t, srv.URL), "site-a", "gone from /metrics at once")
	require.Eventually(t, func() bool {
		v, err := p.Query(series)
		return err == nil && len(v) == 0
	}, 10*time.Second, 100*time.Millisecond, "stale in Prometheus after the next scrape")
	require.Eventually(t, count(`rollcall_prom_series_expired_total == 1`), 10*time.Second, 100*time.Millisecond)
	require.Eventually(t, count(`rollcall_prom_series == 0`), 10*time.Second, 100*time.Millisecond)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test against a local server
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
