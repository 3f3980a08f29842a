package benche2e

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Workload is the fleet the publisher plays: Devices devices spread over
// Sites sites, publishing in turn (device 0, 1, …, Devices-1, 0, …), each
// message the device's next seq with the wall clock as its event time.
type Workload struct {
	Devices, Sites int

	topics [][]byte // by device
	ids    []string // by device
	seq    []uint64 // by device
	next   int      // the device of the next message
}

// NewWorkload returns the workload of devices in sites (site-SSS,
// site-SSS-wt-DDD, as aggregate's BenchmarkPipeline).
func NewWorkload(devices, sites int) *Workload {
	w := &Workload{Devices: devices, Sites: sites, topics: make([][]byte, devices), ids: make([]string, devices), seq: make([]uint64, devices)}
	for d := range devices {
		site := fmt.Sprintf("site-%03d", d%sites)
		w.ids[d] = fmt.Sprintf("%s-wt-%03d", site, d/sites)
		w.topics[d] = []byte("fleet/" + site + "/" + w.ids[d] + "/telemetry")
	}
	return w
}

// Next appends the next message's payload to buf and returns its topic and
// the payload. The payload has the wire format of DESIGN.md plus the
// optional device field, about 136 bytes:
//
//	{"seq": 17, "boot": 3, "ts": "2026-11-22T10:00:07.123Z", "device": "site-042-wt-017", "metrics": {"power_kw": 1523.4, "wind_ms": 11.2}}
func (w *Workload) Next(buf []byte, now time.Time) (topic, payload []byte) {
	d := w.next
	w.next = (w.next + 1) % w.Devices
	w.seq[d]++
	seq := w.seq[d]
	buf = append(buf, `{"seq": `...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `, "boot": 3, "ts": "`...)
	buf = appendTS(buf, now)
	buf = append(buf, `", "device": "`...)
	buf = append(buf, w.ids[d]...)
	buf = append(buf, `", "metrics": {"power_kw": `...)
	// Values that move: 1000.0–2999.9 kW and 3.0–22.9 m/s.
	p := (uint64(d)*7919 + seq*104729) % 20000
	buf = appendTenths(buf, 10000+p)
	buf = append(buf, `, "wind_ms": `...)
	buf = appendTenths(buf, 30+(uint64(d)*31+seq*17)%200)
	buf = append(buf, "}}"...)
	return w.topics[d], buf
}

// appendTenths appends v/10 with one decimal.
func appendTenths(b []byte, v uint64) []byte {
	b = strconv.AppendUint(b, v/10, 10)
	return append(b, '.', byte('0'+v%10))
}

// appendTS appends t in UTC as RFC 3339 with milliseconds.
func appendTS(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// FleetFile returns a rollcall fleet file that lists every device in its
// site, with the two metrics and their physical envelope, expecting each
// device every interval.
func (w *Workload) FleetFile(interval time.Duration) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  interval: %s\n  metrics:\n", interval)
	b.WriteString("    power_kw: {min: 0, max: 3000, device: mean, group: sum, impute: last}\n")
	b.WriteString("    wind_ms: {min: 0, max: 60, device: mean, group: mean}\n")
	b.WriteString("groups:\n")
	for s := range w.Sites {
		fmt.Fprintf(&b, "  site-%03d:\n    devices: [", s)
		first := true
		for d := s; d < w.Devices; d += w.Sites {
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(w.ids[d])
		}
		b.WriteString("]\n")
	}
	b.WriteString("learn: {enabled: false}\n")
	return []byte(b.String())
}
