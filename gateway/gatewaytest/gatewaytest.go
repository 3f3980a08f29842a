package gatewaytest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/internal/scrape"
)

const (
	// ReadyTimeout bounds how long Start waits for /readyz to answer 200.
	ReadyTimeout = time.Minute
	// StopTimeout bounds how long Stop waits for Run to return.
	StopTimeout = time.Minute
	// pollEvery is how often Start asks /readyz.
	pollEvery = 20 * time.Millisecond
)

// Config returns gateway.Defaults() for a test: the API and the embedded
// broker on loopback ports the kernel chooses, the data in a new
// t.TempDir(), and a client ID of that directory's name.
func Config(t testing.TB) gateway.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := gateway.Defaults()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	cfg.MQTT.ClientID = "rollcall-test-" + filepath.Base(dir)
	return cfg
}

// FleetFile writes fleet as fleet.yaml into a new t.TempDir() and returns
// its path, for Config.Fleet.
func FleetFile(t testing.TB, fleet []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	require.NoError(t, os.WriteFile(path, fleet, 0o600))
	return path
}

// Option changes how Start runs the gateway.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger gives the gateway a logger. Default: none (discarded).
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// Gateway is a running gateway.
type Gateway struct {
	// Gateway is the gateway itself.
	Gateway *gateway.Gateway
	// Config is the configuration it runs with, defaults filled in.
	Config gateway.Config
	// Addr is the API's address, 127.0.0.1:port (a Prometheus target).
	Addr string
	// URL is the API's base URL, http://127.0.0.1:port.
	URL string
	// MQTTURL is the broker the gateway subscribes to: the embedded one
	// unless cfg.MQTT.URL names another.
	MQTTURL string

	t      testing.TB
	cancel context.CancelFunc
	done   chan error // Run's result
	once   sync.Once
}

// Start runs a gateway with cfg and waits until /readyz answers 200. It
// fails the test if the gateway does not start, exits before it is ready,
// or, when stopped (by Stop or in t.Cleanup), does not return nil from Run
// within StopTimeout.
func Start(t testing.TB, cfg gateway.Config, opts ...Option) *Gateway {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	g, err := gateway.New(cfg, o.log)
	require.NoError(t, err, "gatewaytest: new gateway")
	ctx, cancel := context.WithCancel(context.Background())
	gw := &Gateway{
		Gateway: g, Config: cfg.WithDefaults(), Addr: g.HTTPAddr(), URL: "http://" + g.HTTPAddr(), MQTTURL: g.MQTTURL(),
		t: t, cancel: cancel, done: make(chan error, 1),
	}
	go func() { gw.done <- g.Run(ctx) }()
	t.Cleanup(gw.Stop)
	if err := gw.waitReady(); err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	return gw
}

// waitReady polls /readyz until it answers 200, Run returns, or
// ReadyTimeout passes.
func (gw *Gateway) waitReady() error {
	deadline := time.After(ReadyTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		resp, err := http.Get(gw.URL + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-gw.done:
			gw.done <- err // for Stop
			return errors.Join(errors.New("the gateway stopped before it was ready"), err)
		case <-deadline:
			return errors.New("the gateway was not ready within " + ReadyTimeout.String())
		case <-tick.C:
		}
	}
}

// Stop stops the gateway and waits until Run returned; the test fails if
// Run returned an error or did not return within StopTimeout. Stopping a
// stopped gateway does nothing.
func (gw *Gateway) Stop() {
	gw.t.Helper()
	gw.once.Do(func() {
		gw.cancel()
		select {
		case err := <-gw.done:
			if err != nil {
				gw.t.Errorf("gatewaytest: the gateway stopped with: %v", err)
			}
		case <-time.After(StopTimeout):
			gw.t.Errorf("gatewaytest: the gateway did not stop within %v", StopTimeout)
		}
	})
}

// Metrics scrapes the gateway's /metrics: every sample by its series
// ("name" or `name{labels}`, see package internal/scrape).
func (gw *Gateway) Metrics(t testing.TB) scrape.Samples {
	t.Helper()
	m, err := scrape.Get(t.Context(), nil, gw.URL+"/metrics")
	require.NoError(t, err)
	return m
}
