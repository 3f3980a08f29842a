package ingest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Limits{}.Validate())
	require.NoError(t, Limits{MaxPayloadBytes: 1 << 20, MaxMetrics: 1000, MaxFutureSkew: time.Hour, MaxMetricNameLen: 64}.Validate())
	tests := []struct {
		name   string
		limits Limits
		want   []string
	}{
		{
			"negative",
			Limits{MaxPayloadBytes: -1, MaxMetrics: -2, MaxFutureSkew: -time.Second, MaxMetricNameLen: -3},
			[]string{
				"max_payload_bytes: must not be negative", "max_metrics: must not be negative",
				"max_future_skew: must not be negative", "max_metric_name_len: must not be negative",
			},
		},
		{"payload beyond MQTT", Limits{MaxPayloadBytes: MaxMQTTPayloadBytes + 1}, []string{"max_payload_bytes: 268435456 exceeds"}},
		{"negative rate", Limits{DeviceRate: -1, DeviceBurst: -1}, []string{"limits.device_rate", "limits.device_burst"}},
		{"NaN rate", Limits{DeviceRate: math.NaN()}, []string{"limits.device_rate"}},
		{"name longer than payload", Limits{MaxPayloadBytes: 100}, []string{"limits.max_metric_name_len (128) must be smaller than limits.max_payload_bytes (100)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.limits.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.want))
		})
	}
	require.Equal(t, Limits{
		MaxPayloadBytes: DefaultMaxPayloadBytes, MaxMetrics: DefaultMaxMetrics, MaxFutureSkew: DefaultMaxFutureSkew,
		MaxMetricNameLen: DefaultMaxMetricNameLen, DeviceRate: DefaultDeviceRate, DeviceBurst: DefaultDeviceBurst,
		SparkplugMaxPayloadBytes: DefaultSparkplugMaxPayloadBytes, SparkplugMaxAliases: DefaultSparkplugMaxAliases,
		SparkplugMaxNodes: DefaultSparkplugMaxNodes,
	}, Limits{}.WithDefaults())
}

func TestBucket(t *testing.T) {
	t.Parallel()
	s := func(sec float64) int64 { return int64(sec * 1e9) }
	var b Bucket
	l := Limits{DeviceRate: 2, DeviceBurst: 3}
	// Burst 3 at rate 2/s: three at once, the fourth refused.
	for i := range 3 {
		require.True(t, l.Allow(&b, s(10)), "burst %d", i)
	}
	require.False(t, l.Allow(&b, s(10)))
	// 0.5 s later one token (2/s × 0.5 s) is back, not two.
	require.True(t, l.Allow(&b, s(10.5)))
	require.False(t, l.Allow(&b, s(10.5)))
	// After a long pause the bucket is full again, not fuller.
	for i := range 3 {
		require.True(t, l.Allow(&b, s(100)), "refilled %d", i)
	}
	require.False(t, l.Allow(&b, s(100)))
	// A clock that steps back does not refill.
	require.False(t, l.Allow(&b, s(50)))
}

func TestReasonIndex(t *testing.T) {
	t.Parallel()
	for i, r := range RejectReasons {
		require.Equal(t, i, ReasonIndex(r))
	}
	require.Equal(t, ReasonBadJSON, RejectReasons[ReasonIndex("no such reason")], "unknown reasons count as bad_json")
	require.Equal(t, ReasonRateLimited, ReasonOf(ErrRateLimited))
}

// Admit refuses, before the journal, what needs neither state nor decoding;
// the decoders agree with every refusal, and let everything else through
// to be decoded.
func TestLimitsAdmit(t *testing.T) {
	t.Parallel()
	l := Limits{MaxPayloadBytes: 200}.WithDefaults()
	tests := []struct {
		name    string
		kind    TopicKind
		payload string
		want    string // reason; "" admits
	}{
		{"reading", TopicTelemetry, `{"metrics":{"x":1}}`, ""},
		{"at the limit", TopicTelemetry, `{"metrics":{"x":1}` + strings.Repeat(" ", 200-19) + `}`, ""},
		{"over the limit", TopicTelemetry, `{"metrics":{"x":1}` + strings.Repeat(" ", 200-18) + `}`, ReasonTooLarge},
		{"whitespace first", TopicTelemetry, " \t\r\n{", ""}, // broken further on: for the decoder
		{"empty", TopicTelemetry, ``, ReasonBadJSON},
		{"only whitespace", TopicTelemetry, "  \n", ReasonBadJSON},
		{"not an object", TopicTelemetry, `[1,2]`, ReasonBadJSON},
		{"garbage", TopicTelemetry, "\xff\x00binary", ReasonBadJSON},
		{"status", TopicStatus, `online`, ""},
		{"status JSON", TopicStatus, `{"state":"offline"}`, ""},
		{"status text not a state", TopicStatus, `maybe`, ""}, // for the decoder
		{"status over its limit", TopicStatus, strings.Repeat(" ", MaxStatusPayloadBytes) + "online", ReasonTooLarge},
		{"status empty", TopicStatus, ``, ReasonBadJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := l.Admit(tc.kind, []byte(tc.payload))
			require.Equal(t, tc.want, ReasonOf(err), "%v", err)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var re *RejectError
			require.ErrorAs(t, err, &re)
			require.NotEmpty(t, re.Detail)
			// The decoder, which checks again, rejects it for the same reason.
			if tc.kind == TopicStatus {
				_, _, err = DecodeStatus([]byte(tc.payload))
			} else {
				err = NewDecoder(l).Decode("s", "s/d", []byte(tc.payload), 1, &Reading{})
			}
			require.Equal(t, tc.want, ReasonOf(err))
		})
	}
}
