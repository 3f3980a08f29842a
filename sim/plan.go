package sim

import (
	"math"
	"strings"
	"time"
)

// forever stands for "until the end of the run".
const forever = time.Duration(math.MaxInt64)

// plan is a scenario compiled for running: the devices in fleet order and
// the fault instances (one per fault and device). It is immutable.
type plan struct {
	scenario Scenario
	groups   []Group
	devices  []devicePlan
	faults   []faultPlan
	ownCount int // devices with a connection of their own
}

// devicePlan is the fixed part of one device.
type devicePlan struct {
	id          string // fleet-wide identity, site/name (DeviceID)
	name        string // the topic's device level
	group       int    // index in plan.groups
	local       int    // index in the group's Devices
	topic       string
	statusTopic string
	// birthTopic is the Sparkplug NBIRTH topic (FormatSparkplug; then
	// topic is NDATA's and statusTopic NDEATH's). will is the Last Will's
	// payload.
	birthTopic string
	will       []byte
	interval   time.Duration
	// offset is the device's phase within its interval: devices are spread
	// evenly over it in fleet order, so they do not all publish at once.
	offset time.Duration
	// own: the device has an MQTT connection of its own, with a Last Will.
	own    bool
	faults []int // indices in plan.faults, in scenario order
}

// faultPlan is one fault on one device.
type faultPlan struct {
	spec     *FaultSpec
	id       int // the instance's index in plan.faults
	index    int // the spec's index in Scenario.Faults
	device   int
	from, to time.Duration // to is forever when open
	target   int           // spoof: the device whose topic it uses
}

func (f *faultPlan) active(t time.Duration) bool { return f.from <= t && t < f.to }

// compile expands a valid scenario (with defaults filled).
func compile(s Scenario) (*plan, error) {
	groups, err := s.Groups()
	if err != nil {
		return nil, err
	}
	p := &plan{scenario: s, groups: groups}
	idx := newFleetIndex(groups)
	n := 0
	for _, g := range groups {
		n += len(g.Devices)
	}
	for gi, g := range groups {
		for li, name := range g.Devices {
			i := len(p.devices)
			p.devices = append(p.devices, devicePlan{
				id: DeviceID(g.Name, name), name: name, group: gi, local: li,
				topic:       expandTopic(s.Topics.Telemetry, g.Name, name),
				statusTopic: expandTopic(s.Topics.Status, g.Name, name),
				will:        []byte(StatusOffline),
				interval:    g.Interval,
				offset:      time.Duration(int64(g.Interval) * int64(i) / int64(n)),
				own:         s.LastWill,
			})
		}
	}
	if s.Format == FormatSparkplug {
		for i := range p.devices {
			spPlan(&p.devices[i], groups[p.devices[i].group].Name)
		}
	}
	for fi := range s.Faults {
		spec := &s.Faults[fi]
		for _, d := range spec.pick(s.Seed, fi, idx, groups) {
			fp := faultPlan{spec: spec, id: len(p.faults), index: fi, device: d, from: spec.From, to: spec.To, target: -1}
			if fp.to == 0 {
				fp.to = forever
			}
			if spec.Kind == FaultReboot {
				fp.to = spec.From + spec.Downtime
			}
			if spec.Kind == FaultSpoof {
				fp.target = p.spoofTarget(d, spec.Target, idx)
			}
			if spec.Kind == FaultOffline {
				p.devices[d].own = true
			}
			p.devices[d].faults = append(p.devices[d].faults, len(p.faults))
			p.faults = append(p.faults, fp)
		}
	}
	for _, d := range p.devices {
		if d.own {
			p.ownCount++
		}
	}
	return p, nil
}

// spoofTarget returns the device whose topic device d spoofs: target when
// set and not d itself, else the next device of d's site, else the next in
// the fleet.
func (p *plan) spoofTarget(d int, target string, idx fleetIndex) int {
	if t, err := idx.lookup(target); target != "" && err == nil && t != d {
		return t
	}
	g := p.groups[p.devices[d].group]
	if len(g.Devices) > 1 {
		return d - p.devices[d].local + (p.devices[d].local+1)%len(g.Devices)
	}
	return (d + 1) % len(p.devices)
}

// expandTopic fills a topic template's placeholders.
func expandTopic(tmpl, site, device string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tmpl, "{site}", site), "{device}", device)
}
