package influx

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/staleness"
)

// DeviceMeasurement is the measurement of device snapshots: one point per
// device and snapshot (see WriteDevices).
const DeviceMeasurement = "rollcall_device"

// Defaults and limits of DevicesConfig.
const (
	// DefaultDeviceInterval is how often the gateway writes a device
	// snapshot.
	DefaultDeviceInterval = 10 * time.Second
	// MinDeviceInterval bounds DevicesConfig.Interval from below.
	MinDeviceInterval = time.Second
	// DefaultMaxDevices bounds the devices of one snapshot.
	DefaultMaxDevices = 10_000
)

// Device snapshot drop reasons: the reason label of
// rollcall_influx_device_points_dropped_total.
const (
	// DeviceDropMaxDevices: the snapshot had more devices than
	// DevicesConfig.Max; the least interesting ones (live, not replaying,
	// then by id) were left out.
	DeviceDropMaxDevices = "max_devices"
	// DeviceDropUnavailable: InfluxDB was unavailable (breaker open, a
	// failed request, or aggregates waiting in the spool). Snapshots are
	// current state, not history worth storing: they are never spooled,
	// so they cannot push aggregates out of the spool.
	DeviceDropUnavailable = "unavailable"
	// DeviceDropRejected: InfluxDB refused the batch as bad data (4xx).
	DeviceDropRejected = "rejected"
	// DeviceDropCanceled: the snapshot was not handed over before the
	// caller's context ended or the sink stopped.
	DeviceDropCanceled = "canceled"
)

// DevicesConfig configures the device snapshots: every Interval the
// gateway writes each device's state to measurement rollcall_device, for
// per-device dashboards (Prometheus has no device label by design).
type DevicesConfig struct {
	// Interval is the time between two snapshots. Default: 10s; a negative
	// value turns snapshots off. At least MinDeviceInterval (1s).
	Interval time.Duration `yaml:"interval"`
	// Max bounds the devices of one snapshot; the rest are counted in
	// rollcall_influx_device_points_dropped_total{reason="max_devices"}.
	// Default: 10000.
	Max int `yaml:"max"`
}

func (c DevicesConfig) withDefaults() DevicesConfig {
	if c.Interval == 0 {
		c.Interval = DefaultDeviceInterval
	}
	if c.Max == 0 {
		c.Max = DefaultMaxDevices
	}
	return c
}

func (c DevicesConfig) validate(add func(format string, a ...any)) {
	if c.Interval > 0 && c.Interval < MinDeviceInterval {
		add("devices.interval: %v is below the minimum %v (negative: off)", c.Interval, MinDeviceInterval)
	}
	if c.Max < 1 {
		add("devices.max: %d must be positive", c.Max)
	}
}

// DeviceInterval is the time between two device snapshots; 0 when they
// are off.
func (s *Sink) DeviceInterval() time.Duration { return max(s.cfg.Devices.Interval, 0) }

// WriteDevices writes a snapshot of devs, taken at at, to measurement
// rollcall_device: at most Config.Devices.Max points, the non-live and
// replaying devices first. It hands the points to Run, waiting while Run
// is busy like Write. Unlike aggregates, a snapshot is never spooled: when
// InfluxDB is unavailable it is dropped and counted, and the next snapshot
// says the same and more. It returns ctx.Err() if ctx ends first; the
// snapshot is then counted as dropped (canceled). devs is not kept and
// may be reordered.
func (s *Sink) WriteDevices(ctx context.Context, at time.Time, devs []aggregate.DeviceInfo) error {
	if n := len(devs) - s.cfg.Devices.Max; n > 0 {
		slices.SortFunc(devs, func(a, b aggregate.DeviceInfo) int {
			return cmp.Or(cmp.Compare(devicePriority(a), devicePriority(b)), cmp.Compare(a.ID, b.ID))
		})
		devs = devs[:s.cfg.Devices.Max]
		s.m.devDropped.WithLabelValues(DeviceDropMaxDevices).Add(float64(n))
	}
	if len(devs) == 0 {
		return nil
	}
	lines := make([][]byte, len(devs))
	buf := make([]byte, 0, 256*len(devs))
	for i, d := range devs {
		start := len(buf)
		buf = appendDevice(buf, d, at)
		lines[i] = buf[start:len(buf):len(buf)]
	}
	select {
	case s.devs <- lines:
		return nil
	case <-s.stopped:
		s.m.devDropped.WithLabelValues(DeviceDropCanceled).Add(float64(len(lines)))
		return nil
	case <-ctx.Done():
		s.m.devDropped.WithLabelValues(DeviceDropCanceled).Add(float64(len(lines)))
		return ctx.Err()
	}
}

