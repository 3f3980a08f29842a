// Package proctest runs the rollcall binary as a process for tests: Binary
// builds it once per test binary, Start runs it with flags and waits until
// its /readyz answers 200, and t.Cleanup stops it (SIGTERM, then a kill
// after StopTimeout). Metrics scrapes its /metrics.
//
// Tests that run a gateway in their own process use gateway/gatewaytest.
package proctest

import (
	"bytes"
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
	// Package is the import path of the rollcall command.
	Package = "github.com/rollcall-iot/rollcall/cmd/rollcall"
	// ReadyTimeout bounds how long WaitReady waits for /readyz.
	ReadyTimeout = time.Minute
	// StopTimeout is how long Stop and the cleanup wait after SIGTERM
	// before they kill.
	StopTimeout = 30 * time.Second
	// pollEvery is how often WaitReady asks /readyz.
	pollEvery = 50 * time.Millisecond
	// logTailLines is how much of the log a failed test prints.
	logTailLines = 40
)

// build is one build of the binary, shared by every test of the test
// binary.
type build struct {
	once sync.Once
	path string
	err  error
}

// rollcall is the test binary's one build of Package: a build per test
// would cost seconds each.
var rollcall build

// Binary builds rollcall (the package Package) once per test binary and
// returns the path of the executable. The build goes to a directory under
// os.TempDir() that outlives the test, so that every test reuses it.
func Binary(t testing.TB) string {
	t.Helper()
	b := &rollcall
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "rollcall-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "rollcall")
		cmd := exec.Command("go", "build", "-o", b.path, Package)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", Package, err, out)
		}
	})
	require.NoError(t, b.err, "proctest: build")
	return b.path
}

// Options describe one run of the binary.
type Options struct {
	// Args are the command and flags, e.g. serve --http-addr 127.0.0.1:PORT.
	Args []string
	// Env is added to the test's environment, after ROLLCALL_LOG_LEVEL=info.
	Env []string
	// URL is the API's base URL, http://127.0.0.1:PORT. When set, Start
	// waits until /readyz answers 200; when empty (the address is not
	// known before the process says it), call WaitReady.
	URL string
	// Output receives the process's stdout and stderr. Default: a log file
	// (LogPath), whose tail a failed test prints.
	Output io.Writer
	// LogPath is the log file when Output is nil; runs with the same path
	// append to it. Default: rollcall.log in a new t.TempDir().
	LogPath string
}

// Process is one run of the binary.
type Process struct {
	// URL is the API's base URL (Options.URL, or set by WaitReady).
	URL string
	// LogPath is the file the output goes to ("" with Options.Output).
	LogPath string

	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, valid once exited is closed
}

// Start runs the binary with o, and with o.URL waits until it is ready.
// In t.Cleanup a process still running gets SIGTERM, and a kill after
// StopTimeout; if the test failed, the log's tail is printed.
func Start(t testing.TB, bin string, o Options) *Process {
	t.Helper()
	p := &Process{URL: o.URL, t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, o.Args...)
	p.cmd.Env = append(append(os.Environ(), "ROLLCALL_LOG_LEVEL=info"), o.Env...)
	out := o.Output
	if out == nil {
		p.LogPath = o.LogPath
		if p.LogPath == "" {
			p.LogPath = filepath.Join(t.TempDir(), "rollcall.log")
		}
		f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		require.NoError(t, err, "proctest: log file")
		defer f.Close() // the child has its own descriptor
		out = f
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	require.NoError(t, p.cmd.Start(), "proctest: start")
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && p.LogPath != "" {
			t.Logf("proctest: rollcall log (%s), tail:\n%s", p.LogPath, p.LogTail(logTailLines))
		}
	})
	if o.URL != "" {
		p.WaitReady(o.URL)
	}
	return p
}

// WaitReady sets p.URL to url and waits until its /readyz answers 200; the
// test fails if the process exits first or ReadyTimeout passes.
func (p *Process) WaitReady(url string) {
	p.t.Helper()
	p.URL = url
	deadline := time.After(ReadyTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("proctest: rollcall exited before %s/readyz answered: %v", url, p.err)
		case <-deadline:
			p.t.Fatalf("proctest: %s/readyz did not answer 200 within %v", url, ReadyTimeout)
		case <-tick.C:
		}
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits until the process has exited.
func (p *Process) Kill() {
	p.t.Helper()
	p.Signal(syscall.SIGKILL)
	<-p.exited
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig), "proctest: signal %v", sig)
}

// Wait waits until the process exits and returns its exit: nil for status
// 0. The test fails if it is still running after StopTimeout.
func (p *Process) Wait() error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(StopTimeout):
		p.t.Fatalf("proctest: rollcall still running after %v", StopTimeout)
		return nil
	}
}

// Stop sends SIGTERM and returns the exit, as Wait.
func (p *Process) Stop() error {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	return p.Wait()
}

// stop sends SIGTERM to a running process, waits up to StopTimeout, then
// kills. It reports whether it had to kill.
func (p *Process) stop() (killed bool) {
	select {
	case <-p.exited:
		return false
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return false
	case <-time.After(StopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return true
}

// Metrics scrapes the process's /metrics: every sample by its series
// ("name" or `name{labels}`, see package internal/scrape).
func (p *Process) Metrics(t testing.TB) scrape.Samples {
	t.Helper()
	m, err := scrape.Get(t.Context(), nil, p.URL+"/metrics")
	require.NoError(t, err)
	return m
}

// LogTail returns the last n lines of the log file.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}
