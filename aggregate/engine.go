package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// Emitter receives every aggregate the engine emits: each provisional
// window, revision and final. Emit must not block; the engine calls it from
// one goroutine, and the Aggregate is owned by the receiver.
type Emitter interface {
	Emit(a Aggregate)
}

// ErrStopped is returned by queries after the engine stopped.
var ErrStopped = errors.New("aggregate: engine stopped")

// Engine shards devices over workers, advances each group's watermark and
// merges the workers' partials into aggregates.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	roster *staleness.Roster
	emit   Emitter
	m      *metrics
	spm    *sparkplug.Metrics // sparkplug.go
	reg    *registry

	shards []*shard
	quit   chan struct{}
	done   chan struct{}

	// Coordinator state, owned by Run's goroutine.
	groups  map[string]*coordGroup
	open    map[openKey]*openAgg
	early   [ingest.NumReasons]atomic.Uint64 // rejects before routing, by reason
	rejects *ingest.RejectLog                // sample of rejected messages

	snapReq   chan chan *Snapshot // Snapshot requests, served between rounds
	roundReq  chan roundRequest   // replayed rounds, run between live ones
	recorder  func(RoundMark) (uint64, error)
	roundSeq  uint64
	markIndex uint64      // journal index of the last recorded round's mark
	held      atomic.Bool // Hold: no emission during a replay
	skip      []uint64    // per shard: journal index handled before the restored snapshot

	states    [][]stateCount // latest device-state counts per shard
	replaying []int          // latest replaying-device count per shard
	lastEvent int64          // newest accepted event time, Unix ns
}

type coordGroup struct {
	name     string
	shared   *groupShared
	lc       *window.Lifecycle
	maxEvent int64
	hasEvent bool
	members  []bool  // shards holding devices of the group
	newest   []int64 // this round: the newest event time of each device (scratch)
}

type openKey struct {
	group, metric string
	start         int64
}

// openAgg is a window of one group and metric between its provisional and
// final emission: the latest partial of every shard.
type openAgg struct {
	revs  window.Revisions
	parts []Partial // latest partial per shard
	has   []bool    // parts[i] was ever received
	fresh []bool    // parts[i] was received this round
	sent  []Partial // parts as of the last emission
}

// pending reports whether any shard sent a partial this round.
func (oa *openAgg) pending() bool { return slices.Contains(oa.fresh, true) }

// changed reports whether a partial received this round differs from what
// was last emitted.
func (oa *openAgg) changed() bool {
	for i, f := range oa.fresh {
		if f && (oa.sent == nil || !oa.parts[i].Equal(&oa.sent[i])) {
			return true
		}
	}
	return false
}

// complete reports whether every shard that holds devices of the group has
// sent a partial.
func (oa *openAgg) complete(members []bool) bool {
	for i, m := range members {
		if m && !oa.has[i] {
			return false
		}
	}
	return true
}

// commit marks the current parts as emitted.
func (oa *openAgg) commit() {
	oa.sent = slices.Clone(oa.parts)
	clear(oa.fresh)
}

type stateCount struct {
	state staleness.State
	n     int
}

// New returns an engine. The roster's listed devices are expected from the
// start; reg receives the pipeline metrics.
func New(cfg Config, roster *staleness.Roster, emit Emitter, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg: cfg, log: log.With("stage", "aggregate"), roster: roster, emit: emit,
		reg:      newRegistry(cfg.Window),
		rejects:  ingest.NewRejectLog(cfg.RejectSamples, cfg.RejectSampleRate),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		snapReq:  make(chan chan *Snapshot),
		roundReq: make(chan roundRequest),
		groups:   map[string]*coordGroup{},
		open:     map[openKey]*openAgg{},
	}
	for i := range cfg.Shards {
		e.shards = append(e.shards, newShard(i, &e.cfg, roster, e.reg, e.log, e.rejects))
	}
	e.states = make([][]stateCount, len(e.shards))
	e.replaying = make([]int, len(e.shards))
	m, err := newMetrics(reg, e.queueLen, e.queueCap)
	if err != nil {
		return nil, fmt.Errorf("aggregate: register metrics: %w", err)
	}
	e.m = m
	if err := e.initSparkplug(reg); err != nil { // sparkplug.go
		m.unregister()
		return nil, err
	}
	for _, g := range roster.Groups() {
		for _, id := range roster.Listed(g) {
			s := e.shards[e.shardOf(id)]
			site, _ := ingest.SplitID(id)
			if !e.reg.reserveDevice(cfg.Limits.MaxDevices) || s.addDevice(site, id, g, staleness.Member{Listed: true}) == nil {
				m.unregister()
				e.spm.Unregister()
				return nil, fmt.Errorf("aggregate: fleet file lists more devices or groups than max_devices %d / max_groups %d", cfg.Limits.MaxDevices, cfg.Limits.MaxGroups)
			}
		}
	}
	return e, nil
}

