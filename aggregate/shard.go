package aggregate

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// shard is one worker. It owns the dedup, liveness and window state of the
// devices hashed to it; nothing else touches that state, so the hot path
// takes no lock. The coordinator talks to it only through ctl.
type shard struct {
	id      int
	log     *slog.Logger
	rejects *ingest.RejectLog
	cfg     *Config
	roster  *staleness.Roster
	reg     *registry
	hop     window.Hopping
	dec     *ingest.Decoder
	sp      *sparkplug.Host // sparkplug.go

	in  chan ingest.Message
	ctl chan ctlRequest

	devices map[string]*device
	groups  map[string]*shardGroup
	// retired keeps the shard's retired devices, reported retired, up to
	// its share of learn.max_retired; they are on no group's roster.
	retired *staleness.Tombstones[*device]

	cnt       counters
	processed uint64         // highest journal index handled
	slots     []int          // scratch: metric slots of the reading being handled
	reading   ingest.Reading // scratch: the reading being handled (its Metrics reused)
	scratch   devWindow      // scratch: a hopping window's merged panes (span)
	lastScan  int64
	// specs interns the resolved metric specs, so that a device's metric
	// holds a pointer rather than a copy. Its size is bounded by the
	// configuration: the distinct (metric, fleet-file override) pairs.
	specs map[staleness.Metric]*staleness.Metric
}

// shardGroup is a shard's part of a group: the group's devices hashed here.
type shardGroup struct {
	name     string
	shared   *groupShared
	devices  []*device // sorted by id
	maxEvent int64
	minEvent int64 // since the last status report; valid when hasEvent
	hasEvent bool
	dirty    map[int64]struct{} // emitted windows revised since the last flush
	newest   []int64            // scratch of status: each device's newest event time
}

// counters are a shard's pipeline counts since its last status report.
type counters struct {
	received         uint64
	status           uint64
	outcome          [len(outcomes)]uint64
	rejected         [ingest.NumReasons]uint64
	groupMetricsFull uint64
	retired          uint64 // devices retired
	forgotten        uint64 // tombstones dropped past learn.max_retired
	lastEvent        int64
}

func newShard(id int, cfg *Config, roster *staleness.Roster, reg *registry, log *slog.Logger, rejects *ingest.RejectLog) *shard {
	return &shard{
		id:      id,
		log:     log,
		rejects: rejects,
		cfg:     cfg,
		roster:  roster,
		reg:     reg,
		hop:     window.NewHopping(cfg.Window),
		dec:     ingest.NewDecoder(decoderLimits(cfg)),
		in:      make(chan ingest.Message, cfg.QueueLen),
		ctl:     make(chan ctlRequest),
		devices: map[string]*device{},
		groups:  map[string]*shardGroup{},
		// Each shard keeps its share of learn.max_retired.
		retired: staleness.NewTombstones[*device]((roster.MaxRetired() + cfg.Shards - 1) / cfg.Shards),
	}
}

// run serves messages and control requests until quit is closed.
func (s *shard) run(quit <-chan struct{}) {
	for {
		select {
		case m := <-s.in:
			s.handle(m)
			s.handleQueued(queuedBurst)
		case r := <-s.ctl:
			r(s)
		case <-quit:
			return
		}
	}
}

// queuedBurst is how many already-queued messages a worker handles after
// one it selected, before it looks at control requests again: a select
// over three channels per message cost more than a receive (8 % of the
// pipeline's CPU), and a control request waits at most this many messages.
const queuedBurst = 256

// handleQueued handles up to n messages queued now, without waiting.
func (s *shard) handleQueued(n int) {
	for range n {
		select {
		case m := <-s.in:
			s.handle(m)
		default:
			return
		}
	}
}

// drain handles every message queued now, without waiting for more.
func (s *shard) drain() {
	for {
		select {
		case m := <-s.in:
			s.handle(m)
		default:
			return
		}
	}
}

// handle takes one message through the rules in the order DESIGN.md gives
// them: ingest's admission limits and decoding, the roster (staleness),
// dedup's verdict, the window's lateness and the device's envelope, then
// the accumulators.
func (s *shard) handle(m ingest.Message) {
	if m.Ack != nil {
		defer m.Ack()
	}
	s.processed = max(s.processed, m.Index)
	if m.Kind == ingest.TopicStatus {
		s.handleStatus(m)
		return
	}
	if m.Kind.IsSparkplug() {
		s.handleSparkplug(&m) // sparkplug.go
		return
	}
	s.cnt.received++
	// A known device past its rate is rejected before any parsing work.
	if d := s.devices[m.Device]; d != nil && !s.cfg.Limits.Allow(&d.rate, m.Received) {
		s.reject(d, &m, ingest.ErrRateLimited)
		return
	}
	r := &s.reading
	if err := s.dec.Decode(m.Site, m.Device, m.Payload, m.Received, r); err != nil {
		s.reject(s.devices[m.Device], &m, err)
		return
	}
	r.Redelivered = m.Redelivered
	d, err := s.device(m.Site, m.Device, r.TS)
	if err != nil {
		s.reject(nil, &m, err)
		return
	}
	s.correctClock(d, r)
	start := s.hop.Pane(r.TS)
	if !s.fresh(d, r, start) {
		return
	}
	s.admit(d, &m, r, start)
}

