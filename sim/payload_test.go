package sim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAppendTelemetry(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 22, 11, 0, 0, 123_987_654, time.FixedZone("CET", 3600))
	names := []string{MetricPower, MetricWind}
	got := appendTelemetry(nil, "", 1234, 3, ts, names, []float64{1523.4, 11.2})
	require.JSONEq(t, `{"seq":1234,"boot":3,"ts":"2026-11-22T10:00:00.123Z","metrics":{"power_kw":1523.4,"wind_ms":11.2}}`, string(got))
	got = appendTelemetry(nil, "wt-07", 1, 1, ts.Truncate(time.Second), names, []float64{3000, 13})
	require.JSONEq(t, `{"device":"wt-07","seq":1,"boot":1,"ts":"2026-11-22T10:00:00.000Z","metrics":{"power_kw":3000,"wind_ms":13}}`, string(got))
}

func TestAppendTS(t *testing.T) {
	t.Parallel()
	for _, ts := range []time.Time{
		time.Date(2026, 11, 22, 10, 0, 0, 123_987_654, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("x", -7200)),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1_800_000_000, 5_000_000),
	} {
		require.Equal(t, ts.UTC().Format(tsLayout), string(appendTS(nil, ts)))
	}
}

func TestMalformedAndOversize(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	valid := appendTelemetry(nil, "", 7, 1, ts, []string{"x"}, []float64{1.5})
	seen := map[string]bool{}
	for v := range numMalformed {
		b := malformed(v, valid, 7, 1, ts)
		var m struct {
			Metrics map[string]float64 `json:"metrics"`
		}
		err := json.Unmarshal(b, &m)
		require.True(t, err != nil || m.Metrics == nil, "variant %d is not valid telemetry: %s", v, b)
		seen[string(b)] = true
	}
	require.Len(t, seen, numMalformed, "the variants differ")
	require.Equal(t, string(malformed(0, valid, 7, 1, ts)), string(malformed(numMalformed, valid, 7, 1, ts)))

	for _, size := range []int{1, len(valid), 4097, 8192, 100_000} {
		b := oversize(valid, size)
		require.True(t, json.Valid(b), "size %d: %s", size, b)
		require.Len(t, b, max(size, len(valid)+len(`,"pad":""`)), "size %d", size)
	}
}
