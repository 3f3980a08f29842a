package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded broker defaults and limits.
const (
	// DefaultMQTTListen is the embedded broker's default MQTT listen
	// address: loopback only, since without broker.auth it accepts anonymous
	// clients (see BrokerConfig.AllowAnonymous).
	DefaultMQTTListen = "127.0.0.1:1883"
	// DefaultNATSListen is the default NATS client listen address: loopback
	// only, on a random free port (see Broker.ClientURL).
	DefaultNATSListen = "127.0.0.1:0"
	// DefaultMaxAckPending is the default per-subscription window of QoS 1
	// messages the broker delivers without a PUBACK.
	DefaultMaxAckPending = 1024
	// MaxAckPendingLimit is the largest allowed MaxAckPending. NATS caps the sum
	// over one MQTT session at 65535 and counts a filter ending in "#" twice,
	// so one '#' subscription can use at most 65535/2.
	MaxAckPendingLimit = 65535 / 2
	// DefaultAckWait is the default redelivery timeout of unacknowledged QoS 1
	// messages.
	DefaultAckWait = 30 * time.Second
	// DefaultServerName is the default NATS server name.
	DefaultServerName = "rollcall"
	// BrokerStartTimeout bounds how long NewBroker waits for the server to
	// accept connections.
	BrokerStartTimeout = 10 * time.Second
)

