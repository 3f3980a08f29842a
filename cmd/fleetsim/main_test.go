package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
	"github.com/rollcall-iot/rollcall/staleness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCmd runs fleetsim with args until it exits or the test ends.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The environment overrides the scenario, a flag overrides the environment.
func TestFlagPrecedence(t *testing.T) {
	t.Setenv("FLEETSIM_SEED", "7")
	t.Setenv("FLEETSIM_SPEED", "inf")
	t.Setenv("FLEETSIM_DURATION", "30s")
	o, err := parseFlags([]string{"--seed", "9", "--scenario", "one-silent", "--qos", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	cfg, err := o.config()
	require.NoError(t, err)
	require.Equal(t, int64(9), cfg.Scenario.Seed, "flag over environment")
	require.True(t, math.IsInf(cfg.Speed, 1), "environment")
	require.Equal(t, 30*time.Second, cfg.Scenario.Duration, "environment over the scenario's 3m")
	require.Equal(t, byte(0), *cfg.Scenario.QoS)
	require.Equal(t, "one-silent", cfg.Scenario.Name)
	require.Equal(t, "tcp://127.0.0.1:1883", cfg.BrokerURL)

	o, err = parseFlags([]string{"--scenario", "calm", "--speed", "4", "--start", "2026-11-22T10:00:00Z"}, &bytes.Buffer{})
	require.NoError(t, err)
	cfg, err = o.config()
	require.NoError(t, err)
	require.Equal(t, int64(7), cfg.Scenario.Seed)
	require.Equal(t, 4.0, cfg.Speed)
	require.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), cfg.Start)
	require.Equal(t, byte(sim.DefaultQoS), *cfg.Scenario.QoS, "the scenario's, as --qos is not set")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "version", args: []string{"--version"}, stdout: "fleetsim dev\n"},
		{name: "help", args: []string{"-h"}, stderr: "calm, chaos-mix"},
		{name: "bad speed", args: []string{"--speed", "fast"}, code: 2, stderr: "--speed:"},
		{name: "zero speed", args: []string{"--speed", "0"}, code: 2, stderr: "--speed:"},
		{name: "bad qos", args: []string{"--qos", "3"}, code: 2, stderr: "--qos:"},
		{name: "bad start", args: []string{"--start", "noon"}, code: 2, stderr: "--start:"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, code: 2, stderr: "--log-level:"},
		{name: "arguments", args: []string{"calm"}, code: 2, stderr: "unexpected arguments"},
		{name: "unknown scenario", args: []string{"--scenario", "nope"}, code: 2, stderr: "unknown scenario"},
		{name: "fast forever", args: []string{"--speed", "10", "--duration", "0"}, code: 2, stderr: "needs a duration"},
		{name: "no broker", args: []string{"--broker", ""}, code: 2, stderr: "broker_url: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(t, tt.args...)
			require.Equal(t, tt.code, code, stderr)
			require.Contains(t, stdout, tt.stdout)
			require.Contains(t, stderr, tt.stderr)
		})
	}
}

func TestPrintFleet(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t, "--scenario", "chaos-mix", "--print-fleet")
	require.Zero(t, code, stderr)
	f, err := staleness.ParseFleet([]byte(stdout))
	require.NoError(t, err, stdout)
	require.Len(t, f.Groups, 5)
	require.Contains(t, f.Groups["site-1"].Devices, "wt-003")
}

func TestIntegrationRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded MQTT broker")
	}
	t.Parallel()
	url := simtest.Broker(t)
	rec := simtest.Record(t, url, "fleet/#")
	truth := filepath.Join(t.TempDir(), "truth.jsonl")
	start := time.Now().Add(-time.Minute).Truncate(10 * time.Second).UTC().Format(time.RFC3339)
	code, _, stderr := runCmd(t, "--broker", url, "--scenario", "one-silent", "--duration", "40s",
		"--speed", "20", "--start", start, "--truth", truth, "--log-level", "warn")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "fleetsim: simulated")
	require.Contains(t, stderr, "faults:  silent 10", "wt-07 is silent from 30 s")
	f, err := os.Open(truth)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	tr, err := sim.ReadTruth(f)
	require.NoError(t, err)
	require.Equal(t, "one-silent", tr.Run.Scenario)
	require.Len(t, tr.Windows, 4*2*2, "4 windows × 2 sites × 2 metrics")
	require.NotNil(t, tr.End)
	require.Equal(t, uint64(40*40), tr.End.Samples)
	require.Eventually(t, func() bool { return uint64(rec.Len()) == tr.End.Sent }, 10*time.Second, 10*time.Millisecond)
}

// SIGTERM (and SIGINT) stop the binary cleanly, with the summary and the end
// of the truth.
func TestIntegrationSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fleetsim and starts an embedded MQTT broker")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetsim")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	url := simtest.Broker(t)
	rec := simtest.Record(t, url, "fleet/#")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		truth := filepath.Join(dir, sig.String()+".jsonl")
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "--broker", url, "--duration", "0", "--truth", truth)
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		before := rec.Len()
		require.Eventually(t, func() bool { return rec.Len() > before+40 }, 20*time.Second, 10*time.Millisecond)
		require.NoError(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "exit 0 after %s: %s", sig, stderr.String())
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("fleetsim did not stop within 15 s of %s", sig)
		}
		require.Contains(t, stderr.String(), "fleetsim: simulated", sig.String())
		b, err := os.ReadFile(truth)
		require.NoError(t, err)
		tr, err := sim.ReadTruth(bytes.NewReader(b))
		require.NoError(t, err)
		require.NotNil(t, tr.End, "the truth is complete after %s", sig)
		require.True(t, strings.HasPrefix(string(b), `{"type":"run"`))
	}
}
