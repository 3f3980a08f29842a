package gatewaytest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const fleet = `
defaults:
  interval: 1s
  metrics:
    power_kw: {min: 0, max: 1000, device: mean, group: sum}
groups:
  site-a: {devices: [a1]}
`

func TestStart(t *testing.T) {
	cfg := Config(t)
	cfg.Fleet = FleetFile(t, []byte(fleet))
	gw := Start(t, cfg)
	require.Equal(t, "http://"+gw.Addr, gw.URL)
	require.Equal(t, gw.Gateway.MQTTURL(), gw.MQTTURL)
	require.Equal(t, cfg.DataDir, gw.Config.DataDir)
	require.Equal(t, cfg.WithDefaults().Aggregate.Shards, gw.Config.Aggregate.Shards, "defaults filled in")

	resp, err := http.Get(gw.URL + "/readyz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := gw.Metrics(t)
	require.Contains(t, m, `rollcall_messages_total{outcome="accepted"}`)
	require.Contains(t, m, "go_goroutines")

	gw.Stop()
	gw.Stop() // a second Stop does nothing
	_, err = http.Get(gw.URL + "/readyz")
	require.Error(t, err, "the API is down once Stop returned")
}

// fatalTB records a Fatalf or FailNow and stops the goroutine, as
// testing.T does.
type fatalTB struct {
	*testing.T
	failed string
}

func (f *fatalTB) Errorf(format string, args ...any) { f.failed += fmt.Sprintf(format, args...) }
func (f *fatalTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); f.FailNow() }
func (f *fatalTB) FailNow()                          { panic(f) }

func TestStartFails(t *testing.T) {
	cfg := Config(t)
	cfg.Window.Size = -1
	f := &fatalTB{T: t}
	func() {
		defer func() { require.Equal(t, f, recover()) }()
		Start(f, cfg)
	}()
	require.Contains(t, f.failed, "gatewaytest: new gateway")
	require.Contains(t, f.failed, "window.size")
}
