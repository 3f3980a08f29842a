package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rollcall-iot/rollcall/sim"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `fleetsim: a simulated fleet of turbines publishing telemetry over MQTT,
with scripted faults and the ground truth.

Usage:
  fleetsim [flags]

Scenarios shipped (--scenario NAME), or a YAML file: %s

Flags (each also from the environment as FLEETSIM_<FLAG>, e.g. FLEETSIM_SPEED;
a flag wins over the environment, both win over the scenario file):
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line after flags and environment.
type options struct {
	broker, scenario, truth, logLevel string
	passwords                         string // --device-passwords file
	format                            string // --format
	printFleet, version               bool
	set                               map[string]bool // flags given (or from the environment)
	seed                              int64
	speed                             float64
	qos                               uint
	duration                          time.Duration
	start                             time.Time
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "fleetsim:", err)
		return 2
	case o.version:
		fmt.Fprintln(stdout, "fleetsim", version)
		return 0
	}
	cfg, err := o.config()
	if err != nil {
		fmt.Fprintln(stderr, "fleetsim:", err)
		return 2
	}
	if o.printFleet {
		b, err := cfg.Scenario.FleetFile()
		if err != nil {
			fmt.Fprintln(stderr, "fleetsim:", err)
			return 2
		}
		_, _ = stdout.Write(b)
		return 0
	}
	level := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError,
	}[o.logLevel]
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := simulate(ctx, cfg, o.truth, log, stdout, stderr); err != nil {
		log.Error("fleetsim failed", "err", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{set: map[string]bool{}}
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, strings.Join(sim.ExampleScenarios(), ", "))
		fs.PrintDefaults()
	}
	var speed, start string
	fs.StringVar(&o.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker `url`")
	fs.StringVar(&o.scenario, "scenario", "calm", "scenario `file` or shipped name")
	fs.Int64Var(&o.seed, "seed", 0, "random `seed` (default: the scenario's)")
	fs.StringVar(&speed, "speed", "1", "simulated seconds per wall-clock `second`; \"inf\" runs as fast as the broker takes it")
	fs.StringVar(&start, "start", "", "simulated start `time` (RFC 3339; default: so that simulated time ends at the clock)")
	fs.StringVar(&o.truth, "truth", "", "write the ground truth as JSON lines to `file` (\"-\": stdout)")
	fs.StringVar(&o.passwords, "device-passwords", "", "YAML `file` mapping each device identity (site/name) to its password: every device then connects with its own credentials")
	fs.BoolVar(&o.printFleet, "print-fleet", false, "print the rollcall fleet file for the scenario and exit")
	fs.UintVar(&o.qos, "qos", 1, "MQTT `qos` 0, 1 or 2 (default: the scenario's)")
	fs.StringVar(&o.format, "format", "", "payload `format`: json or sparkplug (Sparkplug B on spBv1.0 topics; default: the scenario's, json)")
	fs.DurationVar(&o.duration, "duration", 0, "simulated `duration`; 0 runs until stopped (default: the scenario's)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "FLEETSIM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !o.set[f.Name] && f.Name != "version" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			o.set[f.Name] = true
		}
	})
	var err error
	switch strings.ToLower(speed) {
	case "inf", "max":
		o.speed = math.Inf(1)
	default:
		if o.speed, err = strconv.ParseFloat(speed, 64); err != nil || !(o.speed > 0) || math.IsInf(o.speed, 0) {
			errs = append(errs, fmt.Errorf("--speed: %q is not a positive number or inf", speed))
		}
	}
	if start != "" {
		if o.start, err = time.Parse(time.RFC3339Nano, start); err != nil {
			errs = append(errs, fmt.Errorf("--start: %w", err))
		}
	}
	if _, ok := map[string]bool{"debug": true, "info": true, "warn": true, "error": true}[o.logLevel]; !ok {
		errs = append(errs, fmt.Errorf("--log-level: %q is not debug, info, warn or error", o.logLevel))
	}
	if o.qos > 2 {
		errs = append(errs, fmt.Errorf("--qos: %d is not 0, 1 or 2", o.qos))
	}
	return o, errors.Join(errs...)
}

// config loads the scenario and lays the flags over it.
func (o options) config() (sim.Config, error) {
	s, err := sim.LoadScenario(o.scenario)
	if err != nil {
		return sim.Config{}, err
	}
	if o.set["seed"] {
		s.Seed = o.seed
	}
	if o.set["qos"] {
		q := byte(o.qos)
		s.QoS = &q
	}
	if o.set["duration"] {
		s.Duration = o.duration
	}
	if o.set["format"] {
		s.Format = o.format
	}
	cfg := sim.Config{BrokerURL: o.broker, Scenario: s, Speed: o.speed, Start: o.start}.WithDefaults()
	if o.passwords != "" {
		if cfg.DevicePasswords, err = sim.LoadDevicePasswords(o.passwords); err != nil {
			return cfg, err
		}
	}
	if !o.printFleet {
		if err := cfg.Validate(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// simulate runs the fleet until its duration has passed or ctx is done,
// drawing a progress line on a terminal, and prints the summary.
func simulate(ctx context.Context, cfg sim.Config, truthPath string, log *slog.Logger, stdout, stderr io.Writer) (err error) {
	if truthPath != "" {
		var w io.WriteCloser = nopCloser{stdout}
		if truthPath != "-" {
			if w, err = os.Create(truthPath); err != nil {
				return err
			}
		}
		defer func() {
			if cerr := w.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("truth file: %w", cerr)
			}
		}()
		cfg.Truth = w
	}
	fleet, err := sim.New(cfg, log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	progressCtx, stopProgress := context.WithCancel(ctx)
	if isTerminal(stderr) {
		wg.Go(func() { sim.Progress(progressCtx, stderr, fleet, sim.DefaultProgressEvery) })
	}
	err = fleet.Run(ctx)
	stopProgress()
	wg.Wait()
	sim.WriteSummary(stderr, fleet.Stats())
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
