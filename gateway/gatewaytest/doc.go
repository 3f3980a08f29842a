// Package gatewaytest runs a whole rollcall gateway in the test's process:
// its embedded broker and its API on loopback ports the kernel chooses, its
// data in t.TempDir(). Start waits until /readyz answers 200 and stops the
// gateway, and waits for it, in t.Cleanup; Metrics scrapes its /metrics.
//
//	cfg := gatewaytest.Config(t) // gateway.Defaults() on loopback, data in t.TempDir()
//	cfg.Fleet = gatewaytest.FleetFile(t, fleet)
//	gw := gatewaytest.Start(t, cfg)
//	// publish to gw.MQTTURL, read gw.URL, check gw.Metrics(t)
//
// Start fails the test when the gateway cannot be built, stops before it is
// ready, or is not ready within ReadyTimeout. Stop (also run by t.Cleanup,
// and safe to call again) cancels Run and fails the test when Run returns
// an error or does not return within StopTimeout, so every test that uses
// the package also checks a clean shutdown.
//
// Tests that run the rollcall binary as a process use testserver.Rollcall.
package gatewaytest
