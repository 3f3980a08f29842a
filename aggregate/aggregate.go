package aggregate

import (
	"math"
	"strconv"
	"time"
)

// Quality is an aggregate's quality in OPC UA / Sparkplug terms.
type Quality string

// Qualities.
const (
	// QualityGood: every expected device reported, nothing imputed, final.
	QualityGood Quality = "good"
	// QualityUncertain: partial coverage, imputation, or provisional.
	QualityUncertain Quality = "uncertain"
	// QualityBad: coverage below Config.MinCoverage.
	QualityBad Quality = "bad"
)

// Aggregate is one group's statistics of one metric over one window, with
// what is known about what is missing. Its JSON form is the API resource of
// DESIGN.md § Interfaces.
type Aggregate struct {
	Group     string    `json:"group"`
	Metric    string    `json:"metric"`
	Window    Window    `json:"window"`
	Stats     Stats     `json:"stats"`
	Coverage  Coverage  `json:"coverage"`
	Staleness Staleness `json:"staleness"`
	Quality   Quality   `json:"quality"`
	Counts    Counts    `json:"counts"`
	Flags     []string  `json:"flags"`
	// Revision is 0 for the first (provisional) emission and +1 for every
	// later one; the last revision has Final set.
	Revision  int       `json:"revision"`
	Final     bool      `json:"final"`
	EmittedAt time.Time `json:"emitted_at"`
}

// Window is an event-time window, [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Stats are the group statistics of the device-level values.
type Stats struct {
	Sum   Stat      `json:"sum"`
	Mean  Stat      `json:"mean"`
	Min   Stat      `json:"min"`
	Max   Stat      `json:"max"`
	Count CountStat `json:"count"`
}

// Stat is one group statistic: Reported over the devices that reported,
// Value the estimate including imputed values for missing devices, and
// [Lower, Upper] the bounds on the true value over every expected device.
type Stat struct {
	Value    Num `json:"value"`
	Lower    Num `json:"lower"`
	Upper    Num `json:"upper"`
	Reported Num `json:"reported"`
}

// CountStat is the number of devices that reported.
type CountStat struct {
	Value int `json:"value"`
}

// Coverage says how much of the group the aggregate saw.
type Coverage struct {
	Expected int `json:"expected"`
	Reported int `json:"reported"`
	// Partial counts the reporting devices that delivered only part of
	// the samples their rhythm puts in the window (stopped, or the rest is
	// still in transit): their values are bounded, not exact.
	Partial int       `json:"partial"`
	Ratio   float64   `json:"ratio"`
	Missing []Missing `json:"missing"`
	// MissingUnlisted counts missing devices left out of Missing because of
	// Config.MaxMissingListed.
	MissingUnlisted int `json:"missing_unlisted,omitempty"`
}

// Missing is an expected device that did not report in the window.
type Missing struct {
	Device   string     `json:"device"`
	State    string     `json:"state"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	AgeS     *float64   `json:"age_s,omitempty"`
}

// Staleness says how old the aggregate's inputs are.
type Staleness struct {
	// MaxAgeS is the age at emission of the oldest input: emitted_at minus the
	// earliest "newest sample" among the reporting devices. Null when no
	// device reported.
	MaxAgeS   Num       `json:"max_age_s"`
	Watermark time.Time `json:"watermark"`
}

// Counts are per-window message counts of the group's devices for this
// metric: accepted samples, and duplicates, replays and late readings that
// claimed the window.
type Counts struct {
	Samples    uint64 `json:"samples"`
	Duplicates uint64 `json:"duplicates"`
	Replays    uint64 `json:"replays"`
	Late       uint64 `json:"late"`
}

// Num is a float64 that encodes NaN and ±Inf (unknown, unbounded) as JSON
// null and decodes null as NaN.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Known reports whether n is a finite number.
func (n Num) Known() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }
