//go:build unix

package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// The benchmarks here measure the in-process pipeline of DESIGN.md
// § Performance and limits: decode → dedup → staleness → window →
// aggregate, through the real Engine, and its memory per tracked device.
// Results and the machine they ran on are in docs/benchmarks.md.

// benchBase is the event time of the first benchmark reading, at a window
// start.
var benchBase = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// benchFleet lists groups×perGroup devices "site-GGG-wt-DDD" in groups
// "site-GGG", with the two metrics of the wire-format example.
func benchFleet(groups, perGroup int, interval time.Duration) *staleness.Fleet {
	f64 := func(v float64) *float64 { return &v }
	learn := false
	f := &staleness.Fleet{
		Defaults: staleness.Defaults{
			Interval: interval,
			Metrics: map[string]staleness.MetricSpec{
				"power_kw": {Min: f64(0), Max: f64(3000), MaxRatePerS: f64(300), Device: "mean", Group: "sum", Impute: "last"},
				"wind_ms":  {Min: f64(0), Max: f64(60), Device: "mean", Group: "mean"},
			},
		},
		Groups: map[string]staleness.GroupSpec{},
		Learn:  staleness.LearnSpec{Enabled: &learn},
	}
	for g := range groups {
		devs := make([]string, perGroup)
		for d := range devs {
			devs[d] = benchDevice(g, d)
		}
		f.Groups[benchGroup(g)] = staleness.GroupSpec{Devices: devs}
	}
	return f
}

func benchGroup(g int) string     { return fmt.Sprintf("site-%03d", g) }
func benchDevice(g, d int) string { return fmt.Sprintf("site-%03d-wt-%03d", g, d) }

// benchID is device d of group g's fleet-wide identity, as the subscriber
// makes it from the topic (ingest.ID).
func benchID(g, d int) string { return ingest.ID(benchGroup(g), benchDevice(g, d)) }

// benchPayload appends a telemetry payload of about 135 bytes, in the form
// of the wire-format example plus the optional device field.
func benchPayload(b []byte, device string, seq uint64, ts time.Time, power, wind float64) []byte {
	b = fmt.Appendf(b, `{"seq": %d, "boot": 3, "ts": "`, seq)
	b = ts.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	return fmt.Appendf(b, `", "device": %q, "metrics": {"power_kw": %.1f, "wind_ms": %.1f}}`, device, power, wind)
}

// benchStream is a pre-generated message stream: every device reports once
// per event-time second, for rounds seconds. Payloads live in one
// pointer-free arena so the garbage collector does not scan them.
type benchStream struct {
	devices, rounds int
	site, id, name  []string // by device index; id is the identity, name the payload's device
	order           []int32  // device index of each message
	arena           []byte
	off             []uint32 // payload i is arena[off[i]:off[i+1]]
	recv            []int64  // receive time (Unix ns) of each round
}

