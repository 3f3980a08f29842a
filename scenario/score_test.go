package scenario

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
	"github.com/rollcall-iot/rollcall/staleness"
)

// wire is what the devices delivered, worked out from every message the
// broker got, independently of rollcall: each reading once (by device, boot
// and seq: duplicates and replays are the same reading), and the readings
// rollcall must accept (not further ahead of their arrival than it corrects
// or accepts: env.futureLimit).
type wire struct {
	// windows are the per-window device means of the accepted readings
	// (simtest.Recompute): what every final aggregate's reported numbers
	// must equal.
	windows map[wkey]sim.TruthWindow
	// readings are the accepted readings by device, in arrival order.
	readings map[string][]reading
	// future counts, by device, readings rollcall must reject future_ts.
	future map[string]int
	// clocked are the devices whose clocks the scenario skews or steps
	// (clock_skew, clock_jump), and their groups: rollcall corrects their
	// stamps towards true time, so windows compares them by the time they
	// were taken (the simulated send time: these scenarios give them no
	// other fault), not by their stamps.
	clocked, clockedGroups map[string]bool
}

type wkey struct {
	group, metric string
	start         int64
}

type reading struct {
	at time.Time // sent (simulated time, the wall clock at speed 1), or received by the subscriber
	ts time.Time
	v  map[string]float64
}

// newWire works out the wire from the messages of r; window is the
// gateway's window size and futureLimit how far ahead of its arrival a
// stamp is accepted (env.futureLimit).
func newWire(t *testing.T, r *result, window, futureLimit time.Duration) *wire {
	t.Helper()
	w := &wire{readings: map[string][]reading{}, future: map[string]int{}, clocked: map[string]bool{}, clockedGroups: map[string]bool{}}
	for _, f := range r.truth.Faults {
		if f.Fault == sim.FaultClockSkew || f.Fault == sim.FaultClockJump {
			w.clocked[f.Device], w.clockedGroups[f.Group] = true, true
		}
	}
	type id struct {
		device    string
		boot, seq uint64
	}
	seen := map[id]bool{}
	var accepted []sim.Message
	for _, m := range r.msgs {
		if m.Kind != sim.MessageTelemetry {
			continue
		}
		tm, err := simtest.Decode(m.Payload)
		require.NoError(t, err, "payload %s", m.Payload)
		require.True(t, tm.Device == "" || tm.Device == m.Device, "no spoofed messages in these scenarios: %s", m.Payload)
		k := id{m.Device, tm.Boot, tm.Seq}
		if seen[k] {
			continue
		}
		seen[k] = true
		if tm.TS.Sub(m.At) > futureLimit {
			w.future[m.Device]++
			continue
		}
		if w.clocked[m.Device] {
			m.Payload = trueTimePayload(t, tm, m.At)
		}
		accepted = append(accepted, m)
		w.readings[m.Device] = append(w.readings[m.Device], reading{at: m.At, ts: tm.TS, v: tm.Metrics})
	}
	index := func(msgs []sim.Message) map[wkey]sim.TruthWindow {
		ws, err := simtest.Recompute(msgs, window, 0)
		require.NoError(t, err)
		out := make(map[wkey]sim.TruthWindow, len(ws))
		for _, x := range ws {
			out[wkey{x.Group, x.Metric, x.Start.UnixNano()}] = x
		}
		return out
	}
	w.windows = index(accepted)
	return w
}

// trueTimePayload is tm's payload stamped at, in true time.
func trueTimePayload(t *testing.T, tm simtest.Telemetry, at time.Time) []byte {
	tm.TS = at.Truncate(time.Millisecond)
	b, err := json.Marshal(tm)
	require.NoError(t, err)
	return b
}

// lastKnown returns the newest (by event time) of device's readings that had
// arrived at at: what the gateway knew of it then.
func (w *wire) lastKnown(device string, at time.Time) (reading, bool) {
	var best reading
	ok := false
	for _, rd := range w.readings[device] {
		if rd.at.After(at) {
			break
		}
		if !ok || rd.ts.After(best.ts) {
			best, ok = rd, true
		}
	}
	return best, ok
}

