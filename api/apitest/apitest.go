package apitest

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
)

// Options shape the gateway. Zero durations mean the values below, chosen
// so that windows close within seconds.
type Options struct {
	// Fleet is the fleet file's content (required).
	Fleet []byte
	// Window is the window size. Default: 1s.
	Window time.Duration
	// Step is the hopping windows' step (window.step). Default: 0,
	// tumbling windows.
	Step time.Duration
	// Lateness is the allowed lateness. Default: 2s.
	Lateness time.Duration
	// Skew is the allowed skew of the watermark. Default: 200ms.
	Skew time.Duration
	// IdleTimeout is how long a quiet group holds its watermark. Default:
	// 1s.
	IdleTimeout time.Duration
	// HTTP changes the API's configuration (its address stays loopback).
	HTTP func(*api.Config)
}

// Gateway is a running gateway.
type Gateway struct {
	// URL is the API's base URL, http://127.0.0.1:port.
	URL string
	// MQTTURL is the embedded broker's URL.
	MQTTURL string
}

// Start starts a gateway with its embedded broker and waits until it is
// ready.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	cfg := gatewaytest.Config(t)
	cfg.Fleet = gatewaytest.FleetFile(t, o.Fleet)
	cfg.Window.Size = or(o.Window, time.Second)
	cfg.Window.Step = o.Step
	cfg.Window.AllowedLateness = or(o.Lateness, 2*time.Second)
	cfg.Window.AllowedSkew = or(o.Skew, 200*time.Millisecond)
	cfg.Window.IdleTimeout = or(o.IdleTimeout, time.Second)
	cfg.Aggregate.EmitInterval = 20 * time.Millisecond
	if o.HTTP != nil {
		o.HTTP(&cfg.HTTP)
	}
	gw := gatewaytest.Start(t, cfg)
	return &Gateway{URL: gw.URL, MQTTURL: gw.MQTTURL}
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// PublishExact publishes n readings of site-a's a1 (100) and a2 (250),
// 100 ms apart in event time starting 50 ms after the next whole second
// (returned), at that pace, and waits for the broker to take them. The
// device's clock paces them; it is not synchronised with the gateway.
func PublishExact(t *testing.T, broker string, n int) time.Time {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("apitest-fleet"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer c.Disconnect(100)
	base := time.Now().Truncate(time.Second).Add(time.Second)
	<-time.After(time.Until(base.Add(50 * time.Millisecond)))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		ts := base.Add(50*time.Millisecond + time.Duration(i)*100*time.Millisecond)
		for _, d := range []struct {
			id string
			v  float64
		}{{"a1", 100}, {"a2", 250}} {
			p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%q,"metrics":{"power_kw":%g}}`, i+1, ts.UTC().Format(time.RFC3339Nano), d.v)
			tok := c.Publish("fleet/site-a/"+d.id+"/telemetry", 1, false, p)
			require.True(t, tok.WaitTimeout(10*time.Second))
			require.NoError(t, tok.Error())
		}
		if i < n-1 {
			<-tick.C
		}
	}
	return base
}
