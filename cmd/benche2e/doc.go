// Command benche2e is rollcall's end-to-end benchmark (`make bench-e2e`):
// rollcall and a bare paho subscriber that only counts, back to back on the
// same mosquitto and workload; it prints each one's rate and CPU seconds
// per million messages, and the ratios. See package internal/benche2e and
// docs/benchmarks.md.
//
//	go run ./cmd/benche2e -scenarios rate -runs 3 -v
//	make bench-e2e BENCHE2E_FLAGS='-scenarios drain -drain-messages 100000'
//
// Its flags set internal/benche2e's Config (-help lists them). By default
// it starts a mosquitto of its own for each measurement (-broker names an
// external one instead) and builds rollcall with go build (-rollcall names
// a binary); it stops every process it started when a measurement ends.
// The report goes to stdout; -v logs progress to stderr. The work
// directory (-work-dir, default a temp dir) is removed at the end unless a
// measurement failed or was incomplete.
//
// The bare subscriber is this binary run again as `benche2e
// subscriber ...` (benche2e.SubscriberCommand), so that its CPU time is
// its own process's. It exits 0 when done, 1 when a measurement could not
// run, and 2 for a bad flag.
package main
