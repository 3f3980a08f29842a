package aggregate

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rollcall-iot/rollcall/window"
)

// registry is the little state shards share: device and group counts for
// the limits, and each group's metric list and window gate. Shards touch
// it only when a device, group or metric is new (the mutex) or read the
// gates (atomics); the hot path of a known device takes no lock.
type registry struct {
	devices atomic.Int64
	window  window.Config

	mu     sync.Mutex
	groups map[string]*groupShared
}

// groupShared is what all shards and the coordinator know of a group.
type groupShared struct {
	name string
	// gate decides each reading: accepted, a revision or too late.
	gate *window.Gate
	// watermark is the group's watermark, Unix ns (0 before the first round).
	watermark atomic.Int64
	// metrics is append-only under registry.mu.
	metrics []string
}

func newRegistry(w window.Config) *registry {
	return &registry{window: w, groups: map[string]*groupShared{}}
}

func (r *registry) reserveDevice(limit int) bool {
	if r.devices.Add(1) > int64(limit) {
		r.devices.Add(-1)
		return false
	}
	return true
}

func (r *registry) releaseDevice() { r.devices.Add(-1) }

// group returns the shared state of a group, creating it; nil when the
// group is new and limit groups exist.
func (r *registry) group(name string, limit int) *groupShared {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g, ok := r.groups[name]; ok {
		return g
	}
	if len(r.groups) >= limit {
		return nil
	}
	g := &groupShared{name: name, gate: window.NewGate(r.window)}
	r.groups[name] = g
	return g
}

// admitMetric records metric for g; false when g already has limit others.
func (r *registry) admitMetric(g *groupShared, metric string, limit int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(g.metrics, metric) {
		return true
	}
	if len(g.metrics) >= limit {
		return false
	}
	g.metrics = append(g.metrics, metric)
	return true
}

// metricsOf returns g's metrics, sorted, as a new slice.
func (r *registry) metricsOf(g *groupShared) []string {
	r.mu.Lock()
	ms := slices.Clone(g.metrics)
	r.mu.Unlock()
	slices.Sort(ms)
	return ms
}

// cutoffOf returns the published cutoff of group name (window.Unset when
// the group is unknown).
func (r *registry) cutoffOf(name string) int64 {
	r.mu.Lock()
	g := r.groups[name]
	r.mu.Unlock()
	if g == nil {
		return window.Unset
	}
	return g.gate.Cutoff()
}
