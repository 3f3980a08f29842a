// Package simtest holds test helpers around the fleet simulator: an embedded
// MQTT broker, a Recorder that subscribes to a broker and keeps what it
// receives, and Recompute, which computes the ground-truth windows from
// recorded telemetry (to check the simulator's truth, or to score a run).
//
//	url := simtest.Broker(t)                 // rollcall's embedded broker, stopped in t.Cleanup
//	rec := simtest.Record(t, url, "fleet/#") // a QoS 1 subscriber, disconnected in t.Cleanup
//	// run the simulator against url, then:
//	truth, err := simtest.Recompute(rec.Messages(), size, offset)
//
// A recorded message's Device is the device's fleet-wide identity,
// site/name, taken from its topic (the default templates). Recompute
// counts every message once: give it a run without duplicates or replays.
package simtest
