package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
	"github.com/rollcall-iot/rollcall/sink"
	"github.com/rollcall-iot/rollcall/sink/influx"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/sink/prom"
	"github.com/rollcall-iot/rollcall/sink/store"
	"github.com/rollcall-iot/rollcall/staleness"
)

// ReadySaturation is the worker-queue fill ratio above which /readyz says
// the pipeline is saturated.
const ReadySaturation = 0.9

// Gateway is one running rollcall.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	reg    *prometheus.Registry
	broker *ingest.Broker // nil with an external broker
	sub    *ingest.Subscriber
	engine *aggregate.Engine
	fanout *sink.Fanout
	store  *store.Store
	prom   *prom.Sink     // nil unless prom.enabled
	nats   *natssink.Sink // nil unless nats.enabled
	influx *influx.Sink   // nil unless influx.enabled
	api    *api.Server
	ln     net.Listener

	journal  *journal.Journal
	durable  *durable
	ckDir    string
	restored *aggregate.Snapshot // the checkpoint loaded at start, nil if none

	ckFailures *prometheus.CounterVec
	ckBytes    prometheus.Gauge
	ckTime     prometheus.Gauge
	ckSeconds  prometheus.Histogram
}

// New builds a gateway from cfg (defaults are applied). On error, whatever
// it started is stopped again.
func New(cfg Config, log *slog.Logger) (g *Gateway, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g = &Gateway{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	// The named result is nil by the time a failing return runs this.
	built := g
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	g.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var fleet *staleness.Fleet
	if cfg.Fleet != "" {
		if fleet, err = staleness.LoadFleet(cfg.Fleet); err != nil {
			return nil, err
		}
	}
	roster := staleness.NewRoster(fleet)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	// The broker starts first: the nats sink may publish to it.
	mqttCfg := cfg.MQTT
	if cfg.Embedded() {
		bc := cfg.Broker
		bc.StoreDir = filepath.Join(cfg.DataDir, "broker")
		bc.TelemetryTopic, bc.StatusTopic = cfg.Topics.Telemetry, cfg.Topics.Status
		if g.broker, err = ingest.NewBroker(bc, log.With("stage", "broker")); err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		if err := g.broker.RegisterMetrics(g.reg); err != nil {
			return nil, err
		}
		mqttCfg = g.broker.Subscriber(mqttCfg)
		log.Info("embedded broker listening", "mqtt", g.broker.MQTTAddr(), "max_ack_pending", bc.MaxAckPending)
	}
	if g.store, err = store.New(cfg.Store, g.reg); err != nil {
		return nil, err
	}
	writers, err := g.sinks() // store, then prom and nats if enabled (sinks.go)
	if err != nil {
		return nil, err
	}
	if g.fanout, err = sink.NewFanout(cfg.Sink, log, g.reg, writers...); err != nil {
		return nil, err
	}
	if g.engine, err = aggregate.New(cfg.aggregateConfig(), roster, g.fanout, log, g.reg); err != nil {
		return nil, err
	}
	if err := g.openDurability(); err != nil {
		return nil, err
	}
	topics, err := ingest.NewTopics(cfg.Topics.Telemetry, cfg.Topics.Status)
	if err != nil {
		return nil, err
	}
	if g.sub, err = ingest.NewSubscriber(mqttCfg, topics, g.durable, log, g.reg); err != nil {
		return nil, err
	}
	if g.api, err = api.New(cfg.HTTP, api.Deps{
		Store: g.store, Engine: g.engine, Ready: g.ready, Gatherer: g.reg,
		Rejects:    g.engine.Rejects,
		MetricStat: func(m string) string { return string(roster.Metric("", m).Stat) },
	}, log, g.reg); err != nil {
		return nil, err
	}
	if g.ln, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("http.addr: %w", err)
	}
	return g, nil
}

// HTTPAddr returns the address the API listens on.
func (g *Gateway) HTTPAddr() string { return g.ln.Addr().String() }

// ReloadTLS reads the embedded broker's TLS certificate, key and client CA
// files again (on SIGHUP). With an external broker or without TLS it does
// nothing.
func (g *Gateway) ReloadTLS() error {
	if g.broker == nil {
		return nil
	}
	return g.broker.ReloadTLS()
}

// MQTTURL returns the broker URL rollcall subscribes to.
func (g *Gateway) MQTTURL() string {
	if g.broker != nil {
		return g.broker.MQTTURL()
	}
	return g.cfg.MQTT.URL
}

