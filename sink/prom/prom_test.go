package prom

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// agg returns an aggregate of site-a/power_kw: 2 of 3 devices reported,
// the missing one without a physical range (unbounded above).
func agg(start time.Time, rev int, final bool, sum float64) aggregate.Aggregate {
	inf := aggregate.Num(math.Inf(1))
	nan := aggregate.Num(math.NaN())
	return aggregate.Aggregate{
		Group: "site-a", Metric: "power_kw",
		Window: aggregate.Window{Start: start, End: start.Add(10 * time.Second)},
		Stats: aggregate.Stats{
			Sum:   aggregate.Stat{Value: aggregate.Num(sum + 10), Lower: aggregate.Num(sum), Upper: inf, Reported: aggregate.Num(sum)},
			Mean:  aggregate.Stat{Value: 5, Lower: nan, Upper: nan, Reported: 4},
			Min:   aggregate.Stat{Value: 1, Lower: 1, Upper: 1, Reported: 1},
			Max:   aggregate.Stat{Value: 9, Lower: 9, Upper: inf, Reported: 9},
			Count: aggregate.CountStat{Value: 2},
		},
		Coverage:  aggregate.Coverage{Expected: 3, Reported: 2, Partial: 1, Ratio: 2.0 / 3},
		Staleness: aggregate.Staleness{MaxAgeS: 1.5},
		Quality:   aggregate.QualityUncertain,
		Revision:  rev, Final: final,
	}
}

// hop is agg with a 60 s window (hopping windows every 10 s overlap).
func hop(start time.Time, rev int, final bool, sum float64) aggregate.Aggregate {
	a := agg(start, rev, final, sum)
	a.Window.End = start.Add(time.Minute)
	return a
}

func newSink(t *testing.T, cfg Config) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, reg)
	require.NoError(t, err)
	return s, reg
}

