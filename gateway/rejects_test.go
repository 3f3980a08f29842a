package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/gateway/gatewaytest"
	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/internal/scrape"
)

// TestRejectsReconcile publishes a mix of good and bad messages through the
// embedded broker: the counters an operator reconciles add up
// (rollcall_ingest_received_total = accepted + duplicate + replay + every
// reject reason + shed + status, and outcome="rejected" = the sum of the
// reasons), and an oversize payload is rejected before the journal, which
// never sees its bytes, while the messages after it are processed.
func TestRejectsReconcile(t *testing.T) {
	cfg := gatewaytest.Config(t)
	cfg.Fleet = gatewaytest.FleetFile(t, []byte(itFleet))
	gw := gatewaytest.Start(t, cfg)

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(gw.MQTTURL).SetClientID("pub-" + filepath.Base(cfg.DataDir)))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	published := 0
	publish := func(topic, payload string) {
		t.Helper()
		pt := c.Publish(topic, 1, false, payload)
		require.True(t, pt.WaitTimeout(10*time.Second))
		require.NoError(t, pt.Error())
		published++
	}
	const tel = "fleet/site-a/a1/telemetry"
	now := time.Now()
	reading := func(seq int) string {
		return fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%d}}`, seq, now.UnixMilli()-int64(20-seq)*100, seq)
	}
	oversize := `{"metrics":{"power_kw":1}}` + strings.Repeat(" ", 128<<10)
	for seq := 1; seq <= 5; seq++ {
		publish(tel, reading(seq))
	}
	publish(tel, reading(3))                                             // duplicate
	publish("fleet/site-a/"+strings.Repeat("x", 200)+"/telemetry", `{}`) // bad_topic: the id is too long
	publish("fleet/site-a/a@1/telemetry", `{}`)                          // bad_topic: not in IDChars
	publish(tel, oversize)                                               // too_large, in the callback
	publish(tel, "\x00\xffgarbage")                                      // bad_json, in the callback
	publish(tel, `{"metrics":{"power_kw":`)                              // bad_json, by the decoder
	publish("fleet/site-a/a1/status", "online")                          // status
	for seq := 6; seq <= 10; seq++ {
		publish(tel, reading(seq)) // after the oversize one: processed
	}

	var m scrape.Samples
	counted := func() bool {
		var err error
		m, err = scrape.Get(t.Context(), nil, gw.URL+"/metrics")
		return err == nil && m["rollcall_ingest_received_total"] == float64(published) &&
			m[`rollcall_messages_total{outcome="accepted"}`]+m[`rollcall_messages_total{outcome="duplicate"}`]+
				m[`rollcall_messages_total{outcome="rejected"}`]+m["rollcall_status_messages_total"] == float64(published)
	}
	if !assert.Eventually(t, counted, 30*time.Second, 50*time.Millisecond) {
		t.Fatalf("not every message counted: %v of %d received, %v accepted, %v duplicate, %v rejected, %v status",
			m["rollcall_ingest_received_total"], published, m[`rollcall_messages_total{outcome="accepted"}`],
			m[`rollcall_messages_total{outcome="duplicate"}`], m[`rollcall_messages_total{outcome="rejected"}`], m["rollcall_status_messages_total"])
	}
	reason := func(r string) float64 { return m[`rollcall_messages_rejected_total{reason="`+r+`"}`] }
	var reasons float64
	for _, r := range ingest.RejectReasons {
		reasons += reason(r)
	}
	outcome := func(o string) float64 { return m[`rollcall_messages_total{outcome="`+o+`"}`] }
	require.Equal(t, 10.0, outcome("accepted"), "the readings before and after the oversize one")
	require.Equal(t, 1.0, outcome("duplicate"))
	require.Equal(t, 2.0, reason(ingest.ReasonBadTopic))
	require.Equal(t, 1.0, reason(ingest.ReasonTooLarge))
	require.Equal(t, 2.0, reason(ingest.ReasonBadJSON))
	require.Equal(t, 5.0, reasons)
	require.Equal(t, reasons, outcome("rejected"), "outcome=\"rejected\" is the sum of the reasons")
	require.Equal(t, m["rollcall_ingest_received_total"],
		outcome("accepted")+outcome("duplicate")+outcome("replay")+reasons+
			m[`rollcall_ingest_dropped_total{reason="overload"}`]+m["rollcall_status_messages_total"],
		"received = accepted + duplicate + replay + the reasons + shed + status")
	require.Equal(t, m["rollcall_messages_received_total"],
		outcome("accepted")+outcome("duplicate")+outcome("replay")+outcome("rejected"))
	require.Less(t, m[`rollcall_journal_appended_bytes_total{journal="ingest"}`], float64(len(oversize)),
		"the oversize payload never reached the journal")

	resp, err := http.Get(gw.URL + "/api/v1/rejects?reason=too_large")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rejects api.RejectsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rejects))
	require.Len(t, rejects.Rejects, 1)
	require.Equal(t, "site-a/a1", rejects.Rejects[0].Device)
	require.Equal(t, len(oversize), rejects.Rejects[0].PayloadBytes)
}
