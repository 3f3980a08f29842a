package influx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	status := func(code int, retryAfter string) error {
		e := ihttp.NewError(nil)
		e.StatusCode = code
		e.Code, e.Message = "x", "y"
		if retryAfter != "" {
			e.Header.Set("Retry-After", retryAfter)
		}
		return e
	}
	tests := []struct {
		name       string
		err, ctx   error
		want       class
		wantResult string
		wantRA     time.Duration
	}{
		{"nil", nil, nil, classOK, ResultSuccess, 0},
		{"400", status(400, ""), nil, classRejected, ResultRejected, 0},
		{"422", status(422, ""), nil, classRejected, ResultRejected, 0},
		{"401", status(401, ""), nil, classConfig, ResultConfigError, 0},
		{"403", status(403, ""), nil, classConfig, ResultConfigError, 0},
		{"404", status(404, ""), nil, classConfig, ResultConfigError, 0},
		{"408", status(408, ""), nil, classRetryable, ResultServerError, 0},
		{"413", status(413, ""), nil, classTooLarge, ResultTooLarge, 0},
		{"429", status(429, "7"), nil, classThrottled, ResultThrottled, 7 * time.Second},
		{"503", status(503, ""), nil, classThrottled, ResultThrottled, 0},
		{"500", status(500, ""), nil, classRetryable, ResultServerError, 0},
		{"502 wrapped", fmt.Errorf("w: %w", status(502, "")), nil, classRetryable, ResultServerError, 0},
		{"network", ihttp.NewError(errors.New("connection refused")), nil, classRetryable, ResultNetworkError, 0},
		{"plain error", errors.New("dial tcp: refused"), nil, classRetryable, ResultNetworkError, 0},
		{"timeout", ihttp.NewError(context.DeadlineExceeded), nil, classRetryable, ResultNetworkError, 0},
		{"canceled", ihttp.NewError(context.Canceled), context.Canceled, classCanceled, ResultCanceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			we := classify(tt.err, tt.ctx, t0)
			require.Equal(t, tt.want, we.class)
			require.Equal(t, tt.wantResult, we.result())
			require.Equal(t, tt.wantRA, we.retryAfter)
			if tt.err != nil {
				require.ErrorIs(t, we, tt.err)
				require.NotEmpty(t, we.Error())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"":          0,
		"0":         0,
		"-3":        0,
		" 12 ":      12 * time.Second,
		"100000000": MaxRetryAfter,
		"soon":      0,
		t0.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		t0.Add(-time.Hour).Format(http.TimeFormat):       0,
		t0.Add(48 * time.Hour).Format(http.TimeFormat):   MaxRetryAfter,
	} {
		require.Equal(t, want, retryAfter(in, t0), "Retry-After %q", in)
	}
}
