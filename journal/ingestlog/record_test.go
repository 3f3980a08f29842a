package ingestlog

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/journal"
)

func TestRecordRoundTrip(t *testing.T) {
	m := ingest.Message{
		Kind: ingest.TopicStatus, Site: "site-a", Device: "site-a/wt-01", Payload: []byte("offline"),
		Received: -12345, Redelivered: true,
	}
	got, _, isMark, err := decodeRecord(7, encodeReading(m))
	require.NoError(t, err)
	require.False(t, isMark)
	m.Index = 7
	require.Equal(t, m, got)

	// A record journaled before a device was its identity (site/name)
	// comes back with the identity.
	old := m
	old.Device = "wt-01"
	got, _, _, err = decodeRecord(7, encodeReading(old))
	require.NoError(t, err)
	require.Equal(t, m, got)

	mark := Mark{Seq: 9, Now: 1_700_000_000_000_000_000, Processed: []uint64{3, 0, 1 << 40}}
	_, gotMark, isMark, err := decodeRecord(8, encodeMark(mark))
	require.NoError(t, err)
	require.True(t, isMark)
	require.Equal(t, mark, gotMark)
}

func TestDecodeMalformedRecord(t *testing.T) {
	reading := encodeReading(ingest.Message{Kind: ingest.TopicTelemetry, Site: "s", Device: "d", Payload: []byte("{}")})
	for _, tt := range []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{9, 1, 2}},
		{"reading cut in its header", reading[:2]},
		{"reading cut in its site", reading[:5]},
		{"mark without fields", []byte{recMark}},
		{"mark claiming too many shards", append([]byte{recMark, 1, 2}, 0xff, 0xff, 0x03)},
		{"mark cut in its positions", []byte{recMark, 1, 2, 3, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := decodeRecord(1, tt.rec)
			require.ErrorIs(t, err, ErrBadRecord)
		})
	}
}

// replayed is a fake Replayer.
type replayed struct {
	readings []ingest.Message
	marks    []Mark
	order    []string
}

func (r *replayed) Reading(m ingest.Message) {
	r.readings = append(r.readings, m)
	r.order = append(r.order, "reading")
}

func (r *replayed) Round(_ context.Context, m Mark) error {
	r.marks = append(r.marks, m)
	r.order = append(r.order, "round")
	return nil
}

// Replay hands over readings and marks in journal order, from the index
// asked for, and skips a malformed record.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(journal.Config{Dir: dir}, nil, nil)
	require.NoError(t, err)
	for _, rec := range [][]byte{
		encodeReading(ingest.Message{Kind: ingest.TopicTelemetry, Site: "s", Device: "a", Payload: []byte("1")}),
		encodeMark(Mark{Seq: 1, Processed: []uint64{1}}),
		{0xee}, // malformed
		encodeReading(ingest.Message{Kind: ingest.TopicTelemetry, Site: "s", Device: "b", Payload: []byte("2")}),
		encodeMark(Mark{Seq: 2, Processed: []uint64{4}}),
	} {
		_, err := j.Append(rec)
		require.NoError(t, err)
	}
	_, err = j.Commit()
	require.NoError(t, err)
	require.NoError(t, j.Close())

	l, err := New(Config{Config: journal.Config{Dir: dir}}, newConsumer(), nil, prometheus.NewRegistry())
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	var all replayed
	require.NoError(t, l.Replay(context.Background(), 0, &all))
	require.Equal(t, []string{"reading", "round", "reading", "round"}, all.order)
	require.Equal(t, uint64(4), all.readings[1].Index)
	require.Equal(t, "s/b", all.readings[1].Device)
	require.Equal(t, uint64(2), all.marks[1].Seq)

	var later replayed
	require.NoError(t, l.Replay(context.Background(), 4, &later))
	require.Equal(t, []string{"reading", "round"}, later.order)
}
