package sim_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testStart is the simulated start of the in-process runs.
var testStart = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// result is what an in-process run produced.
type result struct {
	msgs  []Message
	truth *Truth
	raw   []byte // the truth as written
	stats Stats
}

// runInProcess runs s at infinite speed from testStart with Config.Deliver,
// and returns every message and the truth.
func runInProcess(t testing.TB, s Scenario) result {
	t.Helper()
	var (
		res   result
		truth bytes.Buffer
	)
	f, err := New(Config{
		Scenario: s, Speed: math.Inf(1), Start: testStart, Truth: &truth,
		Deliver: func(m Message) { res.msgs = append(res.msgs, m) },
	}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))
	res.raw = truth.Bytes()
	res.truth, err = ReadTruth(bytes.NewReader(res.raw))
	require.NoError(t, err)
	res.stats = f.Stats()
	return res
}

// describe renders a message compactly for exact-sequence tests:
//
//	@3s will offline
//	@3.5s seq=4 boot=1 ts=3s [delay]
//	@2s on wt-02 device=wt-01 seq=3 boot=1 ts=2s [spoof]
//	@2s bad payload (23 bytes) [malformed]
func describe(m Message, start time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "@%s", m.At.Sub(start))
	if m.Kind != MessageTelemetry {
		fmt.Fprintf(&b, " %s %s", m.Kind, m.Payload)
		return b.String()
	}
	if lv := strings.Split(m.Topic, "/"); lv[1]+"/"+lv[2] != m.Device {
		fmt.Fprintf(&b, " on %s/%s", lv[1], lv[2])
	}
	tm, err := simtest.Decode(m.Payload)
	if err != nil || tm.Metrics == nil {
		fmt.Fprintf(&b, " bad payload (%d bytes)", len(m.Payload))
	} else {
		if tm.Device != "" {
			fmt.Fprintf(&b, " device=%s", tm.Device)
		}
		fmt.Fprintf(&b, " seq=%d boot=%d ts=%s", tm.Seq, tm.Boot, tm.TS.Sub(start))
	}
	if kinds := m.Faults.Kinds(); len(kinds) > 0 {
		fmt.Fprintf(&b, " %v", kinds)
	}
	return b.String()
}

// of returns the messages device sent, described.
func of(msgs []Message, device string, start time.Time) []string {
	var out []string
	for _, m := range msgs {
		if m.Device == device {
			out = append(out, describe(m, start))
		}
	}
	return out
}
