// Package benche2e is rollcall's end-to-end benchmark (`make bench-e2e`,
// DESIGN.md § Performance and limits): the rollcall binary and a bare paho
// subscriber that only counts, run back to back on the same mosquitto and
// the same workload, each measured by its own process's CPU time
// (/proc/<pid>/stat) and by the rate at which it takes the messages.
//
// Scenarios:
//
//   - rate: QoS 0 at a fixed publish rate (default 40k messages/s): CPU
//     seconds per million messages of each subscriber; for rollcall also its
//     RSS with the whole fleet tracked and how long after the watermark
//     passes a window its provisional aggregate is emitted.
//   - max: QoS 0, published as fast as the broker takes it: the rate each
//     subscriber sustains (rollcall sheds what it cannot take, and says so).
//   - drain: QoS 1 backlog drain: K messages queued by mosquitto for an
//     offline persistent session, then the subscriber starts; the time until
//     it has handled all of them (the bare subscriber acknowledges each
//     message itself; rollcall after its journal's group commit).
//
// Subjects: "paho" (count only), "paho+json" (decodes each payload with
// encoding/json, the rate target's reference) and "rollcall" (`rollcall
// serve --mqtt-url`, default configuration, a fleet file listing every
// device). The publisher is a minimal MQTT client in this process; the
// subjects and mosquitto are separate processes. The machine is shared and
// has two cores: the CPU-time figures are the ones to compare, and each
// measurement is repeated (Config.Runs), subjects interleaved.
//
// # Running it
//
// Run runs Config.Scenarios, each measurement Config.Runs times, and writes
// a table per scenario, with the subjects' ratios, to Config.Out;
// cmd/benche2e is its command line (`make bench-e2e`, flags in
// BENCHE2E_FLAGS). For each measurement it starts a mosquitto on a free
// loopback port (or uses Config.Broker, which it neither starts nor stops)
// and the subject: the bare subscriber is the running binary re-executed
// with SubscriberCommand (so cmd/benche2e's main must hand that
// subcommand to RunSubscriber), rollcall is Config.Rollcall or built with
// go build. Both are stopped when the measurement ends (SIGTERM or a
// closed stdin, then SIGKILL). Their configs, data and logs go to
// Config.WorkDir, by default a temp dir that is removed at the end unless
// Config.Keep is set or a measurement failed or was incomplete.
package benche2e