// physics is a metric's envelope as the simulator generates it.
type physics struct {
	min, max, rate float64
	interval       time.Duration
}

// optimalWidth is the narrowest interval the physics allows for a missing
// device's mean over the window [start, end), given its newest known reading
// (value v at ts): each of its samples (on its reporting grid through ts)
// lies within v ± rate × |τ − ts|, clamped to [min, max], and the device's
// mean within the mean of those intervals; any trajectory ramping at the
// full rate away from v reaches either end. Without a known reading it is
// the whole range. rollcall's own rule (docs/semantics.md) takes the
// farthest point of the window instead of each sample, so its width is
// never narrower than this and at most about twice as wide.
func (p physics) optimalWidth(rd reading, known bool, metric string, start, end time.Time) float64 {
	if !known {
		return p.max - p.min
	}
	v := rd.v[metric]
	iv := p.interval
	k := int64(math.Ceil(float64(start.Sub(rd.ts)) / float64(iv)))
	var lo, hi float64
	n := 0
	for tau := rd.ts.Add(time.Duration(k) * iv); tau.Before(end); tau = tau.Add(iv) {
		d := math.Abs(tau.Sub(rd.ts).Seconds())
		lo += max(p.min, v-p.rate*d)
		hi += min(p.max, v+p.rate*d)
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return (hi - lo) / float64(n)
}

// report is one scenario's score.
type report struct {
	name string
	// windows counts the scored windows (of every group and metric);
	// windowsContained those whose every revision contains the truth: the
	// criterion (≥ 99 %).
	windows, windowsContained int
	// aggs counts every emitted aggregate (each revision) of a scored
	// window and metric; contained those whose bounds of sum, mean, min and
	// max contain the truth.
	aggs, contained int
	// finals counts the final aggregates; finalsContained those containing
	// the truth; exact those that pass exact; complete those every expected
	// device delivered every sample in.
	finals, finalsContained, exact, complete int
	// ratios are, for each power_kw aggregate with missing devices, the
	// width of its sum's bounds over the physics-optimal width;
	// partialRatios the same for aggregates every device reported in, some
	// only partially.
	ratios, partialRatios []float64
	// revised counts windows with more than one revision before final.
	revised int
	// clockInexact counts the finals of groups with a clocked device that
	// differ from the wire in true time: readings of a slow clock before
	// its offset was measured, or one corrected to just past a window's
	// end (the correction keeps the quickest delivery's delay).
	clockInexact int
	// short counts the aggregates outside of which the truth lies while
	// their reporting devices had fewer samples than they generated in the
	// window (a device that stopped, or whose rest was still in transit).
	short int
}

func (rp *report) coverage() float64 { return ratio(rp.windowsContained, rp.windows) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (rp *report) String() string {
	s := fmt.Sprintf("%-20s truth in bounds: %6.2f%% of %3d windows (every revision), %6.2f%% of %4d aggregates, %6.2f%% of finals; finals exact %d/%d (%d with every sample); %d windows revised; width/optimal median %.2f over %d with missing devices, %.2f over %d with partial ones",
		rp.name, 100*rp.coverage(), rp.windows, 100*ratio(rp.contained, rp.aggs), rp.aggs, 100*ratio(rp.finalsContained, rp.finals),
		rp.exact, rp.finals, rp.complete, rp.revised, median(rp.ratios), len(rp.ratios), median(rp.partialRatios), len(rp.partialRatios))
	if out := rp.aggs - rp.contained; out > 0 {
		s += fmt.Sprintf("; of the %d aggregates not containing the truth, %d have reporting devices short of samples", out, rp.short)
	}
	if rp.clockInexact > 0 {
		s += fmt.Sprintf("; %d finals of groups with a clock-corrected device differ from the wire in true time", rp.clockInexact)
	}
	return s
}

// score checks every emitted aggregate of every scored window against the
// truth, in true time (the simulator's clock, not the devices'), and the
// wire, and returns the scores:
//   - in at least 99 % of the windows, the bounds of sum, mean, min and max
//     of every revision contain the truth;
//   - every window ends final, and the final aggregate's device count and
//     reported sum equal what the devices delivered for it, exactly;
//   - a final aggregate in which every expected device delivered every
//     sample it generated equals the truth exactly (lower = upper = value =
//     reported = truth), quality good; one in which every device reported
//     but some samples never arrived counts partial devices, not good.
//
// A final of a group with a clocked device (wire.clocked) that differs from
// the wire is counted (clockInexact) rather than failed; the clock
// scenarios bound how many there may be.
func score(t *testing.T, e *env, r *result, w *wire) *report {
	t.Helper()
	rp := &report{name: e.s.Name}
	power := physics{min: 0, max: e.s.Turbine.RatedKW, rate: e.s.Turbine.RampKWPerS, interval: e.s.Interval}
	perDevice := int(e.s.Truth.Window / e.s.Interval) // samples a device generates in a window
	groups, err := e.s.Groups()
	require.NoError(t, err)
	members := map[string][]string{}
	for _, g := range groups {
		for _, name := range g.Devices {
			members[g.Name] = append(members[g.Name], sim.DeviceID(g.Name, name))
		}
	}
	var outside, others []string
	for _, tw := range r.scored() {
		k := wkey{tw.Group, tw.Metric, tw.Start.UnixNano()}
		truth := tw
		revs := r.revisions(tw.Group, tw.Metric, tw.Start)
		if len(revs) == 0 {
			t.Errorf("%s: %s/%s window %s never emitted", e.s.Name, tw.Group, tw.Metric, clock(tw.Start))
			continue
		}
		if len(revs) > 2 {
			rp.revised++
		}
		rp.windows++
		all := true
		for _, a := range revs {
			rp.aggs++
			if contains(a, truth) {
				rp.contained++
			} else {
				all = false
				outside = append(outside, describe(a, truth))
				missingSamples := perDevice * (a.Coverage.Expected - a.Coverage.Reported)
				if int(a.Counts.Samples)+missingSamples < truth.Samples {
					rp.short++
				} else {
					others = append(others, describe(a, truth))
				}
			}
			switch {
			case tw.Metric != sim.MetricPower:
			case a.Coverage.Reported < a.Coverage.Expected:
				if x := widthRatio(a, w, power); !math.IsNaN(x) {
					rp.ratios = append(rp.ratios, x)
				}
			case a.Coverage.Partial > 0:
				if x := partialWidthRatio(a, w, power, members[tw.Group]); !math.IsNaN(x) {
					rp.partialRatios = append(rp.partialRatios, x)
				}
			}
		}
		if all {
			rp.windowsContained++
		}
		final := revs[len(revs)-1]
		if !final.Final {
			t.Errorf("%s: %s/%s window %s: last revision %d is not final", e.s.Name, tw.Group, tw.Metric, clock(tw.Start), final.Revision)
			continue
		}
		for i, a := range revs {
			if a.Revision != i {
				t.Errorf("%s: %s/%s window %s: revisions %v are not 0, 1, 2, …", e.s.Name, tw.Group, tw.Metric, clock(tw.Start), revisionNumbers(revs))
				break
			}
		}
		rp.finals++
		if contains(final, truth) {
			rp.finalsContained++
		}
		switch problems := exact(final, truth, w.windows[k]); {
		case len(problems) > 0 && w.clockedGroups[tw.Group]:
			rp.clockInexact++
			t.Logf("%s: final %s: %s", e.s.Name, describe(final, truth), strings.Join(problems, "; "))
		case len(problems) > 0:
			t.Errorf("%s: final %s: %s", e.s.Name, describe(final, truth), strings.Join(problems, "; "))
		default:
			rp.exact++
		}
		if final.Coverage.Reported == final.Coverage.Expected && int(final.Counts.Samples) >= truth.Samples {
			rp.complete++
		}
	}
	if rp.coverage() < 0.99 {
		t.Errorf("%s: the truth is inside the bounds of every revision in %.2f%% of %d windows, want ≥ 99%% (%d of %d aggregates do not contain it)",
			e.s.Name, 100*rp.coverage(), rp.windows, rp.aggs-rp.contained, rp.aggs)
	}
	for i, s := range outside {
		if i == 10 {
			t.Logf("%s: … %d more aggregates do not contain the truth", e.s.Name, len(outside)-i)
			break
		}
		t.Logf("%s: truth outside the bounds: %s", e.s.Name, s)
	}
	for i, s := range others {
		if i == 10 {
			break
		}
		t.Logf("%s: truth outside the bounds although every reporting device has all its samples: %s", e.s.Name, s)
	}
	return rp
}

// exact lists how the final aggregate a differs from what the devices
// delivered (wt, the wire's window: zero when nothing arrived) and, when
// every expected device delivered every sample it generated, from the
// truth. When every device reported but some not all their samples, the
// gateway must have noticed: partial devices, not good.
func exact(a aggregate.Aggregate, truth, wt sim.TruthWindow) []string {
	var p []string
	if a.Coverage.Reported != wt.Devices {
		p = append(p, fmt.Sprintf("%d devices reported, %d delivered readings", a.Coverage.Reported, wt.Devices))
	}
	if wt.Devices > 0 && !relEq(float64(a.Stats.Sum.Reported), wt.Sum) {
		p = append(p, fmt.Sprintf("reported sum %v, the delivered readings sum to %v", float64(a.Stats.Sum.Reported), wt.Sum))
	}
	if wt.Devices > 0 && a.Coverage.Reported == wt.Devices {
		if !relEq(float64(a.Stats.Min.Reported), wt.Min) || !relEq(float64(a.Stats.Max.Reported), wt.Max) {
			p = append(p, fmt.Sprintf("reported min/max %v/%v, delivered %v/%v", float64(a.Stats.Min.Reported), float64(a.Stats.Max.Reported), wt.Min, wt.Max))
		}
	}
	if a.Coverage.Reported != a.Coverage.Expected {
		return p
	}
	if int(a.Counts.Samples) < truth.Samples {
		if a.Coverage.Partial == 0 || a.Quality == aggregate.QualityGood {
			p = append(p, fmt.Sprintf("%d of %d samples arrived, but %d devices are partial and quality is %s",
				a.Counts.Samples, truth.Samples, a.Coverage.Partial, a.Quality))
		}
		return p
	}
	s := a.Stats.Sum
	// A device placed by its receive time makes the window's edges
	// uncertain (the aggregate says so): its bounds are wider and its
	// quality not good, but its value is still what was delivered.
	uncertain := slices.ContainsFunc(a.Flags, func(f string) bool { return strings.HasPrefix(f, aggregate.FlagClockUncertain) })
	if !relEq(float64(s.Value), float64(s.Reported)) ||
		!uncertain && (!relEq(float64(s.Lower), float64(s.Reported)) || !relEq(float64(s.Upper), float64(s.Reported))) {
		p = append(p, fmt.Sprintf("complete but lower/value/upper %v/%v/%v differ from reported %v", float64(s.Lower), float64(s.Value), float64(s.Upper), float64(s.Reported)))
	}
	if truth.Devices == a.Coverage.Expected && !relEq(float64(s.Reported), truth.Sum) {
		p = append(p, fmt.Sprintf("complete, reported sum %v but the truth is %v", float64(s.Reported), truth.Sum))
	}
	if a.Quality != aggregate.QualityGood && !uncertain {
		p = append(p, fmt.Sprintf("complete and final but quality %s", a.Quality))
	}
	return p
}

// contains reports whether a's bounds of sum, min and max (and of the mean,
// when the truth is over every expected device) contain the truth.
func contains(a aggregate.Aggregate, tw sim.TruthWindow) bool {
	ok := in(a.Stats.Sum, tw.Sum) && in(a.Stats.Min, tw.Min) && in(a.Stats.Max, tw.Max)
	if tw.Devices == a.Coverage.Expected {
		ok = ok && in(a.Stats.Mean, tw.Mean)
	}
	return ok
}

// in reports whether v lies in [s.Lower, s.Upper]; null bounds are
// unbounded. The tolerance is relTol.
func in(s aggregate.Stat, v float64) bool {
	tol := relTol * max(1, math.Abs(v))
	lo, hi := float64(s.Lower), float64(s.Upper)
	return (math.IsNaN(lo) || lo-tol <= v) && (math.IsNaN(hi) || v <= hi+tol)
}

func relEq(a, b float64) bool { return math.Abs(a-b) <= relTol*max(1, math.Abs(a), math.Abs(b)) }

// widthRatio is the width of a's sum bounds over the physics-optimal width
// of the sum of its missing devices' means (NaN when not defined).
func widthRatio(a aggregate.Aggregate, w *wire, p physics) float64 {
	lo, hi := float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Upper)
	if math.IsNaN(lo) || math.IsNaN(hi) || a.Coverage.MissingUnlisted > 0 {
		return math.NaN()
	}
	var opt float64
	for _, m := range a.Coverage.Missing {
		rd, ok := w.lastKnown(m.Device, a.EmittedAt)
		opt += p.optimalWidth(rd, ok, a.Metric, a.Window.Start, a.Window.End)
	}
	if !(opt > 0) {
		return math.NaN()
	}
	return (hi - lo) / opt
}

// partialWidthRatio is the width of a's sum bounds over the physics-optimal
// width when every device reported, some only part of their samples (NaN
// when not defined): each sample on a device's grid in the window that had
// not arrived by the emission lies within rate × the distance of its
// nearest arrived neighbours on either side (clamped to [min, max]), and the
// device's mean within the mean of those intervals and its arrived values.
// rollcall's own rule bounds every missing sample by the farthest reach and
// the extreme arrived values, so it is wider.
func partialWidthRatio(a aggregate.Aggregate, w *wire, p physics, devices []string) float64 {
	lo, hi := float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Upper)
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return math.NaN()
	}
	start, end := a.Window.Start, a.Window.End
	iv := p.interval
	var opt float64
	for _, d := range devices {
		var known []reading
		for _, rd := range w.readings[d] {
			if !rd.ts.Before(start) && rd.ts.Before(end) && !rd.at.After(a.EmittedAt) {
				known = append(known, rd)
			}
		}
		if len(known) == 0 {
			return math.NaN()
		}
		slices.SortFunc(known, func(x, y reading) int { return x.ts.Compare(y.ts) })
		phase := time.Duration(known[0].ts.UnixNano() % int64(iv))
		first := start.Truncate(iv).Add(phase)
		if first.Before(start) {
			first = first.Add(iv)
		}
		var grid, width float64
		for tau := first; tau.Before(end); tau = tau.Add(iv) {
			grid++
			i, found := slices.BinarySearchFunc(known, tau, func(x reading, t time.Time) int { return x.ts.Compare(t) })
			if found {
				continue
			}
			slo, shi := p.min, p.max
			for _, j := range []int{i - 1, i} { // the neighbours on either side
				if j < 0 || j >= len(known) {
					continue
				}
				v, dist := known[j].v[a.Metric], math.Abs(tau.Sub(known[j].ts).Seconds())
				slo, shi = max(slo, v-p.rate*dist), min(shi, v+p.rate*dist)
			}
			width += max(0, shi-slo)
		}
		if grid < float64(len(known)) {
			return math.NaN() // denser than the grid (a burst)
		}
		opt += width / grid
	}
	if !(opt > 0) {
		return math.NaN()
	}
	return (hi - lo) / opt
}

