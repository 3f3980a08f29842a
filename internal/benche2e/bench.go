// Package benche2e is rollcall's end-to-end benchmark (`make bench-e2e`,
// DESIGN.md § Performance and limits): the rollcall binary and a bare paho
// subscriber that only counts, run back to back on the same mosquitto and
// the same workload, each measured by its own process's CPU time
// (/proc/<pid>/stat) and by the rate at which it takes the messages.
//
// Scenarios:
//
//   - rate: QoS 0 at a fixed publish rate (default 40k messages/s): CPU
//     seconds per million messages of each subscriber; for rollcall also its
//     RSS with the whole fleet tracked and how long after the watermark
//     passes a window its provisional aggregate is emitted.
//   - max: QoS 0, published as fast as the broker takes it: the rate each
//     subscriber sustains (rollcall sheds what it cannot take, and says so).
//   - drain: QoS 1 backlog drain: K messages queued by mosquitto for an
//     offline persistent session, then the subscriber starts; the time until
//     it has handled all of them (the bare subscriber acknowledges each
//     message itself; rollcall after its journal's group commit).
//
// Subjects: "paho" (count only), "paho+json" (decodes each payload with
// encoding/json, the rate target's reference) and "rollcall" (`rollcall
// serve --mqtt-url`, default configuration, a fleet file listing every
// device). The publisher is a minimal MQTT client in this process; the
// subjects and mosquitto are separate processes. The machine is shared and
// has two cores: the CPU-time figures are the ones to compare, and each
// measurement is repeated (Config.Runs), subjects interleaved.
package benche2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Subjects.
const (
	SubjectPaho     = "paho"
	SubjectPahoJSON = "paho+json"
	SubjectRollcall = "rollcall"
)

// Scenarios.
const (
	ScenarioRate  = "rate"
	ScenarioMax   = "max"
	ScenarioDrain = "drain"
)

// Defaults of Config: sized so that `make bench-e2e` finishes in a few
// minutes on a 2-core machine.
const (
	DefaultDevices       = 10000
	DefaultSites         = 100
	DefaultRate          = 40000
	DefaultRateMessages  = 600000
	DefaultMaxMessages   = 600000
	DefaultDrainMessages = 500000
	DefaultRuns          = 2
	// DefaultInflight is the started mosquitto's max_inflight_messages:
	// the value docs/deployment.md recommends for rollcall (at most half
	// of aggregate.queue_len). mosquitto's own default is 20.
	DefaultInflight = 1024
	// DefaultStall is how long a measurement waits without progress before
	// it gives up and reports what it got.
	DefaultStall = 15 * time.Second
	// allowedSkew is rollcall's default window.allowed_skew: a group's
	// watermark is its newest event time minus this.
	allowedSkew = 2 * time.Second
)

