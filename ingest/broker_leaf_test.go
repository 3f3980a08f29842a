package ingest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestBrokerLeafConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	hub := LeafRemote{URLs: []string{"nats://127.0.0.1:7422"}}
	tests := []struct {
		name string
		cfg  BrokerConfig
		want []string
	}{
		{"upstream without a domain", BrokerConfig{Upstream: hub}, []string{"domain: required with an upstream"}},
		{"bad domain", BrokerConfig{Domain: "gw.north"}, []string{`domain: "gw.north"`}},
		{"bad url", BrokerConfig{Domain: "gw", Upstream: LeafRemote{URLs: []string{"hub"}}}, []string{`upstream: "hub"`}},
		{"cert without key", BrokerConfig{Domain: "gw", Upstream: LeafRemote{URLs: hub.URLs, CertFile: "c.pem"}}, []string{"upstream cert_file and key_file"}},
		{"bad ca", BrokerConfig{Domain: "gw", Upstream: LeafRemote{URLs: hub.URLs, CAFile: bad}}, []string{"upstream ca_file"}},
		{"negative reconnect", BrokerConfig{Domain: "gw", Upstream: LeafRemote{URLs: hub.URLs, Reconnect: -1}}, []string{"upstream reconnect"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StoreDir = t.TempDir()
			err := tc.cfg.WithDefaults().Validate()
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	ok := BrokerConfig{StoreDir: t.TempDir(), Domain: "gw-1", Upstream: LeafRemote{URLs: []string{"tls://127.0.0.1:7422"}}}
	require.NoError(t, ok.WithDefaults().Validate())
	tc, err := ok.Upstream.tlsConfig()
	require.NoError(t, err)
	require.NotNil(t, tc, "a tls:// URL turns TLS on")
	require.Equal(t, "nats://u:xxxxx@h:1", LeafRemote{URLs: []string{"nats://u:p@h:1"}}.redacted())
}

// TestBrokerLeafNode: the broker connects to a hub as a leaf node, keeps
// its JetStream in its own domain, and reconnects after the hub restarts;
// the hub reaches the broker's streams through $JS.<domain>.API.
func TestBrokerLeafNode(t *testing.T) {
	hubOpts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, JetStream: true, JetStreamDomain: "hub",
		StoreDir: t.TempDir(), LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: freeTCPPort(t)},
	}
	startHub := func() *server.Server {
		s, err := StartServer(hubOpts, nil)
		require.NoError(t, err)
		return s
	}
	hub := startHub()
	b := startBroker(t, BrokerConfig{
		Domain: "gw-1", ServerName: "gw-1",
		Upstream: LeafRemote{URLs: []string{"nats://127.0.0.1:" + strconv.Itoa(hubOpts.LeafNode.Port)}, Reconnect: 50 * time.Millisecond},
	})
	require.Eventually(t, b.LeafConnected, 10*time.Second, 10*time.Millisecond)

	ctx := context.Background()
	nc, err := natsgo.Connect(b.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err, "the broker's JetStream answers locally")

	hc, err := natsgo.Connect(hub.ClientURL())
	require.NoError(t, err)
	hjs, err := jetstream.NewWithDomain(hc, "gw-1")
	require.NoError(t, err)
	_, err = hjs.Stream(ctx, "S")
	require.NoError(t, err, "the hub reaches the stream in the broker's domain")
	hc.Close()

	hub.Shutdown()
	hub.WaitForShutdown()
	require.Eventually(t, func() bool { return !b.LeafConnected() }, 10*time.Second, 10*time.Millisecond)
	_, err = js.Publish(ctx, "s.x", []byte("stored while the hub is down"))
	require.NoError(t, err, "local JetStream does not need the hub")
	hub = startHub()
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	require.Eventually(t, b.LeafConnected, 10*time.Second, 10*time.Millisecond)
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
