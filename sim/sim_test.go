package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config { return Config{BrokerURL: "tcp://127.0.0.1:1883"} }
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{name: "zero values but the broker", mutate: func(*Config) {}},
		{name: "demo", mutate: func(c *Config) { *c = DemoConfig("tcp://localhost:1883") }},
		{name: "everything set", mutate: func(c *Config) {
			*c = Config{
				BrokerURL: "mqtt://u:p@broker:1883", Sites: []string{"north"}, DevicesPerSite: 3,
				Interval: MinInterval, QoS: 2, Seed: -7, TopicTemplate: "t/{device}", ClientIDPrefix: "x",
				Faults: []Fault{{Device: "wt-03", Kind: FaultSilent}}, Now: time.Now,
			}
		}},
		{name: "largest fleet", mutate: func(c *Config) { c.Sites, c.DevicesPerSite = []string{"a", "b"}, MaxDevices/2 }},
		{name: "no broker", mutate: func(c *Config) { c.BrokerURL = "" }, want: []string{"broker_url: required"}},
		{name: "broker without scheme", mutate: func(c *Config) { c.BrokerURL = "127.0.0.1:1883" }, want: []string{"broker_url:"}},
		{name: "empty site", mutate: func(c *Config) { c.Sites = []string{"a", ""} }, want: []string{"sites[1]: empty"}},
		{name: "site with slash", mutate: func(c *Config) { c.Sites = []string{"a/b"} }, want: []string{"sites[0]:"}},
		{name: "site with wildcard", mutate: func(c *Config) { c.Sites = []string{"a", "+"} }, want: []string{"sites[1]:"}},
		{name: "duplicate site", mutate: func(c *Config) { c.Sites = []string{"a", "b", "a"} }, want: []string{"sites[2]:", "twice"}},
		{name: "negative devices", mutate: func(c *Config) { c.DevicesPerSite = -1 }, want: []string{"devices_per_site:"}},
		{name: "too many devices", mutate: func(c *Config) { c.DevicesPerSite = MaxDevices/2 + 1 }, want: []string{"MaxDevices"}},
		{name: "interval too short", mutate: func(c *Config) { c.Interval = time.Millisecond }, want: []string{"interval:"}},
		{name: "negative interval", mutate: func(c *Config) { c.Interval = -time.Second }, want: []string{"interval:"}},
		{name: "interval too long", mutate: func(c *Config) { c.Interval = 2 * time.Hour }, want: []string{"interval:"}},
		{name: "qos 3", mutate: func(c *Config) { c.QoS = 3 }, want: []string{"qos:"}},
		{name: "template without device", mutate: func(c *Config) { c.TopicTemplate = "fleet/{site}" }, want: []string{"topic_template:", "{device}"}},
		{name: "template with wildcard", mutate: func(c *Config) { c.TopicTemplate = "fleet/#/{device}" }, want: []string{"topic_template:", "wildcard"}},
		{name: "client id with space", mutate: func(c *Config) { c.ClientIDPrefix = "a b" }, want: []string{"client_id_prefix:"}},
		{name: "fault on unknown device", mutate: func(c *Config) { c.Faults = []Fault{{Device: "wt-21", Kind: FaultSilent}} }, want: []string{"faults[0].device:", "wt-01 … wt-20"}},
		{name: "unknown fault kind", mutate: func(c *Config) { c.Faults = []Fault{{Device: "wt-01", Kind: "offline"}} }, want: []string{"faults[0].kind:"}},
		{name: "empty fault kind", mutate: func(c *Config) { c.Faults = []Fault{{Device: "wt-01"}} }, want: []string{"faults[0].kind:"}},
		{name: "two faults on one device", mutate: func(c *Config) {
			c.Faults = []Fault{{Device: "wt-01", Kind: FaultSilent}, {Device: "wt-01", Kind: FaultSilent, After: time.Second}}
		}, want: []string{"faults[1].device:", "already"}},
		{name: "negative fault start", mutate: func(c *Config) { c.Faults = []Fault{{Device: "wt-01", Kind: FaultSilent, After: -1}} }, want: []string{"faults[0].after:"}},
		{name: "every problem at once", mutate: func(c *Config) {
			*c = Config{Sites: []string{""}, Interval: -1, QoS: 9, TopicTemplate: "x", Faults: []Fault{{Device: "nope"}}}
		}, want: []string{"broker_url:", "sites[0]:", "interval:", "qos:", "topic_template:", "faults[0].device:", "faults[0].kind:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				_, err := New(cfg, nil)
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			_, err = New(cfg, nil)
			require.ErrorContains(t, err, "sim: config:")
		})
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	got := Config{}.WithDefaults()
	require.Equal(t, DefaultSites(), got.Sites)
	require.Equal(t, DefaultDevicesPerSite, got.DevicesPerSite)
	require.Equal(t, DefaultInterval, got.Interval)
	require.Equal(t, byte(DefaultQoS), got.QoS)
	require.Equal(t, int64(DefaultSeed), got.Seed)
	require.Equal(t, DefaultTopicTemplate, got.TopicTemplate)
	require.Equal(t, DefaultClientIDPrefix, got.ClientIDPrefix)
	require.NotNil(t, got.Now)

	set := Config{Sites: []string{"x"}, DevicesPerSite: 2, Interval: time.Minute, QoS: 2, Seed: 5,
		TopicTemplate: "t/{device}", ClientIDPrefix: "p"}
	kept := set.WithDefaults()
	kept.Now = nil
	require.Equal(t, set, kept)
}

