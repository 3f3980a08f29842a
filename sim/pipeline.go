package sim

import "time"

// The path of a reading: sample takes it, its device's active faults shape
// it (lose, skew, garble, duplicate), and it is buffered (partition), held
// (reorder), delayed (delay, jitter) or sent at once. Every held message
// counts against Config.MaxPending.

// sample takes device di's reading at t and sends it through its faults.
func (r *run) sample(di int32, t time.Duration) {
	d := &r.devs[di]
	dp := d.p
	g := &r.p.groups[dp.group]
	var vals []float64
	if g.Kind == KindTurbine {
		w := r.p.scenario.Wind
		vals = d.model.turbine(t, r.wind[dp.group], r.p.scenario.Turbine, *w.TurbineVariation, w.MaxMS)
	} else {
		vals = d.model.generic(t, g.Metrics, g.spec.Metrics)
	}
	ts := r.start.Add(t).Truncate(time.Millisecond)
	if r.truth != nil {
		r.truth.add(dp.group, dp.local, ts, vals)
		if g.Kind == KindTurbine && len(vals) == 3 { // metered: energy_kwh, power_kw, wind_ms
			r.truth.addEnergy(dp.group, dp.local, t, vals[1], d.model.meter.total, d.model.meter.resets)
		}
	}
	r.f.ctr.samples.Add(1)
	r.scheduleSample(di, t)
	d.seq++

	h := r.activeFaults(d, t)
	if h.lost {
		r.f.ctr.lost.Add(1)
		return
	}
	for _, k := range []FaultKind{FaultClockSkew, FaultClockJump} {
		if h.set.Has(k) {
			r.countActive(dp, k, t, 1)
		}
	}
	wts := ts.Add(h.skew).Truncate(time.Millisecond)
	payload := r.payload(d, wts, g.Metrics, vals) // sparkplug.go
	m := &outMsg{Message: Message{
		Topic: dp.topic, Payload: payload, QoS: r.qos, Kind: MessageTelemetry,
		Device: dp.id, Faults: h.set,
	}, dev: di, telemetry: true, ts: wts}
	for _, fi := range h.dups {
		n := r.p.faults[fi].spec.Copies
		m.copies += n
		r.count(fi, uint64(n))
	}
	switch {
	case h.mal != nil:
		m.Payload = r.garble(d, payload, wts) // sparkplug.go
		d.malformedN++
		m.Faults, m.telemetry = m.Faults.with(FaultMalformed), false
		r.countPlan(h.mal, 1)
	case h.over != nil:
		m.Payload = r.pad(payload, h.over.spec.Size) // sparkplug.go
		m.Faults, m.telemetry = m.Faults.with(FaultOversize), false
		r.countPlan(h.over, 1)
	}
	switch {
	case h.part != nil:
		r.buffer(d, h.part, m)
	case h.reord != nil:
		r.hold(d, h.reord, m, t)
	default:
		r.route(d, m, t)
	}
	if h.spoofer != nil {
		target := &r.p.devices[h.spoofer.target]
		sp := &outMsg{Message: Message{
			Topic: target.topic, QoS: r.qos, Kind: MessageTelemetry, Device: dp.id,
			Faults:  h.set&FaultSet(0).with(FaultClockSkew).with(FaultClockJump) | FaultSet(0).with(FaultSpoof),
			Payload: appendTelemetry(make([]byte, 0, 160), dp.id, d.seq, d.boot, wts, g.Metrics, vals),
		}, dev: di}
		r.countPlan(h.spoofer, 1)
		r.send(sp, t)
	}
}

// faultHits are the faults that shape one reading.
type faultHits struct {
	set                             FaultSet
	skew                            time.Duration
	mal, over, part, reord, spoofer *faultPlan
	lost                            bool
	dups                            []int // duplicate faults that hit
}

