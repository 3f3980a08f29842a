package influx

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/journal"
)

// eventually is the patience for a real server on a loaded machine.
const eventually = 60 * time.Second

// timeRange bounds queries around t0 (the machine's clock may be before
// the windows: InfluxQL must not stop at now()).
const timeRange = `time >= '2026-11-22T00:00:00Z' AND time < '2026-11-23T00:00:00Z'`

// integrationSink starts influxd (without Flux: these tests use InfluxQL)
// and a running sink writing to it through the 1.8 db/rp form.
func integrationSink(t *testing.T) (*testserver.InfluxServer, *Sink, *prometheus.Registry) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts influxd")
	}
	srv := testserver.InfluxDB(t, testserver.WithFlux(false))
	cfg := Config{
		URL: srv.URL, Database: srv.Database, RetentionPolicy: "autogen",
		BatchSize: 100, FlushInterval: 50 * time.Millisecond, Timeout: 2 * time.Second,
		MaxRetries: 2, BackoffInitial: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: 300 * time.Millisecond,
		Spool: journal.Config{Dir: t.TempDir(), SegmentBytes: journal.MinSegmentBytes, BlockBytes: 1024, MaxBytes: 1 << 20},
	}
	s, reg := newSink(t, cfg)
	run(t, s)
	return srv, s, reg
}

// metric returns the value of the registry's metric name with labels (a
// counter or gauge), so the tests read what /metrics would show.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func query(t *testing.T, srv *testserver.InfluxServer, q string) []testserver.InfluxRow {
	t.Helper()
	rows, err := srv.Query(q)
	require.NoError(t, err)
	return rows
}

// points counts the points of group per stat.
func points(t *testing.T, srv *testserver.InfluxServer, group string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range query(t, srv, fmt.Sprintf(
		`SELECT count(revision) FROM rollcall_aggregate WHERE "group"='%s' AND %s GROUP BY "stat"`, group, timeRange)) {
		out[r["stat"].(string)] = r["count"].(float64)
	}
	return out
}

// Aggregates are written with the DESIGN.md schema and read back with
// InfluxQL; unknown bounds are absent (null), not zero.
func TestIntegrationInfluxWriteAndQuery(t *testing.T) {
	srv, s, reg := integrationSink(t)
	var as []aggregate.Aggregate
	for i := range 6 {
		as = append(as, agg("site-a", "power_kw", 10*i, 0), agg("site-b", "power_kw", 10*i, 0))
	}
	as[len(as)-1].Final, as[len(as)-1].Quality = true, aggregate.QualityGood
	writeAll(t, s, as...)
	require.Eventually(t, func() bool {
		return metric(t, reg, "rollcall_influx_points_total") == float64(len(as)*PointsPerAggregate)
	}, eventually, 20*time.Millisecond)

	rows := query(t, srv, `SELECT value, lower, upper, reported, expected, reporting, partial, coverage, max_age_s, revision, final, quality
		FROM rollcall_aggregate WHERE "group"='site-a' AND "metric"='power_kw' AND "stat"='sum' AND `+timeRange)
	require.Len(t, rows, 6)
	for i, r := range rows {
		v := float64(10 * i * 100)
		require.Equal(t, t0.Add(time.Duration(10*i)*time.Second), r["time"], "timestamp = window start")
		require.Equal(t, testserver.InfluxRow{
			"time": r["time"], "value": v, "lower": v - 1, "upper": v + 1, "reported": v,
			"expected": 4.0, "reporting": 3.0, "partial": 1.0, "coverage": 0.75, "max_age_s": 1.5,
			"revision": 0.0, "final": false, "quality": "uncertain",
		}, r)
	}

	// NaN and +Inf bounds are left out: null in InfluxQL.
	rows = query(t, srv, `SELECT value, lower, upper FROM rollcall_aggregate
		WHERE "group"='site-b' AND "stat"='mean' AND `+timeRange+` LIMIT 1`)
	require.Len(t, rows, 1)
	require.Nil(t, rows[0]["lower"])
	require.Nil(t, rows[0]["upper"])
	rows = query(t, srv, `SELECT upper FROM rollcall_aggregate WHERE "stat"='max' AND "upper" > 0 AND `+timeRange)
	require.Empty(t, rows, "+Inf upper is not written")

	// One point per stat per aggregate; the final flag of the last window.
	require.Equal(t, map[string]float64{"sum": 6, "mean": 6, "min": 6, "max": 6, "count": 6}, points(t, srv, "site-b"))
	rows = query(t, srv, `SELECT value, final, quality FROM rollcall_aggregate
		WHERE "group"='site-b' AND "stat"='count' AND final = true AND `+timeRange)
	require.Len(t, rows, 1)
	require.Equal(t, 3.0, rows[0]["value"])
	require.Equal(t, "good", rows[0]["quality"])
	require.Equal(t, 0.0, metric(t, reg, "rollcall_influx_spool_records"))
	require.Equal(t, 0.0, metric(t, reg, "rollcall_influx_dropped_points_total", "reason", DropRejected))
}