func TestDemoFleet(t *testing.T) {
	t.Parallel()
	f, err := New(DemoConfig("tcp://127.0.0.1:1883"), nil)
	require.NoError(t, err)
	require.Len(t, f.devices, 40)
	first, last := f.devices[0], f.devices[39]
	require.Equal(t, device{id: "wt-01", site: "site-a", topic: "fleet/site-a/wt-01/telemetry"}, first)
	require.Equal(t, "wt-40", last.id)
	require.Equal(t, "fleet/site-b/wt-40/telemetry", last.topic)
	require.Equal(t, "site-a", f.devices[19].site)
	require.Equal(t, "site-b", f.devices[20].site)
	silent := f.devices[6]
	require.Equal(t, DemoSilentDevice, silent.id)
	require.Equal(t, "site-a", silent.site)
	require.True(t, silent.silent)
	require.Equal(t, DemoSilentAfter, silent.silentAfter)
	for i, d := range f.devices {
		require.Equal(t, time.Duration(i)*25*time.Millisecond, d.offset, d.id)
		require.Equal(t, i == 6, d.silent, d.id)
	}
}

func TestPowerKW(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		windMS float64
		want   float64
	}{
		{"calm", 0, 0},
		{"negative", -1, 0},
		{"NaN", math.NaN(), 0},
		{"just below cut-in", CutInMS - 1e-9, 0},
		{"cut-in", CutInMS, 0},
		{"ramp", 7.5, RatedKW * (7.5*7.5*7.5 - 27) / (1728 - 27)},
		{"just below rated", RatedMS - 1e-9, RatedKW},
		{"rated", RatedMS, RatedKW},
		{"just below cut-out", CutOutMS - 1e-9, RatedKW},
		{"cut-out", CutOutMS, 0},
		{"storm", 40, 0},
		{"infinite", math.Inf(1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, PowerKW(tt.windMS), 1e-6)
		})
	}

	t.Run("monotone from cut-in to cut-out", func(t *testing.T) {
		t.Parallel()
		prev := 0.0
		for v := CutInMS; v < CutOutMS; v += 0.01 {
			p := PowerKW(v)
			require.GreaterOrEqual(t, p, prev, "at %v m/s", v)
			if v > CutInMS && v < RatedMS {
				require.Greater(t, p, prev, "strictly increasing on the ramp, at %v m/s", v)
			}
			require.LessOrEqual(t, p, RatedKW)
			prev = p
		}
	})
}

