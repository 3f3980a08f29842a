package scenario

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api/apiclient"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
	"github.com/rollcall-iot/rollcall/staleness"
)

// The shape of every scenario: two sites of five turbines (site-a wt-01 …
// wt-05, site-b wt-06 … wt-10) reporting every 250 ms, scored in 2 s windows.
const (
	testWindow   = 2 * time.Second
	testInterval = 250 * time.Millisecond
	// testLateness is the allowed lateness unless a scenario needs more: it
	// covers the delays, jitter and clock skew of the scenarios below.
	testLateness = 10 * time.Second
	// testIdle lets a group's watermark (and so the final windows) advance
	// soon after the simulator stops; it is longer than the simulator may
	// fall behind the clock on a loaded machine, so that readings sent late
	// are late, not too late.
	testIdle = 5 * time.Second
	// pollEvery is how often the device resources are sampled during a run.
	pollEvery = 200 * time.Millisecond
	// relTol is the relative tolerance of "exact": sums of the same inputs
	// added in another order.
	relTol = 1e-9
)

// fleet returns a scenario of two sites of five turbines reporting every
// testInterval for d, its truth in testWindow windows, with faults.
func fleet(t *testing.T, name string, d time.Duration, faults ...sim.FaultSpec) sim.Scenario {
	t.Helper()
	s := sim.Scenario{
		Name: name, Seed: 1, Duration: d, Interval: testInterval,
		Truth: sim.TruthSpec{Window: testWindow},
		Sites: []sim.SiteSpec{{Name: "site-a", Devices: 5}, {Name: "site-b", Devices: 5}},
		// Physics as the shipped scenarios have it; set explicitly so the
		// scoring below does not depend on the defaults.
		Turbine: sim.TurbineSpec{RatedKW: 3000, RampKWPerS: 200},
		Faults:  faults,
	}.WithDefaults()
	require.NoError(t, s.Validate(), "scenario %s", name)
	return s
}

// env is one gateway, in process, with its embedded broker on a random
// port, its roster the scenario's fleet file.
type env struct {
	t    *testing.T
	s    sim.Scenario
	cfg  gateway.Config
	gw   *gatewaytest.Gateway
	api  *apiclient.Client
	base string
	logs *testserver.LogBuffer
	// passwords are the devices' credentials (sim.Config.DevicePasswords)
	// when the broker authenticates them; nil otherwise.
	passwords map[string]string

	pollMu sync.Mutex
	polls  []poll
}

// poll is one sample of every device resource.
type poll struct {
	at      time.Time
	devices map[string]aggregate.DeviceInfo
}

// newEnv starts a gateway for s; mutate adjusts its configuration. It stops
// in t.Cleanup, and its log is printed if the test failed.
func newEnv(t *testing.T, s sim.Scenario, mutate func(*gateway.Config)) *env {
	t.Helper()
	fleetYAML, err := s.FleetFile()
	require.NoError(t, err)
	fleetPath := gatewaytest.FleetFile(t, fleetYAML)
	// The gateway's physics must be the simulator's: power within the
	// rating, ramping at most the turbines' ramp rate.
	fl, err := staleness.LoadFleet(fleetPath)
	require.NoError(t, err)
	power := staleness.NewRoster(fl).Metric("site-a/wt-01", sim.MetricPower)
	require.Equal(t, []float64{0, s.Turbine.RatedKW, s.Turbine.RampKWPerS}, []float64{power.Min, power.Max, power.MaxRatePerS},
		"power_kw envelope in the fleet file")

	cfg := gatewaytest.Config(t)
	cfg.Fleet = fleetPath
	cfg.MQTT.ClientID = "rollcall-scenario-" + s.Name
	cfg.Window.Size = s.Truth.Window
	cfg.Window.AllowedLateness = testLateness
	cfg.Window.IdleTimeout = testIdle
	// Keep every revision: the scores cover each emitted aggregate.
	cfg.Store.MaxRevisions = 1000
	if mutate != nil {
		mutate(&cfg)
	}
	e := &env{t: t, s: s, logs: &testserver.LogBuffer{}}
	// Registered before the gateway's own cleanup, so run after it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of scenario %s (last lines):\n%s", s.Name, e.logs.Tail(150))
		}
	})
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.gw = gatewaytest.Start(t, cfg, gatewaytest.WithLogger(log.With("scenario", s.Name)))
	e.cfg = e.gw.Config
	e.base = e.gw.URL
	e.api, err = apiclient.New(e.base, apiclient.Options{Timeout: 10 * time.Second})
	require.NoError(t, err)
	return e
}

