package benche2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

// TestMain runs the bare subscriber when the benchmark re-executes this
// test binary as one (startSubscriber uses os.Executable), and otherwise
// checks that no test leaks a goroutine.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == SubscriberCommand {
		if err := RunSubscriber(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "subscriber:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestWorkloadPayload(t *testing.T) {
	w := NewWorkload(10000, 100)
	now := time.Date(2026, 11, 22, 10, 0, 7, 123e6, time.UTC)
	seen := map[string]uint64{}
	for i := range 20001 {
		topic, p := w.Next(nil, now)
		var r jsonReading
		require.NoError(t, json.Unmarshal(p, &r), "%s", p)
		parts := strings.Split(string(topic), "/")
		require.Len(t, parts, 4)
		require.Equal(t, "fleet", parts[0])
		require.Equal(t, "telemetry", parts[3])
		require.Equal(t, parts[2], r.Device, "the device field matches the topic")
		require.True(t, strings.HasPrefix(r.Device, parts[1]+"-wt-"), "device %s in site %s", r.Device, parts[1])
		require.Equal(t, "2026-11-22T10:00:07.123Z", r.TS)
		require.Equal(t, uint64(3), r.Boot)
		require.Equal(t, seen[r.Device]+1, r.Seq, "seq counts per device")
		seen[r.Device] = r.Seq
		require.Len(t, r.Metrics, 2)
		require.InDelta(t, 2000, r.Metrics["power_kw"], 1000)
		require.InDelta(t, 13, r.Metrics["wind_ms"], 10)
		require.InDelta(t, 135, len(p), 10, "about 135 bytes, as DESIGN.md's benchmarks: %s", p)
		if i == 0 {
			require.Equal(t, "fleet/site-000/site-000-wt-000/telemetry", string(topic))
		}
	}
	require.Len(t, seen, 10000)

	fleet := string(w.FleetFile(time.Second))
	require.Contains(t, fleet, "  site-099:\n    devices: [site-099-wt-000, site-099-wt-001,")
	require.Equal(t, 100, strings.Count(fleet, "    devices: ["))
}

func TestAppendHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x30, 0}},
		{127, []byte{0x30, 127}},
		{128, []byte{0x30, 0x80, 1}},
		{16383, []byte{0x30, 0xff, 0x7f}},
		{16384, []byte{0x30, 0x80, 0x80, 1}},
	} {
		require.Equal(t, tc.want, appendHeader(nil, 0x30, tc.n), "remaining length %d", tc.n)
	}
}

func TestCounts(t *testing.T) {
	m := map[string]float64{
		`rollcall_messages_total{outcome="accepted"}`:      41,
		`rollcall_messages_total{outcome="rejected"}`:      1,
		`rollcall_ingest_dropped_total{reason="overload"}`: 7,
	}
	require.InDelta(t, 42.0, handled(m), 0)
	require.InDelta(t, 7.0, shed(m), 0)
}

func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	_, err := cpuTime(os.Getpid())
	require.NoError(t, err)
	rss, peak, err := memStatus(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, rss)
	require.GreaterOrEqual(t, peak, rss)
}

// TestIntegrationBenchE2E runs a small benchmark of every scenario end to
// end (mosquitto, the bare subscriber re-executed from this test binary,
// the rollcall binary) so that `make bench-e2e` keeps working.
func TestIntegrationBenchE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	testserver.RequireBinary(t, "mosquitto")
	var out bytes.Buffer
	results, err := Run(context.Background(), Config{
		Devices: 200, Sites: 10, Rate: 5000, RateMessages: 5000, MaxMessages: 5000, DrainMessages: 3000,
		Runs: 1, Stall: 20 * time.Second, WorkDir: t.TempDir(), Out: &out,
	})
	t.Log(out.String())
	require.NoError(t, err)
	require.Len(t, results, 3+3+2)
	for _, r := range results {
		require.Empty(t, r.Err, "%s %s", r.Scenario, r.Subject)
		require.Equal(t, r.Expected, r.Handled+r.Shed, "%s %s", r.Scenario, r.Subject)
		require.Positive(t, r.CPU, "%s %s", r.Scenario, r.Subject)
		require.Positive(t, r.Wall, "%s %s", r.Scenario, r.Subject)
	}
	require.Contains(t, out.String(), "rollcall / paho: CPU per message")
}
