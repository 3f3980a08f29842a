package ingest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// JetStream store defaults.
const (
	// DefaultMaxStoreBytes bounds the embedded broker's JetStream file
	// store (2 GiB: room for the nats sink's default 1 GiB stream beside
	// the MQTT sessions and queued messages).
	DefaultMaxStoreBytes ByteSize = 2 << 30
	// DefaultMaxMemoryBytes bounds its JetStream memory store (64 MiB).
	DefaultMaxMemoryBytes ByteSize = 64 << 20
	// MinJetStreamBytes is the least either limit may be (1 MiB).
	MinJetStreamBytes ByteSize = 1 << 20
)

// ByteSize is a size in bytes. In YAML it is an integer or a string with a
// binary unit: "512MiB", "1GiB" (B, KiB, MiB, GiB, TiB).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// UnmarshalText parses "1GiB" or a plain number of bytes.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size such as 1073741824 or 1GiB", text)
	}
	*b = ByteSize(n * mult)
	return nil
}

// String formats b with the largest unit that divides it.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// authenticated reports whether MQTT clients must authenticate.
func (c BrokerConfig) authenticated() bool {
	return c.Auth.configured() || c.TLS.ClientCAFile != ""
}

// mqttListen is the address of the MQTT listener: the TLS one when TLS is
// configured (nats-server has only one).
func (c BrokerConfig) mqttListen() string {
	if c.TLS.Enabled() {
		return c.TLS.Listen
	}
	return c.Listen
}

// anonymousExposed lists the listeners (config key and address) that take
// anonymous clients on an address that is not loopback.
func (c BrokerConfig) anonymousExposed() []string {
	c = c.WithDefaults()
	var out []string
	key := "listen"
	if c.TLS.Enabled() {
		key = "tls.listen"
	}
	if !c.authenticated() && exposed(c.mqttListen()) {
		out = append(out, fmt.Sprintf("%s %q (MQTT)", key, c.mqttListen()))
	}
	if exposed(c.NATSListen) {
		out = append(out, fmt.Sprintf("nats_listen %q (NATS)", c.NATSListen))
	}
	return out
}

