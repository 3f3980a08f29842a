package ingestlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

// consumer is a fake Consumer: it keeps what it is given.
type consumer struct {
	mu        sync.Mutex
	submitted chan ingest.Message
	rejected  []ingest.Rejection
}

func newConsumer() *consumer { return &consumer{submitted: make(chan ingest.Message, 1024)} }

func (c *consumer) Submit(_ context.Context, m ingest.Message) error {
	c.submitted <- m
	return nil
}

func (c *consumer) Reject(r ingest.Rejection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejected = append(c.rejected, r)
}

func (c *consumer) rejections() []ingest.Rejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ingest.Rejection(nil), c.rejected...)
}

// start opens a Log in a temp dir and runs it until the test ends.
func start(t *testing.T, cfg Config, c Consumer, reg prometheus.Registerer) *Log {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := New(cfg, c, nil, reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, l.Close())
	})
	return l
}

func telemetry(payload []byte, ack func()) ingest.Message {
	return ingest.Message{
		Kind: ingest.TopicTelemetry, Site: "s", Device: "d", Payload: payload,
		Received: time.Now().UnixNano(), Ack: ack,
	}
}

// A record the journal can never take is rejected too_large and
// acknowledged; it does not block the messages behind it.
func TestRejectsOversizedRecord(t *testing.T) {
	c := newConsumer()
	l := start(t, Config{QueueLen: 16, CommitInterval: time.Millisecond}, c, prometheus.NewRegistry())
	acked := make(chan string, 2)
	big := bytes.Repeat([]byte("x"), journal.MaxRecordBytes+1)
	require.True(t, l.Offer(telemetry(big, func() { acked <- "big" })))
	ok := fmt.Appendf(nil, `{"ts":%d,"metrics":{"x":1}}`, time.Now().UnixMilli())
	require.True(t, l.Offer(telemetry(ok, func() { acked <- "ok" })))
	require.Equal(t, "big", <-acked)
	require.Equal(t, "ok", <-acked, "the message behind it went through")
	samples := c.rejections()
	require.Len(t, samples, 1)
	require.Equal(t, ingest.ReasonTooLarge, samples[0].Reason)
	require.Equal(t, uint64(1), l.j.LastIndex(), "only the good message is journaled")
	m := <-c.submitted
	require.Equal(t, uint64(1), m.Index)
	require.Nil(t, m.Ack, "acknowledged before it was handed over")
}

// A message is acknowledged only once its commit returned, and submitted
// after that; a round mark is committed before Record returns.
func TestAckAfterCommit(t *testing.T) {
	c := newConsumer()
	l := start(t, Config{}, c, prometheus.NewRegistry())
	committed := make(chan uint64, 1)
	m := telemetry([]byte(`{}`), func() {
		r, err := l.j.NewReader(1)
		if err == nil {
			defer func() { _ = r.Close() }()
			idx, _, err := r.Next()
			if err == nil {
				committed <- idx
			}
		}
	})
	require.True(t, l.OfferWait(m, time.Second))
	require.Equal(t, uint64(1), <-committed, "the record was committed when it was acknowledged")
	require.Equal(t, uint64(1), (<-c.submitted).Index)
	idx, err := l.Record(Mark{Seq: 1, Now: 42, Processed: []uint64{1}})
	require.NoError(t, err)
	require.Equal(t, uint64(2), idx)
	require.Equal(t, uint64(2), l.j.LastIndex())
}

// A full queue refuses: Offer at once, OfferWait after its bounded wait;
// both are counted.
func TestQueueFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := New(Config{Config: journal.Config{Dir: t.TempDir()}, QueueLen: 1}, newConsumer(), nil, reg)
	require.NoError(t, err)
	defer func() { _ = l.Close() }() // not running: nothing takes from the queue
	require.True(t, l.Room())
	require.True(t, l.Offer(telemetry(nil, nil)))
	require.False(t, l.Room())
	require.False(t, l.Offer(telemetry(nil, nil)))
	require.False(t, l.OfferWait(telemetry(nil, nil), time.Millisecond))
	require.Equal(t, 2.0, testutil.ToFloat64(l.m.queueFull))
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.queueWaits))
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.queueLen))
	require.Equal(t, 1.0, testutil.ToFloat64(l.m.queueCap))
}

