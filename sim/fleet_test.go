package sim_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
)

func example(t testing.TB, name string) Scenario {
	t.Helper()
	s, err := ExampleScenario(name)
	require.NoError(t, err)
	return s
}

// The same scenario and seed give the same messages and the same truth,
// byte for byte; another seed gives others.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	s := example(t, "chaos-mix")
	log := func(r result) []string {
		out := make([]string, len(r.msgs))
		for i, m := range r.msgs {
			out[i] = m.At.Format(time.RFC3339Nano) + " " + m.Kind.String() + " " + m.Topic + " " + string(m.Payload)
		}
		return out
	}
	a, b := runInProcess(t, s), runInProcess(t, s)
	require.Greater(t, len(a.msgs), 15000)
	require.Equal(t, log(a), log(b))
	require.Equal(t, string(a.raw), string(b.raw))

	s.Seed++
	c := runInProcess(t, s)
	require.NotEqual(t, log(a)[:100], log(c)[:100])
}

// The truth of a fault-free run is what the published messages say.
func TestTruthRecomputed(t *testing.T) {
	t.Parallel()
	s := example(t, "calm")
	s.Duration = time.Minute
	s.Sites = append(s.Sites, SiteSpec{
		Name: "plant", Kind: KindGeneric, Devices: 3, Interval: 3 * time.Second,
		Metrics: map[string]MetricModel{"temp_c": {Mean: 20, SD: 3, Min: ptr(-40.0), Max: ptr(80.0)}},
	})
	res := runInProcess(t, s)
	got, err := simtest.Recompute(res.msgs, DefaultTruthWindow, 0)
	require.NoError(t, err)
	simtest.SortWindows(res.truth.Windows)
	requireSameWindows(t, res.truth.Windows, got)
	require.Len(t, res.truth.Windows, 6*(2*2+1), "6 windows × (2 turbine sites × 2 metrics + 1 generic)")
	require.Equal(t, res.stats.Samples, res.truth.End.Samples)
	require.Equal(t, uint64(40*60+3*20), res.stats.Samples)
}

func ptr[T any](v T) *T { return &v }

// requireSameWindows compares truth windows, ignoring Partial and Expected.
func requireSameWindows(t *testing.T, want, got []TruthWindow) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, []any{w.Group, w.Metric, w.Start, w.End, w.Devices, w.Samples},
			[]any{g.Group, g.Metric, g.Start, g.End, g.Devices, g.Samples}, "window %d", i)
		for _, p := range [][2]float64{{w.Sum, g.Sum}, {w.Mean, g.Mean}, {w.Min, g.Min}, {w.Max, g.Max}} {
			require.InEpsilon(t, p[0]+1, p[1]+1, 1e-12, "window %d (%s %s %s)", i, w.Group, w.Metric, w.Start)
		}
	}
}

// Windows the run starts or ends in are partial; the others are full.
func TestTruthWindows(t *testing.T) {
	t.Parallel()
	s := Scenario{
		Duration: 25 * time.Second, Sites: []SiteSpec{{Name: "a", Devices: 4}},
		Truth: TruthSpec{Window: 10 * time.Second, Offset: 2 * time.Second},
	}
	var buf bytes.Buffer
	f, err := New(Config{
		Scenario: s, Speed: math.Inf(1), Start: testStart.Add(3 * time.Second), Truth: &buf,
		Deliver: func(Message) {},
	}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))
	truth, err := ReadTruth(&buf)
	require.NoError(t, err)
	require.Equal(t, "run", truth.Run.Type)
	require.Equal(t, testStart.Add(3*time.Second), truth.Run.Start)
	require.Equal(t, "10s", truth.Run.Window)
	var got []string
	for _, w := range truth.Windows {
		if w.Metric == MetricPower {
			got = append(got, w.Start.Sub(testStart).String()+" "+map[bool]string{true: "partial", false: "full"}[w.Partial])
			require.Equal(t, 4, w.Devices)
			require.Equal(t, 4, w.Expected)
		}
	}
	// Start 3 s, end 28 s, windows from 2 s, 12 s, 22 s.
	require.Equal(t, []string{"2s partial", "12s full", "22s partial"}, got)
	w, ok := truth.Window("a", MetricWind, testStart.Add(12*time.Second))
	require.True(t, ok)
	require.Equal(t, 40, w.Samples)
	require.InDelta(t, w.Sum/4, w.Mean, 1e-9)
	require.LessOrEqual(t, w.Min, w.Mean)
	require.GreaterOrEqual(t, w.Max, w.Mean)
	require.NotNil(t, truth.End)
	require.Equal(t, testStart.Add(28*time.Second), truth.End.End)
}

