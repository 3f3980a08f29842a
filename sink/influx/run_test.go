package influx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// bubbleSink is a sink inside a synctest bubble: fake time, the fake server
// served in memory, the default (timer) sleeper.
func bubbleSink(t *testing.T, fake *fakeInflux, dir string, edit ...func(*Config)) *Sink {
	t.Helper()
	cfg := testConfig("http://influx.test:8086", dir, nil)
	cfg.Sleep = nil
	cfg.Transport = handlerTransport{fake}
	// Fake time is free: a cool-down far longer than the retries' backoff
	// (at most 10 + 20 ms) keeps the steps apart.
	cfg.BreakerCooldown = 10 * time.Second
	for _, e := range edit {
		e(&cfg)
	}
	s, _ := newSink(t, cfg)
	return s
}

func expectSums(as []aggregate.Aggregate) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprint(float64(a.Stats.Sum.Value))
	}
	return out
}

// A partial batch waits FlushInterval; a full one goes at once.
func TestRunBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, t.TempDir())
		run(t, s)

		writeAll(t, s, windows(3)...)
		synctest.Wait()
		require.Equal(t, 0, fake.requests(), "a partial batch waits")
		time.Sleep(s.cfg.FlushInterval)
		synctest.Wait()
		require.Equal(t, 1, fake.requests())
		require.Len(t, fake.written(), 15)

		// BatchSize 50 points = 10 aggregates: sent when the 10th arrives.
		writeAll(t, s, windows(10)...)
		synctest.Wait()
		require.Equal(t, 2, fake.requests(), "a full batch goes without waiting")
		require.Len(t, fake.written(), 65)
		require.Equal(t, 65.0, counter(s.m.points))
		require.Equal(t, 0.0, counter(s.m.spooled))
	})
}

// An outage: the breaker opens, aggregates go to the spool, and when the
// server is back the spool drains in order, each aggregate once, while new
// aggregates queue behind it.
func TestRunOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.set(response{status: http.StatusServiceUnavailable})
		s := bubbleSink(t, fake, t.TempDir())
		run(t, s)
		all := windows(30)

		writeAll(t, s, all[:10]...) // a full batch: tried, retried, spooled
		time.Sleep(time.Second)
		synctest.Wait()
		// 1 + MaxRetries attempts; BreakerFailures is 3.
		require.Equal(t, 3, fake.requests())
		require.Equal(t, float64(StateOpen), counter(s.m.circuit), "breaker open")
		require.Equal(t, 10.0, counter(s.m.spoolRecords))
		require.Positive(t, counter(s.m.spoolBytes))

		writeAll(t, s, all[10:20]...) // straight to the spool: no request
		time.Sleep(s.cfg.FlushInterval)
		synctest.Wait()
		require.Equal(t, 3, fake.requests(), "no request while open")
		require.Equal(t, 20.0, counter(s.m.spoolRecords))

		// The cool-down ends: a probe fails and re-opens the breaker.
		time.Sleep(s.cfg.BreakerCooldown)
		synctest.Wait()
		require.Equal(t, 4, fake.requests(), "one probe")
		require.Equal(t, float64(StateOpen), counter(s.m.circuit))

		fake.set(response{status: http.StatusNoContent})
		time.Sleep(s.cfg.BreakerCooldown)
		synctest.Wait()
		require.Equal(t, float64(StateClosed), counter(s.m.circuit), "probe succeeded")
		require.Equal(t, 0.0, counter(s.m.spoolRecords), "drained")
		require.Equal(t, 0.0, counter(s.m.spoolBytes))

		writeAll(t, s, all[20:]...) // direct again
		time.Sleep(s.cfg.FlushInterval)
		synctest.Wait()
		require.Equal(t, expectSums(all), fake.sums(), "every aggregate once, in order")
		require.Equal(t, 150.0, counter(s.m.points))
		require.Equal(t, 100.0, counter(s.m.spooled))
		require.Equal(t, 0.0, s.dropped(DropSpoolFull)+s.dropped(DropSpoolError))
	})
}

// Revisions of one window keep their order through the spool, so the
// latest revision is the one InfluxDB keeps.
func TestRunRevisionsKeepOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.set(response{status: http.StatusInternalServerError})
		s := bubbleSink(t, fake, t.TempDir())
		run(t, s)
		var as []aggregate.Aggregate
		for rev := range 4 {
			as = append(as, agg("site-a", "power_kw", 0, rev), agg("site-a", "power_kw", 10, rev))
		}
		writeAll(t, s, as[:3]...)
		time.Sleep(time.Second) // flush, retry, spool
		synctest.Wait()
		require.Equal(t, 3.0, counter(s.m.spoolRecords))
		fake.set(response{status: http.StatusNoContent})
		writeAll(t, s, as[3:]...) // behind the spool
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, expectSums(as), fake.sums())
		require.Equal(t, 0.0, counter(s.m.spoolRecords))
	})
}