// rounds draws n rounds from a generator with the demo layout.
func rounds(seed int64, n int) [][]sample {
	g := newGenerator(seed, 2, 10)
	out := make([][]sample, n)
	for i := range out {
		out[i] = slices.Clone(g.next())
	}
	return out
}

func TestGeneratorDeterministic(t *testing.T) {
	t.Parallel()
	const n = 2000
	a := rounds(1, n)
	require.Equal(t, a, rounds(1, n), "same seed, same values")
	require.NotEqual(t, a[:10], rounds(2, 10), "another seed, other values")

	var sum float64
	for k, round := range a {
		require.Len(t, round, 20)
		for i, s := range round {
			// Plain ifs: require in this loop of 40,000 would dominate the test.
			if s.WindMS < 0 || s.WindMS > windMaxMS || s.WindMS != round1(s.WindMS) {
				t.Fatalf("round %d device %d: wind %v m/s is not in [0, %v] or not rounded to 0.1", k, i, s.WindMS, windMaxMS)
			}
			if s.PowerKW != round1(PowerKW(s.WindMS)) {
				t.Fatalf("round %d device %d: power %v kW does not match the wind %v m/s", k, i, s.PowerKW, s.WindMS)
			}
			sum += s.WindMS
		}
	}
	require.InDelta(t, windMeanMS, sum/(n*20), 1.5, "the wind stays around its mean")
	// Turbines of one site share its wind, so they read closer to each other
	// than to the other site; check it for the first round.
	require.InDelta(t, a[0][0].WindMS, a[0][1].WindMS, 6*turbineSigmaMS)
}

func TestAppendPayload(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 22, 11, 0, 0, 123_987_654, time.FixedZone("CET", 3600))
	got := appendPayload(nil, 1234, 3, ts, sample{WindMS: 11.2, PowerKW: 1523.4})
	require.JSONEq(t, `{"seq":1234,"boot":3,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}`, string(got))
	got = appendPayload(nil, 1, 1, ts.Truncate(time.Second), sample{WindMS: 13, PowerKW: 3000})
	require.Equal(t, `{"seq":1,"boot":1,"ts":"2026-11-22T10:00:00.000Z","metrics":{"power_kw":3000,"wind_ms":13}}`, string(got))
}

// telemetry is the decoded payload.
type telemetry struct {
	Seq     uint64             `json:"seq"`
	Boot    uint64             `json:"boot"`
	TS      time.Time          `json:"ts"`
	Metrics map[string]float64 `json:"metrics"`
}

// fakePublisher records publishes. delay, if set, is how long Publish blocks;
// token returns each publish's token (default: completed without error).
type fakePublisher struct {
	delay time.Duration
	token func() mqtt.Token

	mu   sync.Mutex
	msgs map[string][]telemetry // by topic
	bad  []string               // publishes that are not QoS 1 telemetry
}

func (p *fakePublisher) Publish(topic string, qos byte, retained bool, payload any) mqtt.Token {
	var m telemetry
	b, _ := payload.([]byte)
	err := json.Unmarshal(b, &m)
	p.mu.Lock()
	if err != nil || qos != 1 || retained {
		p.bad = append(p.bad, fmt.Sprintf("qos %d, retained %t, payload %v: %v", qos, retained, payload, err))
	}
	if p.msgs == nil {
		p.msgs = map[string][]telemetry{}
	}
	p.msgs[topic] = append(p.msgs[topic], m)
	p.mu.Unlock()
	time.Sleep(p.delay) // fake time: the test runs in a synctest bubble
	if p.token != nil {
		return p.token()
	}
	return newToken(nil)
}

// token is a fake mqtt.Token; it is complete when done is closed.
type token struct {
	done chan struct{}
	err  error
}

func newToken(err error) *token {
	t := &token{done: make(chan struct{}), err: err}
	close(t.done)
	return t
}

func (t *token) Wait() bool { <-t.done; return true }
func (t *token) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *token) Done() <-chan struct{} { return t.done }
func (t *token) Error() error          { return t.err }

