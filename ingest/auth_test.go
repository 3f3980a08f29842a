package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// testHash is a bcrypt hash at the minimum cost, to keep tests fast.
func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

// writeFile writes content to a file in a temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// devicesFile writes a devices file: identity -> hash of "pw-"+identity.
func devicesFile(t *testing.T, ids ...string) string {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s: %q\n", id, testHash(t, "pw-"+id))
	}
	return writeFile(t, "devices.yaml", b.String())
}

// startOwnSubscriber subscribes to b as rollcall does (b.Subscriber).
func startOwnSubscriber(t *testing.T, b *Broker, r Router) *Subscriber {
	t.Helper()
	topics, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	return startOwnSubscriberTopics(t, b, r, topics)
}

// startOwnSubscriberTopics is startOwnSubscriber with its topics.
func startOwnSubscriberTopics(t *testing.T, b *Broker, r Router, topics *Topics) *Subscriber {
	t.Helper()
	cfg := b.Subscriber(MQTTConfig{ClientID: "rollcall-" + t.Name(), QoS: 1, CleanSession: true})
	s, err := NewSubscriber(cfg, Limits{}, topics, r, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	s.Start()
	t.Cleanup(s.Stop)
	require.Eventually(t, s.Connected, 10*time.Second, 10*time.Millisecond)
	return s
}

// tryConnect connects a paho client and returns the connect error.
func tryConnect(url, id string, configure func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if configure != nil {
		configure(opts)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return c, fmt.Errorf("connect %s: timeout", id)
	}
	return c, tok.Error()
}

func login(user, pw string) func(*mqtt.ClientOptions) {
	return func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pw) }
}

// payloads returns the payloads the router took for device site/device.
func payloads(r *fakeRouter, site, device string) []string {
	msgs, _, _ := r.snapshot()
	var out []string
	for _, m := range msgs {
		if m.Site == site && m.Device == ID(site, device) {
			out = append(out, string(m.Payload))
		}
	}
	return out
}

