package testserver

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIntegrationRollcall(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; builds and runs rollcall")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p := Rollcall(t, RollcallBinary(t), RollcallOptions{
		Args: []string{"serve", "--http-addr", addr, "--mqtt-listen", "127.0.0.1:0", "--data-dir", t.TempDir()},
		URL:  "http://" + addr,
	})
	first := RollcallBinary(t)
	require.Equal(t, first, RollcallBinary(t), "built once")
	m := p.Metrics(t)
	require.Contains(t, m, `rollcall_messages_total{outcome="accepted"}`)
	require.Positive(t, m["go_goroutines"])
	require.NoError(t, p.Stop(), "exit status 0 after SIGTERM")
	require.Contains(t, p.LogTail(), `msg="rollcall started"`, "the output went to the log")
}

// TestIntegrationRollcallExitsBeforeReady: a rollcall that exits at
// start fails the test at once, with its exit status.
func TestIntegrationRollcallExitsBeforeReady(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; builds and runs rollcall")
	}
	f := &fakeTB{TB: t}
	Rollcall(f, RollcallBinary(t), RollcallOptions{
		Args: []string{"serve", "--window", "-1s", "--data-dir", t.TempDir()},
		URL:  fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
	})
	require.Contains(t, f.fatal, "exited before")
	require.Contains(t, f.fatal, "exit status 1")
}
