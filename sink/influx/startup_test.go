package influx

import (
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/fakeclock"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// spoolBacklog leaves n aggregates in the spool in dir, as a run that
// could not reach InfluxDB does.
func spoolBacklog(t *testing.T, dir string, n int) {
	t.Helper()
	sp, _ := openTestSpool(t, testConfig("", dir, nil).Spool)
	require.NoError(t, sp.append(recs(windows(n)...)))
	require.NoError(t, sp.close())
}

// startupSink is a sink in a bubble over dir, logging to logs; with step,
// its clock moves a second at every reading.
func startupSink(t *testing.T, fake *fakeInflux, dir string, logs *testserver.LogBuffer, step bool) *Sink {
	t.Helper()
	cfg := testConfig("http://influx.test:8086", dir, nil)
	cfg.Sleep, cfg.Transport = nil, handlerTransport{fake}
	cfg.BatchSize = 2 * PointsPerAggregate // two aggregates a request
	if step {
		cfg.Now = fakeclock.NewStepping(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Second).Now
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The spool's start-up backlog is followed: DrainStatus says how far its
// drain is until it is done, and progress lines are logged meanwhile.
func TestStartupDrainProgress(t *testing.T) {
	dir := t.TempDir()
	spoolBacklog(t, dir, 40)
	synctest.Test(t, func(t *testing.T) {
		var logs testserver.LogBuffer
		fake := newFake()
		s := startupSink(t, fake, dir, &logs, true)
		st, ok := s.DrainStatus()
		require.True(t, ok, "a backlog to drain")
		require.Contains(t, st, "influx spool drain: 0 of 40 records (0%)")
		run(t, s)
		synctest.Wait()
		require.Len(t, fake.sums(), 40)
		_, ok = s.DrainStatus()
		require.False(t, ok, "drained")
		out := logs.String()
		require.Contains(t, out, `msg="influx spool drain progress"`, out)
		require.Contains(t, out, "records_total=40")
		require.Contains(t, out, `msg="influx spool drain done"`)
		require.Contains(t, out, "records=40")
	})
}

// An empty spool has nothing to follow; a drain InfluxDB refuses pauses,
// so that readiness does not wait for an outage.
func TestStartupDrainPaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := startupSink(t, newFake(), t.TempDir(), &testserver.LogBuffer{}, false)
		_, ok := s.DrainStatus()
		require.False(t, ok, "nothing spooled")
	})
	dir := t.TempDir()
	spoolBacklog(t, dir, 4)
	synctest.Test(t, func(t *testing.T) {
		var logs testserver.LogBuffer
		fake := newFake()
		fake.set(response{status: http.StatusServiceUnavailable})
		s := startupSink(t, fake, dir, &logs, false)
		_, ok := s.DrainStatus()
		require.True(t, ok)
		run(t, s)
		time.Sleep(10 * time.Second) // fake time: the retries' backoff passes
		synctest.Wait()
		_, ok = s.DrainStatus()
		require.False(t, ok, "paused: InfluxDB refuses")
		require.Equal(t, 4.0, counter(s.m.spoolRecords), "still spooled")
		require.Contains(t, logs.String(), `msg="influx spool drain paused`)
	})
}
