package sim

import (
	"strconv"
	"time"
)

// MessageKind says what a Message is.
type MessageKind uint8

// Message kinds.
const (
	// MessageTelemetry is a reading (or what a fault made of one) on a
	// telemetry topic.
	MessageTelemetry MessageKind = iota
	// MessageBirth is "online" on a device's status topic, published when
	// its own connection comes up.
	MessageBirth
	// MessageWill is the Last Will "offline" on a device's status topic,
	// which the broker publishes when the device's connection drops.
	MessageWill
)

// String returns "telemetry", "birth" or "will".
func (k MessageKind) String() string {
	switch k {
	case MessageTelemetry:
		return "telemetry"
	case MessageBirth:
		return "birth"
	case MessageWill:
		return "will"
	default:
		return "unknown"
	}
}

// Status payloads.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Message is one MQTT publish, as the broker sees it.
type Message struct {
	// Topic is the topic published on. A spoofed message carries another
	// device's topic.
	Topic string
	// Payload is the message body; shared between a message's duplicates
	// and replays, so it must not be modified.
	Payload []byte
	// QoS is the MQTT QoS.
	QoS byte
	// Kind is telemetry, birth or will.
	Kind MessageKind
	// Device is the device that sent it (for a will: whose will it is).
	Device string
	// Faults are the faults that shaped the message.
	Faults FaultSet
	// At is the simulated time it was sent.
	At time.Time
}

// tsLayout is RFC 3339 with exactly three fractional digits (milliseconds,
// truncated); for UTC times it ends in "Z".
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// appendTelemetry appends the telemetry JSON of one reading to b
// (DESIGN.md, "Wire format"); device, when not empty, is written as the
// payload's device field (what a spoofing device does):
//
//	{"seq":1,"boot":1,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}
func appendTelemetry(b []byte, device string, seq, boot uint64, ts time.Time, names []string, vals []float64) []byte {
	b = append(b, '{')
	if device != "" {
		b = append(b, `"device":"`...)
		b = append(b, device...) // ids are plain ASCII (validID)
		b = append(b, `",`...)
	}
	b = append(b, `"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"boot":`...)
	b = strconv.AppendUint(b, boot, 10)
	b = append(b, `,"ts":"`...)
	b = appendTS(b, ts)
	b = append(b, `","metrics":{`...)
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...) // metric names are plain (validMetricName)
		b = append(b, `":`...)
		b = strconv.AppendFloat(b, vals[i], 'f', -1, 64)
	}
	return append(b, "}}"...)
}

// appendTS appends ts in tsLayout, in UTC; it is AppendFormat without the
// layout parsing, which dominated the cost of a payload.
func appendTS(b []byte, ts time.Time) []byte {
	ts = ts.UTC()
	y, mo, d := ts.Date()
	if y < 0 || y > 9999 {
		return ts.AppendFormat(b, tsLayout)
	}
	h, mi, s := ts.Clock()
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, ts.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends v, 0 ≤ v < 10^n, as exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		p := 1
		for range i {
			p *= 10
		}
		b = append(b, byte('0'+v/p%10))
	}
	return b
}

// Malformed payload variants, used in turn by a device; each is rejected as
// bad_json by rollcall.
const (
	malformedTruncated = iota // the payload cut in half
	malformedNotJSON          // key=value text
	malformedNoMetrics        // a JSON object without "metrics"
	malformedTrailing         // a valid object followed by garbage
	numMalformed
)

// malformed returns variant v of a broken payload for the reading valid.
func malformed(v int, valid []byte, seq, boot uint64, ts time.Time) []byte {
	switch v % numMalformed {
	case malformedTruncated:
		return append([]byte(nil), valid[:len(valid)/2]...)
	case malformedNotJSON:
		b := append([]byte("seq="), strconv.FormatUint(seq, 10)...)
		return append(b, " status=ok"...)
	case malformedNoMetrics:
		b := append([]byte(`{"seq":`), strconv.FormatUint(seq, 10)...)
		b = append(b, `,"boot":`...)
		b = strconv.AppendUint(b, boot, 10)
		b = append(b, `,"ts":"`...)
		b = appendTS(b, ts)
		return append(b, `"}`...)
	default:
		b := append([]byte(nil), valid...)
		return append(b, `}garbage`...)
	}
}

// oversize returns valid padded, with a "pad" string field, to at least size
// bytes.
func oversize(valid []byte, size int) []byte {
	const open, closing = `,"pad":"`, `"}`
	pad := max(size-len(valid)-len(open)-len(closing)+1, 0) // +1: the '}' replaced
	b := make([]byte, 0, len(valid)+len(open)+pad+len(closing))
	b = append(b, valid[:len(valid)-1]...)
	b = append(b, open...)
	for range pad {
		b = append(b, 'x')
	}
	return append(b, closing...)
}
