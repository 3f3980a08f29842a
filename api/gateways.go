package api

import (
	"context"
	"net/http"
	"time"
)

// handlerGateways labels GET /api/v1/gateways.
const handlerGateways = "gateways"

// GatewayLister is what a central tier's Engine adds: its gateways
// (*federation.Merger implements it). A gateway's Engine does not, and
// /api/v1/gateways answers 404 there.
type GatewayLister interface {
	// Gateways returns every gateway on the roster, sorted by id.
	Gateways(ctx context.Context) ([]GatewayInfo, error)
}

// GatewayInfo is one gateway of a central tier.
type GatewayInfo struct {
	// ID is the gateway id (nats.gateway_id), its JetStream domain.
	ID string `json:"id"`
	// State is its liveness at the central tier: live, late, silent (dark:
	// its devices count as missing) or never_seen.
	State string `json:"state"`
	// LastPartial is when its newest partial arrived.
	LastPartial *time.Time `json:"last_partial,omitempty"`
	// LagS is the newest partial's arrival time minus its emission time.
	LagS *float64 `json:"lag_s,omitempty"`
	// IntervalS is its learned rhythm: one round of windows.
	IntervalS float64 `json:"interval_s"`
	// Phi is the liveness suspicion level.
	Phi float64 `json:"phi"`
	// Partials counts the partials merged or ignored since the central
	// tier started.
	Partials uint64 `json:"partials"`
	// Groups maps each group it reports to the devices it expects there
	// (the largest over the group's metrics).
	Groups map[string]int `json:"groups"`
	// Learned is true when it is not on federation.gateways.
	Learned bool `json:"learned"`
}

// GatewaysResponse is the body of GET /api/v1/gateways.
type GatewaysResponse struct {
	Gateways []GatewayInfo `json:"gateways"`
}

// handleGateways is GET /api/v1/gateways.
func (s *Server) handleGateways(w http.ResponseWriter, r *http.Request) {
	gl, ok := s.deps.Engine.(GatewayLister)
	if !ok {
		s.writeError(w, &Error{
			Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "not a central tier: /api/v1/gateways is served by rollcall --role central",
		})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	gws, err := gl.Gateways(ctx)
	if err != nil {
		s.engineError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, GatewaysResponse{Gateways: gws})
}
