package gateway

import (
	"context"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink"
	"github.com/rollcall-iot/rollcall/sink/influx"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/sink/prom"
)

// sinks returns the fan-out's writers: the API store, then the Prometheus
// and NATS sinks when enabled. It runs after the embedded broker started,
// whose NATS listener is the nats sink's default server.
func (g *Gateway) sinks() ([]sink.Writer, error) {
	ws := []sink.Writer{g.store}
	var err error
	if g.cfg.Prom.Enabled {
		if g.prom, err = prom.New(g.cfg.Prom, g.reg); err != nil {
			return nil, err
		}
		ws = append(ws, g.prom)
	}
	if g.cfg.NATS.Enabled {
		nc := g.cfg.natsConfig()
		if nc.URL == "" && g.broker != nil {
			nc.URL = loopbackURL(g.broker.ClientURL())
		}
		if g.nats, err = natssink.New(nc, g.log, g.reg); err != nil {
			return nil, err
		}
		ws = append(ws, g.nats)
		g.log.Info("publishing partials to nats", "url", nc.RedactedURL(), "stream", natssink.StreamName, "gateway_id", nc.GatewayID)
	}
	if g.cfg.Influx.Enabled {
		ic := g.cfg.Influx.Config
		if ic.Spool.Dir == "" {
			ic.Spool.Dir = filepath.Join(g.cfg.DataDir, "spool")
		}
		if g.influx, err = influx.New(ic, g.log, g.reg); err != nil {
			return nil, err
		}
		ws = append(ws, g.influx)
		g.log.Info("writing aggregates to influxdb", "influx", ic)
	}
	return ws, nil
}

// InfluxConfig is the influx section: the InfluxDB sink, off unless
// enabled.
type InfluxConfig struct {
	// Enabled turns the sink on. Default: false.
	Enabled       bool `yaml:"enabled"`
	influx.Config `yaml:",inline"`
}

func (c InfluxConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	ic := c.Config
	if ic.Spool.Dir == "" {
		ic.Spool.Dir = "data_dir/spool" // resolved when the gateway is built
	}
	return ic.Validate() // its messages already name the influx section
}

// runSinks runs the sinks that have a goroutine of their own until ctx is
// done: the InfluxDB sink, and its device snapshots.
func (g *Gateway) runSinks(ctx context.Context) error {
	if g.influx == nil {
		return nil
	}
	var wg sync.WaitGroup
	if every := g.influx.DeviceInterval(); every > 0 {
		wg.Go(func() { g.snapshotDevices(ctx, every) })
	}
	err := g.influx.Run(ctx)
	wg.Wait()
	return err
}

// snapshotDevices writes every device's state to InfluxDB (measurement
// rollcall_device, for the Devices dashboard) every interval, at times
// aligned to it, until ctx is done. A snapshot takes at most one interval:
// the engine query and the hand-over to the sink share its deadline.
func (g *Gateway) snapshotDevices(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every)
		devs, err := g.queries().Devices(sctx, aggregate.DeviceFilter{})
		if err == nil {
			err = g.influx.WriteDevices(sctx, now.Truncate(every), devs)
		}
		cancel()
		switch {
		case errors.Is(err, aggregate.ErrStopped):
			return // shutting down: the engine stops before the sinks
		case err != nil && ctx.Err() == nil:
			g.log.Warn("device snapshot skipped", "err", err)
		}
	}
}

// natsConfig is the nats section with the gateway id defaulting to the
// MQTT client id (resolved here, after the file and flags set the latter).
func (c Config) natsConfig() natssink.Config {
	n := c.NATS
	if n.GatewayID == "" {
		n.GatewayID = c.MQTT.ClientID
	}
	return n
}

// closeSinks releases what sinks opened (the NATS connection), after the
// fan-out stopped or when New fails.
func (g *Gateway) closeSinks() {
	if g.nats != nil {
		g.nats.Close()
	}
	if g.influx != nil {
		if err := g.influx.Close(); err != nil {
			g.log.Error("closing the influxdb sink", "err", err)
		}
	}
}

// loopbackURL replaces an unspecified listen host (0.0.0.0, ::) in u with
// 127.0.0.1, so that it can be dialled.
func loopbackURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	if ip := net.ParseIP(p.Hostname()); p.Hostname() == "" || (ip != nil && ip.IsUnspecified()) {
		p.Host = net.JoinHostPort("127.0.0.1", p.Port())
	}
	return p.String()
}