// runFor runs f's schedule against pub for d of fake time, then stops it and
// waits for it to return. It must be called in a synctest bubble.
func runFor(t *testing.T, f *Fleet, pub publisher, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.newRun(pub, 1).loop(ctx)
	}()
	time.Sleep(d)
	cancel()
	<-done
}

func TestScheduleStaggersAndSilences(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f, err := New(Config{
			BrokerURL: "tcp://unused:1883", Sites: []string{"a", "b"}, DevicesPerSite: 2,
			Faults: []Fault{{Device: "wt-02", Kind: FaultSilent, After: 2500 * time.Millisecond}},
		}, nil)
		require.NoError(t, err)
		pub := &fakePublisher{}
		runFor(t, f, pub, 4900*time.Millisecond)
		require.Empty(t, pub.bad)

		// Slots of device i fall at k s + i×250 ms; slots at 4.75 s and
		// earlier are due within 4.9 s.
		want := map[string]int{"fleet/a/wt-01/telemetry": 5, "fleet/a/wt-02/telemetry": 3,
			"fleet/b/wt-03/telemetry": 5, "fleet/b/wt-04/telemetry": 5}
		require.Len(t, pub.msgs, len(want))
		for i, d := range f.devices {
			msgs := pub.msgs[d.topic]
			require.Len(t, msgs, want[d.topic], d.id)
			for k, m := range msgs {
				require.Equal(t, uint64(k+1), m.Seq, d.id)
				require.Equal(t, uint64(1), m.Boot, d.id)
				wantTS := start.Add(time.Duration(k)*time.Second + time.Duration(i)*250*time.Millisecond)
				require.True(t, wantTS.Truncate(time.Millisecond).Equal(m.TS), "%s: ts %s, want %s", d.id, m.TS, wantTS)
				require.InDelta(t, round1(PowerKW(m.Metrics["wind_ms"])), m.Metrics["power_kw"], 1e-9)
			}
		}
		require.Equal(t, uint64(18), f.Sent())
		require.Zero(t, f.Failed())
		require.Zero(t, f.Missed())

		// The published values are the generator's, round by round, including
		// the rounds the silent device skipped.
		gen := newGenerator(DefaultSeed, 2, 2)
		for k := range 5 {
			round := gen.next()
			for i, d := range f.devices {
				if msgs := pub.msgs[d.topic]; k < len(msgs) {
					require.InDelta(t, round[i].WindMS, msgs[k].Metrics["wind_ms"], 1e-9, "%s round %d", d.id, k)
				}
			}
		}
	})
}

func TestScheduleCountsLosses(t *testing.T) {
	t.Parallel()
	cfg := Config{BrokerURL: "tcp://unused:1883", Sites: []string{"a"}, DevicesPerSite: 2}
	tests := []struct {
		name                string
		pub                 *fakePublisher
		run                 time.Duration
		sent, failed, missd uint64
	}{
		{
			name: "client errors",
			pub:  &fakePublisher{token: func() mqtt.Token { return newToken(errors.New("boom")) }},
			run:  2900 * time.Millisecond, sent: 6, failed: 6,
		},
		{
			// Slots at 0, 0.5, …, 2.5 s; after AckTimeout all are failed, and
			// the rest at the end.
			name: "never confirmed",
			pub:  &fakePublisher{token: func() mqtt.Token { return &token{done: make(chan struct{})} }},
			run:  AckTimeout + 900*time.Millisecond, sent: 22, failed: 22,
		},
		{
			// Each publish blocks 2.2 s. The slot at 0 s is sent; at 2.2 s
			// the slots at 0.5 s and 1 s are more than an interval late and
			// skipped, the one at 1.5 s is sent and blocks past the stop.
			name: "behind schedule",
			pub:  &fakePublisher{delay: 2200 * time.Millisecond},
			run:  4 * time.Second, sent: 2, missd: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f, err := New(cfg, nil)
				require.NoError(t, err)
				runFor(t, f, tt.pub, tt.run)
				require.Empty(t, tt.pub.bad)
				require.Equal(t, tt.sent, f.Sent(), "sent")
				require.Equal(t, tt.failed, f.Failed(), "failed")
				require.Equal(t, tt.missd, f.Missed(), "missed")
			})
		})
	}
}

