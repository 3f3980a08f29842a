package prom

import "time"

// DefaultSeriesTTL is the gateway's default Config.SeriesTTL: a group or
// metric that stopped existing (a site decommissioned, a metric renamed,
// a group the fleet file no longer lists) leaves /metrics after 10
// minutes instead of showing its last values until restart. Prometheus
// then marks its series stale at the next scrape, and queries stop
// returning them.
const DefaultSeriesTTL = 10 * time.Minute

// expire removes the pairs whose last aggregate arrived more than
// Config.SeriesTTL before now, and counts them. A zero SeriesTTL never
// expires. The caller holds s.mu.
func (s *Sink) expire(now time.Time) {
	if s.cfg.SeriesTTL <= 0 {
		return
	}
	for k, e := range s.series {
		if now.Sub(e.seen) > s.cfg.SeriesTTL {
			delete(s.series, k)
			s.expired.Inc()
		}
	}
}
