package influx

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry number attempt (0-based): uniform in
// [0, min(max, initial·2^attempt)) ("full jitter", which spreads retries of
// many gateways better than equal or no jitter). rnd returns a value in
// [0, n); nil means math/rand/v2.
func backoff(attempt int, initial, maxWait time.Duration, rnd func(n int64) int64) time.Duration {
	ceiling := initial
	for i := 0; i < attempt && ceiling < maxWait; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, maxWait)
	if ceiling <= 0 {
		return 0
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(ceiling)))
}
