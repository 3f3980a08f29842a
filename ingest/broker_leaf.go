package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultLeafReconnect is how long the embedded broker waits between two
// attempts to reach its hub while the leaf-node link is down.
const DefaultLeafReconnect = 2 * time.Second

// domainRE is what a JetStream domain may be: it becomes one token of the
// subject $JS.<domain>.API.
var domainRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidDomain reports whether name can be a JetStream domain (and so a
// federated gateway id): 1 to 128 ASCII letters, digits, '-' and '_'.
func ValidDomain(name string) bool { return domainRE.MatchString(name) }

// LeafRemote is the embedded broker's leaf-node link to a hub (the
// gateway's federation.upstream). The zero value means no link.
type LeafRemote struct {
	// URLs are the hub's leaf-node URLs, nats://host:7422 (tls:// for TLS;
	// several for a hub cluster). Empty: no link.
	URLs []string
	// CredsFile is a NATS credentials file (user JWT and seed) the link
	// authenticates with. Default: none.
	CredsFile string
	// CAFile verifies the hub's certificate; CertFile and KeyFile are this
	// gateway's client certificate, for hubs that require one. Any of them
	// turns TLS on. Default: none (plain, unless a URL is tls://).
	CAFile, CertFile, KeyFile string
	// Reconnect is the wait between two attempts while the link is down.
	// Default: DefaultLeafReconnect.
	Reconnect time.Duration
}

// Enabled reports whether a hub is configured.
func (r LeafRemote) Enabled() bool { return len(r.URLs) > 0 }

// validate checks the URLs and loads the TLS files once.
func (r LeafRemote) validate() error {
	if !r.Enabled() {
		return nil
	}
	var errs []error
	for _, u := range r.URLs {
		if p, err := url.Parse(u); err != nil || p.Host == "" || p.Port() == "" {
			errs = append(errs, fmt.Errorf("upstream: %q is not a URL such as nats://hub:7422", u))
		}
	}
	if _, err := r.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	if r.Reconnect < 0 {
		errs = append(errs, fmt.Errorf("upstream reconnect: %v is negative", r.Reconnect))
	}
	return errors.Join(errs...)
}

// tls reports whether the link uses TLS.
func (r LeafRemote) tls() bool {
	if r.CAFile != "" || r.CertFile != "" || r.KeyFile != "" {
		return true
	}
	for _, u := range r.URLs {
		if strings.HasPrefix(u, "tls://") {
			return true
		}
	}
	return false
}

// tlsConfig is the link's client TLS configuration, nil without TLS.
func (r LeafRemote) tlsConfig() (*tls.Config, error) {
	if !r.tls() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pool, err := loadCAPool(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		return nil, errors.New("upstream cert_file and key_file: set both or neither")
	}
	if r.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream cert_file and key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// applyLeaf adds the leaf-node remote and the JetStream domain to opts.
func applyLeaf(opts *server.Options, cfg BrokerConfig) error {
	opts.JetStreamDomain = cfg.Domain
	r := cfg.Upstream
	if !r.Enabled() {
		return nil
	}
	remote := &server.RemoteLeafOpts{Credentials: r.CredsFile}
	for _, u := range r.URLs {
		p, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		remote.URLs = append(remote.URLs, p)
	}
	tc, err := r.tlsConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		remote.TLS, remote.TLSConfig, remote.TLSTimeout = true, tc, 5
	}
	opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	opts.LeafNode.ReconnectInterval = r.Reconnect
	if r.Reconnect == 0 {
		opts.LeafNode.ReconnectInterval = DefaultLeafReconnect
	}
	return nil
}

// LeafConnected reports whether the leaf-node link to the hub is up; false
// without an upstream.
func (b *Broker) LeafConnected() bool {
	return b.srv.NumLeafNodes() > 0
}

// redacted returns the hub URLs with passwords replaced, for logs.
func (r LeafRemote) redacted() string {
	out := make([]string, 0, len(r.URLs))
	for _, u := range r.URLs {
		if p, err := url.Parse(u); err == nil {
			u = p.Redacted()
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}
