package dedup

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

const sec = int64(time.Second)

// t0 is 2026-11-22T10:00:00Z in Unix ns.
const t0 = int64(1_795_341_600) * sec

func seqReading(boot, seq uint64, ts int64) *ingest.Reading {
	return &ingest.Reading{
		Device: "wt-01", Boot: boot, Seq: seq, HasSeq: true, TS: ts,
		Metrics: []ingest.Metric{{Name: "power_kw", Value: float64(seq)}},
	}
}

func hashReading(ts int64, metrics ...ingest.Metric) *ingest.Reading {
	return &ingest.Reading{Device: "wt-01", TS: ts, Metrics: metrics}
}

func pw(v float64) ingest.Metric { return ingest.Metric{Name: "power_kw", Value: v} }

// msg is one reading of a verdict table and the verdict expected for it.
type msg struct {
	boot, seq uint64
	ts        float64 // seconds after t0
	want      Verdict
}

func ts(x float64) int64 { return t0 + int64(x*float64(sec)) }

func TestCheckSeq(t *testing.T) {
	t.Parallel()
	// Window 64 and replay.min_age 5 s throughout.
	tests := []struct {
		name string
		msgs []msg
	}{
		{"first is fresh", []msg{{1, 10, 0, Fresh}}},
		{"first with seq 0 and boot 0", []msg{{0, 0, 0, Fresh}, {0, 0, 0, Duplicate}}},
		{"ahead slides", []msg{{1, 10, 0, Fresh}, {1, 11, 1, Fresh}, {1, 50, 2, Fresh}, {1, 73, 3, Fresh}}},
		{
			"out of order inside the window is fresh",
			[]msg{{1, 20, 2, Fresh}, {1, 15, 1, Fresh}, {1, 18, 1.5, Fresh}, {1, 19, 1.9, Fresh}, {1, 16, 1.2, Fresh}},
		},
		{
			"oldest seq inside the window is fresh",
			// top 100: 37 is 63 behind, inside a window of 64.
			[]msg{{1, 100, 10, Fresh}, {1, 37, 9, Fresh}},
		},
		{
			"behind the window is a replay",
			// top 100: 36 is 64 behind, outside a window of 64.
			[]msg{{1, 100, 10, Fresh}, {1, 36, 10, Replay}, {1, 0, 10, Replay}},
		},
		{"immediate repeat is a duplicate", []msg{{1, 20, 10, Fresh}, {1, 20, 10, Duplicate}, {1, 20, 10, Duplicate}}},
		{
			"repeat of an out-of-order reading is a duplicate",
			[]msg{{1, 20, 10, Fresh}, {1, 18, 9, Fresh}, {1, 18, 9, Duplicate}, {1, 19, 9.5, Fresh}},
		},
		{
			"repeat within min_age of the newest is a duplicate",
			[]msg{{1, 1, 0, Fresh}, {1, 2, 5, Fresh}, {1, 1, 0, Duplicate}},
		},
		{
			"repeat older than min_age is a replay",
			[]msg{{1, 1, 0, Fresh}, {1, 2, 5.5, Fresh}, {1, 1, 0, Replay}},
		},
		{
			"replayed old reading keeps being a replay",
			[]msg{{1, 1, 0, Fresh}, {1, 2, 10, Fresh}, {1, 3, 20, Fresh}, {1, 1, 0, Replay}, {1, 1, 0, Replay}, {1, 1, 0, Replay}},
		},
		{
			"age is measured from the newest fresh event time, not the last",
			// seq 3 is an out-of-order reading with an old ts: the newest stays 10 s.
			[]msg{{1, 1, 4, Fresh}, {1, 4, 10, Fresh}, {1, 3, 1, Fresh}, {1, 1, 4, Replay}},
		},
		{
			"a rejected message does not move the newest event time",
			// The duplicate of seq 2 claims ts 100 s; the newest stays 1 s.
			[]msg{{1, 1, 0, Fresh}, {1, 2, 1, Fresh}, {1, 2, 100, Duplicate}, {1, 1, 0, Duplicate}},
		},
		{
			"older boot is a replay",
			[]msg{{2, 5, 0, Fresh}, {1, 6, 1, Replay}, {1, 1000, 2, Replay}, {0, 0, 3, Replay}, {2, 6, 4, Fresh}},
		},
		{
			"newer boot resets",
			[]msg{
				{1, 500, 0, Fresh},
				{1, 501, 1, Fresh},
				{2, 1, 2, Fresh}, // seq restarts low: not behind anything
				{2, 2, 3, Fresh},
				{1, 502, 4, Replay}, // the old boot is over
				{2, 1, 2, Duplicate},
				{2, 500, 5, Fresh}, // the old boot's seqs are not remembered
			},
		},
		{
			"newer boot with a gap in boot numbers",
			[]msg{{1, 7, 0, Fresh}, {9, 7, 1, Fresh}, {9, 7, 1, Duplicate}, {5, 8, 2, Replay}},
		},
		{
			"jump of exactly the width clears the window",
			// Seqs 5..10 seen; 74 is 64 ahead of 10: the bitmap is cleared, so
			// 69 (which reuses 5's slot) is fresh, and 10 is now behind.
			[]msg{
				{1, 5, 0, Fresh},
				{1, 6, 0, Fresh},
				{1, 7, 0, Fresh},
				{1, 8, 0, Fresh},
				{1, 9, 0, Fresh},
				{1, 10, 0, Fresh},
				{1, 74, 1, Fresh},
				{1, 69, 1, Fresh},
				{1, 11, 1, Fresh},
				{1, 73, 1, Fresh},
				{1, 10, 0, Replay},
				{1, 74, 1, Duplicate},
				{1, 69, 1, Duplicate},
			},
		},
		{
			"huge jump clears the window",
			[]msg{{1, 5, 0, Fresh}, {1, 1 << 40, 1, Fresh}, {1, 1<<40 - 59, 1, Fresh}, {1, 5, 1, Replay}},
		},
		{
			"slide shorter than the width frees recycled slots",
			// Seqs 5..10 seen, then 71 (61 ahead): the window is 8..71. 69 and 70
			// reuse the slots of 5 and 6 and are unseen; 8..10 are still seen;
			// 7 is behind.
			[]msg{
				{1, 5, 0, Fresh},
				{1, 6, 0, Fresh},
				{1, 7, 0, Fresh},
				{1, 8, 0, Fresh},
				{1, 9, 0, Fresh},
				{1, 10, 0, Fresh},
				{1, 71, 1, Fresh},
				{1, 69, 1, Fresh},
				{1, 70, 1, Fresh},
				{1, 11, 1, Fresh},
				{1, 68, 1, Fresh},
				{1, 8, 0, Duplicate},
				{1, 9, 0, Duplicate},
				{1, 10, 0, Duplicate},
				{1, 7, 0, Replay},
				{1, 72, 1, Fresh},
				{1, 8, 0, Replay},
			},
		},
	}
	cfg := Config{Window: 64}.WithDefaults()
	rc := ReplayConfig{}.WithDefaults() // min_age 5 s
	require.NoError(t, cfg.Validate())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st State
			for i, m := range tt.msgs {
				got := st.Check(&cfg, &rc, seqReading(m.boot, m.seq, ts(m.ts)), 0)
				require.Equal(t, m.want, got, "message %d (boot %d, seq %d, ts %v s)", i, m.boot, m.seq, m.ts)
			}
		})
	}
}

