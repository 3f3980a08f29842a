package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPowerKW(t *testing.T) {
	t.Parallel()
	tb := TurbineSpec{}.withDefaults()
	tests := []struct {
		name   string
		windMS float64
		want   float64
	}{
		{"calm", 0, 0},
		{"negative", -1, 0},
		{"NaN", math.NaN(), 0},
		{"just below cut-in", DefaultCutInMS - 1e-9, 0},
		{"cut-in", DefaultCutInMS, 0},
		{"ramp", 7.5, DefaultRatedKW * (7.5*7.5*7.5 - 27) / (1728 - 27)},
		{"just below rated", DefaultRatedMS - 1e-9, DefaultRatedKW},
		{"rated", DefaultRatedMS, DefaultRatedKW},
		{"just below cut-out", DefaultCutOutMS - 1e-9, DefaultRatedKW},
		{"cut-out", DefaultCutOutMS, 0},
		{"storm", 40, 0},
		{"infinite", math.Inf(1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, tb.PowerKW(tt.windMS), 1e-6)
		})
	}
	t.Run("monotone from cut-in to cut-out", func(t *testing.T) {
		t.Parallel()
		prev := 0.0
		for v := DefaultCutInMS; v < DefaultCutOutMS; v += 0.01 {
			p := tb.PowerKW(v)
			require.GreaterOrEqual(t, p, prev, "at %v m/s", v)
			if v > DefaultCutInMS && v < DefaultRatedMS {
				require.Greater(t, p, prev, "strictly increasing on the ramp, at %v m/s", v)
			}
			require.LessOrEqual(t, p, DefaultRatedKW)
			prev = p
		}
	})
}

func TestSiteWind(t *testing.T) {
	t.Parallel()
	spec := WindSpec{MeanMS: 8, Correlation: time.Minute}.withDefaults()
	const hours = 20
	var sum, sumSq float64
	n := 0
	w := newSiteWind(spec, 3, 0)
	prev := w.at(0)
	for tt := time.Duration(0); tt < hours*time.Hour; tt += 500 * time.Millisecond {
		v := w.at(tt)
		if v < 0 || v > spec.MaxMS {
			t.Fatalf("wind %v at %s is not in [0, %v]", v, tt, spec.MaxMS)
		}
		if d := math.Abs(v - prev); d > 4 {
			t.Fatalf("wind jumps by %v m/s in 0.5 s at %s: not temporally correlated", d, tt)
		}
		prev = v
		sum += v
		sumSq += v * v
		n++
	}
	mean := sum / float64(n)
	sd := math.Sqrt(sumSq/float64(n) - mean*mean)
	require.InDelta(t, spec.MeanMS, mean, 1, "the long-term mean is the configured one")
	// Weibull k=2 has sd = mean × 0.52; turbulence adds a little.
	require.InDelta(t, spec.MeanMS*0.52, sd, 1.5)

	// Same seed and site: the same field; another site: another one.
	a, b, c := newSiteWind(spec, 3, 0), newSiteWind(spec, 3, 0), newSiteWind(spec, 3, 1)
	same, other := true, true
	for tt := time.Duration(0); tt < time.Minute; tt += 100 * time.Millisecond {
		va, vb, vc := a.at(tt), b.at(tt), c.at(tt)
		same = same && va == vb
		other = other && va == vc
	}
	require.True(t, same)
	require.False(t, other)
}

// A turbine's published values respect the physics: power in [0, rated],
// changing at most ramp × dt between samples, wind in [0, max], and turbines
// of one site see correlated wind.
func TestTurbineModel(t *testing.T) {
	t.Parallel()
	tb := TurbineSpec{RampKWPerS: 50}.withDefaults()
	variation := 0.1
	spec := WindSpec{MeanMS: 10, Correlation: 2 * time.Minute, Turbulence: &variation}.withDefaults()
	site := newSiteWind(spec, 1, 0)
	m1, m2 := newModel(1, 0, 2), newModel(1, 1, 2)
	var prev float64
	var xs, ys []float64
	ramped := false
	for i := range 20000 {
		tt := time.Duration(i) * 250 * time.Millisecond
		v := m1.turbine(tt, site, tb, *spec.TurbineVariation, spec.MaxMS)
		p, w := v[0], v[1]
		if p < 0 || p > tb.RatedKW || w < 0 || w > spec.MaxMS || p != round1(p) || w != round1(w) {
			t.Fatalf("sample %d: power %v, wind %v out of range or not rounded", i, p, w)
		}
		if i > 0 {
			if d := math.Abs(p - prev); d > tb.RampKWPerS*0.25+1e-9 {
				t.Fatalf("sample %d: power changes by %v kW in 250 ms, more than the ramp %v kW/s allows", i, d, tb.RampKWPerS)
			} else if d > tb.RampKWPerS*0.25-1 && math.Abs(tb.PowerKW(w)-p) > 1 {
				ramped = true
			}
		}
		prev = p
		xs = append(xs, w)
		ys = append(ys, m2.turbine(tt, site, tb, *spec.TurbineVariation, spec.MaxMS)[1])
	}
	require.True(t, ramped, "the ramp limit binds sometimes")
	require.Greater(t, correlation(xs, ys), 0.8, "turbines of one site share its wind")
}

func correlation(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx, syy float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
		syy += (ys[i] - my) * (ys[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

func TestGenericModel(t *testing.T) {
	t.Parallel()
	lo, hi := 0.0, 100.0
	models := map[string]MetricModel{
		"a": {Mean: 50, SD: 30, Min: &lo, Max: &hi, Tau: 10 * time.Second, MaxRatePerS: 2, Round: 0.5},
		"b": {Mean: 10, SD: 1, Min: &lo, Max: &hi, Tau: time.Minute, Round: 0.01},
	}
	names := []string{"a", "b"}
	m := newModel(1, 0, 2)
	var prev []float64
	var sumB float64
	const n = 50000
	for i := range n {
		tt := time.Duration(i) * time.Second
		v := m.generic(tt, names, models)
		// Plain ifs: require in this loop would dominate the test.
		if v[0] < lo || v[0] > hi || v[1] < lo || v[1] > hi {
			t.Fatalf("sample %d: %v out of range", i, v)
		}
		if v[0] != math.Round(v[0]*2)/2 || v[1] != quantize(v[1], 0.01) {
			t.Fatalf("sample %d: %v not rounded to 0.5 and 0.01", i, v)
		}
		if prev != nil && math.Abs(v[0]-prev[0]) > 2 {
			t.Fatalf("sample %d: %v changes by more than the ramp limit from %v", i, v, prev)
		}
		prev = append(prev[:0], v...)
		sumB += v[1]
	}
	require.InDelta(t, 10, sumB/n, 0.2)
}

func TestQuantize(t *testing.T) {
	t.Parallel()
	require.Equal(t, "60.07", num(quantize(60.0700001, 0.01)))
	require.Equal(t, "1523.4", num(quantize(1523.44, 0.1)))
	require.Equal(t, "2.5", num(quantize(2.6, 0.5)))
	require.Equal(t, "3", num(quantize(3.2, 1)))
	for range 1000 {
		x := rand.Float64() * 1000
		require.LessOrEqual(t, len(num(quantize(x, 0.01))), len("1000.00"))
	}
}
