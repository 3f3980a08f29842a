package journal

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons: the reason label of rollcall_journal_truncated_records_total
// (ReasonTornTail, ReasonCorrupt) and of
// rollcall_journal_dropped_records_total (ReasonDropOldest).
const (
	// ReasonTornTail: records of the partial or damaged last block of the
	// last segment, cut by Open.
	ReasonTornTail = "torn_tail"
	// ReasonCorrupt: committed records that cannot be read back (a bad
	// block before the tail, or a segment that ends early), counted once.
	ReasonCorrupt = "corrupt"
	// ReasonDropOldest: the records of segments removed by DropOldest.
	ReasonDropOldest = "drop_oldest"
)

type metrics struct {
	appendedRecords prometheus.Counter
	appendedBytes   prometheus.Counter
	writtenBytes    prometheus.Counter
	commits         prometheus.Counter
	commitTime      prometheus.Histogram
	full            prometheus.Counter
	truncated       *prometheus.CounterVec
	dropped         *prometheus.CounterVec
	size            prometheus.GaugeFunc
	segments        prometheus.GaugeFunc

	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

// newMetrics registers the journal's metrics with reg (none when reg is
// nil). The names carry no journal label: users that run two journals wrap
// reg with prometheus.WrapRegistererWith(prometheus.Labels{"journal": …}).
func newMetrics(reg prometheus.Registerer, size, segments func() float64) (*metrics, error) {
	m := &metrics{
		appendedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_journal_appended_records_total",
			Help: "Records appended to the journal.",
		}),
		appendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_journal_appended_bytes_total",
			Help: "Bytes of records appended to the journal, uncompressed.",
		}),
		writtenBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_journal_written_bytes_total",
			Help: "Bytes of blocks written to segment files, compressed, headers included.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_journal_commits_total",
			Help: "Commits that made new records durable and visible.",
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rollcall_journal_commit_seconds",
			Help:    "Time of a commit: compressing and writing the open block, and fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
		}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_journal_full_total",
			Help: "Appends refused because the journal reached max_bytes.",
		}),
		truncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_journal_truncated_records_total",
			Help: "Records lost to a torn tail (cut at open) or to corruption (unreadable), by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_journal_dropped_records_total",
			Help: "Records removed before they were deleted as consumed, by reason.",
		}, []string{"reason"}),
		size: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rollcall_journal_size_bytes",
			Help: "Bytes of all segment files.",
		}, size),
		segments: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rollcall_journal_segments",
			Help: "Segment files, the one being written included.",
		}, segments),
	}
	for _, r := range []string{ReasonTornTail, ReasonCorrupt} {
		m.truncated.WithLabelValues(r)
	}
	m.dropped.WithLabelValues(ReasonDropOldest)
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{
		m.appendedRecords, m.appendedBytes, m.writtenBytes, m.commits, m.commitTime,
		m.full, m.truncated, m.dropped, m.size, m.segments,
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("journal: register metrics: %w", err)
		}
	}
	m.reg, m.collectors = reg, cs
	return m, nil
}

// unregister removes what newMetrics registered, so that the same
// registerer can serve a reopened journal.
func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}
