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

// Summary is the comparable, numeric part of a Partial: a few typed
// spans, each with its own merge, so that merging summaries is merging
// their parts.
type Summary struct {
	Devices
	// Counts are the window's samples and the duplicates, replays and late
	// readings left out of it.
	Counts

	// Values spans the reporting devices' values; ReportedBounds the lower
	// and upper bounds of their true values (both their value when it is
	// exact).
	Values         Span
	ReportedBounds Bounds
	// ImputedValues spans the values imputed for missing devices;
	// MissingBounds the bounds of the missing devices' true values.
	ImputedValues Span
	MissingBounds Bounds

	// MissingUnlisted counts missing devices not in Partial.Missing.
	MissingUnlisted int

	// OldestNewest is the earliest among the reporting devices' newest sample
	// times (Unix ns); math.MaxInt64 when none reported.
	OldestNewest int64
}

// emptySummary is the summary of no device (the identity of merge).
func emptySummary() Summary {
	return Summary{
		Values: emptySpan(), ReportedBounds: emptyBounds(),
		ImputedValues: emptySpan(), MissingBounds: emptyBounds(),
		OldestNewest: math.MaxInt64,
	}
}

// merge adds o, a summary of other devices, into s.
func (s *Summary) merge(o *Summary) {
	s.Devices.merge(o.Devices)
	s.Counts.merge(o.Counts)
	s.Values.merge(o.Values)
	s.ReportedBounds.merge(o.ReportedBounds)
	s.ImputedValues.merge(o.ImputedValues)
	s.MissingBounds.merge(o.MissingBounds)
	s.MissingUnlisted += o.MissingUnlisted
	s.OldestNewest = min(s.OldestNewest, o.OldestNewest)
}

// Devices counts the devices of a summary.
type Devices struct {
	Expected int // expected devices
	Reported int // expected devices with a value for the metric
	Imputed  int // missing devices with an imputed value

	// Partial counts the reporting devices that delivered only part of
	// their samples in the window: their value is bounded, not exact.
	Partial int
}

func (d *Devices) merge(o Devices) {
	d.Expected += o.Expected
	d.Reported += o.Reported
	d.Imputed += o.Imputed
	d.Partial += o.Partial
}

func (c *Counts) merge(o Counts) {
	c.Samples += o.Samples
	c.Duplicates += o.Duplicates
	c.Replays += o.Replays
	c.Late += o.Late
}

// Span is the sum, minimum and maximum of a set of values. The span of no
// value has sum 0, minimum +Inf and maximum -Inf.
type Span struct {
	Sum, Min, Max float64
}

func emptySpan() Span { return Span{Min: math.Inf(1), Max: math.Inf(-1)} }

func (s *Span) add(v float64) {
	s.Sum += v
	s.Min = math.Min(s.Min, v)
	s.Max = math.Max(s.Max, v)
}

func (s *Span) merge(o Span) {
	s.Sum += o.Sum
	s.Min = math.Min(s.Min, o.Min)
	s.Max = math.Max(s.Max, o.Max)
}

// Bounds are the spans of the lower and of the upper bounds of a set of
// devices' true values.
type Bounds struct {
	Lo, Hi Span
}

func emptyBounds() Bounds { return Bounds{Lo: emptySpan(), Hi: emptySpan()} }

func (b *Bounds) add(lo, hi float64) {
	b.Lo.add(lo)
	b.Hi.add(hi)
}

func (b *Bounds) merge(o Bounds) {
	b.Lo.merge(o.Lo)
	b.Hi.merge(o.Hi)
}

// MissingDevice is an expected device without a value in the window.
type MissingDevice struct {
	Device   string
	State    string
	LastSeen int64 // receive time, Unix ns; 0 if never seen
}

// NewPartial returns the empty partial (the identity of Merge).
func NewPartial(group, metric string, start, end int64) Partial {
	return Partial{Group: group, Metric: metric, Start: start, End: end, Summary: emptySummary()}
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
	p.Values.add(v)
	p.ReportedBounds.add(lo, hi)
	p.Samples += samples
	p.OldestNewest = min(p.OldestNewest, newest)
}

// AddMissing adds an expected device that did not report: the bounds
// [lo, hi] its true value lies in and, when imputed, the estimate. Devices
// must be added in ascending id order; past maxListed (if > 0) they are only
// counted.
func (p *Partial) AddMissing(d MissingDevice, lo, hi float64, imputed float64, hasImputed bool, maxListed int) {
	p.Expected++
	p.MissingBounds.add(lo, hi)
	if hasImputed {
		p.Imputed++
		p.ImputedValues.add(imputed)
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
	p.Summary.merge(&o.Summary)
	p.Missing = append(p.Missing, o.Missing...)
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
	a := Aggregate{
		Group:  p.Group,
		Metric: p.Metric,
		Window: Window{Start: time.Unix(0, p.Start).UTC(), End: time.Unix(0, p.End).UTC()},
		Stats:  p.stats(),
		Coverage: Coverage{
			Expected:        p.Expected,
			Reported:        p.Reported,
			Partial:         p.Partial,
			Missing:         make([]Missing, 0, len(p.Missing)),
			MissingUnlisted: p.MissingUnlisted,
		},
		Staleness: Staleness{MaxAgeS: Num(nan), Watermark: time.Unix(0, f.Watermark).UTC()},
		Counts:    p.Counts,
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

// stats are the statistics of s: over the reporting devices' values plus
// the imputed ones (Value), over the reporting devices' values alone
// (Reported), and the bounds of the true statistic given what is missing
// (Lower, Upper).
func (s *Summary) stats() Stats {
	v, imp, rb, mb := s.Values, s.ImputedValues, s.ReportedBounds, s.MissingBounds
	return Stats{
		Sum: Stat{
			Value:    Num(sumOf(v.Sum+imp.Sum, s.Reported+s.Imputed)),
			Lower:    Num(rb.Lo.Sum + mb.Lo.Sum),
			Upper:    Num(rb.Hi.Sum + mb.Hi.Sum),
			Reported: Num(sumOf(v.Sum, s.Reported)),
		},
		Mean: Stat{
			Value:    Num(meanOf(v.Sum+imp.Sum, s.Reported+s.Imputed)),
			Lower:    Num(meanOf(rb.Lo.Sum+mb.Lo.Sum, s.Expected)),
			Upper:    Num(meanOf(rb.Hi.Sum+mb.Hi.Sum, s.Expected)),
			Reported: Num(meanOf(v.Sum, s.Reported)),
		},
		Min: Stat{
			Value:    Num(finite(math.Min(v.Min, imp.Min))),
			Lower:    Num(finite(math.Min(rb.Lo.Min, mb.Lo.Min))),
			Upper:    Num(finite(math.Min(rb.Hi.Min, mb.Hi.Min))),
			Reported: Num(finite(v.Min)),
		},
		Max: Stat{
			Value:    Num(finite(math.Max(v.Max, imp.Max))),
			Lower:    Num(finite(math.Max(rb.Lo.Max, mb.Lo.Max))),
			Upper:    Num(finite(math.Max(rb.Hi.Max, mb.Hi.Max))),
			Reported: Num(finite(v.Max)),
		},
		Count: CountStat{Value: s.Reported},
	}
}

// sumOf is sum, a sum over n values: unknown (NaN) when n is 0, not zero,
// since a missing device is never silently a zero.
func sumOf(sum float64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return sum
}

// meanOf is sum / n, unknown (NaN) when n is 0.
func meanOf(sum float64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// finite is v, or NaN (unknown) for the ±Inf of an empty minimum or
// maximum.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}
