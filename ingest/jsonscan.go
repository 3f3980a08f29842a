package ingest

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file holds the JSON scanner under the payload decoder: a strict
// (RFC 8259) scanner over one payload that hands out raw string and number
// bytes without copying. The decoder drives it in payload order and decides
// what each value means; the scanner only knows JSON.

// MaxNestingDepth is the deepest nesting of objects and arrays a payload may
// contain, counting the top-level object as 1. Unknown keys may carry nested
// values; deeper payloads are rejected as bad_json.
const MaxNestingDepth = 32

// scanner reads one JSON text. Its errors are *RejectError with ReasonBadJSON
// and the byte offset of the problem.
type scanner struct {
	data []byte
	pos  int
}

// errAt returns a bad_json reject for a problem at offset off.
func (s *scanner) errAt(off int, format string, args ...any) error {
	return reject(ReasonBadJSON, fmt.Sprintf("offset %d: ", off)+fmt.Sprintf(format, args...))
}

// unexpected returns the bad_json reject for the byte at s.pos, where want
// was expected.
func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.errAt(s.pos, "unexpected end of payload, want %s", want)
	}
	return s.errAt(s.pos, "unexpected %s, want %s", describeByte(s.data[s.pos]), want)
}

// skipWS skips JSON whitespace.
func (s *scanner) skipWS() {
	i, data := s.pos, s.data
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	s.pos = i
}

// peek returns the byte at s.pos, or 0 at the end of the data.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// colon skips whitespace, a ':' and whitespace.
func (s *scanner) colon() error {
	s.skipWS()
	if s.peek() != ':' {
		return s.unexpected("':' after object key")
	}
	s.pos++
	s.skipWS()
	return nil
}

// next skips whitespace and consumes the ',' or the closing byte that must
// follow a member of an object or array. It reports whether it consumed
// the closing byte.
func (s *scanner) next(closing byte) (done bool, err error) {
	s.skipWS()
	switch s.peek() {
	case ',':
		s.pos++
		s.skipWS()
		return false, nil
	case closing:
		s.pos++
		return true, nil
	}
	return false, s.unexpected("',' or '" + string(closing) + "'")
}

// kind names the type of the JSON value starting at s.pos, for details such
// as "value is a string". It returns "" for a byte that starts no value.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a bool"
	case c == 'n':
		return "null"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	return ""
}

// readString reads the string starting at s.pos (which must be '"') and
// returns its raw bytes between the quotes, still escaped, and whether it
// holds any escape (then unescape gives its value). It rejects control
// characters, invalid UTF-8, invalid escapes and unpaired surrogates, so
// unescape never fails on what it returns.
func (s *scanner) readString() (raw []byte, escaped bool, err error) {
	data := s.data
	start := s.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		// Fast path: plain ASCII.
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return data[start:i], escaped, nil
		case c == '\\':
			n, err := s.checkEscape(i)
			if err != nil {
				return nil, false, err
			}
			escaped = true
			i += n
		case c < 0x20:
			return nil, false, s.errAt(i, "control character 0x%02x in string", c)
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, s.errAt(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	return nil, false, s.errAt(s.pos, "unterminated string")
}

// checkEscape validates the escape sequence at data[i] (a '\\') and returns
// its length in bytes.
func (s *scanner) checkEscape(i int) (int, error) {
	data := s.data
	if i+1 >= len(data) {
		return 0, s.errAt(i, "unterminated string")
	}
	switch data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, s.errAt(i, "invalid escape \\%s in string", describeByte(data[i+1]))
	}
	r, ok := hex4(data[i+2:])
	if !ok {
		return 0, s.errAt(i, "invalid \\u escape in string")
	}
	switch {
	case 0xDC00 <= r && r <= 0xDFFF:
		return 0, s.errAt(i, "unpaired surrogate \\u%04X in string", r)
	case 0xD800 <= r && r <= 0xDBFF:
		if i+7 >= len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
			return 0, s.errAt(i, "unpaired surrogate \\u%04X in string", r)
		}
		lo, ok := hex4(data[i+8:])
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, s.errAt(i, "unpaired surrogate \\u%04X in string", r)
		}
		return 12, nil
	}
	return 6, nil
}

// hex4 decodes the 4 hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the value of the raw string bytes (as returned by
// readString, so known to be valid) to dst.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) { // unreachable for readString's output
			return dst
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			if 0xD800 <= r && r <= 0xDBFF {
				lo, _ := hex4(raw[i+8:]) // a low surrogate: readString checked
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				dst = utf8.AppendRune(dst, r)
				i += 12
				continue
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

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

// skipValue skips the value starting at s.pos. depth is the nesting depth
// the value would have if it is an object or array.
func (s *scanner) skipValue(depth int) error {
	switch c := s.peek(); {
	case c == '{' || c == '[':
		if depth > MaxNestingDepth {
			return s.errAt(s.pos, "nesting deeper than %d levels", MaxNestingDepth)
		}
		s.pos++
		s.skipWS()
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if s.peek() == closing {
			s.pos++
			return nil
		}
		for {
			if c == '{' {
				if s.peek() != '"' {
					return s.unexpected("a string object key")
				}
				if _, _, err := s.readString(); err != nil {
					return err
				}
				if err := s.colon(); err != nil {
					return err
				}
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			done, err := s.next(closing)
			if err != nil || done {
				return err
			}
		}
	case c == '"':
		_, _, err := s.readString()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		_, err := s.readNumber()
		return err
	}
	return s.unexpected("a JSON value")
}

// literal consumes the literal lit (true, false or null).
func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.errAt(s.pos, "invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
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

// describeByte names c for an error detail: the quoted character when it is
// printable ASCII, its hex value otherwise.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// numTrunc returns the number num for an error detail, cut to at most 32
// bytes.
func numTrunc(num []byte) string {
	if len(num) <= 32 {
		return string(num)
	}
	return string(num[:32]) + fmt.Sprintf("... (%d bytes)", len(num))
}

// quoteTrunc quotes s for an error detail, cut to at most n bytes.
func quoteTrunc[T string | []byte](s T, n int) string {
	if len(s) <= n {
		return strconv.Quote(string(s))
	}
	return strconv.Quote(string(s[:n])) + fmt.Sprintf("... (%d bytes)", len(s))
}
