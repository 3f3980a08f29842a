package ingest

import (
	"bytes"
	"fmt"
)

// This file decodes status payloads: the birth message and the Last Will a
// device publishes on its status topic.

// Device states carried by status messages.
const (
	// StatusOnline is the state of a device that announced itself (birth).
	StatusOnline = "online"
	// StatusOffline is the state of a device that said goodbye or whose
	// Last Will the broker published.
	StatusOffline = "offline"
)

// DecodeStatus parses a status payload: the plain text "online" or
// "offline" (ASCII case-insensitive, surrounding whitespace ignored), or a
// JSON object {"state": "online"|"offline", "ts": ...} where ts, optional,
// is an RFC 3339 string or integer Unix milliseconds and other keys are
// ignored. It returns StatusOnline or StatusOffline and ts in Unix
// nanoseconds (0 when absent). Errors are *RejectError: too_large past
// MaxStatusPayloadBytes, bad_ts for a bad ts, bad_json otherwise. An empty
// payload (what subscribers see when a retained status is cleared) is
// bad_json; callers may want to ignore it instead.
func DecodeStatus(payload []byte) (state string, ts int64, err error) {
	if err := checkStatusSize(payload); err != nil {
		return "", 0, err
	}
	s := scanner{data: payload}
	s.skipWS()
	if s.peek() == '{' {
		return decodeStatusJSON(&s)
	}
	if st := parseState(bytes.TrimSpace(payload)); st != "" {
		return st, 0, nil
	}
	return "", 0, reject(ReasonBadJSON, fmt.Sprintf("status payload %s is neither online, offline nor a JSON object",
		quoteTrunc(payload, 64)))
}

// checkStatusSize rejects a status payload over MaxStatusPayloadBytes
// too_large.
func checkStatusSize(payload []byte) error {
	if len(payload) > MaxStatusPayloadBytes {
		return reject(ReasonTooLarge, fmt.Sprintf("status payload is %d bytes, limit %d",
			len(payload), MaxStatusPayloadBytes))
	}
	return nil
}

// parseState returns StatusOnline or StatusOffline for b in any ASCII case,
// or "".
func parseState(b []byte) string {
	for _, st := range [...]string{StatusOnline, StatusOffline} {
		if len(b) == len(st) && asciiEqualFold(b, st) {
			return st
		}
	}
	return ""
}

func asciiEqualFold(b []byte, lower string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// decodeStatusJSON parses a JSON status payload; s is at its '{'.
func decodeStatusJSON(s *scanner) (state string, ts int64, err error) {
	var keys dupSet
	s.pos++
	s.skipWS()
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if s.peek() != '"' {
				return "", 0, s.unexpected("a string object key")
			}
			at := s.pos
			raw, kind, err := s.readString()
			if err != nil {
				return "", 0, err
			}
			key := string(raw)
			if kind == strEscaped {
				key = string(unescape(nil, raw))
			}
			if keys.add(key) {
				return "", 0, s.errAt(at, "duplicate key %s", quoteTrunc(key, 64))
			}
			if err := s.colon(); err != nil {
				return "", 0, err
			}
			switch key {
			case "state":
				if s.peek() != '"' {
					return "", 0, s.errAt(s.pos, `"state" must be a string`)
				}
				raw, kind, err := s.readString()
				if err != nil {
					return "", 0, err
				}
				if kind == strEscaped {
					raw = unescape(nil, raw)
				}
				if state = parseState(raw); state == "" {
					return "", 0, reject(ReasonBadJSON, fmt.Sprintf(`status "state" %s is neither online nor offline`,
						quoteTrunc(raw, 64)))
				}
			case "ts":
				if ts, _, err = readTS(s, nil); err != nil {
					return "", 0, err
				}
			default:
				if err := s.skipValue(2); err != nil {
					return "", 0, err
				}
			}
			done, err := s.next('}')
			if err != nil {
				return "", 0, err
			}
			if done {
				break
			}
		}
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return "", 0, s.errAt(s.pos, "trailing data after the JSON object")
	}
	if state == "" {
		return "", 0, reject(ReasonBadJSON, `status "state" is missing`)
	}
	return state, ts, nil
}
