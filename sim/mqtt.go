package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mqttConnectParallel bounds the device connections opened at once.
const mqttConnectParallel = 16

// mqttTransport publishes over paho: one shared connection for the devices
// without one of their own, and one per device that needs a Last Will or
// credentials of its own (Config.DevicePasswords; then there is no shared
// connection).
type mqttTransport struct {
	f      *Fleet
	log    *slog.Logger
	broker string // redacted, for logs
	idBase string
	shared mqtt.Client // nil with Config.DevicePasswords
	own    []*ownConn  // by device; nil for devices on the shared connection

	pending  []inflight // publishes not yet confirmed, oldest first from head
	head     int
	failWarn throttle

	ctx    context.Context // ends at close: stops the reconnection goroutines
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed, and wg.Add against wg.Wait
	closed bool
	wg     sync.WaitGroup
}

var _ transport = (*mqttTransport)(nil)

// inflight is a publish awaiting its confirmation. The list is bounded by
// Config.MaxInflight: when it is full, publish waits for the oldest.
type inflight struct {
	tok  mqtt.Token
	sent time.Time
}

// ownConn is a device's own connection, with its Last Will when it has one.
type ownConn struct {
	dev         int32
	id          string // device identity
	will        bool   // it has a Last Will and publishes births
	statusTopic string
	client      mqtt.Client
	mu          sync.Mutex
	conn        net.Conn    // the socket, so drop can cut it; guarded by mu
	offline     atomic.Bool // an offline fault holds it down
	busy        atomic.Bool // a reconnection goroutine runs
}

func newMQTTTransport(f *Fleet) *mqttTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &mqttTransport{
		f: f, log: f.log, broker: redact(f.cfg.BrokerURL),
		idBase: fmt.Sprintf("%s-%08x", f.cfg.ClientIDPrefix, rand.Uint32()),
		own:    make([]*ownConn, len(f.plan.devices)),
		ctx:    ctx, cancel: cancel,
	}
	auth := f.cfg.DevicePasswords != nil
	for i, dp := range f.plan.devices {
		if dp.own || auth {
			t.own[i] = t.newOwnConn(int32(i), &dp)
		}
	}
	if auth {
		return t
	}
	t.shared = mqtt.NewClient(mqtt.NewClientOptions().
		AddBroker(f.cfg.BrokerURL).
		SetClientID(t.idBase).
		SetCleanSession(true).
		SetConnectTimeout(ConnectTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(ConnectBackoffMax).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			t.log.Warn("connection lost; reconnecting", "broker", t.broker, "err", err)
		}))
	return t
}

func (t *mqttTransport) newOwnConn(dev int32, dp *devicePlan) *ownConn {
	// A Sparkplug node's birth after a lost connection would need its
	// session's NBIRTH: it is not sent (docs/simulator.md).
	oc := &ownConn{dev: dev, id: dp.id, will: dp.own && dp.birthTopic == "", statusTopic: dp.statusTopic}
	dialer := &net.Dialer{Timeout: ConnectTimeout}
	opts := mqtt.NewClientOptions().
		AddBroker(t.f.cfg.BrokerURL).
		// nats-server refuses '.' in an MQTT client id (and '/' is a
		// poor fit for any broker's session store).
		SetClientID(t.idBase + "-" + strings.NewReplacer("/", "_", ".", "_").Replace(dp.id)).
		SetCleanSession(true).
		SetConnectTimeout(ConnectTimeout).
		SetAutoReconnect(false) // the run decides when an offline device comes back
	if dp.own {
		opts.SetBinaryWill(dp.statusTopic, dp.will, 1, false)
	}
	if pw, ok := t.f.cfg.DevicePasswords[dp.id]; ok {
		opts.SetUsername(dp.id).SetPassword(pw)
	}
	oc.client = mqtt.NewClient(opts.
		// Own the socket, so that drop can close it without a DISCONNECT:
		// only then does the broker publish the Last Will (INFRA.md, §1).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			conn, err := dialer.Dial("tcp", u.Host)
			oc.mu.Lock()
			oc.conn = conn
			oc.mu.Unlock()
			return conn, err
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if !oc.offline.Load() {
				t.log.Warn("device connection lost; reconnecting", "device_id", oc.id, "err", err)
				t.revive(oc)
			}
		}))
	return oc
}

