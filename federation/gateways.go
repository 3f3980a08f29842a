package federation

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/staleness"
)

// GatewaysGroup is the group of the central tier's devices, the
// gateways, in GET /api/v1/devices.
const GatewaysGroup = "gateways"

var _ api.GatewayLister = (*Merger)(nil)

// Gateways implements api.GatewayLister: every gateway, sorted by id.
func (m *Merger) Gateways(context.Context) ([]api.GatewayInfo, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.GatewayInfo, 0, len(m.gws))
	for _, id := range slices.Sorted(maps.Keys(m.gws)) {
		g := m.gws[id]
		gi := api.GatewayInfo{
			ID: id, State: string(m.state(g, now)), IntervalS: time.Duration(g.live.Interval).Seconds(),
			Phi: g.live.Phi(&m.cfg.Liveness, now.UnixNano()), Partials: g.partials, Groups: map[string]int{}, Learned: g.learned,
		}
		if g.live.LastSeen != 0 {
			t := time.Unix(0, g.live.LastSeen).UTC()
			lag := time.Duration(g.lagNS).Seconds()
			gi.LastPartial, gi.LagS = &t, &lag
		}
		for gm, s := range g.series {
			gi.Groups[gm[0]] = max(gi.Groups[gm[0]], s.expected)
		}
		out = append(out, gi)
	}
	return out, nil
}

// state is g's liveness state at now.
func (m *Merger) state(g *gatewayState, now time.Time) staleness.State {
	if m.silent(g, now) {
		return staleness.StateSilent
	}
	return g.live.State(&m.cfg.Liveness, now.UnixNano())
}

// Devices implements api.Engine: the central tier's devices are its
// gateways, in the group "gateways".
func (m *Merger) Devices(ctx context.Context, f aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error) {
	gws, err := m.Gateways(ctx)
	if err != nil {
		return nil, err
	}
	out := []aggregate.DeviceInfo{}
	for _, g := range gws {
		if (f.ID != "" && f.ID != g.ID) || (f.State != "" && f.State != g.State) || (f.Group != "" && f.Group != GatewaysGroup) {
			continue
		}
		d := aggregate.DeviceInfo{
			ID: g.ID, Name: g.ID, Group: GatewaysGroup, Listed: !g.Learned, State: g.State,
			LastSeen: g.LastPartial, IntervalS: g.IntervalS, Phi: g.Phi,
		}
		if g.LastPartial != nil {
			age := m.cfg.Now().Sub(*g.LastPartial).Seconds()
			d.AgeS = &age
		}
		out = append(out, d)
	}
	return out, nil
}

// Groups implements api.Engine: every group some gateway reports, with
// the devices expected over all gateways and their gateways' states
// counted per device.
func (m *Merger) Groups(context.Context) ([]aggregate.GroupInfo, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	byName := map[string]*aggregate.GroupInfo{}
	for _, g := range m.gws {
		st := string(m.state(g, now))
		expected := map[string]int{}
		for gm, s := range g.series {
			gi := byName[gm[0]]
			if gi == nil {
				gi = &aggregate.GroupInfo{Name: gm[0], States: map[string]int{}}
				byName[gm[0]] = gi
			}
			if !slices.Contains(gi.Metrics, gm[1]) {
				gi.Metrics = append(gi.Metrics, gm[1])
			}
			expected[gm[0]] = max(expected[gm[0]], s.expected)
		}
		for name, n := range expected {
			byName[name].Expected += n
			byName[name].States[st] += n
		}
	}
	out := make([]aggregate.GroupInfo, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		gi := byName[name]
		slices.Sort(gi.Metrics)
		out = append(out, *gi)
	}
	return out, nil
}

// Snapshot returns every kept gateway partial, for the central tier's
// checkpoint; Restore merges them back after a restart.
func (m *Merger) Snapshot() []natssink.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []natssink.Message
	for _, w := range m.windows {
		for _, c := range w.byGW {
			out = append(out, c.msg)
		}
	}
	slices.SortFunc(out, func(a, b natssink.Message) int { return a.Window.Start.Compare(b.Window.Start) })
	return out
}

// Restore merges msgs (a Snapshot) as received now.
func (m *Merger) Restore(msgs []natssink.Message) {
	now := m.cfg.Now()
	for _, msg := range msgs {
		m.Add(msg, now)
	}
}
