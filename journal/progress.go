package journal

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultProgressInterval is how often a Progress logs.
const DefaultProgressInterval = 5 * time.Second

// Progress follows a long pass over a journal at start-up (the ingest
// journal's replay, the InfluxDB spool's drain): it logs the records and
// bytes done, the rate and the estimated time left every
// DefaultProgressInterval, and says the same in Status, for readiness. One
// goroutine calls Add and Finish; Status and Done may be called from any.
type Progress struct {
	what       string
	total      uint64
	totalBytes int64
	log        *slog.Logger
	now        func() time.Time
	every      time.Duration

	mu       sync.Mutex
	start    time.Time
	lastLog  time.Time
	records  uint64
	bytes    int64
	finished bool
}

// NewProgress starts following what (e.g. "journal replay"): total
// records, totalBytes on disk (0: unknown). A nil log discards; a nil now
// is time.Now.
func NewProgress(what string, total uint64, totalBytes int64, log *slog.Logger, now func() time.Time) *Progress {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Progress{
		what: what, total: total, totalBytes: totalBytes, log: log, now: now,
		every: DefaultProgressInterval, start: t, lastLog: t,
	}
}

// Add counts records and bytes done, and logs when DefaultProgressInterval
// has passed since the last line.
func (p *Progress) Add(records int, bytes int) {
	p.mu.Lock()
	p.records += uint64(records)
	p.bytes += int64(bytes)
	now := p.now()
	due := now.Sub(p.lastLog) >= p.every
	if due {
		p.lastLog = now
	}
	attrs := p.attrsLocked(now)
	p.mu.Unlock()
	if due {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, p.what+" progress", attrs...) //nolint:sloglint // the message names the pass ("journal replay progress"); docs and alerts grep for it
	}
}

// Finish logs the pass's totals; Done reports true from then on.
func (p *Progress) Finish() {
	p.mu.Lock()
	p.finished = true
	now := p.now()
	elapsed := now.Sub(p.start)
	attrs := []slog.Attr{
		slog.Uint64("records", p.records), slog.Int64("bytes", p.bytes),
		slog.Duration("elapsed", elapsed.Round(time.Millisecond)),
	}
	p.mu.Unlock()
	p.log.LogAttrs(context.Background(), slog.LevelInfo, p.what+" done", attrs...) //nolint:sloglint // as above
}

// Done reports whether Finish was called.
func (p *Progress) Done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.finished
}

// Status says where the pass is, for /readyz: "journal replay: 1200 of
// 50000 records (2%), 1.5 MB, 800 records/s, about 1m1s left".
func (p *Progress) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	s := fmt.Sprintf("%s: %d of %d records", p.what, p.records, p.total)
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", min(100, p.records*100/p.total))
	}
	s += fmt.Sprintf(", %d bytes", p.bytes)
	if rate := p.rateLocked(now); rate > 0 {
		s += fmt.Sprintf(", %.0f records/s", rate)
		if left, ok := p.leftLocked(now); ok {
			s += fmt.Sprintf(", about %v left", left)
		}
	}
	return s
}

// attrsLocked are the attributes of a progress line. The caller holds mu.
func (p *Progress) attrsLocked(now time.Time) []slog.Attr {
	attrs := []slog.Attr{
		slog.Uint64("records", p.records), slog.Uint64("records_total", p.total),
		slog.Int64("bytes", p.bytes), slog.Int64("bytes_on_disk", p.totalBytes),
		slog.Float64("records_per_second", roundRate(p.rateLocked(now))),
		slog.Float64("bytes_per_second", roundRate(float64(p.bytes)/max(now.Sub(p.start).Seconds(), 1e-9))),
	}
	if left, ok := p.leftLocked(now); ok {
		attrs = append(attrs, slog.Duration("eta", left))
	}
	return attrs
}

// rateLocked is records per second since the start. The caller holds mu.
func (p *Progress) rateLocked(now time.Time) float64 {
	el := now.Sub(p.start).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(p.records) / el
}

// leftLocked estimates the time left at the rate so far. The caller
// holds mu.
func (p *Progress) leftLocked(now time.Time) (time.Duration, bool) {
	rate := p.rateLocked(now)
	if rate <= 0 || p.records >= p.total {
		return 0, rate > 0
	}
	return time.Duration(float64(p.total-p.records) / rate * float64(time.Second)).Round(time.Second), true
}

func roundRate(r float64) float64 { return float64(int64(r*10)) / 10 }
