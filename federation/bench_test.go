package federation

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
	natssink "github.com/rollcall-iot/rollcall/sink/nats"
)

// nopEmitter discards the central aggregates.
type nopEmitter struct{}

func (nopEmitter) EmitPartial(aggregate.Aggregate, aggregate.Partial) {}

// BenchmarkMerge merges one round of windows from gateways × groups ×
// metrics partials (the target: 1,000 gateways × 10 groups × 4
// metrics every 10 s), each group served by one gateway with 10 devices.
// It reports partials merged per second and the merger's heap per gateway
// and per (group, metric) series after MaxWindows rounds.
func BenchmarkMerge(b *testing.B) {
	const gateways, groups, metrics, devices = 1000, 10, 4, 10
	msgs := make([]natssink.Message, 0, gateways*groups*metrics)
	for g := range gateways {
		for gr := range groups {
			for mt := range metrics {
				p := aggregate.NewPartial(fmt.Sprintf("site-%d-%d", g, gr), fmt.Sprintf("m%d", mt), 0, int64(10*time.Second))
				for d := range devices {
					v := float64(d)
					p.AddReported(v, v, v, false, 10, 0)
				}
				a := p.Finish(aggregate.FinishInfo{EmittedAt: t0, Final: true})
				msgs = append(msgs, natssink.NewMessage(fmt.Sprintf("gw-%d", g), a, &p))
			}
		}
	}
	m, err := NewMerger(MergerConfig{MaxListed: 100, MaxWindows: 6}, nopEmitter{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		shift := time.Duration(i) * 10 * time.Second
		for _, msg := range msgs {
			msg.Window.Start, msg.Window.End = msg.Window.Start.Add(shift), msg.Window.End.Add(shift)
			m.Add(msg, t0.Add(shift))
			n++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "partials/s")
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	b.ReportMetric(heap/gateways, "B/gateway")
	b.ReportMetric(heap/(gateways*groups*metrics), "B/series")
	runtime.KeepAlive(m)
}
