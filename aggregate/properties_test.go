package aggregate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// chooser is the randomness the generators below use: a seeded
// *rand.Rand in property tests, the fuzzer's bytes in FuzzMerge.
type chooser interface {
	IntN(n int) int
	Float64() float64
}

// byteChooser reads decisions from fuzz input; past its end every decision
// is 0.
type byteChooser struct{ b []byte }

func (c *byteChooser) next() byte {
	if len(c.b) == 0 {
		return 0
	}
	x := c.b[0]
	c.b = c.b[1:]
	return x
}

func (c *byteChooser) IntN(n int) int { return int(c.next()) % n }

func (c *byteChooser) Float64() float64 {
	return float64(uint16(c.next())<<8|uint16(c.next())) / (1 << 16)
}

// genDev is one device of a random group: reported, or missing with bounds
// and maybe an imputed value.
type genDev struct {
	id       string
	reported bool
	v        float64
	samples  uint64
	newest   int64
	short    bool    // reported but short of samples
	lo, hi   float64 // bounds: of a missing device, or of a reported one
	imp      float64
	hasImp   bool
	md       MissingDevice
	flagged  bool // replaying
	dups     uint64
	replays  uint64
	late     uint64
}

var genStates = []string{"live", "late", "silent", "offline", "never_seen"}

