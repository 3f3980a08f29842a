package sim

import (
	_ "embed"
	"time"
)

// The demo fleet of `rollcall demo` (DESIGN.md, "Binaries and commands"): two
// sites of 20 turbines, site-a wt-01 … wt-20 and site-b wt-21 … wt-40, with
// one silent turbine in site-a (which therefore reports 19 of 20) and one
// replaying and one partitioned turbine in site-b.
const (
	// DemoDevicesPerSite is the demo fleet's turbines per site.
	DemoDevicesPerSite = 20
	// DemoSilentDevice is the turbine that goes silent (site-a).
	DemoSilentDevice = "site-a/wt-07"
	// DemoSilentAfter is when, after the start, DemoSilentDevice goes silent.
	DemoSilentAfter = 3 * time.Second
	// DemoReplayDevice is the turbine that re-sends an old message every
	// DemoReplayEvery from DemoReplayAfter on (site-b).
	DemoReplayDevice = "site-b/wt-32"
	DemoReplayAfter  = 10 * time.Second
	DemoReplayEvery  = 3 * time.Second
	// DemoPartitionDevice is the turbine partitioned from the broker for
	// DemoPartitionFor from DemoPartitionAfter on, which then flushes its
	// buffered readings (site-b).
	DemoPartitionDevice = "site-b/wt-25"
	DemoPartitionAfter  = 20 * time.Second
	DemoPartitionFor    = 30 * time.Second
)

// DemoFleet is the fleet file (roster and physics) of the demo fleet, for the
// gateway's roster.
//
//go:embed demo_fleet.yaml
var DemoFleet []byte

// DemoScenario returns the demo fleet's scenario; sim/scenarios/demo.yaml is
// the same in YAML. It runs until stopped.
func DemoScenario() Scenario {
	return Scenario{
		Name:        "demo",
		Description: "rollcall demo: two sites of 20 turbines; one silent, one replaying, one partitioned and flushing.",
		Turbine:     TurbineSpec{EnergyKWh: true},
		Sites: []SiteSpec{
			{Name: "site-a", Devices: DemoDevicesPerSite},
			{Name: "site-b", Devices: DemoDevicesPerSite},
		},
		Faults: []FaultSpec{
			{Kind: FaultSilent, Devices: []string{DemoSilentDevice}, From: DemoSilentAfter},
			{Kind: FaultReplay, Devices: []string{DemoReplayDevice}, From: DemoReplayAfter, Every: DemoReplayEvery},
			{
				Kind: FaultPartition, Devices: []string{DemoPartitionDevice}, From: DemoPartitionAfter,
				To: DemoPartitionAfter + DemoPartitionFor,
			},
		},
	}.WithDefaults()
}

// DemoConfig returns the run of the demo fleet against brokerURL, in real
// time.
func DemoConfig(brokerURL string) Config {
	return Config{BrokerURL: brokerURL, Scenario: DemoScenario()}.WithDefaults()
}
