package staleness

import "time"

// State is a device's liveness state.
type State string

// Device states; see DESIGN.md § Device states.
const (
	StateLive      State = "live"
	StateLate      State = "late"
	StateSilent    State = "silent"
	StateOffline   State = "offline"
	StateDelayed   State = "delayed"
	StateNeverSeen State = "never_seen"
	StateRetired   State = "retired"
)

// States lists every state, so gauges can be pre-initialised.
var States = []State{StateLive, StateLate, StateSilent, StateOffline, StateDelayed, StateNeverSeen, StateRetired}

// Thresholds of the interval-based liveness rule, in learned intervals.
const (
	// LateAfterIntervals: a device is late when nothing arrived for this many
	// of its intervals.
	LateAfterIntervals = 3
	// SilentAfterIntervals: a device is silent after this many intervals.
	SilentAfterIntervals = 10
	// intervalWeight is the EWMA weight of a new inter-arrival time.
	intervalWeight = 0.125
)

// Liveness tracks one device's arrivals. Its zero value is a device never
// seen. It is owned by the device's shard and not safe for concurrent use.
type Liveness struct {
	// LastSeen is the receive time (Unix ns) of the newest message, 0 if none.
	LastSeen int64
	// LastEvent is the newest event time (Unix ns) seen.
	LastEvent int64
	// Interval is the learned inter-arrival time (EWMA, ns), seeded from the
	// fleet file's interval.
	Interval int64
	// Offline is set by a status/Last Will "offline" message and cleared by
	// any later reading or "online".
	Offline bool
	// OfflineAt is when the device was reported offline (Unix ns).
	OfflineAt int64
}

// NewLiveness returns the liveness of a device expected every interval.
func NewLiveness(interval time.Duration) Liveness {
	return Liveness{Interval: int64(interval)}
}

// Observe records a reading received at recv with event time ts.
func (l *Liveness) Observe(recv, ts int64) {
	if l.LastSeen != 0 && recv > l.LastSeen {
		gap := float64(recv - l.LastSeen)
		l.Interval = int64(float64(l.Interval)*(1-intervalWeight) + gap*intervalWeight)
	}
	if recv > l.LastSeen {
		l.LastSeen = recv
	}
	if ts > l.LastEvent {
		l.LastEvent = ts
	}
	l.Offline = false
}

// SetStatus records a status message ("online" or "offline") received at recv.
func (l *Liveness) SetStatus(online bool, recv int64) {
	l.Offline = !online
	if !online {
		l.OfflineAt = recv
	}
}

// State returns the device's state at now (Unix ns).
func (l *Liveness) State(now int64) State {
	switch {
	case l.Offline:
		return StateOffline
	case l.LastSeen == 0:
		return StateNeverSeen
	}
	age := now - l.LastSeen
	iv := max(l.Interval, int64(time.Millisecond))
	switch {
	case age >= SilentAfterIntervals*iv:
		return StateSilent
	case age >= LateAfterIntervals*iv:
		return StateLate
	}
	return StateLive
}