// result is what a run produced: the truth, the simulator's counts, every
// message the broker got (in order, At their simulated send time, or their
// arrival at a subscriber), and the
// simulated (= wall clock, at speed 1) start and end.
type result struct {
	truth      *sim.Truth
	stats      sim.Stats
	msgs       []sim.Message
	start, end time.Time
	// aggs holds every revision of every window, by group and metric,
	// oldest window first, revisions in order.
	aggs map[series][]aggregate.Aggregate
}

type series struct{ group, metric string }

// run runs the scenario in real time against the gateway, sampling the
// device resources, then waits until every window of the run is final and
// fetches the whole revision history. What the broker got is the same run
// again, delivered in process at infinite speed: a run is deterministic
// given its scenario and start (docs/simulator.md), and a subscriber of its
// own would double the broker's work.
//
// With record, a subscriber records what the broker delivers instead (At is
// then the arrival time): for scenarios where a publish may fail with the
// message still delivered or not (a device connection cut under a publish
// awaiting its acknowledgement: the offline fault).
func (e *env) run(record bool) *result {
	t := e.t
	t.Helper()
	var rec *simtest.Recorder
	if record {
		filter := "fleet/#"
		if e.s.Format == sim.FormatSparkplug {
			filter = "spBv1.0/#"
		}
		rec = simtest.Record(t, e.gw.MQTTURL, filter)
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	var truth bytes.Buffer
	simLog := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := sim.New(sim.Config{
		BrokerURL: e.gw.MQTTURL, Scenario: e.s, Speed: 1, Start: start, Truth: &truth,
		ClientIDPrefix: "sim-" + e.s.Name, DevicePasswords: e.passwords,
	}, simLog.With("component", "sim"))
	require.NoError(t, err)

	pollCtx, stopPolls := context.WithCancel(t.Context())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		e.pollDevices(pollCtx)
	}()
	defer func() {
		stopPolls()
		<-polled
	}()

	require.NoError(t, f.Run(t.Context()), "simulator run %s", e.s.Name)
	st := f.Stats()
	// A publish fails when its device's connection is cut while it awaits
	// its acknowledgement (offline), or when the acknowledgement is late on
	// a loaded machine; the broker may have it all the same. With record,
	// the subscriber says what the broker delivered; otherwise the wire
	// assumes the broker got every message.
	require.LessOrEqual(t, st.Failed, uint64(20), "failed publishes in %s", e.s.Name)
	if st.Failed > 0 {
		t.Logf("%s: %d publishes failed or were unconfirmed when the run stopped", e.s.Name, st.Failed)
	}
	if st.Lag > time.Second {
		t.Logf("%s: the simulator fell %v behind schedule (machine overloaded?)", e.s.Name, st.Lag)
	}
	tr, err := sim.ReadTruth(&truth)
	require.NoError(t, err)
	require.NotNil(t, tr.End, "truth of %s has its end record", e.s.Name)
	r := &result{truth: tr, stats: st, start: tr.Run.Start, end: tr.End.End}
	if record {
		want := st.Sent + st.Status - st.Failed
		require.Eventually(t, func() bool { return uint64(rec.Len()) >= want },
			30*time.Second, 50*time.Millisecond, "%s: the published messages reach a subscriber (want %d)", e.s.Name, want)
		time.Sleep(time.Second) // a failed publish the broker got after all
		r.msgs = rec.Messages()
		r.aggs = e.history(r)
		return r
	}

	again, err := sim.New(sim.Config{
		Scenario: e.s, Speed: math.Inf(1), Start: start,
		Deliver: func(m sim.Message) { r.msgs = append(r.msgs, m) },
	}, nil)
	require.NoError(t, err)
	require.NoError(t, again.Run(t.Context()))
	require.Equal(t, st.Sent, again.Stats().Sent, "%s: the replayed run sends what the live one sent", e.s.Name)
	r.aggs = e.history(r)
	return r
}

