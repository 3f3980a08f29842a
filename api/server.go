package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink/store"
)

// warnInterval is the least time between two warnings about failing engine
// queries; the ones in between are counted and reported with the next.
const warnInterval = 10 * time.Second

// Engine is what the API needs of the aggregation engine
// (*aggregate.Engine implements it).
//
// Both methods are called concurrently, from any number of requests. They
// must return promptly once ctx is done, with an error; every error is
// answered 503 unavailable (expected: ctx.Err() when Config.QueryTimeout
// passed, aggregate.ErrStopped after the engine stopped). The returned
// slices, and the maps inside their elements, belong to the caller and are
// only read.
type Engine interface {
	// Devices returns the devices matching f, sorted by id; an empty slice
	// when none match.
	Devices(ctx context.Context, f aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error)
	// Groups returns every group, sorted by name.
	Groups(ctx context.Context) ([]aggregate.GroupInfo, error)
}

var _ Engine = (*aggregate.Engine)(nil)

// Deps are the server's collaborators. Store, Engine and Gatherer are
// required.
type Deps struct {
	// Store holds the aggregate history.
	Store *store.Store
	// Engine answers device and group queries.
	Engine Engine
	// Ready reports readiness for /readyz: nil means ready, an error's text
	// is the reason ("broker not connected", "pipeline saturated"). It is
	// called concurrently and must not block. A nil Ready means always
	// ready.
	Ready func() error
	// Gatherer is exposed on /metrics.
	Gatherer prometheus.Gatherer
}

// Server is rollcall's HTTP API. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	m       *metrics
	handler http.Handler
	status  *template.Template
	warn    throttle
}

// New returns a server for cfg (zero fields mean the defaults) that answers
// from deps. It registers rollcall_api_requests_total{handler,code} and
// rollcall_api_request_duration_seconds{handler} with reg. A nil log
// discards.
func New(cfg Config, deps Deps, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if deps.Store == nil {
		errs = append(errs, fmt.Errorf("%w: store", ErrMissingDependency))
	}
	if deps.Engine == nil {
		errs = append(errs, fmt.Errorf("%w: engine", ErrMissingDependency))
	}
	if deps.Gatherer == nil {
		errs = append(errs, fmt.Errorf("%w: gatherer", ErrMissingDependency))
	}
	if reg == nil {
		errs = append(errs, fmt.Errorf("%w: registerer", ErrMissingDependency))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tmpl, err := parseStatusTemplate()
	if err != nil {
		return nil, fmt.Errorf("api: status page template: %w", err)
	}
	compress, err := gzhttp.NewWrapper()
	if err != nil {
		return nil, fmt.Errorf("api: compression: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: log.With("stage", "api"), m: m, status: tmpl}
	s.handler = compress(s.routes())
	return s, nil
}

// routes builds the mux. Every path is registered twice: for GET (and so
// HEAD) with its handler, and for every other method with a 405, so that
// the mux's plain-text 404 and 405 answers never show; "/" catches the rest.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range []struct {
		name, path string
		h          http.Handler
	}{
		{handlerAggregates, "/api/v1/aggregates", http.HandlerFunc(s.handleAggregates)},
		{handlerAggregatesLatest, "/api/v1/aggregates/latest", http.HandlerFunc(s.handleAggregatesLatest)},
		{handlerDevices, "/api/v1/devices", http.HandlerFunc(s.handleDevices)},
		{handlerDevice, "/api/v1/devices/{id}", http.HandlerFunc(s.handleDevice)},
		{handlerGroups, "/api/v1/groups", http.HandlerFunc(s.handleGroups)},
		{handlerHealthz, "/healthz", http.HandlerFunc(s.handleHealthz)},
		{handlerReadyz, "/readyz", http.HandlerFunc(s.handleReadyz)},
		{handlerMetrics, "/metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})},
		{handlerStatus, "/{$}", http.HandlerFunc(s.handleStatus)},
	} {
		mux.Handle("GET "+r.path, s.m.instrument(r.name, r.h))
		mux.Handle(r.path, s.m.instrument(r.name, http.HandlerFunc(s.methodNotAllowed)))
	}
	mux.Handle("/", s.m.instrument(handlerNotFound, http.HandlerFunc(s.notFound)))
	return mux
}

// Handler returns every route, behind response compression and request
// metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves Handler on ln, or on a new listener on Config.Addr when ln is
// nil, until ctx is done; then it shuts down gracefully, giving running
// requests up to ShutdownTimeout. It closes the listener. It returns nil
// after a clean shutdown, and an error when it cannot listen or serve, or
// when requests had to be cut off.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("api: listen: %w", err)
		}
		ln = l
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		// Connection-level errors (TLS handshakes, malformed requests)
		// are per item.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("http listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Requests still running: cut their connections.
		err = errors.Join(fmt.Errorf("api: shutdown: %w", err), srv.Close())
	}
	// srv.Serve returns http.ErrServerClosed as soon as Shutdown starts.
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("api: serve: %w", serr))
	}
	if err == nil {
		s.log.Info("http stopped")
	}
	return err
}

// writeJSON answers status with v as JSON. v is encoded before anything is
// written, so that an encoding failure can still be answered 500.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&Error{Message: "cannot encode the response", Code: CodeInternal})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers e.
func (s *Server) writeError(w http.ResponseWriter, e *Error) {
	s.writeJSON(w, e.Status, e)
}

// engineError answers a failed engine query with 503 unavailable.
func (s *Server) engineError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		// Not the client's doing: the engine is slow or stopped.
		if n, ok := s.warn.allow(s.cfg.Now()); ok {
			s.log.Warn("engine query failed", "path", r.URL.Path, "err", err, "suppressed", n)
		}
	}
	msg := "the engine did not answer: " + err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("the engine did not answer within %v", s.cfg.QueryTimeout)
	case errors.Is(err, aggregate.ErrStopped):
		msg = "the engine has stopped"
	}
	s.writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg})
}

func (s *Server) notFound(w http.ResponseWriter, _ *http.Request) {
	s.writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "not found"})
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	s.writeError(w, &Error{
		Status:  http.StatusMethodNotAllowed,
		Code:    CodeMethodNotAllowed,
		Message: fmt.Sprintf("method %s not allowed", r.Method),
	})
}

// throttle lets one event through per warnInterval and counts the rest.
type throttle struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many events were suppressed
// since the last one logged.
func (t *throttle) allow(now time.Time) (suppressed int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < warnInterval {
		t.suppressed++
		return 0, false
	}
	suppressed, t.suppressed, t.last = t.suppressed, 0, now
	return suppressed, true
}
