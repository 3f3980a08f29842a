package aggregate

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
	"github.com/rollcall-iot/rollcall/window"
)

// scripted is a message with the offset (from the start) at which it is
// received; its index is its position in the script, as a journal's would be.
type scripted struct {
	at time.Duration
	m  ingest.Message
}

// script builds a stream with duplicates, a silent device, a partition that
// flushes late (a revision) and a replay.
func script(t0 time.Time) []scripted {
	var out []scripted
	add := func(at time.Duration, d string, seq uint64, ts time.Time, v float64) {
		p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%d,"metrics":{"power_kw":%g,"energy_kwh":%d}}`, seq, ts.UnixMilli(), v, seq)
		out = append(out, scripted{at, ingest.Message{Kind: ingest.TopicTelemetry, Site: "site-a", Device: "site-a/" + d, Payload: []byte(p), Index: uint64(len(out) + 1)}})
	}
	for i := range 60 {
		// Off the 50 ms emit ticks, so which round sees a reading does not
		// depend on goroutine scheduling at a tie.
		at := time.Duration(i)*time.Second + 7*time.Millisecond
		ts := t0.Add(at)
		add(at, "d1", uint64(i+1), ts, float64(10+i%7))
		if i%5 == 0 {
			add(at, "d1", uint64(i+1), ts, float64(10+i%7)) // QoS 1 redelivery
		}
		if i < 12 || i >= 27 {
			add(at, "d2", uint64(i+1), ts, float64(20+i%3)) // partitioned 12..26 s
		}
		if i == 27 {
			for k := 12; k < 27; k++ { // the flush
				add(at, "d2", uint64(k+1), t0.Add(time.Duration(k)*time.Second), float64(20+k%3))
			}
		}
		if i < 15 {
			add(at, "d3", uint64(i+1), ts, 30) // silent from 15 s
		}
		if i == 30 || i == 33 {
			add(at, "d1", 2, t0.Add(time.Second), 11) // an old message again
		}
	}
	return out
}

func newTestEngine(t *testing.T, c *collector) *Engine {
	f, err := staleness.ParseFleet([]byte(testFleet))
	require.NoError(t, err)
	e, err := New(Config{
		Shards: 2,
		Window: window.Config{Size: 10 * time.Second, AllowedLateness: 20 * time.Second, AllowedSkew: 2 * time.Second},
	}, staleness.NewRoster(f), c, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	return e
}

func runEngine(e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// finals returns the final aggregates, by window then metric.
func (c *collector) finals() []Aggregate {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Aggregate
	for _, a := range c.all {
		if a.Final {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Aggregate) int {
		if c := a.Window.Start.Compare(b.Window.Start); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.Metric), []byte(b.Metric))
	})
	return out
}

// journalSim is the test's stand-in for the ingest journal: readings in the
// order they were submitted and round marks in the order they ran.
type journalSim struct {
	mu      sync.Mutex
	entries []any // ingest.Message or RoundMark
}

func (j *journalSim) add(x any) {
	j.mu.Lock()
	j.entries = append(j.entries, x)
	j.mu.Unlock()
}

// A crash after a checkpoint, then restore + journal replay, gives exactly
// the aggregates of an uninterrupted run: values, bounds, counts, coverage
// and revision numbers.
func TestSnapshotRestoreReplayEqualsUninterrupted(t *testing.T) {
	feed := func(e *Engine, j *journalSim, msgs []scripted, t0 time.Time, from, to time.Duration) {
		for _, s := range msgs {
			if s.at < from || s.at >= to {
				continue
			}
			time.Sleep(time.Until(t0.Add(s.at)))
			m := s.m
			m.Received = time.Now().UnixNano()
			if j != nil {
				j.add(m) // journaled before it is handled
			}
			require.NoError(t, e.Submit(context.Background(), m))
		}
	}
	const end = 100 * time.Second

	var want []Aggregate
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		msgs := script(t0)
		c := &collector{}
		e := newTestEngine(t, c)
		stop := runEngine(e)
		feed(e, nil, msgs, t0, 0, end)
		time.Sleep(time.Until(t0.Add(end)))
		synctest.Wait()
		stop()
		want = latest(c.finals())
	})
	require.GreaterOrEqual(t, len(want), 10, "the reference run finalised its windows")

	var got []Aggregate
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		msgs := script(t0)
		c := &collector{}
		j := &journalSim{}
		e := newTestEngine(t, c)
		e.SetRecorder(func(m RoundMark) (uint64, error) { j.add(m); return 0, nil })
		stop := runEngine(e)
		const checkpointAt, crashAt = 18500 * time.Millisecond, 29 * time.Second
		feed(e, j, msgs, t0, 0, checkpointAt)
		synctest.Wait()
		snap, err := e.Snapshot(context.Background())
		require.NoError(t, err)
		var buf bytes.Buffer // through the checkpoint file's encoding
		require.NoError(t, gob.NewEncoder(&buf).Encode(snap))
		feed(e, j, msgs, t0, checkpointAt, crashAt) // handled, then lost in the crash
		synctest.Wait()
		stop()

		var restored Snapshot
		require.NoError(t, gob.NewDecoder(&buf).Decode(&restored))
		e2 := newTestEngine(t, c)
		require.NoError(t, e2.Restore(&restored))
		e2.SetRecorder(func(m RoundMark) (uint64, error) { j.add(m); return 0, nil })
		e2.Hold()
		// Restart on the emit tick grid, so the restarted engine's rounds
		// fall where the uninterrupted one's do.
		time.Sleep(time.Until(time.Now().Truncate(50 * time.Millisecond).Add(50 * time.Millisecond)))
		stop2 := runEngine(e2)
		rp := e2.NewReplayer()
		rounds := 0
		for _, x := range slices.Clone(j.entries) {
			switch x := x.(type) {
			case ingest.Message:
				rp.Reading(x)
			case RoundMark:
				if x.Seq > restored.RoundSeq {
					rounds++
				}
				require.NoError(t, rp.Round(context.Background(), x))
			}
		}
		require.NoError(t, rp.Finish(context.Background()))
		e2.Release()
		require.Greater(t, rounds, 100, "rounds between the checkpoint and the crash were replayed")
		feed(e2, j, msgs, t0, crashAt, end)
		time.Sleep(time.Until(t0.Add(end)))
		synctest.Wait()
		stop2()
		got = latest(c.finals())
	})
	require.Len(t, got, len(want))
	for i := range want {
		// As JSON: NaN (unknown) never equals itself, null does.
		wj, err := json.Marshal(want[i])
		require.NoError(t, err)
		gj, err := json.Marshal(got[i])
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "final %d: %s %v", i, want[i].Metric, want[i].Window.Start)
	}
}

// latest keeps the last of the aggregates with the same window and metric.
func latest(as []Aggregate) []Aggregate {
	var out []Aggregate
	for _, a := range as {
		if n := len(out); n > 0 && out[n-1].Metric == a.Metric && out[n-1].Window.Start.Equal(a.Window.Start) {
			out[n-1] = a
			continue
		}
		out = append(out, a)
	}
	return out
}
