package influx

import (
	"math"
	"strconv"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// Measurement is the InfluxDB measurement of every point.
const Measurement = "rollcall_aggregate"

// PointsPerAggregate is the points one aggregate becomes: one per group
// statistic (sum, mean, min, max, count).
const PointsPerAggregate = 5

// Stat tag values.
const (
	StatSum   = "sum"
	StatMean  = "mean"
	StatMin   = "min"
	StatMax   = "max"
	StatCount = "count"
)

// appendAggregate appends a's PointsPerAggregate line-protocol lines, each
// ending in '\n', to b. The schema (DESIGN.md § Interfaces):
//
//	rollcall_aggregate,group=G,metric=M,stat=S value=,lower=,upper=,reported=,
//	    expected=Ni,reporting=Ni,coverage=,max_age_s=,revision=Ni,final=B,quality="Q" T
//
// T is the window start in nanoseconds, so a revision of a window writes the
// same series and time and overwrites the earlier revision's point. value,
// lower, upper, reported, coverage and max_age_s are floats and are left
// out when unknown or unbounded (NaN, ±Inf): line protocol has no null. The
// count statistic is exact, so its value, lower, upper and reported are all
// the number of reporting devices, written as floats (a field's type is
// fixed per measurement, so value is a float for every stat).
func appendAggregate(b []byte, a aggregate.Aggregate) []byte {
	ts := a.Window.Start.UnixNano()
	c := float64(a.Stats.Count.Value)
	count := aggregate.Stat{Value: aggregate.Num(c), Lower: aggregate.Num(c), Upper: aggregate.Num(c), Reported: aggregate.Num(c)}
	for _, s := range [PointsPerAggregate]struct {
		name string
		stat aggregate.Stat
	}{
		{StatSum, a.Stats.Sum},
		{StatMean, a.Stats.Mean},
		{StatMin, a.Stats.Min},
		{StatMax, a.Stats.Max},
		{StatCount, count},
	} {
		b = append(b, Measurement...)
		b = appendTag(b, "group", a.Group)
		b = appendTag(b, "metric", a.Metric)
		b = appendTag(b, "stat", s.name)
		b = append(b, ' ')
		b = appendFloat(b, "value", float64(s.stat.Value))
		b = appendFloat(b, "lower", float64(s.stat.Lower))
		b = appendFloat(b, "upper", float64(s.stat.Upper))
		b = appendFloat(b, "reported", float64(s.stat.Reported))
		b = appendInt(b, "expected", a.Coverage.Expected)
		b = appendInt(b, "reporting", a.Coverage.Reported)
		b = appendInt(b, "partial", a.Coverage.Partial)
		b = appendFloat(b, "coverage", a.Coverage.Ratio)
		b = appendFloat(b, "max_age_s", float64(a.Staleness.MaxAgeS))
		b = appendInt(b, "revision", a.Revision)
		b = append(b, ",final="...)
		b = strconv.AppendBool(b, a.Final)
		b = append(b, ",quality=\""...)
		b = appendFieldString(b, string(a.Quality))
		b = append(b, "\" "...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, '\n')
	}
	return b
}

// appendFloat appends "key=v" when v is finite, after a ',' unless it is
// the first field.
func appendFloat(b []byte, key string, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b
	}
	b = appendKey(b, key)
	// 'f' as InfluxDB's own encoder does: no exponent, shortest exact form.
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// appendInt appends "key=vi", after a ',' unless it is the first field.
func appendInt(b []byte, key string, v int) []byte {
	b = appendKey(b, key)
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, 'i')
}

func appendKey(b []byte, key string) []byte {
	if len(b) > 0 && b[len(b)-1] != ' ' {
		b = append(b, ',')
	}
	b = append(b, key...)
	return append(b, '=')
}

// appendTag appends ",key=value" with value escaped; an empty value is left
// out (line protocol has no empty tag values).
func appendTag(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',')
	b = append(b, key...)
	b = append(b, '=')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case ',', '=', ' ':
			b = append(b, '\\', c)
		case '\n', '\r', '\t':
			// Not representable in a tag; a space keeps the point parseable.
			b = append(b, '\\', ' ')
		case '\\':
			// A trailing backslash would escape the separator after it.
			if i == len(value)-1 {
				b = append(b, '\\', '\\')
			} else {
				b = append(b, c)
			}
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFieldString appends s escaped for a double-quoted field value.
func appendFieldString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}
