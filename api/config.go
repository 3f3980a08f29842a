package api

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Defaults for Config.
const (
	// DefaultAddr is the HTTP listen address.
	DefaultAddr = ":8080"
	// DefaultMaxLimit is the most windows one history answer may hold.
	DefaultMaxLimit = 10000
	// DefaultLimit is the windows a history answer holds when the request
	// has no limit parameter (1 h of 10 s windows).
	DefaultLimit = 360
	// DefaultQueryTimeout bounds one engine query.
	DefaultQueryTimeout = 5 * time.Second
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of the response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a request's headers.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxURLBytes bounds a request's path and query string.
	DefaultMaxURLBytes = 4 << 10
	// DefaultMaxBodyBytes bounds a request's body. Every endpoint is GET, so
	// a body is never needed.
	DefaultMaxBodyBytes = 4 << 10
	// DefaultMaxRange bounds the time range of one history query.
	DefaultMaxRange = 24 * time.Hour
	// DefaultMaxStreams bounds the Server-Sent Events streams open at once.
	DefaultMaxStreams = 32
	// DefaultStreamHeartbeat is how often an idle stream gets a comment
	// line, so that proxies keep it open and a vanished client is noticed.
	DefaultStreamHeartbeat = 15 * time.Second
	// MinTokenLen is the shortest bearer token accepted.
	MinTokenLen = 16
	// ShutdownTimeout bounds the graceful shutdown of Serve: requests still
	// running after it are cut off.
	ShutdownTimeout = 5 * time.Second
)

