package sim_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
)

// wireRun runs s against the broker at url at speed, records everything on
// fleet/#, and returns it once every message the fleet sent has arrived.
func wireRun(t *testing.T, url string, s Scenario, speed float64) ([]Message, *Truth, Stats) {
	t.Helper()
	rec := simtest.Record(t, url, "fleet/#")
	var buf bytes.Buffer
	f, err := New(Config{BrokerURL: url, Scenario: s, Speed: speed, Truth: &buf},
		slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))
	st := f.Stats()
	require.Zero(t, st.Failed)
	require.Eventually(t, func() bool { return uint64(rec.Len()) >= st.Sent+st.Status },
		15*time.Second, 20*time.Millisecond, "every message arrives (QoS 1): want %d", st.Sent+st.Status)
	truth, err := ReadTruth(&buf)
	require.NoError(t, err)
	return rec.Messages(), truth, st
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// wireScenario puts every fault kind on its own turbine of one site, for
// 30 s (wt-17: clock_jump); wt-15 and wt-16 are healthy and serve as the clock on the wire.
func wireScenario() Scenario {
	s := time.Second
	one := func(d string) []string { return []string{d} }
	return Scenario{
		Name: "wire", Duration: 30 * s, Sites: []SiteSpec{{Name: "s", Devices: 17}},
		Faults: []FaultSpec{
			{Kind: FaultSilent, Devices: one("wt-01"), From: 10 * s, To: 20 * s},
			{Kind: FaultOffline, Devices: one("wt-02"), From: 10 * s, To: 20 * s},
			{Kind: FaultPartition, Devices: one("wt-03"), From: 10 * s, To: 20 * s},
			{Kind: FaultDelay, Devices: one("wt-04"), Delay: 5 * s},
			{Kind: FaultJitter, Devices: one("wt-05"), Jitter: 3 * s},
			{Kind: FaultDuplicate, Devices: one("wt-06")},
			{Kind: FaultReplay, Devices: one("wt-07"), From: 5 * s, Every: 3 * s},
			{Kind: FaultClockSkew, Devices: one("wt-08"), Skew: 20 * s},
			{Kind: FaultReorder, Devices: one("wt-09"), Window: 4},
			{Kind: FaultBurst, Devices: one("wt-10"), Factor: 5, From: 10 * s, To: 20 * s},
			{Kind: FaultMalformed, Devices: one("wt-11"), From: 25 * s},
			{Kind: FaultOversize, Devices: one("wt-12"), From: 25 * s},
			{Kind: FaultSpoof, Devices: one("wt-13"), From: 25 * s, Target: "wt-14"},
			{Kind: FaultReboot, Devices: one("wt-14"), From: 15 * s, Downtime: 2 * s},
			{Kind: FaultClockJump, Devices: one("wt-17"), From: 12 * s, Jump: -90 * s},
		},
	}
}

// arrival is a message as received, with the simulated time the wire showed
// when it arrived: the newest timestamp of the healthy devices so far.
type arrival struct {
	Message
	tm     simtest.Telemetry
	ok     bool          // the payload decodes
	clock  time.Duration // since the start
	topic  string        // the device of the topic
	reason string        // rollcall's reject reason, "" when accepted
}

func arrivals(msgs []Message, start time.Time) map[string][]arrival {
	out := map[string][]arrival{}
	dec := ingest.NewDecoder(ingest.Limits{MaxFutureSkew: time.Hour})
	var clock time.Duration
	for _, m := range msgs {
		a := arrival{Message: m, topic: strings.Split(m.Topic, "/")[2]}
		var err error
		a.tm, err = simtest.Decode(m.Payload)
		a.ok = err == nil && a.tm.Metrics != nil
		if m.Kind == MessageTelemetry {
			var r ingest.Reading
			a.reason = ingest.ReasonOf(dec.Decode("s", ingest.ID("s", a.topic), m.Payload, time.Now().UnixNano(), &r))
		}
		if a.ok && (a.topic == "wt-15" || a.topic == "wt-16") {
			clock = max(clock, a.tm.TS.Sub(start))
		}
		a.clock = clock
		out[a.topic] = append(out[a.topic], a)
	}
	return out
}

