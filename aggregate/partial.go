package aggregate

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Partial is the mergeable summary of one group, metric and window over a
// subset of the group's devices (one shard's, or one gateway's). Merging the
// partials of disjoint device subsets gives the partial of their union, in
// any order and grouping (Merge is commutative and associative up to
// floating-point rounding of the sums).
type Partial struct {
	Group, Metric string
	Start, End    int64 // window, Unix ns

	Summary

	// Missing lists missing devices sorted by id, at most the merge limit;
	// Summary.MissingUnlisted counts the rest.
	Missing []MissingDevice
	// Flags are sorted, unique flags such as "replaying:wt-12", at most the
	// merge limit.
	Flags []string
}

// FlagReplaying prefixes the flag of a device that dedup flagged as
// replaying old messages.
const FlagReplaying = "replaying:"

// AddFlag adds flag f, keeping the smallest limit flags (all when
// limit <= 0), so the result does not depend on the order of the calls.
func (p *Partial) AddFlag(f string, limit int) {
	i, found := slices.BinarySearch(p.Flags, f)
	if found || (limit > 0 && i >= limit) {
		return
	}
	p.Flags = slices.Insert(p.Flags, i, f)
	if limit > 0 && len(p.Flags) > limit {
		p.Flags = p.Flags[:limit]
	}
}

// Summary is the comparable, numeric part of a Partial.
type Summary struct {
	Expected int // expected devices
	Reported int // expected devices with a value for the metric
	Imputed  int // missing devices with an imputed value

	// Partial counts the reporting devices that delivered only part of
	// their samples in the window: their value is bounded, not exact.
	Partial int

	// Sum, Min and Max are over the reporting devices' values.
	Sum, Min, Max float64
	// RepLoSum and RepHiSum are the sums of the reporting devices' lower and
	// upper bounds (both their value when it is exact); RepLoMin/RepHiMin the
	// minimum of them, RepLoMax/RepHiMax the maximum.
	RepLoSum, RepHiSum float64
	RepLoMin, RepHiMin float64
	RepLoMax, RepHiMax float64
	// ImpSum, ImpMin and ImpMax are over the imputed values.
	ImpSum, ImpMin, ImpMax float64
	// LoSum and HiSum are the sums of the missing devices' lower and upper
	// bounds; LoMin/HiMin the minimum of their lower/upper bounds; LoMax/HiMax
	// the maximum.
	LoSum, HiSum float64
	LoMin, HiMin float64
	LoMax, HiMax float64

	// MissingUnlisted counts missing devices not in Partial.Missing.
	MissingUnlisted int

	Samples, Duplicates, Replays, Late uint64

	// OldestNewest is the earliest among the reporting devices' newest sample
	// times (Unix ns); math.MaxInt64 when none reported.
	OldestNewest int64
}

// MissingDevice is an expected device without a value in the window.
type MissingDevice struct {
	Device   string
	State    string
	LastSeen int64 // receive time, Unix ns; 0 if never seen
}

// NewPartial returns the empty partial (the identity of Merge).
func NewPartial(group, metric string, start, end int64) Partial {
	inf, ninf := math.Inf(1), math.Inf(-1)
	return Partial{
		Group: group, Metric: metric, Start: start, End: end,
		Summary: Summary{
			Min: inf, Max: ninf, ImpMin: inf, ImpMax: ninf,
			RepLoMin: inf, RepHiMin: inf, RepLoMax: ninf, RepHiMax: ninf,
			LoMin: inf, HiMin: inf, LoMax: ninf, HiMax: ninf,
			OldestNewest: math.MaxInt64,
		},
	}
}

// AddReported adds a reporting device's value v, the bounds [lo, hi] of
// its true value (lo = hi = v when it delivered every sample), whether it
// is short of samples, its sample count and the event time of its newest
// sample.
func (p *Partial) AddReported(v, lo, hi float64, short bool, samples uint64, newest int64) {
	p.Expected++
	p.Reported++
	if short {
		p.Partial++
	}
	p.Sum += v
	p.Min = math.Min(p.Min, v)
	p.Max = math.Max(p.Max, v)
	p.RepLoSum += lo
	p.RepHiSum += hi
	p.RepLoMin = math.Min(p.RepLoMin, lo)
	p.RepHiMin = math.Min(p.RepHiMin, hi)
	p.RepLoMax = math.Max(p.RepLoMax, lo)
	p.RepHiMax = math.Max(p.RepHiMax, hi)
	p.Samples += samples
	p.OldestNewest = min(p.OldestNewest, newest)
}