// Config configures the HTTP server. The zero value means the defaults.
type Config struct {
	// Addr is the listen address (host:port) of Serve without a listener.
	// Default: ":8080".
	Addr string `yaml:"addr"`
	// MaxLimit is the most aggregates (points) one history answer holds: a
	// larger limit parameter is refused with 400 limit_too_large, and with
	// revisions=all a page ends early, at a whole window, to stay within it
	// (next_cursor continues). Default: 10000.
	MaxLimit int `yaml:"max_limit"`
	// DefaultLimit is the windows of a history answer whose request has no
	// limit parameter. At most MaxLimit. Default: 360.
	DefaultLimit int `yaml:"default_limit"`
	// QueryTimeout bounds each engine query of a request; past it the
	// request fails with 503 unavailable. Less than WriteTimeout.
	// Default: 5s.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers. At most
	// ReadTimeout. Default: 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request. Default: 10s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response. Default: 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	// Default: 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers, in bytes; larger ones are
	// refused with 431 (plain text, by net/http). Default: 16384.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxURLBytes bounds a request's path and query string, in bytes;
	// longer ones are refused with 414 uri_too_long. At most MaxHeaderBytes.
	// Default: 4096.
	MaxURLBytes int `yaml:"max_url_bytes"`
	// MaxBodyBytes bounds a request's body, in bytes; larger ones are
	// refused with 413 too_large. Default: 4096.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxRange bounds the time range of a history query, to − from; a
	// wider one is refused with 400 range_too_large. A query without from
	// starts MaxRange before to (or before now). Default: 24h.
	MaxRange time.Duration `yaml:"max_range"`
	// MaxStreams bounds the Server-Sent Events streams open at once; more
	// are refused with 429 too_many_streams. Default: 32.
	MaxStreams int `yaml:"max_streams"`
	// StreamHeartbeat is how often an idle stream gets a comment line.
	// Default: 15s.
	StreamHeartbeat time.Duration `yaml:"stream_heartbeat"`

	// Token, when set, is the bearer token every /api/v1 request must carry
	// ("Authorization: Bearer <token>"), compared in constant time; others
	// get 401 unauthorized. /healthz, /readyz and the status page's static
	// files never need it; /metrics only with MetricsAuth. At least 16
	// characters, no spaces. It never appears in logs. Default: none, no
	// authentication.
	Token Secret `yaml:"token"`
	// MetricsAuth puts /metrics behind Token as well (Prometheus then needs
	// `authorization: {credentials: <token>}`). Default: false, so that
	// scrapers need no secret.
	MetricsAuth bool `yaml:"metrics_auth"`
	// TLSCert and TLSKey are PEM files of the server's certificate (chain)
	// and private key. With both set the server speaks only HTTPS (TLS 1.2
	// or later). Default: plain HTTP.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Pprof serves Go's runtime profiles under /debug/pprof (heap, allocs,
	// goroutine, profile, trace, ...) behind Token, so an operator can
	// profile a gateway in the field. It needs Token unless Addr is a
	// loopback address. Default: false.
	Pprof bool `yaml:"pprof"`

	// Now is the gateway clock, for the status page and log throttling.
	// Default: time.Now.
	Now func() time.Time `yaml:"-"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = DefaultMaxLimit
	}
	if c.DefaultLimit == 0 {
		c.DefaultLimit = min(DefaultLimit, c.MaxLimit)
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxURLBytes == 0 {
		c.MaxURLBytes = min(DefaultMaxURLBytes, c.MaxHeaderBytes)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxRange == 0 {
		c.MaxRange = DefaultMaxRange
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.StreamHeartbeat == 0 {
		c.StreamHeartbeat = DefaultStreamHeartbeat
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem with c at once. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("http.addr: %q is not host:port: %w", c.Addr, err))
	}
	if c.MaxLimit < 1 {
		errs = append(errs, fmt.Errorf("http.max_limit: %d must be positive", c.MaxLimit))
	}
	if c.DefaultLimit < 1 {
		errs = append(errs, fmt.Errorf("http.default_limit: %d must be positive", c.DefaultLimit))
	} else if c.MaxLimit >= 1 && c.DefaultLimit > c.MaxLimit {
		errs = append(errs, fmt.Errorf("http.default_limit: %d exceeds http.max_limit %d", c.DefaultLimit, c.MaxLimit))
	}
	if c.MaxHeaderBytes < 1 {
		errs = append(errs, fmt.Errorf("http.max_header_bytes: %d must be positive", c.MaxHeaderBytes))
	}
	if c.MaxURLBytes < 1 {
		errs = append(errs, fmt.Errorf("http.max_url_bytes: %d must be positive", c.MaxURLBytes))
	} else if c.MaxHeaderBytes >= 1 && c.MaxURLBytes > c.MaxHeaderBytes {
		errs = append(errs, fmt.Errorf("http.max_url_bytes: %d exceeds http.max_header_bytes %d", c.MaxURLBytes, c.MaxHeaderBytes))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("http.max_body_bytes: %d is negative", c.MaxBodyBytes))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("http.max_streams: %d must be positive", c.MaxStreams))
	}
	if t := string(c.Token); t != "" {
		if len(t) < MinTokenLen {
			errs = append(errs, fmt.Errorf("http.token: must be at least %d characters", MinTokenLen))
		}
		if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			errs = append(errs, errors.New("http.token: must not contain spaces or control characters"))
		}
	}
	if c.MetricsAuth && c.Token == "" {
		errs = append(errs, errors.New("http.metrics_auth: needs http.token"))
	}
	if c.Pprof && c.Token == "" && !loopbackAddr(c.Addr) {
		errs = append(errs, fmt.Errorf("http.pprof: needs http.token when http.addr %q is not a loopback address", c.Addr))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("http.tls_cert and http.tls_key: set both or neither"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"query_timeout", c.QueryTimeout},
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"max_range", c.MaxRange},
		{"stream_heartbeat", c.StreamHeartbeat},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("http.%s: %v must be positive", d.name, d.v))
		}
	}
	if c.ReadHeaderTimeout > 0 && c.ReadTimeout > 0 && c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, fmt.Errorf("http.read_header_timeout: %v exceeds http.read_timeout %v", c.ReadHeaderTimeout, c.ReadTimeout))
	}
	// A query that may run as long as the whole response is allowed to
	// take leaves no time to write its error: the client would see a reset
	// connection instead of a 503.
	if c.QueryTimeout > 0 && c.WriteTimeout > 0 && c.QueryTimeout >= c.WriteTimeout {
		errs = append(errs, fmt.Errorf("http.query_timeout: %v must be less than http.write_timeout %v", c.QueryTimeout, c.WriteTimeout))
	}
	return errors.Join(errs...)
}