func at(a arrival, start time.Time) time.Duration { return a.tm.TS.Sub(start) }

// checkFaultsOnTheWire checks that each fault of wireScenario shows on the
// wire as a broker's subscriber sees it.
func checkFaultsOnTheWire(t *testing.T, url string) {
	s := time.Second
	const tol = 1500 * time.Millisecond // the wire clock runs up to an interval behind
	msgs, truth, st := wireRun(t, url, wireScenario(), 10)
	start := truth.Run.Start
	byDev := arrivals(msgs, start)
	telemetry := func(dev string) []arrival {
		var out []arrival
		for _, a := range byDev[dev] {
			if a.Kind == MessageTelemetry && a.Device == DeviceID("s", dev) || a.Kind == MessageTelemetry && a.Device == "" {
				out = append(out, a)
			}
		}
		return out
	}
	tsIn := func(a arrival, from, to time.Duration) bool { return at(a, start) >= from && at(a, start) < to }

	t.Run("silent: a gap, and no will", func(t *testing.T) {
		got := telemetry("wt-01")
		require.Len(t, got, 20)
		for _, a := range got {
			require.False(t, tsIn(a, 10*s, 20*s), "ts %s", at(a, start))
			require.Empty(t, a.reason)
		}
	})
	t.Run("offline: the Last Will arrives, then the birth", func(t *testing.T) {
		var events []string
		for _, a := range byDev["wt-02"] {
			switch a.Kind {
			case MessageWill, MessageBirth:
				events = append(events, string(a.Payload))
				want := map[string]time.Duration{"offline": 10 * s, "online": 20 * s}[string(a.Payload)]
				if events[len(events)-1] != "online" || len(events) > 1 { // the first birth is at the start
					require.InDelta(t, want, a.clock, float64(tol), "%s at wire time %s", a.Payload, a.clock)
				}
				require.True(t, strings.HasSuffix(a.Topic, "/wt-02/status"))
			default:
				require.False(t, tsIn(a, 10*s, 20*s))
			}
		}
		require.Equal(t, []string{"online", "offline", "online"}, events)
	})
	t.Run("partition: nothing, then a burst of old timestamps", func(t *testing.T) {
		got := telemetry("wt-03")
		require.Len(t, got, 30)
		var seqs []uint64
		firstLate := -1
		for i, a := range got {
			seqs = append(seqs, a.tm.Seq)
			if tsIn(a, 10*s, 20*s) {
				if firstLate < 0 {
					firstLate = i
				}
				require.GreaterOrEqual(t, a.clock, 20*s-tol, "buffered ts %s arrived at wire time %s", at(a, start), a.clock)
				require.Equal(t, firstLate+int(at(a, start)/s)-10, i, "the flushed readings arrive together, in order")
			}
		}
		require.True(t, slices.IsSorted(seqs))
	})
	t.Run("delay", func(t *testing.T) {
		for _, a := range telemetry("wt-04") {
			require.InDelta(t, 5*s, a.clock-at(a, start), float64(tol))
		}
	})
	t.Run("jitter: late and out of order", func(t *testing.T) {
		var seqs []uint64
		for _, a := range telemetry("wt-05") {
			seqs = append(seqs, a.tm.Seq)
			require.Less(t, a.clock-at(a, start), 3*s+tol)
		}
		require.False(t, slices.IsSorted(seqs))
	})
	t.Run("duplicate: every payload twice", func(t *testing.T) {
		n := map[string]int{}
		for _, a := range telemetry("wt-06") {
			n[string(a.Payload)]++
		}
		require.Len(t, n, 30)
		for p, c := range n {
			require.Equal(t, 2, c, p)
		}
	})
	t.Run("replay: the same payload every 3 s", func(t *testing.T) {
		n := map[string][]time.Duration{}
		for _, a := range telemetry("wt-07") {
			n[string(a.Payload)] = append(n[string(a.Payload)], a.clock)
		}
		var replayed []time.Duration
		for _, clocks := range n {
			if len(clocks) > 1 {
				require.Nil(t, replayed, "one payload is replayed")
				replayed = clocks
			}
		}
		require.Len(t, replayed, 1+8, "the original and replays at 8 s, 11 s, …, 29 s")
		for i := 2; i < len(replayed); i++ {
			require.InDelta(t, 3*s, replayed[i]-replayed[i-1], float64(tol))
		}
	})
	t.Run("clock skew: timestamps 20 s ahead of the wire", func(t *testing.T) {
		for _, a := range telemetry("wt-08") {
			require.InDelta(t, 20*s, at(a, start)-a.clock, float64(tol))
		}
	})
	t.Run("clock jump: on the wire's time until 12 s, 90 s behind from then on", func(t *testing.T) {
		n := 0
		for _, a := range telemetry("wt-17") {
			want := time.Duration(0)
			if a.clock >= 12*s {
				want = -90 * s
			}
			require.InDelta(t, float64(want), float64(at(a, start)-a.clock), float64(tol), "seq %d", a.tm.Seq)
			n++
		}
		require.Equal(t, 30, n)
	})
	t.Run("reorder", func(t *testing.T) {
		var seqs []uint64
		for _, a := range telemetry("wt-09") {
			seqs = append(seqs, a.tm.Seq)
		}
		require.Len(t, seqs, 28, "blocks of 4; the last two are held at the end")
		require.False(t, slices.IsSorted(seqs))
	})
	t.Run("burst: five times the readings", func(t *testing.T) {
		in := 0
		for _, a := range telemetry("wt-10") {
			if tsIn(a, 10*s, 20*s) {
				in++
			}
		}
		require.Equal(t, 50, in)
	})
	t.Run("malformed, oversize, spoof: rejected by rollcall", func(t *testing.T) {
		reasons := map[string]map[string]int{}
		for _, dev := range []string{"wt-11", "wt-12", "wt-14"} {
			reasons[dev] = map[string]int{}
			for _, a := range byDev[dev] {
				if a.Kind == MessageTelemetry {
					reasons[dev][a.reason]++
				}
			}
		}
		require.Equal(t, map[string]int{"": 25, ingest.ReasonBadJSON: 5}, reasons["wt-11"])
		require.Equal(t, map[string]int{"": 25, ingest.ReasonTooLarge: 5}, reasons["wt-12"])
		// wt-14's topic: its own 28 readings (2 lost to its reboot), and wt-13's 5 spoofs.
		require.Equal(t, map[string]int{"": 28, ingest.ReasonSpoofed: 5}, reasons["wt-14"])
	})
	t.Run("reboot: boot 2 from seq 1", func(t *testing.T) {
		var got []string
		for _, a := range telemetry("wt-14") {
			if a.tm.Device == "" {
				got = append(got, fmt.Sprintf("%d/%d", a.tm.Boot, a.tm.Seq))
			}
		}
		require.Equal(t, "1/15", got[14])
		require.Equal(t, "2/1", got[15])
		require.Equal(t, "2/13", got[27])
	})
	t.Run("the truth lists every fault", func(t *testing.T) {
		var kinds []FaultKind
		for _, f := range truth.Faults {
			kinds = append(kinds, f.Fault)
		}
		require.ElementsMatch(t, FaultKinds(), kinds)
		require.Equal(t, st.Samples, truth.End.Samples)
	})
}

func TestIntegrationFaultsOnTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded MQTT broker")
	}
	t.Parallel()
	checkFaultsOnTheWire(t, simtest.Broker(t))
}

func TestIntegrationFaultsOnMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto")
	}
	t.Parallel()
	checkFaultsOnTheWire(t, testserver.Mosquitto(t).URL)
}

// The truth of a fault-free run is what a subscriber of the broker receives.
func TestIntegrationTruthRecomputed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded MQTT broker")
	}
	t.Parallel()
	s := example(t, "calm")
	s.Duration = 30 * time.Second
	msgs, truth, st := wireRun(t, simtest.Broker(t), s, 10)
	require.Equal(t, uint64(len(msgs)), st.Sent)
	got, err := simtest.Recompute(msgs, DefaultTruthWindow, 0)
	require.NoError(t, err)
	simtest.SortWindows(truth.Windows)
	requireSameWindows(t, truth.Windows, got)
	require.Equal(t, 40*30, int(truth.End.Samples))
}