func describe(a aggregate.Aggregate, tw sim.TruthWindow) string {
	var missing []string
	for _, m := range a.Coverage.Missing {
		missing = append(missing, m.Device+":"+m.State)
	}
	return fmt.Sprintf("%s/%s %s rev %d final=%v emitted %s: %d of %d reported, missing %v, %d samples of %d generated; sum truth %.3f (%d devices) bounds [%.3f, %.3f] reported %.3f; min truth %.3f [%.3f, %.3f]; max truth %.3f [%.3f, %.3f]",
		a.Group, a.Metric, clock(a.Window.Start), a.Revision, a.Final, clock(a.EmittedAt), a.Coverage.Reported, a.Coverage.Expected, missing, a.Counts.Samples, tw.Samples,
		tw.Sum, tw.Devices, float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Upper), float64(a.Stats.Sum.Reported),
		tw.Min, float64(a.Stats.Min.Lower), float64(a.Stats.Min.Upper), tw.Max, float64(a.Stats.Max.Lower), float64(a.Stats.Max.Upper))
}

func revisionNumbers(aggs []aggregate.Aggregate) []int {
	var out []int
	for _, a := range aggs {
		out = append(out, a.Revision)
	}
	return out
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// checkDevices checks every device's counts against the wire: it accepted
// exactly the readings delivered once and in time, rejected exactly the
// future ones (future_ts) and nothing else (a device whose clock is skewed
// behind: but for up to two blocks of too_late readings before its offset
// is measured; honest devices never too_late), and, unless the device has a
// duplicate or replay fault (checked by its own test), counted no duplicate
// or replay.
func checkDevices(t *testing.T, e *env, r *result, w *wire) {
	t.Helper()
	groups, err := e.s.Groups()
	require.NoError(t, err)
	dupOrReplay, slowClock := map[string]bool{}, map[string]bool{}
	for _, f := range r.truth.Faults {
		if f.Fault == sim.FaultDuplicate || f.Fault == sim.FaultReplay {
			dupOrReplay[f.Device] = true
		}
		if skew, err := time.ParseDuration(f.Skew); f.Fault == sim.FaultClockSkew && err == nil && skew < 0 {
			slowClock[f.Device] = true
		}
	}
	for _, g := range groups {
		for _, name := range g.Devices {
			id := sim.DeviceID(g.Name, name)
			d := e.device(id)
			if d.Group != g.Name {
				t.Errorf("%s: device %s in group %q, want %q", e.s.Name, id, d.Group, g.Name)
			}
			tooLate := uint64(0)
			if slowClock[id] {
				// Until its offset is measured (two blocks of readings), a
				// slow clock's readings are as old as they claim: at the
				// start of the run older than the group's lateness.
				tooLate = min(d.Counts.Rejected[ingest.ReasonTooLate], 2*staleness.ClockBlock)
			}
			if got, want := d.Counts.Accepted, uint64(len(w.readings[id])); got+tooLate != want {
				t.Errorf("%s: device %s accepted %d readings (%d too late), %d were delivered", e.s.Name, id, got, tooLate, want)
			}
			wantRejected := map[string]uint64{}
			if tooLate > 0 {
				wantRejected[ingest.ReasonTooLate] = tooLate
			}
			if n := w.future[id]; n > 0 {
				wantRejected["future_ts"] = uint64(n)
			}
			gotRejected := map[string]uint64{}
			for k, v := range d.Counts.Rejected {
				if v > 0 {
					gotRejected[k] = v
				}
			}
			if fmt.Sprint(gotRejected) != fmt.Sprint(wantRejected) {
				t.Errorf("%s: device %s rejected %v, want %v", e.s.Name, id, gotRejected, wantRejected)
			}
			if !dupOrReplay[id] && (d.Counts.Duplicates != 0 || d.Counts.Replays != 0) {
				t.Errorf("%s: device %s counted %d duplicates and %d replays, it sent none", e.s.Name, id, d.Counts.Duplicates, d.Counts.Replays)
			}
		}
	}
}
