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
	"strings"
	"syscall"

	"github.com/rollcall-iot/rollcall/internal/benche2e"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == benche2e.SubscriberCommand {
		if err := benche2e.RunSubscriber(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benche2e subscriber:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benche2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c         benche2e.Config
		scenarios = fs.String("scenarios", "rate,max,drain", "comma-separated `list` of scenarios: rate (QoS 0 at --rate), max (QoS 0 at full speed), drain (QoS 1 backlog)")
		subjects  = fs.String("subjects", "paho,paho+json,rollcall", "comma-separated `list` of subscribers to measure")
		verbose   = fs.Bool("v", false, "log progress to stderr")
	)
	fs.StringVar(&c.Broker, "broker", "", "external broker `url` (tcp://host:port); default: start mosquitto for each measurement")
	fs.StringVar(&c.Mosquitto, "mosquitto", "", "mosquitto `binary` (default: PATH, /usr/sbin)")
	fs.IntVar(&c.Inflight, "inflight", benche2e.DefaultInflight, "max_inflight_messages of the started mosquitto")
	fs.StringVar(&c.Rollcall, "rollcall", "", "rollcall `binary` (default: go build ./cmd/rollcall)")
	fs.IntVar(&c.Devices, "devices", benche2e.DefaultDevices, "devices")
	fs.IntVar(&c.Sites, "sites", benche2e.DefaultSites, "sites the devices are spread over")
	fs.IntVar(&c.Rate, "rate", benche2e.DefaultRate, "publish rate of the rate scenario, messages/s")
	fs.IntVar(&c.RateMessages, "rate-messages", benche2e.DefaultRateMessages, "messages of one rate measurement")
	fs.IntVar(&c.MaxMessages, "max-messages", benche2e.DefaultMaxMessages, "messages of one max measurement")
	fs.IntVar(&c.DrainMessages, "drain-messages", benche2e.DefaultDrainMessages, "backlog of one drain measurement")
	fs.IntVar(&c.Runs, "runs", benche2e.DefaultRuns, "repetitions of each measurement")
	fs.DurationVar(&c.Stall, "stall", benche2e.DefaultStall, "give a measurement up after this long without progress")
	fs.StringVar(&c.RollcallConfig, "rollcall-config", "", "`yaml` appended to rollcall's config file (e.g. 'journal: {queue_len: 65536}')")
	fs.StringVar(&c.GOMEMLIMIT, "gomemlimit", "", "GOMEMLIMIT for rollcall (e.g. 128MiB)")
	fs.StringVar(&c.WorkDir, "work-dir", "", "`dir`ectory for the brokers' and rollcall's files and logs (default: a temp dir, removed unless a measurement failed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c.Scenarios = strings.Split(*scenarios, ",")
	c.Subjects = strings.Split(*subjects, ",")
	c.Out = stdout
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	c.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if _, err := benche2e.Run(ctx, c); err != nil {
		fmt.Fprintln(stderr, "benche2e:", err)
		return 1
	}
	return 0
}
