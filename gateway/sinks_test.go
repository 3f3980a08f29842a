package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

// startSinkGateway starts a gateway on the embedded broker with the fleet
// of itFleet, 1 s windows and 2 s lateness, adjusted by mutate, and stops
// it in t.Cleanup.
func startSinkGateway(t *testing.T, mutate func(*gateway.Config)) *gatewaytest.Gateway {
	t.Helper()
	cfg := gatewaytest.Config(t)
	cfg.Fleet = gatewaytest.FleetFile(t, []byte(itFleet))
	cfg.Window.Size = time.Second
	cfg.Window.AllowedLateness = 2 * time.Second
	cfg.Window.AllowedSkew = 200 * time.Millisecond
	cfg.Window.IdleTimeout = time.Second
	cfg.Aggregate.EmitInterval = 20 * time.Millisecond
	mutate(&cfg)
	return gatewaytest.Start(t, cfg)
}

// publishFleet publishes the devices of itFleet at 10 Hz for d: a3 stops
// after 1.5 s; b2's readings carry an event time lag (0: none), so that
// with a lag they arrive late and revise site-b's windows.
func publishFleet(t *testing.T, url string, d, b2Lag time.Duration) {
	t.Helper()
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("fleet-%d", time.Now().UnixNano())))
	tok := pub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer pub.Disconnect(100)
	devices := []struct{ id, site string }{{"a1", "site-a"}, {"a2", "site-a"}, {"a3", "site-a"}, {"b1", "site-b"}, {"b2", "site-b"}}
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var seq uint64
	for now := range tick.C {
		if now.Sub(start) > d {
			return
		}
		seq++
		for i, dev := range devices {
			ts := now
			switch {
			case dev.id == "a3" && now.Sub(start) > 1500*time.Millisecond:
				continue
			case dev.id == "b2":
				ts = now.Add(-b2Lag)
			}
			p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%g}}`, seq, ts.UnixMilli(), float64(100*(i+1))+float64(seq%7)+0.25)
			pt := pub.Publish("fleet/"+dev.site+"/"+dev.id+"/telemetry", 1, false, p)
			require.True(t, pt.WaitTimeout(5*time.Second))
			require.NoError(t, pt.Error())
		}
	}
}

func latest(t *testing.T, base, group, metric string) (aggregate.Aggregate, bool) {
	var out struct {
		Aggregates []aggregate.Aggregate `json:"aggregates"`
	}
	if get(t, base+"/api/v1/aggregates/latest?group="+group+"&metric="+metric, &out) != http.StatusOK || len(out.Aggregates) != 1 {
		return aggregate.Aggregate{}, false
	}
	return out.Aggregates[0], true
}

// TestIntegrationPrometheus: a real Prometheus scrapes the gateway's
// /metrics and answers PromQL for the aggregate gauges and the pipeline
// counters with what the API says.
func TestIntegrationPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	gw := startSinkGateway(t, func(c *gateway.Config) {
		c.Prom.Enabled = true
		// Once the fleet stops, the latest window stays where it is (no
		// empty windows from the gateway clock), so Prometheus and the
		// API can be compared at rest.
		c.Window.IdleTimeout = 10 * time.Minute
	})
	base := gw.URL
	prom := testserver.Prometheus(t, gw.Addr)
	// a3 stops after 1.5 s; the last window emitted ends at least 200 ms
	// (allowed_skew) before the fleet stops, and one after a3 stopped must
	// be among them.
	publishFleet(t, gw.MQTTURL, 4500*time.Millisecond, 0)

	// The API's latest aggregate, once it no longer changes.
	var want aggregate.Aggregate
	require.Eventually(t, func() bool {
		a, ok := latest(t, base, "site-a", "power_kw")
		settled := ok && a.Window.Start.Equal(want.Window.Start) && a.Revision == want.Revision
		want = a
		return settled
	}, 10*time.Second, 300*time.Millisecond)
	require.Equal(t, 2, want.Coverage.Reported, "a3 stopped")
	require.True(t, want.Stats.Sum.Reported.Known())

	prom.WaitTarget(gw.Addr)
	scalar := func(q string) (float64, error) {
		v, err := prom.Query(q)
		switch {
		case err != nil:
			return 0, err
		case len(v) != 1:
			return 0, fmt.Errorf("%s: %d samples", q, len(v))
		}
		return v[0].Value, nil
	}
	sel := `{group="site-a",metric="power_kw"}`
	// A scrape after the API settled carries the same window.
	require.Eventually(t, func() bool {
		v, err := scalar("rollcall_aggregate_window_start_timestamp_seconds" + sel)
		return err == nil && v == float64(want.Window.Start.Unix())
	}, 15*time.Second, 200*time.Millisecond)

	for _, tc := range []struct {
		query string
		want  float64
	}{
		{`rollcall_aggregate_value{group="site-a",metric="power_kw",stat="sum",bound="reported"}`, float64(want.Stats.Sum.Reported)},
		{`rollcall_aggregate_value{group="site-a",metric="power_kw",stat="sum",bound="upper"}`, float64(want.Stats.Sum.Upper)},
		{`rollcall_aggregate_value{group="site-a",metric="power_kw",stat="mean",bound="value"}`, float64(want.Stats.Mean.Value)},
		{`rollcall_group_coverage_ratio` + sel, want.Coverage.Ratio},
		{`rollcall_group_devices_reporting` + sel, 2},
		{`rollcall_group_devices_expected` + sel, 3},
		{`rollcall_aggregate_revision` + sel, float64(want.Revision)},
		{`rollcall_aggregate_quality{group="site-a",metric="power_kw",quality="uncertain"}`, 1},
	} {
		got, err := scalar(tc.query)
		require.NoError(t, err)
		require.InDelta(t, tc.want, got, 1e-9*math.Max(1, math.Abs(tc.want)), tc.query)
	}
	// Pipeline counters.
	for _, q := range []string{
		`rollcall_messages_total{outcome="accepted"} > 0`,
		`rollcall_sink_written_total{sink="prom"} > 0`,
		`rollcall_prom_series == 2`, // site-a and site-b, power_kw
	} {
		v, err := prom.Query(q)
		require.NoError(t, err)
		require.Len(t, v, 1, q)
	}
	v, err := prom.Query(`rollcall_prom_series_dropped_total`)
	require.NoError(t, err)
	for _, s := range v {
		require.Zero(t, s.Value, s.Metric)
	}
}

// partialKey identifies one gateway's partial of one window.
type partialKey struct {
	group, metric string
	start         time.Time
}

// TestIntegrationNATSPartials: a NATS subscriber receives the gateway's
// final and revised partials from JetStream, and merging and finishing
// them reproduces the gateway's final aggregates exactly.
func TestIntegrationNATSPartials(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	gw := startSinkGateway(t, func(c *gateway.Config) { c.NATS.Enabled = true; c.NATS.GatewayID = "gw-test" })
	base, cfg := gw.URL, gw.Config

	// Subscribe before the fleet starts: an ordered consumer over the
	// stream, from its first message.
	nc, err := natsgo.Connect(gateway.NATSClientURL(gw.Gateway))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(context.Background(), natssink.StreamName)
	require.NoError(t, err, "the gateway created the stream at start")
	require.Equal(t, natssink.DefaultMaxAge, st.CachedInfo().Config.MaxAge)
	require.Equal(t, int64(natssink.DefaultMaxBytes), st.CachedInfo().Config.MaxBytes)
	cons, err := js.OrderedConsumer(context.Background(), natssink.StreamName, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var (
		mu   sync.Mutex
		msgs []natssink.Message
		bad  []string
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		dm, err := natssink.Decode(m.Data())
		mu.Lock()
		defer mu.Unlock()
		if err != nil || m.Subject() != natssink.Subject(dm.Group, dm.Metric) {
			bad = append(bad, fmt.Sprintf("%s: %v: %s", m.Subject(), err, m.Data()))
			return
		}
		msgs = append(msgs, dm)
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)

	start := time.Now()
	publishFleet(t, gw.MQTTURL, 4*time.Second, 1500*time.Millisecond)
	last := time.Now().Truncate(time.Second)

	// Wait until the windows the fleet covered are final, then take every
	// final aggregate the gateway has: with all devices, with a3 missing,
	// with b2's late readings, and empty ones after the fleet stopped.
	first := start.Truncate(time.Second).Add(2 * time.Second) // b2 lags 1.5 s
	for _, group := range []string{"site-a", "site-b"} {
		require.Eventually(t, func() bool {
			n := 0
			for _, a := range history(t, base, group) {
				if a.Final && !a.Window.Start.Before(first) && a.Window.Start.Before(last.Add(-time.Second)) {
					n++
				}
			}
			return n >= int(last.Sub(first)/time.Second)-1
		}, 15*time.Second, 50*time.Millisecond, "final windows of %s", group)
	}
	finals := map[partialKey]aggregate.Aggregate{}
	for _, group := range []string{"site-a", "site-b"} {
		for _, a := range history(t, base, group) {
			if a.Final {
				finals[partialKey{a.Group, a.Metric, a.Window.Start}] = a
			}
		}
	}
	require.GreaterOrEqual(t, len(finals), 6)

	// Upstream: per window, each gateway's highest revision replaces its
	// earlier ones; the gateways' partials merge.
	byGateway := map[partialKey]map[string]natssink.Message{}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		clear(byGateway)
		for _, m := range msgs {
			k := partialKey{m.Group, m.Metric, m.Window.Start}
			if byGateway[k] == nil {
				byGateway[k] = map[string]natssink.Message{}
			}
			if old, ok := byGateway[k][m.Gateway]; !ok || m.Revision > old.Revision || m.Final {
				byGateway[k][m.Gateway] = m
			}
		}
		for k := range finals {
			if m, ok := byGateway[k]["gw-test"]; !ok || !m.Final {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "a final partial for every final aggregate")

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, bad, "every message decodes, on its group's and metric's subject")
	revised := 0
	for _, m := range msgs {
		require.True(t, m.Final || m.Revision > 0, "provisional partials are not published: %+v", m)
		if !m.Final {
			revised++
		}
	}
	require.Positive(t, revised, "b2's late readings revised windows before they were final")

	for k, want := range finals {
		var merged aggregate.Partial
		var info aggregate.FinishInfo
		for _, m := range byGateway[k] {
			if merged.Group == "" {
				merged = aggregate.NewPartial(m.Group, m.Metric, m.Window.Start.UnixNano(), m.Window.End.UnixNano())
				info = m.FinishInfo(cfg.Aggregate.MinCoverage)
			}
			p := m.Partial()
			merged.Merge(&p, cfg.Aggregate.MaxMissingListed)
		}
		got := merged.Finish(info)
		wj, err := json.Marshal(want)
		require.NoError(t, err)
		gj, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "%s/%s %v", k.group, k.metric, k.start)
	}
	t.Logf("%d partials received, %d revisions before final; %d final aggregates reproduced", len(msgs), revised, len(finals))
}

// TestIntegrationInfluxDeviceSnapshots: with the InfluxDB sink on, the
// gateway writes aggregates and, every devices.interval, one
// rollcall_device point per device with its state; a3, which stops
// reporting, is written as not live while the others are live.
func TestIntegrationInfluxDeviceSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	srv := testserver.InfluxDB(t, testserver.WithFlux(false))
	gw := startSinkGateway(t, func(c *gateway.Config) {
		c.Influx.Enabled = true
		c.Influx.URL, c.Influx.Database = srv.URL, srv.Database
		c.Influx.FlushInterval = 100 * time.Millisecond
		c.Influx.Devices.Interval = time.Second
	})
	publishFleet(t, gw.MQTTURL, 4*time.Second, 0)

	states := func() map[string]string {
		rows, err := srv.Query(`SELECT last("state") AS "state" FROM "rollcall_device" WHERE time > now() - 1h GROUP BY "group", "device"`)
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, r := range rows {
			out[r["device"].(string)], _ = r["state"].(string) // the device tag is its identity
		}
		return out
	}
	require.Eventually(t, func() bool {
		st := states()
		return len(st) == 5 && st["site-a/a3"] != "live" && st["site-a/a1"] == "live" && st["site-b/b2"] == "live"
	}, 20*time.Second, 200*time.Millisecond, "a3 not live, the others live")
	rows, err := srv.Query(`SELECT count("state") FROM "rollcall_device" WHERE "device" = 'site-a/a1' AND time > now() - 1h`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.GreaterOrEqual(t, rows[0]["count"], 2.0, "a snapshot every second")
	rows, err = srv.Query(`SELECT last("accepted"), last("interval_s"), last("clock_offset_s"), last("age_s") FROM "rollcall_device" WHERE "device" = 'site-a/a1' AND time > now() - 1h`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Greater(t, rows[0]["last"], 10.0, "a1's accepted readings")
	require.InDelta(t, 0.1, rows[0]["last_1"], 0.05, "a1's learned interval")
	require.NotNil(t, rows[0]["last_2"], "clock offset")
	require.NotNil(t, rows[0]["last_3"], "age")
	rows, err = srv.Query(`SELECT count("value") FROM "rollcall_aggregate" WHERE "group" = 'site-a' AND time > now() - 1h`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Positive(t, rows[0]["count"], "aggregates too")
}
