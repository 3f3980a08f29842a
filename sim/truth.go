package sim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Truth record types, the "type" field of each JSON line.
const (
	TruthTypeRun    = "run"
	TruthTypeWindow = "window"
	TruthTypeFault  = "fault"
	TruthTypeEnd    = "end"
)

// TruthRun is the first line of the truth: what ran.
type TruthRun struct {
	Type     string    `json:"type"` // "run"
	Scenario string    `json:"scenario"`
	Seed     int64     `json:"seed"`
	Boot     uint64    `json:"boot"`
	Start    time.Time `json:"start"`
	// Duration is the scenario's duration ("0s": until stopped).
	Duration string `json:"duration"`
	// Speed is Config.Speed ("inf" for infinite).
	Speed string `json:"speed"`
	// Window and Offset are the truth's windows (TruthSpec).
	Window  string `json:"window"`
	Offset  string `json:"offset"`
	Groups  int    `json:"groups"`
	Devices int    `json:"devices"`
}

// TruthWindow is the true value of one group, metric and window: the
// statistics over the devices of the group of each device's mean over the
// samples it generated in [Start, End), whether or not they were published,
// delayed or lost. It is what rollcall's aggregate would say with every
// device reporting every sample. For the energy_kwh counter the device
// values are instead each device's true increase over exactly the window
// (the integral of its power, linear between samples, at true time): what
// rollcall's increase reducer estimates; Devices counts the devices with
// samples on both sides of some part of the window.
type TruthWindow struct {
	Type   string    `json:"type"` // "window"
	Group  string    `json:"group"`
	Metric string    `json:"metric"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Sum, Mean, Min and Max are over the device means.
	Sum  float64 `json:"sum"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	// Devices is how many devices had a sample in the window; Expected is
	// the group's size.
	Devices  int `json:"devices"`
	Expected int `json:"expected"`
	// Samples is the number of samples over all devices.
	Samples int `json:"samples"`
	// Partial: the run started or stopped inside the window, so it holds
	// fewer samples than a full one.
	Partial bool `json:"partial,omitempty"`
}

