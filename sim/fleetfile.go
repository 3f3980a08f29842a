package sim

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// FleetFile returns the rollcall fleet file (DESIGN.md, "The fleet file") for
// the scenario: one group per site listing its devices, every metric's
// physical envelope (power_kw in [0, rated_kw] ramping at most
// ramp_kw_per_s, wind_ms in [0, max_ms], energy_kwh a counter growing at
// most rated_kw / 3600 kWh per second, a generic metric's min, max and
// max_rate_per_s), the reporting interval (per device where it differs from
// the most common one) and learning off, so the roster is exactly the
// scenario's devices. Start rollcall with it to score it against the truth.
//
// rollcall expects every metric of the defaults from every group, so a
// scenario mixing turbines and generic devices makes each group report the
// other kind's metrics as missing.
func (s Scenario) FleetFile() ([]byte, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	groups, err := s.Groups()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# rollcall fleet file for scenario %q (written by fleetsim --print-fleet).\n", s.Name)
	interval := commonInterval(groups)
	fmt.Fprintf(&b, "defaults:\n  interval: %s\n  metrics:\n", interval)
	metrics := map[string]string{}
	for _, g := range groups {
		if g.Kind == KindTurbine {
			metrics[MetricPower] = fmt.Sprintf("{min: 0, max: %s, max_rate_per_s: %s, device: mean, group: sum, impute: last}",
				num(s.Turbine.RatedKW), num(s.Turbine.RampKWPerS))
			metrics[MetricWind] = fmt.Sprintf("{min: 0, max: %s, device: mean, group: mean, impute: last}", num(s.Wind.MaxMS))
			if s.Turbine.EnergyKWh {
				// A counter: its increase per window, growing at most at
				// the rated power (kWh per second).
				metrics[MetricEnergy] = fmt.Sprintf("{min: 0, monotonic: true, max_rate_per_s: %s, device: increase, group: sum, impute: last}",
					num(s.Turbine.RatedKW/3600))
			}
			continue
		}
		for name, m := range g.spec.Metrics {
			spec := fmt.Sprintf("{min: %s, max: %s", num(*m.Min), num(*m.Max))
			if m.MaxRatePerS > 0 {
				spec += ", max_rate_per_s: " + num(m.MaxRatePerS)
			}
			metrics[name] = spec + ", device: mean, group: mean, impute: last}"
		}
	}
	for _, name := range sortedKeys(metrics) {
		fmt.Fprintf(&b, "    %s: %s\n", name, metrics[name])
	}
	b.WriteString("groups:\n")
	var odd []string // devices whose interval differs from the default
	oddInterval := map[string]time.Duration{}
	for _, g := range groups {
		fmt.Fprintf(&b, "  %s:\n    devices: [", g.Name)
		for i, d := range g.Devices {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d)
			if g.Interval != interval {
				odd = append(odd, d)
				oddInterval[d] = g.Interval
			}
		}
		b.WriteString("]\n")
	}
	if len(odd) > 0 {
		b.WriteString("devices:\n")
		for _, d := range odd {
			fmt.Fprintf(&b, "  %s: {interval: %s}\n", d, oddInterval[d])
		}
	}
	b.WriteString("learn: {enabled: false}\n")
	return b.Bytes(), nil
}

// commonInterval returns the interval most devices have (the shortest on a
// tie).
func commonInterval(groups []Group) time.Duration {
	count := map[time.Duration]int{}
	for _, g := range groups {
		count[g.Interval] += len(g.Devices)
	}
	keys := make([]time.Duration, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	best := keys[0]
	for _, k := range keys {
		if count[k] > count[best] {
			best = k
		}
	}
	return best
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
