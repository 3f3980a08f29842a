package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes: the "code" of an error response.
const (
	// CodeMissingParameter: a required query parameter is absent or empty (400).
	CodeMissingParameter = "missing_parameter"
	// CodeBadParameter: a query parameter is malformed, repeated or out of range (400).
	CodeBadParameter = "bad_parameter"
	// CodeUnknownGroup: the group is not known (422).
	CodeUnknownGroup = "unknown_group"
	// CodeUnknownMetric: the metric is not known, or not known in the group (422).
	CodeUnknownMetric = "unknown_metric"
	// CodeUnknownDevice: the device is not tracked (404).
	CodeUnknownDevice = "unknown_device"
	// CodeNotFound: no such route (404).
	CodeNotFound = "not_found"
	// CodeMethodNotAllowed: the route does not accept the method (405).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeNotReady: the process is not ready (503, /readyz only).
	CodeNotReady = "not_ready"
	// CodeUnavailable: the engine did not answer in time or has stopped (503).
	CodeUnavailable = "unavailable"
	// CodeInternal: the server failed to build the response (500).
	CodeInternal = "internal"
	// CodeUnauthorized: a bearer token is configured and the request lacks
	// it or carries another (401).
	CodeUnauthorized = "unauthorized"
	// CodeRangeTooLarge: a history query spans more than Config.MaxRange
	// (400).
	CodeRangeTooLarge = "range_too_large"
	// CodeLimitTooLarge: the limit parameter exceeds Config.MaxLimit (400).
	CodeLimitTooLarge = "limit_too_large"
	// CodeTooManyStreams: Config.MaxStreams streams are open (429).
	CodeTooManyStreams = "too_many_streams"
	// CodeTooLarge: the request body exceeds Config.MaxBodyBytes (413).
	CodeTooLarge = "too_large"
	// CodeURITooLong: the path and query exceed Config.MaxURLBytes (414).
	CodeURITooLong = "uri_too_long"
)

// ErrMissingDependency is returned by New when a required field of Deps, or
// the registerer, is nil; the error names which.
var ErrMissingDependency = errors.New("api: missing dependency")

// ErrTLS is returned by New when Config.TLSCert and Config.TLSKey cannot be
// loaded; the error says why.
var ErrTLS = errors.New("api: tls")

// Error is an error response. Its JSON form, {"error": "...", "code":
// "..."}, is the body of every non-2xx answer; Status is the HTTP status.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Code    string `json:"code"`
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Code, e.Message)
}

func missingParameter(name string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMissingParameter, Message: fmt.Sprintf("missing parameter %q", name)}
}

func badParameter(name, format string, args ...any) *Error {
	return &Error{
		Status:  http.StatusBadRequest,
		Code:    CodeBadParameter,
		Message: fmt.Sprintf("parameter %q: ", name) + fmt.Sprintf(format, args...),
	}
}

func unknownGroup(group string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownGroup, Message: fmt.Sprintf("unknown group %q", group)}
}

func unknownMetric(metric string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownMetric, Message: fmt.Sprintf("unknown metric %q", metric)}
}

func unknownMetricInGroup(group, metric string) *Error {
	return &Error{
		Status:  http.StatusUnprocessableEntity,
		Code:    CodeUnknownMetric,
		Message: fmt.Sprintf("group %q has no metric %q", group, metric),
	}
}
