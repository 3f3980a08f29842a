package ingestlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/internal/fakeclock"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/journal"
)

// slowReplayer takes a simulated second per reading and records what
// ReplayStatus says meanwhile.
type slowReplayer struct {
	l        *Log
	clk      *fakeclock.Clock
	readings int
	statuses []string
}

func (r *slowReplayer) Reading(ingest.Message) {
	r.readings++
	r.clk.Add(time.Second)
	st, ok := r.l.ReplayStatus()
	if ok {
		r.statuses = append(r.statuses, st)
	}
}

func (r *slowReplayer) Round(context.Context, Mark) error { return nil }

// A replay logs its progress (records, bytes, rate, time left) every
// journal.DefaultProgressInterval, says where it is in ReplayStatus while
// it runs, and logs its totals at the end.
func TestReplayProgress(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(journal.Config{Dir: dir}.WithDefaults(), nil, prometheus.NewRegistry())
	require.NoError(t, err)
	const n = 20
	for i := range n {
		_, err := j.Append(encodeReading(telemetry(fmt.Appendf(nil, `{"seq":%d}`, i), nil)))
		require.NoError(t, err)
	}
	_, err = j.Commit()
	require.NoError(t, err)
	require.NoError(t, j.Close())

	var logs testserver.LogBuffer
	clk := fakeclock.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	l, err := New(Config{Config: journal.Config{Dir: dir}, Now: clk.Now}, newConsumer(),
		slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	_, ok := l.ReplayStatus()
	require.False(t, ok, "no replay yet")
	r := &slowReplayer{l: l, clk: clk}
	require.NoError(t, l.Replay(context.Background(), 1, r))
	require.Equal(t, n, r.readings)
	_, ok = l.ReplayStatus()
	require.False(t, ok, "the replay is over")

	require.Len(t, r.statuses, n)
	require.Contains(t, r.statuses[0], "journal replay: 1 of 20 records (5%)")
	require.Contains(t, r.statuses[9], "journal replay: 10 of 20 records (50%)")
	require.Contains(t, r.statuses[9], "records/s, about 10s left")

	out := logs.String()
	// The clock moves a second per reading, after it is counted: lines at
	// the 6th, 11th and 16th record.
	require.Equal(t, 3, strings.Count(out, `msg="journal replay progress"`), out)
	require.Contains(t, out, "records=6 records_total=20")
	require.Contains(t, out, "records_per_second=1.2")
	require.Contains(t, out, "eta=12s", "14 records left at 6 in 5s")
	require.Contains(t, out, `msg="journal replay done" stage=journal records=20`)
	require.Contains(t, out, `msg="journal replayed"`)
}
