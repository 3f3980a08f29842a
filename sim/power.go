package sim

// The simulated turbine's power curve.
const (
	// CutInMS is the wind speed, in m/s, below which a turbine produces nothing.
	CutInMS = 3.0
	// RatedMS is the wind speed, in m/s, from which a turbine produces RatedKW.
	RatedMS = 12.0
	// CutOutMS is the wind speed, in m/s, from which a turbine shuts down to
	// protect itself and produces nothing.
	CutOutMS = 25.0
	// RatedKW is a turbine's rated (maximum) power in kW.
	RatedKW = 3000.0
)

// PowerKW returns a turbine's power in kW at wind speed windMS in m/s: 0 below
// CutInMS, a cubic ramp from 0 at CutInMS to RatedKW at RatedMS, RatedKW up
// to CutOutMS and 0 from CutOutMS on. It is 0 for NaN.
func PowerKW(windMS float64) float64 {
	switch {
	case !(windMS >= CutInMS) || windMS >= CutOutMS: // !(>=) also catches NaN
		return 0
	case windMS >= RatedMS:
		return RatedKW
	}
	const cutIn3, rated3 = CutInMS * CutInMS * CutInMS, RatedMS * RatedMS * RatedMS
	return RatedKW * (windMS*windMS*windMS - cutIn3) / (rated3 - cutIn3)
}
