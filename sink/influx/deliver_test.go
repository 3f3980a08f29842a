package influx

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The failure classes of STYLE.md § 5.9, against an httptest.Server, one
// batch at a time through deliver (Run is not started, so nothing runs
// concurrently and the sleeper records every in-place wait).
func TestDeliverClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script []response
		// batch is the aggregates in the batch.
		batch int
		// retries overrides Config.MaxRetries.
		retries int
		// want: records done (written or dropped), points written, requests.
		wantDone, wantPoints, wantReqs int
		wantWrites                     map[string]float64
		wantDropped                    map[string]float64
		// wantWaits are the in-place waits; -1 means "some backoff in
		// [0, BackoffInitial·2^i)".
		wantWaits []time.Duration
		// wantSpool: the batch is left for the spool (deliver returned 0)
		// and the next drain is not before Retry-After.
		wantRetryAfter time.Duration
	}{
		{
			name: "success", batch: 3,
			wantDone: 3, wantPoints: 15, wantReqs: 1,
			wantWrites: map[string]float64{ResultSuccess: 1},
		},
		{
			name: "400 drops and counts", batch: 3, script: []response{{status: 400}},
			wantDone: 3, wantReqs: 1,
			wantWrites:  map[string]float64{ResultRejected: 1},
			wantDropped: map[string]float64{DropRejected: 15},
		},
		{
			name: "413 splits the batch", batch: 4, script: []response{{maxLines: 10}, {maxLines: 10}, {maxLines: 10}},
			// 4 aggregates = 20 lines: 413; halves of 10 lines pass.
			wantDone: 4, wantPoints: 20, wantReqs: 3,
			wantWrites: map[string]float64{ResultTooLarge: 1, ResultSuccess: 2},
		},
		{
			name: "413 of one aggregate drops it", batch: 2, script: []response{{maxLines: 4}, {maxLines: 4}, {maxLines: 4}},
			wantDone: 2, wantReqs: 3,
			wantWrites:  map[string]float64{ResultTooLarge: 3},
			wantDropped: map[string]float64{DropTooLarge: 10},
		},
		{
			name: "429 honours Retry-After", batch: 1, script: []response{{status: 429, retryAfter: "1"}},
			wantDone: 1, wantPoints: 5, wantReqs: 2,
			wantWrites: map[string]float64{ResultThrottled: 1, ResultSuccess: 1},
			wantWaits:  []time.Duration{time.Second},
		},
		{
			name: "503 with Retry-After beyond BackoffMax spools", batch: 1,
			script:   []response{{status: 503, retryAfter: "30"}},
			wantDone: 0, wantReqs: 1, wantRetryAfter: 30 * time.Second,
			wantWrites: map[string]float64{ResultThrottled: 1},
		},
		{
			name: "503 retries with backoff", batch: 2, script: []response{{status: 503}},
			wantDone: 2, wantPoints: 10, wantReqs: 2,
			wantWrites: map[string]float64{ResultThrottled: 1, ResultSuccess: 1},
			wantWaits:  []time.Duration{-1},
		},
		{
			name: "5xx retries then succeeds", batch: 2, script: []response{{status: 500}, {status: 502}},
			wantDone: 2, wantPoints: 10, wantReqs: 3,
			wantWrites: map[string]float64{ResultServerError: 2, ResultSuccess: 1},
			wantWaits:  []time.Duration{-1, -1},
		},
		{
			name: "5xx retries exhausted spools", batch: 2, script: []response{{status: 500}, {status: 500}, {status: 500}},
			wantDone: 0, wantReqs: 3,
			wantWrites: map[string]float64{ResultServerError: 3},
			wantWaits:  []time.Duration{-1, -1},
		},
		{
			name: "no in-place retries", batch: 1, retries: -1, script: []response{{status: 500}},
			wantDone: 0, wantReqs: 1,
			wantWrites: map[string]float64{ResultServerError: 1},
		},
		{
			name: "network error retries", batch: 1, script: []response{{hangup: true}},
			wantDone: 1, wantPoints: 5, wantReqs: 2,
			wantWrites: map[string]float64{ResultNetworkError: 1, ResultSuccess: 1},
			wantWaits:  []time.Duration{-1},
		},
		{
			name: "401 spools without retry", batch: 1, script: []response{{status: 401}},
			wantDone: 0, wantReqs: 1,
			wantWrites: map[string]float64{ResultConfigError: 1},
		},
		{
			name: "404 (no database) spools without retry", batch: 1, script: []response{{status: 404}},
			wantDone: 0, wantReqs: 1,
			wantWrites: map[string]float64{ResultConfigError: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(tt.script...)
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var sl sleeper
			cfg := testConfig(srv.URL, t.TempDir(), &sl)
			cfg.BreakerFailures = 10
			if tt.retries != 0 {
				cfg.MaxRetries = tt.retries
			}
			s, _ := newSink(t, cfg)
			batch := recs(windows(tt.batch)...)
			before := time.Now()

			done := s.deliver(context.Background(), batch)

			require.Equal(t, tt.wantDone, done, "records done")
			require.Equal(t, tt.wantReqs, fake.requests(), "requests")
			require.Len(t, fake.written(), tt.wantPoints, "points the server took")
			require.Equal(t, float64(tt.wantPoints), counter(s.m.points), "points_total")
			for _, r := range []string{
				ResultSuccess, ResultRejected, ResultTooLarge, ResultConfigError,
				ResultThrottled, ResultServerError, ResultNetworkError,
			} {
				require.Equal(t, tt.wantWrites[r], s.writes(r), "writes_total{result=%q}", r)
			}
			for _, r := range []string{DropRejected, DropTooLarge, DropSpoolFull, DropSpoolError} {
				require.Equal(t, tt.wantDropped[r], s.dropped(r), "dropped_points_total{reason=%q}", r)
			}
			waits := sl.get()
			require.Len(t, waits, len(tt.wantWaits), "in-place waits %v", waits)
			for i, w := range tt.wantWaits {
				if w >= 0 {
					require.Equal(t, w, waits[i])
					continue
				}
				require.GreaterOrEqual(t, waits[i], time.Duration(0))
				require.Less(t, waits[i], cfg.BackoffInitial<<i, "full jitter under the doubling cap")
			}
			if tt.wantDone < tt.batch {
				require.False(t, s.retryAt.IsZero(), "a failed delivery schedules the next drain")
				require.False(t, s.retryAt.Before(before.Add(tt.wantRetryAfter)), "no drain before Retry-After")
			}
		})
	}
}