// activeFaults returns the faults of device d active at t that hit its
// reading, and counts those that apply whether or not the reading is sent.
func (r *run) activeFaults(d *devState, t time.Duration) (h faultHits) {
	for _, fi := range d.p.faults {
		fp := &r.p.faults[fi]
		if !fp.active(t) {
			continue
		}
		switch k := fp.spec.Kind; k {
		case FaultSilent, FaultOffline, FaultReboot:
			h.lost = true
			r.count(fi, 1)
		case FaultClockSkew:
			h.skew += fp.spec.Skew
			h.set = h.set.with(k)
		case FaultClockJump:
			h.skew += fp.spec.Jump
			h.set = h.set.with(k)
		case FaultDuplicate:
			if r.hit(d, fp) {
				h.set = h.set.with(k)
				h.dups = append(h.dups, fi)
			}
		case FaultMalformed:
			if h.mal == nil && r.hit(d, fp) {
				h.mal = fp
			}
		case FaultOversize:
			if h.over == nil && r.hit(d, fp) {
				h.over = fp
			}
		case FaultSpoof:
			if h.spoofer == nil && r.hit(d, fp) {
				h.spoofer = fp
			}
		case FaultPartition:
			h.part = cmpOr(h.part, fp)
		case FaultReorder:
			h.reord = cmpOr(h.reord, fp)
		case FaultBurst:
			h.set = h.set.with(k)
			r.count(fi, 1)
		}
	}
	return h
}

// countActive counts n for every fault of kind k active on device dp at t.
func (r *run) countActive(dp *devicePlan, k FaultKind, t time.Duration, n uint64) {
	for _, fi := range dp.faults {
		if fp := &r.p.faults[fi]; fp.spec.Kind == k && fp.active(t) {
			r.count(fi, n)
		}
	}
}

// cmpOr returns a when it is not nil, else b.
func cmpOr(a, b *faultPlan) *faultPlan {
	if a != nil {
		return a
	}
	return b
}

// scheduleSample schedules device di's next sample after t: the next point
// of the device's grid (offset + k × interval) or, while a burst is active,
// of the finer grid that divides each interval into Factor steps.
func (r *run) scheduleSample(di int32, t time.Duration) {
	dp := r.devs[di].p
	k := (t - dp.offset) / dp.interval
	cell := dp.offset + k*dp.interval // the grid point at or before t
	next := cell + dp.interval
	for _, fi := range dp.faults {
		fp := &r.p.faults[fi]
		if fp.spec.Kind != FaultBurst || fp.to <= t || fp.from >= next {
			continue
		}
		// The first point cell + j×interval/F after t and from on.
		f := time.Duration(fp.spec.Factor)
		lo := max(t+1, fp.from) - cell
		j := max((lo*f+dp.interval-1)/dp.interval, 1)
		for j < f && j*dp.interval/f < lo {
			j++
		}
		if p := cell + j*dp.interval/f; j < f && p < fp.to && p < next {
			next = p
		}
	}
	if next < r.end {
		r.q.push(event{at: next, kind: evSample, dev: di})
	}
}

// hit draws whether a fault with a probability applies to this reading.
func (r *run) hit(d *devState, fp *faultPlan) bool {
	p := fp.spec.Probability
	return p >= 1 || d.frng.Float64() < p
}

func (r *run) count(fi int, n uint64) { r.countPlan(&r.p.faults[fi], n) }

func (r *run) countPlan(fp *faultPlan, n uint64) {
	r.fs[fp.id].count += n
	r.f.ctr.faults[fp.spec.Kind.index()].Add(n)
}

// route sends m now, or later when a delay or jitter fault is active.
func (r *run) route(d *devState, m *outMsg, t time.Duration) {
	var delay time.Duration
	for _, fi := range d.p.faults {
		fp := &r.p.faults[fi]
		if !fp.active(t) {
			continue
		}
		switch fp.spec.Kind {
		case FaultDelay:
			if r.hit(d, fp) {
				delay += fp.spec.Delay
				m.Faults = m.Faults.with(FaultDelay)
				r.count(fi, 1)
			}
		case FaultJitter:
			delay += time.Duration(d.frng.Int64N(int64(fp.spec.Jitter)))
			m.Faults = m.Faults.with(FaultJitter)
			r.count(fi, 1)
		}
	}
	if delay == 0 {
		r.send(m, t)
		return
	}
	if r.pending >= r.f.cfg.MaxPending {
		r.drop("max_pending")
		return
	}
	r.pending++
	r.q.push(event{at: t + delay, kind: evSend, msg: m, dev: m.dev})
}