// exposed reports whether addr's host is neither a loopback address nor
// "localhost" (an empty or unspecified host is every interface). An
// address that does not parse is reported by its own check, not here.
func exposed(addr string) bool {
	host, _, err := splitHostPort(addr)
	if err != nil || host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// validateSecurity checks TLS, auth, anonymous exposure and the JetStream
// limits, loading every file once. No error quotes a secret.
func (c BrokerConfig) validateSecurity() error {
	errs := []error{c.TLS.validate()}
	if c.Auth.DevicesFile != "" {
		if _, err := LoadDevices(c.Auth.DevicesFile, c.TLS.ClientCAFile != ""); err != nil {
			errs = append(errs, fmt.Errorf("auth.devices_file: %w", err))
		}
	}
	errs = append(errs, validateUsers(c.Auth.Users, c.TLS.ClientCAFile != ""))
	if exposed := c.anonymousExposed(); len(exposed) > 0 && !c.AllowAnonymous {
		errs = append(errs, fmt.Errorf("allow_anonymous: %s accept(s) anonymous clients on an address that is not loopback: "+
			"configure broker.auth (or bind to 127.0.0.1), or set broker.allow_anonymous: true", strings.Join(exposed, " and ")))
	}
	if c.MaxStoreBytes != 0 && c.MaxStoreBytes < MinJetStreamBytes {
		errs = append(errs, fmt.Errorf("max_store_bytes: %v is below %v", c.MaxStoreBytes, MinJetStreamBytes))
	}
	if c.MaxMemoryBytes != 0 && c.MaxMemoryBytes < MinJetStreamBytes {
		errs = append(errs, fmt.Errorf("max_memory_bytes: %v is below %v", c.MaxMemoryBytes, MinJetStreamBytes))
	}
	return errors.Join(errs...)
}

// applySecurity sets the server's users and TLS from cfg. It returns the
// TLS state (nil without TLS) and rollcall's own user (zero without auth).
func applySecurity(opts *server.Options, cfg BrokerConfig) (*brokerTLS, internalUser, error) {
	var own internalUser
	if cfg.authenticated() {
		var err error
		if own, err = newInternalUser(); err != nil {
			return nil, own, err
		}
		topics, err := NewTopics(cfg.TelemetryTopic, cfg.StatusTopic)
		if err != nil {
			return nil, own, fmt.Errorf("topics: %w", err)
		}
		topics = topics.WithSparkplug(cfg.Sparkplug)
		users, err := brokerUsers(cfg, topics, own)
		if err != nil {
			return nil, own, err
		}
		// NATS clients (the nats sink, federation) keep connecting without
		// credentials as this user; MQTT clients cannot use it.
		users = append(users, &server.User{
			Username:               natsUserName,
			AllowedConnectionTypes: map[string]struct{}{"STANDARD": {}},
		})
		opts.Users, opts.NoAuthUser = users, natsUserName
	}
	if !cfg.TLS.Enabled() {
		return nil, own, nil
	}
	t, err := newBrokerTLS(cfg.TLS, own.name)
	if err != nil {
		return nil, own, err
	}
	opts.MQTT.TLSConfig = t.serverConfig()
	opts.MQTT.TLSMap = cfg.TLS.ClientCAFile != ""
	opts.MQTT.TLSTimeout = brokerTLSTimeout.Seconds()
	return t, own, nil
}

// brokerTLSTimeout bounds a TLS handshake on the MQTT listener.
const brokerTLSTimeout = 5 * time.Second

// Subscriber returns c set up to subscribe to this broker: its URL and,
// with auth, rollcall's own user (a random password made at start) and,
// with TLS, a client configuration that trusts exactly the listener's
// certificate (and presents rollcall's own with client certificates).
func (b *Broker) Subscriber(c MQTTConfig) MQTTConfig {
	c.URL = b.MQTTURL()
	certs := b.tls != nil && b.tls.own != nil
	if b.own.name != "" && !certs {
		c.Username, c.Password = b.own.name, b.own.password
	}
	if b.tls != nil {
		c.tlsConfig = b.tls.clientConfig()
	}
	return c
}

// ReloadTLS reads the TLS listener's certificate, key and client CA files
// again (on SIGHUP); new connections use them, open ones keep theirs. On
// error the previous ones stay. Without TLS it does nothing.
func (b *Broker) ReloadTLS() error {
	if b.tls == nil {
		return nil
	}
	if err := b.tls.Reload(); err != nil {
		return fmt.Errorf("ingest: reload broker tls: %w", err)
	}
	return nil
}

// RegisterMetrics registers the JetStream usage gauges:
// rollcall_broker_jetstream_{store,memory}_bytes and their _limit_bytes.
// The store limit binds when the usage reaches it.
func (b *Broker) RegisterMetrics(reg prometheus.Registerer) error {
	js := func(f func(*server.JSInfo) float64) func() float64 {
		return func() float64 {
			info, err := b.srv.Jsz(nil)
			if err != nil || info == nil {
				return 0
			}
			return f(info)
		}
	}
	gauge := func(name, help string, f func(*server.JSInfo) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, js(f))
	}
	for _, c := range []prometheus.Collector{
		gauge("rollcall_broker_jetstream_store_bytes", "Bytes the embedded broker's JetStream file store uses (MQTT sessions, queued QoS 1 messages, the nats sink's stream).",
			func(i *server.JSInfo) float64 { return float64(i.Store) }),
		gauge("rollcall_broker_jetstream_store_limit_bytes", "The JetStream file store's limit (broker.max_store_bytes); at it the broker refuses QoS 1 messages it cannot store.",
			func(i *server.JSInfo) float64 { return float64(i.Config.MaxStore) }),
		gauge("rollcall_broker_jetstream_memory_bytes", "Bytes the embedded broker's JetStream memory store uses.",
			func(i *server.JSInfo) float64 { return float64(i.Memory) }),
		gauge("rollcall_broker_jetstream_memory_limit_bytes", "The JetStream memory store's limit (broker.max_memory_bytes).",
			func(i *server.JSInfo) float64 { return float64(i.Config.MaxMemory) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("ingest: register broker metrics: %w", err)
		}
	}
	return nil
}
