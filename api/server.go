package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
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
// required; the functions are optional.
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
	// Gatherer is exposed on /metrics and summarised on /api/v1/pipeline.
	Gatherer prometheus.Gatherer
	// Rejects returns the recent rejected-message samples, oldest first,
	// and how many rejections were not sampled, for /api/v1/rejects
	// ((*aggregate.Engine).Rejects). It is called concurrently and must not
	// block; the slice belongs to the caller. Nil: no samples.
	Rejects func() ([]aggregate.RejectSample, uint64)
	// MetricStat returns the group statistic the fleet file chose for a
	// metric (sum, mean, min, max, count), shown first by the status page
	// and the CLI. It is called concurrently and must not block. Nil: no
	// preference.
	MetricStat func(metric string) string
}

// Server is rollcall's HTTP API. Its methods are safe for concurrent use.
type Server struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	m         *metrics
	handler   http.Handler
	routes    []route
	tokenHash [sha256.Size]byte
	tls       *tls.Config // nil: plain HTTP
	static    map[string]staticFile
	warn      throttle

	// streams holds one token per open stream (capacity Config.MaxStreams).
	streams chan struct{}
	// stopping is closed when Serve begins to shut down: streams end, so
	// that the graceful shutdown need not wait for them.
	stopping chan struct{}
	stopOnce sync.Once
}

// New returns a server for cfg (zero fields mean the defaults) that answers
// from deps. It loads the TLS certificate, if any (an error wraps ErrTLS),
// and registers the rollcall_api_* metrics of the package doc with reg. A
// nil log discards.
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
	log = log.With("stage", "api")
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: http.tls_cert, http.tls_key: %w", ErrTLS, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	files, err := staticFiles()
	if err != nil {
		return nil, fmt.Errorf("api: status page files: %w", err)
	}
	compress, err := gzhttp.NewWrapper()
	if err != nil {
		return nil, fmt.Errorf("api: compression: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, log: log, m: m, tls: tlsCfg, static: files,
		streams:  make(chan struct{}, cfg.MaxStreams),
		stopping: make(chan struct{}),
	}
	if cfg.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	s.routes = s.routeTable()
	if cfg.Pprof {
		s.routes = append(s.routes, s.pprofRoutes()...)
	}
	s.handler = compress(s.mux())
	return s, nil
}

// Query parameters shared by several routes.
var (
	paramsHistory = []string{"group", "metric", "from", "to", "limit", "revisions", "cursor"}
	paramsSeries  = []string{"group", "metric"}
	paramsStream  = []string{"group", "metric", "last_event_id"}
	paramsDevices = []string{"state", "group"}
	paramsRejects = []string{"reason", "device"}
	// anyParams marks a route that ignores its query parameters.
	anyParams = []string{"*"}
)

// routeTable lists every endpoint. docs/api.yaml describes the same set
// (TestOpenAPI checks it).
func (s *Server) routeTable() []route {
	metricsAuth := s.cfg.MetricsAuth
	return []route{
		{handlerAggregates, "/api/v1/aggregates", paramsHistory, true, http.HandlerFunc(s.handleAggregates)},
		{handlerAggregatesLatest, "/api/v1/aggregates/latest", paramsSeries, true, http.HandlerFunc(s.handleAggregatesLatest)},
		{handlerStream, "/api/v1/aggregates/stream", paramsStream, true, http.HandlerFunc(s.handleStream)},
		{handlerDevices, "/api/v1/devices", paramsDevices, true, http.HandlerFunc(s.handleDevices)},
		{handlerDevice, "/api/v1/devices/{site}/{device}", nil, true, http.HandlerFunc(s.handleDevice)},
		{handlerGroups, "/api/v1/groups", nil, true, http.HandlerFunc(s.handleGroups)},
		{handlerGateways, "/api/v1/gateways", nil, true, http.HandlerFunc(s.handleGateways)}, // gateways.go
		{handlerRejects, "/api/v1/rejects", paramsRejects, true, http.HandlerFunc(s.handleRejects)},
		{handlerPipeline, "/api/v1/pipeline", nil, true, http.HandlerFunc(s.handlePipeline)},
		// Probes and scrapers may add parameters of their own: outside
		// /api/v1 parameters are ignored.
		{handlerHealthz, "/healthz", anyParams, false, http.HandlerFunc(s.handleHealthz)},
		{handlerReadyz, "/readyz", anyParams, false, http.HandlerFunc(s.handleReadyz)},
		{handlerMetrics, "/metrics", anyParams, metricsAuth, promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})},
		// The status page's files hold no data: the page asks the API,
		// with the token when one is configured.
		{handlerStatus, "/{$}", anyParams, false, http.HandlerFunc(s.handleStatus)},
		{handlerStatic, "/static/{file}", anyParams, false, http.HandlerFunc(s.handleStatic)},
	}
}

// mux builds the mux. Every path is registered twice: for GET (and so
// HEAD) with its handler, and for every other method with a 405, so that
// the mux's plain-text 404 and 405 answers never show; "/" catches the rest.
func (s *Server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle("GET "+rt.path, s.m.instrument(rt.name, s.guard(rt)))
		mux.Handle(rt.path, s.m.instrument(rt.name, http.HandlerFunc(s.methodNotAllowed)))
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
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
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
	s.log.Info("http listening", "addr", ln.Addr().String(), "tls", s.tls != nil,
		"token", s.cfg.Token, "metrics_auth", s.cfg.MetricsAuth)
	if s.tls == nil && s.cfg.Token != "" && !loopback(ln.Addr()) {
		s.log.Warn("bearer token without TLS: the token crosses the network in clear text; set http.tls_cert and http.tls_key")
	}

	select {
	case err := <-served:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	// Streams never end by themselves: end them first.
	s.stopOnce.Do(func() { close(s.stopping) })
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

// loopback reports whether addr is a loopback address.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
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
