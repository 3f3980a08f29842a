package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTTLS configures TLS to an external broker.
type MQTTTLS struct {
	// CAFile is a PEM bundle of the CAs that sign the broker's
	// certificate. Default: the system's CAs.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are rollcall's PEM client certificate and key,
	// for brokers that require one (mosquitto require_certificate).
	// Default: none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the broker's certificate must carry.
	// Default: the host of mqtt.url.
	ServerName string `yaml:"server_name"`
}

// set reports whether any key is set.
func (t MQTTTLS) set() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// isTLSURL reports whether paho dials raw with TLS.
func isTLSURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss":
		return true
	}
	return false
}

// config builds the client TLS configuration, loading the files.
func (t MQTTTLS) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	var errs []error
	if t.CAFile != "" {
		pool, err := loadCAPool(t.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("mqtt.tls.ca_file: %w", err))
		}
		c.RootCAs = pool
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		errs = append(errs, errors.New("mqtt.tls.cert_file and mqtt.tls.key_file: set both or neither"))
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("mqtt.tls.cert_file and mqtt.tls.key_file: %w", err))
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, errors.Join(errs...)
}

// validateCredentials checks the password and TLS keys, loading the files.
func (c MQTTConfig) validateCredentials() error {
	var errs []error
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("mqtt.password and mqtt.password_file: set only one (ROLLCALL_MQTT_PASSWORD sets mqtt.password)"))
	}
	if c.PasswordFile != "" {
		if _, err := readPasswordFile(c.PasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("mqtt.password_file: %w", err))
		}
	}
	if c.TLS.set() {
		if !isTLSURL(c.URL) {
			errs = append(errs, fmt.Errorf("mqtt.tls: set, but mqtt.url %q does not use TLS (ssl:// or tls://)", c.URL))
		}
		if _, err := c.TLS.config(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readPasswordFile reads a password file: its first line.
func readPasswordFile(name string) (Secret, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: empty", name)
	}
	return Secret(pw), nil
}

// applyCredentials sets the username, password and TLS on opts.
func (c MQTTConfig) applyCredentials(opts *mqtt.ClientOptions) error {
	pw := c.Password
	if c.PasswordFile != "" {
		var err error
		if pw, err = readPasswordFile(c.PasswordFile); err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
	}
	if c.Username != "" || pw != "" {
		opts.SetUsername(c.Username).SetPassword(string(pw))
	}
	switch {
	case c.tlsConfig != nil:
		opts.SetTLSConfig(c.tlsConfig)
	case c.TLS.set():
		tc, err := c.TLS.config()
		if err != nil {
			return err
		}
		opts.SetTLSConfig(tc)
	}
	return nil
}
