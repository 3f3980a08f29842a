package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"github.com/rollcall-iot/rollcall/sink/store"
)

const (
	// streamRetry is the reconnection delay a stream asks its client for
	// (the SSE retry field).
	streamRetry = 2 * time.Second
	// streamBatch bounds the aggregates read from the store per write.
	streamBatch = 256
)

// Event names of the stream.
const (
	// EventAggregate carries one aggregate (a new window or a revision).
	EventAggregate = "aggregate"
	// EventReset says that the client missed aggregates (StreamReset):
	// reload what it shows, e.g. from /api/v1/aggregates/latest.
	EventReset = "reset"
)

// StreamReset is the data of a reset event.
type StreamReset struct {
	// Reason is lagged (the client read too slowly), expired (its
	// Last-Event-ID is older than the store's backlog) or restarted (its
	// Last-Event-ID is from an earlier run of the process).
	Reason string `json:"reason"`
	// Lost is how many aggregates of any series were emitted and are no
	// longer in the backlog (at most: some may not match the filters); 0
	// when unknown (restarted).
	Lost uint64 `json:"lost"`
}

// eventID is the SSE id of the aggregate with sequence number seq:
// "<epoch>-<seq>", both in base 10.
func (s *Server) eventID(seq uint64) string {
	return strconv.FormatUint(s.deps.Store.Epoch(), 10) + "-" + strconv.FormatUint(seq, 10)
}

// parseEventID parses an id of eventID. ok is false when it is malformed.
func parseEventID(id string) (epoch, seq uint64, ok bool) {
	e, q, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	epoch, err1 := strconv.ParseUint(e, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	return epoch, seq, err1 == nil && err2 == nil
}

// handleStream serves /api/v1/aggregates/stream: Server-Sent Events, one
// "aggregate" event per aggregate the store takes (every window and every
// revision), with id "<epoch>-<seq>". A client that reconnects with
// Last-Event-ID (header, or the last_event_id parameter) first gets what
// it missed, while the store's backlog holds it; otherwise a "reset" event.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	group, metric, after, reset, e := s.streamParams(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	st := s.deps.Store
	if e := s.checkSeries(r.Context(), group, metric); e != nil {
		s.writeError(w, e)
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(streamRetry.Seconds())))
		s.refuse(w, &Error{
			Status: http.StatusTooManyRequests, Code: CodeTooManyStreams,
			Message: fmt.Sprintf("%d streams are open, the most allowed (http.max_streams)", s.cfg.MaxStreams),
		})
		return
	}
	sub, err := st.Subscribe()
	if err != nil {
		// Only when other users of the store hold MaxSubscribers.
		s.writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: err.Error()})
		return
	}
	defer sub.Close()
	s.m.streams.Inc()
	defer s.m.streams.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Compression would hold events back; proxies (nginx) must not buffer.
	h.Set(gzhttp.HeaderNoCompression, "1")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	sw := &streamWriter{s: s, w: w, rc: http.NewResponseController(w)}
	// The server's read timeout would end the stream: lift it. (Not
	// supported by test recorders, which have no deadlines anyway.)
	_ = sw.rc.SetReadDeadline(time.Time{})
	fmt.Fprintf(&sw.buf, "retry: %d\n\n", streamRetry.Milliseconds())
	if reset != nil {
		sw.reset(*reset, after)
	}
	s.pump(r.Context(), sw, sub, group, metric, after)
}

// pump sends the aggregates of group and metric after store sequence after
// (all when empty), in batches, then waits for more, until the client goes
// away, the server stops or a write fails.
func (s *Server) pump(ctx context.Context, sw *streamWriter, sub *store.Subscription, group, metric string, after uint64) {
	st := s.deps.Store
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	first := true
	for {
		entries, next, lost := st.Since(after, group, metric, streamBatch)
		if lost > 0 {
			reason := resetLagged
			if first {
				reason = resetExpired
			}
			sw.reset(StreamReset{Reason: reason, Lost: lost}, after+lost)
		}
		first = false
		for _, en := range entries {
			if err := sw.aggregate(en); err != nil {
				s.log.Error("encode stream event", "err", err)
				return
			}
		}
		after = next
		if err := sw.flush(); err != nil {
			return
		}
		if len(entries) == streamBatch {
			continue // more are waiting
		}
		select {
		case <-sub.C():
		case <-heartbeat.C:
			sw.buf.WriteString(": heartbeat\n\n")
		case <-ctx.Done():
			return
		case <-s.stopping:
			return
		}
	}
}

