package ingest

import (
	"fmt"
	"math"
	"time"
)

// This file decodes the ts field of a payload into Unix nanoseconds: RFC 3339
// strings (with a non-allocating fast path for the common forms) and integer
// Unix milliseconds.

// maxUnixMillis is the largest Unix millisecond timestamp whose nanoseconds
// fit in an int64 (2262-04-11).
const maxUnixMillis = math.MaxInt64 / int64(time.Millisecond)

// readTS reads a ts value: an RFC 3339 string or integer Unix
// milliseconds, returned as Unix nanoseconds. scratch is a buffer for
// unescaping, returned for reuse.
func readTS(s *scanner, scratch []byte) (int64, []byte, error) {
	switch c := s.peek(); {
	case c == '"':
		raw, kind, err := s.readString()
		if err != nil {
			return 0, scratch, err
		}
		if kind == strEscaped {
			scratch = unescape(scratch[:0], raw)
			raw = scratch
		}
		ts, err := parseTSString(raw)
		return ts, scratch, err
	case c == '-' || isDigit(c):
		num, err := s.readNumber()
		if err != nil {
			return 0, scratch, err
		}
		ms, problem := parseUint(num)
		switch {
		case problem != "":
			return 0, scratch, reject(ReasonBadTS, fmt.Sprintf("ts %s %s: want integer Unix milliseconds >= 0",
				numTrunc(num), problem))
		case ms > uint64(maxUnixMillis):
			return 0, scratch, reject(ReasonBadTS, fmt.Sprintf("ts %s Unix milliseconds is after 2262", numTrunc(num)))
		}
		return int64(ms) * int64(time.Millisecond), scratch, nil
	}
	if kind := s.kind(); kind != "" {
		return 0, scratch, reject(ReasonBadTS, "ts must be an RFC 3339 string or integer Unix milliseconds, got "+kind)
	}
	return 0, scratch, s.unexpected("a JSON value")
}

// parseTSString parses an RFC 3339 timestamp (as time.Parse with
// time.RFC3339Nano does) into Unix nanoseconds, rejecting times before 1970
// or after 2262 with bad_ts.
func parseTSString(b []byte) (int64, error) {
	sec, nsec, ok := parseRFC3339(b)
	if !ok {
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return 0, reject(ReasonBadTS, fmt.Sprintf("ts %s is not an RFC 3339 timestamp", quoteTrunc(b, 64)))
		}
		sec, nsec = t.Unix(), int64(t.Nanosecond())
	}
	switch {
	case sec < 0:
		return 0, reject(ReasonBadTS, fmt.Sprintf("ts %s is before 1970", quoteTrunc(b, 64)))
	case sec > (math.MaxInt64-nsec)/int64(time.Second):
		return 0, reject(ReasonBadTS, fmt.Sprintf("ts %s is after 2262", quoteTrunc(b, 64)))
	}
	return sec*int64(time.Second) + nsec, nil
}

// parseRFC3339 is a fast path for time.Parse(time.RFC3339Nano, string(b))
// that does not allocate. It accepts exactly the forms of the standard
// library's own RFC 3339 fast path ("2006-01-02T15:04:05[.fraction](Z|±hh:mm)")
// and returns the time as Unix seconds and nanoseconds; ok is false for
// anything else, and the caller then falls back to time.Parse, so the set of
// accepted timestamps is time.Parse's.
func parseRFC3339(b []byte) (sec, nsec int64, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	century, yy, month := num2(b, 0, 99), num2(b, 2, 99), num2(b, 5, 12)
	hour, minute, second := num2(b, 11, 23), num2(b, 14, 59), num2(b, 17, 59)
	if century < 0 || yy < 0 || month < 1 || hour < 0 || minute < 0 || second < 0 {
		return 0, 0, false
	}
	year := century*100 + yy
	day := num2(b, 8, daysIn(month, year))
	if day < 1 {
		return 0, 0, false
	}
	rest := b[19:]
	if len(rest) >= 2 && rest[0] == '.' && isDigit(rest[1]) {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			if n <= 9 { // like time.Parse: digits past nanoseconds are dropped
				nsec = nsec*10 + int64(rest[n]-'0')
			}
			n++
		}
		for k := n; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	var offset int64
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num2(rest, 1, 23), num2(rest, 4, 59)
		if oh < 0 || om < 0 {
			return 0, 0, false
		}
		offset = int64(oh*3600 + om*60)
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, false
	}
	days := daysFromCivil(year, month, day)
	sec = days*86400 + int64(hour*3600+minute*60+second) - offset
	return sec, nsec, true
}

// num2 returns the value of the 2 digits at b[i:], or -1 when they are not
// digits or the value is above max.
func num2(b []byte, i, max int) int {
	c1, c2 := b[i], b[i+1]
	if !isDigit(c1) || !isDigit(c2) {
		return -1
	}
	if v := int(c1-'0')*10 + int(c2-'0'); v <= max {
		return v
	}
	return -1
}

// daysIn returns the number of days in month of year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given date
// (proleptic Gregorian), after Howard Hinnant's days_from_civil.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := m - 3
	if m <= 2 {
		mp = m + 9
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