// Config configures a benchmark run. Zero fields take the defaults.
type Config struct {
	// Broker is an external broker URL (tcp://host:port). Empty: a
	// mosquitto is started for each measurement.
	Broker string
	// Mosquitto is the mosquitto binary. Default: from PATH or /usr/sbin.
	Mosquitto string
	// Inflight is the started mosquitto's max_inflight_messages.
	Inflight int
	// Rollcall is the rollcall binary. Default: built with go build.
	Rollcall string
	// Devices and Sites shape the fleet.
	Devices, Sites int
	// Rate is the QoS 0 publish rate of the rate scenario, messages/s.
	Rate int
	// RateMessages, MaxMessages and DrainMessages are the messages of one
	// measurement of each scenario.
	RateMessages, MaxMessages, DrainMessages int
	// Runs is how often each measurement is repeated.
	Runs int
	// Scenarios to run, in order. Default: rate, max, drain.
	Scenarios []string
	// Subjects to measure. Default: all (paho+json only in rate and max).
	Subjects []string
	// Stall is how long a measurement may make no progress.
	Stall time.Duration
	// GOMEMLIMIT, if set, is passed to rollcall.
	GOMEMLIMIT string
	// RollcallConfig is YAML appended to rollcall's config file, which
	// otherwise only sets mqtt.qos (e.g. "journal: {queue_len: 65536}").
	RollcallConfig string
	// WorkDir holds the brokers' and rollcall's files and logs. Default: a
	// temp dir, removed at the end unless Keep or a measurement failed or
	// was incomplete.
	WorkDir string
	Keep    bool
	// Out receives the report.
	Out io.Writer
	// Log receives progress.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Devices, DefaultDevices)
	def(&c.Sites, DefaultSites)
	def(&c.Rate, DefaultRate)
	def(&c.RateMessages, DefaultRateMessages)
	def(&c.MaxMessages, DefaultMaxMessages)
	def(&c.DrainMessages, DefaultDrainMessages)
	def(&c.Runs, DefaultRuns)
	def(&c.Inflight, DefaultInflight)
	if c.Stall == 0 {
		c.Stall = DefaultStall
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = []string{ScenarioRate, ScenarioMax, ScenarioDrain}
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{SubjectPaho, SubjectPahoJSON, SubjectRollcall}
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Devices < 1 || c.Sites < 1 || c.Sites > c.Devices || c.Sites > 1000 || c.Devices/c.Sites > 1000 {
		errs = append(errs, fmt.Errorf("devices %d in sites %d: need 1 ≤ sites ≤ min(devices, 1000) and ≤ 1000 devices a site", c.Devices, c.Sites))
	}
	if c.Rate < 0 || c.RateMessages < 1 || c.MaxMessages < 1 || c.DrainMessages < 1 || c.Runs < 1 {
		errs = append(errs, errors.New("rate, messages and runs must be positive"))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains([]string{ScenarioRate, ScenarioMax, ScenarioDrain}, s) {
			errs = append(errs, fmt.Errorf("scenario %q: want rate, max or drain", s))
		}
	}
	for _, s := range c.Subjects {
		if !slices.Contains([]string{SubjectPaho, SubjectPahoJSON, SubjectRollcall}, s) {
			errs = append(errs, fmt.Errorf("subject %q: want paho, paho+json or rollcall", s))
		}
	}
	return errors.Join(errs...)
}

// Result is one measurement.
type Result struct {
	Scenario, Subject string
	Run               int
	Expected          int // messages published
	Handled           int // messages the subject took (rollcall: its workers handled)
	Shed              int // QoS 0 messages rollcall shed at ingest
	// Wall is from the start of publishing (drain: of the subject's
	// process) until the subject had every message.
	Wall time.Duration
	// FirstAfter (drain) is from the subject's start to its first message.
	FirstAfter time.Duration
	// CPU is the subject's CPU time over Wall (drain: its whole life).
	CPU time.Duration
	// BrokerCPU is mosquitto's CPU time over Wall (0 with --broker).
	BrokerCPU time.Duration
	// PublishRate is the publisher's rate, messages/s (QoS 1: acknowledged).
	PublishRate float64
	// RSS and PeakRSS (VmHWM) of the subject at the end, bytes.
	RSS, PeakRSS int64
	// Load is the 1-minute load average at the end.
	Load float64
	// EmitLatency (rollcall, rate): per provisional aggregate whose window
	// closed while publishing, emitted_at − (window end + allowed skew).
	EmitLatency []time.Duration
	// EmitRound is the mean emit round (rollcall_aggregate_emit_seconds).
	EmitRound time.Duration
	// Lag (rollcall) is, at each scrape while publishing, the wall clock
	// minus the newest event time rollcall accepted
	// (rollcall_aggregate_last_event_timestamp_seconds, updated every emit
	// round): how far behind the publisher rollcall's workers were.
	Lag   []time.Duration
	lagAt []time.Time // when each Lag sample was taken
	// Scrapes and ScrapeCPU: rollcall's /metrics scrapes during Wall and
	// the CPU time one scrape costs it (included in CPU; see NetCPU).
	Scrapes   int
	ScrapeCPU time.Duration
	// Accepted (rollcall) is rollcall_messages_total{outcome="accepted"}:
	// Handled less duplicates, replays and rejections.
	Accepted int
	// Unacked (rollcall, QoS 1) is rollcall_ingest_unacked_total at the
	// end: messages its full ingest queue refused and left unacknowledged.
	Unacked int
	// HeapInuse and GoSys (rollcall, at the end): the Go heap's in-use
	// spans and all memory the Go runtime holds, bytes.
	HeapInuse, GoSys int64
	// Err says why the measurement is incomplete, if it is.
	Err string
	// Notes are problems with the extras (emit latency) that do not make
	// the measurement incomplete.
	Notes []string
}

// Rate is messages handled per second of Wall.
func (r Result) Rate() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Handled) / r.Wall.Seconds()
}

// CPUPerMillion is CPU seconds per million messages handled.
func (r Result) CPUPerMillion() float64 {
	if r.Handled == 0 {
		return math.NaN()
	}
	return r.CPU.Seconds() / float64(r.Handled) * 1e6
}