func TestCheckHash(t *testing.T) {
	t.Parallel()
	type hmsg struct {
		ts      float64
		metrics []ingest.Metric
		want    Verdict
	}
	two := []ingest.Metric{pw(1500), {Name: "wind_ms", Value: 11.2}}
	tests := []struct {
		name  string
		slots int
		msgs  []hmsg
	}{
		{"first is fresh", 0, []hmsg{{0, []ingest.Metric{pw(1)}, Fresh}}},
		{"same ts and metrics is a duplicate", 0, []hmsg{{0, two, Fresh}, {0, two, Duplicate}}},
		{"different value is fresh", 0, []hmsg{{0, []ingest.Metric{pw(1)}, Fresh}, {0, []ingest.Metric{pw(2)}, Fresh}}},
		{
			"different metric name is fresh", 0,
			[]hmsg{{0, []ingest.Metric{pw(1)}, Fresh}, {0, []ingest.Metric{{Name: "wind_ms", Value: 1}}, Fresh}},
		},
		{"extra metric is fresh", 0, []hmsg{{0, two[:1], Fresh}, {0, two, Fresh}}},
		{"different ts is fresh", 0, []hmsg{{0, two, Fresh}, {1, two, Fresh}, {0, two, Duplicate}}},
		{"no metrics", 0, []hmsg{{0, nil, Fresh}, {0, nil, Duplicate}}},
		{
			"old repeat is a replay", 0,
			[]hmsg{{0, []ingest.Metric{pw(1)}, Fresh}, {10, []ingest.Metric{pw(2)}, Fresh}, {0, []ingest.Metric{pw(1)}, Replay}},
		},
		{
			"ring evicts the oldest after HashSlots", 2,
			[]hmsg{
				{0, []ingest.Metric{pw(1)}, Fresh}, // A
				{1, []ingest.Metric{pw(2)}, Fresh}, // B
				{2, []ingest.Metric{pw(3)}, Fresh}, // C evicts A
				{1, []ingest.Metric{pw(2)}, Duplicate},
				{2, []ingest.Metric{pw(3)}, Duplicate},
				{0, []ingest.Metric{pw(1)}, Fresh}, // A was forgotten; now evicts B
				{1, []ingest.Metric{pw(2)}, Fresh}, // B was forgotten; now evicts C
				{0, []ingest.Metric{pw(1)}, Duplicate},
			},
		},
		{
			"one slot", 1,
			[]hmsg{{0, []ingest.Metric{pw(1)}, Fresh}, {0, []ingest.Metric{pw(1)}, Duplicate}, {1, []ingest.Metric{pw(1)}, Fresh}, {0, []ingest.Metric{pw(1)}, Fresh}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{HashSlots: tt.slots}.WithDefaults()
			rc := ReplayConfig{}.WithDefaults() // min_age 5 s
			var st State
			for i, m := range tt.msgs {
				require.Equal(t, m.want, st.Check(&cfg, &rc, hashReading(ts(m.ts), m.metrics...), 0), "message %d", i)
			}
		})
	}
}

