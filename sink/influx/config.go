package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/rollcall-iot/rollcall/journal"
)

// Defaults and limits for Config.
const (
	// DefaultBatchSize is the points per write request.
	DefaultBatchSize = 1000
	// DefaultFlushInterval is how long a partial batch waits for more points.
	DefaultFlushInterval = time.Second
	// DefaultTimeout bounds one write request.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRetries is the in-place retries of a failed batch before it
	// is spooled.
	DefaultMaxRetries = 2
	// DefaultBackoffInitial is the first retry's backoff cap.
	DefaultBackoffInitial = 100 * time.Millisecond
	// DefaultBackoffMax caps every backoff.
	DefaultBackoffMax = 5 * time.Second
	// DefaultBreakerFailures is the consecutive failed requests that open the
	// circuit breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerCooldown is how long the breaker stays open before it
	// lets one probe through.
	DefaultBreakerCooldown = 10 * time.Second
	// DefaultSpoolMaxBytes is the spool's byte limit (journal max_bytes).
	DefaultSpoolMaxBytes = 256 << 20
	// MaxRetryAfter caps a server's Retry-After, so a bogus header cannot
	// park the sink for hours.
	MaxRetryAfter = 5 * time.Minute
	// MaxBatchSize bounds BatchSize (InfluxDB recommends about 5000 lines).
	MaxBatchSize = 100_000
)

// Config configures the InfluxDB sink. Zero fields mean the defaults.
//
// Two addressing forms exist: InfluxDB 2.x and 3.x take Org and Bucket;
// InfluxDB 1.8+ (its /api/v2/write compatibility endpoint) takes Database
// and optionally RetentionPolicy, sent as bucket "db/rp". Set one form.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8086. Required.
	URL string `yaml:"url"`
	// Token is the API token (2.x/3.x), or "user:password" for a 1.8 server
	// with auth enabled; empty sends no Authorization header. Never logged.
	Token Secret `yaml:"token"`
	// Org is the organization (2.x/3.x form). Required with Bucket.
	Org string `yaml:"org"`
	// Bucket is the bucket (2.x/3.x form).
	Bucket string `yaml:"bucket"`
	// Database is the 1.8 database (1.8 form). It must exist: rollcall does
	// not create it.
	Database string `yaml:"database"`
	// RetentionPolicy is the 1.8 retention policy. Default: the database's
	// default policy.
	RetentionPolicy string `yaml:"retention_policy"`

	// BatchSize is the maximum points per write request (an aggregate is
	// PointsPerAggregate points and is never split across requests, except
	// when a 413 splits a batch). Default: 1000.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how long a partial batch waits for more points
	// before it is sent. Default: 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Timeout bounds one write request. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Gzip compresses request bodies.
	Gzip bool `yaml:"gzip"`

	// MaxRetries is how often a batch that failed with a retryable error is
	// retried in place (blocking the sink) before it goes to the spool.
	// Default: 2; -1 means no in-place retries.
	MaxRetries int `yaml:"max_retries"`
	// BackoffInitial caps the first retry's backoff; each retry doubles the
	// cap up to BackoffMax, and the wait is uniform in [0, cap) (full
	// jitter). Default: 100ms.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	// BackoffMax caps every backoff. A Retry-After longer than this is not
	// waited out in place: the batch is spooled and the spool drains after
	// it. Default: 5s.
	BackoffMax time.Duration `yaml:"backoff_max"`

	// BreakerFailures is the consecutive failed requests that open the
	// circuit breaker. Default: 5.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerCooldown is how long the breaker stays open before it lets a
	// single probe request through (half-open). Default: 10s.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`

	// Spool is the store-and-forward journal. Dir is required; the journal
	// lives in Dir/journal and the acknowledged index in Dir/acked.
	// MaxBytes defaults to DefaultSpoolMaxBytes (256 MiB); the other fields
	// default as in the journal package.
	Spool journal.Config `yaml:"spool"`

	// Devices configures the device snapshots (measurement
	// rollcall_device) the gateway writes besides the aggregates.
	Devices DevicesConfig `yaml:"devices"`

	// Transport carries the HTTP requests (TLS settings, proxies, tests).
	// Default: a clone of http.DefaultTransport.
	Transport http.RoundTripper `yaml:"-"`
	// Now is the clock. Default: time.Now.
	Now func() time.Time `yaml:"-"`
	// Sleep waits d or until ctx is done, returning ctx.Err() then. It
	// paces in-place retries. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error `yaml:"-"`
}

// Secret is a string that never appears in logs.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer, so %v does not print the secret either.
func (Secret) String() string { return "REDACTED" }

// LogValue implements slog.LogValuer: the addressing and limits, without the
// token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("bucket", c.bucket()),
		slog.String("org", c.Org),
		slog.Bool("token_set", c.Token != ""),
		slog.Int("batch_size", c.BatchSize),
		slog.Duration("flush_interval", c.FlushInterval),
		slog.String("spool_dir", c.Spool.Dir),
		slog.Int64("spool_max_bytes", c.Spool.MaxBytes),
		slog.Duration("devices_interval", c.Devices.Interval),
		slog.Int("devices_max", c.Devices.Max),
	)
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerCooldown == 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = DefaultSpoolMaxBytes
	}
	c.Devices = c.Devices.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("influx."+format, a...)) }
	if c.URL == "" {
		add("url: required")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url: %q is not an http(s) URL", c.URL)
	}
	switch {
	case c.Bucket != "" && c.Database != "":
		add("bucket, database: set bucket (2.x/3.x) or database (1.8), not both")
	case c.Bucket == "" && c.Database == "":
		add("bucket: required (or database for InfluxDB 1.8)")
	case c.Bucket != "" && c.Org == "":
		add("org: required with bucket")
	case c.Database == "" && c.RetentionPolicy != "":
		add("retention_policy: needs database")
	}
	if c.BatchSize < PointsPerAggregate || c.BatchSize > MaxBatchSize {
		add("batch_size: %d must be in [%d, %d] (one aggregate is %d points)", c.BatchSize, PointsPerAggregate, MaxBatchSize, PointsPerAggregate)
	}
	for name, d := range map[string]time.Duration{
		"flush_interval": c.FlushInterval, "timeout": c.Timeout, "backoff_initial": c.BackoffInitial,
		"backoff_max": c.BackoffMax, "breaker_cooldown": c.BreakerCooldown,
	} {
		if d <= 0 {
			add("%s: %v must be positive", name, d)
		}
	}
	if c.BackoffInitial > c.BackoffMax {
		add("backoff_initial: %v exceeds backoff_max %v", c.BackoffInitial, c.BackoffMax)
	}
	if c.MaxRetries < -1 {
		add("max_retries: %d must be >= -1 (-1: no in-place retries)", c.MaxRetries)
	}
	if c.BreakerFailures < 1 {
		add("breaker_failures: %d must be positive", c.BreakerFailures)
	}
	c.Devices.validate(add)
	if err := c.Spool.WithDefaults().Validate(); err != nil {
		// The journal names its keys without a section; add ours.
		for _, e := range unjoin(err) {
			add("spool.%v", e)
		}
	}
	return errors.Join(errs...)
}

// bucket is the bucket the write API addresses: Bucket, or "db/rp" (or
// "db") in the 1.8 form.
func (c Config) bucket() string {
	if c.Database == "" {
		return c.Bucket
	}
	if c.RetentionPolicy == "" {
		return c.Database
	}
	return c.Database + "/" + c.RetentionPolicy
}

// retries is MaxRetries with -1 mapped to 0.
func (c Config) retries() int { return max(c.MaxRetries, 0) }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
