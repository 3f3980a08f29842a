package aggregate

import (
	"bytes"
	"context"
	"encoding/gob"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

const spFleet = `
defaults:
  interval: 1s
  metrics:
    power_kw: {min: 0, max: 100, device: mean, group: sum, impute: last}
groups:
  plant: {devices: ["edge:p1"]}
learn: {enabled: false}
`

// spEngine starts an engine over spFleet, restored from snap when it is
// not nil; stop stops it.
func spEngine(t *testing.T, snap *Snapshot) (e *Engine, stop func()) {
	t.Helper()
	f, err := staleness.ParseFleet([]byte(spFleet))
	require.NoError(t, err)
	e, err = New(Config{Shards: 3, Window: window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second}},
		staleness.NewRoster(f), &collector{}, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	if snap != nil {
		require.NoError(t, e.Restore(snap))
	}
	return e, runEngine(e)
}

func spMsg(kind ingest.TopicKind, device string, seq uint64, now time.Time, ms ...sim.SpMetric) ingest.Message {
	id := "plant/edge"
	if device != "" {
		id += ":" + device
	}
	return ingest.Message{
		Kind: kind, Site: "plant", Device: id, Received: now.UnixNano(),
		Payload: sim.AppendSpPayload(nil, uint64(now.UnixMilli()), seq, true, ms),
	}
}

// TestSparkplugCheckpoint: the node sessions are part of the snapshot, so
// after a restart a node's DATA resolves its aliases and continues its
// sequence without a rebirth; without them it would be no_birth.
func TestSparkplugCheckpoint(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	power := func(v float64) sim.SpMetric {
		return sim.SpMetric{Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Value: v}
	}
	e, stop := spEngine(t, nil)
	for _, m := range []ingest.Message{
		spMsg(ingest.TopicSpNBirth, "", 0, now, sim.SpMetric{Name: "bdSeq", Datatype: sim.SpInt64}),
		spMsg(ingest.TopicSpDBirth, "p1", 1, now, sim.SpMetric{Name: "power_kw", Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Null: true}),
		spMsg(ingest.TopicSpDData, "p1", 2, now.Add(time.Second), power(5)),
	} {
		require.NoError(t, e.Submit(ctx, m))
	}
	require.NoError(t, e.Settle(ctx))
	snap, err := e.Snapshot(ctx)
	require.NoError(t, err)
	stop()
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(snap))
	var restored Snapshot
	require.NoError(t, gob.NewDecoder(&buf).Decode(&restored))
	require.Len(t, restored.Sparkplug, 1)

	next := []ingest.Message{
		spMsg(ingest.TopicSpDData, "p1", 3, now.Add(2*time.Second), power(6)),
		spMsg(ingest.TopicSpDData, "p1", 2, now.Add(time.Second), power(5)), // a redelivery from before the restart
	}
	for _, tc := range []struct {
		name             string
		snap             *Snapshot
		accepted, dups   uint64
		rejectedNoBirths uint64
	}{
		{"restored", &restored, 2, 1, 0},
		{"without the snapshot", nil, 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, stop := spEngine(t, tc.snap)
			defer stop()
			for _, m := range next {
				require.NoError(t, e.Submit(ctx, m))
			}
			require.NoError(t, e.Settle(ctx))
			ds, err := e.Devices(ctx, DeviceFilter{ID: "plant/edge:p1"})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			require.Equal(t, tc.accepted, ds[0].Counts.Accepted)
			require.Equal(t, tc.dups, ds[0].Counts.Duplicates)
			require.Equal(t, tc.rejectedNoBirths, ds[0].Counts.Rejected[ingest.ReasonNoBirth])
		})
	}
}

// TestSparkplugRejects: the shard's own Sparkplug rejects are counted with
// their reasons: a device message before the node's birth (no_birth), a
// birth of a device the roster does not admit (unknown_device), DATA past
// the device's rate (rate_limited).
func TestSparkplugRejects(t *testing.T) {
	ctx := context.Background()
	f, err := staleness.ParseFleet([]byte(spFleet))
	require.NoError(t, err)
	cfg := Config{Shards: 2, Window: window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second}}
	cfg.Limits.DeviceBurst, cfg.Limits.DeviceRate = 1, 0.001
	e, err := New(cfg, staleness.NewRoster(f), &collector{}, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	defer runEngine(e)()
	now := time.Now()
	birth := sim.SpMetric{Name: "power_kw", Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Null: true}
	data := sim.SpMetric{Alias: 1, HasAlias: true, Datatype: sim.SpDouble, Value: 1}
	for _, m := range []ingest.Message{
		spMsg(ingest.TopicSpDBirth, "p1", 1, now, birth),
		spMsg(ingest.TopicSpNBirth, "", 0, now, sim.SpMetric{Name: "bdSeq", Datatype: sim.SpInt64}),
		spMsg(ingest.TopicSpDBirth, "zz", 1, now, birth),
		spMsg(ingest.TopicSpDBirth, "p1", 2, now, birth),
		spMsg(ingest.TopicSpDData, "p1", 3, now, data),
		spMsg(ingest.TopicSpDData, "p1", 4, now.Add(time.Millisecond), data),
	} {
		require.NoError(t, e.Submit(ctx, m))
	}
	require.NoError(t, e.Settle(ctx))
	for reason, want := range map[string]float64{ingest.ReasonNoBirth: 1, ingest.ReasonUnknownDevice: 1, ingest.ReasonRateLimited: 1} {
		require.Eventually(t, func() bool { return testutil.ToFloat64(e.m.rejected.WithLabelValues(reason)) == want },
			10*time.Second, 10*time.Millisecond, reason)
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(e.m.messages.WithLabelValues(OutcomeAccepted)) == 1 },
		10*time.Second, 10*time.Millisecond)
}
