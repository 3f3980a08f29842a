package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api/apiclient"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/sim"
)

// spEdge publishes as the Sparkplug edge node plant/edge1: one seq counter
// over the node and its devices, bdSeq per session.
type spEdge struct {
	t     *testing.T
	c     mqtt.Client
	seq   uint64
	bdSeq uint64
	sent  int
}

func (e *spEdge) publish(typ, device string, ts time.Time, hasSeq bool, ms []sim.SpMetric) []byte {
	e.t.Helper()
	topic := "spBv1.0/plant/" + typ + "/edge1"
	if device != "" {
		topic += "/" + device
	}
	p := sim.AppendSpPayload(nil, uint64(ts.UnixMilli()), e.seq%256, hasSeq, ms)
	if hasSeq {
		e.seq++
	}
	e.raw(topic, p)
	return p
}

func (e *spEdge) raw(topic string, p []byte) {
	e.t.Helper()
	tok := e.c.Publish(topic, 1, false, p)
	require.True(e.t, tok.WaitTimeout(10*time.Second))
	require.NoError(e.t, tok.Error())
	e.sent++
}

func (e *spEdge) birth(ts time.Time) {
	e.seq = 0
	e.publish("NBIRTH", "", ts, true, []sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64, Value: float64(e.bdSeq)}})
	for i := 1; i <= 3; i++ {
		e.publish("DBIRTH", "pump-"+strconv.Itoa(i), ts, true, []sim.SpMetric{
			// No current value (is_null): a birth's values are readings.
			{Name: "flow_m3h", Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Null: true},
			{Name: "running", Alias: 2, HasAlias: true, Datatype: sim.SpBoolean, Value: 1},
		})
	}
}

func (e *spEdge) death(ts time.Time) {
	e.publish("NDEATH", "", ts, false, []sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64, Value: float64(e.bdSeq)}})
}

// spFlow is pump i's flow at sample k.
func spFlow(i, k int) float64 { return float64(10*i) + float64(k%7)/4 }

