// Command fleetsim simulates a fleet of wind turbines (and generic devices)
// publishing telemetry over MQTT to any broker, injects the faults a scenario
// scripts, and writes the ground truth as JSON lines. See docs/simulator.md.
//
//	fleetsim --scenario partition-and-flush --broker tcp://127.0.0.1:1883 --truth truth.jsonl
//	fleetsim --scenario my.yaml --print-fleet > fleet.yaml   # the matching rollcall fleet file
//
// The scenario is a YAML file or a shipped name (sim.ExampleScenarios; -help
// lists them). -seed, -qos and -duration override the scenario's; each
// flag can also come from FLEETSIM_<FLAG> (e.g. FLEETSIM_SPEED), and a flag
// wins over the environment. -speed runs simulated time faster than the
// clock ("inf": as fast as the broker takes it). With -device-passwords,
// every device connects with its identity (site/name) as username and its
// own password, as a broker with per-device credentials requires.
//
// It runs sim.Fleet until the scenario's duration has passed (0: until
// stopped) or SIGINT or SIGTERM, draws a progress line while stderr is a
// terminal, and prints a summary to stderr (sim.Stats: readings, sent,
// failed, lost, dropped and unsent messages, and the faults injected). It
// exits 0 when done, 1 when the run fails and 2 for a usage or scenario
// error.
package main
