package benche2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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
