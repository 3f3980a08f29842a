package aggregate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rollcall-iot/rollcall/dedup"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// SnapshotVersion is the format version of Snapshot.
const SnapshotVersion = 1

// Snapshot is the engine's whole state at a checkpoint: every device's
// dedup, liveness and open windows, and the coordinator's groups and open
// aggregates. Restoring it and replaying the journal after Processed gives
// the state an uninterrupted engine would have.
type Snapshot struct {
	Version int
	// Processed is, per shard, the highest journal index the shard had
	// handled; replay skips what each shard already saw.
	Processed []uint64
	Devices   []DeviceSnapshot
	// ShardGroups are the per-shard group states, indexed by shard.
	ShardGroups [][]ShardGroupSnapshot
	Groups      []GroupSnapshot
	Open        []OpenSnapshot
	LastEvent   int64
	// RoundSeq is the sequence number of the last round before the snapshot.
	RoundSeq uint64
	// Sparkplug are the Sparkplug edge node sessions (nil in checkpoints
	// written before Sparkplug ingest).
	Sparkplug []sparkplug.NodeSnapshot
	// MarkIndex is the journal index of that round's mark (0 if unknown):
	// journal records up to it are not needed to replay after the snapshot,
	// except readings a shard had not handled.
	MarkIndex uint64
}

// MinProcessed returns the journal index from which a replay must start
// minus one: the lowest index any shard has handled.
func (s *Snapshot) MinProcessed() uint64 {
	if len(s.Processed) == 0 {
		return 0
	}
	return slices.Min(s.Processed)
}

// DeviceSnapshot is one device's state.
type DeviceSnapshot struct {
	ID, Site, Group string
	Listed          bool
	FirstEvent      int64
	Live            staleness.Liveness
	Dedup           dedup.StateSnapshot
	Replay          dedup.DetectorSnapshot
	Metrics         []MetricSnapshot
	Windows         []WindowSnapshot
	Accepted        uint64
	Duplicates      uint64
	Replays         uint64
	Rejected        map[string]uint64
	RateSpent       float32
	RateAt          int64
}

// MetricSnapshot is one metric of a device (its spec is re-resolved from
// the roster on restore).
type MetricSnapshot struct {
	Name          string
	Last          float64
	LastTS        int64
	LastBoot      uint64
	Has           bool
	Reduced       float64
	ReducedWindow int64
	HasReduced    bool
	// The learned rhythm (see rhythm).
	Step     int64
	Wobble   int64
	LastSeq  uint64
	SeqOK    bool
	Outliers uint8
	// Before is a counter's newest sample in the purged windows (when
	// HasBefore; see CounterState).
	Before    staleness.CounterSample
	HasBefore bool
}

// WindowSnapshot is one device's open window.
type WindowSnapshot struct {
	Start                     int64
	Accs                      []AccSnapshot
	Duplicates, Replays, Late uint32
	Newest                    int64
}

// AccSnapshot is one accumulator.
type AccSnapshot struct {
	N               uint32
	Sum, Min, Max   float64
	First, Last     float64
	FirstTS, LastTS int64
	Step            int64
	// Counter is the increase reducer's state.
	Counter CounterState
}

// ShardGroupSnapshot is a shard's part of a group.
type ShardGroupSnapshot struct {
	Name               string
	MaxEvent, MinEvent int64
	HasEvent           bool
	Dirty              []int64
}

// GroupSnapshot is the coordinator's state of a group.
type GroupSnapshot struct {
	Name      string
	Lifecycle window.LifecycleSnapshot
	MaxEvent  int64
	HasEvent  bool
	Members   []bool
	Metrics   []string
	Cutoff    int64
	Emitted   int64
	Watermark int64
}

// OpenSnapshot is an aggregate between its provisional and final emission.
type OpenSnapshot struct {
	Group, Metric string
	Start         int64
	Rev           int
	Emitted       bool
	Parts, Sent   []Partial
	Has, Fresh    []bool
}

// ErrNotRunning is returned by Snapshot when Run is not running.
var ErrNotRunning = errors.New("aggregate: engine not running")

