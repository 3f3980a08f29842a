package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// run is the state of one call of Run, owned by its goroutine.
type run struct {
	f     *Fleet
	p     *plan
	tr    transport
	truth *truthWriter // nil without Config.Truth
	q     eventQueue
	devs  []devState
	fs    []faultState // by plan.faults index
	wind  []*siteWind  // by group; nil for generic groups
	qos   byte

	start     time.Time     // simulated time 0
	end       time.Duration // the scenario's end, or forever
	wallStart time.Time
	speed     float64
	now       time.Duration // time of the current event
	stopped   time.Duration // simulated time the run reached
	pending   int           // messages held: delayed, buffered, reordered
	base      Stats         // the counters when the run began

	lagWarn, dropWarn throttle
}

// devState is one device's run-time state.
type devState struct {
	p     *devicePlan
	model *model
	frng  *rand.Rand // fault randomness; nil for a device without faults
	boot  uint64
	seq   uint64
	bdSeq uint64 // Sparkplug session (FormatSparkplug): + 1 at every reboot

	buf     []*outMsg // partition buffer, oldest first from bufHead
	bufHead int
	block   []*outMsg // reorder block

	trackLast  bool   // a replay fault needs the last message
	lastMsg    []byte // payload of the last reading sent
	lastTS     time.Time
	malformedN int // malformed payloads so far, to vary them
	offline    int // offline faults in force
}

// faultState is one fault instance's run-time state.
type faultState struct {
	started, done bool
	count         uint64
	capture       bool // replay: waiting for a message to replay
	payload       []byte
	payloadTS     time.Time
	boot          uint64 // reboot: the boot after it
}

// outMsg is a message on its way out.
type outMsg struct {
	Message
	dev       int32
	copies    int       // extra copies to publish (duplicate)
	telemetry bool      // an intact reading: a replay may re-send it
	ts        time.Time // its wire timestamp
}

func newRun(f *Fleet, tr transport, boot uint64) *run {
	p := f.plan
	wall := f.cfg.Now()
	r := &run{
		f: f, p: p, tr: tr, qos: *p.scenario.QoS, speed: f.cfg.Speed,
		start: f.cfg.startTime(wall), wallStart: wall, end: forever,
		devs: make([]devState, len(p.devices)), fs: make([]faultState, len(p.faults)),
		wind: make([]*siteWind, len(p.groups)),
	}
	if d := p.scenario.Duration; d > 0 {
		r.end = d
	}
	r.base = f.Stats()
	f.ctr.start.Store(r.start.UnixNano())
	f.ctr.sim.Store(0)
	for gi, g := range p.groups {
		if g.Kind == KindTurbine {
			r.wind[gi] = newSiteWind(p.scenario.Wind, p.scenario.Seed, gi)
		}
	}
	// Fault boundaries first, so that at equal times they come before the
	// samples: a fault is active in [from, to).
	for fi := range p.faults {
		fp := &p.faults[fi]
		if fp.from < r.end {
			r.q.push(event{at: fp.from, kind: evFaultStart, arg: int32(fi), dev: int32(fp.device)})
			if fp.to < r.end && fp.to > fp.from {
				r.q.push(event{at: fp.to, kind: evFaultEnd, arg: int32(fi), dev: int32(fp.device)})
			}
		}
	}
	for i := range p.devices {
		dp := &p.devices[i]
		d := &r.devs[i]
		d.p, d.boot = dp, boot
		d.model = newModel(p.scenario.Seed, i, len(p.groups[dp.group].Metrics))
		if len(dp.faults) > 0 {
			d.frng = newRand(p.scenario.Seed, streamDeviceFault^uint64(i))
		}
		for _, fi := range dp.faults {
			d.trackLast = d.trackLast || p.faults[fi].spec.Kind == FaultReplay
		}
		if dp.offset < r.end {
			r.q.push(event{at: dp.offset, kind: evSample, dev: int32(i)})
		}
	}
	if f.cfg.Truth != nil {
		r.truth = newTruthWriter(f.cfg.Truth, p)
		r.truth.start = r.start
		r.truth.write(TruthRun{
			Type: TruthTypeRun, Scenario: p.scenario.Name, Seed: p.scenario.Seed, Boot: boot, Start: r.start,
			Duration: p.scenario.Duration.String(), Speed: formatSpeed(r.speed),
			Window: p.scenario.Truth.Window.String(), Offset: p.scenario.Truth.Offset.String(),
			Groups: len(p.groups), Devices: len(p.devices),
		})
	}
	return r
}