// connect opens the shared connection, then the devices' own ones,
// mqttConnectParallel at a time.
func (t *mqttTransport) connect(ctx context.Context) error {
	if t.shared != nil {
		if err := t.connectClient(ctx, t.shared, "shared"); err != nil || ctx.Err() != nil {
			return err
		}
		t.log.Info("connected", "broker", t.broker, "client_id", t.idBase, "qos", *t.f.plan.scenario.QoS)
	}
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, mqttConnectParallel)
		errMu sync.Mutex
		first error
	)
	for _, oc := range t.own {
		if oc == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := t.connectClient(ctx, oc.client, oc.id); err != nil {
				errMu.Lock()
				first = cmpOrErr(first, err)
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := t.ownConns(); first == nil && n > 0 && ctx.Err() == nil {
		t.log.Info("device connections open", "count", n)
	}
	return first
}

// ownConns counts the devices with a connection of their own.
func (t *mqttTransport) ownConns() int {
	n := 0
	for _, oc := range t.own {
		if oc != nil {
			n++
		}
	}
	return n
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// connectClient connects c, retrying ConnectAttempts times with backoff. It
// returns nil without connecting when ctx ends first.
func (t *mqttTransport) connectClient(ctx context.Context, c mqtt.Client, name string) error {
	backoff := ConnectBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return nil
		}
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			// ConnectTimeout bounds the attempt; let it end so that no client
			// goroutine outlives Run.
			tok.WaitTimeout(2 * ConnectTimeout)
			return nil
		}
		err := tok.Error()
		if err == nil {
			return nil
		}
		if attempt == ConnectAttempts {
			return fmt.Errorf("sim: connect %s to %s: %d attempts failed, last: %w", name, t.broker, attempt, err)
		}
		t.log.Warn("connect failed", "broker", t.broker, "connection", name, "attempt", attempt, "retry_in", backoff, "err", err)
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil
		}
		backoff = min(2*backoff, ConnectBackoffMax)
	}
}

func (t *mqttTransport) publish(dev int32, m *Message) {
	c := t.shared
	if oc := t.own[dev]; oc != nil {
		c = oc.client
	}
	if !c.IsConnectionOpen() {
		t.fail(errNotConnected)
		return
	}
	if len(t.pending)-t.head >= t.f.cfg.MaxInflight {
		t.waitOldest(AckTimeout)
	}
	tok := c.Publish(m.Topic, m.QoS, false, m.Payload)
	t.pending = append(t.pending, inflight{tok: tok, sent: t.f.cfg.Now()})
}

// waitOldest waits for the oldest pending publish, at most until it is
// AckTimeout old or d has passed, then reaps.
func (t *mqttTransport) waitOldest(d time.Duration) {
	p := t.pending[t.head]
	wait := min(d, AckTimeout-t.f.cfg.Now().Sub(p.sent))
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-p.tok.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	t.reap(false)
}

func (t *mqttTransport) poll() { t.reap(false) }

// reap removes completed publishes from the front of the pending list and
// counts the failed ones. A publish unconfirmed after AckTimeout, or at all
// when final, is removed and counted as failed.
func (t *mqttTransport) reap(final bool) {
	now := t.f.cfg.Now()
	for t.head < len(t.pending) {
		p := t.pending[t.head]
		switch {
		case isDone(p.tok):
			if err := p.tok.Error(); err != nil {
				t.fail(err)
			}
		case final:
			t.fail(errUnconfirmed)
		case now.Sub(p.sent) >= AckTimeout:
			t.fail(errNoAck)
		default:
			return
		}
		t.pending[t.head] = inflight{}
		t.head++
		if t.head == len(t.pending) {
			t.pending, t.head = t.pending[:0], 0
		} else if t.head >= 4096 && t.head > len(t.pending)/2 {
			n := copy(t.pending, t.pending[t.head:])
			clear(t.pending[n:])
			t.pending, t.head = t.pending[:n], 0
		}
	}
}

