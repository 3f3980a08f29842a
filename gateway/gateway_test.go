package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/internal/testserver"
)

const itFleet = `
defaults:
  interval: 100ms
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum, impute: last}
groups:
  site-a: {devices: [a1, a2, a3]}
  site-b: {devices: [b1, b2]}
learn: {enabled: false}
`

// truth is what the test published, reduced independently of rollcall:
// per group and window start, each device's mean.
type truth struct {
	mu   sync.Mutex
	vals map[string]map[time.Time]map[string][]float64 // group → window → device → values
}

func (tr *truth) add(group, device string, ts time.Time, v float64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	w := ts.Truncate(time.Second)
	if tr.vals[group] == nil {
		tr.vals[group] = map[time.Time]map[string][]float64{}
	}
	if tr.vals[group][w] == nil {
		tr.vals[group][w] = map[string][]float64{}
	}
	tr.vals[group][w][device] = append(tr.vals[group][w][device], v)
}

// samples returns how many samples device sent in group's window w.
func (tr *truth) samples(group string, w time.Time, device string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.vals[group][w][device])
}

// window returns the reporting devices and the sum of their means.
func (tr *truth) window(group string, w time.Time) (devices map[string]bool, sum float64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	devices = map[string]bool{}
	for d, vs := range tr.vals[group][w] {
		var s float64
		for _, v := range vs {
			s += v
		}
		sum += s / float64(len(vs))
		devices[d] = true
	}
	return devices, sum
}

func TestIntegrationEmbeddedBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	runFleetScenario(t, "")
}

func TestIntegrationMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	m := testserver.Mosquitto(t)
	runFleetScenario(t, m.URL)
}

