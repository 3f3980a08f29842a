package ingest

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Admission limit defaults and hard limits.
const (
	// DefaultMaxPayloadBytes is the default for Limits.MaxPayloadBytes.
	DefaultMaxPayloadBytes = 4096
	// DefaultMaxMetrics is the default for Limits.MaxMetrics.
	DefaultMaxMetrics = 64
	// DefaultMaxFutureSkew is the default for Limits.MaxFutureSkew.
	DefaultMaxFutureSkew = 10 * time.Second
	// DefaultMaxMetricNameLen is the default for Limits.MaxMetricNameLen.
	DefaultMaxMetricNameLen = 128
	// DefaultDeviceRate is the default for Limits.DeviceRate: each device's
	// sustained message rate, per second.
	DefaultDeviceRate = 100.0
	// DefaultDeviceBurst is the default for Limits.DeviceBurst: how many
	// messages a device may send at once (a partitioned device flushing its
	// buffer) before the rate applies.
	DefaultDeviceBurst = 1000
	// DefaultSparkplugMaxPayloadBytes is the default for
	// Limits.SparkplugMaxPayloadBytes: birth certificates list every
	// metric with its name and properties, so they are far larger than a
	// JSON reading.
	DefaultSparkplugMaxPayloadBytes = 256 << 10
	// DefaultSparkplugMaxAliases is the default for
	// Limits.SparkplugMaxAliases.
	DefaultSparkplugMaxAliases = 4096
	// DefaultSparkplugMaxNodes is the default for Limits.SparkplugMaxNodes.
	DefaultSparkplugMaxNodes = 10000
	// MaxMQTTPayloadBytes is the upper bound of Limits.MaxPayloadBytes: the
	// largest MQTT packet (268,435,455 bytes, MQTT 3.1.1 section 2.2.3).
	MaxMQTTPayloadBytes = 268435455
)

// Limits are the admission limits of the limits: section: what one
// telemetry message may carry, and how fast one device may send. The zero
// value of a field means its default. ingest owns them; the aggregate stage
// embeds them with its own limits on state (aggregate.Limits).
type Limits struct {
	// MaxPayloadBytes is the largest telemetry payload accepted, in bytes;
	// larger ones are rejected as too_large in the MQTT callback, before the
	// journal (Admit). At most MaxMQTTPayloadBytes.
	// Default: DefaultMaxPayloadBytes (4096).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// MaxMetrics is the most metrics one message may carry; more are
	// rejected as too_many_metrics. Default: DefaultMaxMetrics (64).
	MaxMetrics int `yaml:"max_metrics"`
	// MaxFutureSkew is how far a reading's timestamp may be ahead of its
	// receive time; further ahead is rejected as future_ts.
	// Default: DefaultMaxFutureSkew (10s).
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// MaxMetricNameLen is the longest metric name accepted, in bytes (after
	// unescaping). Default: DefaultMaxMetricNameLen (128).
	MaxMetricNameLen int `yaml:"max_metric_name_len"`
	// DeviceRate limits each device's messages per second (a token bucket
	// on the gateway clock, see Allow); messages past it are rejected
	// rate_limited before they are decoded. Default: DefaultDeviceRate (100).
	DeviceRate float64 `yaml:"device_rate"`
	// DeviceBurst is the token bucket's depth: how many messages a device
	// may send at once (e.g. a flushed buffer) before DeviceRate applies.
	// Default: DefaultDeviceBurst (1000).
	DeviceBurst int `yaml:"device_burst"`
	// SparkplugMaxPayloadBytes is the largest Sparkplug B payload
	// accepted, in bytes; larger ones are rejected as too_large in the MQTT
	// callback. At most MaxMQTTPayloadBytes.
	// Default: DefaultSparkplugMaxPayloadBytes (256 KiB).
	SparkplugMaxPayloadBytes int `yaml:"sparkplug_max_payload_bytes"`
	// SparkplugMaxAliases is the most metric aliases one Sparkplug edge
	// node (with its devices) may define in its births; the metrics past
	// it are skipped (rollcall_sparkplug_metrics_skipped_total{reason=
	// "too_many_aliases"}). Default: DefaultSparkplugMaxAliases (4096).
	SparkplugMaxAliases int `yaml:"sparkplug_max_aliases"`
	// SparkplugMaxNodes is the most Sparkplug edge node sessions the
	// gateway tracks; births of further nodes are rejected
	// unknown_device. Default: DefaultSparkplugMaxNodes (10000).
	SparkplugMaxNodes int `yaml:"sparkplug_max_nodes"`
}