// Registry returns the gateway's metrics registry.
func (g *Gateway) Registry() *prometheus.Registry { return g.reg }

// ready is /readyz: broker subscription up, journal writable and workers
// not saturated.
func (g *Gateway) ready() error {
	switch {
	case !g.sub.Connected():
		return errors.New("not connected to the broker")
	case g.durable.Full():
		return errors.New("journal full: nothing is acknowledged until a checkpoint frees space")
	case g.durable.Failing():
		return errors.New("journal writes failing: nothing is acknowledged (see the log)")
	case g.engine.Saturation() >= ReadySaturation:
		return fmt.Errorf("pipeline saturated: a worker queue is over %.0f%% full", ReadySaturation*100)
	}
	return nil
}

// Run serves until ctx is done, then shuts down in order (see the package
// doc). It returns an error if a component failed or the shutdown timed out.
func (g *Gateway) Run(ctx context.Context) error {
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	sinkCtx, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	defer stopSinks()
	defer stopHTTP()
	engDone, sinkDone, httpDone := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	jCtx, stopJournal := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJournal()
	jDone, ckDone := make(chan error, 1), make(chan struct{})
	go func() { sinkDone <- g.fanout.Run(sinkCtx) }()
	sinkRunCtx, stopSinkRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSinkRun()
	sinkRunDone := make(chan error, 1)
	go func() { sinkRunDone <- g.runSinks(sinkRunCtx) }()
	// Recovery: the engine holds its rounds until the journal after the
	// checkpoint is replayed, then goes live.
	g.engine.Hold()
	go func() { engDone <- g.engine.Run(engCtx) }()
	go func() { httpDone <- g.api.Serve(httpCtx, g.ln) }()
	if err := g.replayJournal(ctx); err != nil {
		g.log.Error("journal replay failed", "err", err)
		stopEngine()
		stopSinks()
		stopHTTP()
		stopSinkRun()
		<-engDone
		<-sinkDone
		<-httpDone
		<-sinkRunDone
		g.close()
		return fmt.Errorf("journal replay: %w", err)
	}
	g.engine.Release()
	go func() { jDone <- g.durable.run(jCtx) }()
	ckCtx, stopCheckpoints := context.WithCancel(ctx)
	go func() {
		defer close(ckDone)
		g.checkpointLoop(ckCtx)
	}()
	g.sub.Start()
	g.log.Info("rollcall started", "http", g.HTTPAddr(), "mqtt", g.MQTTURL(), "window", g.cfg.Window.Size, "allowed_lateness", g.cfg.Window.AllowedLateness)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
		httpDone <- nil
	}
	g.log.Info("shutting down", "timeout", g.cfg.ShutdownTimeout)
	deadline := time.After(g.cfg.ShutdownTimeout)
	wait := func(name string, done chan error) error {
		select {
		case err := <-done:
			return err
		case <-deadline:
			deadline = closedTimer()
			return fmt.Errorf("shutdown: %s did not stop within %v", name, g.cfg.ShutdownTimeout)
		}
	}
	g.sub.Stop() // 1. stop intake
	stopCheckpoints()
	<-ckDone
	// 2. journal what is queued, let the workers handle it, checkpoint (so
	// a restart replays little), then emit what is due.
	dctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	errs := []error{runErr, g.durable.do(dctx, g.durable.drainFlush), g.engine.Settle(dctx), g.takeCheckpoint(dctx)}
	cancel()
	stopEngine()
	errs = append(errs, wait("aggregate", engDone))
	stopJournal()
	errs = append(errs, wait("journal", jDone))
	stopSinks() // 3. sinks write what is queued
	errs = append(errs, wait("sinks", sinkDone))
	stopSinkRun() // 4. sinks with their own loop (influx) spool what is left
	errs = append(errs, wait("influx", sinkRunDone))
	stopHTTP()
	errs = append(errs, wait("http", httpDone))
	g.close()
	err := errors.Join(errs...)
	if err != nil {
		g.log.Error("shutdown incomplete", "err", err)
	} else {
		g.log.Info("stopped")
	}
	return err
}

func closedTimer() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}

// close releases what New started.
func (g *Gateway) close() {
	if g.ln != nil {
		_ = g.ln.Close()
	}
	if g.journal != nil {
		if err := g.journal.Close(); err != nil {
			g.log.Error("closing the journal", "err", err)
		}
	}
	g.closeSinks()
	if g.broker != nil {
		g.broker.Shutdown()
	}
}
