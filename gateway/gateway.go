package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal/ingestlog"
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

	central *centralTier // role central only (central.go)

	ingestLog *ingestlog.Log // the ingest journal stage
	// live is set once recovery is done and the engine runs live
	// (startup.go); replayHook, if set, runs before each replayed reading
	// (tests only).
	live       atomic.Bool
	replayHook func()
	ckDir      string
	restored   *aggregate.Snapshot // the checkpoint loaded at start, nil if none

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

	roster, err := loadRoster(cfg.Fleet)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if cfg.Role == RoleCentral {
		if err := g.newCentral(roster); err != nil { // central.go
			return nil, err
		}
		return g, nil
	}
	// The broker starts first: the nats sink may publish to it.
	mqttCfg, err := g.startBroker()
	if err != nil {
		return nil, err
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
	if err := g.openJournal(); err != nil { // durable.go
		return nil, err
	}
	if err := g.openCheckpoints(); err != nil { // checkpoint.go
		return nil, err
	}
	topics, err := ingest.NewTopics(cfg.Topics.Telemetry, cfg.Topics.Status)
	if err != nil {
		return nil, err
	}
	topics = topics.WithSparkplug(cfg.Topics.SparkplugOn())
	if g.sub, err = ingest.NewSubscriber(mqttCfg, cfg.Limits.Limits, topics, g.ingestLog, log, g.reg); err != nil {
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

// startBroker starts the embedded broker, if the configuration has one, and
// returns the MQTT settings of rollcall's own subscription.
func (g *Gateway) startBroker() (ingest.MQTTConfig, error) {
	if !g.cfg.Embedded() {
		return g.cfg.MQTT, nil
	}
	bc := g.cfg.brokerConfig() // federation.go
	bc.StoreDir = filepath.Join(g.cfg.DataDir, "broker")
	b, err := ingest.NewBroker(bc, g.log.With("stage", "broker"))
	if err != nil {
		return ingest.MQTTConfig{}, fmt.Errorf("embedded broker: %w", err)
	}
	g.broker = b
	if err := b.RegisterMetrics(g.reg); err != nil {
		return ingest.MQTTConfig{}, err
	}
	g.log.Info("embedded broker listening", "mqtt", b.MQTTAddr(), "max_ack_pending", bc.MaxAckPending)
	return b.Subscriber(g.cfg.MQTT), nil
}

// loadRoster returns the roster of the fleet file at path (none: an empty
// roster, every device learned).
func loadRoster(path string) (*staleness.Roster, error) {
	var fleet *staleness.Fleet
	if path != "" {
		f, err := staleness.LoadFleet(path)
		if err != nil {
			return nil, err
		}
		fleet = f
	}
	return staleness.NewRoster(fleet), nil
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

// ready is /readyz: start-up done (startup.go), broker subscription up,
// journal writable and workers not saturated.
func (g *Gateway) ready() error {
	if err := g.startup(); err != nil {
		return err
	}
	switch {
	case !g.sub.Connected():
		return errors.New("not connected to the broker")
	case g.ingestLog.Full():
		return errors.New("journal full: nothing is acknowledged until a checkpoint frees space")
	case g.ingestLog.Failing():
		return errors.New("journal writes failing: nothing is acknowledged (see the log)")
	case g.engine.Saturation() >= ReadySaturation:
		return fmt.Errorf("pipeline saturated: a worker queue is over %.0f%% full", ReadySaturation*100)
	}
	return nil
}

// Run runs the stages (see stages) until ctx is done or one of them
// fails, then shuts them down in reverse order within
// Config.ShutdownTimeout (see the package doc). It returns the failure, if
// any, and every error of the shutdown.
func (g *Gateway) Run(ctx context.Context) error {
	// Recovery: the engine holds its rounds until the journal after the
	// checkpoint is replayed (the aggregate stage's start), then goes live.
	var stages []stage
	if g.central != nil {
		stages = g.centralStages() // central.go
	} else {
		g.engine.Hold()
		stages = g.stages()
	}
	err := runStages(ctx, stages, g.cfg.ShutdownTimeout, g.log)
	g.close()
	if err != nil {
		g.log.Error("shutdown incomplete", "err", err)
	} else {
		g.log.Info("stopped")
	}
	return err
}

// stages are the running gateway, in start order; they stop in reverse:
// intake stops; the journal journals what is queued, the workers handle it
// and a last checkpoint is taken; the engine stops (emitting what is due);
// the journal stops; the sinks write what is queued; the InfluxDB sink
// spools what it could not write; the HTTP server stops.
func (g *Gateway) stages() []stage {
	return []stage{
		{name: "http", run: func(ctx context.Context) error { return g.api.Serve(ctx, g.ln) }},
		{name: "influx", run: g.runSinks}, // sinks.go
		{name: "sinks", run: g.fanout.Run},
		{name: "journal", run: g.ingestLog.Run},
		{name: "aggregate", run: g.engine.Run, start: g.recover},
		{name: "checkpoint", run: g.checkpointLoop, stop: g.finalCheckpoint}, // checkpoint.go
		{name: "intake", run: waitDone, start: g.subscribe, stop: g.unsubscribe},
	}
}

// recover replays the journal after the checkpoint into the running, held
// engine, then lets it go live.
func (g *Gateway) recover(ctx context.Context) error {
	if err := g.replayJournal(ctx); err != nil {
		return fmt.Errorf("journal replay: %w", err)
	}
	g.engine.Release()
	g.live.Store(true)
	return nil
}

// subscribe starts intake: the subscription to the broker.
func (g *Gateway) subscribe(context.Context) error {
	g.sub.Start()
	g.log.Info("rollcall started", "http", g.HTTPAddr(), "mqtt", g.MQTTURL(), "window", g.cfg.Window.Size, "allowed_lateness", g.cfg.Window.AllowedLateness)
	return nil
}

// unsubscribe stops intake: the broker keeps the persistent session and
// every unacknowledged QoS 1 message.
func (g *Gateway) unsubscribe(context.Context) error {
	g.sub.Stop()
	return nil
}

// close releases what New started.
func (g *Gateway) close() {
	if g.ln != nil {
		_ = g.ln.Close()
	}
	if g.ingestLog != nil {
		if err := g.ingestLog.Close(); err != nil {
			g.log.Error("closing the journal", "err", err)
		}
	}
	g.closeSinks()
	g.closeCentral()
	if g.broker != nil {
		g.broker.Shutdown()
	}
}
