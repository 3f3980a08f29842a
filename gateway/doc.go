// Package gateway is the composition root: it turns a Config into a running
// rollcall (embedded or external broker, subscription, aggregation engine,
// sinks, HTTP API) and shuts it down in order.
//
// # Lifecycle
//
// New validates the configuration, loads the fleet file, starts the embedded
// broker if no external one is configured, and binds the HTTP listener, so
// that every configuration and address error surfaces before Run. Run
// serves until its context is done, then shuts down in two phases within
// Config.ShutdownTimeout: stop intake (disconnect from the broker, which
// keeps the persistent session and every unacknowledged QoS 1 message),
// drain the workers' queues and emit every window that is due, let the sinks
// write what is queued, then stop the HTTP server and the broker.
//
// # Drops
//
// Nothing is dropped here; each stage counts its own drops (see the doc of
// ingest, aggregate and sink). A shutdown that exceeds ShutdownTimeout is
// logged with what was still running.
package gateway
