package aggregate

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/staleness"
)

const retireFleet = `
defaults:
  interval: 1s
  metrics:
    power_kw: {min: 0, max: 100, device: mean, group: sum, impute: last}
learn: {enabled: true, retire_after: 5s, max_retired: 2}
`

// A learned device that stops is retired after learn.retire_after: it
// leaves the roster (not expected), is reported retired (API and gauge)
// while at most learn.max_retired are kept, and is learned anew when it
// comes back.
func TestEngineLearnedDeviceRetires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarnessFleet(t, 1, retireFleet, nil)
		ctx := context.Background()
		t0 := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
		time.Sleep(time.Until(t0))
		// x1 stops at 0 s, x2 at 2 s, x3 at 4 s: they retire in that order.
		for i := range 5 {
			ts := t0.Add(time.Duration(i) * time.Second)
			time.Sleep(time.Until(ts))
			for _, d := range []string{"x1", "x2", "x3"}[i/2:] {
				h.send(d, ts, 10)
			}
		}
		time.Sleep(time.Until(t0.Add(12 * time.Second)))
		synctest.Wait()
		require.Equal(t, 3.0, testutil.ToFloat64(h.e.m.retired))
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.forgotten), "max_retired 2: the oldest retirement is forgotten")
		require.Equal(t, 2.0, testutil.ToFloat64(h.e.m.devices.WithLabelValues(string(staleness.StateRetired))))
		ds, err := h.e.Devices(ctx, DeviceFilter{State: string(staleness.StateRetired)})
		require.NoError(t, err)
		require.Len(t, ds, 2)
		require.Equal(t, []string{"site-a/x2", "site-a/x3"}, []string{ds[0].ID, ds[1].ID})
		require.False(t, ds[0].Listed)
		ds, err = h.e.Devices(ctx, DeviceFilter{ID: "site-a/x1"})
		require.NoError(t, err)
		require.Empty(t, ds, "forgotten")
		gs, err := h.e.Groups(ctx)
		require.NoError(t, err)
		require.Len(t, gs, 1)
		require.Zero(t, gs[0].Expected, "retired devices left the roster")
		require.Equal(t, 2, gs[0].States[string(staleness.StateRetired)])

		// x2 comes back at 40 s: learned anew, no longer retired.
		ts := t0.Add(40 * time.Second)
		time.Sleep(time.Until(ts))
		h.send("x2", ts, 10)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		ds, err = h.e.Devices(ctx, DeviceFilter{ID: "site-a/x2"})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, string(staleness.StateLive), ds[0].State)
		require.Equal(t, 1.0, testutil.ToFloat64(h.e.m.devices.WithLabelValues(string(staleness.StateRetired))))

		// The window [20 s, 30 s), between retirement and return, expects
		// nobody.
		time.Sleep(time.Minute)
		synctest.Wait()
		a, ok := h.c.find("power_kw", t0.Add(20*time.Second), 0)
		require.True(t, ok)
		require.Zero(t, a.Coverage.Expected)
	})
}
