package federation

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
	"github.com/rollcall-iot/rollcall/staleness"
)

// FlagGatewayDark prefixes the flag of a central aggregate in which a
// silent gateway's devices are counted missing: "gateway_dark:gw-north".
const FlagGatewayDark = "gateway_dark:"

// Emitter receives the central aggregates with the merged partial behind
// each (*sink.Fanout implements it).
type Emitter interface {
	EmitPartial(a aggregate.Aggregate, p aggregate.Partial)
}

// BoundsFunc returns the physical range [lo, hi] of one device's metric in
// a group (±Inf when unknown), for the devices of a dark gateway.
type BoundsFunc func(group, metric string) (lo, hi float64)

// MergerConfig configures a Merger.
type MergerConfig struct {
	// MaxListed bounds the missing devices and flags listed per aggregate
	// (aggregate.max_missing_listed).
	MaxListed int
	// MinCoverage is the coverage below which an aggregate is bad.
	MinCoverage float64
	// MaxWindows bounds the windows kept per group and metric.
	MaxWindows int
	// Liveness decides when a gateway is silent (phi accrual over its
	// rounds of partials).
	Liveness staleness.Config
	// SilentAfter caps how long a gateway may be quiet and still live.
	SilentAfter time.Duration
	// Bounds gives the physical range of a dark gateway's devices; nil:
	// unbounded.
	Bounds BoundsFunc
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// key identifies one central window.
type key struct {
	group, metric string
	start, end    int64
}

// contribution is one gateway's newest partial of a window.
type contribution struct {
	msg natssink.Message
	p   aggregate.Partial
}

// window is one central window: each gateway's newest partial and what
// was last emitted.
type window struct {
	byGW     map[string]*contribution
	dark     []string // gateways counted dark in the last emission
	revision int      // of the next emission
	last     aggregate.Partial
	final    bool
	emitted  bool
}

// series is what the central tier knows of one gateway's group and
// metric: how many devices it expects there and its window rhythm.
type series struct {
	expected   int
	size       int64 // window length, ns
	firstStart int64
	lastEnd    int64
}

// gatewayState is one gateway as a device of the central tier.
type gatewayState struct {
	id       string
	live     staleness.Liveness
	series   map[[2]string]*series // by group, metric
	partials uint64
	lagNS    int64 // receive time minus emission time of the newest partial
	learned  bool
}

// Merger merges gateways' partials per group, metric and window: per
// gateway the newest revision replaces earlier ones; the kept partials are
// merged with Partial.Merge; a silent gateway's devices are counted
// missing with physical bounds until its partials arrive. Its methods are
// safe for concurrent use.
type Merger struct {
	cfg MergerConfig
	out Emitter
	m   *mergerMetrics

	mu      sync.Mutex
	gws     map[string]*gatewayState
	windows map[key]*window
	byGM    map[[2]string][]key    // window keys per group and metric, by start
	serving map[[2]string][]string // gateway ids per group and metric, sorted
	anyDark bool                   // some gateway was silent at the last Tick
}

// NewMerger returns a merger that emits to out, with its metrics
// registered in reg (nil: not registered).
func NewMerger(cfg MergerConfig, out Emitter, reg prometheus.Registerer) (*Merger, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxWindows <= 0 {
		cfg.MaxWindows = DefaultMaxWindows
	}
	cfg.Liveness = cfg.Liveness.WithDefaults()
	m := newMergerMetrics()
	if reg != nil {
		if err := m.register(reg); err != nil {
			return nil, err
		}
	}
	return &Merger{
		cfg: cfg, out: out, m: m, gws: map[string]*gatewayState{},
		windows: map[key]*window{}, byGM: map[[2]string][]key{}, serving: map[[2]string][]string{},
	}, nil
}

// Unregister removes the merger's metrics from reg.
func (m *Merger) Unregister(reg prometheus.Registerer) { m.m.unregister(reg) }

// AddGateway puts a gateway on the roster before any partial of it
// arrived (federation.gateways), or learned from an announcement.
func (m *Merger) AddGateway(id string, learned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gateway(id, learned)
}

func (m *Merger) gateway(id string, learned bool) *gatewayState {
	g := m.gws[id]
	if g == nil {
		g = &gatewayState{id: id, series: map[[2]string]*series{}, learned: learned}
		m.gws[id] = g
	}
	return g
}

// Add merges one gateway's partial received at recv, and emits the
// window's central aggregate when it changed. It reports whether msg was
// new: an older or repeated revision is ignored.
func (m *Merger) Add(msg natssink.Message, recv time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.gateway(msg.Gateway, true)
	start, end := msg.Window.Start.UnixNano(), msg.Window.End.UnixNano()
	if g.live.LastSeen == 0 {
		g.live = staleness.NewLiveness(time.Duration(end - start))
	}
	g.live.Observe(recv.UnixNano(), end) // one lesson per round of windows
	g.partials++
	g.lagNS = recv.Sub(msg.EmittedAt).Nanoseconds()
	gm := [2]string{msg.Group, msg.Metric}
	s := g.series[gm]
	if s == nil {
		s = &series{firstStart: start}
		g.series[gm] = s
		ids := m.serving[gm]
		i, _ := slices.BinarySearch(ids, g.id)
		m.serving[gm] = slices.Insert(ids, i, g.id)
	}
	if end >= s.lastEnd {
		s.expected, s.size, s.lastEnd = msg.Summary.Expected, end-start, end
	}
	s.firstStart = min(s.firstStart, start)

	k := key{msg.Group, msg.Metric, start, end}
	w := m.window(k)
	if w == nil {
		m.m.tooOld.Inc()
		return false
	}
	if c := w.byGW[msg.Gateway]; c != nil && !newer(msg, c.msg) {
		m.m.repeated.Inc()
		return false
	}
	w.byGW[msg.Gateway] = &contribution{msg: msg, p: msg.Partial()}
	m.m.merged.Inc()
	m.emit(k, w, recv)
	return true
}

// newer reports whether a is a later revision than b of the same window.
func newer(a, b natssink.Message) bool {
	return a.Revision > b.Revision || (a.Revision == b.Revision && a.Final && !b.Final)
}

// window returns the window of k, created if new; nil when it is older
// than every kept window of its group and metric and there is no room.
func (m *Merger) window(k key) *window {
	if w := m.windows[k]; w != nil {
		return w
	}
	gm := [2]string{k.group, k.metric}
	keys := m.byGM[gm]
	if len(keys) >= m.cfg.MaxWindows {
		if k.start < keys[0].start {
			return nil
		}
		delete(m.windows, keys[0])
		keys = keys[1:]
		m.m.evicted.Inc()
	}
	i, _ := slices.BinarySearchFunc(keys, k, func(a, b key) int { return cmp.Compare(a.start, b.start) })
	m.byGM[gm] = slices.Insert(keys, i, k)
	w := &window{byGW: map[string]*contribution{}}
	m.windows[k] = w
	return w
}

// Tick counts silent gateways' devices missing: in every kept window of
// their groups without their partial, and in the windows they should have
// sent since they went quiet. Call it about once per second.
func (m *Merger) Tick() {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	anyDark := false
	for _, id := range slices.Sorted(maps.Keys(m.gws)) {
		g := m.gws[id]
		if !m.silent(g, now) {
			continue
		}
		anyDark = true
		for gm, s := range g.series {
			if s.size <= 0 {
				continue
			}
			for end := s.lastEnd + s.size; end+s.size <= now.UnixNano(); end += s.size {
				if m.window(key{gm[0], gm[1], end - s.size, end}) == nil {
					break
				}
			}
		}
	}
	if !anyDark && !m.anyDark {
		return // nobody went dark or came back: no window changes
	}
	m.anyDark = anyDark
	for k, w := range m.windows {
		if !slices.Equal(m.darkOf(k, w, now), w.dark) {
			m.emit(k, w, now)
		}
	}
}

// silent reports whether gateway g is dark at now.
func (m *Merger) silent(g *gatewayState, now time.Time) bool {
	if g.live.LastSeen == 0 {
		return false // never seen: nothing to count missing yet
	}
	if m.cfg.SilentAfter > 0 && now.UnixNano()-g.live.LastSeen > int64(m.cfg.SilentAfter) {
		return true
	}
	return g.live.State(&m.cfg.Liveness, now.UnixNano()) == staleness.StateSilent
}

// darkOf returns, sorted, the silent gateways that serve window k's group
// and metric but have no partial of it.
func (m *Merger) darkOf(k key, w *window, now time.Time) []string {
	var dark []string // sorted: serving is
	gm := [2]string{k.group, k.metric}
	for _, id := range m.serving[gm] {
		g := m.gws[id]
		if k.start < g.series[gm].firstStart || w.byGW[id] != nil || !m.silent(g, now) {
			continue
		}
		dark = append(dark, id)
	}
	return dark
}

// emit merges window k and emits its aggregate if it changed. A gateway
// that serves the group and metric but has no partial of the window yet
// counts with its devices missing (physical bounds), so that coverage is
// always over the union of the rosters; when it is silent, the aggregate
// is also flagged gateway_dark:<id>. The window is final when every such
// gateway's final partial is in.
func (m *Merger) emit(k key, w *window, now time.Time) {
	dark := m.darkOf(k, w, now)
	merged := aggregate.NewPartial(k.group, k.metric, k.start, k.end)
	final := true
	var watermark int64
	for _, id := range slices.Sorted(maps.Keys(w.byGW)) {
		c := w.byGW[id]
		merged.Merge(&c.p, m.cfg.MaxListed)
		final = final && c.msg.Final
		watermark = max(watermark, c.msg.Watermark.UnixNano())
	}
	gm := [2]string{k.group, k.metric}
	for _, id := range m.serving[gm] {
		s := m.gws[id].series[gm]
		if k.start < s.firstStart || w.byGW[id] != nil {
			continue
		}
		p := m.absentPartial(k, s.expected)
		merged.Merge(&p, m.cfg.MaxListed)
		final = false
	}
	for _, id := range dark {
		merged.AddFlag(FlagGatewayDark+id, m.cfg.MaxListed)
	}
	w.dark = dark
	if w.emitted && merged.Equal(&w.last) && final == w.final {
		return
	}
	a := merged.Finish(aggregate.FinishInfo{
		Watermark: watermark, EmittedAt: now, Revision: w.revision,
		Final: final, MinCoverage: m.cfg.MinCoverage,
	})
	w.last, w.final, w.emitted = merged, final, true
	w.revision++
	m.m.emitted.Inc()
	m.out.EmitPartial(a, merged)
}

// absentPartial is the contribution of a gateway without a partial of the
// window: n devices missing, not listed, each within the metric's physical
// range.
func (m *Merger) absentPartial(k key, n int) aggregate.Partial {
	p := aggregate.NewPartial(k.group, k.metric, k.start, k.end)
	lo, hi := math.Inf(-1), math.Inf(1)
	if m.cfg.Bounds != nil {
		lo, hi = m.cfg.Bounds(k.group, k.metric)
	}
	for range n {
		p.AddMissing(aggregate.MissingDevice{}, lo, hi, 0, false, -1)
	}
	p.Missing, p.MissingUnlisted = nil, n
	return p
}
