package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// DefaultProgressEvery is how often Progress redraws its line.
const DefaultProgressEvery = time.Second

// Progress draws a one-line progress report of f on w (a terminal) every
// every, overwriting it in place, until ctx is done; then it clears the
// line. The line shows simulated time, messages sent and their rate,
// failures, and the messages each fault kind affected:
//
//	sim 10:04:10 (+4m10s)  sent 10,012 (40/s)  failed 0  lost 250  | silent 250 replay 83 partition 30
func Progress(ctx context.Context, w io.Writer, f *Fleet, every time.Duration) {
	if every <= 0 {
		every = DefaultProgressEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev, prevAt := f.Stats().Sent, time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(w, "\r\x1b[K")
			return
		case now := <-tick.C:
			st := f.Stats()
			rate := float64(st.Sent-prev) / now.Sub(prevAt).Seconds()
			prev, prevAt = st.Sent, now
			fmt.Fprintf(w, "\r\x1b[K%s", st.line(rate))
		}
	}
}

// line is the progress line for s, at rate messages per second.
func (s Stats) line(rate float64) string {
	var b strings.Builder
	if !s.Start.IsZero() {
		fmt.Fprintf(&b, "sim %s (+%s)  ", s.SimTime.Format("15:04:05"), s.SimTime.Sub(s.Start).Truncate(time.Second))
	}
	fmt.Fprintf(&b, "sent %s (%s/s)  failed %s  lost %s", thousands(s.Sent), thousands(uint64(rate+0.5)),
		thousands(s.Failed), thousands(s.Lost))
	if s.Lag > time.Second {
		fmt.Fprintf(&b, "  lag %s", s.Lag.Truncate(100*time.Millisecond))
	}
	if len(s.Faults) > 0 {
		b.WriteString("  |")
		for _, k := range faultKinds {
			if n := s.Faults[k]; n > 0 {
				fmt.Fprintf(&b, " %s %s", k, thousands(n))
			}
		}
	}
	return b.String()
}

// WriteSummary writes the end-of-run summary of s to w, several lines.
func WriteSummary(w io.Writer, s Stats) {
	fmt.Fprintf(w, "fleetsim: simulated %s to %s (%s)\n", s.Start.Format(time.RFC3339), s.SimTime.Format(time.RFC3339),
		s.SimTime.Sub(s.Start).Truncate(time.Millisecond))
	fmt.Fprintf(w, "  readings %s  sent %s  failed %s  lost %s  dropped %s  unsent %s  status %s\n",
		thousands(s.Samples), thousands(s.Sent), thousands(s.Failed), thousands(s.Lost), thousands(s.Dropped),
		thousands(s.Unsent), thousands(s.Status))
	if len(s.Faults) > 0 {
		b := strings.Builder{}
		for _, k := range faultKinds {
			if n := s.Faults[k]; n > 0 {
				fmt.Fprintf(&b, "  %s %s", k, thousands(n))
			}
		}
		fmt.Fprintf(w, "  faults:%s\n", b.String())
	}
}

// thousands formats n with commas: 1,234,567.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