// genGroup returns up to 40 devices with distinct ids in ascending order,
// the missing-list limit (0: unlimited), and the scale of the values (the
// sum of their magnitudes) for the float tolerance.
func genGroup(c chooser) (devs []genDev, maxListed int, scale float64) {
	n := c.IntN(41)
	ids := map[int]bool{}
	for range n {
		ids[c.IntN(200)] = true
	}
	keys := make([]int, 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	scale = 1
	for _, k := range keys {
		d := genDev{id: fmt.Sprintf("d%03d", k)}
		if c.IntN(3) != 0 {
			d.reported = true
			d.v = (c.Float64()*2 - 1) * 1000
			d.samples = uint64(1 + c.IntN(20))
			d.lo, d.hi = d.v, d.v
			if c.IntN(4) == 0 { // short of samples: bounded around its value
				d.short = true
				d.lo, d.hi = d.v-c.Float64()*100, d.v+c.Float64()*100
				if c.IntN(8) == 0 {
					d.hi = math.Inf(1)
				}
			}
			d.newest = at(time.Duration(c.IntN(10_000)) * time.Millisecond)
			scale += math.Abs(d.v)
		} else {
			lo := (c.Float64()*2 - 1) * 1000
			hi := lo + c.Float64()*500
			d.lo, d.hi = lo, hi
			if c.IntN(8) == 0 {
				d.lo = math.Inf(-1)
			}
			if c.IntN(8) == 0 {
				d.hi = math.Inf(1)
			}
			if c.IntN(3) != 0 {
				d.hasImp = true
				d.imp = lo + c.Float64()*(hi-lo) // inside [lo, hi] either way
				scale += math.Abs(d.imp)
			}
			scale += math.Abs(lo) + math.Abs(hi)
			d.md = MissingDevice{Device: d.id, State: genStates[c.IntN(len(genStates))]}
			if d.md.State != "never_seen" {
				d.md.LastSeen = at(-time.Duration(c.IntN(100_000)) * time.Millisecond)
			}
		}
		d.dups, d.replays, d.late = uint64(c.IntN(3)), uint64(c.IntN(2)), uint64(c.IntN(2))
		d.flagged = c.IntN(5) == 0
		devs = append(devs, d)
	}
	return devs, c.IntN(6), scale
}

// partialOf builds one partial over devs, adding them in the given
// (ascending id) order, as a shard does.
func partialOf(devs []genDev, maxListed int) Partial {
	p := NewPartial("site-a", "power_kw", wStart.UnixNano(), wEnd.UnixNano())
	for _, d := range devs {
		if d.reported {
			p.AddReported(d.v, d.lo, d.hi, d.short, d.samples, d.newest)
		} else {
			p.AddMissing(d.md, d.lo, d.hi, d.imp, d.hasImp, maxListed)
		}
		p.Duplicates += d.dups
		p.Replays += d.replays
		p.Late += d.late
		if d.flagged {
			p.AddFlag(FlagReplaying+d.id, maxListed)
		}
	}
	return p
}

// splitMerge splits devs into up to 6 random disjoint subsets (some may be
// empty), builds one partial per subset and merges them pairwise in a
// random order and grouping.
func splitMerge(c chooser, devs []genDev, maxListed int) Partial {
	k := 1 + c.IntN(6)
	subsets := make([][]genDev, k)
	for _, d := range devs {
		i := c.IntN(k)
		subsets[i] = append(subsets[i], d) // stays in ascending id order
	}
	pool := make([]Partial, 0, k)
	for _, s := range subsets {
		pool = append(pool, partialOf(s, maxListed))
	}
	for len(pool) > 1 {
		i := c.IntN(len(pool))
		j := c.IntN(len(pool) - 1)
		if j >= i {
			j++
		}
		pool[i].Merge(&pool[j], maxListed)
		pool = slices.Delete(pool, j, j+1)
	}
	return pool[0]
}

// sameFloat reports whether a and b are equal, or within tol when finite.
func sameFloat(a, b, tol float64) bool {
	if a == b {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) || math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// requireSamePartial checks that got summarises the same devices as want:
// counts, minima, maxima, the missing list and the flags exactly, sums within
// 1e-9 × scale (float addition is not associative).
func requireSamePartial(t testing.TB, want, got *Partial, scale float64) {
	t.Helper()
	tol := 1e-9 * scale
	for _, f := range []struct {
		name      string
		want, got float64
	}{
		{"Sum", want.Values.Sum, got.Values.Sum},
		{"ImpSum", want.ImputedValues.Sum, got.ImputedValues.Sum},
		{"LoSum", want.MissingBounds.Lo.Sum, got.MissingBounds.Lo.Sum},
		{"HiSum", want.MissingBounds.Hi.Sum, got.MissingBounds.Hi.Sum},
		{"RepLoSum", want.ReportedBounds.Lo.Sum, got.ReportedBounds.Lo.Sum},
		{"RepHiSum", want.ReportedBounds.Hi.Sum, got.ReportedBounds.Hi.Sum},
	} {
		if !sameFloat(f.want, f.got, tol) {
			t.Fatalf("%s: want %v, got %v (tolerance %g)", f.name, f.want, f.got, tol)
		}
	}
	w, g := want.Summary, got.Summary
	w.Values.Sum, w.ImputedValues.Sum, w.MissingBounds.Lo.Sum, w.MissingBounds.Hi.Sum, w.ReportedBounds.Lo.Sum, w.ReportedBounds.Hi.Sum = 0, 0, 0, 0, 0, 0
	g.Values.Sum, g.ImputedValues.Sum, g.MissingBounds.Lo.Sum, g.MissingBounds.Hi.Sum, g.ReportedBounds.Lo.Sum, g.ReportedBounds.Hi.Sum = 0, 0, 0, 0, 0, 0
	require.Equal(t, w, g)
	require.Equal(t, want.Missing, got.Missing)
	if len(want.Flags)+len(got.Flags) > 0 { // nil and empty are the same
		require.Equal(t, want.Flags, got.Flags)
	}
	require.Equal(t, [4]any{want.Group, want.Metric, want.Start, want.End}, [4]any{got.Group, got.Metric, got.Start, got.End})
}

// checkFinished checks the invariants of a finished aggregate: coverage in
// [0, 1], lower <= upper, and, when every missing device is imputed inside
// its bounds, lower <= value <= upper.
func checkFinished(t testing.TB, p *Partial, allImputed bool, scale float64) {
	t.Helper()
	a := p.Finish(FinishInfo{EmittedAt: wEnd, MinCoverage: DefaultMinCoverage})
	if a.Coverage.Ratio < 0 || a.Coverage.Ratio > 1 || math.IsNaN(a.Coverage.Ratio) {
		t.Fatalf("coverage ratio %v outside [0, 1]", a.Coverage.Ratio)
	}
	if a.Coverage.Reported > a.Coverage.Expected || len(a.Coverage.Missing)+a.Coverage.MissingUnlisted != a.Coverage.Expected-a.Coverage.Reported {
		t.Fatalf("coverage %+v inconsistent", a.Coverage)
	}
	tol := 1e-9 * scale
	for name, s := range map[string]Stat{"sum": a.Stats.Sum, "mean": a.Stats.Mean, "min": a.Stats.Min, "max": a.Stats.Max} {
		lo, hi, v := float64(s.Lower), float64(s.Upper), float64(s.Value)
		if !s.Lower.Known() {
			lo = math.Inf(-1)
		}
		if !s.Upper.Known() {
			hi = math.Inf(1)
		}
		if lo > hi+tol {
			t.Fatalf("%s: lower %v > upper %v", name, lo, hi)
		}
		if allImputed && s.Value.Known() && (v < lo-tol || v > hi+tol) {
			t.Fatalf("%s: value %v outside [%v, %v]", name, v, lo, hi)
		}
	}
}

// checkMergeProperty is the property shared by TestMergeProperty and
// FuzzMerge: the partials of any split of a group's devices, merged in any
// order and grouping, equal the partial of all devices built at once.
func checkMergeProperty(t testing.TB, c chooser) {
	devs, maxListed, scale := genGroup(c)
	whole := partialOf(devs, maxListed)
	merged := splitMerge(c, devs, maxListed)
	requireSamePartial(t, &whole, &merged, scale)
	allImputed := true
	for _, d := range devs {
		allImputed = allImputed && (d.reported || d.hasImp)
	}
	checkFinished(t, &merged, allImputed, scale)

	// Commutativity, directly: a+b == b+a, and the identity changes nothing.
	half := len(devs) / 2
	a1, b1 := partialOf(devs[:half], maxListed), partialOf(devs[half:], maxListed)
	a2, b2 := partialOf(devs[:half], maxListed), partialOf(devs[half:], maxListed)
	a1.Merge(&b1, maxListed)
	b2.Merge(&a2, maxListed)
	requireSamePartial(t, &a1, &b2, scale)
	id := NewPartial(whole.Group, whole.Metric, whole.Start, whole.End)
	a1.Merge(&id, maxListed)
	requireSamePartial(t, &whole, &a1, scale)
}

func TestMergeProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20261122, 1))
	for i := range 2000 {
		seed := r.Uint64()
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkMergeProperty(t, rand.New(rand.NewPCG(seed, seed)))
		})
	}
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("the quick brown fox jumps over the lazy dog, twice: the quick brown fox"))
	r := rand.New(rand.NewPCG(7, 7))
	for range 8 {
		b := make([]byte, 64+r.IntN(400))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2048 {
			return // bounded: 40 devices take far fewer decisions
		}
		checkMergeProperty(t, &byteChooser{b: data})
	})
}

