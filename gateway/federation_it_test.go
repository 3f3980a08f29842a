package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/federation"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
)

// The federated fleet: site-a is split across the two gateways, site-b
// is gw-b's alone. Every device publishes a constant value, so the truth
// of every window is known: site-a 100+200+300, site-b 400+500.
const (
	fedFleetA = `
defaults:
  interval: 100ms
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: none}
groups:
  site-a: {devices: [a1, a2]}
learn: {enabled: false}
`
	fedFleetB = `
defaults:
  interval: 100ms
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: none}
groups:
  site-a: {devices: [a3]}
  site-b: {devices: [b1, b2]}
learn: {enabled: false}
`
	// The central tier's fleet file gives the physics of a dark
	// gateway's devices.
	fedFleetCentral = `
defaults:
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum}
learn: {enabled: false}
`
)

var fedTruth = map[string]float64{"site-a": 600, "site-b": 900}

// TestIntegrationFederation: two gateways, leaf nodes of a central tier's
// hub, each in its own JetStream domain; the central tier sources their
// partials and its final aggregates are the merge of theirs (exact sums,
// union of the rosters). Then gw-b's leaf link is cut (a TCP proxy between
// it and the hub) for several windows: the central tier shows gw-b dark,
// its devices missing with bounds that contain the truth; when the link
// returns, gw-b's stored partials revise those windows to exact values.
func TestIntegrationFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	ccfg := gatewaytest.Config(t)
	ccfg.Role = gateway.RoleCentral
	ccfg.Fleet = gatewaytest.FleetFile(t, []byte(fedFleetCentral))
	ccfg.Federation.LeafListen = "127.0.0.1:0"
	ccfg.Federation.Gateways = []string{"gw-a"} // gw-b is learned from its announcements
	ccfg.Liveness.PhiSilent = 8                 // dark after about 2.5 windows of silence
	ccfg.Liveness.PhiLate = 3
	ccfg.Checkpoint.Interval = time.Second
	central := gatewaytest.Start(t, ccfg)
	hub := central.Gateway.LeafAddr()
	require.NotEmpty(t, hub)

	proxy := newLinkProxy(t, hub)
	gwA := startFedGateway(t, "gw-a", fedFleetA, "nats://"+hub)
	gwB := startFedGateway(t, "gw-b", fedFleetB, "nats://"+proxy.addr)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { publishConst(ctx, t, gwA.MQTTURL, map[string]float64{"site-a/a1": 100, "site-a/a2": 200}) })
	wg.Go(func() {
		publishConst(ctx, t, gwB.MQTTURL, map[string]float64{"site-a/a3": 300, "site-b/b1": 400, "site-b/b2": 500})
	})
	t.Cleanup(func() { stop(); wg.Wait() })

	// Steady state: final central windows equal the merge of the gateways'.
	exact := func(group string, n int) func(a aggregate.Aggregate) bool {
		return func(a aggregate.Aggregate) bool {
			return a.Final && a.Coverage.Expected == n && a.Coverage.Reported == n &&
				float64(a.Stats.Sum.Lower) == fedTruth[group] && float64(a.Stats.Sum.Upper) == fedTruth[group]
		}
	}
	var first time.Time
	defer func() {
		if t.Failed() {
			var gws any
			get(t, central.URL+"/api/v1/gateways", &gws)
			t.Logf("gateways: %+v", gws)
			for _, g := range []string{"site-a", "site-b"} {
				l, _ := latest(t, central.URL, g, "power_kw")
				t.Logf("central %s: %+v", g, l)
				l, _ = latest(t, gwB.URL, g, "power_kw")
				t.Logf("gw-b %s: %+v", g, l)
			}
			for k, v := range gwB.Metrics(t) {
				if strings.Contains(k, "nats") || strings.Contains(k, "federation") {
					t.Logf("gw-b %s %v", k, v)
				}
			}
			for k, v := range central.Metrics(t) {
				if strings.Contains(k, "federation") || strings.Contains(k, "sink") {
					t.Logf("central %s %v", k, v)
				}
			}
		}
	}()
	require.Eventually(t, func() bool {
		w := newestWhere(t, central.URL, "site-a", exact("site-a", 3))
		first = w
		return !w.IsZero() && !newestWhere(t, central.URL, "site-b", exact("site-b", 2)).IsZero()
	}, 30*time.Second, 100*time.Millisecond, "central windows merged from both gateways")
	var gws struct {
		Gateways []api.GatewayInfo `json:"gateways"`
	}
	require.Equal(t, 200, get(t, central.URL+"/api/v1/gateways", &gws))
	require.Len(t, gws.Gateways, 2)
	require.False(t, gws.Gateways[0].Learned)
	require.True(t, gws.Gateways[1].Learned, "gw-b announced itself")
	require.Equal(t, map[string]int{"site-a": 1, "site-b": 2}, gws.Gateways[1].Groups)
	ca, ga, gb := byWindow(t, central.URL, "site-a"), byWindow(t, gwA.URL, "site-a"), byWindow(t, gwB.URL, "site-a")
	a, b, c := ga[first], gb[first], ca[first]
	require.True(t, a.Final && b.Final && c.Final)
	require.Equal(t, c.Coverage.Expected, a.Coverage.Expected+b.Coverage.Expected, "union of the rosters")
	require.Equal(t, a.Coverage.Reported+b.Coverage.Reported, c.Coverage.Reported)
	require.InDelta(t, float64(a.Stats.Sum.Value)+float64(b.Stats.Sum.Value), float64(c.Stats.Sum.Value), 1e-9)

	// Partition: gw-b's leaf link is cut for longer than several windows.
	proxy.cut()
	cutAt := time.Now()
	require.Eventually(t, func() bool {
		l, ok := latest(t, central.URL, "site-b", "power_kw")
		return ok && slices.Contains(l.Flags, federation.FlagGatewayDark+"gw-b") && l.Window.Start.After(cutAt)
	}, 30*time.Second, 100*time.Millisecond, "gw-b dark at the central tier")
	for group, n := range map[string]int{"site-a": 3, "site-b": 2} {
		l, _ := latest(t, central.URL, group, "power_kw")
		require.Equal(t, l.Coverage.Expected, n, group)
		require.Less(t, l.Coverage.Reported, n, "%s: gw-b's devices missing", group)
		require.LessOrEqual(t, float64(l.Stats.Sum.Lower), fedTruth[group], "%s: bounds contain the truth", group)
		require.GreaterOrEqual(t, float64(l.Stats.Sum.Upper), fedTruth[group], "%s: bounds contain the truth", group)
		require.False(t, l.Final)
	}
	darkWindow, _ := latest(t, central.URL, "site-b", "power_kw")
	proxy.restore()

	// The link is back: gw-b's stored partials revise every window of the
	// partition to exact values; nothing was lost.
	require.Eventually(t, func() bool {
		w := byWindow(t, central.URL, "site-b")[darkWindow.Window.Start]
		return w.Final && w.Revision > darkWindow.Revision
	}, 60*time.Second, 200*time.Millisecond, "the dark window revised to final")
	for group, gws := range map[string][]*gatewaytest.Gateway{"site-a": {gwA, gwB}, "site-b": {gwB}} {
		c := byWindow(t, central.URL, group)
		var per []map[time.Time]aggregate.Aggregate
		for _, g := range gws {
			per = append(per, byWindow(t, g.URL, group))
		}
		for start := first; !start.After(darkWindow.Window.Start); start = start.Add(time.Second) {
			var expected, reported int
			var lo, hi float64
			for _, p := range per {
				a := p[start]
				require.True(t, a.Final, "%s %v: the gateways' windows are final", group, start)
				expected, reported = expected+a.Coverage.Expected, reported+a.Coverage.Reported
				lo, hi = lo+float64(a.Stats.Sum.Lower), hi+float64(a.Stats.Sum.Upper)
			}
			got := c[start]
			require.True(t, got.Final, "%s %v: central final", group, start)
			require.Empty(t, got.Flags, "%s %v", group, start)
			require.Equal(t, expected, got.Coverage.Expected, "%s %v", group, start)
			require.Equal(t, reported, got.Coverage.Reported, "%s %v", group, start)
			require.InDelta(t, lo, float64(got.Stats.Sum.Lower), 1e-9, "%s %v", group, start)
			require.InDelta(t, hi, float64(got.Stats.Sum.Upper), 1e-9, "%s %v", group, start)
		}
	}
	require.Zero(t, gwB.Metrics(t)["rollcall_nats_publish_errors_total"], "no partial dropped")
}