func newBenchStream(groups, perGroup, rounds int) *benchStream {
	n := groups * perGroup
	s := &benchStream{devices: n, rounds: rounds, site: make([]string, n), id: make([]string, n), name: make([]string, n)}
	for g := range groups {
		for d := range perGroup {
			i := g*perGroup + d
			s.site[i], s.id[i], s.name[i] = benchGroup(g), benchID(g, d), benchDevice(g, d)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	perm := r.Perm(n) // the broker interleaves devices; groups are not contiguous
	power := make([]float64, n)
	for i := range power {
		power[i] = 500 + r.Float64()*2000
	}
	s.arena = make([]byte, 0, n*rounds*140)
	s.off = make([]uint32, 0, n*rounds+1)
	s.order = make([]int32, 0, n*rounds)
	for round := range rounds {
		sec := benchBase.Add(time.Duration(round) * time.Second)
		s.recv = append(s.recv, sec.Add(time.Second).UnixNano())
		for _, d := range perm {
			power[d] = min(3000, max(0, power[d]+r.NormFloat64()*30))
			ts := sec.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
			s.off = append(s.off, uint32(len(s.arena)))
			s.arena = benchPayload(s.arena, s.name[d], uint64(1000+round), ts, power[d], 3+r.Float64()*12)
			s.order = append(s.order, int32(d))
		}
	}
	s.off = append(s.off, uint32(len(s.arena)))
	return s
}

func (s *benchStream) len() int { return len(s.order) }

// msg returns message i.
func (s *benchStream) msg(i int) ingest.Message {
	d := s.order[i]
	return ingest.Message{
		Kind: ingest.TopicTelemetry, Site: s.site[d], Device: s.id[d],
		Payload:  s.arena[s.off[i]:s.off[i+1]:s.off[i+1]],
		Received: s.recv[i/s.devices],
	}
}

// countEmitter counts provisional aggregates of windows starting before
// limit and closes done when there are want of them. It keeps nothing.
type countEmitter struct {
	limit int64
	want  int64
	n     atomic.Int64
	all   atomic.Int64
	done  chan struct{}
}

func newCountEmitter(limit time.Time, want int) *countEmitter {
	return &countEmitter{limit: limit.UnixNano(), want: int64(want), done: make(chan struct{})}
}

func (c *countEmitter) Emit(a Aggregate) {
	c.all.Add(1)
	if a.Revision == 0 && a.Window.Start.UnixNano() < c.limit && c.n.Add(1) == c.want {
		close(c.done)
	}
}

// benchEngine is a running engine whose clock is set by the benchmark.
type benchEngine struct {
	e      *Engine
	clock  *atomic.Int64
	cancel context.CancelFunc
	done   chan error
}

func startBenchEngine(tb testing.TB, shards int, f *staleness.Fleet, em Emitter) *benchEngine {
	return startBenchEngineWindow(tb, shards, f, em, window.Config{})
}

// startBenchEngineWindow is startBenchEngine with windows w.
func startBenchEngineWindow(tb testing.TB, shards int, f *staleness.Fleet, em Emitter, w window.Config) *benchEngine {
	tb.Helper()
	clock := new(atomic.Int64)
	clock.Store(benchBase.UnixNano())
	e, err := New(Config{
		Shards: shards,
		Window: w,
		// The gateway clock follows the stream's event time, so windows
		// close as fast as the benchmark feeds them.
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
	}, staleness.NewRoster(f), em, nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	be := &benchEngine{e: e, clock: clock, cancel: cancel, done: make(chan error, 1)}
	go func() { be.done <- e.Run(ctx) }()
	return be
}

// offer queues m and returns 1 when its shard's queue was full
// (backpressure), 0 otherwise. On a full queue it waits, without spinning,
// until the queue is half empty, as a subscriber that stops reading from
// its broker connection would.
func (be *benchEngine) offer(m ingest.Message) (full int) {
	if be.e.Offer(m) {
		return 0
	}
	q := be.e.shards[be.e.shardOf(m.Device)].in
	for len(q) > cap(q)/2 {
		time.Sleep(100 * time.Microsecond)
	}
	q <- m
	return 1
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drain returns once every message offered so far has been handled.
func (be *benchEngine) drain() { all(be.e, func(s *shard) struct{} { s.drain(); return struct{}{} }) }

// stop stops the engine; its last round absorbs the shards' counters.
func (be *benchEngine) stop(tb testing.TB) {
	be.cancel()
	if err := <-be.done; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPipeline feeds 10,000 devices in 100 groups, each reporting a
// ~135-byte JSON reading with two metrics once per event-time second, for
// 60 s of event time (600,000 readings, six windows), through a new Engine
// per op. An op ends when every reading has been handled and the
// provisional aggregates of the first four windows (800) were emitted;
// engine start and stop are not timed. Offer returning false is
// backpressure: the feeder waits until the queue is half empty, and the
// count is reported as full/op. cpu-ns/reading is the process's CPU time
// (every goroutine, GC included) per reading.
func BenchmarkPipeline(b *testing.B) {
	const groups, perGroup, rounds = 100, 100, 60
	const metrics, emittedWindows = 2, 4
	f := benchFleet(groups, perGroup, time.Second)
	s := newBenchStream(groups, perGroup, rounds)
	total := s.len()
	for _, shards := range slices.Compact([]int{1, runtime.GOMAXPROCS(0)}) {
		b.Run(fmt.Sprint("shards=", shards), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.arena)))
			var full int
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				em := newCountEmitter(benchBase.Add(emittedWindows*10*time.Second), groups*metrics*emittedWindows)
				be := startBenchEngine(b, shards, f, em)
				runtime.GC()
				cpu0 := cpuTime(b)
				b.StartTimer()

				for i := range total {
					if i%s.devices == 0 {
						be.clock.Store(s.recv[i/s.devices])
					}
					full += be.offer(s.msg(i))
				}
				be.drain()
				<-em.done

				b.StopTimer()
				cpu += cpuTime(b) - cpu0
				be.stop(b)
				accepted := testutil.ToFloat64(be.e.m.messages.WithLabelValues(OutcomeAccepted))
				if int(accepted) != total {
					b.Fatalf("accepted %v of %d readings", accepted, total)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(full)/float64(b.N), "full/op")
			// CPU time of the whole process per reading: unlike readings/s,
			// it hardly depends on what else the machine runs.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(total*b.N), "cpu-ns/reading")
		})
	}
}

// BenchmarkMemoryPerDevice loads 100,000 devices (1000 groups of 100, dedup
// window 1024) and reports the heap they take, per device: bytes/device for
// the whole (roster included), engine-bytes/device for the engine alone.
// "windows=1": each device sent 3 readings into one window. "steady": each
// device sent one reading per window for 90 s of event time, so the windows
// within the allowed lateness (60 s) are open, as in steady operation.
// "hopping=6": steady with 60 s windows every 10 s (size/step = 6): a device
// holds panes of 10 s, as many as steady's windows.
func BenchmarkMemoryPerDevice(b *testing.B) {
	const groups, perGroup = 1000, 100
	const n = groups * perGroup
	for _, tc := range []struct {
		name     string
		rounds   int
		step     time.Duration
		provided int // windows to see provisional after the last round
		before   time.Duration
		win      window.Config
	}{
		{name: "windows=1", rounds: 3, step: time.Second},
		// The last round (ts 90 s) moves the watermark to 88 s: windows up
		// to [70 s, 80 s) provisional, up to [10 s, 20 s) final and purged.
		{name: "steady", rounds: 10, step: 10 * time.Second, provided: 8, before: 80 * time.Second},
		// Windows from [-50 s, 10 s) (the oldest holding the first
		// reading) to [20 s, 80 s) provisional.
		{
			name: "hopping=6", rounds: 10, step: 10 * time.Second, provided: 8, before: 30 * time.Second,
			win: window.Config{Size: time.Minute, Step: 10 * time.Second},
		},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var total, engine float64
			for b.Loop() {
				runtime.GC()
				var m0, m1, m2 runtime.MemStats
				runtime.ReadMemStats(&m0)
				f := benchFleet(groups, perGroup, tc.step)
				roster := staleness.NewRoster(f)
				runtime.GC()
				runtime.ReadMemStats(&m1)

				em := newCountEmitter(benchBase.Add(tc.before), groups*2*tc.provided)
				if tc.provided == 0 {
					close(em.done)
				}
				be := startBenchEngineWindow(b, 0, f, em, tc.win)
				var buf []byte
				for round := range tc.rounds {
					ts := benchBase.Add(time.Duration(round) * tc.step)
					be.clock.Store(ts.Add(time.Second).UnixNano())
					for g := range groups {
						for d := range perGroup {
							buf = benchPayload(buf[:0], benchDevice(g, d), uint64(round+1), ts, 1000, 10)
							be.offer(ingest.Message{
								Kind: ingest.TopicTelemetry, Site: benchGroup(g), Device: benchID(g, d),
								Payload: slices.Clone(buf), Received: ts.Add(time.Second).UnixNano(),
							})
						}
					}
					be.drain()
				}
				<-em.done
				be.drain()
				runtime.GC()
				runtime.ReadMemStats(&m2)
				total += float64(m2.HeapAlloc-m0.HeapAlloc) / n
				engine += float64(m2.HeapAlloc-m1.HeapAlloc) / n
				runtime.KeepAlive(roster)
				be.stop(b)
				if got := testutil.ToFloat64(be.e.m.messages.WithLabelValues(OutcomeAccepted)); int(got) != n*tc.rounds {
					b.Fatalf("accepted %v of %d readings", got, n*tc.rounds)
				}
			}
			b.ReportMetric(total/float64(b.N), "bytes/device")
			b.ReportMetric(engine/float64(b.N), "engine-bytes/device")
		})
	}
}