// requireRefusedPublish publishes a message on topic with spoofer, then,
// once the broker acknowledged it, a marker on markerTopic with the client
// marker returns (called after the spoof, which may have cost the spoofer
// its connection): once
// the marker arrived, the first would have arrived before it (the broker
// stores them in that order), unless the broker refused it. The refused
// message is not even a reject.
func requireRefusedPublish(t *testing.T, r *fakeRouter, spoofer mqtt.Client, topic string, marker func() mqtt.Client, markerTopic string) {
	t.Helper()
	tok := spoofer.Publish(topic, 1, false, `{"metrics":{"power_kw":2999}}`)
	// nats-server acknowledges and drops it; mosquitto 2.0.11 closes the
	// connection.
	require.True(t, tok.WaitTimeout(10*time.Second), "the broker acknowledges a refused publish or closes the connection")
	payload := fmt.Sprintf(`{"metrics":{"marker":%d}}`, time.Now().UnixNano())
	waitToken(t, marker().Publish(markerTopic, 1, false, payload))
	require.Eventually(t, func() bool {
		msgs, _, _ := r.snapshot()
		for _, m := range msgs {
			if string(m.Payload) == payload {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	msgs, _, rej := r.snapshot()
	for _, m := range msgs {
		require.NotContains(t, string(m.Payload), "2999", "the refused message reached rollcall")
	}
	require.Empty(t, rej, "the refused message must not even be a reject")
}

func TestBrokerAuthDevicesPublishOnlyTheirOwnTopics(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{Auth: BrokerAuth{DevicesFile: devicesFile(t, "site-a/wt-01", "site-a/wt-02")}})
	r := &fakeRouter{}
	startOwnSubscriber(t, b, r)

	own := connect(t, b.MQTTURL(), "wt-01", login("site-a/wt-01", "pw-site-a/wt-01"))
	waitToken(t, own.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"power_kw":1}}`))
	waitToken(t, own.Publish("fleet/site-a/wt-01/status", 1, false, `online`))
	require.Eventually(t, func() bool { return len(payloads(r, "site-a", "wt-01")) == 2 }, 10*time.Second, 10*time.Millisecond)

	// Spoofing another device's topic, another site's or any other topic:
	// refused by the broker.
	for _, topic := range []string{"fleet/site-a/wt-02/telemetry", "fleet/site-b/wt-01/telemetry", "fleet/site-a/wt-02/status", "other/topic"} {
		requireRefusedPublish(t, r, own, topic, func() mqtt.Client { return own }, "fleet/site-a/wt-01/telemetry")
	}
	require.Empty(t, payloads(r, "site-a", "wt-02"))

	// Wrong password, unknown device, anonymous, a NATS-only user: refused
	// at connect.
	for name, configure := range map[string]func(*mqtt.ClientOptions){
		"wrong password": login("site-a/wt-02", "pw-site-a/wt-01"),
		"unknown device": login("site-a/wt-03", "pw-site-a/wt-03"),
		"anonymous":      nil,
		"nats user":      login(natsUserName, ""),
		"own user, bad":  login(b.own.name, "guess"),
	} {
		_, err := tryConnect(b.MQTTURL(), "bad-"+strings.ReplaceAll(name, " ", "-"), configure)
		require.Error(t, err, name)
	}
	require.Empty(t, payloads(r, "site-a", "wt-02"))
}

func TestBrokerAuthUsersHaveTheirPermissions(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{Auth: BrokerAuth{
		DevicesFile: devicesFile(t, "site-a/wt-01"),
		Users: []BrokerUser{
			{Name: "reader", PasswordHash: Secret(testHash(t, "read")), Subscribe: []string{"fleet/#"}},
			{Name: "one-site", PasswordHash: Secret(testHash(t, "site")), Subscribe: []string{"fleet/site-b/+/telemetry"}},
		},
	}})
	r := &fakeRouter{}
	startOwnSubscriber(t, b, r)

	got := newCollector()
	reader := connect(t, b.MQTTURL(), "reader", login("reader", "read"))
	waitToken(t, reader.Subscribe("fleet/#", 1, got.handle))
	narrow := connect(t, b.MQTTURL(), "one-site", login("one-site", "site"))
	tok := narrow.Subscribe("fleet/#", 1, got.handle)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.Equal(t, byte(0x80), tok.(*mqtt.SubscribeToken).Result()["fleet/#"], "outside its permissions")

	dev := connect(t, b.MQTTURL(), "wt-01", login("site-a/wt-01", "pw-site-a/wt-01"))
	waitToken(t, dev.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return got.count() == 1 }, 10*time.Second, 10*time.Millisecond)

	// The reader may not publish.
	requireRefusedPublish(t, r, reader, "fleet/site-a/wt-01/telemetry", func() mqtt.Client { return dev }, "fleet/site-a/wt-01/telemetry")
	require.Len(t, payloads(r, "site-a", "wt-01"), 2, "the device's message and the marker")
}

// An edge node in the devices file may publish its own node's and devices'
// Sparkplug messages, and no other node's.
func TestBrokerAuthSparkplugNode(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{Sparkplug: true, Auth: BrokerAuth{DevicesFile: devicesFile(t, "plant/edge1", "plant/edge2")}})
	r := &fakeRouter{}
	topics, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	startOwnSubscriberTopics(t, b, r, topics.WithSparkplug(true))

	node := connect(t, b.MQTTURL(), "edge1", login("plant/edge1", "pw-plant/edge1"))
	waitToken(t, node.Publish("spBv1.0/plant/NBIRTH/edge1", 1, false, []byte{0x08, 0x01}))
	waitToken(t, node.Publish("spBv1.0/plant/DDATA/edge1/pump-1", 1, false, []byte{0x08, 0x02}))
	require.Eventually(t, func() bool {
		return len(payloads(r, "plant", "edge1")) == 1 && len(payloads(r, "plant", "edge1:pump-1")) == 1
	}, 10*time.Second, 10*time.Millisecond)
	requireRefusedPublish(t, r, node, "spBv1.0/plant/NDATA/edge2", func() mqtt.Client { return node }, "spBv1.0/plant/NDATA/edge1")
}

func TestBrokerTLSListener(t *testing.T) {
	verifyNoLeaks(t)
	ca := testserver.NewCA(t, "test CA")
	crt, key := ca.Server("broker")
	b := startBroker(t, BrokerConfig{
		TLS:  BrokerTLS{Listen: "127.0.0.1:0", CertFile: crt, KeyFile: key},
		Auth: BrokerAuth{DevicesFile: devicesFile(t, "site-a/wt-01")},
	})
	require.True(t, strings.HasPrefix(b.MQTTURL(), "ssl://127.0.0.1:"), b.MQTTURL())
	r := &fakeRouter{}
	startOwnSubscriber(t, b, r)

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	dev := connect(t, b.MQTTURL(), "wt-01", func(o *mqtt.ClientOptions) {
		login("site-a/wt-01", "pw-site-a/wt-01")(o)
		o.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	})
	waitToken(t, dev.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return len(payloads(r, "site-a", "wt-01")) == 1 }, 10*time.Second, 10*time.Millisecond)

	// Plain MQTT on the TLS port, and TLS with an untrusted CA: refused.
	_, err = tryConnect(strings.Replace(b.MQTTURL(), "ssl://", "tcp://", 1), "plain", login("site-a/wt-01", "pw-site-a/wt-01"))
	require.Error(t, err)
	_, err = tryConnect(b.MQTTURL(), "untrusting", func(o *mqtt.ClientOptions) {
		login("site-a/wt-01", "pw-site-a/wt-01")(o)
		o.SetTLSConfig(&tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12})
	})
	require.Error(t, err)

	// A new certificate from another CA, reloaded: new connections see it.
	ca2 := testserver.NewCA(t, "second CA")
	crt2, key2 := ca2.Server("broker")
	copyFile(t, crt2, crt)
	copyFile(t, key2, key)
	require.NoError(t, b.ReloadTLS())
	pool2 := x509.NewCertPool()
	pem2, err := os.ReadFile(ca2.CertFile)
	require.NoError(t, err)
	require.True(t, pool2.AppendCertsFromPEM(pem2))
	connect(t, b.MQTTURL(), "after-reload", func(o *mqtt.ClientOptions) {
		login("site-a/wt-01", "pw-site-a/wt-01")(o)
		o.SetTLSConfig(&tls.Config{RootCAs: pool2, MinVersion: tls.VersionTLS12})
	})
	// A broken file leaves the loaded certificate in place.
	require.NoError(t, os.WriteFile(key, []byte("not a key"), 0o600))
	require.ErrorContains(t, b.ReloadTLS(), "tls.cert_file and tls.key_file")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

func TestBrokerTLSClientCertificatesMapToDevices(t *testing.T) {
	verifyNoLeaks(t)
	ca := testserver.NewCA(t, "test CA")
	crt, key := ca.Server("broker")
	// With certificates, the devices file's hashes may be empty.
	devices := writeFile(t, "devices.yaml", "site-a/wt-01: \"\"\nsite-a/wt-02: \"\"\n")
	b := startBroker(t, BrokerConfig{
		TLS:  BrokerTLS{Listen: "127.0.0.1:0", CertFile: crt, KeyFile: key, ClientCAFile: ca.CertFile},
		Auth: BrokerAuth{DevicesFile: devices},
	})
	r := &fakeRouter{}
	startOwnSubscriber(t, b, r)

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	withCert := func(cn string) func(*mqtt.ClientOptions) {
		return func(o *mqtt.ClientOptions) {
			tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			if cn != "" {
				c, k := ca.Client(cn)
				pair, err := tls.LoadX509KeyPair(c, k)
				require.NoError(t, err)
				tc.Certificates = []tls.Certificate{pair}
			}
			o.SetTLSConfig(tc)
		}
	}
	dev := connect(t, b.MQTTURL(), "wt-01", withCert("site-a/wt-01"))
	waitToken(t, dev.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return len(payloads(r, "site-a", "wt-01")) == 1 }, 10*time.Second, 10*time.Millisecond)
	requireRefusedPublish(t, r, dev, "fleet/site-a/wt-02/telemetry", func() mqtt.Client { return dev }, "fleet/site-a/wt-01/telemetry")

	// No certificate (even with a password), an unknown CN, another CA.
	_, err = tryConnect(b.MQTTURL(), "no-cert", func(o *mqtt.ClientOptions) {
		withCert("")(o)
		login("site-a/wt-02", "x")(o)
	})
	require.Error(t, err)
	_, err = tryConnect(b.MQTTURL(), "unknown", withCert("site-a/wt-09"))
	require.Error(t, err)
	other := testserver.NewCA(t, "other CA")
	c, k := other.Client("site-a/wt-02")
	pair, err := tls.LoadX509KeyPair(c, k)
	require.NoError(t, err)
	_, err = tryConnect(b.MQTTURL(), "other-ca", func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	})
	require.Error(t, err)
	require.Empty(t, payloads(r, "site-a", "wt-02"))
}

func TestBrokerSecurityValidation(t *testing.T) {
	ca := testserver.NewCA(t, "test CA")
	crt, key := ca.Server("broker")
	_, otherKey := ca.Server("other")
	const secret = "s3cret-password"
	hash := testHash(t, secret)
	tests := []struct {
		name string
		cfg  BrokerConfig
		want string
	}{
		{"missing devices file", BrokerConfig{Auth: BrokerAuth{DevicesFile: "/nonexistent/devices.yaml"}}, "auth.devices_file:"},
		{"malformed hash", BrokerConfig{Auth: BrokerAuth{DevicesFile: writeFile(t, "d.yaml", "site-a/wt-01: "+secret+"\n")}}, "auth.devices_file:"},
		{"not a map", BrokerConfig{Auth: BrokerAuth{DevicesFile: writeFile(t, "d.yaml", "- "+hash+"\n")}}, "auth.devices_file:"},
		{"bad identity", BrokerConfig{Auth: BrokerAuth{DevicesFile: writeFile(t, "d.yaml", "wt-01: \""+hash+"\"\n")}}, "auth.devices_file:"},
		{"user hash malformed", BrokerConfig{Auth: BrokerAuth{Users: []BrokerUser{{Name: "r", PasswordHash: secret}}}}, "auth.users[0].password_hash:"},
		{"user filter bad", BrokerConfig{Auth: BrokerAuth{Users: []BrokerUser{{Name: "r", PasswordHash: Secret(hash), Subscribe: []string{"fleet/a#"}}}}}, "auth.users[0].subscribe:"},
		{"user name reserved", BrokerConfig{Auth: BrokerAuth{Users: []BrokerUser{{Name: natsUserName, PasswordHash: Secret(hash)}}}}, "auth.users[0].name:"},
		{"cert and key mismatch", BrokerConfig{TLS: BrokerTLS{Listen: "127.0.0.1:0", CertFile: crt, KeyFile: otherKey}}, "tls.cert_file and tls.key_file:"},
		{"tls without listen", BrokerConfig{TLS: BrokerTLS{CertFile: crt, KeyFile: key}}, "tls.listen:"},
		{"client ca not pem", BrokerConfig{TLS: BrokerTLS{Listen: "127.0.0.1:0", CertFile: crt, KeyFile: key, ClientCAFile: key}}, "tls.client_ca_file:"},
		{"anonymous on every interface", BrokerConfig{Listen: ":1883"}, "allow_anonymous:"},
		{"anonymous tls on every interface", BrokerConfig{TLS: BrokerTLS{Listen: ":8883", CertFile: crt, KeyFile: key}}, "allow_anonymous:"},
		{"anonymous nats on every interface", BrokerConfig{NATSListen: "0.0.0.0:4222", Auth: BrokerAuth{DevicesFile: devicesFile(t, "s/d")}}, "allow_anonymous:"},
		{"store limit too small", BrokerConfig{MaxStoreBytes: 1000}, "max_store_bytes:"},
	}
	keyPEM, err := os.ReadFile(key)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StoreDir = t.TempDir()
			err := tt.cfg.Validate()
			require.ErrorContains(t, err, tt.want)
			require.Len(t, strings.Split(err.Error(), "\n"), 1, "one clear error: %v", err)
			_, err = NewBroker(tt.cfg, nil)
			require.ErrorContains(t, err, tt.want, "NewBroker refuses it too, without a crash")
			for _, s := range []string{secret, hash, string(keyPEM)} {
				require.NotContains(t, err.Error(), s, "no secret in errors")
			}
		})
	}
	// Opting in starts it; authenticated listeners need no opt-in.
	for _, cfg := range []BrokerConfig{
		{Listen: "0.0.0.0:0", AllowAnonymous: true},
		{Listen: "0.0.0.0:0", Auth: BrokerAuth{DevicesFile: devicesFile(t, "s/d")}},
	} {
		cfg.StoreDir = t.TempDir()
		require.NoError(t, cfg.Validate())
	}
}

func TestBrokerAnonymousOptInWarnsAtStart(t *testing.T) {
	verifyNoLeaks(t)
	var buf testserver.LogBuffer
	b, err := NewBroker(BrokerConfig{Listen: "0.0.0.0:0", AllowAnonymous: true, StoreDir: t.TempDir()},
		slogTo(&buf))
	require.NoError(t, err)
	b.Shutdown()
	require.Contains(t, buf.String(), "level=WARN msg=\"broker accepts anonymous clients")
	require.NotContains(t, buf.String(), "Plaintext passwords")
}

func TestBrokerJetStreamGauges(t *testing.T) {
	verifyNoLeaks(t)
	b := startBroker(t, BrokerConfig{MaxStoreBytes: 64 << 20, MaxMemoryBytes: 8 << 20})
	reg := prometheus.NewRegistry()
	require.NoError(t, b.RegisterMetrics(reg))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	require.Equal(t, float64(64<<20), got["rollcall_broker_jetstream_store_limit_bytes"])
	require.Equal(t, float64(8<<20), got["rollcall_broker_jetstream_memory_limit_bytes"])

	// A QoS 1 session stores messages: the store gauge moves.
	c := connect(t, b.MQTTURL(), "persistent", func(o *mqtt.ClientOptions) { o.SetCleanSession(false) })
	waitToken(t, c.Subscribe("fleet/#", 1, func(mqtt.Client, mqtt.Message) {}))
	publishN(t, c, "fleet/s/d/telemetry", 1, 10)
	require.Eventually(t, func() bool {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "rollcall_broker_jetstream_store_bytes" {
				return mf.GetMetric()[0].GetGauge().GetValue() > 0
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1GiB": 1 << 30, "64MiB": 64 << 20, "1073741824": 1 << 30, "2 KiB": 2048, "5B": 5} {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		require.Equal(t, want, b, in)
	}
	for _, in := range []string{"", "1GB", "-1", "x", "99999999999TiB"} {
		var b ByteSize
		require.Error(t, b.UnmarshalText([]byte(in)), in)
	}
	require.Equal(t, "1GiB", ByteSize(1<<30).String())
	require.Equal(t, "1025B", ByteSize(1025).String())
}

func TestSecretRedacted(t *testing.T) {
	const pw = "hunter2"
	s := Secret(pw)
	var buf testserver.LogBuffer
	slogTo(&buf).Info("x", "password", s)
	j, err := json.Marshal(struct{ P Secret }{s})
	require.NoError(t, err)
	for _, out := range []string{buf.String(), fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v", s, s, s, s), string(j)} {
		require.NotContains(t, out, pw)
		require.Contains(t, out, Redacted)
	}
	require.Empty(t, Secret("").String())
}

func slogTo(w *testserver.LogBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