func TestExposition(t *testing.T) {
	t.Parallel()
	s, reg := newSink(t, Config{})
	require.NoError(t, s.Write(context.Background(), agg(t0, 1, false, 30)))
	want := `
# HELP rollcall_aggregate_final 1 when the latest aggregate is final, 0 while it may still be revised.
# TYPE rollcall_aggregate_final gauge
rollcall_aggregate_final{group="site-a",metric="power_kw"} 0
# HELP rollcall_aggregate_max_age_seconds Age at emission of the oldest input of the latest aggregate. Absent when no device reported.
# TYPE rollcall_aggregate_max_age_seconds gauge
rollcall_aggregate_max_age_seconds{group="site-a",metric="power_kw"} 1.5
# HELP rollcall_aggregate_quality 1 for the latest aggregate's quality (good, uncertain, bad), 0 for the others.
# TYPE rollcall_aggregate_quality gauge
rollcall_aggregate_quality{group="site-a",metric="power_kw",quality="bad"} 0
rollcall_aggregate_quality{group="site-a",metric="power_kw",quality="good"} 0
rollcall_aggregate_quality{group="site-a",metric="power_kw",quality="uncertain"} 1
# HELP rollcall_aggregate_revision Revision of the latest aggregate (0: first emission).
# TYPE rollcall_aggregate_revision gauge
rollcall_aggregate_revision{group="site-a",metric="power_kw"} 1
# HELP rollcall_aggregate_value Latest aggregate of a group and metric: stat (sum, mean, min, max, count) and bound (value: the estimate; lower, upper: bounds on the true value; reported: over the reporting devices). Absent when unknown or unbounded.
# TYPE rollcall_aggregate_value gauge
rollcall_aggregate_value{bound="lower",group="site-a",metric="power_kw",stat="max"} 9
rollcall_aggregate_value{bound="lower",group="site-a",metric="power_kw",stat="min"} 1
rollcall_aggregate_value{bound="lower",group="site-a",metric="power_kw",stat="sum"} 30
rollcall_aggregate_value{bound="reported",group="site-a",metric="power_kw",stat="max"} 9
rollcall_aggregate_value{bound="reported",group="site-a",metric="power_kw",stat="mean"} 4
rollcall_aggregate_value{bound="reported",group="site-a",metric="power_kw",stat="min"} 1
rollcall_aggregate_value{bound="reported",group="site-a",metric="power_kw",stat="sum"} 30
rollcall_aggregate_value{bound="upper",group="site-a",metric="power_kw",stat="min"} 1
rollcall_aggregate_value{bound="value",group="site-a",metric="power_kw",stat="count"} 2
rollcall_aggregate_value{bound="value",group="site-a",metric="power_kw",stat="max"} 9
rollcall_aggregate_value{bound="value",group="site-a",metric="power_kw",stat="mean"} 5
rollcall_aggregate_value{bound="value",group="site-a",metric="power_kw",stat="min"} 1
rollcall_aggregate_value{bound="value",group="site-a",metric="power_kw",stat="sum"} 40
# HELP rollcall_aggregate_window_start_timestamp_seconds Start of the latest window, Unix seconds.
# TYPE rollcall_aggregate_window_start_timestamp_seconds gauge
rollcall_aggregate_window_start_timestamp_seconds{group="site-a",metric="power_kw"} 1.7953416e+09
# HELP rollcall_group_coverage_ratio Reporting devices / expected devices in the latest window.
# TYPE rollcall_group_coverage_ratio gauge
rollcall_group_coverage_ratio{group="site-a",metric="power_kw"} 0.6666666666666666
# HELP rollcall_group_devices_expected Devices expected in the latest window.
# TYPE rollcall_group_devices_expected gauge
rollcall_group_devices_expected{group="site-a",metric="power_kw"} 3
# HELP rollcall_group_devices_partial Reporting devices that delivered only part of their samples in the latest window (bounded, not exact).
# TYPE rollcall_group_devices_partial gauge
rollcall_group_devices_partial{group="site-a",metric="power_kw"} 1
# HELP rollcall_group_devices_reporting Devices that reported in the latest window.
# TYPE rollcall_group_devices_reporting gauge
rollcall_group_devices_reporting{group="site-a",metric="power_kw"} 2
# HELP rollcall_prom_series (group, metric) pairs exposed by the Prometheus sink.
# TYPE rollcall_prom_series gauge
rollcall_prom_series 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rollcall_aggregate_final", "rollcall_aggregate_max_age_seconds", "rollcall_aggregate_quality",
		"rollcall_aggregate_revision", "rollcall_aggregate_value", "rollcall_aggregate_window_start_timestamp_seconds",
		"rollcall_group_coverage_ratio", "rollcall_group_devices_expected", "rollcall_group_devices_partial",
		"rollcall_group_devices_reporting", "rollcall_prom_series"))
	// The exposition passes the registry's consistency checks.
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestLatestWins: the gauges follow the newest window and, within it, the
// highest revision; older emissions are ignored.
func TestLatestWins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []aggregate.Aggregate
		want float64 // sum reported
	}{
		{"first", []aggregate.Aggregate{agg(t0, 0, false, 1)}, 1},
		{"revision replaces", []aggregate.Aggregate{agg(t0, 0, false, 1), agg(t0, 1, false, 2)}, 2},
		{"final replaces", []aggregate.Aggregate{agg(t0, 0, false, 1), agg(t0, 0, true, 2)}, 2},
		{"lower revision ignored", []aggregate.Aggregate{agg(t0, 2, false, 1), agg(t0, 1, false, 2)}, 1},
		{"newer window replaces", []aggregate.Aggregate{agg(t0, 3, true, 1), agg(t0.Add(10*time.Second), 0, false, 2)}, 2},
		{"older window ignored", []aggregate.Aggregate{agg(t0.Add(10*time.Second), 0, false, 1), agg(t0, 4, true, 2)}, 1},
		{"same emission twice", []aggregate.Aggregate{agg(t0, 1, true, 1), agg(t0, 1, true, 2)}, 1},
		// Hopping windows (60 s every 10 s) overlap: the latest start wins,
		// and a revision or final of an older, overlapping window does not
		// take the gauge back.
		{"hopping: newer start replaces", []aggregate.Aggregate{hop(t0, 0, false, 1), hop(t0.Add(10*time.Second), 0, false, 2)}, 2},
		{"hopping: older overlapping revision ignored", []aggregate.Aggregate{hop(t0.Add(10*time.Second), 0, false, 1), hop(t0, 1, false, 2), hop(t0, 2, true, 3)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newSink(t, Config{})
			for _, a := range tt.in {
				require.NoError(t, s.Write(context.Background(), a))
			}
			require.Equal(t, tt.want, float64(s.series[key{"site-a", "power_kw"}].stats.Sum.Reported))
		})
	}
}

func TestMaxSeries(t *testing.T) {
	t.Parallel()
	s, reg := newSink(t, Config{MaxSeries: 2})
	ctx := context.Background()
	for _, m := range []string{"a", "b", "c", "d", "a", "b", "c"} {
		a := agg(t0, 0, false, 1)
		a.Metric = m
		require.NoError(t, s.Write(ctx, a))
	}
	require.Len(t, s.series, 2)
	require.Equal(t, 3.0, testutil.ToFloat64(s.dropped.WithLabelValues(DropMaxSeries)), "c, d, c")
	n, err := testutil.GatherAndCount(reg, "rollcall_group_coverage_ratio")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	bad := agg(t0, 0, false, 1)
	bad.Group = "site-\xff"
	s2, _ := newSink(t, Config{})
	require.NoError(t, s2.Write(ctx, bad))
	require.Empty(t, s2.series)
	require.Equal(t, 1.0, testutil.ToFloat64(s2.dropped.WithLabelValues(DropInvalidLabel)))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, Config{MaxSeries: DefaultMaxSeries}, Config{}.WithDefaults())
	require.NoError(t, Config{}.WithDefaults().Validate())
	require.ErrorContains(t, Config{MaxSeries: -1}.Validate(), "prom.max_series")
	_, err := New(Config{MaxSeries: -1}, prometheus.NewRegistry())
	require.Error(t, err)

	reg := prometheus.NewRegistry()
	_, err = New(Config{}, reg)
	require.NoError(t, err)
	_, err = New(Config{}, reg)
	require.Error(t, err, "registering twice is an error, not a panic")
}
