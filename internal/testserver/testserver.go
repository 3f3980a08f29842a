package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const (
	// StartTimeout bounds how long a server may take to accept connections.
	StartTimeout = 15 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before it kills.
	StopTimeout = 5 * time.Second
	// logTailBytes is how much of a server's log a failed test prints.
	logTailBytes = 4096
)

// RequireBinary returns the path of the server binary name, looked up on
// PATH and then in the sbin and Go bin directories that installers use.
// If it is missing, the test fails under CI=true and is skipped otherwise.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{"/usr/sbin", "/usr/local/sbin", "/sbin", os.Getenv("GOBIN")}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("testserver: %s not found, and CI=true: scripts/install-servers.sh must install it", name)
		return ""
	}
	t.Skipf("testserver: %s not installed; run `make test`, which installs it (scripts/install-servers.sh)", name)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// server started on it may still lose a race with another process; the
// helpers in this package retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testserver: free port: %v", err)
	}
	return port
}

// process is one run of a server binary.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid after exited is closed
}

// startProcess starts bin with args, appending its stdout and stderr to
// logPath.
func startProcess(bin string, args []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the process has its own descriptor
	return startCmd(exec.Command(bin, args...), logf)
}

// startCmd starts cmd with its stdout and stderr going to out.
func startCmd(cmd *exec.Cmd, out io.Writer) (*process, error) {
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitTCP waits until addr accepts a TCP connection, the process exits, or
// timeout.
func (p *process) waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return errors.New("not accepting connections on " + addr + " after " + timeout.String())
		}
		select {
		case <-p.exited:
			return errors.New("exited before accepting connections: " + exitString(p.err))
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, waits up to StopTimeout, then kills. It returns
// whether the process had to be killed.
func (p *process) stop() (killed bool) { return p.stopWithin(StopTimeout) }

// stopWithin sends SIGTERM, waits up to d, then kills. It returns whether
// the process had to be killed.
func (p *process) stopWithin(d time.Duration) (killed bool) {
	select {
	case <-p.exited:
		return false
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return false
	case <-time.After(d):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return true
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logTail returns up to the last n bytes of the file at path, starting at a
// line boundary.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// waitHTTP polls url until it answers status, p exits, or timeout passes.
func (p *process) waitHTTP(client *http.Client, url string, status int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %d from %s after %v", status, url, timeout)
		}
		select {
		case <-p.exited:
			return errors.New("exited before " + url + " answered: " + exitString(p.err))
		case <-tick.C:
		}
	}
}
