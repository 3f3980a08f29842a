package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMeter(t *testing.T) {
	t.Parallel()
	// Power from 0 to 3600 kW over 2 s: 3600 kW × 1 s on average = 1 kWh.
	require.InDelta(t, 1, energyBetween(0, 3600, 2*time.Second, 2*time.Second), 1e-12)
	// Its first second: a quarter of it (the ramp is linear).
	require.InDelta(t, 0.25, energyBetween(0, 3600, time.Second, 2*time.Second), 1e-12)
	require.Zero(t, energyBetween(5, 5, time.Second, 0))

	var m meter
	require.Zero(t, m.advance(3600, 3600, 0, 0), "the first sample reads 0")
	require.InDelta(t, 1, m.advance(3600, 3600, time.Second, time.Second), 1e-12)
	m.Reset(1500 * time.Millisecond)
	// The reset at 1.5 s: the meter counts the last half second of [1 s, 2 s].
	require.InDelta(t, 0.5, m.advance(3600, 3600, time.Second, 2*time.Second), 1e-12)
	require.InDelta(t, 2, m.total, 1e-12, "the true energy goes on")
	require.Equal(t, 1, m.resets)
}

// TestEnergyTruth: metered turbines publish energy_kwh, a counter of their
// power's integral that resets at a reboot; the truth's windows hold each
// window's true increase and add up to the devices' totals.
func TestEnergyTruth(t *testing.T) {
	t.Parallel()
	s, err := ParseScenario([]byte(`
name: energy
duration: 2m
turbine: {energy_kwh: true}
sites: [{name: a, devices: 3}]
faults: [{kind: reboot, devices: [a/wt-02], from: 61500ms, downtime: 2s}]
`))
	require.NoError(t, err)
	fleet, err := s.FleetFile()
	require.NoError(t, err)
	require.Contains(t, string(fleet), "energy_kwh: {min: 0, monotonic: true, max_rate_per_s: 0.8333333333333334, device: increase, group: sum, impute: last}")

	var buf bytes.Buffer
	type reading struct {
		boot uint64
		v    float64
	}
	readings := map[string][]reading{}
	f, err := New(Config{
		Scenario: s, Speed: math.Inf(1), Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Truth: &buf,
		Deliver: func(m Message) {
			var tm struct {
				Boot    uint64             `json:"boot"`
				Metrics map[string]float64 `json:"metrics"`
			}
			require.NoError(t, json.Unmarshal(m.Payload, &tm))
			require.Contains(t, tm.Metrics, MetricEnergy)
			readings[m.Device] = append(readings[m.Device], reading{tm.Boot, tm.Metrics[MetricEnergy]})
		},
	}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))
	truth, err := ReadTruth(&buf)
	require.NoError(t, err)

	require.Len(t, truth.Counters, 3)
	windows := 0.0
	for _, w := range truth.Windows {
		if w.Metric == MetricEnergy {
			windows += w.Sum
			require.Equal(t, 3, w.Devices)
			require.LessOrEqual(t, w.Max, DefaultRatedKW/3600*10+1e-9, "at most rated power × 10 s")
		}
	}
	totals := 0.0
	for _, c := range truth.Counters {
		totals += c.Total
		rs := readings[DeviceID(c.Group, c.Device)]
		require.NotEmpty(t, rs)
		metered := rs[len(rs)-1].v - rs[0].v
		if c.Device == "wt-02" {
			require.Equal(t, 1, c.Resets)
			// The new boot counts from the reboot at 61.5 s.
			reset := 0
			for i := 1; i < len(rs); i++ {
				if rs[i].v < rs[i-1].v {
					require.Greater(t, rs[i].boot, rs[i-1].boot, "a drop only at a reboot")
					reset = i
				}
			}
			require.NotZero(t, reset)
			metered = rs[reset-1].v - rs[0].v + rs[len(rs)-1].v
		} else {
			require.Zero(t, c.Resets)
		}
		// The meter misses only the half second before the reboot.
		require.InDelta(t, c.Total, metered, DefaultRatedKW/3600*0.5+1e-9, c.Device)
	}
	require.InDelta(t, totals, windows, 1e-9*totals, "the windows add up to the totals")
	require.Positive(t, totals)
}