// TruthFault is one fault as injected on one device: written when it ends
// (or when the run stops). Faults scripted after the end are not written.
type TruthFault struct {
	Type   string    `json:"type"` // "fault"
	Fault  FaultKind `json:"fault"`
	Device string    `json:"device"`
	Group  string    `json:"group"`
	// From and To are when it was active (for reboot: From is the reboot,
	// To when the device came back).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Messages counts what it did: readings lost (silent, offline, reboot),
	// buffered (partition), delayed (delay, jitter), extra copies
	// (duplicate), replays, skewed or jumped, reordered, burst samples, malformed,
	// oversize or spoofed messages.
	Messages uint64 `json:"messages"`
	// Parameters, as in the scenario (durations as Go durations, "3s").
	Every       string  `json:"every,omitempty"`
	Delay       string  `json:"delay,omitempty"`
	Jitter      string  `json:"jitter,omitempty"`
	Skew        string  `json:"skew,omitempty"`
	Jump        string  `json:"jump,omitempty"`
	Downtime    string  `json:"downtime,omitempty"`
	Factor      int     `json:"factor,omitempty"`
	Window      int     `json:"window,omitempty"`
	Copies      int     `json:"copies,omitempty"`
	Size        int     `json:"size,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	// Target is the device whose topic a spoof used.
	Target string `json:"target,omitempty"`
	// Boot is the boot number after a reboot.
	Boot uint64 `json:"boot,omitempty"`
	// ReplayTS is the timestamp of the message a replay re-sent.
	ReplayTS *time.Time `json:"replay_ts,omitempty"`
}

// TruthEnd is the last line of the truth: the run's totals (see Stats; the
// run's own, where Stats counts over all runs of a Fleet).
type TruthEnd struct {
	Type    string    `json:"type"` // "end"
	End     time.Time `json:"end"`
	Samples uint64    `json:"samples"`
	Sent    uint64    `json:"sent"`
	Failed  uint64    `json:"failed"`
	Lost    uint64    `json:"lost"`
	Dropped uint64    `json:"dropped"`
	Unsent  uint64    `json:"unsent"`
}

// Truth is a parsed truth file.
type Truth struct {
	Run     TruthRun
	Windows []TruthWindow
	Faults  []TruthFault
	// Counters are the devices' counter totals (energy_kwh).
	Counters []TruthCounter
	// End is nil when the file was cut short (the simulator was killed).
	End *TruthEnd
}

// Window returns the window of group and metric that starts at start.
func (t *Truth) Window(group, metric string, start time.Time) (TruthWindow, bool) {
	for _, w := range t.Windows {
		if w.Group == group && w.Metric == metric && w.Start.Equal(start) {
			return w, true
		}
	}
	return TruthWindow{}, false
}

// ReadTruth parses a truth stream written by a Fleet (Config.Truth).
func ReadTruth(r io.Reader) (*Truth, error) {
	t := &Truth{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var head struct {
			Type string `json:"type"`
		}
		b := sc.Bytes()
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("truth line %d: %w", line, err)
		}
		var err error
		switch head.Type {
		case TruthTypeRun:
			err = json.Unmarshal(b, &t.Run)
		case TruthTypeWindow:
			var w TruthWindow
			err = json.Unmarshal(b, &w)
			t.Windows = append(t.Windows, w)
		case TruthTypeFault:
			var f TruthFault
			err = json.Unmarshal(b, &f)
			t.Faults = append(t.Faults, f)
		case TruthTypeCounter:
			var c TruthCounter
			err = json.Unmarshal(b, &c)
			t.Counters = append(t.Counters, c)
		case TruthTypeEnd:
			t.End = &TruthEnd{}
			err = json.Unmarshal(b, t.End)
		default:
			err = fmt.Errorf("unknown type %q", head.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("truth line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	return t, nil
}

// truthWriter computes the truth windows as the samples go by and writes the
// records. Samples arrive in time order, so only the current window is held:
// memory is one sum per device and metric. It stops at the first write error
// and keeps it.
type truthWriter struct {
	w      *bufio.Writer
	err    error
	size   int64 // window size, ns
	offset int64 // ns
	groups []truthGroup
	start  time.Time // of the run
	cur    int64     // index of the current window
	any    bool      // a sample is in the current window
}

type truthGroup struct {
	name    string
	metrics []string
	sums    [][]float64 // by metric, by device (local index)
	counts  []int       // samples by device
	devices []string    // by local index
	energy  energyTruth // metered turbines (energy_kwh)
}

func newTruthWriter(w io.Writer, p *plan) *truthWriter {
	t := &truthWriter{
		w:      bufio.NewWriterSize(w, 64*1024),
		size:   int64(p.scenario.Truth.Window),
		offset: int64(p.scenario.Truth.Offset),
	}
	for _, g := range p.groups {
		tg := truthGroup{name: g.Name, metrics: g.Metrics, counts: make([]int, len(g.Devices)), devices: g.Devices}
		if g.Kind == KindTurbine && p.scenario.Turbine.EnergyKWh {
			tg.energy = energyTruth{devs: make([]energyDev, len(g.Devices)), pend: map[int64]*energyWindow{}}
		}
		for range g.Metrics {
			tg.sums = append(tg.sums, make([]float64, len(g.Devices)))
		}
		t.groups = append(t.groups, tg)
	}
	return t
}

// windowOf returns the index of the window holding ts (Unix ns).
func (t *truthWriter) windowOf(ts int64) int64 {
	k := ts - t.offset
	q := k / t.size
	if k%t.size < 0 {
		q--
	}
	return q
}

func (t *truthWriter) windowStart(k int64) time.Time {
	return time.Unix(0, k*t.size+t.offset).UTC()
}

// add records device local of group g's sample vals (in the group's metric
// order) at ts.
func (t *truthWriter) add(g, local int, ts time.Time, vals []float64) {
	k := t.windowOf(ts.UnixNano())
	if t.any && k != t.cur {
		t.flush(time.Time{})
	}
	t.cur, t.any = k, true
	tg := &t.groups[g]
	for m, v := range vals {
		tg.sums[m][local] += v
	}
	tg.counts[local]++
}

// flush writes the current window of every group that has samples in it.
// end, when not zero, is the end of the run: a window reaching past it is
// partial.
func (t *truthWriter) flush(end time.Time) {
	if !t.any {
		if !end.IsZero() {
			t.flushEnergy()
			t.flushIO()
		}
		return
	}
	t.any = false
	ws := t.windowStart(t.cur)
	we := ws.Add(time.Duration(t.size))
	partial := ws.Before(t.start) || !end.IsZero() && we.After(end)
	for gi := range t.groups {
		tg := &t.groups[gi]
		for m, metric := range tg.metrics {
			if metric == MetricEnergy && tg.energy.pend != nil {
				clear(tg.sums[m]) // its truth is the increase (addEnergy)
				continue
			}
			rec := TruthWindow{
				Type: TruthTypeWindow, Group: tg.name, Metric: metric, Start: ws, End: we,
				Min: math.Inf(1), Max: math.Inf(-1), Expected: len(tg.counts), Partial: partial,
			}
			for d, n := range tg.counts {
				if n == 0 {
					continue
				}
				v := tg.sums[m][d] / float64(n)
				rec.Sum += v
				rec.Min, rec.Max = min(rec.Min, v), max(rec.Max, v)
				rec.Devices++
				rec.Samples += n
				tg.sums[m][d] = 0
			}
			if rec.Devices > 0 {
				rec.Mean = rec.Sum / float64(rec.Devices)
				t.write(rec)
			}
		}
		clear(tg.counts)
	}
	if !end.IsZero() {
		t.flushEnergy()
	}
	t.flushIO()
}

// write appends one JSON line.
func (t *truthWriter) write(rec any) {
	if t.err != nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.err = err
		return
	}
	b = append(b, '\n')
	if _, err := t.w.Write(b); err != nil {
		t.err = err
	}
}

// flushIO pushes the buffered lines out, so that a reader following the
// file sees each window when it closes.
func (t *truthWriter) flushIO() {
	if t.err == nil {
		if err := t.w.Flush(); err != nil {
			t.err = err
		}
	}
}

// Err returns the first write error.
func (t *truthWriter) Err() error {
	if t.err != nil {
		return errors.Join(ErrTruth, t.err)
	}
	return nil
}

// formatSpeed renders a speed for TruthRun.
func formatSpeed(s float64) string {
	if math.IsInf(s, 1) {
		return "inf"
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}