// shardOf returns the shard of a device: by its Sparkplug edge node (see
// ingest.SparkplugNode), so that a node's session and its devices share
// one worker.
func (e *Engine) shardOf(device string) int {
	return int(xxhash.Sum64String(ingest.SparkplugNode(device)) % uint64(len(e.shards)))
}

// Offer queues m on its device's shard without blocking; false when that
// queue is full. It implements ingest.Router.
func (e *Engine) Offer(m ingest.Message) bool {
	select {
	case e.shards[e.shardOf(m.Device)].in <- m:
		return true
	default:
		return false
	}
}

// Reject counts (and may sample) a message rejected before routing. It
// implements ingest.Router.
func (e *Engine) Reject(r ingest.Rejection) {
	e.early[ingest.ReasonIndex(r.Reason)].Add(1)
	e.rejects.Add(time.Unix(0, r.Received), r.Reason, r.Detail, r.Site, r.Device, r.Topic, r.Payload)
}

var _ ingest.Router = (*Engine)(nil)

// RejectSample is one rejected message, as GET /api/v1/rejects shows it.
type RejectSample = ingest.RejectSample

// Rejects returns the recent rejected-message samples, oldest first, and
// how many rejections were not sampled because of the sample rate limit.
func (e *Engine) Rejects() ([]RejectSample, uint64) { return e.rejects.Samples() }

func (e *Engine) queueLen() float64 {
	n := 0
	for _, s := range e.shards {
		n += len(s.in)
	}
	return float64(n)
}

func (e *Engine) queueCap() float64 { return float64(len(e.shards) * e.cfg.QueueLen) }

// Saturation returns the fullest shard queue's fill ratio in [0, 1].
func (e *Engine) Saturation() float64 {
	var worst float64
	for _, s := range e.shards {
		worst = max(worst, float64(len(s.in))/float64(cap(s.in)))
	}
	return worst
}

// Run starts the workers and emits aggregates every EmitInterval until ctx
// is done. Then it handles every message already queued, emits what is due,
// stops the workers and returns. The caller stops feeding Offer first.
func (e *Engine) Run(ctx context.Context) error {
	defer e.m.unregister()
	defer e.spm.Unregister()
	defer close(e.done)
	stopped := make(chan struct{}, len(e.shards))
	for _, s := range e.shards {
		go func() {
			s.run(e.quit)
			stopped <- struct{}{}
		}()
	}
	defer func() {
		close(e.quit)
		for range e.shards {
			<-stopped
		}
	}()
	t := time.NewTicker(e.cfg.EmitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			all(e, func(s *shard) struct{} { s.drain(); return struct{}{} })
			e.tick()
			e.log.Info("aggregate stopped")
			return nil
		case <-t.C:
			e.tick()
		case req := <-e.snapReq:
			req <- e.snapshot()
		case req := <-e.roundReq:
			e.round(req.mark.Now, true)
			close(req.done)
		}
	}
}

func (e *Engine) group(name string, first int64) *coordGroup {
	if g, ok := e.groups[name]; ok {
		return g
	}
	shared := e.reg.group(name, e.cfg.Limits.MaxGroups)
	if shared == nil {
		return nil
	}
	g := &coordGroup{
		name: name, shared: shared, lc: window.NewLifecycle(e.cfg.Window, first),
		members: make([]bool, len(e.shards)),
	}
	e.groups[name] = g
	e.m.groups.Set(float64(len(e.groups)))
	return g
}

// tick is a live emit round at the gateway clock, unless held.
func (e *Engine) tick() {
	if !e.held.Load() {
		e.round(e.cfg.Now().UnixNano(), false)
	}
}

