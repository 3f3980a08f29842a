package scenario

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall-iot/rollcall/aggregate"
	"github.com/rollcall-iot/rollcall/api"
	"github.com/rollcall-iot/rollcall/gateway"
	"github.com/rollcall-iot/rollcall/internal/testserver"
	"github.com/rollcall-iot/rollcall/sim"
)

// TestIntegrationSiteTwins is issue 13's identity test: two sites that
// both have turbines wt-01 … wt-05, as real fleets name them (numbering
// "site"). The twins publish the same seq numbers at nearly the same
// times, so a gateway that keyed devices by name would deduplicate one
// site's readings against the other's and mix their coverage.
//
// Checked against the simulator's truth: every final aggregate of both
// sites is complete and exact (sums, coverage 5 of 5); site-a/wt-01's
// duplicates are counted exactly and charged to it alone (site-b/wt-01 has
// none and accepted every reading); the API, InfluxDB (rollcall_device's
// device tag) and Prometheus (rollcall_devices by state) each show ten
// distinct devices.
func TestIntegrationSiteTwins(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenario); run without -short")
	}
	// Not parallel: it runs before the calibration's parallel scenarios,
	// which need the machine to themselves to keep to their schedule.
	influx := testserver.InfluxDB(t)
	s := fleet(t, "site-twins", 16*sec,
		sim.FaultSpec{Kind: sim.FaultDuplicate, Devices: one("site-a/wt-01")})
	for i := range s.Sites {
		s.Sites[i].Numbering = sim.NumberSite
	}
	require.NoError(t, s.Validate())
	groups, err := s.Groups()
	require.NoError(t, err)
	require.Equal(t, groups[0].Devices, groups[1].Devices, "both sites name their turbines wt-01 … wt-05")

	e := newEnv(t, s, func(c *gateway.Config) {
		c.Prom.Enabled = true
		c.Influx.Enabled = true
		c.Influx.URL, c.Influx.Database = influx.URL, influx.Database
		c.Influx.FlushInterval = 100 * time.Millisecond
		c.Influx.Devices.Interval = time.Second
	})
	prom := testserver.Prometheus(t, e.gw.Addr)
	r := e.run(false)
	w := newWire(t, r, e.cfg.Window.Size, e.futureLimit())

	rp := score(t, e, r, w)
	t.Log(rp)
	require.Positive(t, rp.finals)
	require.Equal(t, rp.finals, rp.complete, "every final window of both sites has all five devices")
	checkDevices(t, e, r, w)
	for _, site := range []string{"site-a", "site-b"} {
		a := latestFinal(t, r, site)
		require.Equal(t, 5, a.Coverage.Expected, "%s expects its own five", site)
		require.Equal(t, 5, a.Coverage.Reported, site)
	}

	f, ok := r.fault(sim.FaultDuplicate, "site-a/wt-01")
	require.True(t, ok)
	require.Positive(t, f.Messages)
	require.Equal(t, f.Messages, e.device("site-a/wt-01").Counts.Duplicates, "site-a/wt-01's duplicates, exactly")
	twin := e.device("site-b/wt-01")
	require.Zero(t, twin.Counts.Duplicates, "site-b/wt-01 is not site-a/wt-01's duplicate")
	require.Equal(t, uint64(len(w.readings["site-b/wt-01"])), twin.Counts.Accepted, "site-b/wt-01 accepted every reading it sent")
	require.Equal(t, "site-b", twin.Site)
	require.Equal(t, "wt-01", twin.Name)

	var want []string
	for _, g := range groups {
		for _, name := range g.Devices {
			want = append(want, sim.DeviceID(g.Name, name))
		}
	}
	slices.Sort(want)
	require.Len(t, want, 10)

	devs, err := e.api.Devices(t.Context(), "", "")
	require.NoError(t, err)
	var ids []string
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	require.Equal(t, want, ids, "the API shows ten distinct devices")

	require.Eventually(t, func() bool {
		rows, err := influx.Query(`SHOW TAG VALUES FROM "rollcall_device" WITH KEY = "device"`)
		if err != nil || len(rows) != len(want) {
			return false
		}
		var got []string
		for _, row := range rows {
			got = append(got, fmt.Sprint(row["value"]))
		}
		slices.Sort(got)
		return slices.Equal(want, got)
	}, 30*time.Second, 200*time.Millisecond, "InfluxDB's device tag holds ten distinct devices")

	prom.WaitTarget(e.gw.Addr)
	require.Eventually(t, func() bool {
		v, err := prom.Query(`sum(rollcall_devices)`)
		return err == nil && len(v) == 1 && v[0].Value == 10
	}, 30*time.Second, 250*time.Millisecond, "Prometheus counts ten devices")
	for _, site := range []string{"site-a", "site-b"} {
		v, err := prom.Query(fmt.Sprintf(`rollcall_group_devices_expected{group=%q,metric="power_kw"}`, site))
		require.NoError(t, err)
		require.Len(t, v, 1, site)
		require.Equal(t, 5.0, v[0].Value, "%s expects five devices in Prometheus", site)
	}
}

