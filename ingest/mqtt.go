package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for MQTTConfig.
const (
	// DefaultQoS is the subscription QoS: 1, acknowledged after acceptance.
	DefaultQoS = 1
	// DefaultKeepAlive is the MQTT keepalive.
	DefaultKeepAlive = 30 * time.Second
	// DefaultConnectTimeout bounds one connection attempt.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxReconnectInterval caps the reconnect backoff.
	DefaultMaxReconnectInterval = 10 * time.Second
	// DefaultRedeliverAfter is how long the flow must have stopped, after
	// the ingest queue refused QoS 1 messages, before the subscriber
	// reconnects for their redelivery.
	DefaultRedeliverAfter = time.Second
	// DefaultQueueWait is how long a QoS 1 message waits for room in a full
	// ingest queue.
	DefaultQueueWait = time.Second
	// MaxQueueWait bounds MQTTConfig.QueueWait, far below the keepalive.
	MaxQueueWait = 5 * time.Second
)

// Drop reasons: the reason label of rollcall_ingest_dropped_total.
const (
	// DropOverload: a QoS 0 message arrived while its worker's queue was
	// full, and was shed.
	DropOverload = "overload"
)

// MQTTConfig configures the subscription. Zero fields mean the defaults,
// except QoS, whose zero is a choice (the gateway's defaults set 1).
type MQTTConfig struct {
	// URL is the broker, e.g. tcp://127.0.0.1:1883 (ssl://, ws:// work too).
	URL string `yaml:"url"`
	// ClientID identifies the persistent session. Default: rollcall-<hostname>.
	ClientID string `yaml:"client_id"`
	// QoS is the subscription QoS, 0 or 1. At 1 (the gateway default) every
	// message is acknowledged after the pipeline accepted it; at 0 messages
	// are shed with reason overload when the pipeline is full.
	QoS int `yaml:"qos"`
	// CleanSession discards the broker-side session at connect. Default:
	// false, so the broker keeps QoS 1 messages while rollcall is away.
	CleanSession bool `yaml:"clean_session"`
	// KeepAlive is the MQTT keepalive. Default: 30s.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt. Default: 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxReconnectInterval caps the reconnect backoff. Default: 10s.
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	// RedeliverAfter: when the ingest queue refused QoS 1 messages (left
	// them unacknowledged) and nothing has arrived for this long since, the
	// subscriber reconnects, because brokers such as mosquitto redeliver
	// unacknowledged messages only at a reconnect (NATS after its ack
	// wait). Default: 1s.
	RedeliverAfter time.Duration `yaml:"redeliver_after"`
	// QueueWait is how long the message callback waits for room in a full
	// ingest queue before it leaves a QoS 1 message unacknowledged. While
	// it waits, paho reads nothing more from the connection, so TCP holds
	// the broker back even when the broker does not keep to its in-flight
	// window (mosquitto 2.0.11). Kept far below the keepalive (at most
	// MaxQueueWait) so that the session never lapses. Default: 1s.
	QueueWait time.Duration `yaml:"queue_wait"`
	// Username and Password authenticate to the broker (Password also from
	// ROLLCALL_MQTT_PASSWORD). Default: none.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// PasswordFile holds the password (one line; a trailing newline is
	// ignored), instead of Password. Default: none.
	PasswordFile string `yaml:"password_file"`
	// TLS configures TLS to an ssl:// (tls://, mqtts://) broker: a private
	// CA, a client certificate, the expected server name. Default: the
	// system's CAs, no client certificate.
	TLS MQTTTLS `yaml:"tls"`

	// tlsConfig, when set (the embedded broker's TLS listener), replaces
	// the one TLS would give.
	tlsConfig *tls.Config
}

// DefaultClientID returns rollcall-<hostname>.
func DefaultClientID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "gateway"
	}
	return "rollcall-" + h
}

// WithDefaults returns c with zero fields set to their defaults.
func (c MQTTConfig) WithDefaults() MQTTConfig {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID()
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxReconnectInterval == 0 {
		c.MaxReconnectInterval = DefaultMaxReconnectInterval
	}
	if c.RedeliverAfter == 0 {
		c.RedeliverAfter = DefaultRedeliverAfter
	}
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	return c
}

// Validate reports every problem with c at once.
func (c MQTTConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("mqtt.url: required"))
	}
	if c.QoS != 0 && c.QoS != 1 {
		errs = append(errs, fmt.Errorf("mqtt.qos: %d must be 0 or 1", c.QoS))
	}
	if c.ClientID == "" || len(c.ClientID) > 128 {
		errs = append(errs, fmt.Errorf("mqtt.client_id: %q must be 1 to 128 bytes", c.ClientID))
	}
	if c.KeepAlive < time.Second {
		errs = append(errs, fmt.Errorf("mqtt.keep_alive: %v is below 1s", c.KeepAlive))
	}
	if c.ConnectTimeout <= 0 || c.MaxReconnectInterval <= 0 {
		errs = append(errs, errors.New("mqtt.connect_timeout and mqtt.max_reconnect_interval must be positive"))
	}
	if c.RedeliverAfter < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("mqtt.redeliver_after: %v is below 100ms", c.RedeliverAfter))
	}
	if c.QueueWait < 0 || c.QueueWait > MaxQueueWait {
		errs = append(errs, fmt.Errorf("mqtt.queue_wait: %v is not between 0 and %v", c.QueueWait, MaxQueueWait))
	}
	errs = append(errs, c.validateCredentials())
	return errors.Join(errs...)
}