// The engine-level property: the same message stream through one worker
// and through four gives the same aggregates.

const propFleet = `
defaults:
  interval: 1s
  metrics:
    power_kw: {min: 0, max: 100, device: mean, group: sum, impute: last}
    temp_c: {min: -40, max: 80, device: max, group: max, impute: none}
    energy_wh: {min: 0, max: 1000000, device: sum, group: sum, impute: none}
groups:
  site-a: {devices: [a01, a02, a03, a04, a05, a06]}
  site-b: {devices: [b01, b02, b03, b04, b05]}
devices:
  a02: {metrics: {power_kw: {max: 50}}}
learn: {enabled: true}
`

// streamMsg is one message of a generated stream, offered at t0+at.
type streamMsg struct {
	at      time.Duration
	site    string
	dev     string
	seq     uint64
	ts      time.Duration // event time, from t0
	power   float64
	temp    float64
	hasTemp bool
	energy  float64 // sent when positive
}

func (m streamMsg) payload(t0 time.Time) []byte {
	ts := t0.Add(m.ts).UnixMilli()
	b := fmt.Appendf(nil, `{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%g`, m.seq, ts, m.power)
	if m.hasTemp {
		b = fmt.Appendf(b, `,"temp_c":%g`, m.temp)
	}
	if m.energy > 0 {
		b = fmt.Appendf(b, `,"energy_wh":%g`, m.energy)
	}
	return append(b, "}}"...)
}

