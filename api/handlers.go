package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/sink/store"
	"github.com/rollcall-iot/rollcall/staleness"
)

// Values of the revisions parameter.
const (
	RevisionsLatest = "latest"
	RevisionsAll    = "all"
)

// maxUnixSeconds is 9999-12-31T23:59:59Z, the last second RFC 3339 can
// write; larger Unix times are refused.
const maxUnixSeconds = 253402300799

// AggregatesResponse is the answer of /api/v1/aggregates: one page of a
// series' windows, oldest first.
type AggregatesResponse struct {
	Aggregates []aggregate.Aggregate `json:"aggregates"`
	// NextCursor, when present, fetches the page of older windows: repeat
	// the request with cursor=NextCursor.
	NextCursor string `json:"next_cursor,omitempty"`
}

// LatestResponse is the answer of /api/v1/aggregates/latest.
type LatestResponse struct {
	Aggregates []aggregate.Aggregate `json:"aggregates"`
	// LastEventID is the stream position of this answer: a stream opened
	// with it as Last-Event-ID sends every aggregate emitted after it.
	LastEventID string `json:"last_event_id"`
}

// RejectsResponse is the answer of /api/v1/rejects.
type RejectsResponse struct {
	// Rejects are recent rejected messages, oldest first.
	Rejects []aggregate.RejectSample `json:"rejects"`
	// NotSampled counts rejections since start that were counted but not
	// kept as samples (the sample is rate-limited).
	NotSampled uint64 `json:"not_sampled"`
}

// DevicesResponse is the answer of /api/v1/devices.
type DevicesResponse struct {
	Devices []aggregate.DeviceInfo `json:"devices"`
}

// GroupsResponse is the answer of /api/v1/groups.
type GroupsResponse struct {
	Groups []GroupStatus `json:"groups"`
}

// GroupStatus is one group's roster with the coverage of its newest window
// per metric, keyed by metric. A metric with no window in the store yet has
// no entry.
type GroupStatus struct {
	aggregate.GroupInfo
	Coverage map[string]MetricCoverage `json:"coverage"`
	// MetricStats names, per metric of Metrics, the group statistic the
	// fleet file chose for it (sum, mean, min, max, count): the one to
	// show first.
	MetricStats map[string]string `json:"metric_stats"`
}

// MetricCoverage is the coverage of one metric's newest window in a group.
type MetricCoverage struct {
	Expected    int               `json:"expected"`
	Reported    int               `json:"reported"`
	Partial     int               `json:"partial"`
	Ratio       aggregate.Num     `json:"ratio"`
	Quality     aggregate.Quality `json:"quality"`
	WindowStart time.Time         `json:"window_start"`
}

// statusBody is the answer of /healthz and of a ready /readyz.
type statusBody struct {
	Status string `json:"status"`
}

func (s *Server) handleAggregates(w http.ResponseWriter, r *http.Request) {
	q, hash, e := s.historyQuery(r.URL.Query())
	if e != nil {
		if e.Code == CodeRangeTooLarge || e.Code == CodeLimitTooLarge {
			s.refuse(w, e)
		} else {
			s.writeError(w, e)
		}
		return
	}
	aggs, more, err := s.deps.Store.HistoryPage(q)
	switch {
	case errors.Is(err, store.ErrUnknownSeries):
		s.writeError(w, s.unknownSeries(q.Group, q.Metric))
		return
	case err != nil:
		s.log.Error("store history", "group", q.Group, "metric", q.Metric, "err", err)
		s.writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "store query failed"})
		return
	}
	out := AggregatesResponse{Aggregates: aggs}
	if more && len(aggs) > 0 {
		out.NextCursor = cursor{V: cursorVersion, Q: hash, From: unixNano(q.From), To: aggs[0].Window.Start.UnixNano()}.String()
	}
	s.writeJSON(w, http.StatusOK, out)
}

