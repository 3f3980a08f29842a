package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink"
)

// Defaults for Config.
const (
	// DefaultMaxSeries bounds the (group, metric) series kept.
	DefaultMaxSeries = 1000
	// DefaultMaxWindows is the windows kept per series (1 h of 10 s windows).
	DefaultMaxWindows = 360
	// DefaultMaxRevisions is the revisions kept per window.
	DefaultMaxRevisions = 16
	// DefaultBacklog is the aggregates kept in emission order for stream
	// readers (about 10 minutes of 2 sites × 2 metrics × 10 s windows with
	// a revision and a final each, many times over).
	DefaultBacklog = 4096
	// MaxSubscribers bounds the subscribers of one store; Subscribe refuses
	// more with ErrTooManySubscribers. The API's http.max_streams is the
	// limit users meet first.
	MaxSubscribers = 1024
)

// Eviction reasons: the reason label of rollcall_store_evicted_total.
const (
	EvictMaxSeries    = "max_series"
	EvictMaxWindows   = "max_windows"
	EvictMaxRevisions = "max_revisions"
)

// Config bounds the store. Zero fields mean the defaults.
type Config struct {
	// MaxSeries bounds the (group, metric) series. Default: 1000.
	MaxSeries int `yaml:"max_series"`
	// MaxWindows bounds the windows kept per series. Default: 360.
	MaxWindows int `yaml:"max_windows"`
	// MaxRevisions bounds the revisions kept per window (the latest is
	// always kept). Default: 16.
	MaxRevisions int `yaml:"max_revisions"`
	// Backlog is how many of the newest aggregates are kept in emission
	// order, so that a stream client that reconnects (Last-Event-ID) or
	// reads slowly gets what it missed. Default: 4096.
	Backlog int `yaml:"backlog"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.MaxWindows == 0 {
		c.MaxWindows = DefaultMaxWindows
	}
	if c.MaxRevisions == 0 {
		c.MaxRevisions = DefaultMaxRevisions
	}
	if c.Backlog == 0 {
		c.Backlog = DefaultBacklog
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_series", c.MaxSeries}, {"max_windows", c.MaxWindows}, {"max_revisions", c.MaxRevisions}, {"backlog", c.Backlog},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("store.%s: %d must be positive", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Key names a series.
type Key struct {
	Group, Metric string
}

// Store keeps recent aggregates. It is safe for concurrent use.
type Store struct {
	cfg         Config
	epoch       uint64
	evicted     *prometheus.CounterVec
	subscribers prometheus.Gauge

	mu      sync.RWMutex
	series  map[Key]*series
	backlog backlog
	subs    map[*Subscription]struct{}
}

// series holds one group and metric's windows, ascending by start; each
// window's revisions ascending.
type series struct {
	windows [][]aggregate.Aggregate
}

var _ sink.Writer = (*Store)(nil)

// New returns an empty store. It registers rollcall_store_evicted_total
// and rollcall_store_subscribers with reg.
func New(cfg Config, reg prometheus.Registerer) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg,
		// Any value that differs between two runs of the process will do:
		// it only tells a stream client that its sequence numbers are from
		// another run.
		epoch: uint64(time.Now().UnixNano()),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_store_evicted_total",
			Help: "Aggregates the API store evicted or refused, by reason.",
		}, []string{"reason"}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rollcall_store_subscribers",
			Help: "Stream readers subscribed to the API store.",
		}),
		series:  map[Key]*series{},
		backlog: backlog{ring: make([]Entry, cfg.Backlog)},
		subs:    map[*Subscription]struct{}{},
	}
	for _, r := range []string{EvictMaxSeries, EvictMaxWindows, EvictMaxRevisions} {
		s.evicted.WithLabelValues(r)
	}
	cs := []prometheus.Collector{s.evicted, s.subscribers}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("store: register metrics: %w", err)
		}
	}
	return s, nil
}

// Name implements sink.Writer.
func (s *Store) Name() string { return "store" }

// Write implements sink.Writer; it never fails.
func (s *Store) Write(_ context.Context, a aggregate.Aggregate) error {
	s.Add(a)
	return nil
}

// Add stores a, gives it the next sequence number and signals the
// subscribers. It never waits for a subscriber.
func (s *Store) Add(a aggregate.Aggregate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{a.Group, a.Metric}
	sr := s.series[k]
	if sr == nil {
		if len(s.series) >= s.cfg.MaxSeries {
			s.evicted.WithLabelValues(EvictMaxSeries).Inc()
			return
		}
		sr = &series{}
		s.series[k] = sr
	}
	s.backlog.push(a)
	s.notify()
	i := sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(a.Window.Start) })
	if i < len(sr.windows) && sr.windows[i][0].Window.Start.Equal(a.Window.Start) {
		revs := sr.windows[i]
		// Revisions stay ordered by number: a revision re-emitted after a
		// restart (journal replay) replaces itself wherever it is, and never
		// hides a newer one.
		j, found := slices.BinarySearchFunc(revs, a.Revision, func(x aggregate.Aggregate, rev int) int { return x.Revision - rev })
		if found {
			revs[j] = a
			return
		}
		revs = slices.Insert(revs, j, a)
		if len(revs) > s.cfg.MaxRevisions {
			revs = slices.Delete(revs, 0, 1)
			s.evicted.WithLabelValues(EvictMaxRevisions).Inc()
		}
		sr.windows[i] = revs
		return
	}
	sr.windows = slices.Insert(sr.windows, i, []aggregate.Aggregate{a})
	if len(sr.windows) > s.cfg.MaxWindows {
		sr.windows = slices.Delete(sr.windows, 0, 1)
		s.evicted.WithLabelValues(EvictMaxWindows).Inc()
	}
}

// Query selects a series' windows.
type Query struct {
	Group, Metric string
	// From and To bound window starts: From <= start < To. Zero means open.
	From, To time.Time
	// Limit keeps the newest Limit windows (0: all).
	Limit int
	// MaxPoints, when positive, bounds the aggregates returned: windows are
	// taken newest first while all their revisions fit, but at least one
	// window is returned. It matters with AllRevisions.
	MaxPoints int
	// AllRevisions returns every kept revision of each window, oldest
	// first; otherwise only the latest.
	AllRevisions bool
}

// ErrUnknownSeries means the store holds nothing for the group and metric.
var ErrUnknownSeries = errors.New("store: unknown group or metric")

// History returns the matching aggregates, oldest window first.
func (s *Store) History(q Query) ([]aggregate.Aggregate, error) {
	aggs, _, err := s.HistoryPage(q)
	return aggs, err
}

// HistoryPage is History that also reports whether the range holds older
// windows than those returned (cut off by Limit or MaxPoints): the next
// page is the same query with To set to the oldest returned window's start.
func (s *Store) HistoryPage(q Query) (aggs []aggregate.Aggregate, more bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sr := s.series[Key{q.Group, q.Metric}]
	if sr == nil {
		return nil, false, ErrUnknownSeries
	}
	lo, hi := 0, len(sr.windows)
	if !q.From.IsZero() {
		lo = sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(q.From) })
	}
	if !q.To.IsZero() {
		hi = sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(q.To) })
	}
	hi = max(hi, lo)
	first := lo
	if q.Limit > 0 && hi-first > q.Limit {
		first = hi - q.Limit
	}
	if q.MaxPoints > 0 {
		// Walk back from the newest window while its points still fit.
		points, i := 0, hi
		for i > first {
			n := 1
			if q.AllRevisions {
				n = len(sr.windows[i-1])
			}
			if points+n > q.MaxPoints && i < hi {
				break
			}
			points += n
			i--
		}
		first = i
	}
	out := []aggregate.Aggregate{}
	for _, revs := range sr.windows[first:hi] {
		if q.AllRevisions {
			out = append(out, revs...)
		} else {
			out = append(out, revs[len(revs)-1])
		}
	}
	return out, first > lo, nil
}

// Latest returns the latest revision of the newest window of every series
// matching group and metric (empty matches all), sorted by group and metric.
func (s *Store) Latest(group, metric string) []aggregate.Aggregate {
	out, _ := s.LatestSeq(group, metric)
	return out
}

// LatestSeq is Latest with the sequence number of the newest aggregate
// added when the answer was taken: a stream reader that continues with
// Since(seq) misses nothing between the two.
func (s *Store) LatestSeq(group, metric string) ([]aggregate.Aggregate, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []aggregate.Aggregate{}
	for k, sr := range s.series {
		if (group == "" || k.Group == group) && (metric == "" || k.Metric == metric) && len(sr.windows) > 0 {
			revs := sr.windows[len(sr.windows)-1]
			out = append(out, revs[len(revs)-1])
		}
	}
	slices.SortFunc(out, func(a, b aggregate.Aggregate) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return strings.Compare(a.Metric, b.Metric)
	})
	return out, s.backlog.seq
}

// Has reports which of group and metric the store knows, for telling an
// unknown group from an unknown metric.
func (s *Store) Has(group, metric string) (groupKnown, metricKnown bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k := range s.series {
		groupKnown = groupKnown || k.Group == group
		metricKnown = metricKnown || k.Metric == metric
	}
	return groupKnown, metricKnown
}