// TestIntegrationSparkplug: a Sparkplug edge node with three devices and a
// JSON fleet publish to one gateway. The aggregates are exact; births and
// deaths drive online/offline; the node's seq wraps (300 messages a
// window) and the node rebirths with a new bdSeq without a reading lost or
// counted twice; a duplicate is a duplicate, an old DDATA replayed is a
// replay; after the NDEATH the node's devices are offline, and missing as
// offline in coverage.
func TestIntegrationSparkplug(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const win = 2 * time.Second
	fleetPath := gatewaytest.FleetFile(t, []byte(`defaults:
  interval: 100ms
  metrics:
    flow_m3h: {min: 0, max: 100, device: mean, group: sum, impute: last}
    power_kw: {min: 0, max: 3000, device: mean, group: sum, impute: last}
groups:
  plant: {devices: ["edge1:pump-1", "edge1:pump-2", "edge1:pump-3"]}
  site-a: {devices: [wt-01, wt-02]}
`))
	cfg := gatewaytest.Config(t)
	cfg.Fleet = fleetPath
	cfg.Window.Size = win
	cfg.Window.AllowedLateness = testLateness
	cfg.Window.IdleTimeout = testIdle
	cfg.Store.MaxRevisions = 1000
	gw := gatewaytest.Start(t, cfg)
	api, err := apiclient.New(gw.URL, apiclient.Options{Timeout: 10 * time.Second})
	require.NoError(t, err)

	connect := func(id string, will func(*mqtt.ClientOptions)) mqtt.Client {
		o := mqtt.NewClientOptions().AddBroker(gw.MQTTURL).SetClientID(id).SetCleanSession(true)
		if will != nil {
			will(o)
		}
		c := mqtt.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
		t.Cleanup(func() { c.Disconnect(100) })
		return c
	}
	edge := &spEdge{t: t}
	edge.c = connect("edge1", func(o *mqtt.ClientOptions) {
		o.SetBinaryWill("spBv1.0/plant/NDEATH/edge1", sim.AppendSpPayload(nil, 0, 0, false,
			[]sim.SpMetric{{Name: "bdSeq", Datatype: sim.SpInt64, Value: 0}}), 1, false)
	})
	jsonc := connect("json-fleet", nil)

	// Four windows in the recent past, inside the allowed lateness.
	base := time.Now().Truncate(win).Add(-4 * win)
	const perWin = 100 // samples per device per window: 300 DDATA, a seq wrap each window
	want := map[string][4]float64{}
	edge.birth(base)
	var oldDDATA []byte
	for w := range 4 {
		if w == 2 { // rebirth with a new bdSeq
			edge.death(base.Add(2 * win))
			edge.bdSeq++
			edge.birth(base.Add(2 * win))
		}
		var plant, site float64
		for i := 1; i <= 3; i++ {
			sum := 0.0
			for k := range perWin {
				sum += spFlow(i, k)
			}
			plant += sum / perWin
		}
		for k := range perWin {
			ts := base.Add(time.Duration(w)*win + time.Duration(k)*win/perWin)
			for i := 1; i <= 3; i++ {
				p := edge.publish("DDATA", "pump-"+strconv.Itoa(i), ts, true,
					[]sim.SpMetric{
						{Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Value: spFlow(i, k)},
						{Alias: 2, HasAlias: true, Datatype: sim.SpBoolean, Value: 1},
					})
				if w == 0 && k == 10 && i == 1 {
					oldDDATA = p
				}
				if w == 3 && k == 50 && i == 2 { // a QoS 1 style duplicate
					edge.raw("spBv1.0/plant/DDATA/edge1/pump-2", p)
				}
			}
		}
		for d := 1; d <= 2; d++ {
			sum := 0.0
			for k := range 4 {
				v := float64(1000*d + 10*k + w)
				sum += v
				ts := base.Add(time.Duration(w)*win + time.Duration(k)*win/4)
				payload := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%v}}`, w*4+k+1, ts.UnixMilli(), v)
				tok := jsonc.Publish(fmt.Sprintf("fleet/site-a/wt-%02d/telemetry", d), 1, false, payload)
				require.True(t, tok.WaitTimeout(10*time.Second))
			}
			site += sum / 4
		}
		want["plant"] = setAt(want["plant"], w, plant)
		want["site-a"] = setAt(want["site-a"], w, site)
	}
	// The first session's DDATA, replayed: flagged, not counted.
	edge.raw("spBv1.0/plant/DDATA/edge1/pump-1", oldDDATA)

	ctx := context.Background()
	require.Eventually(t, func() bool {
		d, err := api.Device(ctx, "plant/edge1:pump-1")
		return err == nil && d.Counts.Replays >= 1
	}, 20*time.Second, 100*time.Millisecond, "the replayed DDATA is flagged")
	d2, err := api.Device(ctx, "plant/edge1:pump-2")
	require.NoError(t, err)
	require.EqualValues(t, 1, d2.Counts.Duplicates)
	require.Equal(t, "live", d2.State)

	edge.death(base.Add(4 * win))
	require.Eventually(t, func() bool {
		for i := 1; i <= 3; i++ {
			d, err := api.Device(ctx, "plant/edge1:pump-"+strconv.Itoa(i))
			if err != nil || d.State != "offline" {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond, "NDEATH makes the node's devices offline")

	for _, g := range []struct{ group, metric string }{{"plant", "flow_m3h"}, {"site-a", "power_kw"}} {
		var aggs []aggregate.Aggregate
		require.Eventually(t, func() bool {
			aggs, err = api.History(ctx, apiclient.HistoryQuery{Group: g.group, Metric: g.metric, From: base, To: base.Add(4 * win)})
			if err != nil || len(aggs) != 4 {
				return false
			}
			for _, a := range aggs {
				if !a.Final {
					return false
				}
			}
			return true
		}, 40*time.Second, 200*time.Millisecond, "%s: four final windows", g.group)
		for w, a := range aggs {
			exp := want[g.group][w]
			require.InDelta(t, exp, float64(a.Stats.Sum.Value), 1e-9*exp, "%s window %d", g.group, w)
			require.Equal(t, a.Coverage.Expected, a.Coverage.Reported, "%s window %d", g.group, w)
			require.InDelta(t, float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Upper), 1e-9*exp, "%s window %d: exact", g.group, w)
		}
	}
	// After the NDEATH the plant's windows miss its devices as offline.
	require.Eventually(t, func() bool {
		aggs, err := api.History(ctx, apiclient.HistoryQuery{Group: "plant", Metric: "flow_m3h", From: base.Add(5 * win), To: base.Add(20 * win)})
		if err != nil {
			return false
		}
		for _, a := range aggs {
			if len(a.Coverage.Missing) == 3 && a.Coverage.Missing[0].State == "offline" {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "plant windows after the NDEATH: 3 missing, offline")
	require.False(t, math.IsNaN(want["plant"][0]))
}

func setAt(a [4]float64, i int, v float64) [4]float64 { a[i] = v; return a }

// TestIntegrationCalibrationSparkplug runs Sparkplug fleets (fleetsim's
// format sparkplug: each turbine an edge node publishing NDATA by alias)
// with every fault that applies to Sparkplug, and scores them like
// TestIntegrationCalibration: bounds contain the truth, final windows are
// exact, every device's counts match the wire; the replayed NDATA is
// flagged, and the offline fault's Last Will (an NDEATH) makes its device
// offline until its NBIRTH.
func TestIntegrationCalibrationSparkplug(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenario); run without -short")
	}
	t.Parallel()
	cases := []calibration{
		{
			s: fleet(t, "sparkplug", 36*sec,
				sim.FaultSpec{Kind: sim.FaultDuplicate, Devices: one("site-a/wt-01"), Probability: 0.3},
				sim.FaultSpec{Kind: sim.FaultReplay, Devices: one("site-a/wt-02"), From: 6 * sec, To: 24 * sec, Every: 3 * sec},
				sim.FaultSpec{Kind: sim.FaultReboot, Devices: one("site-b/wt-06"), From: 12 * sec},
				sim.FaultSpec{Kind: sim.FaultDelay, Devices: one("site-b/wt-07"), Delay: 2 * sec},
				sim.FaultSpec{Kind: sim.FaultReorder, Devices: one("site-a/wt-04"), Window: 4},
				sim.FaultSpec{Kind: sim.FaultSilent, Devices: one("site-b/wt-09"), From: 20 * sec}),
			check: func(t *testing.T, e *env, _ *result, _ *wire, _ *report) {
				require.NotZero(t, e.device("site-a/wt-02").Counts.Replays, "the replayed NDATA is flagged")
			},
		},
		{
			s: fleet(t, "sparkplug-offline", 36*sec,
				sim.FaultSpec{Kind: sim.FaultOffline, Devices: one("site-b/wt-08"), From: 8 * sec, To: 22 * sec}),
			record: true,
			check: func(t *testing.T, e *env, r *result, _ *wire, _ *report) {
				from, to := r.start.Add(8*sec), r.start.Add(22*sec)
				offline := checkEpisode(t, e, "site-b/wt-08", from, to, 5*sec, "offline")
				checkMissingState(t, r, "site-b", "site-b/wt-08", from, to, to, offline.Add(sec), "offline")
				checkPolledState(t, e, "site-b/wt-08", to.Add(5*sec), r.end, "live", "late")
			},
		},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		c.s.Format = sim.FormatSparkplug
		require.NoError(t, c.s.Validate())
		wg.Go(func() {
			t.Run(c.s.Name, func(t *testing.T) {
				e := newEnv(t, c.s, c.mutate)
				r := e.run(c.record)
				r.msgs = spWire(t, c.s, r.msgs)
				w := newWire(t, r, e.cfg.Window.Size, e.cfg.Limits.MaxFutureSkew)
				t.Log(score(t, e, r, w))
				checkDevices(t, e, r, w)
				c.check(t, e, r, w, nil)
			})
		})
	}
	wg.Wait()
}

// spWire translates the Sparkplug NDATA messages of a run into the JSON
// telemetry the wire scorer reads (births and deaths are status messages
// to it): the metrics by the aliases the simulator's births define (1, 2,
// ... in the group's metric order), seq the payload's timestamp (unique per
// reading of a device, shared by its duplicates and replays).
func spWire(t *testing.T, s sim.Scenario, msgs []sim.Message) []sim.Message {
	t.Helper()
	groups, err := s.Groups()
	require.NoError(t, err)
	metrics := map[string][]string{}
	for _, g := range groups {
		metrics[g.Name] = g.Metrics
	}
	var p sparkplug.Payload
	out := make([]sim.Message, 0, len(msgs))
	for _, m := range msgs {
		parts := strings.Split(m.Topic, "/")
		if m.Kind != sim.MessageTelemetry {
			out = append(out, m)
			continue
		}
		require.Len(t, parts, 4, m.Topic)
		require.Equal(t, "NDATA", parts[2], m.Topic)
		require.NoError(t, sparkplug.DecodePayload(m.Payload, 64, &p))
		names := metrics[parts[1]]
		vals := map[string]float64{}
		for _, mt := range p.Metrics {
			v, ok := mt.Value(sparkplug.TypeDouble)
			require.True(t, ok)
			vals[names[mt.Alias-1]] = v
		}
		ts := time.UnixMilli(int64(p.Timestamp)).UTC()
		b, err := json.Marshal(map[string]any{"seq": p.Timestamp, "boot": 0, "ts": ts, "metrics": vals})
		require.NoError(t, err)
		m.Topic, m.Payload = "fleet/"+parts[1]+"/"+parts[3]+"/telemetry", b
		out = append(out, m)
	}
	return out
}