// WithDefaults returns l with every zero field replaced by its default.
// Negative fields are kept, for Validate to report.
func (l Limits) WithDefaults() Limits {
	if l.MaxPayloadBytes == 0 {
		l.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if l.MaxMetrics == 0 {
		l.MaxMetrics = DefaultMaxMetrics
	}
	if l.MaxFutureSkew == 0 {
		l.MaxFutureSkew = DefaultMaxFutureSkew
	}
	if l.MaxMetricNameLen == 0 {
		l.MaxMetricNameLen = DefaultMaxMetricNameLen
	}
	if l.DeviceRate == 0 {
		l.DeviceRate = DefaultDeviceRate
	}
	if l.DeviceBurst == 0 {
		l.DeviceBurst = DefaultDeviceBurst
	}
	if l.SparkplugMaxPayloadBytes == 0 {
		l.SparkplugMaxPayloadBytes = DefaultSparkplugMaxPayloadBytes
	}
	if l.SparkplugMaxAliases == 0 {
		l.SparkplugMaxAliases = DefaultSparkplugMaxAliases
	}
	if l.SparkplugMaxNodes == 0 {
		l.SparkplugMaxNodes = DefaultSparkplugMaxNodes
	}
	return l
}

// Validate returns every problem with l at once, each naming its field. Zero
// fields are valid (they mean the defaults).
func (l Limits) Validate() error {
	var errs []error
	if l.MaxPayloadBytes < 0 {
		errs = append(errs, fmt.Errorf("limits.max_payload_bytes: must not be negative, got %d", l.MaxPayloadBytes))
	}
	if l.MaxPayloadBytes > MaxMQTTPayloadBytes {
		errs = append(errs, fmt.Errorf("limits.max_payload_bytes: %d exceeds the MQTT maximum packet size %d",
			l.MaxPayloadBytes, MaxMQTTPayloadBytes))
	}
	if l.MaxMetrics < 0 {
		errs = append(errs, fmt.Errorf("limits.max_metrics: must not be negative, got %d", l.MaxMetrics))
	}
	if l.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("limits.max_future_skew: must not be negative, got %s", l.MaxFutureSkew))
	}
	if l.MaxMetricNameLen < 0 {
		errs = append(errs, fmt.Errorf("limits.max_metric_name_len: must not be negative, got %d", l.MaxMetricNameLen))
	}
	if d := l.WithDefaults(); l.MaxMetricNameLen >= 0 && l.MaxPayloadBytes >= 0 &&
		d.MaxMetricNameLen >= d.MaxPayloadBytes {
		errs = append(errs, fmt.Errorf("limits.max_metric_name_len (%d) must be smaller than limits.max_payload_bytes (%d)",
			d.MaxMetricNameLen, d.MaxPayloadBytes))
	}
	if l.DeviceRate < 0 || math.IsNaN(l.DeviceRate) || math.IsInf(l.DeviceRate, 0) {
		errs = append(errs, fmt.Errorf("limits.device_rate: %v must be positive", l.DeviceRate))
	}
	if l.DeviceBurst < 0 {
		errs = append(errs, fmt.Errorf("limits.device_burst: %d must be at least 1", l.DeviceBurst))
	}
	if l.SparkplugMaxPayloadBytes < 0 || l.SparkplugMaxPayloadBytes > MaxMQTTPayloadBytes {
		errs = append(errs, fmt.Errorf("limits.sparkplug_max_payload_bytes: %d is not between 0 and %d",
			l.SparkplugMaxPayloadBytes, MaxMQTTPayloadBytes))
	}
	if l.SparkplugMaxAliases < 0 {
		errs = append(errs, fmt.Errorf("limits.sparkplug_max_aliases: must not be negative, got %d", l.SparkplugMaxAliases))
	}
	if l.SparkplugMaxNodes < 0 {
		errs = append(errs, fmt.Errorf("limits.sparkplug_max_nodes: must not be negative, got %d", l.SparkplugMaxNodes))
	}
	return errors.Join(errs...)
}