// Snapshot takes a consistent snapshot of the engine between two emit
// rounds. Shards are snapshotted one after another while they keep working;
// each records the journal index it had reached, which is what makes the
// replay exact.
func (e *Engine) Snapshot(ctx context.Context) (*Snapshot, error) {
	req := make(chan *Snapshot, 1)
	select {
	case e.snapReq <- req:
	case <-e.done:
		return nil, ErrNotRunning
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s := <-req:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// snapshot runs on the coordinator's goroutine.
func (e *Engine) snapshot() *Snapshot {
	s := &Snapshot{Version: SnapshotVersion, LastEvent: e.lastEvent, RoundSeq: e.roundSeq, MarkIndex: e.markIndex, ShardGroups: make([][]ShardGroupSnapshot, len(e.shards))}
	for i, part := range all(e, (*shard).snapshot) {
		s.Processed = append(s.Processed, part.processed)
		s.Devices = append(s.Devices, part.devices...)
		s.ShardGroups[i] = part.groups
		s.Sparkplug = append(s.Sparkplug, part.sparkplug...)
	}
	for _, name := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[name]
		s.Groups = append(s.Groups, GroupSnapshot{
			Name: name, Lifecycle: g.lc.Snapshot(), MaxEvent: g.maxEvent, HasEvent: g.hasEvent,
			Members: slices.Clone(g.members), Metrics: e.reg.metricsOf(g.shared),
			Cutoff: g.shared.gate.Cutoff(), Emitted: g.shared.gate.Emitted(), Watermark: g.shared.watermark.Load(),
		})
	}
	for k, oa := range e.open {
		s.Open = append(s.Open, OpenSnapshot{
			Group: k.group, Metric: k.metric, Start: k.start, Rev: oa.revs.Rev, Emitted: oa.revs.Emitted,
			Parts: clonePartials(oa.parts), Sent: clonePartials(oa.sent), Has: slices.Clone(oa.has), Fresh: slices.Clone(oa.fresh),
		})
	}
	return s
}

func clonePartials(ps []Partial) []Partial {
	if ps == nil {
		return nil
	}
	out := make([]Partial, len(ps))
	for i, p := range ps {
		out[i] = p
		out[i].Missing = slices.Clone(p.Missing)
		out[i].Flags = slices.Clone(p.Flags)
	}
	return out
}

type shardSnapshot struct {
	processed uint64
	devices   []DeviceSnapshot
	groups    []ShardGroupSnapshot
	sparkplug []sparkplug.NodeSnapshot
}

// snapshot runs on the shard's goroutine.
func (s *shard) snapshot() *shardSnapshot {
	out := &shardSnapshot{processed: s.processed, sparkplug: s.sp.Snapshot()}
	for _, id := range slices.Sorted(maps.Keys(s.devices)) {
		d := s.devices[id]
		ds := DeviceSnapshot{
			ID: d.id, Site: d.site, Group: d.g.name, Listed: d.member.Listed, FirstEvent: d.member.FirstEvent,
			Live: d.live, Dedup: d.dd.Snapshot(), Replay: d.replay.Snapshot(),
			Accepted: d.accepted, Duplicates: d.duplicates, Replays: d.replays, Rejected: maps.Clone(d.rejected),
			RateSpent: d.rate.Spent, RateAt: d.rate.At,
		}
		for _, m := range d.metrics {
			ds.Metrics = append(ds.Metrics, MetricSnapshot{
				Name: m.spec.Name, Last: m.last, LastTS: m.lastTS, LastBoot: m.lastBoot, Has: m.has,
				Reduced: m.reduced, ReducedWindow: m.reducedWindow, HasReduced: m.hasReduced,
				Step: m.rhythm.step, Wobble: m.rhythm.wobble, LastSeq: m.rhythm.lastSeq, SeqOK: m.rhythm.seqOK, Outliers: m.rhythm.outliers,
				Before: m.before, HasBefore: m.hasBefore,
			})
		}
		for _, w := range d.wins {
			ws := WindowSnapshot{Start: w.start, Duplicates: w.duplicates, Replays: w.replays, Late: w.late, Newest: w.newest}
			for _, a := range w.accs {
				ws.Accs = append(ws.Accs, AccSnapshot{N: a.n, Sum: a.sum, Min: a.min, Max: a.max, First: a.first, Last: a.last, FirstTS: a.firstTS, LastTS: a.lastTS, Step: a.step, Counter: a.ctr})
			}
			ds.Windows = append(ds.Windows, ws)
		}
		out.devices = append(out.devices, ds)
	}
	for _, name := range slices.Sorted(maps.Keys(s.groups)) {
		g := s.groups[name]
		out.groups = append(out.groups, ShardGroupSnapshot{
			Name: name, MaxEvent: g.maxEvent, MinEvent: g.minEvent, HasEvent: g.hasEvent,
			Dirty: slices.Sorted(maps.Keys(g.dirty)),
		})
	}
	return out
}

// Restore loads a snapshot into an engine built by New with the same
// configuration, before Run. Devices the roster no longer admits are
// dropped. With a different shard count, devices are redistributed and
// every shard replays from the lowest processed index (dedup keeps that
// idempotent, though duplicates may then be counted).
func (e *Engine) Restore(s *Snapshot) error {
	if s.Version != SnapshotVersion {
		return fmt.Errorf("aggregate: snapshot version %d, want %d", s.Version, SnapshotVersion)
	}
	sameShards := len(s.Processed) == len(e.shards)
	e.skip = make([]uint64, len(e.shards))
	for i := range e.skip {
		if sameShards {
			e.skip[i] = s.Processed[i]
		} else {
			e.skip[i] = s.MinProcessed()
		}
		e.shards[i].processed = e.skip[i]
	}
	for _, gs := range s.Groups {
		g := e.group(gs.Name, gs.Lifecycle.Next)
		if g == nil {
			return fmt.Errorf("aggregate: restore group %s: limits.max_groups reached", gs.Name)
		}
		g.lc.Restore(gs.Lifecycle)
		g.maxEvent, g.hasEvent = gs.MaxEvent, gs.HasEvent
		if sameShards {
			copy(g.members, gs.Members)
		}
		for _, m := range gs.Metrics {
			e.reg.admitMetric(g.shared, m, e.cfg.Limits.MaxGroupMetrics)
		}
		g.shared.gate.Publish(gs.Cutoff, gs.Emitted)
		g.shared.watermark.Store(gs.Watermark)
	}
	for _, ds := range s.Devices {
		e.restoreDevice(ds)
	}
	for _, ns := range s.Sparkplug {
		e.shards[e.shardOf(ns.ID)].sp.Restore(ns)
	}
	if sameShards {
		for i, groups := range s.ShardGroups {
			for _, gs := range groups {
				g := e.shards[i].groups[gs.Name]
				if g == nil {
					continue
				}
				g.maxEvent, g.minEvent, g.hasEvent = gs.MaxEvent, gs.MinEvent, gs.HasEvent
				for _, w := range gs.Dirty {
					if g.dirty == nil {
						g.dirty = map[int64]struct{}{}
					}
					g.dirty[w] = struct{}{}
				}
			}
		}
		for _, os := range s.Open {
			e.open[openKey{os.Group, os.Metric, os.Start}] = &openAgg{
				revs: window.Revisions{Rev: os.Rev, Emitted: os.Emitted}, parts: clonePartials(os.Parts), sent: clonePartials(os.Sent),
				has: slices.Clone(os.Has), fresh: slices.Clone(os.Fresh),
			}
		}
	}
	e.lastEvent, e.roundSeq = s.LastEvent, s.RoundSeq
	return nil
}

func (e *Engine) restoreDevice(ds DeviceSnapshot) {
	if site, _ := ingest.SplitID(ds.ID); site == "" {
		// A checkpoint written before identities were site/name: a device
		// seen on a topic becomes site/name; a listed one never seen is on
		// the roster already.
		if ds.Site == "" {
			return
		}
		ds.ID = ingest.ID(ds.Site, ds.ID)
	}
	sh := e.shards[e.shardOf(ds.ID)]
	group, member, err := e.roster.Join(ds.Site, ds.ID, ds.FirstEvent)
	if err != nil {
		return
	}
	d := sh.devices[ds.ID]
	if d == nil {
		if !e.reg.reserveDevice(e.cfg.Limits.MaxDevices) {
			return
		}
		if d = sh.addDevice(ds.Site, ds.ID, group, member); d == nil {
			e.reg.releaseDevice()
			return
		}
	}
	d.site, d.member.FirstEvent = ds.Site, ds.FirstEvent
	d.live = ds.Live
	d.dd.Restore(ds.Dedup)
	d.replay.Restore(ds.Replay)
	d.accepted, d.duplicates, d.replays = ds.Accepted, ds.Duplicates, ds.Replays
	d.rejected = maps.Clone(ds.Rejected)
	d.rate = ingest.Bucket{Spent: ds.RateSpent, At: ds.RateAt}
	d.metrics = d.metrics[:0]
	for _, ms := range ds.Metrics {
		if !e.reg.admitMetric(d.g.shared, ms.Name, e.cfg.Limits.MaxGroupMetrics) {
			continue
		}
		d.metrics = append(d.metrics, devMetric{
			spec: sh.spec(d.id, ms.Name), last: ms.Last, lastTS: ms.LastTS, lastBoot: ms.LastBoot, has: ms.Has,
			reduced: ms.Reduced, reducedWindow: ms.ReducedWindow, hasReduced: ms.HasReduced,
			rhythm: rhythm{step: ms.Step, wobble: ms.Wobble, lastSeq: ms.LastSeq, seqOK: ms.SeqOK, outliers: ms.Outliers},
			before: ms.Before, hasBefore: ms.HasBefore,
		})
	}
	d.wins = d.wins[:0]
	for _, ws := range ds.Windows {
		w := devWindow{start: ws.Start, duplicates: ws.Duplicates, replays: ws.Replays, late: ws.Late, newest: ws.Newest}
		for _, a := range ws.Accs {
			w.accs = append(w.accs, accumulator{n: a.N, sum: a.Sum, min: a.Min, max: a.Max, first: a.First, last: a.Last, firstTS: a.FirstTS, lastTS: a.LastTS, step: a.Step, ctr: a.Counter})
		}
		d.wins = append(d.wins, w)
	}
}

// Hold pauses emission (rounds still collect counters) until Release: a
// replay after a restart must put every journaled reading back in place
// before any window is emitted.
func (e *Engine) Hold() { e.held.Store(true) }

// Release ends Hold.
func (e *Engine) Release() { e.held.Store(false) }

// Submit queues m on its device's shard, waiting while the queue is full
// (backpressure), until ctx is done.
func (e *Engine) Submit(ctx context.Context, m ingest.Message) error {
	select {
	case e.shards[e.shardOf(m.Device)].in <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Settle waits until every message submitted so far has been handled.
func (e *Engine) Settle(ctx context.Context) error {
	_, err := query(ctx, e, func(s *shard) struct{} { s.drain(); return struct{}{} })
	return err
}

// RoundMark records one emit round: its sequence number, the gateway
// clock it ran at, and how far each shard had got in the journal. The
// gateway journals every mark before the round emits anything, so a replay
// repeats each round exactly (same aggregates, revisions and counts).
type RoundMark struct {
	Seq       uint64
	Now       int64
	Processed []uint64
}

// SetRecorder sets the function that durably records each live round's
// mark before the round emits, returning its journal index. Call it before
// Run. An error is counted (rollcall_aggregate_round_record_errors_total)
// and the round goes on.
func (e *Engine) SetRecorder(f func(RoundMark) (uint64, error)) { e.recorder = f }

type roundRequest struct {
	mark RoundMark
	done chan struct{}
}

// Replayer feeds a restored engine the journal after its snapshot: readings
// and round marks, in journal order. Each shard gets exactly the readings
// it had handled when each recorded round ran, then the round runs at its
// recorded clock. Hold the engine while replaying; Release after Finish.
type Replayer struct {
	e        *Engine
	pending  [][]ingest.Message
	mismatch bool // rounds recorded with another shard count
}

// NewReplayer returns a replayer for e; e must be running (Run) and held.
func (e *Engine) NewReplayer() *Replayer {
	return &Replayer{e: e, pending: make([][]ingest.Message, len(e.shards))}
}

// Reading takes a journaled reading (m.Index set). Readings its shard had
// handled before the snapshot are skipped.
func (r *Replayer) Reading(m ingest.Message) {
	i := r.e.shardOf(m.Device)
	if r.e.skip != nil && m.Index <= r.e.skip[i] {
		return
	}
	r.pending[i] = append(r.pending[i], m)
}

// Round replays a recorded round: the shards first handle the readings they
// had handled then, then the round runs. Marks from before the snapshot are
// skipped.
func (r *Replayer) Round(ctx context.Context, mark RoundMark) error {
	if mark.Seq <= r.e.roundSeq {
		return nil
	}
	if len(mark.Processed) != len(r.pending) {
		// Recorded with another shard count: the rounds cannot be repeated
		// exactly. The readings are still all replayed (Finish) and the
		// live rounds emit from them; nothing is lost, though revisions
		// may be numbered differently from before the restart.
		if !r.mismatch {
			r.mismatch = true
			r.e.log.Warn("journal rounds were recorded with another shard count; replaying readings only",
				"recorded_shards", len(mark.Processed), "shards", len(r.pending))
		}
		return nil
	}
	for i, p := range r.pending {
		n := 0
		for n < len(p) && p[n].Index <= mark.Processed[i] {
			n++
		}
		if err := r.submit(ctx, p[:n]); err != nil {
			return err
		}
		r.pending[i] = p[n:]
	}
	if err := r.e.Settle(ctx); err != nil {
		return err
	}
	req := roundRequest{mark: mark, done: make(chan struct{})}
	select {
	case r.e.roundReq <- req:
	case <-r.e.done:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Finish hands the shards the readings after the last recorded round and
// waits until they are handled.
func (r *Replayer) Finish(ctx context.Context) error {
	for i, p := range r.pending {
		if err := r.submit(ctx, p); err != nil {
			return err
		}
		r.pending[i] = nil
	}
	return r.e.Settle(ctx)
}

func (r *Replayer) submit(ctx context.Context, ms []ingest.Message) error {
	for _, m := range ms {
		if err := r.e.Submit(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