// buffer keeps m in a partitioned device's buffer, dropping the oldest when
// it is full.
func (r *run) buffer(d *devState, fp *faultPlan, m *outMsg) {
	if r.pending >= r.f.cfg.MaxPending {
		r.drop("max_pending")
		return
	}
	if len(d.buf)-d.bufHead >= fp.spec.Buffer {
		d.buf[d.bufHead] = nil
		d.bufHead++
		r.pending--
		r.drop("partition_buffer")
	}
	if d.bufHead > len(d.buf)/2 && d.bufHead > 64 { // compact
		n := copy(d.buf, d.buf[d.bufHead:])
		clear(d.buf[n:])
		d.buf, d.bufHead = d.buf[:n], 0
	}
	m.Faults = m.Faults.with(FaultPartition)
	d.buf = append(d.buf, m)
	r.pending++
	r.countPlan(fp, 1)
}

// hold adds m to a reordering device's block and releases the block,
// shuffled, when it is full.
func (r *run) hold(d *devState, fp *faultPlan, m *outMsg, t time.Duration) {
	if r.pending >= r.f.cfg.MaxPending {
		r.drop("max_pending")
		return
	}
	d.block = append(d.block, m)
	r.pending++
	if len(d.block) >= fp.spec.Window {
		r.release(d, fp, t)
	}
}

// release sends a reorder block in a random order that is never the
// original one.
func (r *run) release(d *devState, fp *faultPlan, t time.Duration) {
	n := len(d.block)
	if n == 0 {
		return
	}
	perm := d.frng.Perm(n)
	if n >= 2 {
		inOrder := true
		for i, p := range perm {
			inOrder = inOrder && i == p
		}
		if inOrder {
			perm[0], perm[1] = perm[1], perm[0]
		}
	}
	block := d.block
	d.block = nil
	r.pending -= n
	r.countPlan(fp, uint64(n))
	for _, i := range perm {
		m := block[i]
		m.Faults = m.Faults.with(FaultReorder)
		r.route(d, m, t)
	}
}

func (r *run) drop(reason string) {
	n := r.f.ctr.dropped.Add(1)
	if r.dropWarn.allow(r.f.cfg.Now()) {
		r.f.log.Warn("held message dropped", "reason", reason, "dropped_total", n)
	}
}

// send publishes m (and its copies) unless its device cannot send at t.
func (r *run) send(m *outMsg, t time.Duration) {
	d := &r.devs[m.dev]
	if r.disconnected(d, t, false) {
		r.f.ctr.lost.Add(1)
		return
	}
	m.At = r.start.Add(t)
	for range 1 + m.copies {
		r.publish(m.dev, &m.Message)
	}
	if m.telemetry && d.trackLast {
		d.lastMsg, d.lastTS = m.Payload, m.ts
		for _, fi := range d.p.faults {
			if fs := &r.fs[fi]; fs.capture {
				fs.capture = false
				r.captureReplay(fi, t)
			}
		}
	}
}

// disconnected reports whether device d cannot send at t: it is offline or
// rebooting, or (for its own messages such as replays) silent.
func (r *run) disconnected(d *devState, t time.Duration, silentToo bool) bool {
	for _, fi := range d.p.faults {
		fp := &r.p.faults[fi]
		k := fp.spec.Kind
		if (k == FaultOffline || k == FaultReboot || silentToo && k == FaultSilent) && fp.active(t) {
			return true
		}
	}
	return false
}

func (r *run) publish(dev int32, m *Message) {
	r.f.ctr.sent.Add(1)
	r.tr.publish(dev, m)
}

// status publishes a birth, or has the broker publish a device's Last Will.
func (r *run) status(di int32, kind MessageKind, t time.Duration) {
	dp := r.devs[di].p
	m := Message{
		Topic: dp.statusTopic, QoS: 1, Kind: kind, Device: dp.id, At: r.start.Add(t),
		Payload: []byte(StatusOnline),
	}
	r.f.ctr.status.Add(1)
	if r.sparkplug() {
		r.spStatus(di, &m) // sparkplug.go
	}
	switch kind {
	case MessageWill:
		if !r.sparkplug() {
			m.Payload = []byte(StatusOffline)
		}
		r.tr.drop(di, &m)
	case MessageBirth:
		if t == 0 {
			r.tr.publish(di, &m)
		} else {
			r.tr.reconnect(di, &m)
		}
	}
}
