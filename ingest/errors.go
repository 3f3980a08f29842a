package ingest

import "errors"

// Reject reasons. Each is the value of the reason label of
// rollcall_messages_rejected_total and the code of a RejectError.
const (
	ReasonTooLarge       = "too_large"
	ReasonBadJSON        = "bad_json"
	ReasonBadTopic       = "bad_topic"
	ReasonBadTS          = "bad_ts"
	ReasonFutureTS       = "future_ts"
	ReasonTooLate        = "too_late"
	ReasonSpoofed        = "spoofed"
	ReasonBadValue       = "bad_value"
	ReasonImplausible    = "implausible"
	ReasonUnknownDevice  = "unknown_device"
	ReasonRateLimited    = "rate_limited"
	ReasonTooManyMetrics = "too_many_metrics"
	// ReasonTooManyWindows: the reading would open more event-time windows
	// for its device than limits.max_open_windows (a clock far off, or a
	// backlog spread wider than the lateness).
	ReasonTooManyWindows = "too_many_windows"
	// ReasonWrongSite: the device's name is listed in the fleet file under
	// another site than the topic's (a misconfigured device, or one moved
	// without updating the fleet file); never merged into the listed one.
	ReasonWrongSite = "wrong_site"
	// ReasonBadProtobuf: a Sparkplug B payload that is not a valid
	// protobuf Payload message (or is empty).
	ReasonBadProtobuf = "bad_protobuf"
	// ReasonNoBirth: a Sparkplug message of an edge node or device whose
	// birth certificate rollcall has not seen in the current session, so
	// its aliases and sequence are unknown (rollcall never asks for a
	// rebirth: it publishes no NCMD).
	ReasonNoBirth = "no_birth"
)

// RejectReasons lists every reject reason, so counters can be pre-initialised.
var RejectReasons = [...]string{
	ReasonTooLarge, ReasonBadJSON, ReasonBadTopic, ReasonBadTS, ReasonFutureTS,
	ReasonTooLate, ReasonSpoofed, ReasonBadValue, ReasonImplausible,
	ReasonUnknownDevice, ReasonRateLimited, ReasonTooManyMetrics, ReasonTooManyWindows,
	ReasonWrongSite, ReasonBadProtobuf, ReasonNoBirth,
}

// NumReasons is the number of reject reasons: counters indexed by
// ReasonIndex have this length.
const NumReasons = len(RejectReasons)

// ReasonIndex returns the index of reason in RejectReasons, for counters
// kept in an array; an unknown reason counts as bad_json, which is what an
// unclassified decode failure is.
func ReasonIndex(reason string) int {
	for i, r := range RejectReasons {
		if r == reason {
			return i
		}
	}
	return 1 // ReasonBadJSON
}

// ErrRateLimited rejects a message of a device past limits.device_rate (see
// Limits.Allow).
var ErrRateLimited = &RejectError{
	Reason: ReasonRateLimited,
	Detail: "the device exceeds limits.device_rate (burst limits.device_burst)",
}

// RejectError is a message rejected at the trust boundary. Reason is one of
// the Reason* constants; Detail says what exactly was wrong, for the rejects
// sample and for logs.
type RejectError struct {
	Reason string
	Detail string
}

func (e *RejectError) Error() string { return "ingest: rejected (" + e.Reason + "): " + e.Detail }

// reject builds a *RejectError.
func reject(reason, detail string) *RejectError { return &RejectError{Reason: reason, Detail: detail} }

// ReasonOf returns the reject reason of err, or "" when err is not a *RejectError.
func ReasonOf(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}