// The write URL carries the 1.8 "db/rp" bucket, or org and bucket; the
// token goes in the Authorization header; gzip bodies are accepted.
func TestDeliverAddressing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(*Config)
		wantURL  string
		wantAuth string
	}{
		{"1.8 db/rp", func(*Config) {}, "/api/v2/write?bucket=telemetry%2Fautogen&org=&precision=ns", ""},
		{"1.8 db only", func(c *Config) { c.RetentionPolicy = "" }, "/api/v2/write?bucket=telemetry&org=&precision=ns", ""},
		{"2.x org and bucket", func(c *Config) {
			c.Database, c.RetentionPolicy, c.Org, c.Bucket, c.Token = "", "", "acme", "fleet", "s3cret"
		}, "/api/v2/write?bucket=fleet&org=acme&precision=ns", "Token s3cret"},
		{"gzip", func(c *Config) { c.Gzip = true }, "/api/v2/write?bucket=telemetry%2Fautogen&org=&precision=ns", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake()
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := testConfig(srv.URL+"/", t.TempDir(), &sleeper{})
			tt.edit(&cfg)
			s, _ := newSink(t, cfg)
			require.Equal(t, 1, s.deliver(context.Background(), recs(agg("site-a", "power_kw", 0, 0))))
			require.Equal(t, []string{tt.wantURL}, fake.urls)
			require.Equal(t, []string{tt.wantAuth}, fake.auth)
			require.Len(t, fake.written(), PointsPerAggregate)
		})
	}
}

// A request that outlives Config.Timeout is a retryable failure; one cut
// short by the sink's own context is neither a failure nor retried.
func TestDeliverTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	fake := newFake(response{block: true})
	fake.blocked = make(chan struct{}, 2)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := testConfig(srv.URL, t.TempDir(), &sleeper{})
	cfg.Timeout = 50 * time.Millisecond
	s, _ := newSink(t, cfg)
	require.Equal(t, 1, s.deliver(context.Background(), recs(agg("site-a", "power_kw", 0, 0))))
	require.Equal(t, 1.0, s.writes(ResultNetworkError), "timeout")
	require.Equal(t, 1.0, s.writes(ResultSuccess))

	fake.set(response{block: true})
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Timeout = time.Minute
	s.cfg.Timeout = time.Minute
	go func() {
		<-fake.blocked // the first timeout's request
		<-fake.blocked // this one
		cancel()
	}()
	require.Equal(t, 0, s.deliver(ctx, recs(agg("site-a", "power_kw", 10, 0))))
	require.Equal(t, 1.0, s.writes(ResultCanceled))
	require.Equal(t, 0, s.br.consecutive, "cancellation is not a breaker failure")
}

// A 400 means the server is healthy: it resets the breaker's failure count.
func TestDeliverRejectedKeepsBreakerClosed(t *testing.T) {
	t.Parallel()
	fake := newFake(response{status: 500}, response{status: 500}, response{status: 400})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := testConfig(srv.URL, t.TempDir(), &sleeper{})
	s, _ := newSink(t, cfg)
	require.Equal(t, 1, s.deliver(context.Background(), recs(agg("site-a", "power_kw", 0, 0))))
	require.Equal(t, 0, s.br.consecutive)
	require.Equal(t, float64(StateClosed), counter(s.m.circuit))
}
