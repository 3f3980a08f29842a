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
)

// RejectReasons lists every reject reason, so counters can be pre-initialised.
var RejectReasons = [...]string{
	ReasonTooLarge, ReasonBadJSON, ReasonBadTopic, ReasonBadTS, ReasonFutureTS,
	ReasonTooLate, ReasonSpoofed, ReasonBadValue, ReasonImplausible,
	ReasonUnknownDevice, ReasonRateLimited, ReasonTooManyMetrics, ReasonTooManyWindows,
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
