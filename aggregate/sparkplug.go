package aggregate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/ingest/sparkplug"
)

// This file is the workers' side of Sparkplug B ingest: every message of an
// edge node and its devices comes to one shard (Engine.shardOf), whose
// sparkplug.Host keeps the node's session; the shard turns its results into
// liveness changes and readings through the same rules as JSON readings.

// initSparkplug registers the Sparkplug counters and gives each shard its
// host state.
func (e *Engine) initSparkplug(reg prometheus.Registerer) error {
	spm, err := sparkplug.NewMetrics(reg)
	if err != nil {
		return err
	}
	e.spm = spm
	for _, s := range e.shards {
		s.sp = sparkplug.NewHost(e.cfg.Limits.Limits, spm)
	}
	return nil
}

// handleSparkplug applies one Sparkplug message. Dedup judges the message
// once, by its node session's boot and extended seq; its readings (one per
// distinct metric timestamp) then each count with their own outcome, so
// that received stays the sum of the outcomes. Births and deaths count as
// status messages.
func (s *shard) handleSparkplug(m *ingest.Message) {
	if d := s.devices[m.Device]; d != nil && (m.Kind == ingest.TopicSpNData || m.Kind == ingest.TopicSpDData) &&
		!s.cfg.Limits.Allow(&d.rate, m.Received) {
		s.cnt.received++
		s.reject(d, m, ingest.ErrRateLimited)
		return
	}
	res, err := s.sp.Handle(m)
	if err != nil {
		s.cnt.received++
		s.reject(s.devices[m.Device], m, err)
		return
	}
	if res.Stale || res.Status != sparkplug.StatusNone {
		s.cnt.status++
	}
	if res.Stale {
		return
	}
	s.sparkplugStatus(m, res)
	if len(res.Readings) == 0 {
		return
	}
	d, err := s.device(m.Site, m.Device, res.TS)
	if err != nil {
		s.cnt.received++
		s.reject(nil, m, err)
		return
	}
	key := res.Readings[0]
	key.Boot, key.Seq, key.HasSeq, key.TS = res.Boot, res.Seq, res.HasSeq, res.TS
	if !s.fresh(d, &key, s.hop.Pane(res.Readings[0].TS)) {
		s.cnt.received++
		return
	}
	for i := range res.Readings {
		r := &res.Readings[i]
		r.Historical = res.Historical[i]
		s.cnt.received++
		s.admit(d, m, r, s.hop.Pane(r.TS))
	}
}

// sparkplugStatus applies a birth's or death's liveness change: a birth
// makes its device known and online (a node only when it reports metrics
// of its own, so that a node that only relays its devices is not expected
// to report), a death makes it and, for an NDEATH, the node's devices
// offline.
func (s *shard) sparkplugStatus(m *ingest.Message, res *sparkplug.Result) {
	switch res.Status {
	case sparkplug.StatusOnline:
		if m.Kind == ingest.TopicSpNBirth && len(res.Readings) == 0 && s.devices[m.Device] == nil {
			return
		}
		d, err := s.device(m.Site, m.Device, res.TS)
		if err != nil {
			s.cnt.received++
			s.reject(nil, m, err)
			return
		}
		d.live.SetStatus(true, m.Received)
	case sparkplug.StatusOffline:
		if d := s.devices[m.Device]; d != nil {
			d.live.SetStatus(false, m.Received)
		}
		for _, id := range res.Offline {
			if d := s.devices[id]; d != nil {
				d.live.SetStatus(false, m.Received)
			}
		}
	}
}
