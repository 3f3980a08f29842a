package sim

import (
	"math"
	"math/rand/v2"
)

// The wind model. Every site's wind speed is an AR(1) process around
// windMeanMS, advanced once per reporting round; each turbine sees its site's
// wind plus independent noise. Speeds are clamped to [0, windMaxMS].
const (
	windMeanMS     = 9.0
	windMaxMS      = 30.0
	windPhi        = 0.95 // AR(1) coefficient per round
	windSigmaMS    = 0.5  // AR(1) innovation standard deviation
	turbineSigmaMS = 0.3  // per-turbine noise standard deviation

	// pcgStream is the second PCG seed word ("rollcall"), fixed so that
	// Config.Seed alone picks the sequence.
	pcgStream = 0x726f6c6c63616c6c
)

// sample is one device's reading in one round, rounded to 0.1 as published.
// PowerKW is the power curve at the rounded WindMS, so a reading is
// consistent with itself.
type sample struct {
	WindMS  float64
	PowerKW float64
}

// generator produces the fleet's readings round by round. Its output depends
// only on the seed and the fleet layout, never on time, the broker or faults:
// a silent device's values are still drawn. It is not safe for concurrent use.
type generator struct {
	rng      *rand.Rand
	perSite  int
	siteWind []float64 // AR(1) state of each site, m/s
	out      []sample  // returned by next, reused
}

func newGenerator(seed int64, sites, perSite int) *generator {
	g := &generator{
		rng:      rand.New(rand.NewPCG(uint64(seed), pcgStream)),
		perSite:  perSite,
		siteWind: make([]float64, sites),
		out:      make([]sample, sites*perSite),
	}
	// Start each site in the AR(1) process's stationary distribution.
	sd := windSigmaMS / math.Sqrt(1-windPhi*windPhi)
	for s := range g.siteWind {
		g.siteWind[s] = clampWind(windMeanMS + sd*g.rng.NormFloat64())
	}
	return g
}

// next advances one round and returns every device's sample in fleet order.
// The slice is overwritten by the following call.
func (g *generator) next() []sample {
	for s, w := range g.siteWind {
		g.siteWind[s] = clampWind(windMeanMS + windPhi*(w-windMeanMS) + windSigmaMS*g.rng.NormFloat64())
	}
	for d := range g.out {
		w := round1(clampWind(g.siteWind[d/g.perSite] + turbineSigmaMS*g.rng.NormFloat64()))
		g.out[d] = sample{WindMS: w, PowerKW: round1(PowerKW(w))}
	}
	return g.out
}

func clampWind(ms float64) float64 { return min(max(ms, 0), windMaxMS) }

// round1 rounds x to one decimal.
func round1(x float64) float64 { return math.Round(x*10) / 10 }