// NetCPU is CPU less what the benchmark's own /metrics scrapes cost
// (rollcall; the bare subscriber is not scraped).
func (r Result) NetCPU() time.Duration {
	return max(0, r.CPU-time.Duration(r.Scrapes)*r.ScrapeCPU)
}

// NetCPUPerMillion is NetCPU seconds per million messages handled.
func (r Result) NetCPUPerMillion() float64 {
	if r.Handled == 0 {
		return math.NaN()
	}
	return r.NetCPU().Seconds() / float64(r.Handled) * 1e6
}

// bench is one benchmark run.
type bench struct {
	cfg       Config
	mosquitto string
	rollcall  string
	dir       string
	seq       int // measurement number, for names
}

// Run runs the benchmark and writes the report to cfg.Out.
func Run(ctx context.Context, cfg Config) (all []Result, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, dir: cfg.WorkDir}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "benche2e-")
		if err != nil {
			return nil, err
		}
		b.dir = d
		// The logs of a failed or incomplete measurement are kept.
		defer func() {
			keep := cfg.Keep || err != nil
			for _, r := range all {
				keep = keep || r.Err != ""
			}
			if keep {
				fmt.Fprintf(cfg.Out, "logs, configs and metrics kept in %s\n", d)
				return
			}
			_ = os.RemoveAll(d)
		}()
	}
	if cfg.Broker == "" {
		m, err := findMosquitto(cfg.Mosquitto)
		if err != nil {
			return nil, err
		}
		b.mosquitto = m
	}
	if slices.Contains(cfg.Subjects, SubjectRollcall) {
		b.rollcall = cfg.Rollcall
		if b.rollcall == "" {
			cfg.Log.Info("building rollcall")
			bin, err := buildRollcall(ctx, b.dir)
			if err != nil {
				return nil, err
			}
			b.rollcall = bin
		}
	}
	b.header()
	for _, sc := range cfg.Scenarios {
		var results []Result
		for run := 1; run <= cfg.Runs; run++ {
			for _, subj := range cfg.Subjects {
				if sc == ScenarioDrain && subj == SubjectPahoJSON {
					continue
				}
				if err := ctx.Err(); err != nil {
					return all, err
				}
				cfg.Log.Info("measuring", "scenario", sc, "subject", subj, "run", run)
				r, err := b.measure(ctx, sc, subj, run)
				if err != nil {
					return all, fmt.Errorf("%s %s run %d: %w", sc, subj, run, err)
				}
				cfg.Log.Info("measured", "scenario", sc, "subject", subj, "run", run, "rate", int(r.Rate()),
					"cpu_s_per_million", fmt.Sprintf("%.2f", r.CPUPerMillion()), "err", r.Err)
				results = append(results, r)
			}
		}
		b.report(sc, results)
		all = append(all, results...)
	}
	return all, nil
}

func (b *bench) measure(ctx context.Context, scenario, subject string, run int) (Result, error) {
	b.seq++
	dir := filepath.Join(b.dir, fmt.Sprintf("%02d-%s-%s-%d", b.seq, scenario, strings.ReplaceAll(subject, "+", "-"), run))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	br := &broker{}
	if b.cfg.Broker != "" {
		br.addr = strings.TrimPrefix(b.cfg.Broker, "tcp://")
	} else {
		var err error
		if br, err = startMosquitto(b.mosquitto, filepath.Join(dir, "mosquitto"), b.cfg.Inflight); err != nil {
			return Result{}, err
		}
		defer br.stop()
	}
	res := Result{Scenario: scenario, Subject: subject, Run: run}
	var err error
	if scenario == ScenarioDrain {
		err = b.drain(ctx, br, dir, &res)
	} else {
		err = b.live(ctx, br, dir, &res)
	}
	res.Load = loadAvg()
	return res, err
}

// id names this measurement's MQTT clients.
func (b *bench) id(what string) string {
	return fmt.Sprintf("benche2e-%d-%d-%s", os.Getpid(), b.seq, what)
}

// subject is a running subscriber: the bare one or rollcall.
type subject struct {
	sub *subProcess
	rc  *rollcallProc
}

func (s subject) pid() int {
	if s.sub != nil {
		return s.sub.pid()
	}
	return s.rc.pid()
}

func (s subject) stop() {
	if s.sub != nil {
		s.sub.stop()
	} else if s.rc != nil {
		s.rc.stop()
	}
}