// AddMissing adds an expected device that did not report: the bounds
// [lo, hi] its true value lies in and, when imputed, the estimate. Devices
// must be added in ascending id order; past maxListed (if > 0) they are only
// counted.
func (p *Partial) AddMissing(d MissingDevice, lo, hi float64, imputed float64, hasImputed bool, maxListed int) {
	p.Expected++
	p.LoSum += lo
	p.HiSum += hi
	p.LoMin = math.Min(p.LoMin, lo)
	p.HiMin = math.Min(p.HiMin, hi)
	p.LoMax = math.Max(p.LoMax, lo)
	p.HiMax = math.Max(p.HiMax, hi)
	if hasImputed {
		p.Imputed++
		p.ImpSum += imputed
		p.ImpMin = math.Min(p.ImpMin, imputed)
		p.ImpMax = math.Max(p.ImpMax, imputed)
	}
	if maxListed > 0 && len(p.Missing) >= maxListed {
		p.MissingUnlisted++
		return
	}
	p.Missing = append(p.Missing, d)
}

// Merge adds o (a partial of a disjoint set of devices of the same group,
// metric and window) into p, keeping at most maxListed missing devices.
func (p *Partial) Merge(o *Partial, maxListed int) {
	p.Expected += o.Expected
	p.Reported += o.Reported
	p.Imputed += o.Imputed
	p.Partial += o.Partial
	p.Sum += o.Sum
	p.Min = math.Min(p.Min, o.Min)
	p.Max = math.Max(p.Max, o.Max)
	p.RepLoSum += o.RepLoSum
	p.RepHiSum += o.RepHiSum
	p.RepLoMin = math.Min(p.RepLoMin, o.RepLoMin)
	p.RepHiMin = math.Min(p.RepHiMin, o.RepHiMin)
	p.RepLoMax = math.Max(p.RepLoMax, o.RepLoMax)
	p.RepHiMax = math.Max(p.RepHiMax, o.RepHiMax)
	p.ImpSum += o.ImpSum
	p.ImpMin = math.Min(p.ImpMin, o.ImpMin)
	p.ImpMax = math.Max(p.ImpMax, o.ImpMax)
	p.LoSum += o.LoSum
	p.HiSum += o.HiSum
	p.LoMin = math.Min(p.LoMin, o.LoMin)
	p.HiMin = math.Min(p.HiMin, o.HiMin)
	p.LoMax = math.Max(p.LoMax, o.LoMax)
	p.HiMax = math.Max(p.HiMax, o.HiMax)
	p.Samples += o.Samples
	p.Duplicates += o.Duplicates
	p.Replays += o.Replays
	p.Late += o.Late
	p.OldestNewest = min(p.OldestNewest, o.OldestNewest)
	p.Missing = append(p.Missing, o.Missing...)
	p.MissingUnlisted += o.MissingUnlisted
	p.SortMissing(maxListed)
	flags := slices.Concat(p.Flags, o.Flags)
	slices.Sort(flags)
	flags = slices.Compact(flags)
	if maxListed > 0 && len(flags) > maxListed {
		flags = flags[:maxListed:maxListed]
	}
	p.Flags = flags
}

// SortMissing sorts the missing list by device and keeps the first
// maxListed (all when maxListed <= 0), counting the rest in MissingUnlisted.
// Keeping the smallest ids makes truncation independent of merge order.
func (p *Partial) SortMissing(maxListed int) {
	slices.SortFunc(p.Missing, func(a, b MissingDevice) int { return strings.Compare(a.Device, b.Device) })
	if maxListed > 0 && len(p.Missing) > maxListed {
		p.MissingUnlisted += len(p.Missing) - maxListed
		p.Missing = p.Missing[:maxListed:maxListed]
	}
}

// Equal reports whether p and o summarise the same data.
func (p *Partial) Equal(o *Partial) bool {
	return p.Group == o.Group && p.Metric == o.Metric && p.Start == o.Start && p.End == o.End &&
		p.Summary == o.Summary && slices.Equal(p.Missing, o.Missing) && slices.Equal(p.Flags, o.Flags)
}

