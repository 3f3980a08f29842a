package ingest

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// verifyNoLeaks checks, after every other cleanup of t has run (servers
// shut down, clients disconnected), that no goroutine is left over. The
// broker tests use it instead of goleak.VerifyTestMain so that this file
// does not claim the package's single TestMain. Tests that use it are not
// parallel: goleak sees every goroutine of the process.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// startBroker starts a broker on a random loopback port with its store in a
// temp dir and shuts it down in t.Cleanup.
func startBroker(t *testing.T, cfg BrokerConfig) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	b, err := NewBroker(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, err)
	t.Cleanup(b.Shutdown)
	return b
}

// testWriter sends log output to t.Log, so it shows only for failed tests.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// connect connects a paho client and disconnects it in t.Cleanup.
func connect(t *testing.T, url, id string, configure func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if configure != nil {
		configure(opts)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connect %s: timeout", id)
	require.NoError(t, tok.Error(), "connect %s", id)
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func waitToken(t *testing.T, tok mqtt.Token) {
	t.Helper()
	require.True(t, tok.WaitTimeout(10*time.Second), "token timeout")
	require.NoError(t, tok.Error())
}

// collector records received messages; its handler never blocks.
type collector struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	seen map[string]int
}

func newCollector() *collector { return &collector{seen: make(map[string]int)} }

func (c *collector) handle(_ mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	c.seen[string(m.Payload())]++
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// unique returns how many distinct payloads arrived and how many arrived
// more than once.
func (c *collector) unique() (distinct, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.seen {
		if n > 1 {
			dups++
		}
	}
	return len(c.seen), dups
}

// ack acknowledges the received messages with index in [from, to).
func (c *collector) ack(from, to int) {
	c.mu.Lock()
	batch := append([]mqtt.Message(nil), c.msgs[from:to]...)
	c.mu.Unlock()
	for _, m := range batch {
		m.Ack()
	}
}

func publishN(t *testing.T, c mqtt.Client, topic string, qos byte, n int) {
	t.Helper()
	toks := make([]mqtt.Token, 0, n)
	for i := range n {
		toks = append(toks, c.Publish(topic, qos, false, fmt.Sprintf(`{"m":%d}`, i)))
	}
	for _, tok := range toks {
		waitToken(t, tok)
	}
}

func TestBrokerPersistentSessionSurvivesReconnect(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{})
	const topic, n = "rollcall/site-a/wt-01", 50

	sub := connect(t, b.MQTTURL(), "sub", func(o *mqtt.ClientOptions) { o.SetCleanSession(false) })
	waitToken(t, sub.Subscribe(topic, 1, func(mqtt.Client, mqtt.Message) {}))
	sub.Disconnect(250)

	pub := connect(t, b.MQTTURL(), "pub", nil)
	publishN(t, pub, topic, 1, n)
	publishN(t, pub, topic, 0, 5) // QoS 0 is not queued for an offline session

	// Same client id, clean=false, no re-subscribe: the broker resumes the
	// session and delivers what it queued to the default handler.
	got := newCollector()
	connect(t, b.MQTTURL(), "sub", func(o *mqtt.ClientOptions) {
		o.SetCleanSession(false).SetDefaultPublishHandler(got.handle)
	})
	require.Eventually(t, func() bool { d, _ := got.unique(); return d == n },
		10*time.Second, 10*time.Millisecond, "queued QoS 1 messages after reconnect")
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, m := range got.msgs {
		require.Equal(t, byte(1), m.Qos())
		require.Equal(t, topic, m.Topic())
	}
}

func TestBrokerMaxAckPendingBoundsInFlight(t *testing.T) {
	verifyNoLeaks(t)
	const window, total = 10, 35
	b := startBroker(t, BrokerConfig{MaxAckPending: window})
	const topic = "rollcall/site-a/wt-02"

	got := newCollector()
	sub := connect(t, b.MQTTURL(), "slow", func(o *mqtt.ClientOptions) { o.SetAutoAckDisabled(true) })
	waitToken(t, sub.Subscribe(topic, 1, got.handle))
	// A control subscriber acks automatically: once it has everything,
	// the broker has routed every message to both subscriptions.
	control := newCollector()
	ctl := connect(t, b.MQTTURL(), "control", nil)
	waitToken(t, ctl.Subscribe(topic, 1, control.handle))

	pub := connect(t, b.MQTTURL(), "pub", nil)
	publishN(t, pub, topic, 1, total)
	require.Eventually(t, func() bool { return control.count() == total }, 10*time.Second, 10*time.Millisecond)

	// expectExactly waits until want messages arrived and then checks, over
	// a short bounded window, that the broker sends no more without acks.
	expectExactly := func(want int) {
		t.Helper()
		require.Eventually(t, func() bool { return got.count() >= want }, 10*time.Second, 5*time.Millisecond)
		require.Never(t, func() bool { return got.count() > want }, 300*time.Millisecond, 10*time.Millisecond,
			"more than %d unacked messages delivered", want)
	}
	expectExactly(window)

	got.ack(0, 4)
	expectExactly(window + 4)

	// Ack everything as it arrives: the rest follows.
	require.Eventually(t, func() bool {
		n := got.count()
		got.ack(0, n)
		return n == total
	}, 10*time.Second, 10*time.Millisecond)
	distinct, dups := got.unique()
	require.Equal(t, total, distinct)
	require.Zero(t, dups, "no redelivery within AckWait")
}

func TestBrokerRandomPort(t *testing.T) {
	verifyNoLeaks(t)
	for _, listen := range []string{"127.0.0.1:0", ":0"} {
		t.Run(listen, func(t *testing.T) {
			// Every interface takes anonymous clients only when allowed.
			b := startBroker(t, BrokerConfig{Listen: listen, AllowAnonymous: listen == ":0"})
			_, port, err := net.SplitHostPort(b.MQTTAddr())
			require.NoError(t, err)
			require.NotEqual(t, "0", port)
			require.Equal(t, "tcp://127.0.0.1:"+port, b.MQTTURL())
			require.True(t, strings.HasPrefix(b.ClientURL(), "nats://127.0.0.1:"), b.ClientURL())
			require.NotEqual(t, "nats://127.0.0.1:0", b.ClientURL())

			for _, addr := range []string{strings.TrimPrefix(b.MQTTURL(), "tcp://"), strings.TrimPrefix(b.ClientURL(), "nats://")} {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				require.NoError(t, err, addr)
				require.NoError(t, conn.Close())
			}
			connect(t, b.MQTTURL(), "probe", nil)
		})
	}
}

func TestBrokerListenFailureFailsFast(t *testing.T) {
	verifyNoLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()

	start := time.Now()
	_, err = NewBroker(BrokerConfig{Listen: l.Addr().String(), StoreDir: t.TempDir()}, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "MQTT")
	require.Less(t, time.Since(start), BrokerStartTimeout, "must not wait for the whole start timeout")
}

func TestBrokerLogsThroughSlog(t *testing.T) {
	verifyNoLeaks(t)
	var buf testserver.LogBuffer
	b, err := NewBroker(BrokerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()},
		slog.New(slog.NewTextHandler(&buf, nil)))
	require.NoError(t, err)
	b.Shutdown()
	b.Shutdown() // idempotent
	out := buf.String()
	require.Contains(t, out, `level=INFO msg="broker started"`)
	require.NotContains(t, out, "Listening for MQTT clients", "nats-server notices are debug output")
	require.NotContains(t, out, "level=DEBUG", "debug is off when the handler does not enable it")

	// With debug on, nats-server's notices come through slog.
	var dbg testserver.LogBuffer
	b, err = NewBroker(BrokerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()},
		slog.New(slog.NewTextHandler(&dbg, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	b.Shutdown()
	require.Contains(t, dbg.String(), `level=DEBUG msg="Listening for MQTT clients on mqtt://127.0.0.1:`)
}

func TestBrokerConfigValidate(t *testing.T) {
	valid := BrokerConfig{StoreDir: "/tmp/x"}.WithDefaults()
	require.NoError(t, valid.Validate())
	require.Equal(t, BrokerConfig{
		Listen: DefaultMQTTListen, NATSListen: DefaultNATSListen, StoreDir: "/tmp/x",
		MaxAckPending: DefaultMaxAckPending, AckWait: DefaultAckWait, ServerName: DefaultServerName,
		MaxStoreBytes: DefaultMaxStoreBytes, MaxMemoryBytes: DefaultMaxMemoryBytes,
		TelemetryTopic: DefaultTelemetryTopic, StatusTopic: DefaultStatusTopic,
	}, valid)
	require.NoError(t, BrokerConfig{StoreDir: "/tmp/x"}.Validate(), "zero values mean defaults")

	tests := []struct {
		name   string
		modify func(*BrokerConfig)
		want   []string // substrings of the error, one per problem
	}{
		{"no store dir", func(c *BrokerConfig) { c.StoreDir = "" }, []string{"store_dir"}},
		{"listen without port", func(c *BrokerConfig) { c.Listen = "localhost" }, []string{"listen"}},
		{"listen bad port", func(c *BrokerConfig) { c.Listen = ":99999" }, []string{"listen"}},
		{"listen named port", func(c *BrokerConfig) { c.Listen = ":mqtt" }, []string{"listen"}},
		{"nats listen bad", func(c *BrokerConfig) { c.NATSListen = "127.0.0.1" }, []string{"nats_listen"}},
		{"same listen twice", func(c *BrokerConfig) { c.NATSListen = c.Listen }, []string{"listen and nats_listen"}},
		{"negative max ack pending", func(c *BrokerConfig) { c.MaxAckPending = -1 }, []string{"max_ack_pending"}},
		{"max ack pending over half of 65535", func(c *BrokerConfig) { c.MaxAckPending = MaxAckPendingLimit + 1 }, []string{"max_ack_pending"}},
		{"negative ack wait", func(c *BrokerConfig) { c.AckWait = -time.Second }, []string{"ack_wait"}},
		{"server name with space", func(c *BrokerConfig) { c.ServerName = "roll call" }, []string{"server_name"}},
		{"every problem at once", func(c *BrokerConfig) {
			c.StoreDir, c.Listen, c.MaxAckPending, c.AckWait = "", "x", 70000, -1
		}, []string{"store_dir", "listen", "max_ack_pending", "ack_wait"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.modify(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w+":")
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tt.want))
		})
	}
	_, err := NewBroker(BrokerConfig{}, nil)
	require.ErrorContains(t, err, "store_dir")
}

func TestBrokerMaxAckPendingLimitFitsHashFilter(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{MaxAckPending: MaxAckPendingLimit})
	c := connect(t, b.MQTTURL(), "wide", nil)
	// A filter ending in '#' reserves 2*MaxAckPending of the session's 65535.
	tok := c.Subscribe("rollcall/#", 1, func(mqtt.Client, mqtt.Message) {})
	waitToken(t, tok)
	require.Equal(t, map[string]byte{"rollcall/#": 1}, tok.(*mqtt.SubscribeToken).Result())

	// A second such filter in the same session exceeds it: SUBACK 0x80.
	tok = c.Subscribe("other/#", 1, func(mqtt.Client, mqtt.Message) {})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.Equal(t, byte(0x80), tok.(*mqtt.SubscribeToken).Result()["other/#"])
	// paho reports a refused subscription only in Result, not as an error.
	require.NoError(t, tok.Error())
}
