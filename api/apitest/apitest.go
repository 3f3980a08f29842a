package apitest

import (
	"testing"
	"time"

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
