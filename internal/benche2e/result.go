package benche2e

import (
	"math"
	"time"
)

// Result is one measurement.
type Result struct {
	Scenario, Subject string
	Run               int
	Expected          int // messages published
	Handled           int // messages the subject took (rollcall: its workers handled)
	Shed              int // QoS 0 messages rollcall shed at ingest
	// Wall is from the start of publishing (drain: of the subject's
	// process) until the subject had every message.
	Wall time.Duration
	// FirstAfter (drain) is from the subject's start to its first message.
	FirstAfter time.Duration
	// CPU is the subject's CPU time over Wall (drain: its whole life).
	CPU time.Duration
	// BrokerCPU is mosquitto's CPU time over Wall (0 with --broker).
	BrokerCPU time.Duration
	// PublishRate is the publisher's rate, messages/s (QoS 1: acknowledged).
	PublishRate float64
	// RSS and PeakRSS (VmHWM) of the subject at the end, bytes.
	RSS, PeakRSS int64
	// Load is the 1-minute load average at the end.
	Load float64
	// EmitLatency (rollcall, rate): per provisional aggregate whose window
	// closed while publishing, emitted_at − (window end + allowed skew).
	EmitLatency []time.Duration
	// EmitRound is the mean emit round (rollcall_aggregate_emit_seconds).
	EmitRound time.Duration
	// Lag (rollcall) is, at each scrape while publishing, the wall clock
	// minus the newest event time rollcall accepted
	// (rollcall_aggregate_last_event_timestamp_seconds, updated every emit
	// round): how far behind the publisher rollcall's workers were.
	Lag   []time.Duration
	lagAt []time.Time // when each Lag sample was taken
	// Scrapes and ScrapeCPU: rollcall's /metrics scrapes during Wall and
	// the CPU time one scrape costs it (included in CPU; see NetCPU).
	Scrapes   int
	ScrapeCPU time.Duration
	// Accepted (rollcall) is rollcall_messages_total{outcome="accepted"}:
	// Handled less duplicates, replays and rejections.
	Accepted int
	// Unacked (rollcall, QoS 1) is rollcall_ingest_unacked_total at the
	// end: messages its full ingest queue refused and left unacknowledged.
	Unacked int
	// HeapInuse and GoSys (rollcall, at the end): the Go heap's in-use
	// spans and all memory the Go runtime holds, bytes.
	HeapInuse, GoSys int64
	// Err says why the measurement is incomplete, if it is.
	Err string
	// Notes are problems with the extras (emit latency) that do not make
	// the measurement incomplete.
	Notes []string
}

// Rate is messages handled per second of Wall.
func (r Result) Rate() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Handled) / r.Wall.Seconds()
}

// CPUPerMillion is CPU seconds per million messages handled.
func (r Result) CPUPerMillion() float64 {
	if r.Handled == 0 {
		return math.NaN()
	}
	return r.CPU.Seconds() / float64(r.Handled) * 1e6
}

// NetCPU is CPU less what the benchmark's own /metrics scrapes cost
// (rollcall; the bare subscriber is not scraped).
func (r Result) NetCPU() time.Duration {
	return max(0, r.CPU-time.Duration(r.Scrapes)*r.ScrapeCPU)
}

// NetCPUPerMillion is NetCPU seconds per million messages handled.
func (r Result) NetCPUPerMillion() float64 {
	if r.Handled == 0 {
		return math.NaN()
	}
	return r.NetCPU().Seconds() / float64(r.Handled) * 1e6
}
