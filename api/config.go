package api

import (
	"errors"
	"fmt"
	"net"
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
	// ShutdownTimeout bounds the graceful shutdown of Serve: requests still
	// running after it are cut off.
	ShutdownTimeout = 5 * time.Second
)

// Config configures the HTTP server. The zero value means the defaults.
type Config struct {
	// Addr is the listen address (host:port) of Serve without a listener.
	// Default: ":8080".
	Addr string `yaml:"addr"`
	// MaxLimit is the most windows a history answer may hold; a larger
	// limit parameter is refused with 400. Default: 10000.
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
	// refused with 431. Default: 16384.
	MaxHeaderBytes int `yaml:"max_header_bytes"`

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
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"query_timeout", c.QueryTimeout},
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
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
