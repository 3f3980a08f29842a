package simtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/sim"
)

// Broker starts the embedded nats-server MQTT broker (the one rollcall
// embeds) on a free loopback port with its store in a temp dir, stops it in
// t.Cleanup, and returns its MQTT URL.
func Broker(t testing.TB) string {
	t.Helper()
	b, err := ingest.NewBroker(ingest.BrokerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("simtest: broker: %v", err)
	}
	t.Cleanup(b.Shutdown)
	return b.MQTTURL()
}

// Recorder subscribes to a broker and records every message it receives, in
// arrival order. Its methods are safe for concurrent use.
type Recorder struct {
	client mqtt.Client
	mu     sync.Mutex
	msgs   []sim.Message
}

// Record connects to url, subscribes to filter at QoS 1 and records until
// t's cleanup. Messages get Kind from their topic (a topic ending in
// "/status" is a birth when the payload is "online", else a will), Device
// the identity site/name from the topic's third- and second-to-last
// levels (the default templates), At from the arrival time. A Sparkplug
// topic (spBv1.0/{site}/{type}/{name}, as fleetsim's format sparkplug
// publishes) is a birth for NBIRTH, a will for NDEATH, and its Device is
// site/name.
func Record(t testing.TB, url, filter string) *Recorder {
	t.Helper()
	r := &Recorder{}
	r.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("simtest-recorder-%d", time.Now().UnixNano())).SetCleanSession(true))
	if tok := r.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("simtest: recorder: connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { r.client.Disconnect(250) })
	tok := r.client.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		msg := sim.Message{Topic: m.Topic(), Payload: slices.Clone(m.Payload()), QoS: m.Qos(), At: time.Now()}
		levels := strings.Split(m.Topic(), "/")
		if len(levels) >= 3 {
			msg.Device = sim.DeviceID(levels[len(levels)-3], levels[len(levels)-2])
		}
		if len(levels) == 4 && levels[0] == "spBv1.0" {
			msg.Device = sim.DeviceID(levels[1], levels[3])
			switch levels[2] {
			case "NBIRTH":
				msg.Kind = sim.MessageBirth
			case "NDEATH":
				msg.Kind = sim.MessageWill
			}
		}
		if strings.HasSuffix(m.Topic(), "/status") {
			msg.Kind = sim.MessageWill
			if string(m.Payload()) == sim.StatusOnline {
				msg.Kind = sim.MessageBirth
			}
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, msg)
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("simtest: recorder: subscribe %s: %v", filter, tok.Error())
	}
	return r
}

// Messages returns a copy of what was recorded so far.
func (r *Recorder) Messages() []sim.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Len returns how many messages were recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Telemetry is a decoded telemetry payload.
type Telemetry struct {
	Device  string             `json:"device"`
	Seq     uint64             `json:"seq"`
	Boot    uint64             `json:"boot"`
	TS      time.Time          `json:"ts"`
	Metrics map[string]float64 `json:"metrics"`
}

// Decode decodes a telemetry payload.
func Decode(payload []byte) (Telemetry, error) {
	var tm Telemetry
	err := json.Unmarshal(payload, &tm)
	return tm, err
}

// Recompute computes the truth windows from telemetry messages on topics
// fleet/{site}/{device}/telemetry, as the simulator does: per window (of
// size and offset), per device the mean of its samples, per site and metric
// the sum, mean, min and max over the devices (summed in device id order).
// Every message counts once, so give it the messages of a run without
// duplicates or replays. Status messages are skipped; a payload that does not
// decode is an error. The result is sorted by start, group and metric; no
// window is marked partial.
func Recompute(msgs []sim.Message, size, offset time.Duration) ([]sim.TruthWindow, error) {
	type key struct {
		start         int64
		group, metric string
	}
	type acc struct {
		sum float64
		n   int
	}
	devices := map[key]map[string]*acc{}
	for _, m := range msgs {
		if m.Kind != sim.MessageTelemetry {
			continue
		}
		levels := strings.Split(m.Topic, "/")
		if len(levels) != 4 || levels[3] != "telemetry" {
			return nil, fmt.Errorf("simtest: topic %q is not fleet/{site}/{device}/telemetry", m.Topic)
		}
		tm, err := Decode(m.Payload)
		if err != nil {
			return nil, fmt.Errorf("simtest: %s: %w", m.Topic, err)
		}
		k := tm.TS.UnixNano() - int64(offset)
		w := k / int64(size)
		if k%int64(size) < 0 {
			w--
		}
		for metric, v := range tm.Metrics {
			kk := key{w*int64(size) + int64(offset), levels[1], metric}
			if devices[kk] == nil {
				devices[kk] = map[string]*acc{}
			}
			a := devices[kk][levels[2]]
			if a == nil {
				a = &acc{}
				devices[kk][levels[2]] = a
			}
			a.sum += v
			a.n++
		}
	}
	var out []sim.TruthWindow
	for k, devs := range devices {
		w := sim.TruthWindow{
			Type: sim.TruthTypeWindow, Group: k.group, Metric: k.metric,
			Start: time.Unix(0, k.start).UTC(), End: time.Unix(0, k.start).UTC().Add(size),
			Min: math.Inf(1), Max: math.Inf(-1),
		}
		ids := make([]string, 0, len(devs))
		for id := range devs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			a := devs[id]
			v := a.sum / float64(a.n)
			w.Sum += v
			w.Min, w.Max = min(w.Min, v), max(w.Max, v)
			w.Devices++
			w.Samples += a.n
		}
		w.Mean = w.Sum / float64(w.Devices)
		out = append(out, w)
	}
	SortWindows(out)
	return out, nil
}

// SortWindows sorts truth windows by start, group and metric (a truth file
// lists the groups of a window in fleet order).
func SortWindows(ws []sim.TruthWindow) {
	slices.SortStableFunc(ws, func(a, b sim.TruthWindow) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Group, b.Group), cmp.Compare(a.Metric, b.Metric))
	})
}
