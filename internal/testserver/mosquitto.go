package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// DefaultMosquittoMaxInflight is mosquitto's own default for
// max_inflight_messages: unacknowledged QoS 1 and 2 messages per client.
const DefaultMosquittoMaxInflight = 20

// MosquittoOption configures the server Mosquitto starts.
type MosquittoOption func(*mosquittoConfig)

type mosquittoConfig struct {
	maxInflight int
	// passwordFile and aclFile, when set, turn anonymous access off.
	passwordFile string
	aclFile      string
	tls          *mosquittoTLS
}

// mosquittoTLS is a second, TLS listener.
type mosquittoTLS struct {
	caFile, certFile, keyFile string
	requireCertificate        bool
}

// WithPasswordFile sets password_file (see MosquittoPasswords) and turns
// anonymous access off.
func WithPasswordFile(path string) MosquittoOption {
	return func(c *mosquittoConfig) { c.passwordFile = path }
}

// WithACLFile sets acl_file (topic and pattern lines).
func WithACLFile(path string) MosquittoOption {
	return func(c *mosquittoConfig) { c.aclFile = path }
}

// WithTLSListener adds a TLS listener (MosquittoServer.TLSURL) with the
// given CA, certificate and key files; with requireCertificate clients must
// present a certificate the CA signed.
func WithTLSListener(caFile, certFile, keyFile string, requireCertificate bool) MosquittoOption {
	return func(c *mosquittoConfig) {
		c.tls = &mosquittoTLS{caFile: caFile, certFile: certFile, keyFile: keyFile, requireCertificate: requireCertificate}
	}
}

// MosquittoPasswords writes a mosquitto password file (hashed by
// mosquitto_passwd) with the given users and passwords, and returns its
// path.
func MosquittoPasswords(t testing.TB, users map[string]string) string {
	t.Helper()
	bin := RequireBinary(t, "mosquitto_passwd")
	path := filepath.Join(t.TempDir(), "passwords")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatalf("testserver: mosquitto_passwd: %v", err)
	}
	for user, pw := range users {
		if out, err := exec.Command(bin, "-b", path, user, pw).CombinedOutput(); err != nil {
			t.Fatalf("testserver: mosquitto_passwd %s: %v: %s", user, err, out)
		}
	}
	return path
}

// WithMaxInflightMessages sets max_inflight_messages, the number of QoS 1
// and 2 messages mosquitto sends to a client before it waits for acks
// (0 means unlimited). Default: DefaultMosquittoMaxInflight (20).
func WithMaxInflightMessages(n int) MosquittoOption {
	return func(c *mosquittoConfig) { c.maxInflight = n }
}

// MosquittoServer is a mosquitto started by Mosquitto. Stop may be called
// from any goroutine; Stop and Restart serialise.
type MosquittoServer struct {
	// URL is "tcp://127.0.0.1:PORT", for paho.
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Port is the listener port; it stays the same across Restart.
	Port int
	// DataDir is the persistence directory; it stays the same across Restart.
	DataDir string
	// LogPath is the file that receives mosquitto's stdout and stderr.
	LogPath string
	// TLSURL is "ssl://127.0.0.1:PORT" of the TLS listener
	// (WithTLSListener); empty without one. TLSAddr is its host:port.
	TLSURL  string
	TLSAddr string

	t    testing.TB
	bin  string
	conf string

	mu   sync.Mutex // serialises Stop and Restart
	proc *process   // nil when stopped; guarded by mu
}

// maxPortAttempts is how often Mosquitto retries when another process takes
// the free port before mosquitto binds it.
const maxPortAttempts = 3

