package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sim"
)

// DemoMemoryLimit is the demo's soft memory limit (runtime/debug) when
// GOMEMLIMIT is not set.
const DemoMemoryLimit = 256 << 20

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `rollcall: an uncertainty-aware IoT telemetry aggregator.

Usage:
  rollcall [serve] [flags]   run the gateway (default)
  rollcall demo [flags]      the gateway plus a simulated fleet (two sites of 20 turbines)
  rollcall query [flags]     aggregates from a running rollcall's API, as a table (--help)
  rollcall devices [flags]   devices and their states from the API, as a table (--help)
  rollcall passwd            read a password on stdin, print its bcrypt hash (--help)
  rollcall check [flags]     validate config, fleet and devices files without starting (--help)
  rollcall version           print the version

Flags (each also from the environment as ROLLCALL_<FLAG>, e.g. ROLLCALL_HTTP_ADDR;
precedence: flag, environment, config file, default):
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return runWithInput(args, os.Stdin, stdout, stderr)
}

func runWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "demo":
	case "query", "devices":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if cmd == "query" {
			return runQuery(ctx, args, stdout, stderr)
		}
		return runDevices(ctx, args, stdout, stderr)
	case "passwd":
		return runPasswd(args, stdin, stdout, stderr)
	case "check":
		return runCheck(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rollcall", version)
		return 0
	case "help":
		args = []string{"-h"}
	default:
		fmt.Fprintf(stderr, "rollcall: unknown command %q (want serve, demo, query, devices, passwd, check or version)\n", cmd)
		return 2
	}
	cfg, showVersion, err := loadConfig(cmd, args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "rollcall:", err)
		return 2
	case showVersion:
		fmt.Fprintln(stdout, "rollcall", version)
		return 0
	}
	level, _ := gateway.ParseLogLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "demo" {
		err = demo(ctx, cfg, log, stdout)
	} else {
		err = serve(ctx, cfg, log)
	}
	if err != nil {
		log.Error("rollcall failed", "err", err)
		return 1
	}
	return 0
}

// loadConfig layers defaults, the config file, ROLLCALL_* variables and
// flags, in rising precedence.
func loadConfig(cmd string, args []string, stderr io.Writer) (gateway.Config, bool, error) {
	fs := flag.NewFlagSet("rollcall "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	d := gateway.Defaults()
	var (
		configFile  = fs.String("config", "", "YAML config `file`")
		fleet       = fs.String("fleet", "", "fleet `file` (roster and physics); default: learn devices")
		dataDir     = fs.String("data-dir", d.DataDir, "`dir`ectory for persistent state")
		httpAddr    = fs.String("http-addr", d.HTTP.Addr, "HTTP API listen `addr`ess")
		mqttListen  = fs.String("mqtt-listen", d.Broker.Listen, "embedded broker's MQTT listen `addr`ess")
		mqttURL     = fs.String("mqtt-url", "", "external broker `url` (e.g. tcp://host:1883); no embedded broker")
		windowSize  = fs.Duration("window", d.Window.Size, "window `size`")
		windowStep  = fs.Duration("window-step", d.Window.Step, "hopping windows: a window starts every `step` (divides the size); 0: tumbling")
		lateness    = fs.Duration("lateness", d.Window.AllowedLateness, "allowed lateness: how long windows accept late readings")
		clientID    = fs.String("mqtt-client-id", d.MQTT.ClientID, "MQTT client `id` of the persistent session")
		logLevel    = fs.String("log-level", d.LogLevel, "log `level`: debug, info, warn, error")
		upstream    = fs.String("upstream", "", "federation: the hub's leaf-node `url` (nats://hub:7422); turns the nats partials sink on")
		role        = fs.String("role", d.Role, "`role`: gateway, or central (the federation tier over gateways)")
		leafListen  = fs.String("leaf-listen", d.Federation.LeafListen, "central: the embedded hub's leaf-node listen `addr`ess")
		natsURL     = fs.String("nats-url", "", "central: join this NATS cluster (`url`) instead of embedding a hub")
		showVersion = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		return d, false, err
	}
	if fs.NArg() > 0 {
		return d, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := layerEnv(fs, set); err != nil {
		return d, false, err
	}
	cfg := d
	if *configFile != "" {
		var err error
		if cfg, err = gateway.LoadFile(*configFile, d); err != nil {
			return cfg, false, err
		}
	}
	if cmd == "demo" && !set["data-dir"] {
		dir, err := os.MkdirTemp("", "rollcall-demo-")
		if err != nil {
			return cfg, false, err
		}
		*dataDir, set["data-dir"] = dir, true
	}
	if pw, ok := os.LookupEnv("ROLLCALL_MQTT_PASSWORD"); ok {
		cfg.MQTT.Password = ingest.Secret(pw)
	}
	apply := map[string]func(){
		"fleet":          func() { cfg.Fleet = *fleet },
		"data-dir":       func() { cfg.DataDir = *dataDir },
		"http-addr":      func() { cfg.HTTP.Addr = *httpAddr },
		"mqtt-listen":    func() { cfg.Broker.Listen = *mqttListen },
		"mqtt-url":       func() { cfg.MQTT.URL = *mqttURL },
		"window":         func() { cfg.Window.Size = *windowSize },
		"window-step":    func() { cfg.Window.Step = *windowStep },
		"lateness":       func() { cfg.Window.AllowedLateness = *lateness },
		"mqtt-client-id": func() { cfg.MQTT.ClientID = *clientID },
		"log-level":      func() { cfg.LogLevel = *logLevel },
		"upstream":       func() { cfg.Federation.Upstream = *upstream },
		"role":           func() { cfg.Role = *role },
		"leaf-listen":    func() { cfg.Federation.LeafListen = *leafListen },
		"nats-url":       func() { cfg.Federation.NATSURL = *natsURL },
	}
	for name, f := range apply {
		if set[name] {
			f()
		}
	}
	return cfg.WithDefaults(), *showVersion, nil
}

// layerEnv sets each flag of fs not given on the command line from its
// ROLLCALL_* variable, when set, and marks it in set: the environment
// counts as a flag that was not given on the command line.
func layerEnv(fs *flag.FlagSet, set map[string]bool) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "version" {
			return
		}
		env := "ROLLCALL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			set[f.Name] = true
		}
	})
	return errors.Join(errs...)
}

func serve(ctx context.Context, cfg gateway.Config, log *slog.Logger) error {
	g, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	// SIGHUP reloads the embedded broker's TLS certificate and key.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := g.ReloadTLS(); err != nil {
					log.Error("tls reload failed; the previous certificates stay", "err", err)
				} else {
					log.Info("tls certificates reloaded")
				}
			}
		}
	}()
	return g.Run(ctx)
}

// demo runs the gateway with the demo fleet's roster and the simulated
// fleet publishing to it.
func demo(ctx context.Context, cfg gateway.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Fleet == "" {
		name := cfg.DataDir + "/demo-fleet.yaml"
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(name, sim.DemoFleet, 0o640); err != nil {
			return err
		}
		cfg.Fleet = name
	}
	// The demo bounds its heap unless the user set GOMEMLIMIT.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(DemoMemoryLimit)
	}
	g, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	fleet, err := sim.New(sim.DemoConfig(g.MQTTURL()), log)
	if err != nil {
		return err
	}
	// The fleet stops first, so that the gateway still takes (and
	// acknowledges) everything the fleet published.
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	simDone := make(chan error, 1)
	go func() {
		simDone <- fleet.Run(simCtx)
		stopGateway()
	}()
	base := "http://" + hostPort(g.HTTPAddr())
	fmt.Fprintf(stdout, `rollcall demo: two sites of 20 simulated turbines. %s (site-a) goes silent after %v;
