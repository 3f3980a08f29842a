package proctest

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestIntegrationProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; builds and runs rollcall")
	}
	addr := freeAddr(t)
	p := Start(t, Binary(t), Options{
		Args: []string{"serve", "--http-addr", addr, "--mqtt-listen", "127.0.0.1:0", "--data-dir", t.TempDir()},
		URL:  "http://" + addr,
	})
	require.Equal(t, Binary(t), Binary(t), "built once")
	m := p.Metrics(t)
	require.Contains(t, m, `rollcall_messages_total{outcome="accepted"}`)
	require.Positive(t, m["go_goroutines"])
	require.NoError(t, p.Stop(), "exit status 0 after SIGTERM")
	require.Contains(t, p.LogTail(1000), `msg="rollcall started"`, "the output went to the log")
}

// fatalTB records a Fatalf and stops the goroutine, as testing.T does.
type fatalTB struct {
	*testing.T
	failed string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(f)
}

func TestIntegrationExitBeforeReady(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; builds and runs rollcall")
	}
	f := &fatalTB{T: t}
	func() {
		defer func() { require.Equal(t, f, recover()) }()
		Start(f, Binary(t), Options{Args: []string{"serve", "--window", "-1s", "--data-dir", t.TempDir()}, URL: "http://" + freeAddr(t)})
	}()
	require.Contains(t, f.failed, "exited before")
	require.Contains(t, f.failed, "exit status 1")
}
