package aggregate

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
)

func TestEngineDeviceRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessWith(t, 2, func(c *Config) { c.Limits.DeviceRate, c.Limits.DeviceBurst = 1, 5 })
		ts := time.Now()
		for i := range 8 { // eight at once: the burst of 5 passes
			p := fmt.Sprintf(`{"seq":%d,"ts":%d,"metrics":{"power_kw":1}}`, i+1, ts.UnixMilli())
			require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d1", Payload: []byte(p), Received: ts.UnixNano()}))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// d1 is listed (it exists from the start): five take the burst,
		// three are refused.
		require.Equal(t, 3.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonRateLimited)))
		require.Equal(t, 5.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
	})
}

func TestEngineMaxOpenWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Stamps ahead of their receive time, as sent: without clock
		// correction, which would take the receive time for them.
		off := false
		h := newHarnessWith(t, 1, func(c *Config) { c.Limits.MaxOpenWindows, c.Liveness.ClockCorrection = 3, &off })
		ts := time.Now()
		for i := range 5 { // 0, 1, 4, 5, 8 s: all in the window [0, 10)
			h.send("d1", ts.Add(time.Duration(i)*2*time.Second).Add(-time.Duration(i%2)*time.Second), 1)
		}
		h.send("d1", ts.Add(-15*time.Second), 1) // [-20, -10): a second window
		h.send("d1", ts.Add(-25*time.Second), 1) // [-30, -20): a third
		h.send("d1", ts.Add(-5*time.Second), 1)  // [-10, 0): would be a fourth, refused
		h.send("d1", ts.Add(9*time.Second), 1)   // [0, 10) again: fine
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonTooManyWindows)))
		require.Equal(t, 8.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)))
	})
}

// A name the fleet file lists under site-a, on a topic of site-b, is not
// site-a's device: it is rejected wrong_site (counted, sampled, never
// merged into site-a/d1), while site-a/d1 itself is accepted.
func TestEngineWrongSite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		ts := time.Now()
		p := []byte(fmt.Sprintf(`{"seq":1,"ts":%d,"metrics":{"power_kw":1}}`, ts.UnixMilli()))
		require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-b", Device: "site-b/d1", Payload: p, Received: ts.UnixNano()}))
		require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d1", Payload: p, Received: ts.UnixNano()}))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.rejected.WithLabelValues(ingest.ReasonWrongSite)))
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.messages.WithLabelValues(OutcomeAccepted)), "site-a/d1's reading, not a duplicate of site-b's")
		samples, _ := h.e.Rejects()
		require.Len(t, samples, 1)
		require.Equal(t, ingest.ReasonWrongSite, samples[0].Reason)
		require.Equal(t, "site-b/d1", samples[0].Device)
		require.Contains(t, samples[0].Detail, "lists d1 under site-a, not under site-b")
		ds, err := h.e.Devices(t.Context(), DeviceFilter{ID: "site-b/d1"})
		require.NoError(t, err)
		require.Empty(t, ds, "site-b/d1 never joined the roster")
	})
}

// Every rejected message counts once in received, once in
// outcome="rejected" and once in its reason, whether the workers reject it
// (telemetry or status) or it is rejected before routing (Reject: the
// subscription callback, the journal stage).
func TestEngineRejectsReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 3)
		now := time.Now()
		h.e.Reject(ingest.Rejection{Reason: ingest.ReasonBadTopic, Topic: "fleet/x", Received: now.UnixNano()})
		h.e.Reject(ingest.Rejection{Reason: ingest.ReasonBadTopic, Topic: "fleet/y", Received: now.UnixNano()})
		h.e.Reject(ingest.Rejection{Reason: ingest.ReasonTooLarge, Site: "site-a", Device: "site-a/d1", Received: now.UnixNano()})
		h.send("d1", now, 1)
		h.sendSeq("d1", 1, now, 1) // a duplicate
		require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/d2", Payload: []byte(`{`), Received: now.UnixNano()}))
		require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicStatus, Site: "site-a", Device: "site-a/d3", Payload: []byte(`maybe`), Received: now.UnixNano()}))
		require.True(t, h.e.Offer(ingest.Message{Kind: ingest.TopicStatus, Site: "site-a", Device: "site-a/d3", Payload: []byte(`online`), Received: now.UnixNano()}))
		time.Sleep(time.Second)
		synctest.Wait()

		m := h.e.m
		outcome := func(o string) float64 { return testutil.ToFloat64(m.messages.WithLabelValues(o)) }
		reason := func(r string) float64 { return testutil.ToFloat64(m.rejected.WithLabelValues(r)) }
		require.Equal(t, 2.0, reason(ingest.ReasonBadTopic))
		require.Equal(t, 1.0, reason(ingest.ReasonTooLarge))
		require.Equal(t, 2.0, reason(ingest.ReasonBadJSON), "a bad telemetry payload and a bad status")
		var reasons float64
		for _, r := range ingest.RejectReasons {
			reasons += reason(r)
		}
		require.Equal(t, 5.0, reasons)
		require.Equal(t, reasons, outcome(OutcomeRejected), "the outcome total and the reasons reconcile")
		require.Equal(t, 1.0, outcome(OutcomeAccepted))
		require.Equal(t, 1.0, outcome(OutcomeDuplicate))
		require.Equal(t, outcome(OutcomeAccepted)+outcome(OutcomeDuplicate)+outcome(OutcomeReplay)+outcome(OutcomeRejected),
			testutil.ToFloat64(m.received), "every message received has one outcome")
		require.Equal(t, 1.0, testutil.ToFloat64(m.status), "an accepted status message is counted apart")

		samples, _ := h.e.Rejects()
		require.Len(t, samples, 5)
		require.Equal(t, "site-a/d1", samples[2].Device, "a reject before routing keeps its device in the sample")
	})
}