// A Retry-After longer than BackoffMax is not waited out in place: the
// batch is spooled, and nothing is sent before Retry-After has passed.
func TestRunRetryAfterDefersDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake(response{status: http.StatusTooManyRequests, retryAfter: "30"})
		s := bubbleSink(t, fake, t.TempDir())
		run(t, s)
		writeAll(t, s, windows(2)...)
		time.Sleep(s.cfg.FlushInterval)
		synctest.Wait()
		require.Equal(t, 1, fake.requests())
		require.Equal(t, 2.0, counter(s.m.spoolRecords))
		require.Equal(t, float64(StateClosed), counter(s.m.circuit), "one failure does not open it")

		time.Sleep(29 * time.Second)
		synctest.Wait()
		require.Equal(t, 1, fake.requests(), "Retry-After honoured")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Equal(t, 2, fake.requests())
		require.Equal(t, 0.0, counter(s.m.spoolRecords))
		require.Equal(t, expectSums(windows(2)), fake.sums())
	})
}

// 401 (a wrong token) is logged as an error for a human, once per interval,
// and the aggregates are kept in the spool until the config is fixed.
func TestRunConfigErrorKeepsSpooling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.set(response{status: http.StatusUnauthorized})
		var logs testserver.LogBuffer
		cfg := testConfig("http://influx.test:8086", t.TempDir(), nil)
		cfg.Sleep, cfg.Transport = nil, handlerTransport{fake}
		s, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		run(t, s)
		for i := range 5 {
			writeAll(t, s, agg("site-a", "power_kw", 10*i, 0))
			time.Sleep(time.Second)
			synctest.Wait()
		}
		require.Equal(t, 5.0, counter(s.m.spoolRecords))
		require.Equal(t, float64(StateOpen), counter(s.m.circuit))
		require.Positive(t, s.writes(ResultConfigError))
		require.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
		require.Contains(t, logs.String(), "check url, token")
	})
}

// When Run stops, it spools its partial batch; Write then spools directly;
// after Close, Write fails. The next sink on the same dir drains it all.
func TestRunShutdownAndRestart(t *testing.T) {
	dir := t.TempDir()
	all := windows(6)
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, dir, func(c *Config) { c.FlushInterval = time.Hour })
		stop := run(t, s)
		writeAll(t, s, all[:3]...)
		synctest.Wait()
		require.Equal(t, 0, fake.requests())
		stop()
		require.Equal(t, 3.0, counter(s.m.spoolRecords), "the partial batch is spooled at shutdown")
		writeAll(t, s, all[3:]...) // the fan-out's drain, after Run
		require.Equal(t, 6.0, counter(s.m.spoolRecords))
		require.NoError(t, s.Close())
		require.ErrorIs(t, s.Write(context.Background(), all[0]), ErrClosed)
		require.Error(t, s.Run(context.Background()), "Run after Close")
		require.Equal(t, 0, fake.requests())
	})
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, dir)
		require.Equal(t, 6.0, counter(s.m.spoolRecords), "reopened")
		run(t, s)
		synctest.Wait()
		require.Equal(t, expectSums(all), fake.sums())
		require.Equal(t, 0.0, counter(s.m.spoolRecords))
		ack, err := os.ReadFile(filepath.Join(dir, spoolAckedFile))
		require.NoError(t, err)
		require.Equal(t, "6\n", string(ack))
	})
}

// Close refuses while Run runs; Write honours its context while Run is not
// taking aggregates.
func TestRunLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bubbleSink(t, newFake(), t.TempDir())
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.ErrorIs(t, s.Write(ctx, agg("a", "m", 0, 0)), context.DeadlineExceeded, "Run not started")
		stop := run(t, s)
		synctest.Wait()
		require.Error(t, s.Close())
		require.Error(t, s.Run(context.Background()), "Run twice")
		stop()
		require.NoError(t, s.Close())
	})
}

// Spooled records the journal cannot read back (a damaged segment) are
// skipped and counted as spool_error; the rest drain in order.
func TestRunCorruptSpoolRecordsSkipped(t *testing.T) {
	dir := t.TempDir()
	all := windows(40)
	edit := func(c *Config) { c.Spool.Compression, c.Spool.BlockBytes = "none", 512 }
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.set(response{status: http.StatusInternalServerError})
		s := bubbleSink(t, fake, dir, edit, func(c *Config) { c.MaxRetries = -1 })
		stop := run(t, s)
		writeAll(t, s, all...)
		time.Sleep(time.Second)
		synctest.Wait()
		stop()
		require.Equal(t, 40.0, counter(s.m.spoolRecords))
	})
	// Damage the middle of the oldest segment (not the last one, which
	// Open would repair by cutting its tail).
	segs, err := filepath.Glob(filepath.Join(dir, spoolJournalDir, "*.seg"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 2, "several segments")
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	for i := len(b) / 3; i < len(b)/3+64; i++ {
		b[i] ^= 0xff
	}
	require.NoError(t, os.WriteFile(segs[0], b, 0o640))

	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, dir, edit)
		run(t, s)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, 0.0, counter(s.m.spoolRecords), "drained past the damage")
		got := fake.sums()
		lost := len(all) - len(got)
		require.Positive(t, lost)
		require.Equal(t, float64(lost*PointsPerAggregate), s.dropped(DropSpoolError), "every lost aggregate counted")
		want := expectSums(all)
		// What arrived is the spool minus a contiguous run, in order.
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		require.Equal(t, want[i+lost:], got[i:], "order kept after the gap")
	})
}
