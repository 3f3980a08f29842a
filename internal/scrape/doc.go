// Package scrape reads a Prometheus /metrics page into a flat map of
// samples, for tests and benchmarks that check rollcall's counters from
// outside the process (gatewaytest, testserver.Rollcall, benche2e).
//
//	m, err := scrape.Get(ctx, nil, url+"/metrics")
//	accepted := m[`rollcall_messages_total{outcome="accepted"}`]
//
// The page is parsed with the text parser of prometheus/common's expfmt;
// each sample is keyed by its series as the text format spells it: the
// name alone, or name{label="value",...} with the labels sorted by name.
// A histogram gives name_bucket{...,le="..."}, name_sum and name_count; a
// summary name{...,quantile="..."}, name_sum and name_count. Get fails on
// an answer other than 200; Parse on a page expfmt does not accept.
package scrape
