package aggregate

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// counterScenario is an hour of metered turbines: three alone in their
// site (one turbine per group: the group's sum is the turbine's increase)
// and a farm of four, with gaps (silent), reboots (the meter resets) and
// partitions (readings buffered, then flushed late).
const counterScenario = `
name: counters
seed: 7
duration: 1h
turbine: {energy_kwh: true}
sites:
  - {name: "t{i}", count: 3, devices: 1}
  - {name: farm, devices: 4}
faults:
  - {kind: silent, devices: [t1/wt-01], from: 10m, to: 10m35s}
  - {kind: reboot, devices: [t1/wt-01], from: 45m, downtime: 3s}
  - {kind: reboot, devices: [t2/wt-02], from: 20m, downtime: 5s}
  - {kind: partition, devices: [t3/wt-03], from: 30m, to: 30m40s}
  - {kind: silent, devices: [farm/wt-04], from: 5m, to: 5m25s}
  - {kind: reboot, devices: [farm/wt-05], from: 40m}
  - {kind: partition, devices: [farm/wt-06], from: 50m, to: 50m30s}
`

// tsResolution bounds how far a window's true increase may stray from what
// the published samples say: their timestamps are truncated to the
// millisecond, so each boundary may move by up to 1 ms at rated power
// (3000 kW = 0.000833 kWh per ms).
const tsResolution = 2 * 3000.0 / 3600 / 1000

// TestCounterIncreaseAgainstSimTruth runs the scenario through an engine
// at the simulator's infinite speed, delivering each reading at its send
// time, and scores the energy_kwh aggregates against the simulator's truth.
func TestCounterIncreaseAgainstSimTruth(t *testing.T) {
	s, err := sim.ParseScenario([]byte(counterScenario))
	require.NoError(t, err)
	fleetYAML, err := s.FleetFile()
	require.NoError(t, err)
	require.Contains(t, string(fleetYAML), "device: increase")
	truth, aggs := runCounterScenario(t, s, fleetYAML)
	scoreCounters(t, truth, aggs)

	// The delta reducer (last − first inside each window) loses the step
	// between windows: about a tenth of the energy at 1 Hz and 10 s.
	_, deltas := runCounterScenario(t, s, []byte(strings.ReplaceAll(string(fleetYAML), "device: increase", "device: delta")))
	fleet, sum := 0.0, 0.0
	for _, c := range truth.Counters {
		fleet += c.Total
	}
	for _, a := range deltas {
		if a.Metric == sim.MetricEnergy && a.Final && a.Window.Start.Before(truth.End.End) && a.Window.End.After(truth.Run.Start) {
			sum += float64(a.Stats.Sum.Value)
		}
	}
	require.Less(t, sum, 0.95*fleet, "delta loses the steps between windows")
	t.Logf("delta: windows %.3f kWh of the fleet's %.3f kWh (%.1f %%)", sum, fleet, 100*sum/fleet)
}

// runCounterScenario runs scenario s with fleet file fleetYAML in a synctest
// bubble: the simulator at infinite speed, each reading offered to an
// engine at its send time, then every window final. It returns the truth
// and every aggregate emitted.
func runCounterScenario(t *testing.T, s sim.Scenario, fleetYAML []byte) (truth *sim.Truth, aggs []Aggregate) {
	t.Helper()
	f, err := staleness.ParseFleet(fleetYAML)
	require.NoError(t, err)

	synctest.Test(t, func(t *testing.T) {
		start := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		var msgs []sim.Message
		var tb bytes.Buffer
		fl, err := sim.New(sim.Config{
			Scenario: s, Speed: math.Inf(1), Start: start, Truth: &tb,
			Deliver: func(m sim.Message) { msgs = append(msgs, m) },
		}, nil)
		require.NoError(t, err)
		require.NoError(t, fl.Run(context.Background()))
		truth, err = sim.ReadTruth(&tb)
		require.NoError(t, err)

		c := &collector{}
		e, err := New(Config{
			Shards: 2, EmitInterval: 500 * time.Millisecond,
			Window: window.Config{Size: 10 * time.Second, AllowedLateness: 60 * time.Second, AllowedSkew: 2 * time.Second},
		}, staleness.NewRoster(f), c, nil, prometheus.NewRegistry())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		slices.SortStableFunc(msgs, func(a, b sim.Message) int { return a.At.Compare(b.At) })
		for _, m := range msgs {
			if m.Kind != sim.MessageTelemetry {
				continue
			}
			time.Sleep(time.Until(m.At))
			site, _, _ := strings.Cut(m.Device, "/")
			require.True(t, e.Offer(ingest.Message{
				Kind: ingest.TopicTelemetry, Site: site, Device: m.Device, Payload: m.Payload, Received: time.Now().UnixNano(),
			}))
		}
		time.Sleep(2 * time.Minute) // every window final
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		c.mu.Lock()
		aggs = slices.Clone(c.all)
		c.mu.Unlock()
	})
	return truth, aggs
}