// admit takes a fresh reading r of message m through the window's
// lateness (window.Gate decides) and the device's envelope into its
// accumulators.
func (s *shard) admit(d *device, m *ingest.Message, r *ingest.Reading, start int64) {
	gate := d.g.shared.gate
	gate.Init(m.Received)
	decision := gate.Decide(start)
	if decision == window.TooLate {
		s.reject(d, m, errTooLate)
		return
	}
	slots, err := s.plausible(d, r)
	if err != nil {
		s.reject(d, m, err)
		return
	}
	if len(d.wins) >= s.cfg.Limits.MaxOpenWindows && d.findWindow(start) == nil {
		s.reject(d, m, errTooManyWindows)
		return
	}
	s.accept(d, r, start, decision == window.Revise, slots)
}

// fresh counts what dedup's verdict on r says (dedup.State.Check decides)
// and reports whether r is fresh, to be aggregated.
func (s *shard) fresh(d *device, r *ingest.Reading, start int64) bool {
	switch d.dd.Check(&s.cfg.Dedup, &s.cfg.Replay, r, time.Duration(d.live.Interval)) {
	case dedup.Redelivery:
		d.duplicates++
		s.cnt.outcome[outDuplicate]++
		return false
	case dedup.Duplicate:
		d.duplicates++
		s.cnt.outcome[outDuplicate]++
		if w := d.findWindow(start); w != nil {
			w.duplicates++
		}
		return false
	case dedup.Replay:
		d.replays++
		s.cnt.outcome[outReplay]++
		if d.replay.Observe(&s.cfg.Replay, r.Received) {
			s.log.Warn("device replaying", "device_id", d.id, "group", d.g.name, "replays", d.replay.Total)
		}
		if w := d.findWindow(start); w != nil {
			w.replays++
		}
		return false
	}
	return true
}

// plausible checks r against each metric's physical envelope before it
// counts (a duplicate or replay is not counted whatever it carries), and
// returns the metrics' slots in d (-1: the group has max_group_metrics
// others).
func (s *shard) plausible(d *device, r *ingest.Reading) ([]int, error) {
	slots := s.slots[:0]
	for _, mv := range r.Metrics {
		i := d.slot(mv.Name)
		if i < 0 {
			i = s.addMetric(d, mv.Name)
		}
		slots = append(slots, i)
		if i >= 0 && !d.metrics[i].plausible(mv.Value, r) {
			return nil, &ingest.RejectError{
				Reason: ingest.ReasonImplausible,
				Detail: fmt.Sprintf("metric %q: %v is outside the physical envelope of %s", mv.Name, mv.Value, d.id),
			}
		}
	}
	s.slots = slots
	return slots, nil
}

// accept adds the fresh, plausible reading r to d's pane at start; revise
// (window.Revise) marks the pane's emitted windows for a revision.
func (s *shard) accept(d *device, r *ingest.Reading, start int64, revise bool, slots []int) {
	g := d.g
	if !r.Historical { // backfill is not a sign of life
		d.live.Observe(r.Received, r.TS)
	}
	if !d.member.Listed && r.TS < d.member.FirstEvent {
		// A learned device is expected from its oldest accepted reading
		// (a backlog, or readings out of order): otherwise the windows
		// before its first one would not count what it sent.
		d.member.FirstEvent = r.TS
	}
	w := d.window(start)
	if revise {
		w.late++
		if g.dirty == nil {
			g.dirty = map[int64]struct{}{}
		}
		g.dirty[start] = struct{}{}
	}
	w.newest = max(w.newest, r.TS)
	for j, mv := range r.Metrics {
		i := slots[j]
		if i < 0 {
			continue // its group has max_group_metrics others
		}
		for len(w.accs) <= i {
			if cap(w.accs) == 0 {
				// One allocation per device and window for all its metrics,
				// not one per metric.
				w.accs = make([]accumulator, 0, len(d.metrics))
			}
			w.accs = append(w.accs, accumulator{})
		}
		dm := &d.metrics[i]
		if !dm.has || r.TS >= dm.lastTS {
			dm.rhythm.observe(dm.has, dm.lastTS, dm.lastBoot, r.TS, r.Boot, r.Seq, r.HasSeq)
			dm.last, dm.lastTS, dm.lastBoot, dm.has = mv.Value, r.TS, r.Boot, true
		}
		a := &w.accs[i]
		if dm.spec.Reducer == staleness.ReduceIncrease {
			s.acceptCounter(d, i, a, mv.Value, r.TS, r.Boot, start)
		} else {
			a.add(mv.Value, r.TS)
		}
		a.step = max(a.step, dm.rhythm.step)
	}
	if !g.hasEvent || r.TS < g.minEvent {
		g.minEvent = r.TS
	}
	g.hasEvent = true
	g.maxEvent = max(g.maxEvent, r.TS)
	s.cnt.lastEvent = max(s.cnt.lastEvent, r.TS)
	d.accepted++
	s.cnt.outcome[outAccepted]++
}