// latestFinal returns the newest final power_kw aggregate of group.
func latestFinal(t *testing.T, r *result, group string) aggregate.Aggregate {
	t.Helper()
	var out aggregate.Aggregate
	for _, w := range r.scored() {
		if w.Group != group || w.Metric != sim.MetricPower {
			continue
		}
		revs := r.revisions(group, w.Metric, w.Start)
		if n := len(revs); n > 0 && revs[n-1].Final && revs[n-1].Window.Start.After(out.Window.Start) {
			out = revs[n-1]
		}
	}
	require.True(t, out.Final, "%s has a final window", group)
	return out
}

// TestIntegrationSpoofRefusedByBroker: with per-device credentials
// (broker.auth.devices_file), every simulated device connects as itself,
// and the simulator's spoof fault makes site-a/wt-02 publish on
// site-a/wt-03's topic with its own credentials. The broker's ACL refuses
// those messages before rollcall sees them: site-a/wt-03 accepts exactly
// its own readings, nothing is rejected spoofed (rollcall never got the
// spoofed messages), and the other devices are counted as usual.
func TestIntegrationSpoofRefusedByBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (real-time scenario); run without -short")
	}
	// Not parallel (see TestIntegrationSiteTwins): ten device connections,
	// each with a JetStream session, are a load of their own.
	const spoofer, target = "site-a/wt-02", "site-a/wt-03"
	s := fleet(t, "spoof-auth", 10*sec,
		sim.FaultSpec{Kind: sim.FaultSpoof, Devices: one(spoofer), Target: target, From: 2 * sec})
	groups, err := s.Groups()
	require.NoError(t, err)
	passwords := map[string]string{}
	var devices strings.Builder
	for _, g := range groups {
		for _, name := range g.Devices {
			id := sim.DeviceID(g.Name, name)
			passwords[id] = "pw-" + name
			hash, err := bcrypt.GenerateFromPassword([]byte(passwords[id]), bcrypt.MinCost)
			require.NoError(t, err)
			fmt.Fprintf(&devices, "%s: %q\n", id, hash)
		}
	}
	devicesFile := filepath.Join(t.TempDir(), "devices.yaml")
	require.NoError(t, os.WriteFile(devicesFile, []byte(devices.String()), 0o600))

	e := newEnv(t, s, func(c *gateway.Config) { c.Broker.Auth.DevicesFile = devicesFile })
	e.passwords = passwords
	r := e.run(false)

	f, ok := r.fault(sim.FaultSpoof, spoofer)
	require.True(t, ok)
	require.Positive(t, f.Messages, "the spoofer published on its target's topic")
	own := map[string]int{}
	for _, m := range r.msgs {
		if m.Kind == sim.MessageTelemetry && !m.Faults.Has(sim.FaultSpoof) {
			own[m.Device]++
		}
	}
	require.Positive(t, own[target])
	d := e.device(target)
	require.Equal(t, uint64(own[target]), d.Counts.Accepted, "%s accepted its own readings and none of the spoofer's", target)
	require.Empty(t, d.Counts.Rejected, "the spoofed messages never reached rollcall")
	sp := e.device(spoofer)
	require.Empty(t, sp.Counts.Rejected)
	// A refused publish may cost the spoofer its connection (and a publish
	// in flight on it); its own readings are otherwise counted.
	require.InDelta(t, own[spoofer], sp.Counts.Accepted, float64(r.stats.Failed), "%s's own readings", spoofer)
	for _, id := range []string{"site-a/wt-01", "site-b/wt-06"} {
		require.Equal(t, uint64(own[id]), e.device(id).Counts.Accepted, id)
	}
	resp, err := http.Get(e.base + "/api/v1/rejects")
	require.NoError(t, err)
	defer resp.Body.Close()
	var rejects api.RejectsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rejects))
	require.Empty(t, rejects.Rejects, "rollcall rejected nothing: the broker kept the spoofed messages out")
}
