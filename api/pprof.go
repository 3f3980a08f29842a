package api

import (
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"
)

// handlerPprof is the handler label of every /debug/pprof route.
const handlerPprof = "pprof"

// MaxProfileDuration bounds the seconds parameter of /debug/pprof/profile
// and /debug/pprof/trace: a longer profile is cut to it.
const MaxProfileDuration = 60 * time.Second

// paramsPprof are the parameters Go's profile handlers take.
var paramsPprof = []string{"seconds", "debug", "gc"}

// pprofRoutes are Go's runtime profiles under /debug/pprof, each behind the
// bearer token (when one is configured), for Config.Pprof.
func (s *Server) pprofRoutes() []route {
	return []route{
		{handlerPprof, "/debug/pprof/{$}", nil, true, http.HandlerFunc(pprof.Index)},
		{handlerPprof, "/debug/pprof/{name}", paramsPprof, true, s.longResponse(http.HandlerFunc(servePprof))},
	}
}

// servePprof serves one entry of /debug/pprof: cmdline, symbol, profile,
// trace, or a named profile (heap, allocs, goroutine, block, mutex,
// threadcreate) by Index. One pattern with a dispatch, because ServeMux
// refuses a GET wildcard beside method-less fixed paths.
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("name") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}

// longResponse checks the seconds parameter of a sampling profile and cuts
// it to MaxProfileDuration, so one request cannot hold the profiler (one
// at a time per process) for hours. net/http/pprof itself extends the
// write deadline past Config.WriteTimeout by the seconds asked for.
func (s *Server) longResponse(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("seconds"); v != "" {
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || !(sec > 0) {
				s.writeError(w, badParameter("seconds", "%q is not a positive number of seconds", v))
				return
			}
			if d := time.Duration(sec * float64(time.Second)); d > MaxProfileDuration {
				q := r.URL.Query()
				q.Set("seconds", strconv.Itoa(int(MaxProfileDuration/time.Second)))
				r.URL.RawQuery = q.Encode()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackAddr reports whether the listen address addr (host:port) only
// accepts connections from this machine.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
