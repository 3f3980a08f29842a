// Command rollcall is the gateway: MQTT in, windowed aggregates that say how
// much of the fleet they saw out. See README.md.
//
// # Subcommands
//
//	rollcall [serve] [flags]   run the gateway (the default)
//	rollcall demo [flags]      the gateway plus a simulated fleet
//	rollcall query [flags]     aggregates from a running rollcall's API, as a table
//	rollcall devices [flags]   devices and their states from the API, as a table
//	rollcall passwd            read a password on stdin, print its bcrypt hash
//	rollcall check [flags]     validate config, fleet and devices files
//	rollcall version           print the version
//
// serve layers its configuration from defaults, the -config YAML file,
// ROLLCALL_<FLAG> environment variables and flags, in rising precedence
// (ROLLCALL_MQTT_PASSWORD sets mqtt.password, which has no flag), and runs
// gateway.New and Gateway.Run until SIGINT or SIGTERM, then shuts the
// gateway down within its shutdown timeout. SIGHUP reloads the embedded
// broker's TLS certificate, key and client CA files.
//
// demo is serve with the demo fleet file (sim.DemoFleet, unless -fleet is
// given) and data in a temp dir (unless -data-dir is given), with sim's
// DemoConfig publishing two sites of 20 simulated turbines, with scripted
// faults, to the embedded broker; it prints the URLs to open. On SIGINT the
// simulated fleet stops first, so that the gateway still takes what it
// published. Its heap is bounded by DemoMemoryLimit unless GOMEMLIMIT is
// set.
//
// query and devices read a running rollcall's API (package api/apiclient) at
// -url or ROLLCALL_URL, with -token or ROLLCALL_HTTP_TOKEN, and print a
// table or, with -json, the API's JSON; `rollcall devices site-a/wt-07`
// shows one device, named by its fleet-wide identity (site/name). passwd
// prints the bcrypt hash (DefaultBcryptCost) of the password line on stdin,
// for broker.auth.devices_file and broker.auth.users[].password_hash; it
// never echoes the password. Each subcommand's -help lists its flags.
//
// check (gateway.Check) reads -config, -fleet and -devices-file (the last
// two default to the config's fleet and broker.auth.devices_file) as serve
// would, starts nothing, and prints every problem as FILE:LINE: KEY: what
// is wrong; with -print the resolved configuration follows, every
// password, token and bcrypt hash shown as REDACTED.
//
// # Exit status
//
// 0 on success (and after -help); 1 when the gateway fails, or when the API
// answers with an error or cannot be reached; 2 for a usage error (an
// unknown subcommand, a bad flag or a configuration that does not load).
// check follows promtool check config for 0 (no problem) and 1 (problems
// found); promtool also exits 1 for a file it cannot read and for usage
// errors (and 3 for lint problems with --lint-fatal), where check exits 2,
// like rollcall's other subcommands, so that a script can tell a broken
// configuration from a wrong invocation.
package main