func TestCheckHashDefaultSlots(t *testing.T) {
	t.Parallel()
	// 64 slots: the 64th distinct reading back is remembered, the 65th is not.
	cfg := Config{}.WithDefaults()
	rc := ReplayConfig{}.WithDefaults() // min_age 5 s
	var st State
	for i := range 65 {
		require.Equal(t, Fresh, st.Check(&cfg, &rc, hashReading(ts(0), pw(float64(i))), 0))
	}
	require.Equal(t, Duplicate, st.Check(&cfg, &rc, hashReading(ts(0), pw(1)), 0), "second reading is still in the ring")
	require.Equal(t, Fresh, st.Check(&cfg, &rc, hashReading(ts(0), pw(0)), 0), "first reading was evicted by the 65th")
}

// TestCheckRedeliveryAndInterval covers the two rules on top of the bitmap:
// an already-seen message the broker redelivered (DUP flag) is a Redelivery
// whatever its age, and the duplicate/replay boundary widens to three
// learned intervals for a slow device.
func TestCheckRedeliveryAndInterval(t *testing.T) {
	t.Parallel()
	cfg := Config{Window: 64}.WithDefaults()
	rc := ReplayConfig{}.WithDefaults() // min_age 5 s
	dup := func(r *ingest.Reading) *ingest.Reading { r.Redelivered = true; return r }
	tests := []struct {
		name     string
		interval time.Duration
		msgs     []*ingest.Reading
		want     []Verdict
	}{
		{
			"a first delivery flagged DUP is fresh", 0,
			[]*ingest.Reading{dup(seqReading(1, 1, ts(0)))},
			[]Verdict{Fresh},
		},
		{
			"a recent redelivery is not the device's duplicate", 0,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), dup(seqReading(1, 1, ts(0)))},
			[]Verdict{Fresh, Redelivery},
		},
		{
			"an old redelivery is not the device's replay", 0,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), seqReading(1, 2, ts(60)), dup(seqReading(1, 1, ts(0)))},
			[]Verdict{Fresh, Fresh, Redelivery},
		},
		{
			"a redelivery from an older boot is not a replay either", 0,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), seqReading(2, 1, ts(1)), dup(seqReading(1, 1, ts(0)))},
			[]Verdict{Fresh, Fresh, Redelivery},
		},
		{
			"without seq too", 0,
			[]*ingest.Reading{hashReading(ts(0), pw(1)), dup(hashReading(ts(0), pw(1)))},
			[]Verdict{Fresh, Redelivery},
		},
		{
			"6 s behind with a 1 s interval is a replay", time.Second,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), seqReading(1, 2, ts(6)), seqReading(1, 1, ts(0))},
			[]Verdict{Fresh, Fresh, Replay},
		},
		{
			"6 s behind with a 10 s interval is a duplicate (30 s boundary)", 10 * time.Second,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), seqReading(1, 2, ts(10)), seqReading(1, 1, ts(0))},
			[]Verdict{Fresh, Fresh, Duplicate},
		},
		{
			"31 s behind with a 10 s interval is a replay", 10 * time.Second,
			[]*ingest.Reading{seqReading(1, 1, ts(0)), seqReading(1, 2, ts(31)), seqReading(1, 1, ts(0))},
			[]Verdict{Fresh, Fresh, Replay},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st State
			for i, r := range tt.msgs {
				require.Equal(t, tt.want[i], st.Check(&cfg, &rc, r, tt.interval), "message %d", i)
			}
		})
	}
	require.Equal(t, 5*time.Second, rc.MinAgeFor(time.Second))
	require.Equal(t, 30*time.Second, rc.MinAgeFor(10*time.Second))
}

func TestContentHash(t *testing.T) {
	t.Parallel()
	a := []ingest.Metric{pw(1), {Name: "wind_ms", Value: 2}}
	require.Equal(t, ContentHash(a), ContentHash(slices.Clone(a)), "deterministic")
	require.NotEqual(t, ContentHash(a), ContentHash([]ingest.Metric{pw(1), {Name: "wind_ms", Value: 3}}))
	require.NotEqual(t, ContentHash(a), ContentHash([]ingest.Metric{pw(1), {Name: "wind_mt", Value: 2}}))
	require.NotEqual(t, ContentHash(a), ContentHash(a[:1]))
}

func TestVerdictString(t *testing.T) {
	t.Parallel()
	for v, want := range map[Verdict]string{Fresh: "fresh", Duplicate: "duplicate", Replay: "replay", Redelivery: "redelivery", 7: "unknown"} {
		require.Equal(t, want, v.String())
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, Config{Window: 1024, HashSlots: 64}, Config{}.WithDefaults())
	require.Equal(t, Config{Window: 128, HashSlots: 3}, Config{Window: 128, HashSlots: 3}.WithDefaults())

	tests := []struct {
		name string
		cfg  Config
		want []string // nil: valid
	}{
		{"defaults", Config{}.WithDefaults(), nil},
		{"smallest", Config{Window: 64, HashSlots: 1}, nil},
		{"largest", Config{Window: 1 << 20, HashSlots: 1 << 16}, nil},
		{"window zero", Config{Window: 0, HashSlots: 1}, []string{"dedup.window"}},
		{"window below 64", Config{Window: 32, HashSlots: 1}, []string{"dedup.window"}},
		{"window not a multiple of 64", Config{Window: 100, HashSlots: 1}, []string{"dedup.window"}},
		{"window 65", Config{Window: 65, HashSlots: 1}, []string{"dedup.window"}},
		{"window too large", Config{Window: 1<<20 + 64, HashSlots: 1}, []string{"dedup.window"}},
		{"window negative", Config{Window: -64, HashSlots: 1}, []string{"dedup.window"}},
		{"hash slots zero", Config{Window: 64}, []string{"dedup.hash_slots"}},
		{"hash slots too many", Config{Window: 64, HashSlots: 1<<16 + 1}, []string{"dedup.hash_slots"}},
		{"everything", Config{Window: 1, HashSlots: -1}, []string{"dedup.window", "dedup.hash_slots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, s := range tt.want {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

// TestCheckProperty delivers N messages of one boot with seq 1..N, reordered
// by less than the window width, with redeliveries of already delivered
// messages mixed in: every message is accepted exactly once, no first
// delivery is rejected, and a redelivery is a duplicate when its event time is
// within replay.min_age of the newest accepted one (a replay otherwise).
func TestCheckProperty(t *testing.T) {
	t.Parallel()
	for _, width := range []int{64, 1024} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("width=%d/seed=%d", width, seed), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(seed, uint64(width)))
				cfg := Config{Window: width}.WithDefaults()
				rc := ReplayConfig{}.WithDefaults() // min_age 5 s
				const n = 5000
				// Sorting by seq + U[0, width-1) displaces a message by less than
				// width-1: whenever s arrives, every seq already seen is below
				// s+width-1, so s is never behind the window.
				type key struct {
					seq uint64
					k   float64
				}
				order := make([]key, n)
				for i := range order {
					s := uint64(i + 1)
					order[i] = key{s, float64(s) + rng.Float64()*float64(width-1)}
				}
				slices.SortFunc(order, func(a, b key) int {
					if a.k < b.k {
						return -1
					}
					if a.k > b.k {
						return 1
					}
					return 0
				})
				// 100 ms between readings: min_age is 50 seqs.
				tsOf := func(seq uint64) int64 { return t0 + int64(seq)*int64(100*time.Millisecond) }

				var st State
				accepted := make(map[uint64]int, n)
				var delivered []uint64
				var newest, top uint64 // independent model: newest ts (as seq) and highest seq accepted
				var dups, replays int
				for _, o := range order {
					// A redelivery of a random, already delivered message, 30 % of the time.
					for len(delivered) > 0 && rng.IntN(10) < 3 {
						d := delivered[rng.IntN(len(delivered))]
						got := st.Check(&cfg, &rc, seqReading(7, d, tsOf(d)), 0)
						want := Duplicate
						if top-d >= uint64(width) || tsOf(newest)-tsOf(d) > int64(rc.MinAge) {
							want = Replay
						}
						require.Equal(t, want, got, "redelivery of seq %d (top %d, newest %d)", d, top, newest)
						if got == Duplicate {
							dups++
						} else {
							replays++
						}
					}
					got := st.Check(&cfg, &rc, seqReading(7, o.seq, tsOf(o.seq)), 0)
					require.Equal(t, Fresh, got, "first delivery of seq %d (top %d)", o.seq, top)
					accepted[o.seq]++
					delivered = append(delivered, o.seq)
					top = max(top, o.seq)
					newest = max(newest, o.seq)
				}
				require.Len(t, accepted, n)
				for s, c := range accepted {
					require.Equal(t, 1, c, "seq %d", s)
				}
				require.Positive(t, dups, "the test exercised duplicates")
				require.Positive(t, replays, "the test exercised replays")
			})
		}
	}
}

