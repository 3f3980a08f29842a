package ingest

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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

// strKind classifies a string's raw bytes, so callers skip work for the
// common case.
type strKind uint8

const (
	// strPrintable: printable ASCII (0x20..0x7e) without escapes; the raw
	// bytes are the value.
	strPrintable strKind = iota
	// strUTF8: no escapes, but DEL or non-ASCII UTF-8; the raw bytes are the
	// value.
	strUTF8
	// strEscaped: holds escapes; unescape gives the value.
	strEscaped
)

// readString reads the string starting at s.pos (which must be '"') and
// returns its raw bytes between the quotes, still escaped, and their kind.
// It rejects control characters, invalid UTF-8, invalid escapes and unpaired
// surrogates, so unescape never fails on what it returns.
func (s *scanner) readString() (raw []byte, kind strKind, err error) {
	data, start := s.data, s.pos+1
	if start <= len(data) { // fast path: printable ASCII up to the closing quote
		if i := start + printablePrefix(data[start:]); i < len(data) && data[i] == '"' {
			s.pos = i + 1
			return data[start:i], strPrintable, nil
		}
	}
	return s.readStringSlow(start)
}

// readStringSlow is readString for strings with escapes, DEL, non-ASCII
// bytes or errors; start is the offset after the opening quote.
func (s *scanner) readStringSlow(start int) (raw []byte, kind strKind, err error) {
	data := s.data
	i := start
	for i < len(data) {
		i += printablePrefix(data[i:])
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return data[start:i], kind, nil
		case c == '\\':
			n, err := s.checkEscape(i)
			if err != nil {
				return nil, 0, err
			}
			kind = strEscaped
			i += n
		case c < 0x20:
			return nil, 0, s.errAt(i, "control character 0x%02x in string", c)
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, 0, s.errAt(i, "invalid UTF-8 in string")
			}
			kind = max(kind, strUTF8)
			i += size
		}
	}
	return nil, 0, s.errAt(s.pos, "unterminated string")
}

// SWAR ("SIMD within a register") constants for printablePrefix.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// printablePrefix returns the length of the longest prefix of b that holds
// only printable ASCII (0x20..0x7e) other than '"' and '\\': the bytes a
// string can hold that need no further look. It tests 8 bytes at a time:
// for a word x, (x - n×lanes01) &^ x & lanes80 flags the bytes below n
// (n <= 0x80), and the same with x^(c×lanes01) and n = 1 flags the bytes
// equal to c. A borrow can flag a byte spuriously, but only above a byte
// flagged rightly, so the lowest flagged byte is always the first byte to
// stop at.
func printablePrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		quote, backslash, del := x^('"'*lanes01), x^('\\'*lanes01), x^(0x7f*lanes01)
		m := x&lanes80 | // non-ASCII
			(x-0x20*lanes01)&^x | // control characters
			(quote-lanes01)&^quote |
			(backslash-lanes01)&^backslash |
			(del-lanes01)&^del
		if m &= lanes80; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			break
		}
	}
	return i
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
