package sim_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
)

// faultScenario is one site of two turbines, wt-01 (readings at 0 s, 1 s, …)
// and wt-02 (at 0.5 s, 1.5 s, …), for 10 s, with fault f on wt-01.
func faultScenario(f FaultSpec) Scenario {
	if f.Devices == nil && f.Fraction == 0 && f.Count == 0 {
		f.Devices = []string{"wt-01"}
	}
	return Scenario{
		Name: "fault", Duration: 10 * time.Second, Sites: []SiteSpec{{Name: "s", Devices: 2}},
		Faults: []FaultSpec{f},
	}
}

// seqs returns the readings 0 s … 9 s of wt-01 as described, with their seq
// equal to their index + 1, sent on time, optionally with a fault suffix.
func onTime(from, to int, suffix string) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("@%ds seq=%d boot=1 ts=%ds%s", i, i+1, i, suffix))
	}
	return out
}

func TestFaultsExactSequences(t *testing.T) {
	t.Parallel()
	s := time.Second
	tests := []struct {
		name  string
		fault FaultSpec
		want  []string // wt-01's messages, described
		// record checks the fault's truth record.
		record func(t *testing.T, r TruthFault)
	}{
		{
			name:  "silent: readings lost, seq goes on, no will",
			fault: FaultSpec{Kind: FaultSilent, From: 3 * s, To: 6 * s},
			want:  slices.Concat(onTime(0, 2, ""), onTime(6, 9, "")),
			record: func(t *testing.T, r TruthFault) {
				require.Equal(t, uint64(3), r.Messages)
				require.Equal(t, testStart.Add(3*s), r.From)
				require.Equal(t, testStart.Add(6*s), r.To)
			},
		},
		{
			name:  "offline: will at from, birth at to",
			fault: FaultSpec{Kind: FaultOffline, From: 3 * s, To: 6 * s},
			want: slices.Concat([]string{"@0s birth online"}, onTime(0, 2, ""), []string{"@3s will offline", "@6s birth online"},
				onTime(6, 9, "")),
		},
		{
			name:  "partition: nothing, then the buffer at to, in order, before the next reading",
			fault: FaultSpec{Kind: FaultPartition, From: 3 * s, To: 6 * s},
			want: slices.Concat(onTime(0, 2, ""), []string{
				"@6s seq=4 boot=1 ts=3s [partition]", "@6s seq=5 boot=1 ts=4s [partition]", "@6s seq=6 boot=1 ts=5s [partition]",
			}, onTime(6, 9, "")),
		},
		{
			name:  "partition flushing at 2/s",
			fault: FaultSpec{Kind: FaultPartition, From: 3 * s, To: 6 * s, FlushRate: 2},
			want: slices.Concat(onTime(0, 2, ""), []string{
				"@6s seq=4 boot=1 ts=3s [partition]", "@6s seq=7 boot=1 ts=6s",
				"@6.5s seq=5 boot=1 ts=4s [partition]",
				"@7s seq=6 boot=1 ts=5s [partition]", "@7s seq=8 boot=1 ts=7s",
			}, onTime(8, 9, "")),
		},
		{
			name:  "partition buffer full: the oldest are dropped",
			fault: FaultSpec{Kind: FaultPartition, From: 3 * s, To: 7 * s, Buffer: 2},
			want: slices.Concat(onTime(0, 2, ""), []string{
				"@7s seq=6 boot=1 ts=5s [partition]", "@7s seq=7 boot=1 ts=6s [partition]",
			}, onTime(7, 9, "")),
		},
		{
			name:  "delay: every reading 2.5 s late; the last two are still held at the end",
			fault: FaultSpec{Kind: FaultDelay, Delay: 2500 * time.Millisecond},
			want: []string{
				"@2.5s seq=1 boot=1 ts=0s [delay]", "@3.5s seq=2 boot=1 ts=1s [delay]", "@4.5s seq=3 boot=1 ts=2s [delay]",
				"@5.5s seq=4 boot=1 ts=3s [delay]", "@6.5s seq=5 boot=1 ts=4s [delay]", "@7.5s seq=6 boot=1 ts=5s [delay]",
				"@8.5s seq=7 boot=1 ts=6s [delay]", "@9.5s seq=8 boot=1 ts=7s [delay]",
			},
		},
		{
			name:  "duplicate: the same payload twice more",
			fault: FaultSpec{Kind: FaultDuplicate, Copies: 2, From: 8 * s},
			want: slices.Concat(onTime(0, 7, ""), onTime(8, 8, " [duplicate]"), onTime(8, 8, " [duplicate]"),
				onTime(8, 8, " [duplicate]"), onTime(9, 9, " [duplicate]"), onTime(9, 9, " [duplicate]"),
				onTime(9, 9, " [duplicate]")),
			record: func(t *testing.T, r TruthFault) { require.Equal(t, uint64(4), r.Messages) },
		},
		{
			name:  "replay: the last reading before from, every 2 s",
			fault: FaultSpec{Kind: FaultReplay, From: 2 * s, Every: 2 * s},
			want: []string{
				"@0s seq=1 boot=1 ts=0s", "@1s seq=2 boot=1 ts=1s", "@2s seq=3 boot=1 ts=2s", "@3s seq=4 boot=1 ts=3s",
				"@4s seq=2 boot=1 ts=1s [replay]", "@4s seq=5 boot=1 ts=4s", "@5s seq=6 boot=1 ts=5s",
				"@6s seq=2 boot=1 ts=1s [replay]", "@6s seq=7 boot=1 ts=6s", "@7s seq=8 boot=1 ts=7s",
				"@8s seq=2 boot=1 ts=1s [replay]", "@8s seq=9 boot=1 ts=8s", "@9s seq=10 boot=1 ts=9s",
			},
			record: func(t *testing.T, r TruthFault) {
				require.Equal(t, uint64(3), r.Messages)
				require.Equal(t, "2s", r.Every)
				require.NotNil(t, r.ReplayTS)
				require.Equal(t, testStart.Add(s), *r.ReplayTS)
			},
		},
		{
			name:  "replay from the start: the first reading",
			fault: FaultSpec{Kind: FaultReplay, Every: 4 * s},
			want: []string{
				"@0s seq=1 boot=1 ts=0s", "@1s seq=2 boot=1 ts=1s", "@2s seq=3 boot=1 ts=2s", "@3s seq=4 boot=1 ts=3s",
				"@4s seq=1 boot=1 ts=0s [replay]", "@4s seq=5 boot=1 ts=4s", "@5s seq=6 boot=1 ts=5s",
				"@6s seq=7 boot=1 ts=6s", "@7s seq=8 boot=1 ts=7s",
				"@8s seq=1 boot=1 ts=0s [replay]", "@8s seq=9 boot=1 ts=8s", "@9s seq=10 boot=1 ts=9s",
			},
		},
		{
			name:  "clock skew: timestamps 30 s ahead",
			fault: FaultSpec{Kind: FaultClockSkew, Skew: 30 * s, From: 7 * s},
			want: slices.Concat(onTime(0, 6, ""), []string{
				"@7s seq=8 boot=1 ts=37s [clock_skew]", "@8s seq=9 boot=1 ts=38s [clock_skew]", "@9s seq=10 boot=1 ts=39s [clock_skew]",
			}),
		},
		{
			name:  "clock skew behind",
			fault: FaultSpec{Kind: FaultClockSkew, Skew: -1500 * time.Millisecond, From: 8 * s},
			want: slices.Concat(onTime(0, 7, ""), []string{
				"@8s seq=9 boot=1 ts=6.5s [clock_skew]", "@9s seq=10 boot=1 ts=7.5s [clock_skew]",
			}),
		},
		{
			name:  "clock jump: an hour ahead from 6 s on, for good",
			fault: FaultSpec{Kind: FaultClockJump, Jump: time.Hour, From: 6 * s},
			want: slices.Concat(onTime(0, 5, ""), []string{
				"@6s seq=7 boot=1 ts=1h0m6s [clock_jump]", "@7s seq=8 boot=1 ts=1h0m7s [clock_jump]",
				"@8s seq=9 boot=1 ts=1h0m8s [clock_jump]", "@9s seq=10 boot=1 ts=1h0m9s [clock_jump]",
			}),
			record: func(t *testing.T, r TruthFault) {
				require.Equal(t, uint64(4), r.Messages)
				require.Equal(t, "1h0m0s", r.Jump)
			},
		},
		{
			name:  "clock jump back 90 s",
			fault: FaultSpec{Kind: FaultClockJump, Jump: -90 * s, From: 8 * s},
			want: slices.Concat(onTime(0, 7, ""), []string{
				"@8s seq=9 boot=1 ts=-1m22s [clock_jump]", "@9s seq=10 boot=1 ts=-1m21s [clock_jump]",
			}),
		},
		{
			name:  "reorder: blocks of 3, shuffled, never in order",
			fault: FaultSpec{Kind: FaultReorder, Window: 3, From: 3 * s, To: 8 * s},
			want: slices.Concat(onTime(0, 2, ""), []string{
				"@5s seq=4 boot=1 ts=3s [reorder]", "@5s seq=6 boot=1 ts=5s [reorder]", "@5s seq=5 boot=1 ts=4s [reorder]",
				// The fault ends with two held: they go out at its end, shuffled.
				"@8s seq=8 boot=1 ts=7s [reorder]", "@8s seq=7 boot=1 ts=6s [reorder]",
			}, onTime(8, 9, "")),
		},
		{
			name:  "burst: four times the rate, back on the grid after",
			fault: FaultSpec{Kind: FaultBurst, Factor: 4, From: 2 * s, To: 3 * s},
			want: []string{
				"@0s seq=1 boot=1 ts=0s", "@1s seq=2 boot=1 ts=1s",
				"@2s seq=3 boot=1 ts=2s [burst]", "@2.25s seq=4 boot=1 ts=2.25s [burst]",
				"@2.5s seq=5 boot=1 ts=2.5s [burst]", "@2.75s seq=6 boot=1 ts=2.75s [burst]",
				"@3s seq=7 boot=1 ts=3s", "@4s seq=8 boot=1 ts=4s", "@5s seq=9 boot=1 ts=5s", "@6s seq=10 boot=1 ts=6s",
				"@7s seq=11 boot=1 ts=7s", "@8s seq=12 boot=1 ts=8s", "@9s seq=13 boot=1 ts=9s",
			},
			record: func(t *testing.T, r TruthFault) { require.Equal(t, uint64(4), r.Messages) },
		},
		{
			name:  "burst from mid-interval: on the finer grid from from",
			fault: FaultSpec{Kind: FaultBurst, Factor: 4, From: 2400 * time.Millisecond, To: 4100 * time.Millisecond},
			want: []string{
				"@0s seq=1 boot=1 ts=0s", "@1s seq=2 boot=1 ts=1s", "@2s seq=3 boot=1 ts=2s",
				"@2.5s seq=4 boot=1 ts=2.5s [burst]", "@2.75s seq=5 boot=1 ts=2.75s [burst]",
				"@3s seq=6 boot=1 ts=3s [burst]", "@3.25s seq=7 boot=1 ts=3.25s [burst]",
				"@3.5s seq=8 boot=1 ts=3.5s [burst]", "@3.75s seq=9 boot=1 ts=3.75s [burst]",
				"@4s seq=10 boot=1 ts=4s [burst]", "@5s seq=11 boot=1 ts=5s", "@6s seq=12 boot=1 ts=6s",
				"@7s seq=13 boot=1 ts=7s", "@8s seq=14 boot=1 ts=8s", "@9s seq=15 boot=1 ts=9s",
			},
		},
		{
			name:  "malformed: four kinds of broken payload in turn",
			fault: FaultSpec{Kind: FaultMalformed, From: 5 * s},
			want: slices.Concat(onTime(0, 4, ""), []string{
				"@5s bad payload (46 bytes) [malformed]", "@6s bad payload (15 bytes) [malformed]",
				"@7s bad payload (50 bytes) [malformed]", "@8s bad payload (101 bytes) [malformed]",
				"@9s bad payload (47 bytes) [malformed]",
			}),
		},
		{
			name:  "oversize",
			fault: FaultSpec{Kind: FaultOversize, Size: 5000, From: 8 * s},
			want:  slices.Concat(onTime(0, 7, ""), onTime(8, 9, " [oversize]")),
		},
		{
			name:  "spoof: a second message on wt-02's topic naming wt-01",
			fault: FaultSpec{Kind: FaultSpoof, From: 8 * s},
			want: slices.Concat(onTime(0, 7, ""), []string{
				"@8s seq=9 boot=1 ts=8s", "@8s on s/wt-02 device=s/wt-01 seq=9 boot=1 ts=8s [spoof]",
				"@9s seq=10 boot=1 ts=9s", "@9s on s/wt-02 device=s/wt-01 seq=10 boot=1 ts=9s [spoof]",
			}),
			record: func(t *testing.T, r TruthFault) { require.Equal(t, "s/wt-02", r.Target) },
		},
		{
			name:  "reboot with downtime: down, then boot 2 from seq 1",
			fault: FaultSpec{Kind: FaultReboot, From: 4 * s, Downtime: 2 * s},
			want: slices.Concat(onTime(0, 3, ""), []string{
				"@6s seq=1 boot=2 ts=6s", "@7s seq=2 boot=2 ts=7s", "@8s seq=3 boot=2 ts=8s", "@9s seq=4 boot=2 ts=9s",
			}),
			record: func(t *testing.T, r TruthFault) {
				require.Equal(t, uint64(2), r.Boot)
				require.Equal(t, testStart.Add(4*s), r.From)
				require.Equal(t, testStart.Add(6*s), r.To)
			},
		},
		{
			name:  "instant reboot",
			fault: FaultSpec{Kind: FaultReboot, From: 8 * s},
			want:  slices.Concat(onTime(0, 7, ""), []string{"@8s seq=1 boot=2 ts=8s", "@9s seq=2 boot=2 ts=9s"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runInProcess(t, faultScenario(tt.fault))
			require.Equal(t, tt.want, of(res.msgs, "s/wt-01", testStart))
			// wt-02 is untouched (but for what a spoof puts on its topic).
			require.Equal(t, 10, countTelemetry(res.msgs, "s/wt-02"))
			require.Len(t, res.truth.Faults, 1)
			r := res.truth.Faults[0]
			require.Equal(t, tt.fault.Kind, r.Fault)
			require.Equal(t, "s/wt-01", r.Device)
			require.Equal(t, "s", r.Group)
			if tt.record != nil {
				tt.record(t, r)
			}
			// Faults never change the truth, except a burst's extra samples.
			want := 20
			if tt.fault.Kind == FaultBurst {
				want = 10 + len(tt.want)
			}
			require.Equal(t, want, res.truth.Windows[0].Samples)
			require.Equal(t, 2, res.truth.Windows[0].Devices)
		})
	}
}

// countTelemetry counts device's own telemetry messages.
func countTelemetry(msgs []Message, device string) int {
	n := 0
	for _, m := range msgs {
		if m.Device == device && m.Kind == MessageTelemetry && strings.Contains(m.Topic, "/"+device+"/") {
			n++
		}
	}
	return n
}

func TestFaultJitter(t *testing.T) {
	t.Parallel()
	res := runInProcess(t, faultScenario(FaultSpec{Kind: FaultJitter, Jitter: 3 * time.Second}))
	var seqs []uint64
	for _, m := range res.msgs {
		if m.Device != "s/wt-01" {
			continue
		}
		tm, err := simtest.Decode(m.Payload)
		require.NoError(t, err)
		delay := m.At.Sub(tm.TS)
		require.True(t, delay >= 0 && delay < 3*time.Second, "delay %s", delay)
		require.True(t, m.Faults.Has(FaultJitter))
		seqs = append(seqs, tm.Seq)
	}
	require.False(t, slices.IsSorted(seqs), "jitter above the interval reorders: %v", seqs)
	require.Equal(t, uint64(10), res.stats.Unsent+uint64(len(seqs)))
}

func TestFaultProbability(t *testing.T) {
	t.Parallel()
	s := faultScenario(FaultSpec{Kind: FaultDuplicate, Probability: 0.5})
	s.Duration = 1000 * time.Second
	res := runInProcess(t, s)
	dups := res.stats.Faults[FaultDuplicate]
	require.InDelta(t, 500, dups, 60, "about half of 1000 readings are duplicated")
	require.Equal(t, 1000+int(dups), countTelemetry(res.msgs, "s/wt-01"))
}

// The payloads malformed, oversize and spoof produce are rejected by
// rollcall's decoder with the reasons bad_json, too_large and spoofed.
func TestFaultPayloadsAreRejected(t *testing.T) {
	t.Parallel()
	s := faultScenario(FaultSpec{})
	s.Faults = []FaultSpec{
		{Kind: FaultMalformed, Devices: []string{"wt-01"}},
		{Kind: FaultOversize, Devices: []string{"wt-02"}, From: 5 * time.Second},
		{Kind: FaultSpoof, Devices: []string{"wt-02"}},
	}
	res := runInProcess(t, s)
	dec := ingest.NewDecoder(ingest.Limits{})
	reasons := map[FaultKind]map[string]int{}
	for _, m := range res.msgs {
		levels := strings.Split(m.Topic, "/")
		var r ingest.Reading
		err := dec.Decode(levels[1], levels[2], m.Payload, testStart.Add(time.Hour).UnixNano(), &r)
		for _, k := range []FaultKind{FaultMalformed, FaultOversize, FaultSpoof} {
			if m.Faults.Has(k) {
				if reasons[k] == nil {
					reasons[k] = map[string]int{}
				}
				reasons[k][ingest.ReasonOf(err)]++
			}
		}
		if m.Faults == 0 {
			require.NoError(t, err, "an intact reading decodes: %s", m.Payload)
		}
	}
	require.Equal(t, map[FaultKind]map[string]int{
		FaultMalformed: {ingest.ReasonBadJSON: 10},
		FaultOversize:  {ingest.ReasonTooLarge: 5},
		FaultSpoof:     {ingest.ReasonSpoofed: 10},
	}, reasons)
}

// Faults picked by fraction and count are stable for a seed and differ
// between seeds.
func TestFaultPicks(t *testing.T) {
	t.Parallel()
	pick := func(seed int64) []string {
		s := Scenario{
			Seed: seed, Duration: time.Second, Sites: []SiteSpec{{Name: "a", Devices: 50}, {Name: "b", Devices: 50}},
			Faults: []FaultSpec{{Kind: FaultSilent, Fraction: 0.1, Sites: []string{"b"}}, {Kind: FaultDuplicate, Count: 3}},
		}
		res := runInProcess(t, s)
		var out []string
		for _, f := range res.truth.Faults {
			out = append(out, string(f.Fault)+":"+f.Device)
			if f.Fault == FaultSilent {
				require.Equal(t, "b", f.Group)
			}
		}
		return out
	}
	a := pick(1)
	require.Len(t, a, 5+3)
	require.Equal(t, a, pick(1))
	require.NotEqual(t, a, pick(2))
}