// BrokerConfig configures the embedded nats-server MQTT broker. The zero
// value of every field except StoreDir means its default.
type BrokerConfig struct {
	// Listen is the MQTT listen address, host:port. Port 0 picks a free
	// port (see Broker.MQTTAddr). Default: DefaultMQTTListen ("127.0.0.1:1883": loopback, see AllowAnonymous).
	Listen string `yaml:"listen"`
	// NATSListen is the NATS client listen address, host:port, kept for
	// federation. Port 0 picks a free port. Default: DefaultNATSListen
	// ("127.0.0.1:0").
	NATSListen string `yaml:"nats_listen"`
	// StoreDir is the JetStream file store directory, which holds MQTT
	// sessions, retained messages and queued QoS 1 messages. Required; the
	// gateway passes <data-dir>/broker.
	StoreDir string `yaml:"-"`
	// MaxAckPending is the number of QoS 1 messages the broker delivers to
	// one subscription without receiving a PUBACK (NATS mqtt
	// max_ack_pending); the broker holds the rest. The ingest queue must hold
	// a full window. At most MaxAckPendingLimit. Default: DefaultMaxAckPending
	// (1024).
	MaxAckPending int `yaml:"max_ack_pending"`
	// AckWait is how long the broker waits for a PUBACK before it
	// redelivers a QoS 1 message with the DUP flag. Default: DefaultAckWait
	// (30s).
	AckWait time.Duration `yaml:"ack_wait"`
	// ServerName is the NATS server name. Default: DefaultServerName
	// ("rollcall").
	ServerName string `yaml:"server_name"`
	// TLS configures the TLS MQTT listener, which then replaces the plain
	// one (nats-server has one MQTT listener). Default: none.
	TLS BrokerTLS `yaml:"tls"`
	// Auth configures device credentials and other users. Default: none
	// (anonymous clients).
	Auth BrokerAuth `yaml:"auth"`
	// AllowAnonymous allows anonymous clients on a listener that is not
	// loopback: the MQTT listener without Auth, and the NATS listener
	// (which Auth does not cover). Without it such a configuration does not
	// start; with it a warning is logged at every start. Default: false
	// (anonymous clients on loopback listeners only).
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// MaxStoreBytes bounds the JetStream file store (MQTT sessions,
	// retained and queued QoS 1 messages, the nats sink's stream). At the
	// limit the broker refuses QoS 1 messages it cannot store
	// (rollcall_broker_jetstream_store_bytes reaches
	// rollcall_broker_jetstream_store_limit_bytes). Default:
	// DefaultMaxStoreBytes (2 GiB).
	MaxStoreBytes ByteSize `yaml:"max_store_bytes"`
	// MaxMemoryBytes bounds JetStream's memory store. Default:
	// DefaultMaxMemoryBytes (64 MiB).
	MaxMemoryBytes ByteSize `yaml:"max_memory_bytes"`
	// TelemetryTopic and StatusTopic are the topic templates from which
	// each device's publish permissions are derived; the gateway passes
	// topics.telemetry and topics.status. Default: the ingest defaults.
	TelemetryTopic string `yaml:"-"`
	StatusTopic    string `yaml:"-"`
	// Sparkplug says whether rollcall's own user may subscribe to the
	// Sparkplug B topics (topics.sparkplug).
	Sparkplug bool `yaml:"-"`
	// Domain is the JetStream domain of the embedded server; the gateway
	// passes its id when it federates (nats.gateway_id), so that the hub
	// reaches this server's streams as $JS.<domain>.API. Default: none.
	Domain string `yaml:"-"`
	// Upstream is the leaf-node link to a hub; the gateway passes its
	// federation section. Default: none.
	Upstream LeafRemote `yaml:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c BrokerConfig) WithDefaults() BrokerConfig {
	if c.Listen == "" {
		c.Listen = DefaultMQTTListen
	}
	if c.NATSListen == "" {
		c.NATSListen = DefaultNATSListen
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.MaxStoreBytes == 0 {
		c.MaxStoreBytes = DefaultMaxStoreBytes
	}
	if c.MaxMemoryBytes == 0 {
		c.MaxMemoryBytes = DefaultMaxMemoryBytes
	}
	if c.TelemetryTopic == "" {
		c.TelemetryTopic = DefaultTelemetryTopic
	}
	if c.StatusTopic == "" {
		c.StatusTopic = DefaultStatusTopic
	}
	return c
}

// Validate returns every problem of c at once. Zero values that
// WithDefaults fills are accepted.
func (c BrokerConfig) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := splitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	if c.NATSListen != "" {
		if _, _, err := splitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("nats_listen: %w", err))
		}
	}
	if c.Listen != "" && c.Listen == c.NATSListen && !strings.HasSuffix(c.Listen, ":0") {
		errs = append(errs, fmt.Errorf("listen and nats_listen: both are %q", c.Listen))
	}
	if c.StoreDir == "" {
		errs = append(errs, errors.New("store_dir: required"))
	}
	if c.MaxAckPending < 0 || c.MaxAckPending > MaxAckPendingLimit {
		errs = append(errs, fmt.Errorf("max_ack_pending: %d must be between 1 and %d (0 means the default)", c.MaxAckPending, MaxAckPendingLimit))
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("ack_wait: %s is negative", c.AckWait))
	}
	if strings.ContainsAny(c.ServerName, " \t\r\n") {
		errs = append(errs, fmt.Errorf("server_name: %q contains white space", c.ServerName))
	}
	if c.Domain != "" && !ValidDomain(c.Domain) {
		errs = append(errs, fmt.Errorf("domain: %q must be 1 to 128 ASCII letters, digits, '-' or '_'", c.Domain))
	}
	if c.Upstream.Enabled() && c.Domain == "" {
		errs = append(errs, errors.New("domain: required with an upstream (the hub tells the leaf servers apart by it)"))
	}
	errs = append(errs, c.validateSecurity(), c.Upstream.validate())
	return errors.Join(errs...)
}

// splitHostPort parses host:port with a numeric port in [0, 65535].
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q in %q is not a number in [0, 65535]", p, addr)
	}
	return host, port, nil
}

// Broker is an embedded nats-server with JetStream and its MQTT listener.
// Its methods are safe for concurrent use.
type Broker struct {
	srv      *server.Server
	mqttHost string
	mqttPort int
	tls      *brokerTLS   // nil without TLS
	own      internalUser // rollcall's subscriber; zero without auth
}

// NewBroker starts nats-server with JetStream in cfg.StoreDir and its MQTT
// listener, and returns once both accept connections (at most
// BrokerStartTimeout). The server logs to log (nil discards) with the
// attribute component=nats-server: notices at Info, warnings at Warn,
// errors at Error, debug and trace at Debug. Debug output is enabled when
// log enables Debug, trace output (every protocol message) only when log
// enables a level below Debug.
func NewBroker(cfg BrokerConfig, log *slog.Logger) (*Broker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest: broker config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mqttHost, mqttPort, _ := splitHostPort(cfg.mqttListen())
	natsHost, natsPort, _ := splitHostPort(cfg.NATSListen)
	// nats-server reads port 0 as "disabled" and -1 as "random".
	if mqttPort == 0 {
		mqttPort = -1
	}
	if natsPort == 0 {
		natsPort = -1
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		Host:               natsHost,
		Port:               natsPort,
		NoSigs:             true,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxStore:  int64(cfg.MaxStoreBytes),
		JetStreamMaxMemory: int64(cfg.MaxMemoryBytes),
		MQTT: server.MQTTOpts{
			Host:          mqttHost,
			Port:          mqttPort,
			MaxAckPending: uint16(cfg.MaxAckPending),
			AckWait:       cfg.AckWait,
		},
	}
	tlsState, own, err := applySecurity(opts, cfg)
	if err == nil {
		err = applyLeaf(opts, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: broker config: %w", err)
	}
	srv, err := StartServer(opts, log)
	if err != nil {
		return nil, fmt.Errorf("ingest: start broker: %w", err)
	}
	// Varz is the public way to read the resolved MQTT port.
	vz, err := srv.Varz(nil)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("ingest: start broker: read mqtt port: %w", err)
	}
	b := &Broker{srv: srv, mqttHost: vz.MQTT.Host, mqttPort: vz.MQTT.Port, tls: tlsState, own: own}
	log.Info("broker started", "mqtt_addr", b.MQTTAddr(), "tls", tlsState != nil, "auth", cfg.authenticated(),
		"client_certificates", cfg.TLS.ClientCAFile != "", "nats_url", b.ClientURL(),
		"store_dir", cfg.StoreDir, "max_store_bytes", cfg.MaxStoreBytes, "max_memory_bytes", cfg.MaxMemoryBytes,
		"max_ack_pending", cfg.MaxAckPending, "ack_wait", cfg.AckWait, "jetstream_domain", cfg.Domain,
		"upstream", cfg.Upstream.redacted())
	for _, l := range cfg.anonymousExposed() {
		log.Warn("broker accepts anonymous clients on an address that is not loopback (broker.allow_anonymous: true)", "listener", l)
	}
	return b, nil
}

// StartServer starts a nats-server with opts, logging to log (nil
// discards) as NewBroker describes, and returns once it accepts
// connections (at most BrokerStartTimeout). The federation hub starts its
// server with it too.
func StartServer(opts *server.Options, log *slog.Logger) (*server.Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	sl := &slogLogger{log: log.With("component", "nats-server"), fatal: make(chan string, 1)}
	srv.SetLoggerV2(sl, log.Enabled(context.Background(), slog.LevelDebug),
		log.Enabled(context.Background(), slog.LevelDebug-1), false)
	srv.Start()
	if err := waitReady(srv, sl.fatal, BrokerStartTimeout); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	return srv, nil
}

// waitReady waits until srv accepts connections, until it reports a fatal
// error (a failed listen or JetStream start, which nats-server would
// otherwise only surface after the whole timeout), or until timeout.
func waitReady(srv *server.Server, fatal <-chan string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", timeout)
		}
	}
	return nil
}

// MQTTAddr returns the host:port the MQTT listener is bound to, with the
// actual port when the configured one was 0. An unspecified host is
// reported as the server reports it ("0.0.0.0").
func (b *Broker) MQTTAddr() string {
	return net.JoinHostPort(b.mqttHost, strconv.Itoa(b.mqttPort))
}

// MQTTURL returns a URL for MQTT clients such as paho,
// "tcp://127.0.0.1:PORT" when the listener is bound to all interfaces
// ("ssl://…" for the TLS listener).
func (b *Broker) MQTTURL() string {
	host := b.mqttHost
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "tcp"
	if b.tls != nil {
		scheme = "ssl"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(b.mqttPort))}
	return u.String()
}

// ClientURL returns the nats:// URL of the NATS client listener, as
// nats-server reports it (an unspecified host stays "0.0.0.0").
func (b *Broker) ClientURL() string { return b.srv.ClientURL() }

// Shutdown stops the server gracefully and returns when it has stopped.
// It is safe to call more than once.
func (b *Broker) Shutdown() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// slogLogger adapts slog to nats-server's server.Logger.
type slogLogger struct {
	log       *slog.Logger
	fatalOnce sync.Once
	fatal     chan string // receives the first Fatalf message
}

var _ server.Logger = (*slogLogger)(nil)

func (l *slogLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	// An adapter: the messages are nats-server's, not constants of ours.
	l.log.Log(ctx, level, fmt.Sprintf(format, v...)) //nolint:sloglint // nats-server's message
}

// Noticef logs at Debug: nats-server's notices are its start-up banner and
// per-connection chatter; rollcall logs the broker's lifecycle itself.
func (l *slogLogger) Noticef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

// Warnf logs at Warn (plaintextWarning at Debug).
func (l *slogLogger) Warnf(format string, v ...any) {
	if format == plaintextWarning {
		l.logf(slog.LevelDebug, format, v)
		return
	}
	l.logf(slog.LevelWarn, format, v)
}

// plaintextWarning is nats-server's warning about a password that is not a
// bcrypt hash. Every configured password is checked to be one; the only
// other is the empty password of the NATS listener's no-auth user.
const plaintextWarning = "Plaintext passwords detected, use nkeys or bcrypt"

// Errorf logs at Error.
func (l *slogLogger) Errorf(format string, v ...any) { l.logf(slog.LevelError, format, v) }

// Fatalf logs at Error and reports the first fatal message to NewBroker.
// Unlike nats-server's own logger it does not exit the process: the server
// returns from the failed step and NewBroker fails.
func (l *slogLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true) //nolint:sloglint // nats-server's message
	l.fatalOnce.Do(func() { l.fatal <- msg })
}

// Debugf logs at Debug.
func (l *slogLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

// Tracef logs at Debug.
func (l *slogLogger) Tracef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }
