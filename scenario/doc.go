// Package scenario holds rollcall's end-to-end scenario and calibration tests
// (DESIGN.md § Verification, "Scenario tests"): the fleet simulator (package
// sim) runs its faults in real time against an in-process gateway with its
// embedded broker, and the tests score what the gateway's HTTP API reports
// against the simulator's ground truth.
//
// The package has no code of its own, only tests, all named TestIntegration*
// and skipped under -short:
//
//   - TestIntegrationCalibration runs one scenario per fault kind (calm,
//     silent, offline, partition-and-flush, delay, jitter, clock skew, clock
//     jump, reorder, burst), each against its own gateway, all at once. For
//     every window of the run it checks that the bounds of sum, mean, min
//     and max of every revision the gateway emitted contain the truth in
//     true time (in at least 99 % of the windows), that the final aggregate's device count and reported
//     numbers equal what the devices delivered, exactly, that a final window
//     every device delivered every sample in equals the truth exactly (and
//     one short of samples counts partial devices, never good), that every device
//     accepted exactly the readings it delivered once, and the device states
//     the faults call for (silent; offline via Last Will). In the clock
//     scenarios every skewed or stepped clock is corrected (the correction
//     and the clock_corrected flags are checked), the finals equal what the
//     devices delivered placed at true time, and the honest devices are
//     never too_late and revised no more often than in the calm run. It logs the coverage of the truth and the median
//     width of the bounds relative to the physics-optimal width, for
//     aggregates with missing devices (physics.optimalWidth) and with
//     partially reported ones (partialWidthRatio). The partition-and-flush case is issue 5's
//     integration test: the partitioned device is first missing with bounds,
//     then its windows are revised to the exact values, visible with
//     revisions=all.
//   - TestIntegrationSiteDark (issue 15) darkens every device of site-a
//     for 16 s three ways (silent; offline, every device's connection to the
//     broker cut with its Last Will; partitioned, then flushing): while dark
//     the site's windows keep coming with 0 of 5, quality bad and bounds
//     that contain the truth; after, its devices are live and its finals
//     complete again, and the flushed backlog revises the dark windows to
//     the exact values.
//   - TestIntegrationDuplicateReplay (issue 4) runs the duplicate and replay
//     faults: nothing counted twice, duplicates counted exactly, the
//     replaying device flagged within three repetitions and unflagged after
//     replay.quiet.
//   - TestIntegrationSiteTwins (issue 13) runs two sites whose turbines
//     have the same names (wt-01 … wt-05 at both): every final aggregate of
//     both sites is exact and complete, one twin's duplicates are charged
//     to it alone, and the API, InfluxDB and Prometheus each show ten
//     distinct devices (identities site/name).
//   - TestIntegrationSpoofRefusedByBroker runs the spoof fault against a
//     broker with per-device credentials (broker.auth.devices_file): the
//     broker refuses the spoofed messages, so the target accepts exactly its
//     own readings and nothing is rejected spoofed.
//
// Every scenario is two sites of five turbines reporting every 250 ms,
// scored in 2 s windows (the truth's windows match the gateway's). What the
// devices delivered is the same run again, in process at infinite speed (a
// run is deterministic given its scenario and start), or, where a cut
// connection may lose a publish, what a subscriber received. The package
// takes about as long as its longest scenario plus its allowed lateness,
// a minute and a half.
package scenario
