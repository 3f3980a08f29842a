package aggregate

// bucket is a per-device token bucket over the gateway clock: Rate tokens
// per second up to Burst. Its zero value is full. 12 bytes per device.
type bucket struct {
	spent float32 // tokens used below a full bucket
	at    int64   // Unix ns of the last update
}

// allow takes one token at now, reporting false when the bucket is empty.
func (b *bucket) allow(now int64, rate, burst float64) bool {
	if b.at != 0 && now > b.at {
		b.spent = max(0, b.spent-float32(float64(now-b.at)/1e9*rate))
	}
	b.at = max(b.at, now)
	if float64(b.spent)+1 > burst {
		return false
	}
	b.spent++
	return true
}