// genStream returns 60 s of readings of the listed devices of propFleet and
// of learned devices c01..c03 on site s3, with a random silent device,
// duplicates, replays, a learned device that joins s3 on a shard (of four)
// that holds no other s3 device, and c01 partitioned for eleven seconds
// around the join, then flushing (late readings that revise an open
// window). Event times are relative to t0, which the caller aligns to
// a window; messages are offered 17 ms after each second, off the engine's
// tick grid, so no offer races an emit round.
func genStream(r *rand.Rand) (msgs []streamMsg, silent, joiner string) {
	const seconds = 60
	devs := []struct{ site, id string }{
		{"site-a", "site-a/a01"},
		{"site-a", "site-a/a02"},
		{"site-a", "site-a/a03"},
		{"site-a", "site-a/a04"},
		{"site-a", "site-a/a05"},
		{"site-a", "site-a/a06"},
		{"site-b", "site-b/b01"},
		{"site-b", "site-b/b02"},
		{"site-b", "site-b/b03"},
		{"site-b", "site-b/b04"},
		{"site-b", "site-b/b05"},
		{"s3", "s3/c01"},
		{"s3", "s3/c02"},
		{"s3", "s3/c03"},
	}
	used := map[uint64]bool{}
	for _, id := range []string{"s3/c01", "s3/c02", "s3/c03"} {
		used[xxhash.Sum64String(id)%4] = true
	}
	for i := 4; joiner == ""; i++ {
		if id := fmt.Sprintf("s3/c%02d", i); !used[xxhash.Sum64String(id)%4] {
			joiner = id
		}
	}
	devs = append(devs, struct{ site, id string }{"s3", joiner})
	silentIdx := r.IntN(11)
	silent = devs[silentIdx].id
	silentFrom := 10 + r.IntN(20)
	// c01 buffers seconds partFrom..partTo and flushes them at partTo+1: its
	// readings of window [20 s, 30 s), emitted provisional at about 33 s,
	// revise it. The joiner's first reading comes after that emission.
	partFrom := 26 + r.IntN(3)
	partTo, join := partFrom+10, partFrom+8

	seq := map[string]uint64{}
	var history []streamMsg
	var buffered []streamMsg
	for i := range seconds {
		sent := time.Duration(i)*time.Second + 17*time.Millisecond
		for di, d := range devs {
			switch {
			case di == silentIdx && i >= silentFrom, d.id == joiner && i < join, r.IntN(10) == 0:
				continue
			}
			seq[d.id]++
			m := streamMsg{
				at: sent, site: d.site, dev: d.id, seq: seq[d.id],
				ts:    time.Duration(i)*time.Second - time.Duration(r.IntN(300))*time.Millisecond,
				power: float64(r.IntN(5000)) / 100, temp: float64(r.IntN(7000)-1000) / 100,
				hasTemp: r.IntN(5) != 0,
			}
			if m.ts < 0 {
				m.ts = 0
			}
			if d.id == "s3/c01" && i >= partFrom && i <= partTo {
				buffered = append(buffered, m)
				continue
			}
			msgs = append(msgs, m)
			history = append(history, m)
			if r.IntN(20) == 0 { // QoS 1 redelivery: a duplicate
				msgs = append(msgs, m)
			}
			if r.IntN(30) == 0 && len(history) > 200 { // an old message again: a replay
				old := history[r.IntN(len(history)-150)]
				old.at = sent
				msgs = append(msgs, old)
			}
		}
		if i == partTo+1 {
			for _, m := range buffered {
				m.at = sent
				msgs = append(msgs, m)
			}
		}
	}
	return msgs, silent, joiner
}

// runStream offers msgs to an engine with the given shards in a synctest
// bubble, lets every window become final, and returns what it emitted and
// its message counts by outcome.
func runStream(t *testing.T, shards int, msgs []streamMsg) (out []Aggregate, outcomes map[string]float64) {
	return runStreamWith(t, Config{Shards: shards, Window: window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, AllowedSkew: 2 * time.Second}}, msgs)
}

// runStreamWith is runStream with the shards, window and limits of cfg;
// outcomes also holds the rejections by reason ("rejected:<reason>").
func runStreamWith(t *testing.T, cfg Config, msgs []streamMsg) (out []Aggregate, outcomes map[string]float64) {
	synctest.Test(t, func(t *testing.T) {
		f, err := staleness.ParseFleet([]byte(propFleet))
		require.NoError(t, err)
		c := &collector{}
		// Emit rounds every 250 ms, not 50: a quarter of the rounds to
		// simulate, and offers at 17 ms past the second stay off the tick
		// grid.
		cfg.EmitInterval = 250 * time.Millisecond
		e, err := New(cfg, staleness.NewRoster(f), c, nil, prometheus.NewRegistry())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()

		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		for _, m := range msgs {
			time.Sleep(time.Until(t0.Add(m.at)))
			require.True(t, e.Offer(ingest.Message{
				Kind: ingest.TopicTelemetry, Site: m.site, Device: m.dev,
				Payload: m.payload(t0), Received: time.Now().UnixNano(),
			}))
		}
		// Past the last window's end + lateness, with the idle watermark.
		time.Sleep(90 * time.Second)
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)

		outcomes = map[string]float64{}
		for _, o := range []string{OutcomeAccepted, OutcomeDuplicate, OutcomeReplay, OutcomeRejected} {
			outcomes[o] = testutil.ToFloat64(e.m.messages.WithLabelValues(o))
		}
		for _, reason := range ingest.RejectReasons {
			if n := testutil.ToFloat64(e.m.rejected.WithLabelValues(reason)); n > 0 {
				outcomes["rejected:"+reason] = n
			}
		}
		c.mu.Lock()
		out = slices.Clone(c.all)
		c.mu.Unlock()
	})
	return out, outcomes
}

