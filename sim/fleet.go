package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Fleet runs a scenario. Its methods are safe for concurrent use; Run calls
// must not overlap.
type Fleet struct {
	cfg     Config
	plan    *plan
	log     *slog.Logger
	boots   atomic.Uint64 // calls of Run so far
	running atomic.Bool
	ctr     counters
}

// counters are the fleet's statistics, written by the run's goroutine (and
// the MQTT client's for failures) and read by Stats.
type counters struct {
	samples, sent, failed, lost, dropped, unsent, status atomic.Uint64
	faults                                               [numFaultKinds]atomic.Uint64
	start                                                atomic.Int64 // simulated start, Unix ns
	sim                                                  atomic.Int64 // simulated time reached, since the start
	lag                                                  atomic.Int64 // how far the schedule is behind, ns
}

// Stats is a snapshot of a fleet's counters, over all its runs.
type Stats struct {
	// Start is the simulated start of the current (or last) run, and
	// SimTime the simulated time it has reached.
	Start, SimTime time.Time
	// Samples counts the readings generated: the samples of the truth.
	Samples uint64
	// Sent counts the telemetry messages handed to the broker connection
	// (or Config.Deliver): readings, duplicates, replays, spoofs, malformed
	// and oversize messages. Failed ones are included.
	Sent uint64
	// Failed counts publishes the client failed, or the broker did not
	// confirm within AckTimeout or before the run stopped.
	Failed uint64
	// Lost counts readings never sent because their device was silent,
	// offline or rebooting.
	Lost uint64
	// Dropped counts held messages dropped for a limit: a partition's
	// Buffer or Config.MaxPending.
	Dropped uint64
	// Unsent counts messages still held (delayed, buffered, reordered) when
	// the run stopped.
	Unsent uint64
	// Status counts births and Last Wills (not in Sent).
	Status uint64
	// Faults counts, by kind, the messages each fault kind affected (see
	// TruthFault.Messages).
	Faults map[FaultKind]uint64
	// Lag is how far the schedule was behind the wall clock at the last
	// event (0 when on time or at infinite speed).
	Lag time.Duration
}

// New returns a fleet for cfg, after filling defaults and validating it. A nil
// log discards.
func New(cfg Config, log *slog.Logger) (*Fleet, error) {
	cfg = cfg.WithDefaults()
	p, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("sim: config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fleet{cfg: cfg, plan: p, log: log.With("stage", "sim")}, nil
}

// Groups returns the fleet's sites and devices, in fleet order.
func (f *Fleet) Groups() []Group {
	out := slices.Clone(f.plan.groups)
	for i := range out {
		out[i].Devices = slices.Clone(out[i].Devices)
		out[i].Metrics = slices.Clone(out[i].Metrics)
	}
	return out
}

// Scenario returns the scenario the fleet runs, with its defaults filled.
func (f *Fleet) Scenario() Scenario { return f.plan.scenario.WithDefaults() }

// Stats returns the fleet's counters.
func (f *Fleet) Stats() Stats {
	c := &f.ctr
	s := Stats{
		Samples: c.samples.Load(), Sent: c.sent.Load(), Failed: c.failed.Load(), Lost: c.lost.Load(),
		Dropped: c.dropped.Load(), Unsent: c.unsent.Load(), Status: c.status.Load(),
		Lag: time.Duration(c.lag.Load()), Faults: map[FaultKind]uint64{},
	}
	if ns := c.start.Load(); ns != 0 {
		s.Start = time.Unix(0, ns).UTC()
		s.SimTime = s.Start.Add(time.Duration(c.sim.Load()))
	}
	for i, k := range faultKinds {
		if n := c.faults[i].Load(); n > 0 {
			s.Faults[k] = n
		}
	}
	return s
}

// Run connects to the broker (one shared MQTT connection, plus one with a
// Last Will per device that needs it) and runs the scenario: until its
// duration has passed in simulated time, or ctx is done. It then waits up to
// DrainTimeout for outstanding confirmations, writes the end of the truth,
// disconnects and returns. It returns an error when it cannot connect in
// ConnectAttempts attempts, or when writing the truth fails (ErrTruth); a
// cancelled ctx is a normal stop (nil).
//
// Each call is a new boot of every device: boot is the number of the call (1
// for the first) plus its reboots, seq restarts at 1 and the values restart
// from the seed.
func (f *Fleet) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	boot := f.boots.Add(1)
	var tr transport
	if f.cfg.Deliver != nil {
		tr = &funcTransport{deliver: f.cfg.Deliver}
	} else {
		tr = newMQTTTransport(f)
	}
	if err := tr.connect(ctx); err != nil || ctx.Err() != nil {
		tr.close()
		return err
	}
	r := newRun(f, tr, boot)
	f.log.Info("fleet started", "scenario", f.plan.scenario.Name, "devices", len(f.plan.devices),
		"groups", len(f.plan.groups), "faults", len(f.plan.faults), "seed", f.plan.scenario.Seed,
		"speed", formatSpeed(f.cfg.Speed), "start", r.start, "duration", f.plan.scenario.Duration, "boot", boot)
	r.loop(ctx)
	tr.close()
	r.finish()
	st := f.Stats()
	f.log.Info("fleet stopped", "sim_time", st.SimTime, "samples", st.Samples, "sent", st.Sent,
		"failed", st.Failed, "lost", st.Lost, "dropped", st.Dropped, "unsent", st.Unsent)
	return r.err()
}

// startTime returns the simulated start for a run beginning at wall time now.
func (c *Config) startTime(now time.Time) time.Time {
	start := c.Start
	if start.IsZero() {
		start = c.Scenario.Start
	}
	if start.IsZero() {
		d := c.Scenario.Duration
		switch {
		case math.IsInf(c.Speed, 1):
			start = now.Add(-d)
		case c.Speed > 1:
			start = now.Add(-time.Duration(float64(d) * (1 - 1/c.Speed)))
		default:
			start = now
		}
	}
	return start.Round(0).UTC().Truncate(time.Millisecond)
}