// A revision overwrites its window's point: one point per series and time,
// holding the latest revision's values.
func TestIntegrationInfluxRevisionOverwrites(t *testing.T) {
	srv, s, reg := integrationSink(t)
	for rev := range 3 {
		a := agg("site-a", "power_kw", 0, rev)
		a.Final = rev == 2
		writeAll(t, s, a, agg("site-a", "power_kw", 10, rev))
		// Separate batches: the overwrite happens in InfluxDB, not here.
		require.Eventually(t, func() bool {
			return metric(t, reg, "rollcall_influx_points_total") == float64((rev+1)*2*PointsPerAggregate)
		}, eventually, 10*time.Millisecond)
	}
	require.Equal(t, map[string]float64{"sum": 2, "mean": 2, "min": 2, "max": 2, "count": 2}, points(t, srv, "site-a"))
	rows := query(t, srv, `SELECT value, revision, final FROM rollcall_aggregate
		WHERE "group"='site-a' AND "stat"='sum' AND `+timeRange)
	require.Len(t, rows, 2)
	require.Equal(t, testserver.InfluxRow{"time": t0, "value": 2.0, "revision": 2.0, "final": true}, rows[0])
	require.Equal(t, testserver.InfluxRow{"time": t0.Add(10 * time.Second), "value": 1002.0, "revision": 2.0, "final": false}, rows[1])
}

// An outage of several windows: writes spool, the breaker opens; after the
// restart the spool drains in order, every aggregate is present exactly
// once (with its latest revision), the spool is empty and the breaker
// closed.
func TestIntegrationInfluxOutage(t *testing.T) {
	srv, s, reg := integrationSink(t)
	state := func() float64 { return metric(t, reg, "rollcall_influx_circuit_state") }
	groups := []string{"site-a", "site-b"}
	var latest []aggregate.Aggregate // the last revision written per window
	emit := func(start, rev int) {
		for _, g := range groups {
			a := agg(g, "power_kw", start, rev)
			writeAll(t, s, a)
			latest = append(latest, a)
		}
	}

	for w := range 3 {
		emit(10*w, 0)
	}
	require.Eventually(t, func() bool { return metric(t, reg, "rollcall_influx_points_total") == 30 },
		eventually, 10*time.Millisecond, "written before the outage")
	require.Equal(t, float64(StateClosed), state())

	srv.Stop()
	for w := 3; w < 12; w++ {
		emit(10*w, 0)
	}
	emit(50, 1) // a revision of a window written during the outage
	emit(10, 1) // and of one written before it
	require.Eventually(t, func() bool { return state() == StateOpen }, eventually, 10*time.Millisecond, "breaker opens")
	require.Eventually(t, func() bool { return metric(t, reg, "rollcall_influx_spool_records") == 22 },
		eventually, 10*time.Millisecond, "the outage's aggregates are spooled")
	require.Positive(t, metric(t, reg, "rollcall_influx_spool_bytes"))
	require.Positive(t, metric(t, reg, "rollcall_influx_writes_total", "result", ResultNetworkError))

	srv.Restart()
	require.Eventually(t, func() bool {
		return metric(t, reg, "rollcall_influx_spool_records") == 0 && state() == StateClosed
	}, eventually, 20*time.Millisecond, "drained and closed")
	require.Equal(t, 0.0, metric(t, reg, "rollcall_influx_spool_bytes"))
	emit(120, 0) // direct again
	require.Eventually(t, func() bool {
		return metric(t, reg, "rollcall_influx_points_total") == float64(len(latest)*PointsPerAggregate)
	}, eventually, 10*time.Millisecond)

	for _, g := range groups {
		require.Equal(t, map[string]float64{"sum": 13, "mean": 13, "min": 13, "max": 13, "count": 13}, points(t, srv, g),
			"every window of %s exactly once", g)
		rows := query(t, srv, fmt.Sprintf(`SELECT value, revision FROM rollcall_aggregate
			WHERE "group"='%s' AND "stat"='sum' AND %s`, g, timeRange))
		require.Len(t, rows, 13)
		for i, r := range rows {
			rev := 0.0
			if i == 1 || i == 5 {
				rev = 1
			}
			require.Equal(t, testserver.InfluxRow{
				"time": t0.Add(time.Duration(10*i) * time.Second), "value": float64(1000*i) + rev, "revision": rev,
			}, r, "window %d of %s: its latest revision", i, g)
		}
	}
	for _, r := range []string{DropRejected, DropTooLarge, DropSpoolFull, DropSpoolError} {
		require.Equal(t, 0.0, metric(t, reg, "rollcall_influx_dropped_points_total", "reason", r), r)
	}
	require.Equal(t, float64(22*PointsPerAggregate), metric(t, reg, "rollcall_influx_spooled_points_total"))
}
