package testserver

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/scrape"
)

const (
	// RollcallPackage is the import path of the rollcall command.
	RollcallPackage = "github.com/rollcall-iot/rollcall/cmd/rollcall"
	// RollcallReadyTimeout bounds how long WaitReady waits for /readyz.
	RollcallReadyTimeout = time.Minute
	// RollcallStopTimeout is how long Stop, Wait and the cleanup wait
	// after SIGTERM before they kill (a gateway drains its sinks first).
	RollcallStopTimeout = 30 * time.Second
)

// rollcallBuild is the test binary's one build of RollcallPackage: a
// build per test would cost seconds each.
var rollcallBuild struct {
	once sync.Once
	path string
	err  error
}

// RollcallBinary builds rollcall (RollcallPackage) once per test binary
// and returns the executable's path. The build goes to a directory under
// os.TempDir() that outlives the test, so that every test reuses it.
func RollcallBinary(t testing.TB) string {
	t.Helper()
	b := &rollcallBuild
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "rollcall-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "rollcall")
		cmd := exec.Command("go", "build", "-o", b.path, RollcallPackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", RollcallPackage, err, out)
		}
	})
	require.NoError(t, b.err, "testserver: build rollcall")
	return b.path
}

// RollcallOptions describe one run of the rollcall binary.
type RollcallOptions struct {
	// Args are the command and flags, e.g. serve --http-addr 127.0.0.1:PORT.
	Args []string
	// Env is added to the test's environment, after ROLLCALL_LOG_LEVEL=info.
	Env []string
	// URL is the API's base URL, http://127.0.0.1:PORT. When set, Rollcall
	// waits until /readyz answers 200; when empty (the address is not
	// known before the process says it), call WaitReady.
	URL string
	// Output receives the process's stdout and stderr. Default: the log
	// file LogPath, whose tail a failed test prints.
	Output io.Writer
	// LogPath is the log file when Output is nil; runs with the same path
	// append to it. Default: rollcall.log in a new t.TempDir().
	LogPath string
}

// RollcallServer is one run of the rollcall binary, started by Rollcall.
type RollcallServer struct {
	// URL is the API's base URL (RollcallOptions.URL, or set by WaitReady).
	URL string
	// LogPath is the file the output goes to ("" with Output).
	LogPath string

	t    testing.TB
	proc *process
}

// Rollcall runs the binary bin (see RollcallBinary) with o, and with o.URL
// waits until it is ready. In t.Cleanup a process still running gets
// SIGTERM, and a kill after RollcallStopTimeout; if the test failed, the
// log's tail is printed.
func Rollcall(t testing.TB, bin string, o RollcallOptions) *RollcallServer {
	t.Helper()
	s := &RollcallServer{URL: o.URL, t: t}
	cmd := exec.Command(bin, o.Args...)
	cmd.Env = append(append(os.Environ(), "ROLLCALL_LOG_LEVEL=info"), o.Env...)
	out := o.Output
	if out == nil {
		s.LogPath = o.LogPath
		if s.LogPath == "" {
			s.LogPath = filepath.Join(t.TempDir(), "rollcall.log")
		}
		f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err, "testserver: rollcall log")
		defer func() { _ = f.Close() }() // the process has its own descriptor
		out = f
	}
	var err error
	s.proc, err = startCmd(cmd, out)
	require.NoError(t, err, "testserver: start rollcall")
	t.Cleanup(func() {
		s.proc.stopWithin(RollcallStopTimeout)
		if t.Failed() && s.LogPath != "" {
			t.Logf("testserver: rollcall log (%s), tail:\n%s", s.LogPath, s.LogTail())
		}
	})
	if o.URL != "" {
		s.WaitReady(o.URL)
	}
	return s
}

// WaitReady sets s.URL to url and waits until its /readyz answers 200; the
// test fails if the process exits first or RollcallReadyTimeout passes.
func (s *RollcallServer) WaitReady(url string) {
	s.t.Helper()
	s.URL = url
	if err := s.proc.waitHTTP(http.DefaultClient, url+"/readyz", http.StatusOK, RollcallReadyTimeout); err != nil {
		s.t.Fatalf("testserver: rollcall: %v", err)
	}
}

// Pid is the process's id.
func (s *RollcallServer) Pid() int { return s.proc.cmd.Process.Pid }

// Signal sends sig to the process.
func (s *RollcallServer) Signal(sig os.Signal) {
	s.t.Helper()
	require.NoError(s.t, s.proc.cmd.Process.Signal(sig), "testserver: signal rollcall")
}

// Kill sends SIGKILL and waits until the process has exited.
func (s *RollcallServer) Kill() {
	s.t.Helper()
	s.Signal(syscall.SIGKILL)
	<-s.proc.exited
}

// Wait waits until the process exits and returns its exit: nil for status
// 0. The test fails if it is still running after RollcallStopTimeout.
func (s *RollcallServer) Wait() error {
	s.t.Helper()
	select {
	case <-s.proc.exited:
		return s.proc.err
	case <-time.After(RollcallStopTimeout):
		s.t.Fatalf("testserver: rollcall still running after %v", RollcallStopTimeout)
		return nil
	}
}

// Stop sends SIGTERM and returns the exit, as Wait.
func (s *RollcallServer) Stop() error {
	s.t.Helper()
	s.Signal(syscall.SIGTERM)
	return s.Wait()
}

// Metrics scrapes the process's /metrics: every sample by its series
// ("name" or `name{labels}`, see package internal/scrape).
func (s *RollcallServer) Metrics(t testing.TB) scrape.Samples {
	t.Helper()
	m, err := scrape.Get(t.Context(), nil, s.URL+"/metrics")
	require.NoError(t, err)
	return m
}

// LogTail returns the end of the log file, from a line boundary.
func (s *RollcallServer) LogTail() string { return logTail(s.LogPath, logTailBytes) }
