package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// The physical model. Every value is a function of the scenario, the seed and
// the simulated time since the start; nothing depends on the wall clock, the
// broker or (except a burst's extra samples) the faults. See docs/simulator.md,
// "The model".

const (
	// windStep is the resolution of a site's wind field; between grid points
	// it is interpolated linearly.
	windStep = time.Second
	// gustTime is the correlation time of a site's turbulence (gusts).
	gustTime = 20 * time.Second
	// turbineTurbulenceTime is the correlation time of a turbine's own
	// deviation from its site's wind.
	turbineTurbulenceTime = 5 * time.Second
)

// Random streams: each site, device and fault pick draws from its own PCG
// stream, seeded with the scenario's seed, so that adding a device or a fault
// does not change the values of the others.
const (
	streamSite        = 1 << 60
	streamDevice      = 2 << 60
	streamDeviceFault = 3 << 60
	streamFault       = 4 << 60
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// siteWind is a site's wind field on a grid of windStep: a slow mean speed
// M(k), the Weibull quantile of a unit Ornstein-Uhlenbeck process with the
// scenario's correlation time, times (1 + turbulence × a fast unit OU process
// with gustTime), clamped to [0, MaxMS]. It is read at non-decreasing times
// only (the fleet's events run in time order), so it keeps two grid points.
type siteWind struct {
	spec             WindSpec
	rng              *rand.Rand
	scale            float64 // Weibull scale λ, so that the mean is spec.MeanMS
	phiSlow, phiFast float64
	slow, fast       float64 // OU states at grid point k+1
	k                int64   // w0 is the speed at k×windStep, w1 at (k+1)×windStep
	w0, w1           float64
}

func newSiteWind(spec WindSpec, seed int64, site int) *siteWind {
	w := &siteWind{
		spec:    spec,
		rng:     newRand(seed, streamSite^uint64(site)),
		scale:   spec.MeanMS / math.Gamma(1+1/spec.WeibullK),
		phiSlow: math.Exp(-float64(windStep) / float64(spec.Correlation)),
		phiFast: math.Exp(-float64(windStep) / float64(gustTime)),
	}
	// Start both processes in their stationary distributions.
	w.slow, w.fast = w.rng.NormFloat64(), w.rng.NormFloat64()
	w.w0 = w.speed()
	w.step()
	return w
}

// step advances the OU processes by one grid point and returns the new speed.
func (w *siteWind) step() {
	w.slow = w.phiSlow*w.slow + math.Sqrt(1-w.phiSlow*w.phiSlow)*w.rng.NormFloat64()
	w.fast = w.phiFast*w.fast + math.Sqrt(1-w.phiFast*w.phiFast)*w.rng.NormFloat64()
	w.w1 = w.speed()
}

// speed is the wind at the current OU states.
func (w *siteWind) speed() float64 {
	u := 0.5 * math.Erfc(-w.slow/math.Sqrt2) // Φ(slow), uniform on (0, 1)
	mean := w.scale * math.Pow(-math.Log1p(-min(u, 1-1e-12)), 1/w.spec.WeibullK)
	return clamp(min(mean, w.spec.MaxMS)*(1+*w.spec.Turbulence*w.fast), 0, w.spec.MaxMS)
}

// at returns the site's wind at t since the start. t must not decrease
// between calls.
func (w *siteWind) at(t time.Duration) float64 {
	k := int64(t / windStep)
	for w.k < k {
		w.k++
		w.w0 = w.w1
		w.step()
	}
	frac := float64(t-time.Duration(k)*windStep) / float64(windStep)
	return w.w0 + (w.w1-w.w0)*frac
}

// PowerKW returns the power in kW of a turbine with curve t at wind speed
// windMS in m/s, ignoring the ramp limit: 0 below CutInMS, a cubic ramp from
// 0 at CutInMS to RatedKW at RatedMS, RatedKW up to CutOutMS and 0 from
// CutOutMS on. It is 0 for NaN.
func (t TurbineSpec) PowerKW(windMS float64) float64 {
	switch {
	case !(windMS >= t.CutInMS) || windMS >= t.CutOutMS: // !(>=) also catches NaN
		return 0
	case windMS >= t.RatedMS:
		return t.RatedKW
	}
	in3, rated3 := t.CutInMS*t.CutInMS*t.CutInMS, t.RatedMS*t.RatedMS*t.RatedMS
	return t.RatedKW * (windMS*windMS*windMS - in3) / (rated3 - in3)
}

// model is one device's physics. It is read at non-decreasing times.
type model struct {
	rng     *rand.Rand
	started bool
	last    time.Duration // time of the previous sample
	vals    []float64     // the previous sample's published values, in Group.Metrics order

	// turbines
	gain float64 // fixed deviation from the site's wind (terrain, wakes)
	turb float64 // unit OU state of the turbine's own turbulence

	// generic devices: unit OU state per metric
	x []float64

	meter meter // turbines with energy_kwh
}

// meter is a turbine's energy meter: the integral of its power, linear
// between samples, in kWh. It counts from 0 at the first sample and again
// from each reset (a reboot), which takes effect at the next sample.
type meter struct {
	total   float64       // kWh since the first sample: the true energy
	base    float64       // total at the last reset
	resetAt time.Duration // pending reset time, valid when reset
	reset   bool
	resets  int
}

// energyBetween returns the energy in kWh from t0 over tau of a sample
// interval [t0, t0+dt] in which power goes linearly from p0 to p1 kW.
func energyBetween(p0, p1 float64, tau, dt time.Duration) float64 {
	if dt <= 0 {
		return 0
	}
	s, d := tau.Seconds(), dt.Seconds()
	return (p0*s + (p1-p0)*s*s/(2*d)) / 3600
}

// advance integrates power from p0 to p1 over the sample interval dt that
// ends now, applying a pending reset inside it, and returns the meter's
// reading.
func (e *meter) advance(p0, p1 float64, dt, now time.Duration) float64 {
	if e.reset && e.resetAt <= now {
		tau := min(max(e.resetAt-(now-dt), 0), dt)
		e.base = e.total + energyBetween(p0, p1, tau, dt)
		e.reset = false
		e.resets++
	}
	e.total += energyBetween(p0, p1, dt, dt)
	return max(e.total-e.base, 0)
}

// Reset makes the meter count from 0 from t on (t not before the last
// sample).
func (e *meter) Reset(t time.Duration) { e.resetAt, e.reset = t, true }

func newModel(seed int64, device, nMetrics int) *model {
	m := &model{rng: newRand(seed, streamDevice^uint64(device)), vals: make([]float64, nMetrics)}
	m.gain = m.rng.NormFloat64()
	m.turb = m.rng.NormFloat64()
	m.x = make([]float64, nMetrics)
	for i := range m.x {
		m.x[i] = m.rng.NormFloat64()
	}
	return m
}

// ou advances a unit OU state x over dt with correlation time tau (the exact
// discretisation, so irregular sampling keeps the same statistics).
func (m *model) ou(x float64, dt, tau time.Duration) float64 {
	phi := math.Exp(-float64(dt) / float64(tau))
	return phi*x + math.Sqrt(1-phi*phi)*m.rng.NormFloat64()
}

// turbine computes a turbine's sample at t from its site's wind: wind_ms is
// the site's speed × (1 + variation × (gain + turbulence)), power_kw follows
// the power curve but changes at most RampKWPerS × dt. Both are rounded to
// 0.1; the ramp limit holds for the rounded values. It returns m.vals:
// [power_kw, wind_ms], or with the energy meter (m.vals of three)
// [energy_kwh, power_kw, wind_ms], energy_kwh the meter's reading
// (unrounded).
func (m *model) turbine(t time.Duration, site *siteWind, tb TurbineSpec, variation, maxMS float64) []float64 {
	dt := t - m.last
	if m.started && dt > 0 {
		m.turb = m.ou(m.turb, dt, turbineTurbulenceTime)
	}
	wind := round1(clamp(site.at(t)*(1+variation*(m.gain+m.turb)), 0, maxMS))
	power := tb.PowerKW(wind)
	pw := len(m.vals) - 2 // index of power_kw: after energy_kwh when metered
	prev := m.vals[pw]
	if m.started {
		power = rampLimit(power, prev, tb.RampKWPerS, dt, defaultTurbineValuesRound)
	}
	m.vals[pw] = clamp(round1(power), 0, tb.RatedKW)
	m.vals[pw+1] = wind
	if pw == 1 {
		if !m.started {
			prev, dt = m.vals[pw], 0
		}
		m.vals[0] = m.meter.advance(prev, m.vals[pw], dt, t)
	}
	m.started, m.last = true, t
	return m.vals
}

// generic computes a generic device's sample at t: each metric is an OU
// process around its mean, clamped, ramp-limited and rounded. It returns
// m.vals, in the order of names.
func (m *model) generic(t time.Duration, names []string, models map[string]MetricModel) []float64 {
	dt := t - m.last
	for i, name := range names {
		mm := models[name]
		if m.started && dt > 0 {
			m.x[i] = m.ou(m.x[i], dt, mm.Tau)
		}
		v := clamp(mm.Mean+mm.SD*m.x[i], *mm.Min, *mm.Max)
		if m.started && mm.MaxRatePerS > 0 {
			v = rampLimit(v, m.vals[i], mm.MaxRatePerS, dt, mm.Round)
		}
		m.vals[i] = clamp(quantize(v, mm.Round), *mm.Min, *mm.Max)
	}
	m.started, m.last = true, t
	return m.vals
}

// rampLimit moves from prev towards target by at most rate × dt, less the
// rounding step, so that the rounded values keep to the rate too.
func rampLimit(target, prev, rate float64, dt time.Duration, round float64) float64 {
	step := max(rate*dt.Seconds()-round, 0)
	return clamp(target, prev-step, prev+step)
}

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }

// round1 rounds x to one decimal.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// quantize rounds x to a multiple of r. For r a power of ten (0.01) it
// divides by the exact inverse, so that the result prints as a short decimal.
func quantize(x, r float64) float64 {
	if d := -math.Log10(r); d >= 0 && d <= 15 && math.Abs(d-math.Round(d)) < 1e-9 {
		p := math.Pow(10, math.Round(d))
		return math.Round(x*p) / p
	}
	return math.Round(x/r) * r
}