// At speed 1 the wire time is the wall time; at speed N simulated time runs
// N times as fast, starts in the past and ends at the wall clock.
func TestPacing(t *testing.T) {
	t.Parallel()
	for _, speed := range []float64{1, 10} {
		synctest.Test(t, func(t *testing.T) {
			s := Scenario{Duration: 20 * time.Second, Interval: 500 * time.Millisecond, Sites: []SiteSpec{{Name: "a", Devices: 3}}}
			wallStart := time.Now()
			var n int
			f, err := New(Config{Scenario: s, Speed: speed, Deliver: func(m Message) {
				now := time.Now()
				want := now.Add(-time.Duration(float64(s.Duration) * (1 - 1/speed)))
				want = want.Add(time.Duration(float64(now.Sub(wallStart)) * (speed - 1)))
				// Events go out at most a millisecond (of wall time) late.
				require.WithinDuration(t, want, m.At, time.Duration(speed)*time.Millisecond, "speed %v", speed)
				require.False(t, m.At.After(now), "simulated time never runs ahead of the clock")
				n++
			}}, nil)
			require.NoError(t, err)
			require.NoError(t, f.Run(t.Context()))
			require.Equal(t, time.Duration(float64(s.Duration)/speed), time.Since(wallStart), "the run takes duration/speed")
			require.Equal(t, 120, n)
			require.Zero(t, f.Stats().Lag)
		})
	}
}

// A run without a duration stops when its context ends: the truth ends there
// and its last window is partial.
func TestRunUntilStopped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		f, err := New(Config{
			Scenario: Scenario{
				Sites:  []SiteSpec{{Name: "a", Devices: 2}},
				Faults: []FaultSpec{{Kind: FaultSilent, Devices: []string{"wt-02"}, From: 4 * time.Second}},
			},
			Truth: &buf, Deliver: func(Message) {},
		}, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 15500*time.Millisecond)
		defer cancel()
		start := time.Now().UTC()
		require.NoError(t, f.Run(ctx))
		truth, err := ReadTruth(&buf)
		require.NoError(t, err)
		require.Equal(t, start.Add(15500*time.Millisecond), truth.End.End)
		last := truth.Windows[len(truth.Windows)-1]
		require.True(t, last.Partial)
		require.Len(t, truth.Faults, 1)
		require.Equal(t, truth.End.End, truth.Faults[0].To, "a fault in force ends with the run")
		require.Equal(t, uint64(12), truth.Faults[0].Messages, "wt-02's readings at 4.5 s … 15.5 s")
		st := f.Stats()
		require.Equal(t, uint64(32), st.Samples)
		require.Equal(t, uint64(20), st.Sent)
		require.Equal(t, uint64(12), st.Lost)
		require.Equal(t, truth.End.End, st.SimTime)
		require.Equal(t, map[FaultKind]uint64{FaultSilent: 12}, st.Faults)
	})
}

func TestRunTwiceAndOverlap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var boots []string
		block := make(chan struct{})
		f, err := New(Config{
			Scenario: Scenario{Duration: 2 * time.Second, Sites: []SiteSpec{{Name: "a", Devices: 1}}},
			Deliver: func(m Message) {
				tm, err := simtest.Decode(m.Payload)
				require.NoError(t, err)
				boots = append(boots, string(rune('0'+tm.Boot)))
				<-block
			},
		}, nil)
		require.NoError(t, err)
		done := make(chan error)
		go func() { done <- f.Run(t.Context()) }()
		synctest.Wait()
		require.ErrorIs(t, f.Run(t.Context()), ErrRunning)
		close(block)
		require.NoError(t, <-done)
		require.NoError(t, f.Run(t.Context()))
		require.Equal(t, []string{"1", "1", "2", "2"}, boots, "each run is a new boot")
	})
}

