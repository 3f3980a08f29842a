package influx

import "time"

// breaker is a circuit breaker over write requests: closed (requests flow),
// open (none do, until a cool-down ends), half-open (one probe decides).
//
//	closed --failures consecutive failed requests--> open
//	open --cooldown elapsed, on the next allow--> half-open
//	half-open --probe succeeds--> closed
//	half-open --probe fails--> open (a new cool-down)
//
// The sink sends from one goroutine (Run), so half-open admits exactly one
// probe: the next request. breaker is not safe for concurrent use.
type breaker struct {
	failures int
	cooldown time.Duration
	onChange func(state int)

	state       int
	consecutive int
	openUntil   time.Time
}

func newBreaker(failures int, cooldown time.Duration, onChange func(state int)) *breaker {
	b := &breaker{failures: failures, cooldown: cooldown, onChange: onChange}
	b.set(StateClosed)
	return b
}

func (b *breaker) set(s int) {
	b.state = s
	if b.onChange != nil {
		b.onChange(s)
	}
}

// allow reports whether a request may be sent at now; an open breaker whose
// cool-down has ended turns half-open and admits the probe.
func (b *breaker) allow(now time.Time) bool {
	if b.state == StateOpen {
		if now.Before(b.openUntil) {
			return false
		}
		b.set(StateHalfOpen)
	}
	return true
}

// blocked reports whether the breaker is open at now, without changing it.
func (b *breaker) blocked(now time.Time) bool {
	return b.state == StateOpen && now.Before(b.openUntil)
}

// success records a request the server answered as healthy.
func (b *breaker) success() {
	b.consecutive = 0
	if b.state != StateClosed {
		b.set(StateClosed)
	}
}

// failure records a failed request. hint is the server's Retry-After: an
// opening breaker stays open at least that long.
func (b *breaker) failure(now time.Time, hint time.Duration) {
	b.consecutive++
	if b.state == StateHalfOpen || b.consecutive >= b.failures {
		b.openUntil = now.Add(max(b.cooldown, hint))
		if b.state != StateOpen {
			b.set(StateOpen)
		}
	}
}

// until is when an open breaker will admit a probe.
func (b *breaker) until() time.Time { return b.openUntil }
