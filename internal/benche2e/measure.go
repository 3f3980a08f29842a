package benche2e

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// live measures a QoS 0 scenario (rate or max).
func (b *bench) live(ctx context.Context, br *broker, dir string, res *Result) error {
	n, rate := b.cfg.RateMessages, b.cfg.Rate
	if res.Scenario == ScenarioMax {
		n, rate = b.cfg.MaxMessages, 0
	}
	res.Expected = n
	w := NewWorkload(b.cfg.Devices, b.cfg.Sites)
	interval := time.Second
	if rate > 0 {
		interval = max(100*time.Millisecond, time.Duration(float64(b.cfg.Devices)/float64(rate)*float64(time.Second)).Round(100*time.Millisecond))
	}
	if res.Subject == SubjectRollcall {
		if err := b.writeRollcallFiles(dir, w, 0, interval); err != nil {
			return err
		}
	}
	s, err := b.startSubject(res.Subject, br, dir, b.id("sub"), 0, n, true)
	if err != nil {
		return err
	}
	defer s.stop()

	cpu0, err := cpuTime(s.pid())
	if err != nil {
		return err
	}
	bcpu0 := brokerCPU(br)
	pubDone := make(chan error, 1)
	var pst publishStats
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var err error
		pst, err = publishRun(pctx, br.addr, b.id("pub"), 0, w, n, rate)
		pubDone <- err
	}()
	start := time.Now()
	done, err := b.waitDone(s, res, n, start)
	if err != nil {
		res.Err = err.Error()
	}
	cpu1, _ := cpuTime(s.pid())
	res.CPU = cpu1 - cpu0
	res.BrokerCPU = brokerCPU(br) - bcpu0
	res.Wall = done.Sub(start)
	cancel()
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("publisher: %w", err)
	}
	if pst.Messages > 0 {
		res.PublishRate = float64(pst.Messages) / pst.End.Sub(pst.Start).Seconds()
	}
	// Lag only means something while the publisher publishes.
	var lag []time.Duration
	for i, at := range res.lagAt {
		if at.After(pst.Start.Add(time.Second)) && at.Before(pst.End) {
			lag = append(lag, res.Lag[i])
		}
	}
	res.Lag, res.lagAt = lag, nil
	res.RSS, res.PeakRSS, _ = memStatus(s.pid())
	if s.rc != nil {
		b.rollcallExtras(s.rc, res, pst)
	}
	return nil
}

func brokerCPU(br *broker) time.Duration {
	if br.pid() == 0 {
		return 0
	}
	c, _ := cpuTime(br.pid())
	return c
}

// rollcallExtras measures, after a live run, what a scrape costs rollcall
// and (rate scenario) how late provisional aggregates were emitted.
func (b *bench) rollcallExtras(rc *rollcallProc, res *Result, pst publishStats) {
	c0, err := cpuTime(rc.pid())
	if err == nil {
		const scrapes = 50
		for range scrapes {
			if _, err := rc.metrics(); err != nil {
				break
			}
		}
		if c1, err := cpuTime(rc.pid()); err == nil {
			res.ScrapeCPU = (c1 - c0) / scrapes
		}
	}
	m, err := rc.metrics()
	if err == nil && m["rollcall_aggregate_emit_seconds_count"] > 0 {
		res.EmitRound = time.Duration(m["rollcall_aggregate_emit_seconds_sum"] / m["rollcall_aggregate_emit_seconds_count"] * float64(time.Second))
	}
	if err == nil {
		res.HeapInuse, res.GoSys = int64(m["go_memstats_heap_inuse_bytes"]), int64(m["go_memstats_sys_bytes"])
	}
	if res.Scenario != ScenarioRate || pst.Messages == 0 {
		return
	}
	// A window's provisional aggregate is due when the group's watermark
	// (newest event time − allowed skew) passes the window's end: when a
	// reading stamped end + skew arrives. The publisher stamps readings
	// with its wall clock, so emitted_at − (end + skew) is the delay from
	// publishing that reading to the emission, an upper bound of the delay
	// after the watermark passed. Only windows that closed while
	// publishing at full rate count.
	from, to := pst.Start.Add(allowedSkew), pst.End
	for s := range b.cfg.Sites {
		aggs, err := rc.aggregates(fmt.Sprintf("site-%03d", s), "power_kw")
		if errors.Is(err, errUnknownGroup) {
			continue // no window of the group emitted yet
		}
		if err != nil {
			res.Notes = append(res.Notes, "emit latency: "+err.Error())
			return
		}
		for _, a := range aggs {
			due := a.Window.End.Add(allowedSkew)
			if a.Revision != 0 || due.Before(from) || due.After(to) {
				continue
			}
			res.EmitLatency = append(res.EmitLatency, a.EmittedAt.Sub(due))
		}
	}
}

// drain measures the QoS 1 backlog drain.
func (b *bench) drain(ctx context.Context, br *broker, dir string, res *Result) error {
	n := b.cfg.DrainMessages
	res.Expected = n
	w := NewWorkload(b.cfg.Devices, b.cfg.Sites)
	clientID := b.id("drain")
	// 1. The persistent session, subscribed at QoS 1, then offline.
	if res.Subject == SubjectRollcall {
		if err := b.writeRollcallFiles(dir, w, 1, time.Second); err != nil {
			return err
		}
		rc, err := startRollcall(b.rollcall, dir, "tcp://"+br.addr, clientID, b.rollcallEnv(), true)
		if err != nil {
			return err
		}
		rc.stop()
	} else {
		s, err := startSubscriber("--broker", "tcp://"+br.addr, "--client-id", clientID, "--qos=1", "--clean=false", "--session-only")
		if err != nil {
			return err
		}
		_, err = s.await("ready", b.cfg.Stall, nil)
		s.stop()
		if err != nil {
			return err
		}
	}
	// 2. The backlog.
	pst, err := publishRun(ctx, br.addr, b.id("pub"), 1, w, n, 0)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	res.PublishRate = float64(pst.Messages) / pst.End.Sub(pst.Start).Seconds()
	// 3. The drain.
	bcpu0 := brokerCPU(br)
	start := time.Now()
	s, err := b.startSubject(res.Subject, br, dir, clientID, 1, n, false)
	if err != nil {
		return err
	}
	defer s.stop()
	done, err := b.waitDone(s, res, n, start)
	if err != nil {
		res.Err = err.Error()
	}
	res.CPU, _ = cpuTime(s.pid())
	res.BrokerCPU = brokerCPU(br) - bcpu0
	res.Wall = done.Sub(start)
	res.RSS, res.PeakRSS, _ = memStatus(s.pid())
	return nil
}