// historyQuery parses the parameters of /api/v1/aggregates. hash
// identifies the query for its cursors.
func (s *Server) historyQuery(v url.Values) (q store.Query, hash uint64, e *Error) {
	if q.Group, e = required(v, "group"); e != nil {
		return q, 0, e
	}
	if q.Metric, e = required(v, "metric"); e != nil {
		return q, 0, e
	}
	if q.From, e = timeParam(v, "from"); e != nil {
		return q, 0, e
	}
	if q.To, e = timeParam(v, "to"); e != nil {
		return q, 0, e
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To) {
		return q, 0, badParameter("from", "%s is after to %s", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	}
	limit, e := param(v, "limit")
	if e != nil {
		return q, 0, e
	}
	q.Limit = s.cfg.DefaultLimit
	if limit != "" {
		n, err := strconv.Atoi(limit)
		switch {
		case err != nil:
			return q, 0, badParameter("limit", "%q is not an integer", limit)
		case n < 1:
			return q, 0, badParameter("limit", "%d must be positive", n)
		case n > s.cfg.MaxLimit:
			return q, 0, &Error{
				Status: http.StatusBadRequest, Code: CodeLimitTooLarge,
				Message: fmt.Sprintf("parameter \"limit\": %d exceeds the maximum of %d (http.max_limit)", n, s.cfg.MaxLimit),
			}
		}
		q.Limit = n
	}
	q.MaxPoints = s.cfg.MaxLimit
	revs, e := param(v, "revisions")
	if e != nil {
		return q, 0, e
	}
	switch revs {
	case "", RevisionsLatest:
	case RevisionsAll:
		q.AllRevisions = true
	default:
		return q, 0, badParameter("revisions", "%q is neither %q nor %q", revs, RevisionsLatest, RevisionsAll)
	}
	curs, e := param(v, "cursor")
	if e != nil {
		return q, 0, e
	}
	hash = queryHash(q.Group, q.Metric, v.Get("from"), v.Get("to"), revs)
	if curs != "" {
		c, e := parseCursor(curs, hash)
		if e != nil {
			return q, 0, e
		}
		q.From, q.To = fromUnixNano(c.From), fromUnixNano(c.To)
		return q, hash, nil
	}
	// The range: to − from, with an open to counting from now. A query
	// without from covers MaxRange.
	end := q.To
	if end.IsZero() {
		end = s.cfg.Now()
	}
	if q.From.IsZero() {
		q.From = end.Add(-s.cfg.MaxRange)
	} else if span := end.Sub(q.From); span > s.cfg.MaxRange {
		return q, 0, &Error{
			Status: http.StatusBadRequest, Code: CodeRangeTooLarge,
			Message: fmt.Sprintf("from %s to %s spans %v, more than %v (http.max_range)",
				q.From.Format(time.RFC3339), end.Format(time.RFC3339), span.Round(time.Second), s.cfg.MaxRange),
		}
	}
	return q, hash, nil
}

func (s *Server) handleAggregatesLatest(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	group, e := param(v, "group")
	if e != nil {
		s.writeError(w, e)
		return
	}
	metric, e := param(v, "metric")
	if e != nil {
		s.writeError(w, e)
		return
	}
	aggs, seq := s.deps.Store.LatestSeq(group, metric)
	if len(aggs) == 0 && (group != "" || metric != "") {
		groupKnown, metricKnown := s.deps.Store.Has(group, metric)
		switch {
		case group != "" && !groupKnown:
			s.writeError(w, unknownGroup(group))
			return
		case metric != "" && !metricKnown:
			s.writeError(w, unknownMetric(metric))
			return
		case group != "" && metric != "":
			s.writeError(w, unknownMetricInGroup(group, metric))
			return
		}
	}
	s.writeJSON(w, http.StatusOK, LatestResponse{Aggregates: aggs, LastEventID: s.eventID(seq)})
}

// unknownSeries says which of group and metric the store does not know.
func (s *Server) unknownSeries(group, metric string) *Error {
	groupKnown, metricKnown := s.deps.Store.Has(group, metric)
	switch {
	case !groupKnown:
		return unknownGroup(group)
	case !metricKnown:
		return unknownMetric(metric)
	}
	return unknownMetricInGroup(group, metric)
}

func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	state, e := param(v, "state")
	if e != nil {
		s.writeError(w, e)
		return
	}
	if state != "" && state != aggregate.StateReplaying && !slices.Contains(staleness.States, staleness.State(state)) {
		names := make([]string, len(staleness.States), len(staleness.States)+1)
		for i, st := range staleness.States {
			names[i] = string(st)
		}
		names = append(names, aggregate.StateReplaying)
		s.writeError(w, badParameter("state", "%q is not one of %s", state, strings.Join(names, ", ")))
		return
	}
	group, e := param(v, "group")
	if e != nil {
		s.writeError(w, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	devs, err := s.deps.Engine.Devices(ctx, aggregate.DeviceFilter{State: state, Group: group})
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	if len(devs) == 0 && group != "" {
		// Tell a group without matching devices from a typo.
		groups, err := s.deps.Engine.Groups(ctx)
		if err != nil {
			s.engineError(w, r, err)
			return
		}
		if !slices.ContainsFunc(groups, func(g aggregate.GroupInfo) bool { return g.Name == group }) {
			s.writeError(w, unknownGroup(group))
			return
		}
	}
	if devs == nil {
		devs = []aggregate.DeviceInfo{}
	}
	s.writeJSON(w, http.StatusOK, DevicesResponse{Devices: devs})
}

func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	// A device is addressed by its fleet-wide identity, site/device
	// (DESIGN.md § Identity and security): two path segments.
	id := r.PathValue("site") + "/" + r.PathValue("device")
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	devs, err := s.deps.Engine.Devices(ctx, aggregate.DeviceFilter{ID: id})
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	for _, d := range devs {
		if d.ID == id {
			s.writeJSON(w, http.StatusOK, d)
			return
		}
	}
	s.writeError(w, &Error{Status: http.StatusNotFound, Code: CodeUnknownDevice, Message: "unknown device " + strconv.Quote(id)})
}

func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	groups, err := s.deps.Engine.Groups(ctx)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	cov := map[string]map[string]MetricCoverage{}
	for _, a := range s.deps.Store.Latest("", "") {
		if cov[a.Group] == nil {
			cov[a.Group] = map[string]MetricCoverage{}
		}
		cov[a.Group][a.Metric] = MetricCoverage{
			Expected:    a.Coverage.Expected,
			Reported:    a.Coverage.Reported,
			Partial:     a.Coverage.Partial,
			Ratio:       aggregate.Num(a.Coverage.Ratio),
			Quality:     a.Quality,
			WindowStart: a.Window.Start,
		}
	}
	out := GroupsResponse{Groups: make([]GroupStatus, 0, len(groups))}
	for _, g := range groups {
		c := cov[g.Name]
		if c == nil {
			c = map[string]MetricCoverage{}
		}
		stats := map[string]string{}
		if s.deps.MetricStat != nil {
			for _, m := range g.Metrics {
				stats[m] = s.deps.MetricStat(m)
			}
		}
		out.Groups = append(out.Groups, GroupStatus{GroupInfo: g, Coverage: c, MetricStats: stats})
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRejects(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	reason, e := param(v, "reason")
	if e != nil {
		s.writeError(w, e)
		return
	}
	device, e := param(v, "device")
	if e != nil {
		s.writeError(w, e)
		return
	}
	out := RejectsResponse{Rejects: []aggregate.RejectSample{}}
	if s.deps.Rejects != nil {
		var all []aggregate.RejectSample
		all, out.NotSampled = s.deps.Rejects()
		for _, rj := range all {
			if (reason == "" || rj.Reason == reason) && (device == "" || rj.Device == device) {
				out.Rejects = append(out.Rejects, rj)
			}
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.deps.Ready != nil {
		if err := s.deps.Ready(); err != nil {
			s.writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: err.Error()})
			return
		}
	}
	s.writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
}

// param returns the value of the query parameter name, "" when it is absent.
func param(v url.Values, name string) (string, *Error) {
	switch vs := v[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", badParameter(name, "given %d times", len(vs))
	}
}

// required returns the value of the query parameter name, which must be
// present and not empty.
func required(v url.Values, name string) (string, *Error) {
	s, e := param(v, name)
	if e == nil && s == "" {
		e = missingParameter(name)
	}
	return s, e
}

// timeParam parses the query parameter name as RFC 3339 or as Unix seconds
// (with up to 9 decimals); absent or empty is the zero time.
func timeParam(v url.Values, name string) (time.Time, *Error) {
	s, e := param(v, name)
	if e != nil || s == "" {
		return time.Time{}, e
	}
	if t, ok, e := parseUnix(name, s); ok {
		return t, e
	}
	// An unescaped "+" of a zone offset arrives as a space; RFC 3339 never
	// has one.
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
	if err != nil {
		return time.Time{}, badParameter(name, "%q is neither RFC 3339 nor Unix seconds", s)
	}
	return t, nil
}

// parseUnix parses s as Unix seconds, digits with an optional fraction of
// up to 9 digits. ok is false when s does not look like a number.
func parseUnix(name, s string) (t time.Time, ok bool, e *Error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if !digits(whole) || hasFrac && !digits(frac) {
		return time.Time{}, false, nil
	}
	if len(frac) > 9 {
		return time.Time{}, true, badParameter(name, "%q has more than 9 decimals", s)
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec > maxUnixSeconds {
		return time.Time{}, true, badParameter(name, "%q is out of range", s)
	}
	var nsec int64
	if frac != "" {
		nsec, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Unix(sec, nsec).UTC(), true, nil
}

// digits reports whether s is a non-empty string of ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
