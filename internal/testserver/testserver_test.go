package testserver

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIntegrationMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts mosquitto")
	}
	srv := Mosquitto(t, WithMaxInflightMessages(5))
	require.True(t, strings.HasPrefix(srv.URL, "tcp://127.0.0.1:"), srv.URL)

	conf, err := os.ReadFile(srv.conf)
	require.NoError(t, err)
	require.Contains(t, string(conf), "max_queued_messages 0\n")
	require.Contains(t, string(conf), "max_inflight_messages 5\n")

	const topic = "rollcall/site-a/wt-01"
	var (
		mu  sync.Mutex
		got []string
	)
	sub := dial(t, srv.URL, "sub", false)
	tok := sub.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Payload()))
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	pub := dial(t, srv.URL, "pub", true)
	tok = pub.Publish(topic, 1, false, "hello")
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == "hello"
	}, 10*time.Second, 10*time.Millisecond)

	// Restart keeps the port and the persistent session: a message
	// published while the subscriber is offline survives the restart.
	sub.Disconnect(250)
	tok = pub.Publish(topic, 1, false, "while-offline")
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	pub.Disconnect(250)

	srv.Restart()
	queued := make(chan string, 10)
	dialWith(t, srv.URL, "sub", false, func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { queued <- string(m.Payload()) })
	})
	select {
	case p := <-queued:
		require.Equal(t, "while-offline", p)
	case <-time.After(10 * time.Second):
		t.Fatal("queued message not delivered after restart")
	}

	srv.Stop()
	srv.Stop() // idempotent
	_, err = net.DialTimeout("tcp", srv.Addr, time.Second)
	require.Error(t, err, "stopped server still accepts connections")
}

func dial(t *testing.T, url, id string, clean bool) mqtt.Client {
	t.Helper()
	return dialWith(t, url, id, clean, nil)
}

func dialWith(t *testing.T, url, id string, clean bool, configure func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false)
	if configure != nil {
		configure(opts)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	require.Positive(t, port)
	l, err := net.Listen("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestRequireBinary(t *testing.T) {
	require.NotEmpty(t, RequireBinary(t, "sh"))

	const missing = "rollcall-no-such-server"
	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	require.Empty(t, RequireBinary(f, missing))
	require.Contains(t, f.skipped, "make test")
	require.Empty(t, f.fatal)

	t.Setenv("CI", "true")
	f = &fakeTB{TB: t}
	RequireBinary(f, missing)
	require.Contains(t, f.fatal, missing)
	require.Empty(t, f.skipped)
}

// fakeTB records Skipf and Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }

func TestLogTail(t *testing.T) {
	p := t.TempDir() + "/log"
	require.NoError(t, os.WriteFile(p, []byte("first line\nsecond line\nthird\n"), 0o644))
	require.Equal(t, "third\n", logTail(p, 8))
	require.Equal(t, "first line\nsecond line\nthird\n", logTail(p, 100))
	require.Contains(t, logTail(t.TempDir()+"/missing", 10), "no log")
}
