package sim_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
	"github.com/rollcall-iot/rollcall/sim"
)

// TestSparkplugFormat runs a Sparkplug fleet with a reboot and an offline
// fault through rollcall's Sparkplug host: every message is accepted, the
// node's seq wraps without a gap, the reboot is a new boot (bdSeq 1), the
// Last Will is an NDEATH that takes the node offline and the birth after
// it brings it back.
func TestSparkplugFormat(t *testing.T) {
	t.Parallel()
	s := sim.Scenario{
		Format: sim.FormatSparkplug, Duration: 40 * time.Second, Interval: 100 * time.Millisecond,
		Sites: []sim.SiteSpec{{Name: "a", Devices: 2}},
		Faults: []sim.FaultSpec{
			{Kind: sim.FaultReboot, Devices: []string{"a/wt-01"}, From: 10 * time.Second},
			{Kind: sim.FaultOffline, Devices: []string{"a/wt-02"}, From: 20 * time.Second, To: 25 * time.Second},
			{Kind: sim.FaultDuplicate, Devices: []string{"a/wt-02"}, From: 30 * time.Second, To: 31 * time.Second, Copies: 1},
		},
	}
	var msgs []sim.Message
	f, err := sim.New(sim.Config{Scenario: s, Speed: math.Inf(1), Start: testStart, Deliver: func(m sim.Message) { msgs = append(msgs, m) }}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Run(t.Context()))

	topics, err := ingest.NewTopics(ingest.DefaultTelemetryTopic, ingest.DefaultStatusTopic)
	require.NoError(t, err)
	topics = topics.WithSparkplug(true)
	spm, err := sparkplug.NewMetrics(nil)
	require.NoError(t, err)
	h := sparkplug.NewHost(ingest.Limits{}, spm)
	boots := map[string][]uint64{}
	var readings, offline, online int
	lastSeq := map[string]uint64{}
	for _, m := range msgs {
		kind, site, device, err := topics.Parse(m.Topic)
		require.NoError(t, err, m.Topic)
		require.True(t, strings.HasPrefix(m.Topic, "spBv1.0/a/"), m.Topic)
		r, err := h.Handle(&ingest.Message{Kind: kind, Site: site, Device: device, Payload: m.Payload, Received: m.At.UnixNano() + 1})
		require.NoError(t, err, "%s at %v", m.Topic, m.At)
		require.False(t, r.Stale, "%s at %v", m.Topic, m.At)
		switch kind {
		case ingest.TopicSpNBirth:
			boots[device] = append(boots[device], r.Boot)
			online++
		case ingest.TopicSpNDeath:
			require.Equal(t, sparkplug.StatusOffline, r.Status)
			offline++
		case ingest.TopicSpNData:
			require.Len(t, r.Readings, 1)
			require.Len(t, r.Readings[0].Metrics, 2)
			require.Equal(t, sim.MetricPower, r.Readings[0].Metrics[0].Name)
			if m.Faults.Has(sim.FaultDuplicate) && lastSeq[device] == r.Seq {
				continue
			}
			require.Equal(t, lastSeq[device]+1, r.Seq, "%s at %v: in order, across wraps", device, m.At)
			lastSeq[device] = r.Seq
			readings++
		}
		if kind == ingest.TopicSpNBirth {
			lastSeq[device] = 0
		}
	}
	require.Len(t, boots["a/wt-01"], 2, "start and reboot")
	require.Len(t, boots["a/wt-02"], 2, "start and the birth after the offline fault")
	require.Equal(t, 1, offline)
	require.Equal(t, 4, online)
	require.Greater(t, readings, 700)
	require.Greater(t, lastSeq["a/wt-01"], uint64(256), "seq wrapped")
}
