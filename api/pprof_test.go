package api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const pprofToken = "pprof-test-token-0123456789"

func TestPprofOffByDefault(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile"} {
		rec := do(s.Handler(), http.MethodGet, path, nil)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
	}
}

func TestPprofBehindToken(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{Pprof: true, Token: pprofToken}})
	h := s.Handler()

	rec := do(h, http.MethodGet, "/debug/pprof/heap", nil)
	require.Equal(t, http.StatusUnauthorized, rec.Code, "a profile needs the token")

	auth := http.Header{"Authorization": {"Bearer " + pprofToken}}
	rec = do(h, http.MethodGet, "/debug/pprof/heap", auth)
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, bytes.HasPrefix(rec.Body.Bytes(), []byte{0x1f, 0x8b}), "a heap profile is gzipped protobuf")

	rec = do(h, http.MethodGet, "/debug/pprof/goroutine?debug=1", auth)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "TestPprofBehindToken", "the goroutine dump names this test")

	rec = do(h, http.MethodGet, "/debug/pprof/", auth)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "allocs")

	rec = do(h, http.MethodGet, "/debug/pprof/profile?seconds=soon", auth)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, CodeBadParameter, decode[Error](t, rec).Code)

	rec = do(h, http.MethodGet, "/debug/pprof/heap?flavour=mint", auth)
	require.Equal(t, http.StatusBadRequest, rec.Code, "unknown parameters are refused as elsewhere")
}

// TestPprofProfileOutlivesWriteTimeout: a CPU profile samples for its
// seconds parameter, longer than the server's write timeout, and still
// arrives whole.
func TestPprofProfileOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{
		Pprof: true, Addr: "127.0.0.1:0", WriteTimeout: 300 * time.Millisecond, QueryTimeout: 100 * time.Millisecond,
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/debug/pprof/profile?seconds=1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the body arrives whole")
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.True(t, bytes.HasPrefix(body, []byte{0x1f, 0x8b}), "a CPU profile is gzipped protobuf")
}

func TestPprofSecondsCapped(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{cfg: Config{Pprof: true, Addr: "127.0.0.1:0"}})
	var got string
	h := s.longResponse(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.URL.Query().Get("seconds") }))
	for in, want := range map[string]string{"5": "5", "60": "60", "3600": "60", "1e9": "60"} {
		got = ""
		do(h, http.MethodGet, "/debug/pprof/profile?seconds="+in, nil)
		require.Equal(t, want, got, "seconds=%s", in)
	}
	for _, bad := range []string{"0", "-1", "NaN", "x"} {
		rec := do(h, http.MethodGet, "/debug/pprof/profile?seconds="+bad, nil)
		require.Equal(t, http.StatusBadRequest, rec.Code, bad)
	}
}

func TestPprofNeedsTokenOffLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr  string
		token Secret
		ok    bool
	}{
		{":8080", "", false},
		{"0.0.0.0:8080", "", false},
		{"192.0.2.1:8080", "", false},
		{":8080", pprofToken, true},
		{"127.0.0.1:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:8080", "", true},
	} {
		err := Config{Addr: tc.addr, Token: tc.token, Pprof: true}.WithDefaults().Validate()
		if tc.ok {
			require.NoError(t, err, tc.addr)
			continue
		}
		require.Error(t, err, tc.addr)
		require.Contains(t, err.Error(), "http.pprof")
	}
}
