package influx

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/journal"
)

// device returns a device seen 2.5 s before t0 with the given state.
func device(id, state string, replaying bool) aggregate.DeviceInfo {
	seen := t0.Add(-2500 * time.Millisecond)
	age, off := 2.5, -0.125
	return aggregate.DeviceInfo{
		ID: id, Group: "site-a", Listed: true, State: state, Replaying: replaying,
		LastSeen: &seen, AgeS: &age, ClockOffsetS: &off, IntervalS: 1, Phi: 0.5,
		Counts: aggregate.DeviceCounts{
			Accepted: 120, Duplicates: 3, Replays: 4,
			Rejected: map[string]uint64{"bad_json": 1, "too_large": 2},
		},
	}
}

func TestEncodeDevice(t *testing.T) {
	t.Parallel()
	got := string(appendDevice(nil, device("wt 07", "silent", false), t0))
	require.Equal(t, `rollcall_device,group=site-a,device=wt\ 07 state="silent",replaying=false,listed=true,`+
		`interval_s=1,phi=0.5,accepted=120i,duplicates=3i,replays=4i,rejected=3i,`+
		`age_s=2.5,last_seen_ms=1795341597500i,clock_offset_s=-0.125 1795341600000000000`+"\n", got)

	// Never seen: no age, last seen or clock offset, which are unknown,
	// not zero; an infinite phi is left out too.
	never := aggregate.DeviceInfo{ID: "wt-08", Group: "site-a", Listed: true, State: "never_seen", Phi: math.Inf(1)}
	require.Equal(t, `rollcall_device,group=site-a,device=wt-08 state="never_seen",replaying=false,listed=true,`+
		`interval_s=0,accepted=0i,duplicates=0i,replays=0i,rejected=0i 1795341600000000000`+"\n",
		string(appendDevice(nil, never, t0)))
}

// Beyond devices.max the live devices are left out first, and counted.
func TestWriteDevicesMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, t.TempDir(), func(c *Config) { c.Devices.Max = 2; c.BatchSize = 5 })
		run(t, s)
		devs := []aggregate.DeviceInfo{
			device("wt-01", "live", false), device("wt-02", "live", true),
			device("wt-03", "silent", false), device("wt-04", "live", false),
		}
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		lines := fake.written()
		require.Len(t, lines, 2)
		require.Contains(t, lines[0], "device=wt-02 ", "replaying first")
		require.Contains(t, lines[1], "device=wt-03 ", "then not live")
		require.Equal(t, 2.0, counter(s.m.devDropped.WithLabelValues(DeviceDropMaxDevices)))
		require.Equal(t, 2.0, counter(s.m.devPoints))
		require.Equal(t, 0.0, counter(s.m.points), "aggregate points are counted apart")
		require.Equal(t, 1.0, s.writes(ResultSuccess))
	})
}

// A snapshot larger than a batch goes out in batches of BatchSize lines.
func TestWriteDevicesBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		s := bubbleSink(t, fake, t.TempDir(), func(c *Config) { c.BatchSize = 5 })
		run(t, s)
		var devs []aggregate.DeviceInfo
		for _, id := range strings.Fields("a b c d e f g h i j k l") {
			devs = append(devs, device(id, "live", false))
		}
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		require.Equal(t, 3, fake.requests())
		require.Len(t, fake.written(), 12)
		require.Equal(t, 12.0, counter(s.m.devPoints))
	})
}

// While InfluxDB is unavailable a snapshot is dropped and counted, never
// spooled; it still counts as a failure for the breaker. While aggregates
// wait in the spool, snapshots are dropped without a request.
func TestWriteDevicesUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.set(response{status: http.StatusServiceUnavailable})
		s := bubbleSink(t, fake, t.TempDir(), func(c *Config) { c.BreakerFailures = 1 })
		run(t, s)
		devs := []aggregate.DeviceInfo{device("wt-01", "live", false), device("wt-02", "silent", false)}
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		require.Equal(t, 1, fake.requests(), "one attempt, no in-place retries")
		require.Equal(t, 2.0, counter(s.m.devDropped.WithLabelValues(DeviceDropUnavailable)))
		require.True(t, s.sp.empty(), "not spooled")
		require.Equal(t, float64(StateOpen), counter(s.m.circuit))

		// Breaker open: no request at all.
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		require.Equal(t, 1, fake.requests())
		require.Equal(t, 4.0, counter(s.m.devDropped.WithLabelValues(DeviceDropUnavailable)))

		// Back, but aggregates wait in the spool: they drain first.
		writeAll(t, s, windows(2)...)
		time.Sleep(s.cfg.FlushInterval)
		synctest.Wait()
		require.False(t, s.sp.empty())
		fake.set(response{status: http.StatusNoContent})
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		require.Equal(t, 6.0, counter(s.m.devDropped.WithLabelValues(DeviceDropUnavailable)))
		time.Sleep(s.cfg.BreakerCooldown)
		synctest.Wait()
		require.True(t, s.sp.empty(), "the spool drained")
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		synctest.Wait()
		require.Equal(t, 2.0, counter(s.m.devPoints))
	})
}

// After Run has stopped, or when the caller gives up, a snapshot is
// dropped (canceled), not spooled.
func TestWriteDevicesCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bubbleSink(t, newFake(), t.TempDir())
		devs := []aggregate.DeviceInfo{device("wt-01", "live", false)}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, s.WriteDevices(ctx, t0, devs), context.Canceled, "Run is not running")
		stop := run(t, s)
		stop()
		require.NoError(t, s.WriteDevices(t.Context(), t0, devs))
		require.Equal(t, 2.0, counter(s.m.devDropped.WithLabelValues(DeviceDropCanceled)))
		require.True(t, s.sp.empty())
	})
}

func TestDevicesConfig(t *testing.T) {
	t.Parallel()
	c := testConfig("http://x:8086", t.TempDir(), nil).WithDefaults()
	require.Equal(t, DefaultDeviceInterval, c.Devices.Interval)
	require.Equal(t, DefaultMaxDevices, c.Devices.Max)
	require.NoError(t, c.Validate())
	s, _ := newSink(t, c)
	require.Equal(t, DefaultDeviceInterval, s.DeviceInterval())

	c.Devices.Interval = -1
	require.NoError(t, c.Validate(), "negative: off")
	off, _ := newSink(t, Config{URL: c.URL, Database: "telemetry", Spool: journal.Config{Dir: t.TempDir()}, Devices: DevicesConfig{Interval: -1}})
	require.Zero(t, off.DeviceInterval())

	c.Devices.Interval, c.Devices.Max = 500*time.Millisecond, -1
	err := c.Validate()
	require.ErrorContains(t, err, "influx.devices.interval")
	require.ErrorContains(t, err, "influx.devices.max")
}
