package aggregate

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/staleness"
)

// publishStates sets the devices-by-state gauge from the shards' latest
// counts.
func (e *Engine) publishStates() {
	total := map[staleness.State]int{}
	for _, sc := range e.states {
		for _, c := range sc {
			total[c.state] += c.n
		}
	}
	for _, st := range staleness.States {
		e.m.devices.WithLabelValues(string(st)).Set(float64(total[st]))
	}
	n := 0
	for _, r := range e.replaying {
		n += r
	}
	e.m.replaying.Set(float64(n))
}

// DeviceInfo is the API view of one device.
type DeviceInfo struct {
	// ID is the fleet-wide identity, site/name (DESIGN.md § Identity).
	ID   string `json:"id"`
	Site string `json:"site,omitempty"`
	// Name is the device level of the topic: wt-01 of site-a/wt-01.
	Name   string `json:"name,omitempty"`
	Group  string `json:"group"`
	Listed bool   `json:"listed"`
	State  string `json:"state"`
	// LastSeen is the receive time of the newest message.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// LastEvent is the newest event time.
	LastEvent *time.Time `json:"last_event,omitempty"`
	AgeS      *float64   `json:"age_s,omitempty"`
	// IntervalS is the learned reporting interval (mean inter-arrival).
	IntervalS float64 `json:"interval_s"`
	// Phi is the liveness suspicion level: −log10 of the probability that
	// the device stays quiet this long given its rhythm (late from
	// liveness.phi_late, silent from liveness.phi_silent).
	Phi float64 `json:"phi"`
	// ClockOffsetS is receive time minus event time of the newest reading:
	// transport delay plus the device clock's lag.
	ClockOffsetS *float64 `json:"clock_offset_s,omitempty"`
	// ClockCorrectionS is the offset added to the device's event times
	// (liveness.clock_correction; 0: none), ClockJumps the clock jumps
	// detected, and ClockReceiveTime is set while its clock is not trusted
	// after a jump and its readings take the receive time.
	ClockCorrectionS float64 `json:"clock_correction_s"`
	ClockJumps       uint32  `json:"clock_jumps"`
	ClockReceiveTime bool    `json:"clock_receive_time,omitempty"`
	// Replaying is dedup's flag: the device keeps re-sending old messages.
	// ReplayingSince is when it was flagged; FirstReplay and LastReplay
	// bracket every replay seen.
	Replaying      bool               `json:"replaying"`
	ReplayingSince *time.Time         `json:"replaying_since,omitempty"`
	FirstReplay    *time.Time         `json:"first_replay,omitempty"`
	LastReplay     *time.Time         `json:"last_replay,omitempty"`
	Counts         DeviceCounts       `json:"counts"`
	Metrics        map[string]float64 `json:"metrics"`
}

// DeviceCounts are a device's message counts since it was first tracked.
type DeviceCounts struct {
	Accepted   uint64            `json:"accepted"`
	Duplicates uint64            `json:"duplicates"`
	Replays    uint64            `json:"replays"`
	Rejected   map[string]uint64 `json:"rejected"`
}

// DeviceFilter selects devices; empty fields match everything.
type DeviceFilter struct {
	ID string
	// State is a staleness.State or StateReplaying (the orthogonal flag).
	State string
	Group string
}

// StateReplaying selects the devices flagged as replaying.
const StateReplaying = "replaying"

func (f DeviceFilter) match(d *device, st staleness.State) bool {
	state := f.State == "" || f.State == string(st) || (f.State == StateReplaying && d.replay.Flagged)
	return (f.ID == "" || f.ID == d.id) && state && (f.Group == "" || f.Group == d.g.name)
}

// unixTime returns the time of a Unix-ns instant, nil for 0.
func unixTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

