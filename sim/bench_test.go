package sim_test

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/rollcall-iot/rollcall/internal/testserver"
	. "github.com/rollcall-iot/rollcall/sim"
	"github.com/rollcall-iot/rollcall/sim/simtest"
)

// benchScenario is sites of 100 turbines at 1 Hz for 10 s, with 1 % of the
// devices duplicating and 1 % replaying.
func benchScenario(devices int) Scenario {
	return Scenario{
		Name: "bench", Duration: 10 * time.Second,
		Sites: []SiteSpec{{Name: "site-{i}", Count: devices / 100, Devices: 100}},
		Faults: []FaultSpec{
			{Kind: FaultDuplicate, Fraction: 0.01},
			{Kind: FaultReplay, Fraction: 0.01, From: 2 * time.Second, Every: 3 * time.Second},
		},
	}
}

// BenchmarkFleet measures the simulator alone: the schedule, the physics,
// the faults, the payloads and the truth, into a publisher that only counts.
func BenchmarkFleet(b *testing.B) {
	for _, devices := range []int{1000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			b.ReportAllocs()
			var msgs, bytes uint64
			cpu0 := cpuTime()
			cfg := Config{
				Scenario: benchScenario(devices), Speed: math.Inf(1), Start: testStart, Truth: io.Discard,
				Deliver: func(m Message) { msgs++; bytes += uint64(len(m.Payload)) },
			}
			for b.Loop() {
				f, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Run(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(bytes / uint64(b.N)))
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(msgs), "cpu-ns/msg")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkFleetMQTT measures the simulator publishing over paho to a real
// broker (the embedded nats-server, or mosquitto when installed) as fast as
// the connection takes it, with a subscriber that counts. msgs/s is the
// publish rate; delivered/s the rate at which the subscriber had them all.
func BenchmarkFleetMQTT(b *testing.B) {
	brokers := map[string]func(b *testing.B) string{
		"nats":      func(b *testing.B) string { return simtest.Broker(b) },
		"mosquitto": func(b *testing.B) string { return testserver.Mosquitto(b).URL },
	}
	for _, name := range []string{"nats", "mosquitto"} {
		for _, qos := range []byte{0, 1} {
			b.Run(fmt.Sprintf("broker=%s/qos=%d/devices=10000", name, qos), func(b *testing.B) {
				url := brokers[name](b)
				var got atomic.Uint64
				sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-sub"))
				if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
				defer sub.Disconnect(100)
				if tok := sub.Subscribe("fleet/#", qos, func(mqtt.Client, mqtt.Message) { got.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
				s := benchScenario(10_000)
				s.QoS = &qos
				var sent, lost uint64
				var publish time.Duration
				for b.Loop() {
					f, err := New(Config{BrokerURL: url, Scenario: s, Speed: math.Inf(1), Start: testStart}, nil)
					if err != nil {
						b.Fatal(err)
					}
					before := got.Load()
					start := time.Now()
					if err := f.Run(b.Context()); err != nil {
						b.Fatal(err)
					}
					publish += time.Since(start)
					st := f.Stats()
					sent += st.Sent
					deadline := time.Now().Add(30 * time.Second)
					for got.Load()-before < st.Sent && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					lost += st.Sent - min(st.Sent, got.Load()-before)
				}
				b.ReportMetric(float64(sent)/publish.Seconds(), "msgs/s")
				b.ReportMetric(float64(sent-lost)/b.Elapsed().Seconds(), "delivered/s")
				b.ReportMetric(float64(lost), "lost")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkFleetMemory measures the live heap of a running fleet, per device
// (plan, device state, models, pending events, the truth's sums).
func BenchmarkFleetMemory(b *testing.B) {
	for _, devices := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			var perDevice float64
			for b.Loop() {
				var before, during runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				n := 0
				f, err := New(Config{
					Scenario: benchScenario(devices), Speed: math.Inf(1), Start: testStart, Truth: io.Discard,
					Deliver: func(Message) {
						if n++; n == devices*3/2 {
							runtime.GC()
							runtime.ReadMemStats(&during)
						}
					},
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Run(b.Context()); err != nil {
					b.Fatal(err)
				}
				perDevice = float64(during.HeapAlloc-before.HeapAlloc) / float64(devices)
			}
			b.ReportMetric(perDevice, "bytes/device")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuTime returns the CPU time (user and system) of the process so far: a
// steadier measure than wall time on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
