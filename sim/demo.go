package sim

import _ "embed"

// DemoFleet is the fleet file (roster and physics) of the demo fleet of
// DemoConfig, for the gateway's roster.
//
//go:embed demo_fleet.yaml
var DemoFleet []byte