// startSubject starts the subject against br. qos 1 uses a persistent
// session named clientID; ready says whether to wait until it is
// subscribed (the bare subscriber always says when).
func (b *bench) startSubject(name string, br *broker, dir, clientID string, qos int, expect int, ready bool) (subject, error) {
	url := "tcp://" + br.addr
	if name == SubjectRollcall {
		rc, err := startRollcall(b.rollcall, dir, url, clientID, b.rollcallEnv(), ready)
		return subject{rc: rc}, err
	}
	args := []string{
		"--broker", url, "--client-id", clientID, fmt.Sprintf("--qos=%d", qos),
		fmt.Sprintf("--clean=%t", qos == 0), fmt.Sprintf("--expect=%d", expect), fmt.Sprintf("--json=%t", name == SubjectPahoJSON),
	}
	s, err := startSubscriber(args...)
	if err != nil {
		return subject{}, err
	}
	if ready {
		if _, err := s.await("ready", b.cfg.Stall, nil); err != nil {
			s.stop()
			return subject{}, err
		}
	}
	return subject{sub: s}, nil
}

func (b *bench) rollcallEnv() []string {
	env := []string{"ROLLCALL_LOG_LEVEL=info"}
	if b.cfg.GOMEMLIMIT != "" {
		env = append(env, "GOMEMLIMIT="+b.cfg.GOMEMLIMIT)
	}
	return env
}