func (s *shard) handleStatus(m ingest.Message) {
	state, _, err := ingest.DecodeStatus(m.Payload)
	if err != nil {
		s.reject(s.devices[m.Device], &m, err)
		return
	}
	d, err := s.device(m.Site, m.Device, m.Received)
	if err != nil {
		s.reject(nil, &m, err)
		return
	}
	s.cnt.status++
	d.live.SetStatus(state == "online", m.Received)
}

// Rejections the workers decide themselves.
var (
	errUnknownDevice = &ingest.RejectError{
		Reason: ingest.ReasonUnknownDevice,
		Detail: "limits.max_devices or limits.max_groups reached",
	}
	errTooLate = &ingest.RejectError{
		Reason: ingest.ReasonTooLate,
		Detail: "its window is final (older than window.allowed_lateness)",
	}
	errTooManyWindows = &ingest.RejectError{
		Reason: ingest.ReasonTooManyWindows,
		Detail: "the device has limits.max_open_windows windows open",
	}
)

// reject counts a rejected message (for d, when known) and offers it to the
// rejects sample.
func (s *shard) reject(d *device, m *ingest.Message, err error) {
	reason, detail := ingest.ReasonOf(err), err.Error()
	var re *ingest.RejectError
	if errors.As(err, &re) {
		detail = re.Detail
	}
	s.rejects.Add(time.Unix(0, m.Received), reason, detail, m.Site, m.Device, "", m.Payload)
	s.cnt.outcome[outRejected]++
	s.cnt.rejected[ingest.ReasonIndex(reason)]++
	if m.Kind == ingest.TopicStatus {
		s.cnt.received++ // it has an outcome: received = the sum of the outcomes
	}
	if d != nil {
		if d.rejected == nil {
			d.rejected = map[string]uint64{}
		}
		d.rejected[reason]++
	}
}

// spec returns the shard's shared copy of device id's resolved spec of
// metric name.
func (s *shard) spec(id, name string) *staleness.Metric {
	m := s.roster.Metric(id, name)
	if p, ok := s.specs[m]; ok {
		return p
	}
	if s.specs == nil {
		s.specs = map[staleness.Metric]*staleness.Metric{}
	}
	p := &m
	s.specs[m] = p
	return p
}

// addMetric admits a new metric for d; -1 when its group is full.
func (s *shard) addMetric(d *device, name string) int {
	if !s.reg.admitMetric(d.g.shared, name, s.cfg.Limits.MaxGroupMetrics) {
		s.cnt.groupMetricsFull++
		return -1
	}
	d.metrics = append(d.metrics, devMetric{spec: s.spec(d.id, name)})
	return len(d.metrics) - 1
}

// device returns the state of device id (its identity, site/name),
// creating it (learning it) when the roster and the limits allow; when they
// do not, it returns the reject (wrong_site, unknown_device). A retired
// device that comes back is learned anew.
func (s *shard) device(site, id string, ts int64) (*device, error) {
	if d, ok := s.devices[id]; ok {
		return d, nil
	}
	group, member, err := s.roster.Join(site, id, ts)
	if err != nil {
		return nil, err
	}
	if !s.reg.reserveDevice(s.cfg.Limits.MaxDevices) {
		return nil, errUnknownDevice
	}
	d := s.addDevice(site, id, group, member)
	if d == nil {
		s.reg.releaseDevice()
		return nil, errUnknownDevice
	}
	s.retired.Take(id)
	return d, nil
}

// addDevice creates a device in group; nil when the group limit is reached.
func (s *shard) addDevice(site, id, group string, member staleness.Member) *device {
	g := s.groups[group]
	if g == nil {
		shared := s.reg.group(group, s.cfg.Limits.MaxGroups)
		if shared == nil {
			return nil
		}
		g = &shardGroup{name: group, shared: shared}
		s.groups[group] = g
	}
	d := &device{
		id: id, site: site, g: g, member: member,
		live: staleness.NewLiveness(s.roster.Interval(id)),
	}
	s.devices[id] = d
	i, _ := slices.BinarySearchFunc(g.devices, id, func(x *device, id string) int { return strings.Compare(x.id, id) })
	g.devices = slices.Insert(g.devices, i, d)
	return d
}

// retire takes d off its group's roster at now and keeps it as a tombstone:
// it is no longer expected, no longer counts against limits.max_devices, and
// is reported retired until learn.max_retired newer retirements push it out.
func (s *shard) retire(d *device, now int64) {
	delete(s.devices, d.id)
	g := d.g
	if i := slices.Index(g.devices, d); i >= 0 {
		g.devices = slices.Delete(g.devices, i, i+1)
	}
	s.reg.releaseDevice()
	d.member.Retired = now
	d.wins = nil
	forgotten := s.retired.Forgotten
	s.retired.Add(d.id, d)
	s.cnt.retired++
	s.cnt.forgotten += s.retired.Forgotten - forgotten
}

// state returns d's state at now (staleness decides: retired, or its
// liveness state).
func (s *shard) state(d *device, now int64) staleness.State {
	return d.member.State(&d.live, &s.cfg.Liveness, now)
}
