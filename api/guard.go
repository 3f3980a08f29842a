package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// Secret is a string that never appears in logs or in printed
// configuration: its String, LogValue and GoString say "REDACTED".
type Secret string

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// route is one endpoint: its path pattern (GET and HEAD), the query
// parameters it takes (any other is refused with 400 bad_parameter) and
// whether it needs the bearer token.
type route struct {
	name    string
	path    string
	params  []string
	auth    bool
	handler http.Handler
}

// guard wraps a route's handler with the request limits, the token check
// and the parameter check, in that order.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.URL.EscapedPath()) + len(r.URL.RawQuery); n > s.cfg.MaxURLBytes {
			s.refuse(w, &Error{
				Status: http.StatusRequestURITooLong, Code: CodeURITooLong,
				Message: fmt.Sprintf("path and query are %d bytes, more than %d", n, s.cfg.MaxURLBytes),
			})
			return
		}
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.refuse(w, &Error{
				Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
				Message: fmt.Sprintf("request body of %d bytes, more than %d", r.ContentLength, s.cfg.MaxBodyBytes),
			})
			return
		}
		// A body of unknown length (chunked) is cut off at the limit if
		// anything ever reads it.
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if rt.auth && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rollcall"`)
			msg := "missing bearer token"
			if r.Header.Get("Authorization") != "" {
				msg = "invalid bearer token"
			}
			s.refuse(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg})
			return
		}
		for name := range r.URL.Query() {
			if !slices.Contains(rt.params, name) && !slices.Equal(rt.params, anyParams) {
				s.writeError(w, badParameter(name, "unknown parameter (%s takes %s)", rt.path, paramList(rt.params)))
				return
			}
		}
		rt.handler.ServeHTTP(w, r)
	})
}

func paramList(params []string) string {
	if len(params) == 0 {
		return "none"
	}
	return strings.Join(params, ", ")
}

// authorized reports whether r carries the configured token, or no token
// is configured. The comparison takes the same time whatever the token
// sent: both sides are hashed to equal length first.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

// refuse answers e and counts it in rollcall_api_refused_total under its
// code.
func (s *Server) refuse(w http.ResponseWriter, e *Error) {
	s.m.refused.WithLabelValues(e.Code).Inc()
	s.writeError(w, e)
}
