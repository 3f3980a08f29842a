// Package apitest runs a whole rollcall gateway for tests of what a person
// sees through the HTTP API: the status page in a browser (its own tests,
// with headless Chromium), and the CLI (cmd/rollcall's query and devices
// tests).
//
// Start takes the fleet file's content and returns the API's and the
// embedded broker's URLs; the test publishes to the broker and reads the
// API. Windows are short (Options: 1 s windows, 2 s lateness, 200 ms skew,
// 1 s idle timeout, 20 ms emit interval by default), so that aggregates
// appear within seconds.
//
//	gw := apitest.Start(t, apitest.Options{Fleet: fleet})
//	// publish to gw.MQTTURL, then read gw.URL + "/api/v1/..."
//
// The gateway is gatewaytest's: it listens on loopback ports chosen by the
// kernel, keeps its data in t.TempDir(), and is stopped, and waited for, in
// t.Cleanup.
package apitest
