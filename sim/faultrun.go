package sim

import "time"

// Fault events: what happens when a fault starts and ends (wills and
// births, partition flushes, reorder releases, reboots, replays), and the
// fault records of the truth.

func (r *run) faultStart(fi int, t time.Duration) {
	fp := &r.p.faults[fi]
	fs := &r.fs[fi]
	d := &r.devs[fp.device]
	fs.started = true
	switch fp.spec.Kind {
	case FaultOffline:
		d.offline++
		if d.offline == 1 {
			r.status(int32(fp.device), MessageWill, t)
		}
	case FaultReplay:
		if d.lastMsg != nil {
			r.captureReplay(fi, t)
		} else {
			fs.capture = true
		}
	case FaultReboot:
		d.model.meter.Reset(t)
		if fp.spec.Downtime == 0 {
			r.reboot(d, fi, t)
		}
	}
}

func (r *run) faultEnd(fi int, t time.Duration) {
	fp := &r.p.faults[fi]
	d := &r.devs[fp.device]
	switch fp.spec.Kind {
	case FaultOffline:
		d.offline--
		if d.offline == 0 {
			r.status(int32(fp.device), MessageBirth, t)
		}
	case FaultPartition:
		if !r.anyActive(d, FaultPartition, t) {
			r.flush(d, fp, t)
		}
	case FaultReorder:
		if !r.anyActive(d, FaultReorder, t) {
			r.release(d, fp, t)
		}
	case FaultReboot:
		r.reboot(d, fi, t)
		return
	}
	r.record(fi, t)
}

func (r *run) anyActive(d *devState, k FaultKind, t time.Duration) bool {
	for _, fi := range d.p.faults {
		if fp := &r.p.faults[fi]; fp.spec.Kind == k && fp.active(t) {
			return true
		}
	}
	return false
}

// reboot restarts device d: boot + 1, seq from 1.
func (r *run) reboot(d *devState, fi int, t time.Duration) {
	d.boot++
	d.seq = 0
	r.fs[fi].boot = d.boot
	if r.sparkplug() { // a new session: NBIRTH with the next bdSeq
		d.bdSeq++
		r.spRebirth(r.p.faults[fi].device, t) // sparkplug.go
	}
	r.count(fi, 1)
	r.record(fi, t)
}

// flush sends a partition's buffer, all at once or at its flush rate.
func (r *run) flush(d *devState, fp *faultPlan, t time.Duration) {
	held := d.buf[d.bufHead:]
	d.buf, d.bufHead = nil, 0
	for i, m := range held {
		at := t
		if fp.spec.FlushRate > 0 {
			at += time.Duration(float64(i) / fp.spec.FlushRate * float64(time.Second))
		}
		if at == t {
			r.pending--
			r.send(m, t)
			continue
		}
		// Still pending; the evSend event releases it.
		r.q.push(event{at: at, kind: evSend, msg: m, dev: m.dev})
	}
}

// captureReplay takes the device's last message as what fault fi replays,
// and schedules the first replay.
func (r *run) captureReplay(fi int, t time.Duration) {
	fp := &r.p.faults[fi]
	fs := &r.fs[fi]
	d := &r.devs[fp.device]
	fs.payload, fs.payloadTS = d.lastMsg, d.lastTS
	if next := t + fp.spec.Every; next < fp.to && next < r.end {
		r.q.push(event{at: next, kind: evReplay, arg: int32(fi), dev: int32(fp.device)})
	}
}

// replay re-sends fault fi's old message and schedules the next.
func (r *run) replay(fi int, t time.Duration) {
	fp := &r.p.faults[fi]
	if !fp.active(t) {
		return
	}
	if next := t + fp.spec.Every; next < fp.to && next < r.end {
		r.q.push(event{at: next, kind: evReplay, arg: int32(fi), dev: int32(fp.device)})
	}
	d := &r.devs[fp.device]
	if r.disconnected(d, t, true) {
		return
	}
	m := &outMsg{Message: Message{
		Topic: d.p.topic, Payload: r.fs[fi].payload, QoS: r.qos, Kind: MessageTelemetry,
		Device: d.p.id, Faults: FaultSet(0).with(FaultReplay),
	}, dev: int32(fp.device)}
	r.count(fi, 1)
	r.send(m, t)
}

// record writes fault fi's truth record, ending at t.
func (r *run) record(fi int, t time.Duration) {
	fs := &r.fs[fi]
	if fs.done || !fs.started {
		return
	}
	fs.done = true
	if r.truth == nil {
		return
	}
	fp := &r.p.faults[fi]
	spec := fp.spec
	dp := &r.p.devices[fp.device]
	rec := TruthFault{
		Type: TruthTypeFault, Fault: spec.Kind, Device: dp.id, Group: r.p.groups[dp.group].Name,
		From: r.start.Add(fp.from), To: r.start.Add(t), Messages: fs.count,
		Every: durationString(spec.Every), Delay: durationString(spec.Delay), Jitter: durationString(spec.Jitter),
		Skew: durationString(spec.Skew), Jump: durationString(spec.Jump), Downtime: durationString(spec.Downtime),
		Factor: spec.Factor, Window: spec.Window, Copies: spec.Copies, Size: spec.Size, Boot: fs.boot,
	}
	if spec.allows("probability") {
		rec.Probability = spec.Probability
	}
	if fp.target >= 0 {
		rec.Target = r.p.devices[fp.target].id
	}
	if spec.Kind == FaultReplay && fs.payload != nil {
		ts := fs.payloadTS
		rec.ReplayTS = &ts
	}
	r.truth.write(rec)
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