// A full journal stops acknowledging, refuses round marks at once and says
// so in rollcall_journal_full{journal="ingest"}; Release (after a
// checkpoint) frees it and the waiting message goes through.
func TestFullJournalWaitsForRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newConsumer()
		reg := prometheus.NewRegistry()
		l, err := New(Config{Config: journal.Config{
			Dir: t.TempDir(), SegmentBytes: 4 << 10, MaxBytes: 8 << 10,
			BlockBytes: 1 << 10, Compression: journal.CompressionNone,
		}}, c, nil, reg)
		require.NoError(t, err)
		defer func() { _ = l.Close() }()
		// Fill the journal before the stage runs.
		payload := bytes.Repeat([]byte("x"), 1000)
		var last uint64
		for {
			idx, err := l.j.Append(encodeReading(telemetry(payload, nil)))
			if errors.Is(err, journal.ErrFull) {
				break
			}
			require.NoError(t, err)
			_, err = l.j.Commit()
			require.NoError(t, err)
			last = idx
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		acked := make(chan struct{}, 1)
		require.True(t, l.Offer(telemetry(payload, func() { acked <- struct{}{} })))
		synctest.Wait() // Run retries the append every RetryInterval

		require.True(t, l.Full())
		require.Equal(t, 1.0, testutil.ToFloat64(l.m.full))
		require.Positive(t, testutil.ToFloat64(l.m.writeErrs.WithLabelValues(OpAppend)))
		_, err = l.Record(Mark{Seq: 1})
		require.ErrorIs(t, err, ErrUnavailable)
		require.Empty(t, acked, "a message the journal could not take was acknowledged")

		require.NoError(t, l.Release(context.Background(), last, 0))
		<-acked
		require.Equal(t, last+1, (<-c.submitted).Index)
		require.False(t, l.Full())
		require.Equal(t, 0.0, testutil.ToFloat64(l.m.full))
		cancel()
		require.NoError(t, <-done)
	})
}

// Every journal metric carries journal="ingest"; the queue's do not.
func TestMetricLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	start(t, Config{QueueLen: 7}, newConsumer(), reg)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			var journalLabel string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "journal" {
					journalLabel = lp.GetValue()
				}
			}
			if strings.HasPrefix(mf.GetName(), "rollcall_journal_") {
				require.Equal(t, JournalLabel, journalLabel, mf.GetName())
			} else {
				require.Empty(t, journalLabel, mf.GetName())
			}
		}
	}
	for _, n := range []string{
		"rollcall_journal_full", "rollcall_journal_write_errors_total", "rollcall_journal_full_total",
		"rollcall_ingest_queue_length", "rollcall_ingest_queue_capacity", "rollcall_ingest_queue_full_total", "rollcall_ingest_queue_waits_total",
	} {
		require.True(t, names[n], n)
	}
	require.Equal(t, 7.0, gathered(t, reg, "rollcall_ingest_queue_capacity"))
}

// gathered returns the value of the unlabelled gauge name in g.
func gathered(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestConfigValidate(t *testing.T) {
	base := Config{Config: journal.Config{Dir: "d"}}.WithDefaults()
	require.NoError(t, base.Validate())
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"commit interval", func(c *Config) { c.CommitInterval = 2 * time.Second }, "commit_interval"},
		{"queue", func(c *Config) { c.QueueLen = -1 }, "queue_len"},
		{"batch", func(c *Config) { c.MaxBatch = -1 }, "max_batch"},
		{"journal", func(c *Config) { c.Sync = "sometimes" }, "sync"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			require.ErrorContains(t, c.Validate(), tt.want)
		})
	}
}