func TestRunGivesUp(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "tcp://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	t.Run("after ConnectAttempts", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f, err := New(Config{BrokerURL: url}, nil)
			require.NoError(t, err)
			start := time.Now()
			err = f.Run(t.Context())
			require.ErrorContains(t, err, fmt.Sprintf("%d attempts failed", ConnectAttempts))
			require.Equal(t, 3750*time.Millisecond, time.Since(start), "backoff 250 ms, doubling")
		})
	})
	t.Run("when ctx ends", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f, err := New(Config{BrokerURL: url}, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 600*time.Millisecond)
			defer cancel()
			require.NoError(t, f.Run(ctx))
			require.Zero(t, f.Sent())
		})
	})
}

// startBroker starts an embedded nats-server with MQTT on loopback and
// returns its MQTT URL.
func startBroker(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName: "sim-test", Host: "127.0.0.1", Port: -1, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
		MQTT: server.MQTTOpts{Host: "127.0.0.1", Port: -1},
	})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second), "broker not ready")
	// v2.15.2 has no MQTTAddr; Varz reports the port MQTT.Port -1 picked.
	vz, err := s.Varz(nil)
	require.NoError(t, err)
	return fmt.Sprintf("tcp://%s:%d", vz.MQTT.Host, vz.MQTT.Port)
}

func TestIntegrationFleetPublishes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded MQTT broker")
	}
	broker := startBroker(t)

	var (
		mu   sync.Mutex
		msgs = map[string][]telemetry{} // by device, in arrival order
		bad  []string
	)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("sim-test-sub").SetCleanSession(true))
	tok := sub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { sub.Disconnect(250) })
	tok = sub.Subscribe("fleet/+/+/telemetry", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		var tm telemetry
		parts := strings.Split(m.Topic(), "/")
		if err := json.Unmarshal(m.Payload(), &tm); err != nil || len(parts) != 4 {
			bad = append(bad, fmt.Sprintf("%s: %s: %v", m.Topic(), m.Payload(), err))
			return
		}
		msgs[parts[2]] = append(msgs[parts[2]], tm)
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	const (
		interval    = 50 * time.Millisecond
		silentAfter = 300 * time.Millisecond
		silentID    = "wt-07"
	)
	f, err := New(Config{
		BrokerURL: broker, Interval: interval,
		Faults: []Fault{{Device: silentID, Kind: FaultSilent, After: silentAfter}},
	}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(ctx) }()

	// Wait until every device has reported and the others have gone on well
	// past the silent device's end.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(msgs) < 20 || len(msgs[silentID]) == 0 {
			return false
		}
		deadline := msgs[silentID][0].TS.Add(silentAfter + 6*interval)
		for id, ms := range msgs {
			if id != silentID && !ms[len(ms)-1].TS.After(deadline) {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-runErr:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.Zero(t, f.Failed())
	// Every message the fleet sent arrives (QoS 1).
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ms := range msgs {
			n += len(ms)
		}
		return uint64(n) >= f.Sent()
	}, 10*time.Second, 10*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, bad)
	require.Len(t, msgs, 20)
	for id, ms := range msgs {
		for k, m := range ms {
			require.Equal(t, uint64(k+1), m.Seq, "%s: seq increments by 1 from 1", id)
			require.Equal(t, uint64(1), m.Boot, id)
			require.Len(t, m.Metrics, 2, id)
			require.InDelta(t, round1(PowerKW(m.Metrics["wind_ms"])), m.Metrics["power_kw"], 1e-9, id)
			if k > 0 {
				require.True(t, m.TS.After(ms[k-1].TS), "%s: ts increases", id)
			}
		}
	}
	silent := msgs[silentID]
	require.False(t, silent[len(silent)-1].TS.After(silent[0].TS.Add(silentAfter+interval)),
		"the silent device published after it went silent: first %s, last %s", silent[0].TS, silent[len(silent)-1].TS)
}
