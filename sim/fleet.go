package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publisher is the part of the paho client the schedule uses, so tests can
// fake it. Publish must return within a bounded time (paho bounds it by its
// write timeout); the token completes when the broker has confirmed the
// message (QoS ≥ 1) or the publish failed.
type publisher interface {
	Publish(topic string, qos byte, retained bool, payload any) mqtt.Token
}

var _ publisher = mqtt.Client(nil)

// Fleet publishes the simulated devices' readings. Its methods are safe for
// concurrent use.
type Fleet struct {
	cfg     Config
	log     *slog.Logger
	devices []device // in fleet order

	boots  atomic.Uint64 // calls of Run so far
	sent   atomic.Uint64
	failed atomic.Uint64
	missed atomic.Uint64
}

// device is one simulated turbine; it is immutable after New.
type device struct {
	id, site, topic string
	// offset is the phase of the device's publishes within the interval:
	// devices are spread evenly over it in fleet order.
	offset time.Duration
	// silentAfter is when the device stops publishing, measured from the
	// fleet's start; silent is false when it never does.
	silent      bool
	silentAfter time.Duration
}

// New returns a fleet for cfg, after filling defaults and validating it. A nil
// log discards.
func New(cfg Config, log *slog.Logger) (*Fleet, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim: config: %w", err)
	}
	cfg.Sites, cfg.Faults = slices.Clone(cfg.Sites), slices.Clone(cfg.Faults)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{cfg: cfg, log: log.With("stage", "sim")}
	ids := cfg.deviceIDs()
	for i, id := range ids {
		site := cfg.Sites[i/cfg.DevicesPerSite]
		d := device{
			id:     id,
			site:   site,
			topic:  strings.NewReplacer("{site}", site, "{device}", id).Replace(cfg.TopicTemplate),
			offset: time.Duration(int64(cfg.Interval) * int64(i) / int64(len(ids))),
		}
		for _, fault := range cfg.Faults { // Validate allows one fault per device
			if fault.Device == id {
				d.silent, d.silentAfter = true, fault.After
			}
		}
		f.devices = append(f.devices, d)
	}
	return f, nil
}

// Sent returns how many readings the fleet has handed to the MQTT client, over
// all runs. Failed ones are included.
func (f *Fleet) Sent() uint64 { return f.sent.Load() }

// Failed returns how many of the Sent readings failed: the client reported an
// error, or the broker did not confirm them within AckTimeout or before Run
// returned.
func (f *Fleet) Failed() uint64 { return f.failed.Load() }

// Missed returns how many scheduled readings were not sent because the fleet
// fell more than one Interval behind its schedule (a stalled process or
// broker). Readings a fault suppresses are not missed.
func (f *Fleet) Missed() uint64 { return f.missed.Load() }

// Run connects to the broker with one MQTT client (clean session, no Last
// Will) and publishes each device's reading every Interval on the device's
// topic until ctx is done. It then waits up to DrainTimeout for outstanding
// confirmations, disconnects and returns nil. It returns an error only when
// it cannot connect in ConnectAttempts attempts.
//
// Each call is a new boot of every device: boot is the number of the call (1
// for the first), seq restarts at 1 and the values restart from the seed.
// Calls must not overlap.
func (f *Fleet) Run(ctx context.Context) error {
	boot := f.boots.Add(1)
	client, err := f.connect(ctx)
	if client == nil {
		return err // nil when ctx ended first
	}
	f.newRun(client, boot).loop(ctx)
	client.Disconnect(uint(DisconnectQuiesce / time.Millisecond))
	f.log.Info("disconnected", "boot", boot, "sent_total", f.Sent(), "failed_total", f.Failed(),
		"missed_total", f.Missed())
	return nil
}

// connect returns a connected client, or nil and nil when ctx ends first.
func (f *Fleet) connect(ctx context.Context) (mqtt.Client, error) {
	broker := redact(f.cfg.BrokerURL)
	clientID := fmt.Sprintf("%s-%08x", f.cfg.ClientIDPrefix, rand.Uint32())
	opts := mqtt.NewClientOptions().
		AddBroker(f.cfg.BrokerURL).
		SetClientID(clientID).
		SetCleanSession(true).
		SetConnectTimeout(ConnectTimeout).
		// A publish the connection cannot take in time fails (and is counted)
		// instead of stalling the schedule; paho's default waits 30s.
		SetWriteTimeout(min(f.cfg.Interval, time.Second)).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(ConnectBackoffMax).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			f.log.Warn("connection lost", "broker", broker, "err", err)
		})
	client := mqtt.NewClient(opts)
	backoff := ConnectBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return nil, nil
		}
		tok := client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			// ConnectTimeout bounds the attempt; let it end so that no client
			// goroutine outlives Run.
			tok.WaitTimeout(2 * ConnectTimeout)
			client.Disconnect(0)
			return nil, nil
		}
		err := tok.Error()
		if err == nil {
			f.log.Info("connected", "broker", broker, "client_id", clientID,
				"devices", len(f.devices), "interval", f.cfg.Interval, "qos", f.cfg.QoS, "seed", f.cfg.Seed)
			return client, nil
		}
		if attempt == ConnectAttempts {
			return nil, fmt.Errorf("sim: connect to %s: %d attempts failed, last: %w", broker, attempt, err)
		}
		f.log.Warn("connect failed", "broker", broker, "attempt", attempt, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		}
		backoff = min(2*backoff, ConnectBackoffMax)
	}
}

// redact returns rawURL with any password masked, for logs and errors.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// run is the state of one call of Run, owned by its goroutine.
type run struct {
	f        *Fleet
	pub      publisher
	boot     uint64
	gen      *generator
	seq      []uint64   // last seq per device
	pending  []inflight // publishes not yet confirmed, oldest first
	failWarn throttle
	missWarn throttle
}

