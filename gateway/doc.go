// Package gateway is the composition root: it turns a Config into a running
// rollcall (embedded or external broker, subscription, ingest journal,
// aggregation engine, sinks, HTTP API, checkpoints) and shuts it down in
// order. It holds no pipeline rule of its own: it wires the stages, adapts
// the engine to the journal stage (durable.go), and writes and loads
// checkpoints (checkpoint.go).
//
// # Lifecycle
//
// New validates the configuration, loads the fleet file, starts the embedded
// broker if no external one is configured, opens the ingest journal, loads
// the last checkpoint and binds the HTTP listener, so that every
// configuration, address and data_dir error surfaces before Run.
//
// Run runs an ordered list of stages (lifecycle.go), each with a run (its
// goroutine) and optionally a start and a stop: http, influx, sinks,
// journal, aggregate (its start replays the journal after the checkpoint,
// then releases the engine), checkpoint, intake (its start subscribes). It
// serves until its context is done or a stage fails; a stage that fails
// stops the gateway with its error. Shutdown runs in reverse order under one
// deadline, Config.ShutdownTimeout: each stage's run is cancelled and waited
// for, then its stop runs. So: stop intake (disconnect from the broker,
// which keeps the persistent session and every unacknowledged QoS 1
// message); journal what is queued, let the workers handle it and take a
// last checkpoint; stop the engine, which emits what is due; stop the
// journal; let the sinks write what is queued and the InfluxDB sink spool the
// rest; stop the HTTP server; close the journal and stop the broker.
//
// # Drops
//
// Nothing is dropped here; each stage counts its own drops (see the doc of
// ingest, journal/ingestlog, aggregate and sink). A stage that does not
// stop within ShutdownTimeout is reported in Run's error and logged
// ("shutdown incomplete").
package gateway