// loop runs the events in time order, pacing them to the wall clock at
// Config.Speed, until the end, ctx is done or the truth fails. At infinite
// speed it never waits.
func (r *run) loop(ctx context.Context) {
	for i := range r.devs { // births of the devices with a connection of their own
		if r.devs[i].p.own || r.sparkplug() { // a Sparkplug node always announces itself
			r.status(int32(i), MessageBirth, 0)
		}
	}
	paced := !math.IsInf(r.speed, 1)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	r.stopped = r.end
	for n := 1; r.q.len() > 0; n++ {
		at := r.q.peek().at
		if at >= r.end {
			break
		}
		if paced {
			now := r.f.cfg.Now()
			due := r.wallStart.Add(time.Duration(float64(at) / r.speed))
			if wait := due.Sub(now); wait > 0 {
				r.f.ctr.lag.Store(0)
				r.f.ctr.sim.Store(int64(r.now))
				r.tr.poll()
				// Sleep at least pacingTick: events due in the meantime go
				// out together, up to that late, never early.
				timer.Reset(min(max(wait, pacingTick), maxSleep))
				select {
				case <-ctx.Done():
					r.stopped = min(time.Duration(float64(now.Sub(r.wallStart))*r.speed), r.end)
					return
				case <-timer.C:
				}
				continue
			}
			r.behind(now, -due.Sub(now))
		}
		ev := r.q.pop()
		r.now = ev.at
		r.handle(ev)
		if n%256 == 0 {
			r.f.ctr.sim.Store(int64(r.now))
			r.tr.poll()
			if ctx.Err() != nil || r.truth != nil && r.truth.err != nil {
				r.stopped = r.now
				return
			}
		}
	}
	if r.end == forever { // ctx ended a run without a duration during work
		r.stopped = r.now
		return
	}
	if paced { // simulated time runs to the end
		if wait := r.wallStart.Add(time.Duration(float64(r.end) / r.speed)).Sub(r.f.cfg.Now()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				r.stopped = min(time.Duration(float64(r.f.cfg.Now().Sub(r.wallStart))*r.speed), r.end)
			case <-timer.C:
			}
		}
	}
}

// behind records how far the schedule lags the wall clock, and warns when
// it is more than a second.
func (r *run) behind(now time.Time, lag time.Duration) {
	r.f.ctr.lag.Store(int64(lag))
	if lag > time.Second && r.lagWarn.allow(now) {
		r.f.log.Warn("behind schedule: the broker or the machine is too slow for the fleet; readings go out late",
			"lag", lag)
	}
}

func (r *run) handle(ev event) {
	switch ev.kind {
	case evSample:
		r.sample(ev.dev, ev.at)
	case evSend:
		r.pending--
		r.send(ev.msg, ev.at)
	case evFaultStart:
		r.faultStart(int(ev.arg), ev.at)
	case evFaultEnd:
		r.faultEnd(int(ev.arg), ev.at)
	case evReplay:
		r.replay(int(ev.arg), ev.at)
	}
}

// finish records the faults still in force, counts what is still held, and
// writes the last truth window and the end record.
func (r *run) finish() {
	for fi := range r.fs {
		r.record(fi, min(r.stopped, r.p.faults[fi].to))
	}
	r.f.ctr.unsent.Add(uint64(r.pending))
	r.f.ctr.sim.Store(int64(r.stopped))
	if r.truth == nil {
		return
	}
	end := r.start.Add(r.stopped)
	r.truth.flush(end)
	st, b := r.f.Stats(), r.base // this run's counts
	r.truth.write(TruthEnd{
		Type: TruthTypeEnd, End: end, Samples: st.Samples - b.Samples, Sent: st.Sent - b.Sent,
		Failed: st.Failed - b.Failed, Lost: st.Lost - b.Lost, Dropped: st.Dropped - b.Dropped, Unsent: st.Unsent - b.Unsent,
	})
	r.truth.flushIO()
}

// err returns the run's error: a failed truth.
func (r *run) err() error {
	if r.truth != nil {
		return r.truth.Err()
	}
	return nil
}

// throttle lets one event through per WarnEvery.
type throttle struct{ last time.Time }

func (t *throttle) allow(now time.Time) bool {
	if !t.last.IsZero() && now.Sub(t.last) < WarnEvery {
		return false
	}
	t.last = now
	return true
}
