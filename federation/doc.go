// Package federation is the central tier of a rollcall fleet (DESIGN.md §
// Federation): it runs (or joins) the NATS hub that gateways' embedded
// servers connect to as leaf nodes, creates for every gateway on its
// roster a JetStream stream that sources the gateway's partials stream
// across the gateway's JetStream domain, consumes those streams, and merges
// the partials per group, metric and window with aggregate.Partial.Merge.
// Each gateway is a device of the central tier: when one is silent past
// its rhythm, its devices count as missing, with bounds from the physics,
// until its partials arrive and revise the windows.
//
// JetStream does the moving and the store-and-forward: a partial a gateway
// stored locally reaches the central stream when the leaf link is up, and
// the central consumer acknowledges it only after the central tier's own
// checkpoint holds it.
package federation