// Subscriber is the MQTT subscription: it parses each message's topic,
// makes the admission checks that need no state (Limits.Admit) and hands
// it to the Router without blocking.
type Subscriber struct {
	cfg    MQTTConfig
	log    *slog.Logger
	limits Limits
	topics *Topics
	router Router
	client mqtt.Client

	connected atomic.Bool
	started   atomic.Bool
	// stuck is set when a QoS 1 message waited mqtt.queue_wait in vain, and
	// cleared when one finds room. Only onMessage (one goroutine) uses it.
	stuck bool
	// refused counts QoS 1 messages left unacknowledged since the last
	// connect; lastReceived is when the last message arrived (Unix ns).
	refused      atomic.Int64
	lastReceived atomic.Int64
	quit, done   chan struct{} // stop and wait for the redelivery watch

	received   prometheus.Counter
	dropped    *prometheus.CounterVec
	unacked    prometheus.Counter
	reconnects prometheus.Counter
	lost       prometheus.Counter
	connGauge  prometheus.GaugeFunc
}

// NewSubscriber returns a subscriber that routes messages to router and
// rejects, before routing, those that fail limits' stateless checks
// (Limits.Admit; zero fields of limits mean the defaults).
func NewSubscriber(cfg MQTTConfig, limits Limits, topics *Topics, router Router, log *slog.Logger, reg prometheus.Registerer) (*Subscriber, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), limits.Validate()); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{
		cfg: cfg, log: log.With("stage", "ingest"), limits: limits.WithDefaults(), topics: topics, router: router,
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	s.received = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_ingest_received_total",
		Help: "MQTT messages received from the broker.",
	})
	s.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rollcall_ingest_dropped_total",
		Help: "QoS 0 messages shed at ingest, by reason.",
	}, []string{"reason"})
	s.dropped.WithLabelValues(DropOverload)
	s.unacked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_ingest_unacked_total",
		Help: "QoS 1 messages left unacknowledged for the broker to redeliver because the ingest queue stayed full (mqtt.queue_wait).",
	})
	s.reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_ingest_redeliver_reconnects_total",
		Help: "Reconnects to the broker so that it redelivers QoS 1 messages the full ingest queue left unacknowledged (mqtt.redeliver_after).",
	})
	s.lost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rollcall_ingest_connection_lost_total",
		Help: "Lost broker connections.",
	})
	s.connGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rollcall_ingest_connected",
		Help: "1 while connected and subscribed to the broker.",
	}, func() float64 {
		if s.connected.Load() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{s.received, s.dropped, s.unacked, s.reconnects, s.lost, s.connGauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetCleanSession(cfg.CleanSession).
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetOrderMatters(true).
		SetAutoAckDisabled(cfg.QoS > 0).
		SetDefaultPublishHandler(s.onMessage).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.connected.Store(false)
			s.refused.Store(0) // the reconnect brings the redelivery
			s.lost.Inc()
			s.log.Warn("broker connection lost", "broker", cfg.URL, "err", err)
		})
	if err := cfg.applyCredentials(opts); err != nil {
		return nil, err
	}
	s.client = mqtt.NewClient(opts)
	return s, nil
}

// Start connects in the background (retrying with backoff) and subscribes
// on every (re)connect. It returns at once; Connected tells when it is up.
func (s *Subscriber) Start() {
	s.log.Info("connecting to broker", "broker", s.cfg.URL, "client_id", s.cfg.ClientID, "qos", s.cfg.QoS)
	s.client.Connect()
	s.started.Store(true)
	go s.watchRefused()
}

// Connected reports whether the subscription is up.
func (s *Subscriber) Connected() bool { return s.connected.Load() }

// Stop disconnects. The broker keeps the persistent session: QoS 1
// messages that were not acknowledged are redelivered at the next connect.
func (s *Subscriber) Stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
		if s.started.Load() {
			<-s.done
		}
	}
	s.connected.Store(false)
	s.client.Disconnect(250)
}