// Mosquitto starts Debian's mosquitto on a free loopback port with a temp
// config and data dir, waits until it accepts TCP connections, and stops it
// in t.Cleanup. It skips or fails the test when mosquitto is missing (see
// RequireBinary).
//
// The config follows INFRA.md: anonymous access, `user root` (so a root
// test can write the persistence dir), `max_queued_messages 0` (mosquitto's
// default of 1000 silently drops messages, QoS 1 included, to a slow
// subscriber) and logs to stderr (stdout to a file is block-buffered).
func Mosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	bin := RequireBinary(t, "mosquitto")
	cfg := mosquittoConfig{maxInflight: DefaultMosquittoMaxInflight}
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	s := &MosquittoServer{
		DataDir: filepath.Join(dir, "data") + string(filepath.Separator),
		LogPath: filepath.Join(dir, "mosquitto.log"),
		conf:    filepath.Join(dir, "mosquitto.conf"),
		t:       t,
		bin:     bin,
	}
	if err := os.Mkdir(s.DataDir, 0o755); err != nil {
		t.Fatalf("testserver: mosquitto: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("testserver: mosquitto log (%s), tail:\n%s", s.LogPath, logTail(s.LogPath, logTailBytes))
		}
	})

	var err error
	for range maxPortAttempts {
		s.Port = FreePort(t)
		s.Addr = "127.0.0.1:" + itoa(s.Port)
		s.URL = "tcp://" + s.Addr
		tlsPort := 0
		if cfg.tls != nil {
			tlsPort = FreePort(t)
			s.TLSAddr = "127.0.0.1:" + itoa(tlsPort)
			s.TLSURL = "ssl://" + s.TLSAddr
		}
		if err = os.WriteFile(s.conf, []byte(cfg.render(s.Port, tlsPort, s.DataDir)), 0o644); err != nil {
			t.Fatalf("testserver: mosquitto: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
		if !strings.Contains(logTail(s.LogPath, logTailBytes), "Address already in use") {
			break
		}
	}
	t.Fatalf("testserver: mosquitto: %v (log tail follows)", err)
	return nil
}

func (c mosquittoConfig) render(port, tlsPort int, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	if c.tls != nil {
		fmt.Fprintf(&b, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %t\n",
			tlsPort, c.tls.caFile, c.tls.certFile, c.tls.keyFile, c.tls.requireCertificate)
	}
	fmt.Fprintf(&b, "allow_anonymous %t\n", c.passwordFile == "")
	if c.passwordFile != "" {
		fmt.Fprintf(&b, "password_file %s\n", c.passwordFile)
	}
	if c.aclFile != "" {
		fmt.Fprintf(&b, "acl_file %s\n", c.aclFile)
	}
	b.WriteString("user root\n")
	b.WriteString("persistence true\n")
	fmt.Fprintf(&b, "persistence_location %s\n", dataDir)
	b.WriteString("max_queued_messages 0\n")
	fmt.Fprintf(&b, "max_inflight_messages %d\n", c.maxInflight)
	b.WriteString("log_dest stderr\n")
	for _, typ := range []string{"error", "warning", "notice"} {
		fmt.Fprintf(&b, "log_type %s\n", typ)
	}
	return b.String()
}

// start runs mosquitto and waits until it accepts connections. The caller
// holds s.mu or owns s exclusively.
func (s *MosquittoServer) start() error {
	p, err := startProcess(s.bin, []string{"-c", s.conf}, s.LogPath)
	if err != nil {
		return err
	}
	if err := p.waitTCP(s.Addr, StartTimeout); err != nil {
		p.stop()
		return err
	}
	if s.TLSAddr != "" {
		if err := p.waitTCP(s.TLSAddr, StartTimeout); err != nil {
			p.stop()
			return err
		}
	}
	s.proc = p
	return nil
}

// stopLocked stops the running process, if any. The caller holds s.mu.
func (s *MosquittoServer) stopLocked() {
	p := s.proc
	s.proc = nil
	if p != nil && p.stop() {
		s.t.Logf("testserver: mosquitto did not stop within %s after SIGTERM; killed", StopTimeout)
	}
}

// Stop stops mosquitto: SIGTERM (mosquitto then saves its persistent
// state), and a kill after StopTimeout. Stopping a stopped server does
// nothing.
func (s *MosquittoServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart stops mosquitto if it runs and starts it again on the same port
// with the same persistence dir, and waits until it accepts connections.
// Like t.Fatal, call it from the test goroutine.
func (s *MosquittoServer) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if err := s.start(); err != nil {
		s.t.Fatalf("testserver: mosquitto restart: %v (log tail follows)", err)
	}
}
