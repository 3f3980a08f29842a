// Package store is the bounded in-memory history of aggregates behind the
// HTTP API.
//
// # Consumes
//
// Every aggregate the engine emits, as a sink.Writer.
//
// # Emits
//
// Query answers: per group and metric the windows in a time range (newest
// last) with their latest revision or every revision, and the newest window
// per series.
//
// # Drops
//
// Per series, windows beyond Config.MaxWindows are evicted oldest first
// (rollcall_store_evicted_total{reason="max_windows"}); per window,
// revisions beyond Config.MaxRevisions are evicted oldest first, keeping the
// latest (reason="max_revisions"); aggregates of new series beyond
// Config.MaxSeries are not stored (reason="max_series").
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
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]int{"max_series": c.MaxSeries, "max_windows": c.MaxWindows, "max_revisions": c.MaxRevisions} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("store.%s: %d must be positive", name, v))
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
	cfg     Config
	evicted *prometheus.CounterVec

	mu     sync.RWMutex
	series map[Key]*series
}

// series holds one group and metric's windows, ascending by start; each
// window's revisions ascending.
type series struct {
	windows [][]aggregate.Aggregate
}

var _ sink.Writer = (*Store)(nil)

// New returns an empty store.
func New(cfg Config, reg prometheus.Registerer) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg,
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_store_evicted_total",
			Help: "Aggregates the API store evicted or refused, by reason.",
		}, []string{"reason"}),
		series: map[Key]*series{},
	}
	for _, r := range []string{EvictMaxSeries, EvictMaxWindows, EvictMaxRevisions} {
		s.evicted.WithLabelValues(r)
	}
	if err := reg.Register(s.evicted); err != nil {
		return nil, fmt.Errorf("store: register metrics: %w", err)
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

// Add stores a.
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
	i := sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(a.Window.Start) })
	if i < len(sr.windows) && sr.windows[i][0].Window.Start.Equal(a.Window.Start) {
		revs := append(sr.windows[i], a)
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
	// AllRevisions returns every kept revision of each window, oldest
	// first; otherwise only the latest.
	AllRevisions bool
}

// ErrUnknownSeries means the store holds nothing for the group and metric.
var ErrUnknownSeries = errors.New("store: unknown group or metric")

// History returns the matching aggregates, oldest window first.
func (s *Store) History(q Query) ([]aggregate.Aggregate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sr := s.series[Key{q.Group, q.Metric}]
	if sr == nil {
		return nil, ErrUnknownSeries
	}
	lo, hi := 0, len(sr.windows)
	if !q.From.IsZero() {
		lo = sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(q.From) })
	}
	if !q.To.IsZero() {
		hi = sort.Search(len(sr.windows), func(i int) bool { return !sr.windows[i][0].Window.Start.Before(q.To) })
	}
	hi = max(hi, lo)
	if q.Limit > 0 && hi-lo > q.Limit {
		lo = hi - q.Limit
	}
	out := []aggregate.Aggregate{}
	for _, revs := range sr.windows[lo:hi] {
		if q.AllRevisions {
			out = append(out, revs...)
		} else {
			out = append(out, revs[len(revs)-1])
		}
	}
	return out, nil
}

// Latest returns the latest revision of the newest window of every series
// matching group and metric (empty matches all), sorted by group and metric.
func (s *Store) Latest(group, metric string) []aggregate.Aggregate {
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
	return out
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
