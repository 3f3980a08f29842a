package ingest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync/atomic"
	"time"
)

// BrokerTLS configures the embedded broker's TLS MQTT listener.
// nats-server has one MQTT listener: with TLS configured it is this one, at
// Listen, and broker.listen is not used.
type BrokerTLS struct {
	// Listen is the TLS MQTT listen address, host:port (e.g. ":8883").
	// Required with TLS.
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are the server's PEM certificate (chain) and
	// key. Required with TLS. Reloaded on SIGHUP.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates. When set, every MQTT client must present one, and it
	// is mapped to a user by its subject: CN=<identity> for a device,
	// CN=<name> for a broker.auth.users entry (nats-server's
	// verify_and_map); passwords are then not used. Reloaded on SIGHUP.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether any TLS key is set.
func (t BrokerTLS) Enabled() bool {
	return t.Listen != "" || t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != ""
}

// validate checks the listener and loads the files once.
func (t BrokerTLS) validate() error {
	if !t.Enabled() {
		return nil
	}
	var errs []error
	if t.Listen == "" {
		errs = append(errs, errors.New("tls.listen: required with TLS"))
	} else if _, _, err := splitHostPort(t.Listen); err != nil {
		errs = append(errs, fmt.Errorf("tls.listen: %w", err))
	}
	if t.CertFile == "" || t.KeyFile == "" {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file: both required with TLS"))
	} else if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		errs = append(errs, fmt.Errorf("tls.cert_file and tls.key_file: %w", err))
	}
	if t.ClientCAFile != "" {
		if _, err := loadCAPool(t.ClientCAFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.client_ca_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// loadCAPool reads a PEM bundle of CA certificates.
func loadCAPool(name string) (*x509.CertPool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate found", name)
	}
	return pool, nil
}

// brokerTLS serves the listener's certificates, reloadable, and gives
// rollcall's own subscriber a client configuration that trusts exactly the
// certificate the listener serves (and, with client certificates, a
// certificate of its own, signed by a CA made at start and trusted by the
// listener beside the client CA file).
type brokerTLS struct {
	files   BrokerTLS
	current atomic.Pointer[tls.Config]
	// own is rollcall's client certificate, set with client certificates.
	own    *tls.Certificate
	ownCAs *x509.Certificate
}

// newBrokerTLS loads the files. ownName is the subject CN of rollcall's
// own client certificate.
func newBrokerTLS(files BrokerTLS, ownName string) (*brokerTLS, error) {
	t := &brokerTLS{files: files}
	if files.ClientCAFile != "" {
		ca, cert, err := ownClientCert(ownName)
		if err != nil {
			return nil, fmt.Errorf("tls: own client certificate: %w", err)
		}
		t.ownCAs, t.own = ca, cert
	}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the certificate, key and client CA files again; the next
// handshakes use them. On error the previous ones stay.
func (t *brokerTLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(t.files.CertFile, t.files.KeyFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file and tls.key_file: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.files.ClientCAFile != "" {
		pool, err := loadCAPool(t.files.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool.AddCert(t.ownCAs)
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	t.current.Store(c)
	return nil
}

// serverConfig is the listener's configuration: each handshake takes the
// newest loaded one.
func (t *brokerTLS) serverConfig() *tls.Config {
	c := t.current.Load()
	return &tls.Config{
		MinVersion: c.MinVersion, Certificates: c.Certificates, ClientCAs: c.ClientCAs, ClientAuth: c.ClientAuth,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.current.Load(), nil },
	}
}

// clientConfig is rollcall's own subscriber's configuration: the server
// must present the very certificate the listener has loaded (a pin, so no
// host name needs to match), and with client certificates rollcall
// presents its own.
func (t *brokerTLS) clientConfig() *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is the pin below, not the system roots.
		InsecureSkipVerify: true, //nolint:gosec // pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			want := t.current.Load().Certificates[0].Certificate[0]
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("ingest: embedded broker presented another certificate than its own")
			}
			return nil
		},
	}
	if t.own != nil {
		c.Certificates = []tls.Certificate{*t.own}
	}
	return c
}

// ownClientCert makes a CA and a client certificate with subject CN=name,
// both in memory for this process's life.
func ownClientCert(name string) (*x509.Certificate, *tls.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(100, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(100, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	return ca, &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