// startFedGateway starts a gateway with id and fleet, a leaf node of the
// hub at upstream.
func startFedGateway(t *testing.T, id, fleet, upstream string) *gatewaytest.Gateway {
	t.Helper()
	cfg := gatewaytest.Config(t)
	cfg.MQTT.ClientID = id
	cfg.Fleet = gatewaytest.FleetFile(t, []byte(fleet))
	cfg.Federation.Upstream = upstream
	cfg.Window.Size = time.Second
	cfg.Window.AllowedLateness = time.Second
	cfg.Window.AllowedSkew = 200 * time.Millisecond
	cfg.Window.IdleTimeout = time.Second
	cfg.Aggregate.EmitInterval = 20 * time.Millisecond
	return gatewaytest.Start(t, cfg)
}

// publishConst publishes each device's constant value at 10 Hz until ctx
// is done.
func publishConst(ctx context.Context, t *testing.T, url string, devices map[string]float64) {
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("fleet-%d", time.Now().UnixNano())))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("connect %s: %v", url, tok.Error())
		return
	}
	defer pub.Disconnect(100)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			seq++
			for dev, v := range devices {
				p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%g}}`, seq, now.UnixMilli(), v)
				pub.Publish("fleet/"+dev+"/telemetry", 1, false, p).WaitTimeout(5 * time.Second)
			}
		}
	}
}

// byWindow returns the newest stored revision of every window of group.
func byWindow(t *testing.T, base, group string) map[time.Time]aggregate.Aggregate {
	out := map[time.Time]aggregate.Aggregate{}
	for _, a := range history(t, base, group) {
		k := a.Window.Start.UTC()
		if old, ok := out[k]; !ok || a.Revision >= old.Revision {
			out[k] = a
		}
	}
	return out
}

// newestWhere returns the start of the newest window of group whose
// newest revision satisfies ok; zero if none.
func newestWhere(t *testing.T, base, group string, ok func(aggregate.Aggregate) bool) time.Time {
	var newest time.Time
	for start, a := range byWindow(t, base, group) {
		if ok(a) && start.After(newest) {
			newest = start
		}
	}
	return newest
}

// linkProxy is a TCP proxy whose link can be cut (listener closed, every
// connection closed) and restored (listening again on the same port).
type linkProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &linkProxy{t: t, addr: ln.Addr().String(), target: target}
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *linkProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
}

// cut closes the listener and every connection through it.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// restore listens again on the proxy's address.
func (p *linkProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.serve(ln)
}