// FuzzDedup interprets its input as a sequence of readings of one device and
// checks the invariants of the anti-replay window:
//   - Check never panics;
//   - once a (boot, seq) has been Fresh it is never Fresh again: it stays
//     seen while inside the window and is a replay once behind it or once a
//     newer boot started;
//   - a reading from a boot newer than every boot seen so far is Fresh, and
//     so is a seq above every seq accepted in the current boot;
//   - Check is idempotent: the same reading checked again right away is never
//     Fresh, and a rejected one gets the same verdict again.
func FuzzDedup(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 1, 2, 0, 0, 1, 1, 0, 0})
	f.Add([]byte{1, 100, 0, 0, 1, 30, 0, 0, 1, 36, 0, 1, 0, 1, 0, 0})
	f.Add([]byte{2, 5, 0, 0, 1, 5, 0, 0, 3, 0, 0, 0, 2, 5, 0, 0})
	f.Add([]byte{0x41, 0, 0, 9, 1, 4, 0, 200, 0x81, 1, 2, 3, 0x81, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		cfg := Config{Window: 64, HashSlots: 4}.WithDefaults()
		rc := ReplayConfig{}.WithDefaults() // min_age 5 s
		var st State
		type pair struct{ boot, seq uint64 }
		fresh := map[pair]bool{}
		var (
			started      bool
			maxBoot, top uint64 // newest boot, and highest fresh seq in it
		)
		for len(data) >= 4 {
			op := data[:4]
			data = data[4:]
			r := &ingest.Reading{Device: "d", TS: t0 + int64(int8(op[3]))*sec}
			if op[0]&0x80 != 0 {
				r.Metrics = []ingest.Metric{{Name: "m", Value: float64(op[1])}}
			} else {
				r.HasSeq = true
				r.Boot = uint64(op[0] & 3)
				r.Seq = uint64(binary.LittleEndian.Uint16(op[1:3])) % 512
				if op[0]&0x40 != 0 {
					r.Seq += uint64(op[3]) << 48 // large jumps
				}
			}
			got := st.Check(&cfg, &rc, r, 0)
			again := st.Check(&cfg, &rc, r, 0)
			require.NotEqual(t, Fresh, again, "the same reading twice in a row")
			if got != Fresh {
				require.Equal(t, got, again, "a rejected reading is rejected the same way again")
			}
			if !r.HasSeq {
				continue
			}
			p := pair{r.Boot, r.Seq}
			switch {
			case !started || r.Boot > maxBoot:
				require.Equal(t, Fresh, got, "first reading of a new boot %+v", p)
				started, maxBoot, top = true, r.Boot, r.Seq
			case r.Boot == maxBoot && r.Seq > top:
				require.Equal(t, Fresh, got, "seq ahead of the window %+v (top %d)", p, top)
				top = r.Seq
			case r.Boot < maxBoot:
				require.Equal(t, Replay, got, "older boot %+v (boot %d)", p, maxBoot)
			}
			if got == Fresh {
				require.False(t, fresh[p], "%+v was fresh twice", p)
				fresh[p] = true
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	cfg := Config{}.WithDefaults()
	rc := ReplayConfig{}.WithDefaults() // min_age 5 s
	metrics := []ingest.Metric{pw(1523.4), {Name: "wind_ms", Value: 11.2}, {Name: "energy_kwh", Value: 123456}}
	run := func(b *testing.B, next func(i uint64) *ingest.Reading) {
		b.Helper()
		var st State
		var i uint64
		b.ReportAllocs()
		for b.Loop() {
			i++
			st.Check(&cfg, &rc, next(i), 0)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/verdict")
	}
	b.Run("seq/in_order", func(b *testing.B) {
		r := ingest.Reading{HasSeq: true, Boot: 1, Metrics: metrics}
		run(b, func(i uint64) *ingest.Reading { r.Seq, r.TS = i, t0+int64(i)*sec; return &r })
	})
	b.Run("seq/reordered", func(b *testing.B) {
		// Pairs swapped: 2, 1, 4, 3, ...
		r := ingest.Reading{HasSeq: true, Boot: 1, Metrics: metrics}
		run(b, func(i uint64) *ingest.Reading { r.Seq = i ^ 1; r.TS = t0 + int64(r.Seq)*sec; return &r })
	})
	b.Run("seq/gaps", func(b *testing.B) {
		// Every other seq lost: each slide clears one slot.
		r := ingest.Reading{HasSeq: true, Boot: 1, Metrics: metrics}
		run(b, func(i uint64) *ingest.Reading { r.Seq, r.TS = 2*i, t0+int64(i)*sec; return &r })
	})
	b.Run("seq/duplicate", func(b *testing.B) {
		r := ingest.Reading{HasSeq: true, Boot: 1, Seq: 1, TS: t0, Metrics: metrics}
		run(b, func(uint64) *ingest.Reading { return &r })
	})
	b.Run("hash/fresh", func(b *testing.B) {
		r := ingest.Reading{Metrics: metrics}
		run(b, func(i uint64) *ingest.Reading { r.TS = t0 + int64(i)*sec; return &r })
	})
	b.Run("hash/duplicate", func(b *testing.B) {
		r := ingest.Reading{TS: t0, Metrics: metrics}
		run(b, func(uint64) *ingest.Reading { return &r })
	})
	b.Run("memory", func(b *testing.B) {
		const devices = 100_000
		r := ingest.Reading{HasSeq: true, Boot: 1, Seq: 1, TS: t0, Metrics: metrics}
		var perDevice float64
		for b.Loop() {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.HeapAlloc
			states := make([]State, devices)
			for i := range states {
				states[i].Check(&cfg, &rc, &r, 0)
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			perDevice = float64(ms.HeapAlloc-before) / devices
			runtime.KeepAlive(states)
		}
		b.ReportMetric(perDevice, "bytes/device")
	})
}