// watchRefused reconnects when the ingest queue left QoS 1 messages
// unacknowledged, has room again, and nothing has arrived for
// mqtt.redeliver_after: the
// broker's in-flight window is held by them, and a broker that redelivers
// only at a reconnect (mosquitto) would hold them, and everything behind
// them, until the connection drops. Waiting for the flow to stop, rather
// than reconnecting at once, lets the queue drain and the acknowledgements
// of what it held reach the broker, so little is redelivered twice. A
// broker that redelivers by itself (NATS) does so before that.
func (s *Subscriber) watchRefused() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.RedeliverAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if s.refused.Load() == 0 || !s.connected.Load() ||
			time.Since(time.Unix(0, s.lastReceived.Load())) < s.cfg.RedeliverAfter {
			continue
		}
		if wr, ok := s.router.(WaitRouter); ok && !wr.Room() {
			continue // the redelivery would find the queue full again (a stuck journal)
		}
		s.reconnects.Inc()
		s.log.Warn("reconnecting so that the broker redelivers the messages the full ingest queue left unacknowledged",
			"broker", s.cfg.URL, "unacked", s.refused.Load())
		// The broker redelivers what is unacknowledged at the connect: the
		// count starts again (before it, as redeliveries may come before
		// the connect handler runs).
		s.refused.Store(0)
		s.connected.Store(false)
		s.client.Disconnect(250)
		s.client.Connect()
	}
}

func (s *Subscriber) onConnect(c mqtt.Client) {
	tel, st := s.topics.Filters()
	qos := byte(s.cfg.QoS)
	filters := map[string]byte{tel: qos, st: qos}
	for _, f := range s.topics.SparkplugFilters() {
		filters[f] = qos
	}
	tok := c.SubscribeMultiple(filters, nil)
	go func() {
		if !tok.WaitTimeout(s.cfg.ConnectTimeout) || tok.Error() != nil {
			s.log.Error("subscribe failed", "broker", s.cfg.URL, "filters", []string{tel, st}, "err", tok.Error())
			return
		}
		// A refused filter comes back as return code 0x80 with no error
		// (for example when the broker's in-flight windows exceed 65535).
		for filter, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code == 0x80 {
				s.log.Error("broker refused subscription", "broker", s.cfg.URL, "filter", filter)
				return
			}
		}
		s.connected.Store(true)
		s.log.Info("subscribed", "broker", s.cfg.URL, "filters", []string{tel, st}, "sparkplug", s.topics.Sparkplug(), "qos", qos)
	}()
}

// onMessage runs on paho's router goroutine and never blocks: it parses the
// topic, makes the stateless admission checks and offers the message to
// the ingest queue (the journal stage).
func (s *Subscriber) onMessage(_ mqtt.Client, m mqtt.Message) {
	s.received.Inc()
	recv := time.Now().UnixNano()
	s.lastReceived.Store(recv)
	kind, site, device, err := s.topics.Parse(m.Topic())
	if errors.Is(err, ErrSparkplugIgnored) {
		m.Ack()
		return
	}
	if err == nil {
		err = s.limits.Admit(kind, m.Payload())
	}
	if err != nil {
		s.reject(m, err, site, device, recv)
		return
	}
	msg := Message{
		Kind: kind, Site: site, Device: device, Payload: m.Payload(),
		Received: recv, Redelivered: m.Duplicate(),
	}
	if m.Qos() > 0 {
		msg.Ack = m.Ack
		// Wait (bounded) rather than leave it unacknowledged: a broker
		// that keeps sending past its in-flight window (mosquitto 2.0.11)
		// is held back by TCP meanwhile, and one that reuses the packet id
		// of a message still unacknowledged (the same) would take a later
		// message's ack for it and lose it.
		// Once a wait ran out, the queue is stuck (a full journal): later
		// messages do not wait again until one finds room, so the
		// connection is not held for a wait per message.
		if wr, ok := s.router.(WaitRouter); ok && !s.stuck {
			if !wr.OfferWait(msg, s.cfg.QueueWait) {
				s.stuck = true
				s.refuse()
			}
			return
		}
	}
	if s.router.Offer(msg) {
		s.stuck = false
		return
	}
	if m.Qos() == 0 {
		s.dropped.WithLabelValues(DropOverload).Inc()
		return
	}
	s.refuse()
}

// reject hands a message rejected before routing (its topic, or
// Limits.Admit) to the Router, which counts and samples it, and
// acknowledges it: it is rejected for good, and the broker must not
// redeliver it. It is never journaled.
func (s *Subscriber) reject(m mqtt.Message, err error, site, device string, recv int64) {
	detail := err.Error()
	var re *RejectError
	if errors.As(err, &re) {
		detail = re.Detail
	}
	s.router.Reject(Rejection{
		Reason: ReasonOf(err), Detail: detail, Topic: m.Topic(), Site: site, Device: device,
		Payload: m.Payload(), Received: recv,
	})
	m.Ack()
}

// refuse leaves a QoS 1 message unacknowledged: the broker redelivers it
// (NATS after ack_wait, mosquitto at the next connect, which watchRefused
// makes). Only reachable when the queue stays full for mqtt.queue_wait;
// see docs/deployment.md.
func (s *Subscriber) refuse() {
	s.unacked.Inc()
	s.refused.Add(1)
}
