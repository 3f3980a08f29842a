package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// runLogged starts a gateway logging at debug into buf; it stops in
// t.Cleanup.
func runLogged(t *testing.T, cfg gateway.Config, buf *testserver.LogBuffer) *gatewaytest.Gateway {
	t.Helper()
	return gatewaytest.Start(t, cfg,
		gatewaytest.WithLogger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
}

// requireNoSecrets checks the log, /api/v1/pipeline, /metrics and the
// configuration printed every way for each secret.
func requireNoSecrets(t *testing.T, g *gatewaytest.Gateway, cfg gateway.Config, log string, secrets ...string) {
	t.Helper()
	var dumps []string
	for _, path := range []string{"/api/v1/pipeline", "/metrics"} {
		resp, err := http.Get(g.URL + path)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		dumps = append(dumps, string(b))
	}
	// The whole Config holds functions (Now): the sections with secrets.
	sections := struct {
		MQTT   ingest.MQTTConfig   `yaml:"mqtt"`
		Broker ingest.BrokerConfig `yaml:"broker"`
	}{cfg.MQTT, cfg.Broker}
	j, err := json.Marshal(sections)
	require.NoError(t, err)
	y, err := yaml.Marshal(sections)
	require.NoError(t, err)
	dumps = append(dumps, log, string(j), string(y), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
	for _, s := range secrets {
		require.NotEmpty(t, s)
		for i, d := range dumps {
			require.NotContains(t, d, s, "secret in dump %d", i)
		}
	}
}

// TestSecretsNeverShownEmbeddedBroker: a gateway whose embedded broker has
// a TLS listener, device credentials and a user, run at debug level, counts
// a device that publishes with its credentials, and neither its log, nor
// /api/v1/pipeline, nor /metrics, nor the printed configuration holds the
// password, its hash or the key.
func TestSecretsNeverShownEmbeddedBroker(t *testing.T) {
	ca := testserver.NewCA(t, "test CA")
	crt, key := ca.Server("gateway")
	const pw, readerPW = "device-password-1", "reader-password-2"
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	readerHash, err := bcrypt.GenerateFromPassword([]byte(readerPW), bcrypt.MinCost)
	require.NoError(t, err)
	dir := t.TempDir()
	devices := filepath.Join(dir, "devices.yaml")
	require.NoError(t, os.WriteFile(devices, []byte(fmt.Sprintf("site-a/a1: %q\n", hash)), 0o600))

	cfg := gatewaytest.Config(t)
	cfg.LogLevel = "debug"
	cfg.Broker.TLS = ingest.BrokerTLS{Listen: "127.0.0.1:0", CertFile: crt, KeyFile: key}
	cfg.Broker.Auth = ingest.BrokerAuth{DevicesFile: devices, Users: []ingest.BrokerUser{
		{Name: "reader", PasswordHash: ingest.Secret(readerHash), Subscribe: []string{"fleet/#"}},
	}}
	cfg.NATS.Enabled = true // its NATS client still connects without credentials
	cfg.NATS.MaxBytes = 64 << 20
	var buf testserver.LogBuffer
	g := runLogged(t, cfg, &buf)

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(g.MQTTURL).SetClientID("a1").
		SetUsername("site-a/a1").SetPassword(pw).SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(100)
	tok = c.Publish("fleet/site-a/a1/telemetry", 1, false, `{"metrics":{"power_kw":1}}`)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Eventually(t, func() bool { return g.Metrics(t)["rollcall_ingest_received_total"] == 1 }, 10*time.Second, 10*time.Millisecond)

	// A wrong password is logged as a failure, without the password.
	bad := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(g.MQTTURL).SetClientID("a1-bad").
		SetUsername("site-a/a1").SetPassword("wrong-password-3").SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	tok = bad.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.Error(t, tok.Error())

	keyPEM, err := os.ReadFile(key)
	require.NoError(t, err)
	keyBody := strings.Split(string(keyPEM), "\n")[1] // a line of the key's base64
	log := buf.String()
	require.Contains(t, log, "level=DEBUG", "the log is at debug level")
	requireNoSecrets(t, g, cfg, log, pw, readerPW, "wrong-password-3", string(hash), string(readerHash), keyBody)
}

// TestIntegrationSecretsNeverShownExternalBroker: the same with mosquitto
// and mqtt.password.
func TestIntegrationSecretsNeverShownExternalBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const pw = "rollcall-password-4"
	m := testserver.Mosquitto(t, testserver.WithPasswordFile(testserver.MosquittoPasswords(t, map[string]string{"rollcall": pw})))
	cfg := gatewaytest.Config(t)
	cfg.LogLevel = "debug"
	cfg.MQTT.URL = m.URL
	cfg.MQTT.Username, cfg.MQTT.Password = "rollcall", ingest.Secret(pw)
	var buf testserver.LogBuffer
	g := runLogged(t, cfg, &buf)
	requireNoSecrets(t, g, cfg, buf.String(), pw)
}

// TestAuthConfigErrorsNameTheKey: bad security configuration stops the
// start with one error naming the key.
func TestAuthConfigErrorsNameTheKey(t *testing.T) {
	for name, tt := range map[string]struct {
		mutate func(*gateway.Config)
		want   string
	}{
		"anonymous on every interface": {func(c *gateway.Config) { c.Broker.Listen = ":1883" }, "broker.allow_anonymous:"},
		"missing devices file":         {func(c *gateway.Config) { c.Broker.Auth.DevicesFile = "/nonexistent.yaml" }, "broker.auth.devices_file:"},
		"nats stream over the store":   {func(c *gateway.Config) { c.NATS.Enabled, c.Broker.MaxStoreBytes = true, 1<<30 }, "nats.max_bytes:"},
		"missing mqtt password file":   {func(c *gateway.Config) { c.MQTT.URL, c.MQTT.PasswordFile = "tcp://h:1", "/nonexistent" }, "mqtt.password_file:"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := gateway.Defaults()
			cfg.DataDir = t.TempDir()
			tt.mutate(&cfg)
			_, err := gateway.New(cfg, nil)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, 2, strings.Count(err.Error(), "\n")+1, "the heading and one error: %v", err)
		})
	}
	// Allowed explicitly, it starts.
	cfg := gateway.Defaults()
	cfg.Broker.Listen, cfg.Broker.AllowAnonymous = ":0", true
	cfg.DataDir = t.TempDir()
	require.NoError(t, cfg.WithDefaults().Validate())
}
