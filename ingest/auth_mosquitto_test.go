package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// mosquittoACL is the ACL of docs/deployment.md § Securing an external
// mosquitto: each device (username = its identity) writes only its own
// topics; rollcall and the reader read them.
const mosquittoACL = `pattern write fleet/%u/telemetry
pattern write fleet/%u/status

user rollcall
topic read fleet/+/+/telemetry
topic read fleet/+/+/status

user reader
topic read fleet/#
`

// TestIntegrationMosquittoAuthAndTLS: against Debian's mosquitto with a
// password file and the documented ACL, rollcall subscribes over TLS with a
// CA file, a client certificate and a password file; a device is counted
// only on its own topics; a wrong password and an anonymous client are
// refused; a reader reads but cannot publish.
func TestIntegrationMosquittoAuthAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ca := testserver.NewCA(t, "test CA")
	srvCrt, srvKey := ca.Server("mosquitto")
	pwFile := testserver.MosquittoPasswords(t, map[string]string{
		"site-a/wt-01": "pw-1", "site-a/wt-02": "pw-2", "rollcall": "rollcall-pw", "reader": "read",
	})
	m := testserver.Mosquitto(t,
		testserver.WithPasswordFile(pwFile),
		testserver.WithACLFile(writeFile(t, "acl", mosquittoACL)),
		testserver.WithTLSListener(ca.CertFile, srvCrt, srvKey, true))

	cliCrt, cliKey := ca.Client("rollcall")
	topics, err := NewTopics(DefaultTelemetryTopic, DefaultStatusTopic)
	require.NoError(t, err)
	r := &fakeRouter{}
	sub, err := NewSubscriber(MQTTConfig{
		URL: m.TLSURL, ClientID: "rollcall-" + t.Name(), QoS: 1, CleanSession: true,
		Username: "rollcall", PasswordFile: writeFile(t, "mqtt-password", "rollcall-pw\n"),
		TLS: MQTTTLS{CAFile: ca.CertFile, CertFile: cliCrt, KeyFile: cliKey, ServerName: "localhost"},
	}, Limits{}, topics, r, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	sub.Start()
	t.Cleanup(sub.Stop)
	require.Eventually(t, sub.Connected, 10*time.Second, 10*time.Millisecond)

	n := 0
	device := func() mqtt.Client { // a new connection: mosquitto closes one that publishes where it may not
		n++
		return connect(t, m.URL, fmt.Sprintf("wt-01-%d", n), login("site-a/wt-01", "pw-1"))
	}
	dev := device()
	waitToken(t, dev.Publish("fleet/site-a/wt-01/telemetry", 1, false, `{"metrics":{"x":1}}`))
	require.Eventually(t, func() bool { return len(payloads(r, "site-a", "wt-01")) == 1 }, 10*time.Second, 10*time.Millisecond)
	for _, topic := range []string{"fleet/site-a/wt-02/telemetry", "fleet/site-b/wt-01/telemetry", "fleet/site-a/wt-02/status"} {
		requireRefusedPublish(t, r, dev, topic, device, "fleet/site-a/wt-01/telemetry")
		dev = device()
	}

	got := newCollector()
	reader := connect(t, m.URL, "reader", login("reader", "read"))
	waitToken(t, reader.Subscribe("fleet/#", 1, got.handle))
	waitToken(t, dev.Publish("fleet/site-a/wt-01/status", 1, false, `online`))
	require.Eventually(t, func() bool { return got.count() == 1 }, 10*time.Second, 10*time.Millisecond)
	requireRefusedPublish(t, r, reader, "fleet/site-a/wt-02/telemetry", device, "fleet/site-a/wt-01/telemetry")

	for name, configure := range map[string]func(*mqtt.ClientOptions){
		"wrong password": login("site-a/wt-02", "pw-1"),
		"anonymous":      nil,
	} {
		_, err := tryConnect(m.URL, "bad", configure)
		require.Error(t, err, name)
	}
	// The TLS listener wants a client certificate.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	_, err = tryConnect(m.TLSURL, "no-cert", func(o *mqtt.ClientOptions) {
		login("rollcall", "rollcall-pw")(o)
		o.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	})
	require.Error(t, err)
	require.Empty(t, payloads(r, "site-a", "wt-02"))
}

func TestMQTTCredentialsValidation(t *testing.T) {
	ca := testserver.NewCA(t, "test CA")
	crt, _ := ca.Client("a")
	_, otherKey := ca.Client("b")
	base := MQTTConfig{URL: "ssl://127.0.0.1:8883"}.WithDefaults()
	tests := []struct {
		name   string
		modify func(*MQTTConfig)
		want   string
	}{
		{"missing password file", func(c *MQTTConfig) { c.PasswordFile = "/nonexistent" }, "mqtt.password_file:"},
		{"empty password file", func(c *MQTTConfig) { c.PasswordFile = writeFile(t, "pw", "\n") }, "mqtt.password_file:"},
		{"password twice", func(c *MQTTConfig) { c.Password, c.PasswordFile = "x", writeFile(t, "pw", "y") }, "mqtt.password and mqtt.password_file:"},
		{"tls on tcp", func(c *MQTTConfig) { c.URL, c.TLS.CAFile = "tcp://h:1883", ca.CertFile }, "mqtt.tls:"},
		{"ca not pem", func(c *MQTTConfig) { c.TLS.CAFile = writeFile(t, "ca", "nope") }, "mqtt.tls.ca_file:"},
		{"cert without key", func(c *MQTTConfig) { c.TLS.CertFile = crt }, "mqtt.tls.cert_file and mqtt.tls.key_file:"},
		{"cert and key mismatch", func(c *MQTTConfig) { c.TLS.CertFile, c.TLS.KeyFile = crt, otherKey }, "mqtt.tls.cert_file and mqtt.tls.key_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.modify(&c)
			err := c.Validate()
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
	ok := base
	ok.TLS = MQTTTLS{CAFile: ca.CertFile}
	ok.PasswordFile = writeFile(t, "pw", "secret\n")
	require.NoError(t, ok.Validate())
	pw, err := readPasswordFile(ok.PasswordFile)
	require.NoError(t, err)
	require.Equal(t, Secret("secret"), pw)
}