// streamParams parses the stream's parameters and Last-Event-ID: after is
// the store sequence to send from, and reset, when not nil, the reset event
// to send first.
func (s *Server) streamParams(r *http.Request) (group, metric string, after uint64, reset *StreamReset, e *Error) {
	v := r.URL.Query()
	if group, e = param(v, "group"); e != nil {
		return
	}
	if metric, e = param(v, "metric"); e != nil {
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		if lastID, e = param(v, "last_event_id"); e != nil {
			return
		}
	}
	st := s.deps.Store
	after = st.Seq()
	if lastID != "" {
		epoch, seq, ok := parseEventID(lastID)
		switch {
		case !ok:
			e = badParameter("Last-Event-ID", "%q is not an event id (<epoch>-<seq>)", lastID)
		case epoch != st.Epoch():
			reset = &StreamReset{Reason: resetRestarted}
		case seq > after:
			e = badParameter("Last-Event-ID", "%q is ahead of the stream", lastID)
		default:
			after = seq
		}
	}
	return group, metric, after, reset, e
}

// checkSeries answers 422 when group or metric is given and neither the
// store nor the engine knows it (or, both given, the group's metric). A
// stream may be opened for a group that has no window yet.
func (s *Server) checkSeries(ctx context.Context, group, metric string) *Error {
	if (group == "" && metric == "") || len(s.deps.Store.Latest(group, metric)) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	groups, err := s.deps.Engine.Groups(ctx)
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the engine did not answer: " + err.Error()}
	}
	groupKnown, metricKnown := s.deps.Store.Has(group, metric)
	for _, g := range groups {
		if g.Name == group {
			groupKnown = true
		}
		if slices.Contains(g.Metrics, metric) {
			metricKnown = true
			if group == "" || g.Name == group {
				return nil // the engine knows the series
			}
		}
		if metric == "" && g.Name == group {
			return nil
		}
	}
	switch {
	case group != "" && !groupKnown:
		return unknownGroup(group)
	case metric != "" && !metricKnown:
		return unknownMetric(metric)
	}
	return unknownMetricInGroup(group, metric)
}

// streamWriter buffers events and writes them with a deadline.
type streamWriter struct {
	s   *Server
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

func (sw *streamWriter) aggregate(e store.Entry) error {
	b, err := json.Marshal(e.Aggregate)
	if err != nil {
		return err
	}
	// JSON has no raw newlines, so one data line holds it.
	fmt.Fprintf(&sw.buf, "id: %s\nevent: %s\ndata: %s\n\n", sw.s.eventID(e.Seq), EventAggregate, b)
	sw.s.m.streamEvents.Inc()
	return nil
}

// reset writes a reset event whose id moves the client to seq.
func (sw *streamWriter) reset(r StreamReset, seq uint64) {
	b, _ := json.Marshal(r) // cannot fail
	fmt.Fprintf(&sw.buf, "id: %s\nevent: %s\ndata: %s\n\n", sw.s.eventID(seq), EventReset, b)
	sw.s.m.streamResets.WithLabelValues(r.Reason).Inc()
}

// flush writes what is buffered. A client that does not take it within
// Config.WriteTimeout is dropped.
func (sw *streamWriter) flush() error {
	if sw.buf.Len() == 0 {
		return nil
	}
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.s.cfg.WriteTimeout))
	_, err := sw.w.Write(sw.buf.Bytes())
	sw.buf.Reset()
	if err == nil {
		err = sw.rc.Flush()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sw.s.m.streamDrops.WithLabelValues(dropSlowClient).Inc()
	}
	return err
}
