package influx

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// classify maps a write request's error to its class (STYLE.md § 5.9), by
// HTTP status. ctxErr is the sink's own context's error: a request that
// failed because the sink is shutting down is classCanceled, not a server
// failure. now is for an HTTP-date Retry-After.
func classify(err error, ctxErr error, now time.Time) *writeError {
	if err == nil {
		return &writeError{class: classOK}
	}
	var he *ihttp.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		// No response: a network error, a timeout or our own cancellation.
		// (The client wraps transport errors in *http.Error with status 0.)
		if ctxErr != nil {
			return &writeError{class: classCanceled, err: err}
		}
		return &writeError{class: classRetryable, err: err}
	}
	we := &writeError{status: he.StatusCode, err: err}
	switch s := he.StatusCode; {
	case s >= 200 && s < 300:
		we.class = classOK
	case s == http.StatusRequestEntityTooLarge:
		we.class = classTooLarge
	case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusNotFound:
		we.class = classConfig
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		we.class = classThrottled
		we.retryAfter = retryAfter(he.Header.Get("Retry-After"), now)
	case s == http.StatusRequestTimeout || s >= 500:
		we.class = classRetryable
	default:
		// 400 (bad line protocol, field type conflict), 422 (outside the
		// retention period) and other 4xx: resending cannot help.
		we.class = classRejected
	}
	return we
}

// retryAfter parses a Retry-After header (delay-seconds or HTTP-date),
// capped at MaxRetryAfter; 0 when absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// result is the writes_total result label of e.
func (e *writeError) result() string {
	if e.class == classRetryable && e.status == 0 {
		return ResultNetworkError
	}
	return e.class.result()
}