// Finish turns a merged partial into the Aggregate resource.
func (p *Partial) Finish(f FinishInfo) Aggregate {
	nan := math.NaN()
	div := func(a float64, n int) float64 {
		if n == 0 {
			return nan
		}
		return a / float64(n)
	}
	orNaN := func(v float64) float64 {
		if math.IsInf(v, 0) {
			return nan
		}
		return v
	}
	// A sum over no values is unknown, not zero: a missing device is never
	// silently a zero.
	sum := func(a float64, n int) float64 {
		if n == 0 {
			return nan
		}
		return a
	}
	a := Aggregate{
		Group:  p.Group,
		Metric: p.Metric,
		Window: Window{Start: time.Unix(0, p.Start).UTC(), End: time.Unix(0, p.End).UTC()},
		Stats: Stats{
			Sum: Stat{
				Value:    Num(sum(p.Sum+p.ImpSum, p.Reported+p.Imputed)),
				Lower:    Num(p.RepLoSum + p.LoSum),
				Upper:    Num(p.RepHiSum + p.HiSum),
				Reported: Num(sum(p.Sum, p.Reported)),
			},
			Mean: Stat{
				Value:    Num(div(p.Sum+p.ImpSum, p.Reported+p.Imputed)),
				Lower:    Num(div(p.RepLoSum+p.LoSum, p.Expected)),
				Upper:    Num(div(p.RepHiSum+p.HiSum, p.Expected)),
				Reported: Num(div(p.Sum, p.Reported)),
			},
			Min: Stat{
				Value:    Num(orNaN(math.Min(p.Min, p.ImpMin))),
				Lower:    Num(orNaN(math.Min(p.RepLoMin, p.LoMin))),
				Upper:    Num(orNaN(math.Min(p.RepHiMin, p.HiMin))),
				Reported: Num(orNaN(p.Min)),
			},
			Max: Stat{
				Value:    Num(orNaN(math.Max(p.Max, p.ImpMax))),
				Lower:    Num(orNaN(math.Max(p.RepLoMax, p.LoMax))),
				Upper:    Num(orNaN(math.Max(p.RepHiMax, p.HiMax))),
				Reported: Num(orNaN(p.Max)),
			},
			Count: CountStat{Value: p.Reported},
		},
		Coverage: Coverage{
			Expected:        p.Expected,
			Reported:        p.Reported,
			Partial:         p.Partial,
			Missing:         make([]Missing, 0, len(p.Missing)),
			MissingUnlisted: p.MissingUnlisted,
		},
		Staleness: Staleness{MaxAgeS: Num(nan), Watermark: time.Unix(0, f.Watermark).UTC()},
		Counts:    Counts{Samples: p.Samples, Duplicates: p.Duplicates, Replays: p.Replays, Late: p.Late},
		Flags:     append([]string{}, p.Flags...),
		Revision:  f.Revision,
		Final:     f.Final,
		EmittedAt: f.EmittedAt.UTC(),
	}
	if p.Expected > 0 {
		a.Coverage.Ratio = float64(p.Reported) / float64(p.Expected)
	}
	if p.Reported > 0 {
		a.Staleness.MaxAgeS = Num(max(0, f.EmittedAt.Sub(time.Unix(0, p.OldestNewest)).Seconds()))
	}
	for _, m := range p.Missing {
		out := Missing{Device: m.Device, State: m.State}
		if m.LastSeen != 0 {
			ls := time.Unix(0, m.LastSeen).UTC()
			age := max(0, f.EmittedAt.Sub(ls).Seconds())
			out.LastSeen, out.AgeS = &ls, &age
		}
		a.Coverage.Missing = append(a.Coverage.Missing, out)
	}
	switch {
	case p.Expected == 0 || a.Coverage.Ratio < f.MinCoverage:
		a.Quality = QualityBad
	case p.Reported == p.Expected && p.Partial == 0 && p.Imputed == 0 && f.Final:
		a.Quality = QualityGood
	default:
		a.Quality = QualityUncertain
	}
	return a
}

// FinishInfo is what Finish needs besides the partial.
type FinishInfo struct {
	Watermark   int64 // group watermark at emission, Unix ns
	EmittedAt   time.Time
	Revision    int
	Final       bool
	MinCoverage float64
}
