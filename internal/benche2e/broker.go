package benche2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// broker is the MQTT broker of one measurement: a mosquitto this program
// started, or an external one (--broker), which it neither starts nor
// stops.
type broker struct {
	addr string // host:port
	cmd  *exec.Cmd
	done chan struct{}
	dir  string
}

// findMosquitto returns the mosquitto binary: bin if set, else from PATH
// or /usr/sbin (Debian installs it there, outside a normal user's PATH).
func findMosquitto(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("mosquitto not found (apt-get install mosquitto, or scripts/install-servers.sh, or --broker)")
}

// startMosquitto runs bin on a free loopback port with a config in dir,
// following INFRA.md § 2: max_queued_messages 0 (the default of 1000
// drops messages to a slow subscriber, QoS 1 included), user root (so it
// can write its persistence dir when run as root), logs to stderr.
// inflight is max_inflight_messages.
func startMosquitto(bin, dir string, inflight int) (*broker, error) {
	data := filepath.Join(dir, "data") + string(filepath.Separator)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &broker{addr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{}), dir: dir}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location %s
autosave_interval 0
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages %d
log_dest stderr
log_type error
log_type warning
log_type notice
`, port, data, inflight)
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		return nil, err
	}
	b.cmd = exec.Command(bin, "-c", confPath)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	go func() { _ = b.cmd.Wait(); _ = logf.Close(); close(b.done) }()
	if err := waitTCP(b.addr, b.done, 15*time.Second); err != nil {
		b.stop()
		return nil, fmt.Errorf("mosquitto (log %s): %w", logf.Name(), err)
	}
	return b, nil
}

// pid returns the broker's process id, or 0 for an external broker.
func (b *broker) pid() int {
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// stop stops a broker this program started (SIGTERM, then SIGKILL after
// 10 s).
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// waitTCP waits until addr accepts a connection, exited is closed, or
// timeout.
func waitTCP(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %v", addr, timeout)
		}
		select {
		case <-exited:
			return errors.New("exited before accepting connections")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
