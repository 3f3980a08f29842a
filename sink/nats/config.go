package nats

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Stream and subjects.
const (
	// StreamName is the JetStream stream the partials go to.
	StreamName = "ROLLCALL_PARTIALS"
	// SubjectPrefix is the subject prefix of every partial; the stream
	// captures SubjectPrefix + ".>".
	SubjectPrefix = "rollcall.v1.partials"
	// AnnounceSubject + "." + gateway id is where a gateway announces
	// itself (core NATS, no body) so that a central tier learns it; it
	// crosses a leaf-node link only while the hub listens.
	AnnounceSubject = "rollcall.v1.gateways"
)

// Defaults and limits for Config.
const (
	// DefaultMaxAge is how long the stream keeps a partial.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxBytes bounds the stream's size (1 GiB).
	DefaultMaxBytes = 1 << 30
	// DefaultPublishTimeout bounds one publish attempt, acknowledgement
	// included.
	DefaultPublishTimeout = 5 * time.Second
	// DefaultPublishAttempts is the publish attempts per partial, the first
	// one included; 0 means until it is published or the gateway shuts
	// down, so that a NATS outage delays partials but never drops one.
	DefaultPublishAttempts = 0
	// DefaultRetryBackoff is the wait before the first retry; it doubles
	// for each further retry, up to MaxRetryBackoff, with jitter.
	DefaultRetryBackoff = 200 * time.Millisecond
	// MaxRetryBackoff caps the wait between two attempts.
	MaxRetryBackoff = 5 * time.Second
	// MaxPublishAttempts bounds a limited Config.PublishAttempts.
	MaxPublishAttempts = 10
	// DuplicateWindow is the stream's duplicate-detection window for
	// Nats-Msg-Id (capped at MaxAge).
	DuplicateWindow = 2 * time.Minute
)

// Config configures the sink. Zero fields mean the defaults.
type Config struct {
	// Enabled adds the sink to the gateway. Default: false.
	Enabled bool `yaml:"enabled"`
	// URL is the NATS server, e.g. nats://host:4222 (tls:// for TLS; a
	// comma-separated list for a cluster). Default: the embedded broker's
	// NATS listener when the gateway runs one; required otherwise.
	URL string `yaml:"url"`
	// CredsFile is a NATS credentials file (user JWT and seed), for servers
	// with decentralised auth. Default: none (or user:password in URL).
	CredsFile string `yaml:"creds_file"`
	// GatewayID names this gateway in every partial; a tier above merges
	// the partials of different gateways and replaces one gateway's older
	// revisions. Keep it unique and stable. Default: mqtt.client_id.
	GatewayID string `yaml:"gateway_id"`
	// MaxAge is how long the stream keeps a partial, when New creates the
	// stream. Default: 24h.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes bounds the stream's size in bytes, when New creates the
	// stream; the oldest partials are discarded. Default: 1073741824 (1 GiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// PublishTimeout bounds one publish attempt, waiting for the stream's
	// acknowledgement included. Default: 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// PublishAttempts is how often a partial is tried, the first attempt
	// included, before it is dropped and counted. 1 to 10, or 0: until it
	// is published or the gateway shuts down (the sink's fan-out queue then
	// holds the partials that follow). Default: 0.
	PublishAttempts int `yaml:"publish_attempts"`
	// RetryBackoff is the wait before the first retry; it doubles for every
	// further one, up to 5s, with jitter. Default: 200ms.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
}

// WithDefaults returns c with zero fields set to their defaults (URL and
// GatewayID are the gateway's to fill).
func (c Config) WithDefaults() Config {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	return c
}

// Validate reports every problem with c at once. An empty URL is accepted
// here (the gateway fills it in or requires it).
func (c Config) Validate() error {
	var errs []error
	for _, u := range strings.Split(c.URL, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Host == "" {
			errs = append(errs, fmt.Errorf("nats.url: %q is not a URL such as nats://host:4222", u))
		}
	}
	if c.GatewayID == "" || len(c.GatewayID) > 128 {
		errs = append(errs, fmt.Errorf("nats.gateway_id: %q must be 1 to 128 bytes", c.GatewayID))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("nats.max_age: %v must be positive", c.MaxAge))
	}
	if c.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("nats.max_bytes: %d must be positive", c.MaxBytes))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("nats.publish_timeout: %v must be positive", c.PublishTimeout))
	}
	if c.PublishAttempts < 0 || c.PublishAttempts > MaxPublishAttempts {
		errs = append(errs, fmt.Errorf("nats.publish_attempts: %d must be between 0 (until published) and %d", c.PublishAttempts, MaxPublishAttempts))
	}
	if c.RetryBackoff <= 0 {
		errs = append(errs, fmt.Errorf("nats.retry_backoff: %v must be positive", c.RetryBackoff))
	}
	return errors.Join(errs...)
}

// RedactedURL returns URL with any password replaced by "xxxxx", for logs.
func (c Config) RedactedURL() string {
	parts := strings.Split(c.URL, ",")
	for i, u := range parts {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil {
			parts[i] = p.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