%s (site-b) replays an old message every %v from %v; %s (site-b) is cut off from %v to %v, then flushes.
The first windows close about %v from now; then open:
  %s/                                   status page
  %s/api/v1/aggregates/latest           newest aggregate per group and metric (site-a: "expected": 20, "reported": 19)
  %s/api/v1/devices                     devices and their states
  %s/api/v1/groups                      roster and coverage per group
  %s/metrics                            Prometheus metrics
MQTT broker: %s   data: %s   stop with Ctrl-C
`, sim.DemoSilentDevice, sim.DemoSilentAfter, sim.DemoReplayDevice, sim.DemoReplayEvery, sim.DemoReplayAfter,
		sim.DemoPartitionDevice, sim.DemoPartitionAfter, sim.DemoPartitionAfter+sim.DemoPartitionFor,
		cfg.Window.Size+cfg.Window.AllowedSkew, base, base, base, base, base, g.MQTTURL(), cfg.DataDir)
	err = g.Run(gwCtx)
	stopSim()
	if serr := <-simDone; serr != nil && !errors.Is(serr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("simulated fleet: %w", serr))
	}
	return err
}

// hostPort turns a listen address such as [::]:8080 into one a browser can
// open.
func hostPort(addr string) string {
	for _, unspecified := range []string{"[::]:", "0.0.0.0:", ":"} {
		if rest, ok := strings.CutPrefix(addr, unspecified); ok {
			return "localhost:" + rest
		}
	}
	return addr
}