// fail counts a failed publish and logs at most one warning per WarnEvery.
func (t *mqttTransport) fail(err error) {
	n := t.f.ctr.failed.Add(1)
	if t.failWarn.allow(t.f.cfg.Now()) {
		t.log.Warn("publish failed", "failed_total", n, "err", err)
	}
}

func isDone(tok mqtt.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// drop closes the device's socket without a DISCONNECT; the broker then
// publishes its Last Will. Then it tells paho, which ignores errors of a
// socket closed under it ("use of closed network connection") and would
// notice only at the next missed ping: Disconnect can no longer send anything
// and only sets the client's state.
func (t *mqttTransport) drop(dev int32, _ *Message) {
	oc := t.own[dev]
	oc.offline.Store(true)
	oc.mu.Lock()
	conn := oc.conn
	oc.mu.Unlock()
	if conn != nil {
		_ = conn.Close() // the loss is what we want
	}
	oc.client.Disconnect(0)
}

// reconnect connects the device again, synchronously so that its birth
// comes before its next reading, and publishes the birth. When that fails,
// a goroutine keeps trying.
func (t *mqttTransport) reconnect(dev int32, birth *Message) {
	oc := t.own[dev]
	oc.offline.Store(false)
	if oc.busy.Load() {
		return // a reconnection goroutine is on it
	}
	if err := t.connectOwn(oc); err != nil {
		t.log.Warn("device reconnect failed; retrying", "device_id", oc.id, "err", err)
		t.revive(oc)
		return
	}
	t.publish(dev, birth)
}

// connectOwn makes one connection attempt.
func (t *mqttTransport) connectOwn(oc *ownConn) error {
	tok := oc.client.Connect()
	if !tok.WaitTimeout(2 * ConnectTimeout) {
		return fmt.Errorf("sim: connect %s: no answer within %s", oc.id, 2*ConnectTimeout)
	}
	return tok.Error()
}

// revive starts a goroutine that reconnects the device with backoff and
// publishes its birth, unless one runs or the transport is closing.
func (t *mqttTransport) revive(oc *ownConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !oc.busy.CompareAndSwap(false, true) {
		return
	}
	t.wg.Go(func() {
		defer oc.busy.Store(false)
		backoff := ConnectBackoff
		for !oc.offline.Load() && t.ctx.Err() == nil {
			err := t.connectOwn(oc)
			if err == nil {
				if oc.will {
					oc.client.Publish(oc.statusTopic, 1, false, StatusOnline)
					t.f.ctr.status.Add(1)
				}
				return
			}
			t.log.Warn("device reconnect failed", "device_id", oc.id, "retry_in", backoff, "err", err)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
			}
			timer.Stop()
			backoff = min(2*backoff, ConnectBackoffMax)
		}
	})
}

// close drains the pending publishes for up to DrainTimeout, stops the
// reconnection goroutines and disconnects every client.
func (t *mqttTransport) close() {
	deadline := t.f.cfg.Now().Add(DrainTimeout)
	for t.head < len(t.pending) {
		left := deadline.Sub(t.f.cfg.Now())
		if left <= 0 {
			break
		}
		t.waitOldest(left)
	}
	before := t.f.ctr.failed.Load()
	t.reap(true)
	if lost := t.f.ctr.failed.Load() - before; lost > 0 {
		t.log.Warn("stopped with failed or unconfirmed publishes", "count", lost)
	}
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()

	var wg sync.WaitGroup
	sem := make(chan struct{}, mqttConnectParallel)
	disconnect := func(c mqtt.Client) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if c.IsConnected() {
				c.Disconnect(uint(DisconnectQuiesce / time.Millisecond))
			}
		})
	}
	for _, oc := range t.own {
		if oc != nil {
			disconnect(oc.client)
		}
	}
	if t.shared != nil {
		disconnect(t.shared)
	}
	wg.Wait()
	t.log.Info("disconnected", "broker", t.broker)
}

// redact returns rawURL with any password masked, for logs and errors.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