// requireSameAggregate checks that got equals want, numbers within 1e-9
// relative (the shards sum in a different order).
func requireSameAggregate(t *testing.T, want, got Aggregate) {
	t.Helper()
	id := fmt.Sprintf("%s/%s %v rev %d", want.Group, want.Metric, want.Window.Start, want.Revision)
	pairs := []struct {
		name      string
		want, got Num
	}{
		{"max_age_s", want.Staleness.MaxAgeS, got.Staleness.MaxAgeS},
	}
	for _, s := range []struct {
		name      string
		want, got Stat
	}{
		{"sum", want.Stats.Sum, got.Stats.Sum},
		{"mean", want.Stats.Mean, got.Stats.Mean},
		{"min", want.Stats.Min, got.Stats.Min},
		{"max", want.Stats.Max, got.Stats.Max},
	} {
		pairs = append(pairs,
			struct {
				name      string
				want, got Num
			}{s.name + ".value", s.want.Value, s.got.Value},
			struct {
				name      string
				want, got Num
			}{s.name + ".lower", s.want.Lower, s.got.Lower},
			struct {
				name      string
				want, got Num
			}{s.name + ".upper", s.want.Upper, s.got.Upper},
			struct {
				name      string
				want, got Num
			}{s.name + ".reported", s.want.Reported, s.got.Reported})
	}
	for _, p := range pairs {
		w, g := float64(p.want), float64(p.got)
		require.Truef(t, sameFloat(w, g, 1e-9*max(1, math.Abs(w), math.Abs(g))), "%s: %s: want %v, got %v", id, p.name, w, g)
	}
	w, g := want, got
	w.Stats, g.Stats = Stats{Count: want.Stats.Count}, Stats{Count: got.Stats.Count}
	w.Staleness.MaxAgeS, g.Staleness.MaxAgeS = 0, 0
	require.Equal(t, w, g, id)
}

// emissions lists what was emitted, one line per aggregate.
func emissions(as []Aggregate) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s/%s %s rev %d final %v at %s", a.Group, a.Metric,
			a.Window.Start.Format("15:04:05"), a.Revision, a.Final, a.EmittedAt.Format("15:04:05.000"))
	}
	return out
}

func TestEngineShardsProperty(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			msgs, silent, joiner := genStream(rand.New(rand.NewPCG(seed, 99)))
			one, oneCounts := runStream(t, 1, msgs)
			four, fourCounts := runStream(t, 4, msgs)

			// The stream exercised what it is meant to.
			require.Equal(t, oneCounts, fourCounts)
			require.Positive(t, oneCounts[OutcomeDuplicate], "duplicates")
			require.Positive(t, oneCounts[OutcomeReplay], "replays")
			require.Zero(t, oneCounts[OutcomeRejected], "rejected")
			var revisions, finals, silentMissing, joined int
			for _, a := range one {
				switch {
				case a.Final:
					finals++
				case a.Revision > 0:
					revisions++
				}
				for _, m := range a.Coverage.Missing {
					if m.Device == silent {
						silentMissing++
					}
				}
				if a.Group == "s3" && a.Coverage.Expected == 4 {
					joined++
				}
			}
			require.Positive(t, revisions, "late readings revised open windows")
			require.Positive(t, finals)
			require.Positive(t, silentMissing, "%s went silent", silent)
			require.Positive(t, joined, "%s joined s3", joiner)

			require.Equal(t, emissions(one), emissions(four), "emitted windows and revisions")
			for i := range one {
				requireSameAggregate(t, one[i], four[i])
			}
		})
	}
}