// pollDevices samples every device resource until ctx is done.
func (e *env) pollDevices(ctx context.Context) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		devs, err := e.api.Devices(ctx, "", "")
		if err != nil {
			continue
		}
		p := poll{at: at, devices: make(map[string]aggregate.DeviceInfo, len(devs))}
		for _, d := range devs {
			p.devices[d.ID] = d
		}
		e.pollMu.Lock()
		e.polls = append(e.polls, p)
		e.pollMu.Unlock()
	}
}

// samples returns the device samples taken so far.
func (e *env) samples() []poll {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	return slices.Clone(e.polls)
}

// scored returns the truth windows that are scored: every group and metric
// window of the run that the run did not start or stop inside.
func (r *result) scored() []sim.TruthWindow {
	var out []sim.TruthWindow
	for _, w := range r.truth.Windows {
		if !w.Partial {
			out = append(out, w)
		}
	}
	return out
}

// history waits until every scored window is final in the API (allowed
// lateness after the run, plus the idle timeout), then returns every
// revision of every window of the run.
func (e *env) history(r *result) map[series][]aggregate.Aggregate {
	t := e.t
	t.Helper()
	want := map[series][]time.Time{}
	for _, w := range r.scored() {
		k := series{w.Group, w.Metric}
		want[k] = append(want[k], w.Start)
	}
	require.NotEmpty(t, want, "%s: the truth has windows to score", e.s.Name)
	from, to := r.start.Add(-time.Minute), r.end.Add(time.Minute)
	wait := e.cfg.Window.AllowedLateness + e.cfg.Window.IdleTimeout + 2*e.cfg.Window.Size + 30*time.Second
	var missing []string
	ok := waitFor(t.Context(), wait, 500*time.Millisecond, func() bool {
		missing = missing[:0]
		for k, starts := range want {
			aggs, err := e.api.History(t.Context(), apiclient.HistoryQuery{Group: k.group, Metric: k.metric, From: from, To: to})
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s/%s: %v", k.group, k.metric, err))
				continue
			}
			final := map[int64]bool{}
			for _, a := range aggs {
				if a.Final {
					final[a.Window.Start.UnixNano()] = true
				}
			}
			for _, s := range starts {
				if !final[s.UnixNano()] {
					missing = append(missing, fmt.Sprintf("%s/%s %s", k.group, k.metric, s.Format("15:04:05")))
				}
			}
		}
		return len(missing) == 0
	})
	require.True(t, ok, "%s: windows not final %v after the run: %v", e.s.Name, wait, missing)
	out := map[series][]aggregate.Aggregate{}
	for k := range want {
		aggs, err := e.api.History(t.Context(), apiclient.HistoryQuery{Group: k.group, Metric: k.metric, From: from, To: to, AllRevisions: true})
		require.NoError(t, err)
		out[k] = aggs
	}
	return out
}

// revisions returns every revision of the window of group and metric that
// starts at start, in emission order.
func (r *result) revisions(group, metric string, start time.Time) []aggregate.Aggregate {
	var out []aggregate.Aggregate
	for _, a := range r.aggs[series{group, metric}] {
		if a.Window.Start.Equal(start) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b aggregate.Aggregate) int { return a.Revision - b.Revision })
	return out
}

// fault returns the truth's record of fault kind on device.
func (r *result) fault(kind sim.FaultKind, device string) (sim.TruthFault, bool) {
	for _, f := range r.truth.Faults {
		if f.Fault == kind && f.Device == device {
			return f, true
		}
	}
	return sim.TruthFault{}, false
}

// device returns the device resource now.
func (e *env) device(id string) aggregate.DeviceInfo {
	e.t.Helper()
	d, err := e.api.Device(e.t.Context(), id)
	require.NoError(e.t, err)
	return d
}

// futureLimit is how far ahead of its arrival a stamp may be and be
// accepted: limits.max_future_skew, plus liveness.clock_max_correction when
// clock correction is on (the stamp is then corrected, not rejected).
func (e *env) futureLimit() time.Duration {
	if e.cfg.Liveness.Correcting() {
		return e.cfg.Limits.MaxFutureSkew + e.cfg.Liveness.ClockMaxCorrection
	}
	return e.cfg.Limits.MaxFutureSkew
}

// waitFor polls cond every step until it holds or d passes.
func waitFor(ctx context.Context, d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(step)
	}
}

const sec = time.Second

func one(d string) []string { return []string{d} }
