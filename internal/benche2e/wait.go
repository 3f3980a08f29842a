package benche2e

import (
	"fmt"
	"time"
)

// waitDone waits until the subject has every one of n messages (or
// stalls) and returns when it had them. It fills Handled and Shed.
func (b *bench) waitDone(s subject, res *Result, n int, start time.Time) (time.Time, error) {
	if s.sub != nil {
		lastChange := time.Now()
		e, err := s.sub.await("done", b.cfg.Stall, func(e subEvent) {
			if int(e.Count) != res.Handled {
				res.Handled, lastChange = int(e.Count), time.Now()
			}
		})
		if err != nil {
			return lastChange, err // Wall ends at the last progress
		}
		res.Handled = int(e.Count)
		if e.First > 0 {
			res.FirstAfter = time.Unix(0, e.First).Sub(start)
		}
		return time.Unix(0, e.Last), nil
	}
	// rollcall: poll /metrics. The workers' counters reach /metrics at each
	// emit round (every 50 ms), so the end is seen up to ~70 ms late.
	last, lastChange := -1.0, time.Now()
	var rate float64 // messages/s between the last two scrapes that saw progress
	for {
		m, err := s.rc.metrics()
		now := time.Now()
		if err == nil {
			res.Scrapes++
			if ev := m["rollcall_aggregate_last_event_timestamp_seconds"]; ev > 0 && res.Scenario != ScenarioDrain {
				res.Lag = append(res.Lag, now.Sub(time.Unix(0, int64(ev*1e9))))
				res.lagAt = append(res.lagAt, now)
			}
			h, sh := handled(m), shed(m)
			res.Handled, res.Shed = int(h), int(sh)
			res.Unacked = int(m["rollcall_ingest_unacked_total"])
			res.Accepted = int(m[`rollcall_messages_total{outcome="accepted"}`])
			// Done when every message had its outcome once: a broker's
			// redeliveries (after a reconnect) are handled again as
			// duplicates and do not count.
			if float64(res.Accepted)+m[`rollcall_messages_total{outcome="rejected"}`]+sh >= float64(n) {
				return now, nil
			}
			if h+sh != last {
				if last > 0 {
					rate = (h + sh - last) / now.Sub(lastChange).Seconds()
				}
				last, lastChange = h+sh, now
			}
			if res.FirstAfter == 0 && m["rollcall_ingest_received_total"] > 0 {
				res.FirstAfter = now.Sub(start)
			}
		}
		if now.Sub(lastChange) > b.cfg.Stall {
			// Wall ends at the last progress.
			return lastChange, fmt.Errorf("rollcall: %d of %d handled (+%d shed), no progress for %v; its metrics: %s",
				res.Handled, n, res.Shed, b.cfg.Stall, s.rc.dumpMetrics())
		}
		select {
		case <-s.rc.exited:
			return now, fmt.Errorf("rollcall exited; see %s", s.rc.log)
		default:
		}
		// A scrape costs rollcall a few milliseconds of CPU (measured and
		// reported): poll every second once the rate is known, and more
		// often only as the end nears (half the expected remaining time,
		// at least 20 ms).
		wait := 250 * time.Millisecond // until the rate is known
		if rate > 0 {
			wait = time.Duration((float64(n) - last) / rate / 2 * float64(time.Second))
		}
		if res.FirstAfter == 0 && res.Scenario == ScenarioDrain {
			wait = 0 // the first message's time
		}
		wait = min(time.Second, max(20*time.Millisecond, wait))
		time.Sleep(wait) // polling a process's HTTP endpoint
	}
}
