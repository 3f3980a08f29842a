package ingest

import (
	"math"
	"strconv"
)

// This file reads JSON numbers: their syntax, and their values as the
// decoder needs them (finite float64 metric values, uint64 seq and boot).

// readNumber reads the number starting at s.pos and returns its bytes,
// checked against the JSON number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) readNumber() ([]byte, error) {
	data := s.data
	start := s.pos
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		s.pos = i
		return nil, s.unexpected("a digit in number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			s.pos = i
			return nil, s.unexpected("a digit after the decimal point")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			s.pos = i
			return nil, s.unexpected("a digit in the exponent")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	s.pos = i
	return data[start:i], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// float64Pow10 holds the powers of ten that are exact in a float64. It is
// read-only.
var float64Pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// readFloat reads the number at s.pos, as readNumber does, and returns its
// bytes and its value exactly as strconv.ParseFloat(num, 64) gives it, and
// whether the value is finite.
//
// Most telemetry values are plain decimals with a few digits. For those it
// takes Clinger's fast path in the same pass that checks the syntax (strconv
// takes it too, but only after scanning the bytes again): when the digits fit
// in 53 bits and there are at most 22 fraction digits, the mantissa and the
// power of ten are exact float64s, and one IEEE division rounds correctly.
// Anything else (exponents, long mantissas, syntax errors) goes the slow way:
// readNumber, then strconv.ParseFloat.
func (s *scanner) readFloat() (v float64, num []byte, finite bool, err error) {
	data, start := s.data, s.pos
	i, neg := start, false
	if i < len(data) && data[i] == '-' {
		i, neg = i+1, true
	}
	var mant uint64
	intStart := i
	for i < len(data) && isDigit(data[i]) {
		mant = mant*10 + uint64(data[i]-'0')
		i++
	}
	nd := i - intStart
	if nd == 0 || nd > 1 && data[intStart] == '0' {
		return s.readFloatSlow()
	}
	frac := 0
	if i < len(data) && data[i] == '.' {
		i++
		fracStart := i
		for i < len(data) && isDigit(data[i]) {
			mant = mant*10 + uint64(data[i]-'0')
			i++
		}
		frac = i - fracStart
		nd += frac
	}
	if frac == 0 && i > start && data[i-1] == '.' || // "1." is a syntax error
		i < len(data) && (data[i] == 'e' || data[i] == 'E') ||
		nd > 19 || mant > 1<<53 || frac > 22 {
		return s.readFloatSlow()
	}
	s.pos = i
	v = float64(mant)
	if frac > 0 {
		v /= float64Pow10[frac]
	}
	if neg {
		v = -v
	}
	return v, data[start:i], true, nil
}

// readFloatSlow is readFloat off the fast path.
func (s *scanner) readFloatSlow() (v float64, num []byte, finite bool, err error) {
	if num, err = s.readNumber(); err != nil {
		return 0, nil, false, err
	}
	v, finite = parseFloat(num)
	return v, num, finite, nil
}

// parseFloat returns the value of the JSON number num (valid per
// readNumber) and whether it is finite.
func parseFloat(num []byte) (float64, bool) {
	// num is valid JSON number syntax, so the only possible error is
	// ErrRange: overflow gives ±Inf (not finite); underflow rounds to 0 or a
	// subnormal without an error, as in encoding/json.
	v, _ := strconv.ParseFloat(string(num), 64)
	return v, !math.IsInf(v, 0) && !math.IsNaN(v)
}

// parseUint returns the value of the JSON number num (valid per readNumber)
// when it is a non-negative integer that fits in a uint64, exponents
// included ("1e3" and "1500e-1" are integers, "1.5" is not). Otherwise it
// returns a short reason ("is negative", "is not an integer", "overflows
// uint64"). It is exact: no float64 rounding is involved.
func parseUint(num []byte) (uint64, string) {
	if len(num) > 0 && num[0] == '-' {
		return 0, "is negative"
	}
	if len(num) <= 19 { // fast path: up to 19 plain digits always fit
		var v uint64
		i := 0
		for ; i < len(num) && isDigit(num[i]); i++ {
			v = v*10 + uint64(num[i]-'0')
		}
		if i == len(num) {
			return v, ""
		}
	}
	// Split num into integer digits, fraction digits and exponent.
	i := 0
	for i < len(num) && isDigit(num[i]) {
		i++
	}
	intPart := num[:i]
	var frac []byte
	if i < len(num) && num[i] == '.' {
		j := i + 1
		for j < len(num) && isDigit(num[j]) {
			j++
		}
		frac, i = num[i+1:j], j
	}
	exp := 0
	if i < len(num) { // 'e' or 'E'
		i++
		neg := false
		if num[i] == '+' || num[i] == '-' {
			neg = num[i] == '-'
			i++
		}
		for ; i < len(num); i++ {
			if exp < 1<<30 { // saturate: anything this large overflows anyway
				exp = exp*10 + int(num[i]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	// The value is digits(intPart ++ frac) × 10^(exp - len(frac)). Find the
	// significant digits of the concatenation.
	n := len(intPart) + len(frac)
	digit := func(k int) byte {
		if k < len(intPart) {
			return intPart[k]
		}
		return frac[k-len(intPart)]
	}
	first := 0
	for first < n && digit(first) == '0' {
		first++
	}
	if first == n {
		return 0, "" // zero, whatever the exponent
	}
	last := n - 1
	for digit(last) == '0' {
		last--
	}
	e := exp - len(frac) + (n - 1 - last)
	if e < 0 {
		return 0, "is not an integer"
	}
	if last-first+1+e > 20 {
		return 0, "overflows uint64"
	}
	var v uint64
	for k := first; k <= last; k++ {
		d := uint64(digit(k) - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, "overflows uint64"
		}
		v = v*10 + d
	}
	for ; e > 0; e-- {
		if v > math.MaxUint64/10 {
			return 0, "overflows uint64"
		}
		v *= 10
	}
	return v, ""
}

// nonFinite returns the non-JSON literal NaN, Infinity or -Infinity when
// one starts at s.pos and ends there (followed by a delimiter), or "".
func (s *scanner) nonFinite() string {
	rest := s.data[s.pos:]
	if len(rest) == 0 || rest[0] != 'N' && rest[0] != 'I' && rest[0] != '-' {
		return ""
	}
	for _, lit := range [...]string{"NaN", "Infinity", "-Infinity"} {
		if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
			if len(rest) == len(lit) {
				return lit
			}
			switch rest[len(lit)] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return lit
			}
		}
	}
	return ""
}