// inflight is a publish awaiting its confirmation. The list is bounded: paho
// has at most 65535 QoS ≥ 1 messages in flight (it fails further publishes at
// once) and reap drops every entry after AckTimeout.
type inflight struct {
	tok  mqtt.Token
	sent time.Time
}

func (f *Fleet) newRun(pub publisher, boot uint64) *run {
	return &run{
		f:    f,
		pub:  pub,
		boot: boot,
		gen:  newGenerator(f.cfg.Seed, len(f.cfg.Sites), f.cfg.DevicesPerSite),
		seq:  make([]uint64, len(f.devices)),
	}
}

// loop publishes on schedule until ctx is done, then drains. One ticker
// wakes it; on each wake it publishes every slot that has come due. Slot j is
// device j mod n in round j div n, due at start + round×Interval + the
// device's offset: slots are due in increasing j.
func (r *run) loop(ctx context.Context) {
	cfg := r.f.cfg
	n := uint64(len(r.f.devices))
	start := cfg.Now()
	ticker := time.NewTicker(max(cfg.Interval/time.Duration(n), time.Millisecond))
	defer ticker.Stop()
	var (
		j       uint64 // next slot; 64 bits so that it cannot wrap on 32-bit targets
		samples []sample
	)
	for {
		// A publish may block (up to the client's write timeout), so read the
		// clock for every slot and stop catching up once ctx is done.
		for ctx.Err() == nil {
			now := cfg.Now()
			round, i := j/n, j%n
			at := start.Add(time.Duration(round)*cfg.Interval + r.f.devices[i].offset)
			if at.After(now) {
				break
			}
			if i == 0 {
				samples = r.gen.next() // drawn even when nothing is sent, for determinism
			}
			r.publish(now, at, at.Sub(start), int(i), samples[i])
			j++
		}
		r.reap(cfg.Now(), false)
		select {
		case <-ctx.Done():
			r.drain()
			return
		case <-ticker.C:
		}
	}
}

// publish sends device i's reading s for the slot due at at, elapsed after
// the start, unless a fault silences the device or the slot is too late.
func (r *run) publish(now, at time.Time, elapsed time.Duration, i int, s sample) {
	d := &r.f.devices[i]
	switch {
	case d.silent && elapsed >= d.silentAfter:
		return
	case now.Sub(at) > r.f.cfg.Interval:
		missed := r.f.missed.Add(1)
		if r.missWarn.allow(now) {
			r.f.log.Warn("behind schedule, readings skipped", "missed_total", missed, "late", now.Sub(at))
		}
		return
	}
	r.seq[i]++
	payload := appendPayload(make([]byte, 0, 128), r.seq[i], r.boot, at, s)
	tok := r.pub.Publish(d.topic, r.f.cfg.QoS, false, payload)
	r.f.sent.Add(1)
	r.pending = append(r.pending, inflight{tok: tok, sent: now})
}

// reap removes the completed publishes from the pending list and counts the
// failed ones. A publish unconfirmed after AckTimeout, or at all when final,
// is removed and counted as failed.
func (r *run) reap(now time.Time, final bool) {
	kept := r.pending[:0]
	for _, p := range r.pending {
		switch {
		case isDone(p.tok):
			if err := p.tok.Error(); err != nil {
				r.fail(now, err)
			}
		case final:
			r.fail(now, errUnconfirmed)
		case now.Sub(p.sent) >= AckTimeout:
			r.fail(now, errNoAck)
		default:
			kept = append(kept, p)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
}

// drain waits up to DrainTimeout for the pending publishes, then reaps them
// all.
func (r *run) drain() {
	timeout := time.NewTimer(DrainTimeout)
	defer timeout.Stop()
wait:
	for _, p := range r.pending {
		select {
		case <-p.tok.Done():
		case <-timeout.C:
			break wait
		}
	}
	before := r.f.Failed()
	r.reap(r.f.cfg.Now(), true)
	if lost := r.f.Failed() - before; lost > 0 {
		r.f.log.Warn("stopped with failed or unconfirmed publishes", "count", lost)
	}
}

// fail counts a failed publish and logs at most one warning per WarnEvery.
func (r *run) fail(now time.Time, err error) {
	failed := r.f.failed.Add(1)
	if r.failWarn.allow(now) {
		r.f.log.Warn("publish failed", "failed_total", failed, "err", err)
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

// throttle lets one event through per WarnEvery.
type throttle struct{ last time.Time }

func (t *throttle) allow(now time.Time) bool {
	if !t.last.IsZero() && now.Sub(t.last) < WarnEvery {
		return false
	}
	t.last = now
	return true
}

// tsLayout is RFC 3339 with exactly three fractional digits (milliseconds,
// truncated); for UTC times it ends in "Z".
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// appendPayload appends the telemetry JSON of one reading to b
// (DESIGN.md, "Wire format"):
//
//	{"seq":1,"boot":1,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}
func appendPayload(b []byte, seq, boot uint64, ts time.Time, s sample) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"boot":`...)
	b = strconv.AppendUint(b, boot, 10)
	b = append(b, `,"ts":"`...)
	b = ts.UTC().AppendFormat(b, tsLayout)
	b = append(b, `","metrics":{"power_kw":`...)
	b = strconv.AppendFloat(b, s.PowerKW, 'f', -1, 64)
	b = append(b, `,"wind_ms":`...)
	b = strconv.AppendFloat(b, s.WindMS, 'f', -1, 64)
	return append(b, "}}"...)
}