// writeRollcallFiles writes rollcall's config and fleet file into dir.
func (b *bench) writeRollcallFiles(dir string, w *Workload, qos int, interval time.Duration) error {
	cfg := fmt.Sprintf("mqtt: {qos: %d}\n%s\n", qos, b.cfg.RollcallConfig)
	if err := os.WriteFile(filepath.Join(dir, "rollcall.yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "fleet.yaml"), w.FleetFile(interval), 0o644)
}

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

// waitDone waits until the subject has every one of n messages (or
// stalls) and returns when it had them. It fills Handled and Shed.
func (b *bench) waitDone(s subject, res *Result, n int, start time.Time) (time.Time, error) {
	if s.sub != nil {
		lastChange := time.Now()
		e, err := s.sub.await("done", b.cfg.Stall, func(e subEvent) {
			if int(e.Count) != res.Handled {
				res.Handled, lastChange = int(e.Count), time.Now()
			}
		})
		if err != nil {
			return lastChange, err // Wall ends at the last progress
		}
		res.Handled = int(e.Count)
		if e.First > 0 {
			res.FirstAfter = time.Unix(0, e.First).Sub(start)
		}
		return time.Unix(0, e.Last), nil
	}
	// rollcall: poll /metrics. The workers' counters reach /metrics at each
	// emit round (every 50 ms), so the end is seen up to ~70 ms late.
	last, lastChange := -1.0, time.Now()
	var rate float64 // messages/s between the last two scrapes that saw progress
	for {
		m, err := s.rc.metrics()
		now := time.Now()
		if err == nil {
			res.Scrapes++
			if ev := m["rollcall_aggregate_last_event_timestamp_seconds"]; ev > 0 && res.Scenario != ScenarioDrain {
				res.Lag = append(res.Lag, now.Sub(time.Unix(0, int64(ev*1e9))))
				res.lagAt = append(res.lagAt, now)
			}
			h, sh := handled(m), shed(m)
			res.Handled, res.Shed = int(h), int(sh)
			res.Unacked = int(m["rollcall_ingest_unacked_total"])
			res.Accepted = int(m[`rollcall_messages_total{outcome="accepted"}`])
			// Done when every message had its outcome once: a broker's
			// redeliveries (after a reconnect) are handled again as
			// duplicates and do not count.
			if float64(res.Accepted)+m[`rollcall_messages_total{outcome="rejected"}`]+sh >= float64(n) {
				return now, nil
			}
			if h+sh != last {
				if last > 0 {
					rate = (h + sh - last) / now.Sub(lastChange).Seconds()
				}
				last, lastChange = h+sh, now
			}
			if res.FirstAfter == 0 && m["rollcall_ingest_received_total"] > 0 {
				res.FirstAfter = now.Sub(start)
			}
		}
		if now.Sub(lastChange) > b.cfg.Stall {
			// Wall ends at the last progress.
			return lastChange, fmt.Errorf("rollcall: %d of %d handled (+%d shed), no progress for %v; its metrics: %s",
				res.Handled, n, res.Shed, b.cfg.Stall, s.rc.dumpMetrics())
		}
		select {
		case <-s.rc.exited:
			return now, fmt.Errorf("rollcall exited; see %s", s.rc.log)
		default:
		}
		// A scrape costs rollcall a few milliseconds of CPU (measured and
		// reported): poll every second once the rate is known, and more
		// often only as the end nears (half the expected remaining time,
		// at least 20 ms).
		wait := 250 * time.Millisecond // until the rate is known
		if rate > 0 {
			wait = time.Duration((float64(n) - last) / rate / 2 * float64(time.Second))
		}
		if res.FirstAfter == 0 && res.Scenario == ScenarioDrain {
			wait = 0 // the first message's time
		}
		wait = min(time.Second, max(20*time.Millisecond, wait))
		time.Sleep(wait) // polling a process's HTTP endpoint
	}
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

// header writes the machine and the workload.
func (b *bench) header() {
	c := b.cfg
	out := c.Out
	fmt.Fprintf(out, "benche2e: %s, %d CPUs (GOMAXPROCS %d), %s %s/%s, load average %.2f\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg())
	broker := c.Broker
	if broker == "" {
		broker = fmt.Sprintf("mosquitto %s per measurement (max_inflight_messages %d, max_queued_messages 0)", mosquittoVersion(b.mosquitto), c.Inflight)
	}
	w := NewWorkload(c.Devices, c.Sites)
	_, p := w.Next(nil, time.Now())
	fmt.Fprintf(out, "broker: %s\nworkload: %d devices in %d sites, %d-byte payloads, e.g. %s\n", broker, c.Devices, c.Sites, len(p), p)
	if c.RollcallConfig != "" {
		fmt.Fprintf(out, "rollcall config: %s\n", strings.ReplaceAll(strings.TrimSpace(c.RollcallConfig), "\n", "; "))
	}
	fmt.Fprintf(out, "runs: %d of each measurement, subjects interleaved; CPU = the subject process's user+system time (/proc/<pid>/stat)\n\n", c.Runs)
}

// report writes one scenario's table and summary.
func (b *bench) report(scenario string, results []Result) {
	c := b.cfg
	out := c.Out
	switch scenario {
	case ScenarioRate:
		fmt.Fprintf(out, "== rate: QoS 0 at %d msg/s, %d messages; Wall from the first publish to the last message handled\n", c.Rate, c.RateMessages)
	case ScenarioMax:
		fmt.Fprintf(out, "== max: QoS 0 as fast as mosquitto takes it, %d messages; Wall from the first publish to the last message handled\n", c.MaxMessages)
	case ScenarioDrain:
		fmt.Fprintf(out, "== drain: QoS 1 backlog of %d messages for an offline persistent session; Wall from the subscriber's start to the last message handled\n", c.DrainMessages)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tsubject\thandled\tshed\twall s\tmsg/s\tCPU s\tCPU s/1M\tnet CPU s/1M\tbroker CPU s\tpublish msg/s\tRSS MiB\tpeak MiB\tload\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t\n", r.Run, r.Subject, r.Handled, r.Shed,
			r.Wall.Seconds(), r.Rate(), r.CPU.Seconds(), r.CPUPerMillion(), r.NetCPUPerMillion(), r.BrokerCPU.Seconds(), r.PublishRate,
			float64(r.RSS)/(1<<20), float64(r.PeakRSS)/(1<<20), r.Load)
	}
	_ = tw.Flush() // text for a person, like the Fprintf calls: nothing to do on failure
	for _, r := range results {
		if r.Err != "" {
			fmt.Fprintf(out, "  run %d %s incomplete: %s\n", r.Run, r.Subject, r.Err)
		}
		if r.Subject == SubjectRollcall && r.Accepted != r.Handled {
			fmt.Fprintf(out, "  run %d rollcall: %d of the %d handled messages accepted (the rest duplicates, replays or rejected: see rollcall_messages_rejected_total)\n", r.Run, r.Accepted, r.Handled)
		}
		if r.Unacked > 0 {
			fmt.Fprintf(out, "  run %d rollcall: %d messages refused by its full ingest queue and left unacknowledged (rollcall_ingest_unacked_total): the broker sent more than its in-flight window\n", r.Run, r.Unacked)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(out, "  run %d %s: %s\n", r.Run, r.Subject, n)
		}
		if scenario == ScenarioDrain && r.FirstAfter > 0 {
			fmt.Fprintf(out, "  run %d %s: first message %.0f ms after start, drain rate from then %.0f msg/s\n", r.Run, r.Subject,
				ms(r.FirstAfter), float64(r.Handled)/(r.Wall-r.FirstAfter).Seconds())
		}
		if r.Subject == SubjectRollcall && r.ScrapeCPU > 0 {
			fmt.Fprintf(out, "  run %d rollcall: %d /metrics scrapes while measuring, ~%.1f ms CPU each (%.1f%% of its CPU; net CPU excludes them); mean emit round %.2f ms; Go heap in use %.1f MiB, Go runtime total %.1f MiB\n",
				r.Run, r.Scrapes, ms(r.ScrapeCPU), 100*float64(r.Scrapes)*r.ScrapeCPU.Seconds()/r.CPU.Seconds(), ms(r.EmitRound),
				float64(r.HeapInuse)/(1<<20), float64(r.GoSys)/(1<<20))
		}
		if len(r.EmitLatency) > 0 {
			l := slices.Clone(r.EmitLatency)
			slices.Sort(l)
			fmt.Fprintf(out, "  run %d rollcall: provisional emitted after window end + skew (from the publishing of the reading that closed it): %d windows, p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
				r.Run, len(l), ms(quantile(l, 0.5)), ms(quantile(l, 0.99)), ms(l[len(l)-1]))
		}
		if len(r.Lag) > 0 {
			l := slices.Clone(r.Lag)
			slices.Sort(l)
			fmt.Fprintf(out, "  run %d rollcall: lag behind the publisher (wall clock − newest accepted event time, at %d scrapes): p50 %.0f ms, max %.0f ms\n",
				r.Run, len(l), ms(quantile(l, 0.5)), ms(l[len(l)-1]))
		}
	}
	writeRatios(out, results)
	fmt.Fprintln(out)
}

// writeRatios writes the ratios of the subjects' mean CPU per message and
// rate. Incomplete runs count with what they did until they stalled.
func writeRatios(out io.Writer, results []Result) {
	incomplete := false
	by := func(subject string) []Result {
		var out []Result
		for _, r := range results {
			if r.Subject == subject && r.Handled > 0 {
				out = append(out, r)
				incomplete = incomplete || r.Err != ""
			}
		}
		return out
	}
	rc, paho, pj := by(SubjectRollcall), by(SubjectPaho), by(SubjectPahoJSON)
	if len(rc) > 0 && len(paho) > 0 {
		fmt.Fprintf(out, "  rollcall / paho: CPU per message %s (net of scrapes %s), rate %s\n",
			ratio(rc, paho, Result.CPUPerMillion), ratio(rc, paho, Result.NetCPUPerMillion), ratio(rc, paho, Result.Rate))
	}
	if len(pj) > 0 && len(paho) > 0 {
		fmt.Fprintf(out, "  paho+json / paho: CPU per message %s, rate %s\n",
			ratio(pj, paho, Result.CPUPerMillion), ratio(pj, paho, Result.Rate))
	}
	if len(rc) > 0 && len(pj) > 0 {
		fmt.Fprintf(out, "  rollcall / paho+json: CPU per message %s (net of scrapes %s), rate %s\n",
			ratio(rc, pj, Result.CPUPerMillion), ratio(rc, pj, Result.NetCPUPerMillion), ratio(rc, pj, Result.Rate))
	}
	if incomplete {
		fmt.Fprintln(out, "  (the ratios include incomplete runs, with their rate until they stalled)")
	}
}

// ratio is mean(f over a) / mean(f over b), with the range of the per-run
// ratios (run i of a against run i of b).
func ratio(a, b []Result, f func(Result) float64) string {
	mean := func(rs []Result) float64 {
		s := 0.0
		for _, r := range rs {
			s += f(r)
		}
		return s / float64(len(rs))
	}
	s := fmt.Sprintf("%.2f×", mean(a)/mean(b))
	var per []float64
	for _, x := range a {
		for _, y := range b {
			if x.Run == y.Run {
				per = append(per, f(x)/f(y))
			}
		}
	}
	if len(per) > 1 {
		s += fmt.Sprintf(" (runs %.2f–%.2f)", slices.Min(per), slices.Max(per))
	}
	return s
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func mosquittoVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput() // exits 3 after the usage
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "mosquitto version") {
			return strings.TrimPrefix(l, "mosquitto version ")
		}
	}
	return "(version unknown)"
}
