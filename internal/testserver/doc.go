// Package testserver starts real servers (Debian's mosquitto and
// Prometheus, InfluxDB, and rollcall itself) as processes on free loopback
// ports for integration tests, and stops them in t.Cleanup.
//
// # Servers
//
//   - Mosquitto: a broker (anonymous by default; with options a password
//     file, an ACL, a TLS listener, a max_inflight_messages), with Stop and
//     Restart.
//   - InfluxDB: influxd 1.8 with a database, Query and Exec, Stop and
//     Restart.
//   - Prometheus: scraping the given targets; WaitTarget waits for the
//     first scrape, Query runs an instant query.
//   - Rollcall: the rollcall binary (built once per test binary by
//     RollcallBinary) with the given arguments; WaitReady waits for
//     /readyz, Metrics scrapes /metrics, Signal, Kill, Wait and Stop end it
//     (the crash tests kill it). A rollcall in the test's own process is
//     gatewaytest's.
//   - NewCA makes a CA that issues server and client certificates for TLS
//     tests.
//
// Each server gets a temp config and data dir; its stdout and stderr go to a
// log file in t.TempDir(), whose tail is printed when the test fails. In
// t.Cleanup a server still running gets SIGTERM and, after StopTimeout
// (RollcallStopTimeout for rollcall), SIGKILL; on Linux the kernel also
// kills it when the test binary dies without its cleanups (Pdeathsig).
// Mosquitto, InfluxDB and Prometheus start again on a new port when another
// process takes the free one before they bind it.
//
// A missing server binary skips the test, or fails it under CI=true (see
// RequireBinary). `make test` installs the binaries with
// scripts/install-servers.sh.
package testserver