// With more held messages than MaxPending, the excess is dropped and counted.
func TestMaxPending(t *testing.T) {
	t.Parallel()
	f, err := New(Config{
		Scenario: faultScenario(FaultSpec{Kind: FaultDelay, Delay: time.Minute}), Speed: math.Inf(1),
		Start: testStart, MaxPending: 4, Deliver: func(Message) {},
	}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))
	st := f.Stats()
	require.Equal(t, uint64(6), st.Dropped)
	require.Equal(t, uint64(4), st.Unsent)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	calm := func() Config {
		return Config{BrokerURL: "tcp://127.0.0.1:1883", Scenario: Scenario{Sites: []SiteSpec{{Name: "a", Devices: 3}}}}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "deliver instead of a broker", mutate: func(c *Config) { c.BrokerURL, c.Deliver = "", func(Message) {} }},
		{name: "demo", mutate: func(c *Config) { *c = DemoConfig("tcp://localhost:1883") }},
		{name: "fast with a duration", mutate: func(c *Config) { c.Speed, c.Scenario.Duration = 10, time.Minute }},
		{name: "fast with a start", mutate: func(c *Config) { c.Speed, c.Start = 10, testStart }},
		{name: "no broker", mutate: func(c *Config) { c.BrokerURL = "" }, want: []string{"broker_url: required"}},
		{name: "broker without scheme", mutate: func(c *Config) { c.BrokerURL = "127.0.0.1:1883" }, want: []string{"broker_url:"}},
		{name: "negative speed", mutate: func(c *Config) { c.Speed = -1 }, want: []string{"speed:"}},
		{name: "NaN speed", mutate: func(c *Config) { c.Speed = math.NaN() }, want: []string{"speed:"}},
		{name: "infinite speed forever", mutate: func(c *Config) { c.Speed = math.Inf(1) }, want: []string{"speed: infinite"}},
		{name: "fast forever", mutate: func(c *Config) { c.Speed = 2 }, want: []string{"needs a duration"}},
		{name: "client id", mutate: func(c *Config) { c.ClientIDPrefix = "a b" }, want: []string{"client_id_prefix:"}},
		{name: "limits", mutate: func(c *Config) { c.MaxInflight, c.MaxPending = -1, -1 }, want: []string{"max_inflight:", "max_pending:"}},
		{name: "bad scenario", mutate: func(c *Config) { c.Scenario.Interval = time.Millisecond }, want: []string{"scenario: interval:"}},
		{name: "too many device connections", mutate: func(c *Config) {
			c.Scenario = Scenario{LastWill: true, Sites: []SiteSpec{{Name: "a", Devices: MaxDeviceConnections + 1}}}
		}, want: []string{"MaxDeviceConnections"}},
		{name: "device without a password", mutate: func(c *Config) {
			c.Scenario = Scenario{Sites: []SiteSpec{{Name: "a", Devices: 2}}}
			c.DevicePasswords = map[string]string{"a/wt-01": "x"}
		}, want: []string{"device_passwords: no password for a/wt-02"}},
		{name: "too many devices with passwords", mutate: func(c *Config) {
			c.Scenario = Scenario{Sites: []SiteSpec{{Name: "a", Devices: MaxDeviceConnections + 1}}}
			c.DevicePasswords = map[string]string{}
		}, want: []string{"device_passwords:", "MaxDeviceConnections"}},
		{name: "device connections over websockets", mutate: func(c *Config) {
			c.BrokerURL = "ws://127.0.0.1:8080"
			c.Scenario.Faults = []FaultSpec{{Kind: FaultOffline, Devices: []string{"wt-01"}}}
		}, want: []string{"need tcp://"}},
		{name: "every problem at once", mutate: func(c *Config) {
			c.BrokerURL, c.Speed, c.MaxInflight = "", -2, -1
		}, want: []string{"broker_url:", "speed:", "max_inflight:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := calm()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				_, err = New(cfg, nil)
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			_, err = New(cfg, nil)
			require.ErrorContains(t, err, "sim: config:")
		})
	}
}

func TestStartTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		start time.Duration // before the wall clock
	}{
		{name: "speed 1: now", cfg: Config{Scenario: Scenario{Duration: time.Minute}}},
		{name: "speed 4: ends at the clock", cfg: Config{Speed: 4, Scenario: Scenario{Duration: time.Minute}}, start: 45 * time.Second},
		{name: "infinite: ends at the clock", cfg: Config{Speed: math.Inf(1), Scenario: Scenario{Duration: time.Minute}}, start: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tt.cfg.Scenario.Sites = []SiteSpec{{Name: "a", Devices: 1}}
				tt.cfg.Deliver = func(Message) {}
				f, err := New(tt.cfg, nil)
				require.NoError(t, err)
				now := time.Now()
				require.NoError(t, f.Run(t.Context()))
				require.Equal(t, now.Add(-tt.start).UTC().Truncate(time.Millisecond), f.Stats().Start)
			})
		})
	}
	t.Run("explicit", func(t *testing.T) {
		t.Parallel()
		s := Scenario{Start: testStart, Duration: time.Second, Sites: []SiteSpec{{Name: "a", Devices: 1}}}
		res := runInProcess(t, s) // Config.Start (also testStart) wins; the scenario's is the fallback
		require.Equal(t, testStart, res.stats.Start)
		f, err := New(Config{Scenario: s, Speed: math.Inf(1), Deliver: func(Message) {}}, nil)
		require.NoError(t, err)
		require.NoError(t, f.Run(t.Context()))
		require.Equal(t, testStart, f.Stats().Start)
	})
}

// Every shipped scenario parses, runs, and injects what it scripts.
func TestExampleScenarios(t *testing.T) {
	t.Parallel()
	names := ExampleScenarios()
	require.Subset(t, names, []string{"calm", "one-silent", "partition-and-flush", "replaying-device", "chaos-mix", "spike", "demo"})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := example(t, name)
			if s.Duration == 0 || s.Duration > 2*time.Minute {
				s.Duration = 2 * time.Minute
			}
			if name == "scale-10k" {
				s.Duration = 12 * time.Second // 120,000 messages kept in memory are enough
			}
			res := runInProcess(t, s)
			require.NotEmpty(t, res.truth.Windows)
			kinds := map[FaultKind]bool{}
			for _, f := range res.truth.Faults {
				kinds[f.Fault] = true
			}
			want := map[FaultKind]bool{}
			for _, f := range s.Faults {
				if f.From < s.Duration {
					want[f.Kind] = true
				}
			}
			require.Equal(t, want, kinds)
		})
	}
	t.Run("chaos-mix has every fault kind", func(t *testing.T) {
		t.Parallel()
		var kinds []FaultKind
		for _, f := range example(t, "chaos-mix").Faults {
			if !slices.Contains(kinds, f.Kind) {
				kinds = append(kinds, f.Kind)
			}
		}
		require.ElementsMatch(t, FaultKinds(), kinds)
	})
	_, err := ExampleScenario("nope")
	require.ErrorIs(t, err, ErrUnknownScenario)
	require.ErrorContains(t, err, "calm")
}

func TestDemo(t *testing.T) {
	t.Parallel()
	require.Equal(t, example(t, "demo"), DemoScenario())
	cfg := DemoConfig("tcp://127.0.0.1:1883")
	require.NoError(t, cfg.Validate())
	f, err := New(cfg, nil)
	require.NoError(t, err)
	groups := f.Groups()
	require.Len(t, groups, 2)
	for gi, g := range groups {
		require.Equal(t, []string{"site-a", "site-b"}[gi], g.Name)
		require.Len(t, g.Devices, DemoDevicesPerSite)
		for i, d := range g.Devices {
			require.Equal(t, deviceID(gi*DemoDevicesPerSite+i+1), d)
		}
	}
	name := func(id string) string { return id[strings.IndexByte(id, '/')+1:] }
	require.Contains(t, groups[0].Devices, name(DemoSilentDevice))
	require.Contains(t, groups[1].Devices, name(DemoReplayDevice))
	require.Contains(t, groups[1].Devices, name(DemoPartitionDevice))
	require.Equal(t, DemoSilentDevice, DeviceID(groups[0].Name, name(DemoSilentDevice)), "the demo's devices are identities")
	require.Contains(t, string(DemoFleet), strings.Join(groups[0].Devices, ", "))

	// The demo's faults, in the first minute.
	s := DemoScenario()
	s.Duration = time.Minute
	res := runInProcess(t, s)
	var got []string
	for _, f := range res.truth.Faults {
		got = append(got, string(f.Fault)+" "+f.Device+" "+f.From.Sub(testStart).String()+" "+f.To.Sub(testStart).String())
	}
	require.Equal(t, []string{"partition site-b/wt-25 20s 50s", "silent site-a/wt-07 3s 1m0s", "replay site-b/wt-32 10s 1m0s"}, got)
}

func deviceID(n int) string { return "wt-" + string(rune('0'+n/10)) + string(rune('0'+n%10)) }
