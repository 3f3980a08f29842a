package aggregate

import (
	"slices"
	"sync"
	"sync/atomic"
)

// registry is the little state shards share: device and group counts for
// the limits, and each group's metric list and window cutoffs. Shards touch
// it only when a device, group or metric is new (the mutex) or read the
// cutoffs (atomics); the hot path of a known device takes no lock.
type registry struct {
	devices atomic.Int64

	mu     sync.Mutex
	groups map[string]*groupShared
}

// groupShared is what all shards and the coordinator know of a group.
type groupShared struct {
	name string
	// cutoff: windows starting before it are final (readings too late).
	cutoff atomic.Int64
	// emitted: windows starting before it have been emitted provisional.
	emitted atomic.Int64
	// watermark is the group's watermark, Unix ns (0 before the first round).
	watermark atomic.Int64
	// metrics is append-only under registry.mu.
	metrics []string
}

func newRegistry() *registry { return &registry{groups: map[string]*groupShared{}} }

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
	g := &groupShared{name: name}
	g.cutoff.Store(minTime)
	g.emitted.Store(minTime)
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

// minTime is "no cutoff yet": every window is accepted.
const minTime = -1 << 63
