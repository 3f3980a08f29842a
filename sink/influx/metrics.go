package influx

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results: the result label of rollcall_influx_writes_total, one per write
// request.
const (
	ResultSuccess      = "success"
	ResultRejected     = "rejected"
	ResultTooLarge     = "too_large"
	ResultConfigError  = "config_error"
	ResultThrottled    = "throttled"
	ResultServerError  = "server_error"
	ResultNetworkError = "network_error"
	ResultCanceled     = "canceled"
)

// Drop reasons: the reason label of rollcall_influx_dropped_points_total.
const (
	// DropRejected: the server refused the batch as bad data (400).
	DropRejected = "rejected"
	// DropTooLarge: one aggregate alone was refused with 413.
	DropTooLarge = "too_large"
	// DropSpoolFull: the spool hit its byte limit and its oldest segment
	// was dropped (or the new record did not fit).
	DropSpoolFull = "spool_full"
	// DropSpoolError: the spool could not store or read a record (disk
	// error, corrupt record).
	DropSpoolError = "spool_error"
)

// Circuit states: the value of rollcall_influx_circuit_state.
const (
	StateClosed   = 0
	StateHalfOpen = 1
	StateOpen     = 2
)

type metrics struct {
	writes        *prometheus.CounterVec
	points        prometheus.Counter
	dropped       *prometheus.CounterVec
	spooled       prometheus.Counter
	circuit       prometheus.Gauge
	spoolBytes    prometheus.Gauge
	spoolRecords  prometheus.Gauge
	writeDuration prometheus.Histogram
	devPoints     prometheus.Counter
	devDropped    *prometheus.CounterVec

	list []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_influx_writes_total",
			Help: "Write requests to InfluxDB, by result.",
		}, []string{"result"}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_influx_points_total",
			Help: "Points InfluxDB acknowledged.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_influx_dropped_points_total",
			Help: "Points the InfluxDB sink dropped, by reason.",
		}, []string{"reason"}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_influx_spooled_points_total",
			Help: "Points written to the spool (store-and-forward) instead of InfluxDB.",
		}),
		circuit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_influx_circuit_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
		}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_influx_spool_bytes",
			Help: "Bytes the spool holds on disk (0 when drained).",
		}),
		spoolRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_influx_spool_records",
			Help: "Aggregates in the spool not yet acknowledged by InfluxDB.",
		}),
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rollcall_influx_write_duration_seconds",
			Help:    "Duration of write requests to InfluxDB, any result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		devPoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_influx_device_points_total",
			Help: "Device snapshot points (measurement rollcall_device) InfluxDB acknowledged.",
		}),
		devDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_influx_device_points_dropped_total",
			Help: "Device snapshot points not written, by reason (max_devices, unavailable, rejected, canceled); snapshots are never spooled.",
		}, []string{"reason"}),
	}
	for _, r := range []string{
		ResultSuccess, ResultRejected, ResultTooLarge, ResultConfigError,
		ResultThrottled, ResultServerError, ResultNetworkError, ResultCanceled,
	} {
		m.writes.WithLabelValues(r)
	}
	for _, r := range []string{DropRejected, DropTooLarge, DropSpoolFull, DropSpoolError} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{DeviceDropMaxDevices, DeviceDropUnavailable, DeviceDropRejected, DeviceDropCanceled} {
		m.devDropped.WithLabelValues(r)
	}
	m.list = []prometheus.Collector{
		m.writes, m.points, m.dropped, m.spooled, m.circuit,
		m.spoolBytes, m.spoolRecords, m.writeDuration, m.devPoints, m.devDropped,
	}
	for i, c := range m.list {
		if err := reg.Register(c); err != nil {
			for _, r := range m.list[:i] {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("influx: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.list {
		reg.Unregister(c)
	}
}

// result is the writes_total label of a class.
func (c class) result() string {
	switch c {
	case classOK:
		return ResultSuccess
	case classRejected:
		return ResultRejected
	case classTooLarge:
		return ResultTooLarge
	case classConfig:
		return ResultConfigError
	case classThrottled:
		return ResultThrottled
	case classCanceled:
		return ResultCanceled
	}
	return ResultServerError
}