// benchPartials returns the partials of shards workers over a group of
// devices with missing of them missing, as the shards build them.
func benchPartials(shards, devices, missing int) []Partial {
	r := rand.New(rand.NewPCG(3, 4))
	parts := make([]Partial, shards)
	for i := range parts {
		parts[i] = NewPartial("site-a", "power_kw", benchBase.UnixNano(), benchBase.Add(10*time.Second).UnixNano())
	}
	ids := make([]string, devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("wt-%05d", i)
	}
	isMissing := map[int]bool{}
	for _, i := range r.Perm(devices)[:missing] {
		isMissing[i] = true
	}
	for i, id := range ids {
		p := &parts[i%shards]
		if isMissing[i] {
			p.AddMissing(MissingDevice{Device: id, State: "silent", LastSeen: benchBase.UnixNano()}, 0, 3000, 1500, true, DefaultMaxMissingListed)
			continue
		}
		v := r.Float64() * 3000
		p.AddReported(v, v, v, false, 10, benchBase.Add(9*time.Second).UnixNano())
	}
	return parts
}

// BenchmarkMerge merges the shards' partials of one group, metric and
// window, as the coordinator does at every emission.
func BenchmarkMerge(b *testing.B) {
	for _, tc := range []struct{ shards, devices, missing int }{
		{2, 100, 0}, {2, 100, 10}, {8, 100, 10}, {8, 10_000, 1000},
	} {
		b.Run(fmt.Sprintf("shards=%d/devices=%d/missing=%d", tc.shards, tc.devices, tc.missing), func(b *testing.B) {
			parts := benchPartials(tc.shards, tc.devices, tc.missing)
			b.ReportAllocs()
			for b.Loop() {
				merged := parts[0]
				merged.Missing = slices.Clone(merged.Missing)
				for i := 1; i < len(parts); i++ {
					merged.Merge(&parts[i], DefaultMaxMissingListed)
				}
			}
		})
	}
}

// BenchmarkFinish turns a merged partial into the Aggregate resource.
func BenchmarkFinish(b *testing.B) {
	for _, missing := range []int{0, 10, 100} {
		b.Run(fmt.Sprint("missing=", missing), func(b *testing.B) {
			parts := benchPartials(1, 1000, missing)
			fi := FinishInfo{Watermark: benchBase.Add(12 * time.Second).UnixNano(), EmittedAt: benchBase.Add(12 * time.Second), MinCoverage: DefaultMinCoverage}
			b.ReportAllocs()
			for b.Loop() {
				parts[0].Finish(fi)
			}
		})
	}
}