// round is one emit round at now: collect the shards' status, record the
// round (so a replay can repeat it exactly), advance watermarks, ask the
// shards for the due partials, merge and emit. Given the shards' state and
// now, a round is deterministic.
func (e *Engine) round(now int64, replayed bool) {
	t0 := time.Now()
	replies := all(e, func(s *shard) statusReply { return s.status(now) })
	mark := RoundMark{Seq: e.roundSeq + 1, Now: now, Processed: make([]uint64, len(replies))}
	for i, r := range replies {
		mark.Processed[i] = r.processed
	}
	if !replayed && e.recorder != nil {
		idx, err := e.recorder(mark)
		if err != nil {
			e.m.recordErrors.Inc()
			e.log.Warn("recording emit round failed: a replay after a crash may differ from this round", "err", err)
		}
		e.markIndex = idx
	}
	e.roundSeq = mark.Seq
	for _, g := range e.groups {
		g.newest = g.newest[:0]
	}
	for i, r := range replies {
		e.absorb(i, r, now)
	}
	for _, g := range e.roster.Groups() {
		e.group(g, now)
	}
	w := e.cfg.Window
	names := make([]string, 0, len(e.groups))
	for n := range e.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	var fl []groupFlush
	due := map[string]dueWindows{}
	for _, n := range names {
		g := e.groups[n]
		skipped := g.lc.Skipped
		prov, fin := g.lc.Advance(w.Watermark(now, g.newest))
		e.m.skipped.Add(float64(g.lc.Skipped - skipped))
		cutoff := g.lc.CutoffAt(now)
		g.shared.gate.Publish(cutoff, g.lc.Next())
		g.shared.watermark.Store(g.lc.Watermark())
		metrics := e.reg.metricsOf(g.shared)
		if len(metrics) == 0 {
			metrics = e.roster.ConfiguredMetrics()
		}
		if len(metrics) == 0 {
			continue
		}
		due[n] = dueWindows{provisional: prov, final: fin}
		fl = append(fl, groupFlush{
			group: n, metrics: metrics, windows: union(prov, fin),
			open: slices.Clone(g.lc.Open()), cutoff: cutoff,
		})
	}
	emittedAt := time.Unix(0, now)
	for i, r := range all(e, func(s *shard) flushReply { return s.flush(now, fl) }) {
		for _, p := range r.partials {
			e.store(i, p)
		}
		for _, o := range r.orphans {
			e.groups[o.group].lc.Adopt(o.start)
		}
	}
	e.emitDue(names, due, emittedAt)
	e.m.emitTime.Observe(time.Since(t0).Seconds())
}

type dueWindows struct{ provisional, final []int64 }

func union(a, b []int64) []int64 {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// absorb takes a shard's status: counters into metrics, groups and their
// newest event times into the coordinator.
func (e *Engine) absorb(i int, r statusReply, now int64) {
	c := &r.cnt
	if i == 0 {
		// The rejects before routing (Reject) join shard 0's counts before
		// they are published: each counts once in received, in
		// outcome="rejected" and in its reason.
		for j := range e.early {
			if n := e.early[j].Swap(0); n > 0 {
				c.rejected[j] += n
				c.outcome[outRejected] += n
				c.received += n
			}
		}
	}
	e.m.received.Add(float64(c.received))
	e.m.status.Add(float64(c.status))
	for j, o := range outcomes {
		if c.outcome[j] > 0 {
			e.m.messages.WithLabelValues(o).Add(float64(c.outcome[j]))
		}
	}
	for j, reason := range ingest.RejectReasons {
		if c.rejected[j] > 0 {
			e.m.rejected.WithLabelValues(reason).Add(float64(c.rejected[j]))
		}
	}
	if c.groupMetricsFull > 0 {
		e.m.dropped.WithLabelValues(DropGroupMetricsFull).Add(float64(c.groupMetricsFull))
	}
	e.m.retired.Add(float64(c.retired))
	e.m.forgotten.Add(float64(c.forgotten))
	if c.lastEvent > e.lastEvent {
		e.lastEvent = c.lastEvent
		e.m.lastEvent.Set(float64(c.lastEvent) / 1e9)
	}
	if r.states != nil {
		e.states[i] = e.states[i][:0]
		for st, n := range r.states {
			e.states[i] = append(e.states[i], stateCount{st, n})
		}
		e.replaying[i] = r.replaying
		e.publishStates()
	}
	horizon := e.cfg.Window.Horizon(now)
	for _, gs := range r.groups {
		// The first window moves back no further than the lateness horizon,
		// or the cutoff the shards judged the group's readings by if lower.
		floor := horizon
		if g, ok := e.groups[gs.name]; ok {
			floor = min(floor, g.shared.gate.Cutoff())
		} else {
			floor = min(floor, e.reg.cutoffOf(gs.name))
		}
		first := now
		if gs.hasEvent {
			first = max(gs.minEvent, floor)
		}
		g := e.group(gs.name, first)
		if g == nil {
			continue
		}
		if !g.members[i] {
			g.members[i] = true
			e.joined(g.name, i)
		}
		g.newest = append(g.newest, gs.newest...)
		if !gs.hasEvent {
			continue
		}
		g.lc.Rewind(gs.minEvent, floor)
		g.maxEvent = max(g.maxEvent, gs.maxEvent)
		g.hasEvent = true
	}
}
