package sim

import (
	"maps"
	"math"
	"slices"
	"time"
)

// TruthTypeCounter is the "type" of a TruthCounter record.
const TruthTypeCounter = "counter"

// TruthCounter is one device's counter over the whole run (energy_kwh of a
// metered turbine): its true increase, the integral of its power from its
// first sample to its last, and how often the meter was reset (reboots).
// Written before the end record.
type TruthCounter struct {
	Type   string  `json:"type"` // "counter"
	Group  string  `json:"group"`
	Device string  `json:"device"`
	Metric string  `json:"metric"`
	Total  float64 `json:"total"`
	Resets int     `json:"resets"`
}

// energyTruth computes the true increase of every metered turbine's energy
// in each truth window, at true time: the integral of its power, linear
// between samples, over exactly the window. A window is written once every
// device of the group has a sample at or after its end (so at most a couple
// of windows are pending), or at the end of the run.
type energyTruth struct {
	devs []energyDev
	pend map[int64]*energyWindow // by window index
}

type energyDev struct {
	t      time.Duration // previous sample, since the run's start
	p, e   float64       // its power (kW) and the energy so far (kWh)
	has    bool
	resets int
}

type energyWindow struct {
	inc     []float64 // by device
	touched []bool    // the device had a step in the window
	passed  int       // devices with a sample at or after the window's end
	samples int
}

func (g *truthGroup) energyWindow(k int64) *energyWindow {
	w := g.energy.pend[k]
	if w == nil {
		n := len(g.energy.devs)
		w = &energyWindow{inc: make([]float64, n), touched: make([]bool, n)}
		g.energy.pend[k] = w
	}
	return w
}

// addEnergy records device local of group g's sample at t since the start
// with power p and meter total e (meter.total) and writes the windows it
// completes.
func (t *truthWriter) addEnergy(g, local int, at time.Duration, p, e float64, resets int) {
	tg := &t.groups[g]
	d := &tg.energy.devs[local]
	ns := func(x time.Duration) int64 { return t.start.Add(x).UnixNano() }
	k := t.windowOf(ns(at))
	tg.energyWindow(k).samples++
	if !d.has {
		// Windows before the device's first sample have nothing of it.
		for j, w := range tg.energy.pend {
			if j < k {
				w.passed++
			}
		}
	} else {
		dt := at - d.t
		for j := t.windowOf(ns(d.t)); j <= k; j++ {
			ws := time.Duration(j*t.size+t.offset) - time.Duration(t.start.UnixNano())
			a, b := max(ws, d.t), min(ws+time.Duration(t.size), at)
			w := tg.energyWindow(j)
			if b > a || dt == 0 {
				w.inc[local] += energyBetween(d.p, p, b-d.t, dt) - energyBetween(d.p, p, a-d.t, dt)
				w.touched[local] = true
			}
			if j < k {
				w.passed++
			}
		}
	}
	*d = energyDev{t: at, p: p, e: e, has: true, resets: resets}
	for _, j := range slices.Sorted(maps.Keys(tg.energy.pend)) {
		if w := tg.energy.pend[j]; w.passed >= len(tg.energy.devs) {
			t.writeEnergy(tg, j, w, false)
		}
	}
}

// writeEnergy writes window k of group tg's energy and forgets it.
func (t *truthWriter) writeEnergy(tg *truthGroup, k int64, w *energyWindow, partial bool) {
	delete(tg.energy.pend, k)
	ws := t.windowStart(k)
	rec := TruthWindow{
		Type: TruthTypeWindow, Group: tg.name, Metric: MetricEnergy, Start: ws, End: ws.Add(time.Duration(t.size)),
		Min: math.Inf(1), Max: math.Inf(-1), Expected: len(tg.energy.devs), Samples: w.samples,
		Partial: partial || ws.Before(t.start),
	}
	for d, v := range w.inc {
		if !w.touched[d] {
			continue
		}
		rec.Sum += v
		rec.Min, rec.Max = min(rec.Min, v), max(rec.Max, v)
		rec.Devices++
	}
	if rec.Devices > 0 {
		rec.Mean = rec.Sum / float64(rec.Devices)
		t.write(rec)
	}
}

// flushEnergy writes the pending energy windows (partial: the run ended
// inside them) and each metered device's total.
func (t *truthWriter) flushEnergy() {
	for gi := range t.groups {
		tg := &t.groups[gi]
		if tg.energy.pend == nil {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(tg.energy.pend)) {
			t.writeEnergy(tg, k, tg.energy.pend[k], true)
		}
		for i, d := range tg.energy.devs {
			t.write(TruthCounter{
				Type: TruthTypeCounter, Group: tg.name, Device: tg.devices[i], Metric: MetricEnergy,
				Total: d.e, Resets: d.resets,
			})
		}
	}
}
