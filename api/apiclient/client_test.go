package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/sink/store"
)

type noEngine struct{}

func (noEngine) Devices(context.Context, aggregate.DeviceFilter) ([]aggregate.DeviceInfo, error) {
	return []aggregate.DeviceInfo{}, nil
}
func (noEngine) Groups(context.Context) ([]aggregate.GroupInfo, error) { return nil, nil }

const token = "0123456789abcdef-token"

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// server serves n one-second windows of g/m from t0, window 5 with two
// revisions, behind token.
func server(t *testing.T, n int) string {
	t.Helper()
	st, err := store.New(store.Config{MaxWindows: n}, prometheus.NewRegistry())
	require.NoError(t, err)
	for i := range n {
		s := t0.Add(time.Duration(i) * time.Second)
		st.Add(aggregate.Aggregate{Group: "g", Metric: "m", Window: aggregate.Window{Start: s, End: s.Add(time.Second)}})
		if i == 5 {
			st.Add(aggregate.Aggregate{Group: "g", Metric: "m", Window: aggregate.Window{Start: s, End: s.Add(time.Second)}, Revision: 1})
		}
	}
	reg := prometheus.NewRegistry()
	s, err := api.New(api.Config{Token: token, Now: func() time.Time { return t0.Add(time.Hour) }},
		api.Deps{Store: st, Engine: noEngine{}, Gatherer: reg}, nil, reg)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHistoryFollowsCursors(t *testing.T) {
	t.Parallel()
	const n = 2500
	c, err := New(server(t, n), Options{Token: token})
	require.NoError(t, err)
	ctx := t.Context()

	all, err := c.History(ctx, HistoryQuery{Group: "g", Metric: "m", From: t0})
	require.NoError(t, err)
	require.Len(t, all, n, "three pages of at most 1000")
	for i, a := range all {
		require.True(t, t0.Add(time.Duration(i)*time.Second).Equal(a.Window.Start), "oldest first, no gap, no repeat: %d", i)
	}
	require.Equal(t, 1, all[5].Revision, "the latest revision")

	newest, err := c.History(ctx, HistoryQuery{Group: "g", Metric: "m", From: t0, Limit: 1500})
	require.NoError(t, err)
	require.Len(t, newest, 1500)
	require.True(t, t0.Add((n-1500)*time.Second).Equal(newest[0].Window.Start))

	revs, err := c.History(ctx, HistoryQuery{Group: "g", Metric: "m", From: t0, To: t0.Add(10 * time.Second), AllRevisions: true})
	require.NoError(t, err)
	require.Len(t, revs, 11)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	url := server(t, 10)
	c, err := New(url, Options{Token: token})
	require.NoError(t, err)
	_, err = c.History(t.Context(), HistoryQuery{Group: "x", Metric: "m"})
	var e *api.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusUnprocessableEntity, e.Status)
	require.Equal(t, api.CodeUnknownGroup, e.Code)

	_, err = c.Device(t.Context(), "nope/../x")
	require.ErrorAs(t, err, &e)
	require.Equal(t, api.CodeUnknownDevice, e.Code, "the id is escaped into one path segment")

	anon, err := New(url, Options{})
	require.NoError(t, err)
	_, err = anon.Groups(t.Context())
	require.ErrorAs(t, err, &e)
	require.Equal(t, api.CodeUnauthorized, e.Code)

	for _, bad := range []string{"localhost:8080", "ftp://x", "http://"} {
		_, err := New(bad, Options{})
		require.Error(t, err, bad)
	}
	_, err = New(url, Options{CAFile: "/does/not/exist"})
	require.Error(t, err)

	// Not JSON: a proxy's error page.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer plain.Close()
	p, err := New(plain.URL, Options{})
	require.NoError(t, err)
	_, err = p.Groups(t.Context())
	require.ErrorAs(t, err, &e)
	require.Equal(t, "http_502", e.Code)
	require.Equal(t, "bad gateway", e.Message)
	require.NotErrorIs(t, err, ErrTooMuchHistory)
}
