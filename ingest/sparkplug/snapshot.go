package sparkplug

import (
	"maps"
	"slices"
)

// NodeSnapshot is one edge node's session, for checkpoints: restored, the
// node's DATA after a restart resolves its aliases and continues its
// sequence instead of waiting for a rebirth (rollcall never asks for one).
type NodeSnapshot struct {
	// ID is the node's identity, group/edge.
	ID             string
	Born           bool
	BdSeq          uint64
	BirthTS        int64
	Boot, PrevBoot uint64
	LastSeq        uint8
	Ext            uint64
	NewestTS       int64
	WrapTS         []int64
	Metrics        MetricSetSnapshot
	Devices        []DeviceSnapshot
}

// DeviceSnapshot is a device's session within its node's.
type DeviceSnapshot struct {
	// Name is the device's name level, edge:device.
	Name    string
	Born    bool
	Metrics MetricSetSnapshot
}

// MetricSetSnapshot is what a birth defined: names and datatypes, in
// order, and each alias's index in them.
type MetricSetSnapshot struct {
	Names     []string
	Datatypes []uint32
	Aliases   map[uint64]int32
}

func (s *metricSet) snapshot() MetricSetSnapshot {
	out := MetricSetSnapshot{Aliases: maps.Clone(s.byAlias)}
	for _, d := range s.defs {
		out.Names = append(out.Names, d.name)
		out.Datatypes = append(out.Datatypes, d.dt)
	}
	return out
}

func (s *metricSet) restore(ss MetricSetSnapshot) int {
	s.byAlias, s.byName = map[uint64]int32{}, map[string]int32{}
	s.defs = s.defs[:0]
	for i, name := range ss.Names {
		var dt uint32
		if i < len(ss.Datatypes) {
			dt = ss.Datatypes[i]
		}
		s.defs = append(s.defs, def{name: name, dt: dt})
		s.byName[name] = int32(i)
	}
	for a, i := range ss.Aliases {
		if i >= 0 && int(i) < len(s.defs) {
			s.byAlias[a] = i
		}
	}
	return len(s.defs)
}

// Snapshot returns the host's node sessions, sorted by node.
func (h *Host) Snapshot() []NodeSnapshot {
	out := make([]NodeSnapshot, 0, len(h.nodes))
	for _, id := range slices.Sorted(maps.Keys(h.nodes)) {
		n := h.nodes[id]
		ns := NodeSnapshot{
			ID: id, Born: n.born, BdSeq: n.bdSeq, BirthTS: n.birthTS, Boot: n.boot, PrevBoot: n.prevBoot,
			LastSeq: n.lastSeq, Ext: n.ext, NewestTS: n.newestTS, WrapTS: slices.Clone(n.wrapTS[:]),
			Metrics: n.metrics.snapshot(),
		}
		for _, name := range slices.Sorted(maps.Keys(n.devices)) {
			d := n.devices[name]
			ns.Devices = append(ns.Devices, DeviceSnapshot{Name: name, Born: d.born, Metrics: d.metrics.snapshot()})
		}
		out = append(out, ns)
	}
	return out
}

// Restore adds a node session from a snapshot (Snapshot of a host with the
// same limits). A node past limits.sparkplug_max_nodes is not restored: it
// waits for its next birth.
func (h *Host) Restore(ns NodeSnapshot) {
	if h.nodes[ns.ID] == nil {
		if h.m.nodes.Load() >= int64(h.limits.SparkplugMaxNodes) {
			return
		}
		h.m.nodes.Add(1)
	}
	n := &node{
		born: ns.Born, bdSeq: ns.BdSeq, birthTS: ns.BirthTS, boot: ns.Boot, prevBoot: ns.PrevBoot,
		lastSeq: ns.LastSeq, ext: ns.Ext, newestTS: ns.NewestTS, devices: map[string]*device{},
	}
	copy(n.wrapTS[:], ns.WrapTS)
	n.defined = n.metrics.restore(ns.Metrics)
	for _, ds := range ns.Devices {
		d := &device{born: ds.Born}
		n.defined += 1 + d.metrics.restore(ds.Metrics)
		n.devices[ds.Name] = d
	}
	h.nodes[ns.ID] = n
}
