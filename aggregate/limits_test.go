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
		h := newHarnessWith(t, 1, func(c *Config) { c.Limits.MaxOpenWindows = 3 })
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
