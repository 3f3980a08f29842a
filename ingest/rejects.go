package ingest

import (
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the rejects sample.
const (
	// DefaultRejectSamples is how many recent rejected messages are kept
	// for GET /api/v1/rejects.
	DefaultRejectSamples = 100
	// DefaultRejectSampleRate bounds the samples taken per second, so a
	// flood of bad messages costs one lock per sample at most this often.
	DefaultRejectSampleRate = 10.0
	// MaxRejectPayload is how much of a rejected payload a sample keeps.
	MaxRejectPayload = 256
)

// RejectSample is one rejected message, kept for GET /api/v1/rejects.
type RejectSample struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
	Detail string    `json:"detail,omitempty"`
	Site   string    `json:"site,omitempty"`
	Device string    `json:"device,omitempty"`
	Topic  string    `json:"topic,omitempty"`
	// Payload is the start of the payload (at most MaxRejectPayload bytes,
	// invalid UTF-8 replaced); PayloadBytes its full length.
	Payload      string `json:"payload"`
	PayloadBytes int    `json:"payload_bytes"`
}

// RejectLog keeps a bounded, rate-limited sample of rejected messages. It is
// safe for concurrent use: the workers add, the API reads. Every rejection
// is counted elsewhere (rollcall_messages_rejected_total); the sample only
// shows examples, and Samples says how many were not sampled.
type RejectLog struct {
	lim *rate.Limiter

	mu      sync.Mutex
	ring    []RejectSample
	next    int
	skipped uint64 // rejections not sampled because of the rate limit
}

// NewRejectLog returns a sample of at most size messages that takes at most
// perSecond samples per second (in bursts of perSecond).
func NewRejectLog(size int, perSecond float64) *RejectLog {
	return &RejectLog{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))), ring: make([]RejectSample, 0, size)}
}

// Add samples a rejection at now unless the rate limit says no.
func (l *RejectLog) Add(now time.Time, reason, detail, site, device, topic string, payload []byte) {
	if !l.lim.AllowN(now, 1) {
		l.mu.Lock()
		l.skipped++
		l.mu.Unlock()
		return
	}
	s := RejectSample{
		Time: now.UTC(), Reason: reason, Detail: detail, Site: site, Device: device, Topic: topic,
		Payload: strings.ToValidUTF8(string(payload[:min(len(payload), MaxRejectPayload)]), "\uFFFD"), PayloadBytes: len(payload),
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < cap(l.ring) {
		l.ring = append(l.ring, s)
		return
	}
	l.ring[l.next] = s
	l.next = (l.next + 1) % len(l.ring)
}

// Samples returns the kept samples, oldest first, and how many rejections
// were not sampled because of the rate limit.
func (l *RejectLog) Samples() ([]RejectSample, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Concat(l.ring[l.next:], l.ring[:l.next])
	return out, l.skipped
}
