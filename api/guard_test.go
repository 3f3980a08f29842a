package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

const testToken = "s3cret-t0ken-of-32-characters-xx"

func TestAuth(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{Token: testToken}})
	h := s.Handler()
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {tok}} }
	tests := []struct {
		name   string
		target string
		header http.Header
		status int
		msg    string
	}{
		{"no token", "/api/v1/groups", nil, 401, "missing bearer token"},
		{"wrong token", "/api/v1/groups", bearer("Bearer " + testToken + "x"), 401, "invalid bearer token"},
		{"prefix of the token", "/api/v1/groups", bearer("Bearer " + testToken[:20]), 401, "invalid"},
		{"other scheme", "/api/v1/groups", bearer("Basic " + testToken), 401, "invalid"},
		{"no scheme", "/api/v1/groups", bearer(testToken), 401, "invalid"},
		{"token", "/api/v1/groups", bearer("Bearer " + testToken), 200, ""},
		{"scheme in any case", "/api/v1/groups", bearer("bearer " + testToken), 200, ""},
		{"history", "/api/v1/aggregates?group=site-a&metric=power_kw", nil, 401, ""},
		{"latest", "/api/v1/aggregates/latest", nil, 401, ""},
		{"stream", "/api/v1/aggregates/stream", nil, 401, ""},
		{"devices", "/api/v1/devices", nil, 401, ""},
		{"device", "/api/v1/devices/site-a/wt-07", nil, 401, ""},
		{"rejects", "/api/v1/rejects", nil, 401, ""},
		{"pipeline", "/api/v1/pipeline", nil, 401, ""},
		{"the token is checked before parameters", "/api/v1/groups?x=1", nil, 401, ""},
		{"healthz is open", "/healthz", nil, 200, ""},
		{"readyz is open", "/readyz", nil, 200, ""},
		{"metrics are open", "/metrics", nil, 200, ""},
		{"the status page is open", "/", nil, 200, ""},
		{"its files are open", "/static/app.js", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, http.MethodGet, tt.target, tt.header)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status == 401 {
				require.Equal(t, `Bearer realm="rollcall"`, rec.Header().Get("WWW-Authenticate"))
				e := decode[Error](t, rec)
				require.Equal(t, CodeUnauthorized, e.Code)
				require.Contains(t, e.Message, tt.msg)
				require.NotContains(t, rec.Body.String(), testToken[:8])
			}
		})
	}
	require.InDelta(t, 13, testutil.ToFloat64(s.m.refused.WithLabelValues(refusedUnauthorized)), 0)

	t.Run("metrics behind the token", func(t *testing.T) {
		s, _ := newServer(t, fixture{cfg: Config{Token: testToken, MetricsAuth: true}})
		require.Equal(t, 401, do(s.Handler(), http.MethodGet, "/metrics", nil).Code)
		require.Equal(t, 200, do(s.Handler(), http.MethodGet, "/metrics", bearer("Bearer "+testToken)).Code)
		require.Equal(t, 200, do(s.Handler(), http.MethodGet, "/healthz", nil).Code)
	})
	t.Run("no token configured", func(t *testing.T) {
		s, _ := newServer(t, fixture{})
		require.Equal(t, 200, do(s.Handler(), http.MethodGet, "/api/v1/groups", bearer("Bearer whatever")).Code)
	})
}

// TestSecretRedacted: the token never shows in logs or printed config.
func TestSecretRedacted(t *testing.T) {
	t.Parallel()
	cfg := Config{Token: testToken, Addr: "127.0.0.1:0"}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "token", cfg.Token, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "token", cfg.Token)
	for _, out := range []string{logs.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v %#v %s", cfg, cfg, cfg.Token)} {
		require.NotContains(t, out, testToken)
	}
	require.Contains(t, logs.String(), "token=REDACTED")
	require.Empty(t, Secret("").String())

	// Serve's startup line says whether there is a token, not which.
	reg := prometheus.NewRegistry()
	var serveLogs testserver.LogBuffer
	s, err := New(cfg, Deps{Store: newStore(t), Engine: goodEngine(), Gatherer: reg}, slog.New(slog.NewTextHandler(&serveLogs, nil)), reg)
	require.NoError(t, err)
	_, stop := serveForTest(t, s)
	require.NoError(t, stop())
	require.Contains(t, serveLogs.String(), "token=REDACTED")
	require.NotContains(t, serveLogs.String(), testToken)

	// The YAML form is the token itself: config files carry it.
	var fromYAML Config
	require.NoError(t, yaml.Unmarshal([]byte("token: "+testToken+"\n"), &fromYAML))
	require.Equal(t, Secret(testToken), fromYAML.Token)
}

func TestRequestLimits(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{MaxURLBytes: 100, MaxBodyBytes: 10}})
	h := s.Handler()

	rec := do(h, http.MethodGet, "/api/v1/groups?"+strings.Repeat("x", 100), nil)
	require.Equal(t, http.StatusRequestURITooLong, rec.Code)
	require.Equal(t, CodeURITooLong, decode[Error](t, rec).Code)
	rec = do(h, http.MethodGet, "/"+strings.Repeat("x", 100), nil)
	require.Equal(t, http.StatusNotFound, rec.Code, "an unknown path is just not found")

	req := httptest.NewRequest(http.MethodGet, "/api/v1/groups", strings.NewReader(strings.Repeat("b", 11)))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	e := decode[Error](t, rec)
	require.Equal(t, CodeTooLarge, e.Code)
	require.Contains(t, e.Message, "11 bytes")

	req = httptest.NewRequest(http.MethodGet, "/api/v1/groups", strings.NewReader("small"))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, "a body within the limit is ignored")

	do(h, http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw&limit=10001", nil)
	do(h, http.MethodGet, "/api/v1/aggregates?group=site-a&metric=power_kw&from=2020-01-01T00:00:00Z", nil)
	for reason, want := range map[string]float64{
		refusedURITooLong: 1, refusedTooLarge: 1, refusedLimitTooLarge: 1, refusedRangeTooLarge: 1,
		refusedUnauthorized: 0, refusedTooManyStreams: 0,
	} {
		require.InDelta(t, want, testutil.ToFloat64(s.m.refused.WithLabelValues(reason)), 0, reason)
	}
}

// TestHeaderLimit: net/http refuses large headers itself, before any
// handler (plain text, not JSON: documented).
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{MaxHeaderBytes: 1024, MaxURLBytes: 512}})
	addr, _ := serveForTest(t, s)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("x", 8<<10))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rollcall test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	s, _ := newServer(t, fixture{cfg: Config{TLSCert: certFile, TLSKey: keyFile, Token: testToken}})
	addr, stop := serveForTest(t, s)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/api/v1/groups", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	// Plain HTTP gets nowhere.
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	resp, err = (&http.Client{Transport: plain}).Get("http://" + addr + "/healthz")
	if err == nil {
		_ = resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "Go answers plain HTTP on a TLS port with 400")
	}
	// TLS 1.1 is refused.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}} //nolint:gosec // the point of the test
	defer old.CloseIdleConnections()
	_, err = (&http.Client{Transport: old}).Get("https://" + addr + "/healthz")
	require.Error(t, err)
	require.NoError(t, stop())

	t.Run("missing files", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		_, err := New(Config{TLSCert: "/does/not/exist.pem", TLSKey: keyFile}, Deps{Store: newStore(t), Engine: goodEngine(), Gatherer: reg}, nil, reg)
		require.ErrorIs(t, err, ErrTLS)
		require.ErrorContains(t, err, "http.tls_cert")
		require.ErrorContains(t, err, "exist.pem")
	})
}
