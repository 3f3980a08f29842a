package prom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink"
)

// DefaultMaxSeries bounds the (group, metric) pairs exposed.
const DefaultMaxSeries = 1000

// Drop reasons: the reason label of rollcall_prom_series_dropped_total.
const (
	// DropMaxSeries: the aggregate is of a new (group, metric) pair and
	// Config.MaxSeries pairs are already kept.
	DropMaxSeries = "max_series"
	// DropInvalidLabel: the group or metric name is not valid UTF-8, which
	// Prometheus label values must be.
	DropInvalidLabel = "invalid_label"
)

// Bounds: the bound label of rollcall_aggregate_value.
const (
	BoundValue    = "value"
	BoundLower    = "lower"
	BoundUpper    = "upper"
	BoundReported = "reported"
)

// Config configures the sink. Zero fields mean the defaults.
type Config struct {
	// Enabled adds the sink to the gateway. Default: false.
	Enabled bool `yaml:"enabled"`
	// MaxSeries bounds the (group, metric) pairs exposed; each is at most 27
	// Prometheus series. Default: 1000.
	MaxSeries int `yaml:"max_series"`
	// SeriesTTL is how long a (group, metric) pair stays exposed after its
	// last aggregate; then its gauges disappear (see expiry.go). Here 0 is
	// a choice, not "the default": never expire (pairs stay until restart,
	// bounded by MaxSeries). The gateway's default: 10m (DefaultSeriesTTL).
	SeriesTTL time.Duration `yaml:"series_ttl"`
	// Now is the clock of SeriesTTL. Default: time.Now.
	Now func() time.Time `yaml:"-"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("prom.max_series: %d must be positive", c.MaxSeries))
	}
	if c.SeriesTTL < 0 {
		errs = append(errs, fmt.Errorf("prom.series_ttl: %v is negative (0: never expire)", c.SeriesTTL))
	}
	return errors.Join(errs...)
}

// Sink keeps the latest aggregate per (group, metric) and exposes it as
// gauges. It is a sink.Writer and a prometheus.Collector; it is safe for
// concurrent use (Write from the fan-out, Collect from scrapes).
type Sink struct {
	cfg     Config
	dropped *prometheus.CounterVec
	expired prometheus.Counter

	mu     sync.RWMutex
	series map[key]*entry
}

type key struct{ group, metric string }

// entry is what the gauges need of one aggregate (not its missing list).
type entry struct {
	start    time.Time
	revision int
	final    bool
	stats    aggregate.Stats
	expected int
	reported int
	partial  int
	ratio    float64
	quality  aggregate.Quality
	maxAge   aggregate.Num
	// seen is when the pair's last aggregate arrived (Config.Now), newest
	// or not: the clock of Config.SeriesTTL.
	seen time.Time
}

var (
	_ sink.Writer          = (*Sink)(nil)
	_ prometheus.Collector = (*Sink)(nil)
)

// Descriptors of the exposed gauges.
var (
	gm = []string{"group", "metric"}

	descValue = prometheus.NewDesc("rollcall_aggregate_value",
		"Latest aggregate of a group and metric: stat (sum, mean, min, max, count) and bound (value: the estimate; lower, upper: bounds on the true value; reported: over the reporting devices). Absent when unknown or unbounded.",
		append(gm, "stat", "bound"), nil)
	descCoverage = prometheus.NewDesc("rollcall_group_coverage_ratio",
		"Reporting devices / expected devices in the latest window.", gm, nil)
	descReporting = prometheus.NewDesc("rollcall_group_devices_reporting",
		"Devices that reported in the latest window.", gm, nil)
	descExpected = prometheus.NewDesc("rollcall_group_devices_expected",
		"Devices expected in the latest window.", gm, nil)
	descPartial = prometheus.NewDesc("rollcall_group_devices_partial",
		"Reporting devices that delivered only part of their samples in the latest window (bounded, not exact).", gm, nil)
	descQuality = prometheus.NewDesc("rollcall_aggregate_quality",
		"1 for the latest aggregate's quality (good, uncertain, bad), 0 for the others.",
		append(gm, "quality"), nil)
	descStart = prometheus.NewDesc("rollcall_aggregate_window_start_timestamp_seconds",
		"Start of the latest window, Unix seconds.", gm, nil)
	descRevision = prometheus.NewDesc("rollcall_aggregate_revision",
		"Revision of the latest aggregate (0: first emission).", gm, nil)
	descFinal = prometheus.NewDesc("rollcall_aggregate_final",
		"1 when the latest aggregate is final, 0 while it may still be revised.", gm, nil)
	descMaxAge = prometheus.NewDesc("rollcall_aggregate_max_age_seconds",
		"Age at emission of the oldest input of the latest aggregate. Absent when no device reported.", gm, nil)
	descSeries = prometheus.NewDesc("rollcall_prom_series",
		"(group, metric) pairs exposed by the Prometheus sink.", nil, nil)

	qualities = []aggregate.Quality{aggregate.QualityGood, aggregate.QualityUncertain, aggregate.QualityBad}
)

// New returns a sink and registers it and its counter with reg.
func New(cfg Config, reg prometheus.Registerer) (*Sink, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sink{
		cfg: cfg,
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_prom_series_dropped_total",
			Help: "Aggregates the Prometheus sink did not expose, by reason (max_series: a new group/metric pair beyond prom.max_series).",
		}, []string{"reason"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_prom_series_expired_total",
			Help: "(group, metric) pairs the Prometheus sink stopped exposing because no aggregate of theirs arrived for prom.series_ttl.",
		}),
		series: map[key]*entry{},
	}
	for _, r := range []string{DropMaxSeries, DropInvalidLabel} {
		s.dropped.WithLabelValues(r)
	}
	collectors := []prometheus.Collector{s.dropped, s.expired, s}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("prom: register metrics: %w", err)
		}
	}
	return s, nil
}

// Name implements sink.Writer.
func (s *Sink) Name() string { return "prom" }

// Write implements sink.Writer. It keeps a if it is the newest of its
// series, and never fails: refusals are counted.
func (s *Sink) Write(_ context.Context, a aggregate.Aggregate) error {
	k := key{a.Group, a.Metric}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.series[k]
	if !ok && len(s.series) >= s.cfg.MaxSeries {
		s.expire(now) // expired pairs make room
	}
	switch {
	case ok && !newer(a, old):
		old.seen = now
		return nil
	case !ok && !utf8.ValidString(a.Group+a.Metric):
		s.dropped.WithLabelValues(DropInvalidLabel).Inc()
		return nil
	case !ok && len(s.series) >= s.cfg.MaxSeries:
		s.dropped.WithLabelValues(DropMaxSeries).Inc()
		return nil
	}
	s.series[k] = &entry{
		start: a.Window.Start, revision: a.Revision, final: a.Final,
		stats:    a.Stats,
		expected: a.Coverage.Expected, reported: a.Coverage.Reported, partial: a.Coverage.Partial, ratio: a.Coverage.Ratio,
		quality: a.Quality, maxAge: a.Staleness.MaxAgeS,
		seen: now,
	}
	return nil
}

// newer reports whether a supersedes e: a later window, or the same window
// at a higher revision (or its final emission).
func newer(a aggregate.Aggregate, e *entry) bool {
	switch {
	case !a.Window.Start.Equal(e.start):
		return a.Window.Start.After(e.start)
	case a.Revision != e.revision:
		return a.Revision > e.revision
	default:
		return a.Final && !e.final
	}
}

// Describe implements prometheus.Collector.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descValue, descCoverage, descReporting, descExpected, descPartial, descQuality,
		descStart, descRevision, descFinal, descMaxAge, descSeries,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Pairs past Config.SeriesTTL are
// removed first, so that a scrape never shows them.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ch <- prometheus.MustNewConstMetric(descSeries, prometheus.GaugeValue, float64(len(s.series)))
	for k, e := range s.series {
		for _, st := range []struct {
			name string
			stat aggregate.Stat
		}{{"sum", e.stats.Sum}, {"mean", e.stats.Mean}, {"min", e.stats.Min}, {"max", e.stats.Max}} {
			for _, b := range []struct {
				name string
				v    aggregate.Num
			}{{BoundValue, st.stat.Value}, {BoundLower, st.stat.Lower}, {BoundUpper, st.stat.Upper}, {BoundReported, st.stat.Reported}} {
				if b.v.Known() {
					gauge(descValue, float64(b.v), k.group, k.metric, st.name, b.name)
				}
			}
		}
		gauge(descValue, float64(e.stats.Count.Value), k.group, k.metric, "count", BoundValue)
		gauge(descCoverage, e.ratio, k.group, k.metric)
		gauge(descReporting, float64(e.reported), k.group, k.metric)
		gauge(descExpected, float64(e.expected), k.group, k.metric)
		gauge(descPartial, float64(e.partial), k.group, k.metric)
		for _, q := range qualities {
			gauge(descQuality, b2f(e.quality == q), k.group, k.metric, string(q))
		}
		gauge(descStart, float64(e.start.UnixNano())/1e9, k.group, k.metric)
		gauge(descRevision, float64(e.revision), k.group, k.metric)
		gauge(descFinal, b2f(e.final), k.group, k.metric)
		if e.maxAge.Known() {
			gauge(descMaxAge, float64(e.maxAge), k.group, k.metric)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