// runFleetScenario starts a gateway (embedded broker when mqttURL is
// empty), publishes five devices at 10 Hz where a3 stops after 1.5 s, and
// checks coverage, the missing device and the reported sums over the API.
func runFleetScenario(t *testing.T, mqttURL string) {
	gw := startSinkGateway(t, func(c *gateway.Config) { c.MQTT.URL = mqttURL })
	base := gw.URL

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(gw.MQTTURL).SetClientID("fleet-" + filepath.Base(gw.Config.DataDir)))
	tok := pub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer pub.Disconnect(100)

	tr := &truth{vals: map[string]map[time.Time]map[string][]float64{}}
	devices := map[string]string{"a1": "site-a", "a2": "site-a", "a3": "site-a", "b1": "site-b", "b2": "site-b"}
	start := time.Now()
	// Timestamps on an exact 100 ms grid (a tick the ticker drops would
	// otherwise be a hole in the devices' rhythm: a partial window).
	grid := start.Truncate(100 * time.Millisecond)
	// a3 stops halfway through the second full window.
	a3Stops := start.Truncate(time.Second).Add(2500 * time.Millisecond)
	var seq uint64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for now := range tick.C {
		if now.Sub(start) > 4*time.Second {
			break
		}
		seq++
		ts := grid.Add(time.Duration(seq) * 100 * time.Millisecond).UTC()
		i := 0
		for d, site := range devices {
			i++
			if d == "a3" && !ts.Before(a3Stops) {
				continue
			}
			v := float64(i*100) + float64(seq%7)
			p := fmt.Sprintf(`{"seq":%d,"boot":1,"ts":%q,"metrics":{"power_kw":%g}}`, seq, ts.Format(time.RFC3339Nano), v)
			pt := pub.Publish("fleet/"+site+"/"+d+"/telemetry", 1, false, p)
			require.True(t, pt.WaitTimeout(5*time.Second))
			require.NoError(t, pt.Error())
			tr.add(site, d, ts, v)
		}
	}
	last := time.Now().Truncate(time.Second)

	// Every window from the first full one up to the last complete one must
	// become final; then compare it with the truth.
	first := start.Truncate(time.Second).Add(time.Second)
	for _, group := range []string{"site-a", "site-b"} {
		var aggs []aggregate.Aggregate
		require.Eventually(t, func() bool {
			aggs = history(t, base, group)
			n := 0
			for _, a := range aggs {
				if a.Final && !a.Window.Start.Before(first) && a.Window.Start.Before(last.Add(-time.Second)) {
					n++
				}
			}
			return n >= int(last.Sub(first)/time.Second)-1
		}, 15*time.Second, 50*time.Millisecond, "final windows of %s", group)
		checked, partial := 0, 0
		for _, a := range aggs {
			if !a.Final || a.Window.Start.Before(first) || !a.Window.Start.Before(last.Add(-time.Second)) {
				continue
			}
			reporting, sum := tr.window(group, a.Window.Start)
			if a.Coverage.Reported != len(reporting) {
				for k, v := range gw.Metrics(t) {
					if strings.HasPrefix(k, "rollcall_messages") || strings.HasPrefix(k, "rollcall_journal_appended_records") {
						t.Log("metrics:", k, v)
					}
				}
				j, _ := json.Marshal(a)
				t.Log("aggregate:", string(j))
			}
			require.Equal(t, a.Coverage.Expected, map[string]int{"site-a": 3, "site-b": 2}[group], "%s %v", group, a.Window.Start)
			require.Equal(t, len(reporting), a.Coverage.Reported, "%s %v", group, a.Window.Start)
			require.InDelta(t, sum, float64(a.Stats.Sum.Reported), 1e-6, "%s %v", group, a.Window.Start)
			var missing []string
			for _, m := range a.Coverage.Missing {
				missing = append(missing, m.Device)
			}
			switch {
			case group == "site-a" && !reporting["a3"]:
				require.Equal(t, []string{"site-a/a3"}, missing, "a device is named by its identity, site/name")
				require.Contains(t, []string{"late", "silent"}, a.Coverage.Missing[0].State)
				require.Equal(t, aggregate.QualityUncertain, a.Quality)
				require.Greater(t, float64(a.Stats.Sum.Upper), float64(a.Stats.Sum.Reported))
			case group == "site-a" && tr.samples(group, a.Window.Start, "a3") < 10:
				// a3 stopped within this window: reported, but partially.
				require.Empty(t, missing)
				require.Equal(t, 1, a.Coverage.Partial, "%s %v", group, a.Window.Start)
				require.Equal(t, aggregate.QualityUncertain, a.Quality)
				require.Less(t, float64(a.Stats.Sum.Lower), float64(a.Stats.Sum.Reported))
				partial++
			default:
				require.Empty(t, missing)
				require.Equal(t, aggregate.QualityGood, a.Quality)
				require.Equal(t, a.Stats.Sum.Reported, a.Stats.Sum.Lower)
			}
			checked++
		}
		require.GreaterOrEqual(t, checked, 2, "windows checked for %s", group)
		if group == "site-a" {
			require.Equal(t, 1, partial, "a3 stops within one window, partially reported there")
		}
	}

	// The device API names a3 and its state.
	var dev aggregate.DeviceInfo
	require.Equal(t, http.StatusOK, get(t, base+"/api/v1/devices/site-a/a3", &dev))
	require.Equal(t, "site-a", dev.Group)
	require.Equal(t, "site-a/a3", dev.ID)
	require.Equal(t, "a3", dev.Name)
	require.Contains(t, []string{"late", "silent"}, dev.State)
	require.Equal(t, http.StatusNotFound, get(t, base+"/api/v1/devices/site-a/nope", nil))
	require.Contains(t, dev.Metrics, "power_kw")
}

func history(t *testing.T, base, group string) []aggregate.Aggregate {
	var out struct {
		Aggregates []aggregate.Aggregate `json:"aggregates"`
	}
	code := get(t, base+"/api/v1/aggregates?group="+group+"&metric=power_kw&limit=100", &out)
	if code != http.StatusOK {
		return nil
	}
	return out.Aggregates
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if into != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, into), string(b))
	}
	return resp.StatusCode
}