func (d *device) info(cfg *staleness.Config, now int64, st staleness.State) DeviceInfo {
	di := DeviceInfo{
		ID: d.id, Site: d.site, Name: d.name(), Group: d.g.name, Listed: d.member.Listed, State: string(st),
		IntervalS: time.Duration(d.live.Interval).Seconds(),
		Phi:       math.Round(d.live.Phi(cfg, now)*100) / 100,
		Counts: DeviceCounts{
			Accepted: d.accepted, Duplicates: d.duplicates, Replays: d.replays,
			Rejected: maps.Clone(d.rejected),
		},
		Metrics: map[string]float64{},
	}
	di.Replaying = d.replay.Flagged
	di.ClockCorrectionS = time.Duration(d.clock.Applied(cfg)).Seconds()
	di.ClockJumps, di.ClockReceiveTime = d.clock.Jumps, d.clock.Jumping
	di.ReplayingSince, di.FirstReplay, di.LastReplay = unixTime(d.replay.Since), unixTime(d.replay.First), unixTime(d.replay.Last)
	if di.Counts.Rejected == nil {
		di.Counts.Rejected = map[string]uint64{}
	}
	if d.live.LastSeen != 0 {
		ls, le := time.Unix(0, d.live.LastSeen).UTC(), time.Unix(0, d.live.LastEvent).UTC()
		age := time.Duration(now - d.live.LastSeen).Seconds()
		off := time.Duration(d.live.Offset).Seconds()
		if d.clock.LastRecv != 0 {
			off = time.Duration(d.clock.LastOffset).Seconds() // the device's own stamp
		}
		di.LastSeen, di.LastEvent, di.AgeS, di.ClockOffsetS = &ls, &le, &age, &off
	}
	for _, m := range d.metrics {
		if m.has {
			di.Metrics[m.spec.Name] = m.last
		}
	}
	return di
}

// Devices returns the devices matching f, sorted by id.
func (e *Engine) Devices(ctx context.Context, f DeviceFilter) ([]DeviceInfo, error) {
	now := e.cfg.Now().UnixNano()
	replies, err := query(ctx, e, func(s *shard) []DeviceInfo { return s.deviceInfos(f, now) })
	if err != nil {
		return nil, err
	}
	out := []DeviceInfo{}
	for _, r := range replies {
		out = append(out, r...)
	}
	slices.SortFunc(out, func(a, b DeviceInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// deviceInfos returns the shard's devices matching f, retired ones included.
func (s *shard) deviceInfos(f DeviceFilter, now int64) []DeviceInfo {
	var out []DeviceInfo
	add := func(d *device) {
		if st := s.state(d, now); f.match(d, st) {
			out = append(out, d.info(&s.cfg.Liveness, now, st))
		}
	}
	if f.ID != "" {
		if d := s.devices[f.ID]; d != nil {
			add(d)
		} else if d, ok := s.retired.Get(f.ID); ok {
			add(d)
		}
		return out
	}
	for _, d := range s.devices {
		add(d)
	}
	for _, d := range s.retired.All() {
		add(d)
	}
	return out
}

// GroupInfo is the API view of one group's roster.
type GroupInfo struct {
	Name string `json:"name"`
	// Expected counts the devices currently on the roster (listed and
	// learned, not retired).
	Expected int `json:"expected"`
	// States counts the group's devices by state, the retired ones kept
	// (learn.max_retired) included.
	States    map[string]int `json:"states"`
	Metrics   []string       `json:"metrics"`
	Watermark *time.Time     `json:"watermark,omitempty"`
}

// Groups returns every group, sorted by name.
func (e *Engine) Groups(ctx context.Context) ([]GroupInfo, error) {
	now := e.cfg.Now().UnixNano()
	replies, err := query(ctx, e, func(s *shard) map[string]map[string]int { return s.groupStates(now) })
	if err != nil {
		return nil, err
	}
	byName := map[string]*GroupInfo{}
	for _, r := range replies {
		for name, st := range r {
			gi := byName[name]
			if gi == nil {
				gi = &GroupInfo{Name: name, States: map[string]int{}}
				byName[name] = gi
			}
			for k, n := range st {
				gi.States[k] += n
				if k != string(staleness.StateRetired) {
					gi.Expected += n
				}
			}
		}
	}
	e.reg.mu.Lock()
	for name, g := range e.reg.groups {
		gi := byName[name]
		if gi == nil {
			gi = &GroupInfo{Name: name, States: map[string]int{}}
			byName[name] = gi
		}
		gi.Metrics = slices.Sorted(slices.Values(g.metrics))
		if wm := g.watermark.Load(); wm != 0 {
			t := time.Unix(0, wm).UTC()
			gi.Watermark = &t
		}
	}
	e.reg.mu.Unlock()
	out := make([]GroupInfo, 0, len(byName))
	for _, gi := range byName {
		if gi.Metrics == nil {
			gi.Metrics = []string{}
		}
		out = append(out, *gi)
	}
	slices.SortFunc(out, func(a, b GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// groupStates counts the devices of each of the shard's groups by state,
// retired ones included.
func (s *shard) groupStates(now int64) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, g := range s.groups {
		st := map[string]int{}
		for _, d := range g.devices {
			st[string(s.state(d, now))]++
		}
		out[g.name] = st
	}
	for _, d := range s.retired.All() {
		out[d.g.name][string(staleness.StateRetired)]++
	}
	return out
}