// scoreCounters checks the energy aggregates against the truth: every
// emission's bounds contain the window's true increase, and the final
// windows of the run of each group add up to its devices' true energy
// within 0.1 %.
func scoreCounters(t *testing.T, truth *sim.Truth, aggs []Aggregate) {
	t.Helper()
	totals := map[string]float64{} // true energy by group
	fleet := 0.0
	for _, c := range truth.Counters {
		totals[c.Group] += c.Total
		fleet += c.Total
	}
	require.Len(t, totals, 4)
	resets := 0
	for _, c := range truth.Counters {
		resets += c.Resets
	}
	require.Equal(t, 3, resets, "the reboots reset the meters")

	sums := map[string]float64{} // final increases by group
	checked, finals, gaps, revised := 0, 0, 0, 0
	for _, a := range aggs {
		if a.Metric != sim.MetricEnergy {
			continue
		}
		tw, ok := truth.Window(a.Group, a.Metric, a.Window.Start)
		if ok {
			tol := tsResolution*float64(tw.Expected) + 1e-9*math.Abs(tw.Sum)
			require.GreaterOrEqual(t, tw.Sum, float64(a.Stats.Sum.Lower)-tol,
				"%s %s rev %d: true increase %v below the lower bound (value %v, coverage %d/%d)",
				a.Group, a.Window.Start.Format(time.TimeOnly), a.Revision, tw.Sum, a.Stats.Sum.Value, a.Coverage.Reported, a.Coverage.Expected)
			require.LessOrEqual(t, tw.Sum, float64(a.Stats.Sum.Upper)+tol,
				"%s %s rev %d: true increase %v above the upper bound (value %v, coverage %d/%d)",
				a.Group, a.Window.Start.Format(time.TimeOnly), a.Revision, tw.Sum, a.Stats.Sum.Value, a.Coverage.Reported, a.Coverage.Expected)
			checked++
		}
		// The run's windows: the engine also emits windows before its
		// first reading and after its last (0 of N, imputed).
		if !a.Window.End.After(truth.Run.Start) || !a.Window.Start.Before(truth.End.End) {
			continue
		}
		if a.Revision > 0 && !a.Final {
			revised++
		}
		if a.Final {
			require.True(t, a.Stats.Sum.Value.Known(), "%s %s: final value", a.Group, a.Window.Start)
			if a.Coverage.Reported < a.Coverage.Expected {
				gaps++ // estimated from the samples on either side
			}
			sums[a.Group] += float64(a.Stats.Sum.Value)
			finals++
		}
	}
	require.Greater(t, finals, 4*350, "an hour of 10 s windows in 4 groups")
	require.Greater(t, checked, finals)
	require.GreaterOrEqual(t, gaps, 3, "final windows with a device missing (silent, partitioned, rebooting)")
	require.Positive(t, revised, "windows revised by a later boundary sample or a flushed backlog")
	total := 0.0
	for g, want := range totals {
		require.InEpsilon(t, want, sums[g], 1e-3, "group %s: its windows add up to its true energy", g)
		t.Logf("%s: windows %.3f kWh, true %.3f kWh (%+.4f %%)", g, sums[g], want, 100*(sums[g]-want)/want)
		total += sums[g]
	}
	require.InEpsilon(t, fleet, total, 1e-3, "the fleet's windows add up to its true energy")
}
