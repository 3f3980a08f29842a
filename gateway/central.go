package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/federation"
	"github.com/rollcall-iot/rollcall/sink"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/sink/store"
	"github.com/rollcall-iot/rollcall/staleness"
)

// centralTier is what a gateway with role central runs instead of the
// broker, subscriber, engine and journal.
type centralTier struct {
	hub    *federation.Hub // nil with federation.nats_url
	merger *federation.Merger
	source *federation.Source
	ckFile string
}

// newCentral builds the central tier (role central): the hub (or the
// connection to federation.nats_url), the merger, the sources and the same
// store, sinks and API as a gateway.
func (g *Gateway) newCentral(roster *staleness.Roster) error {
	cfg, fed := g.cfg, g.cfg.Federation
	c := &centralTier{ckFile: filepath.Join(cfg.DataDir, "central", "checkpoint.json")}
	g.central = c
	if err := os.MkdirAll(filepath.Dir(c.ckFile), 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	url, creds := fed.NATSURL, fed.NATSCredsFile
	if url == "" {
		var err error
		c.hub, err = federation.NewHub(federation.HubConfig{
			LeafListen: fed.LeafListen, StoreDir: filepath.Join(cfg.DataDir, "hub"),
			Domain: fed.Domain,
		}, g.log.With("stage", "hub"))
		if err != nil {
			return err
		}
		url = loopbackURL(c.hub.ClientURL())
		g.log.Info("federation hub listening", "leaf", c.hub.LeafAddr(), "nats_url", url, "domain", fed.Domain)
	}
	var err error
	if g.store, err = store.New(cfg.Store, g.reg); err != nil {
		return err
	}
	writers, err := g.sinks()
	if err != nil {
		return err
	}
	if g.fanout, err = sink.NewFanout(cfg.Sink, g.log, g.reg, writers...); err != nil {
		return err
	}
	bounds := func(_, metric string) (float64, float64) {
		m := roster.Metric("", metric)
		return m.Min, m.Max
	}
	if c.merger, err = federation.NewMerger(federation.MergerConfig{
		MaxListed: cfg.Aggregate.MaxMissingListed, MinCoverage: cfg.Aggregate.MinCoverage, MaxWindows: fed.MaxWindows,
		Liveness: cfg.Liveness, SilentAfter: fed.SilentAfter, Bounds: bounds,
	}, g.fanout, g.reg); err != nil {
		return err
	}
	if c.source, err = federation.NewSource(federation.SourceConfig{
		URL: url, CredsFile: creds, Gateways: fed.Gateways, Learn: *fed.Learn, Replicas: fed.Replicas,
		MaxGateways: fed.MaxGateways, CheckpointInterval: cfg.Checkpoint.Interval,
		Checkpoint: func(_ context.Context, msgs []natssink.Message) error {
			return federation.WriteCheckpoint(c.ckFile, msgs)
		},
	}, c.merger, g.log.With("stage", "federation")); err != nil {
		return err
	}
	if g.api, err = api.New(cfg.HTTP, api.Deps{
		Store: g.store, Engine: c.merger, Ready: g.centralReady, Gatherer: g.reg,
		MetricStat: func(m string) string { return string(roster.Metric("", m).Stat) },
	}, g.log, g.reg); err != nil {
		return err
	}
	if g.ln, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	return nil
}

// centralStages are the running central tier, in start order: the HTTP
// server, the sinks, then federation, which restores the checkpoint (the
// sinks take the re-emitted windows) and sources the gateways.
func (g *Gateway) centralStages() []stage {
	return []stage{
		{name: "http", run: func(ctx context.Context) error { return g.api.Serve(ctx, g.ln) }},
		{name: "influx", run: g.runSinks},
		{name: "sinks", run: g.fanout.Run},
		{name: "federation", run: g.central.source.Run, start: g.restoreCentral},
	}
}

// restoreCentral merges the partials of the last checkpoint; those not
// acknowledged to JetStream before the stop arrive again and replace them.
func (g *Gateway) restoreCentral(context.Context) error {
	msgs, err := federation.ReadCheckpoint(g.central.ckFile)
	if err != nil {
		return err
	}
	g.central.merger.Restore(msgs)
	g.log.Info("central tier started", "http", g.HTTPAddr(), "restored_partials", len(msgs), "gateways", len(g.cfg.Federation.Gateways))
	return nil
}

// centralReady is /readyz of the central tier: connected to NATS.
func (g *Gateway) centralReady() error {
	if !g.central.source.Connected() {
		return errors.New("not connected to nats")
	}
	return nil
}

// queries answers device queries: the engine, or the central tier's
// gateways.
func (g *Gateway) queries() api.Engine {
	if g.central != nil {
		return g.central.merger
	}
	return g.engine
}

// LeafAddr returns the central hub's leaf-node listen address; "" for a
// gateway or a central tier that joined an existing cluster.
func (g *Gateway) LeafAddr() string {
	if g.central == nil || g.central.hub == nil {
		return ""
	}
	return g.central.hub.LeafAddr()
}

// closeCentral releases what newCentral started.
func (g *Gateway) closeCentral() {
	c := g.central
	if c == nil {
		return
	}
	if c.source != nil {
		c.source.Close()
	}
	if c.merger != nil {
		c.merger.Unregister(g.reg)
	}
	if c.hub != nil {
		c.hub.Shutdown()
	}
}
