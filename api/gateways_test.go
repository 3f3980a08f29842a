package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeCentral is a central tier's engine: the fake engine plus gateways.
type fakeCentral struct {
	*fakeEngine
	gws []GatewayInfo
}

func (f *fakeCentral) Gateways(context.Context) ([]GatewayInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.gws, nil
}

func centralEngine(err error) Engine {
	seen, lag := start(5), 1.5
	return &fakeCentral{fakeEngine: &fakeEngine{err: err}, gws: []GatewayInfo{
		{ID: "gw-a", State: "live", LastPartial: &seen, LagS: &lag, IntervalS: 10, Partials: 12, Groups: map[string]int{"site-a": 20}},
		{ID: "gw-b", State: "silent", IntervalS: 10, Groups: map[string]int{"site-a": 5}, Learned: true},
	}}
}

func TestGateways(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, fixture{})
	rec := do(s.Handler(), http.MethodGet, "/api/v1/gateways", nil)
	require.Equal(t, http.StatusNotFound, rec.Code, "a gateway has no gateways")
	require.Contains(t, rec.Body.String(), "not a central tier")

	c, _ := newServer(t, fixture{engine: centralEngine(nil)})
	rec = do(c.Handler(), http.MethodGet, "/api/v1/gateways", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var got GatewaysResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, got.Gateways, 2)
	require.Equal(t, "silent", got.Gateways[1].State)
	require.Equal(t, 20, got.Gateways[0].Groups["site-a"])
	require.WithinDuration(t, start(5), *got.Gateways[0].LastPartial, time.Nanosecond)
}