// Admit makes the admission checks that need neither state nor decoding,
// cheap enough for the subscription callback, which makes them before a
// message is offered to the ingest journal: what they refuse costs the
// journal nothing, so one client flooding oversize or garbage payloads
// cannot fill it and stop the acknowledgements of every device. A
// telemetry payload over MaxPayloadBytes, or a status payload over
// MaxStatusPayloadBytes, is too_large; an empty payload, or a telemetry
// payload that does not open a JSON object, is bad_json. It returns a
// *RejectError or nil. l has its defaults (WithDefaults). The decoders
// repeat these checks (a journal written under a larger limit is replayed
// through them).
func (l *Limits) Admit(kind TopicKind, payload []byte) error {
	if kind == TopicStatus {
		if len(payload) == 0 {
			return reject(ReasonBadJSON, "status payload is empty")
		}
		return checkStatusSize(payload)
	}
	if kind.IsSparkplug() {
		return l.CheckSparkplugSize(payload)
	}
	if err := l.checkSize(payload); err != nil {
		return err
	}
	s := scanner{data: payload}
	return s.objectStart()
}

// checkSize rejects a telemetry payload over MaxPayloadBytes too_large.
func (l *Limits) checkSize(payload []byte) error {
	if len(payload) > l.MaxPayloadBytes {
		return reject(ReasonTooLarge, fmt.Sprintf("payload is %d bytes, limit %d (max_payload_bytes)",
			len(payload), l.MaxPayloadBytes))
	}
	return nil
}

// CheckSparkplugSize rejects a Sparkplug payload over
// SparkplugMaxPayloadBytes too_large, and an empty one bad_protobuf (every
// Sparkplug message carries at least a timestamp or a bdSeq). l has its
// defaults.
func (l *Limits) CheckSparkplugSize(payload []byte) error {
	if len(payload) > l.SparkplugMaxPayloadBytes {
		return reject(ReasonTooLarge, fmt.Sprintf("sparkplug payload is %d bytes, limit %d (sparkplug_max_payload_bytes)",
			len(payload), l.SparkplugMaxPayloadBytes))
	}
	if len(payload) == 0 {
		return reject(ReasonBadProtobuf, "sparkplug payload is empty")
	}
	return nil
}

// Bucket is one device's token bucket over the gateway clock (see
// Limits.Allow). Its zero value is full; 12 bytes per device. It is owned by
// the device's worker and not safe for concurrent use. The fields are
// exported for checkpoints.
type Bucket struct {
	// Spent is the tokens used below a full bucket.
	Spent float32
	// At is the Unix ns of the last update.
	At int64
}

// Allow takes one token from b at now (Unix ns), refilled at DeviceRate
// tokens per second up to DeviceBurst, and reports false when b is empty:
// the message is then rejected rate_limited (ErrRateLimited). A clock that
// steps back does not refill.
func (l *Limits) Allow(b *Bucket, now int64) bool {
	if b.At != 0 && now > b.At {
		b.Spent = max(0, b.Spent-float32(float64(now-b.At)/1e9*l.DeviceRate))
	}
	b.At = max(b.At, now)
	if float64(b.Spent)+1 > float64(l.DeviceBurst) {
		return false
	}
	b.Spent++
	return true
}
