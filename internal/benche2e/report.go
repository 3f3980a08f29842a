package benche2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

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
