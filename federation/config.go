package federation

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Defaults for Config.
const (
	// DefaultLeafListen is the hub's leaf-node listen address.
	DefaultLeafListen = ":7422"
	// DefaultDomain is the central tier's own JetStream domain; it must
	// differ from every gateway's.
	DefaultDomain = "central"
	// DefaultSilentAfter is how long a gateway may stay quiet before the
	// central tier counts it silent whatever its learned rhythm says (phi
	// accrual decides earlier for a regular gateway).
	DefaultSilentAfter = 2 * time.Minute
	// DefaultMaxGateways bounds the gateway roster (configured plus
	// learned); a gateway past it is not sourced and is counted.
	DefaultMaxGateways = 10000
	// DefaultMaxWindows bounds the windows the merger keeps per group and
	// metric; older ones are dropped (they are final by then) and counted.
	DefaultMaxWindows = 64
	// DefaultFetchBatch is how many partials one pull from a gateway's
	// stream asks for.
	DefaultFetchBatch = 256
)

// Config is the federation section: the gateway side (Upstream and its
// credentials) and the central tier (everything else).
type Config struct {
	// Upstream is the hub's leaf-node URL (comma-separated for a hub
	// cluster), e.g. nats://hub:7422. Set on a gateway, it makes the
	// embedded nats-server a leaf node of the hub and turns the nats sink
	// on. Default: none.
	Upstream string `yaml:"upstream"`
	// CredsFile is the NATS credentials file of the leaf link. Default: none.
	CredsFile string `yaml:"creds_file"`
	// CAFile, CertFile and KeyFile configure TLS on the leaf link (the
	// hub's CA; this gateway's client certificate). Default: none.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`

	// LeafListen is the central hub's leaf-node listen address. Default:
	// DefaultLeafListen (":7422").
	LeafListen string `yaml:"leaf_listen"`
	// NATSURL joins an existing NATS cluster (with JetStream) instead of
	// embedding a hub. Default: none (embed).
	NATSURL string `yaml:"nats_url"`
	// NATSCredsFile is the credentials file for NATSURL. Default: none.
	NATSCredsFile string `yaml:"nats_creds_file"`
	// Domain is the central tier's JetStream domain. Default: "central".
	Domain string `yaml:"domain"`
	// Gateways is the roster: the gateway ids (their JetStream domains)
	// whose partials are sourced from the start. Others are learned from
	// their announcements. Default: none (learn every gateway).
	Gateways []string `yaml:"gateways"`
	// Learn sources gateways that announce themselves but are not on the
	// roster. Default: true.
	Learn *bool `yaml:"learn"`
	// Replicas is the replica count of the central streams (3 on a
	// three-node cluster). Default: 1.
	Replicas int `yaml:"replicas"`
	// SilentAfter caps how long a gateway may be quiet before it is
	// silent. Default: DefaultSilentAfter (2m).
	SilentAfter time.Duration `yaml:"silent_after"`
	// MaxGateways bounds the gateway roster. Default: 10000.
	MaxGateways int `yaml:"max_gateways"`
	// MaxWindows bounds the windows kept per group and metric. Default: 64.
	MaxWindows int `yaml:"max_windows"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.LeafListen == "" {
		c.LeafListen = DefaultLeafListen
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.Learn == nil {
		t := true
		c.Learn = &t
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.SilentAfter == 0 {
		c.SilentAfter = DefaultSilentAfter
	}
	if c.MaxGateways == 0 {
		c.MaxGateways = DefaultMaxGateways
	}
	if c.MaxWindows == 0 {
		c.MaxWindows = DefaultMaxWindows
	}
	return c
}

// Validate reports every problem with the central side of c at once.
func (c Config) Validate() error {
	var errs []error
	if !ingest.ValidDomain(c.Domain) {
		errs = append(errs, fmt.Errorf("federation.domain: %q must be 1 to 128 ASCII letters, digits, '-' or '_'", c.Domain))
	}
	if slices.Contains(c.Gateways, c.Domain) {
		errs = append(errs, fmt.Errorf("federation.gateways: %q is the central domain", c.Domain))
	}
	for _, g := range c.Gateways {
		if !ingest.ValidDomain(g) {
			errs = append(errs, fmt.Errorf("federation.gateways: %q must be 1 to 128 ASCII letters, digits, '-' or '_'", g))
		}
	}
	if c.NATSURL != "" {
		if p, err := url.Parse(strings.Split(c.NATSURL, ",")[0]); err != nil || p.Host == "" {
			errs = append(errs, fmt.Errorf("federation.nats_url: %q is not a URL such as nats://host:4222", c.NATSURL))
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("federation.replicas: %d must be between 1 and 5", c.Replicas))
	}
	if c.SilentAfter <= 0 {
		errs = append(errs, fmt.Errorf("federation.silent_after: %v must be positive", c.SilentAfter))
	}
	if c.MaxGateways < 1 {
		errs = append(errs, fmt.Errorf("federation.max_gateways: %d must be positive", c.MaxGateways))
	}
	if c.MaxWindows < 1 {
		errs = append(errs, fmt.Errorf("federation.max_windows: %d must be positive", c.MaxWindows))
	}
	return errors.Join(errs...)
}

// Leaf returns the gateway side as the embedded broker's leaf remote.
func (c Config) Leaf() ingest.LeafRemote {
	r := ingest.LeafRemote{CredsFile: c.CredsFile, CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
	for _, u := range strings.Split(c.Upstream, ",") {
		if u = strings.TrimSpace(u); u != "" {
			r.URLs = append(r.URLs, u)
		}
	}
	return r
}
