package influx

import (
	"errors"
	"fmt"
	"time"
)

// ErrClosed means the sink was closed: Write after Close.
var ErrClosed = errors.New("influx: sink closed")

// errSpoolFull means the spool's byte limit was reached and dropping the
// oldest segment did not make room for a record.
var errSpoolFull = errors.New("influx: spool full")

// class is how a write request failed, and so what the sink does next.
type class int

// Failure classes, in the order of STYLE.md § 5.9.
const (
	// classOK: 2xx, the points are written.
	classOK class = iota
	// classRejected: 400 or another permanent 4xx; the server will never
	// take these points. Drop and count.
	classRejected
	// classTooLarge: 413; split the batch, drop a single aggregate that is
	// still too large.
	classTooLarge
	// classConfig: 401, 403, 404; the URL, token, org or bucket is wrong
	// (or the database does not exist yet). Log an error for a human, count
	// as a breaker failure and keep spooling.
	classConfig
	// classThrottled: 429 or 503; wait Retry-After if given, else back off.
	classThrottled
	// classRetryable: other 5xx, 408, network errors, timeouts; back off.
	classRetryable
	// classCanceled: the sink's own context ended mid-request; not the
	// server's fault, so not a breaker failure.
	classCanceled
)

// writeError is a failed write request, classified.
type writeError struct {
	class class
	// status is the HTTP status, 0 for a network error.
	status int
	// retryAfter is the server's Retry-After, capped at MaxRetryAfter; 0
	// when absent.
	retryAfter time.Duration
	err        error
}

func (e *writeError) Error() string {
	if e.status == 0 {
		return fmt.Sprintf("influx: write: %v", e.err)
	}
	return fmt.Sprintf("influx: write: status %d: %v", e.status, e.err)
}

func (e *writeError) Unwrap() error { return e.err }