// devicePriority orders devices for a snapshot beyond Max: those an
// operator looks for first.
func devicePriority(d aggregate.DeviceInfo) int {
	switch {
	case d.Replaying:
		return 0
	case d.State != string(staleness.StateLive):
		return 1
	}
	return 2
}

// sendDevices writes a snapshot's lines in batches of Config.BatchSize,
// once each: a snapshot is dropped (counted) rather than retried or
// spooled. It runs on Run's goroutine and informs the breaker like any
// request.
func (s *Sink) sendDevices(ctx context.Context, lines [][]byte) {
	drop := func(reason string, n int) { s.m.devDropped.WithLabelValues(reason).Add(float64(n)) }
	if !s.sp.empty() {
		// Aggregates wait in the spool: they go first.
		drop(DeviceDropUnavailable, len(lines))
		return
	}
	for len(lines) > 0 {
		if !s.br.allow(s.cfg.Now()) {
			drop(DeviceDropUnavailable, len(lines))
			return
		}
		n := min(len(lines), s.cfg.BatchSize)
		we := s.post(ctx, lines[:n])
		switch we.class {
		case classOK:
			s.br.success()
			s.m.devPoints.Add(float64(n))
		case classRejected, classTooLarge:
			s.br.success()
			drop(DeviceDropRejected, n)
			s.logLimited("devices_rejected", slog.LevelWarn, "influxdb rejected a device snapshot batch; dropped",
				slog.Int("points", n), slog.Any("err", we))
		case classCanceled:
			drop(DeviceDropCanceled, len(lines))
			return
		default:
			s.br.failure(s.cfg.Now(), we.retryAfter)
			drop(DeviceDropUnavailable, len(lines))
			s.logLimited("devices_unavailable", slog.LevelWarn, "influxdb unavailable; device snapshot dropped",
				slog.Int("points", len(lines)), slog.Any("err", we))
			return
		}
		lines = lines[n:]
	}
}

// appendDevice appends d's line-protocol line at time at to b:
//
//	rollcall_device,group=G,device=D state="S",replaying=B,listed=B,
//	    interval_s=F,phi=F,accepted=Ni,duplicates=Ni,replays=Ni,rejected=Ni,
//	    [age_s=F,last_seen_ms=Ni,clock_offset_s=F] T
//
// state is a field, not a tag, so a state change does not start a new
// series. age_s (seconds since the newest message at at), last_seen_ms
// (its receive time, Unix milliseconds) and clock_offset_s (receive time
// minus event time of the newest reading) are absent for a device never
// seen. The counts are cumulative since the device was first tracked;
// rejected sums every reason.
func appendDevice(b []byte, d aggregate.DeviceInfo, at time.Time) []byte {
	b = append(b, DeviceMeasurement...)
	b = appendTag(b, "group", d.Group)
	b = appendTag(b, "device", d.ID)
	b = append(b, " state=\""...)
	b = appendFieldString(b, d.State)
	b = append(b, "\",replaying="...)
	b = strconv.AppendBool(b, d.Replaying)
	b = append(b, ",listed="...)
	b = strconv.AppendBool(b, d.Listed)
	b = appendFloat(b, "interval_s", d.IntervalS)
	b = appendFloat(b, "phi", d.Phi)
	var rejected uint64
	for _, n := range d.Counts.Rejected {
		rejected += n
	}
	for _, c := range [...]struct {
		key string
		n   uint64
	}{{"accepted", d.Counts.Accepted}, {"duplicates", d.Counts.Duplicates}, {"replays", d.Counts.Replays}, {"rejected", rejected}} {
		b = appendKey(b, c.key)
		b = strconv.AppendUint(b, c.n, 10)
		b = append(b, 'i')
	}
	if d.AgeS != nil {
		b = appendFloat(b, "age_s", *d.AgeS)
	}
	if d.LastSeen != nil {
		b = appendKey(b, "last_seen_ms")
		b = strconv.AppendInt(b, d.LastSeen.UnixMilli(), 10)
		b = append(b, 'i')
	}
	if d.ClockOffsetS != nil {
		b = appendFloat(b, "clock_offset_s", *d.ClockOffsetS)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	return append(b, '\n')
}
