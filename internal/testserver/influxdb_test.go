package testserver

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// influxWrite posts line protocol to the v2 write API of srv's database.
func influxWrite(t *testing.T, srv *InfluxServer, lines string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/api/v2/write?bucket="+srv.Database+"/autogen&precision=s",
		"text/plain", strings.NewReader(lines))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
}

// The default server: flux enabled, database created, InfluxQL rows.
func TestIntegrationInfluxDB(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts influxd")
	}
	t.Parallel()
	srv := InfluxDB(t)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	conf, err := os.ReadFile(srv.conf)
	require.NoError(t, err)
	require.Contains(t, string(conf), "flux-enabled = true")

	influxWrite(t, srv, "probe,site=a value=1.5,n=2i,ok=true,q=\"good\" 1795341600\n")
	rows, err := srv.Query(`SELECT * FROM probe WHERE "site"='a'`)
	require.NoError(t, err)
	require.Equal(t, []InfluxRow{{
		"time": time.Unix(1795341600, 0).UTC(), "site": "a", "value": 1.5, "n": 2.0, "ok": true, "q": "good",
	}}, rows)
	rows, err = srv.Query(`SELECT last(value) FROM probe GROUP BY "site"`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "a", rows[0]["site"], "GROUP BY tags in the row")
	_, err = srv.Query(`SELECT * FROM`)
	require.Error(t, err, "a parse error is an error")

	// Flux answers (the QueryAPI of influxdb-client-go needs it).
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v2/query", strings.NewReader(
		`from(bucket:"telemetry/autogen") |> range(start: 2000-01-01T00:00:00Z, stop: 2100-01-01T00:00:00Z) |> filter(fn: (r) => r._measurement == "probe" and r._field == "value")`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/vnd.flux")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), "1.5")
	http.DefaultClient.CloseIdleConnections()
}

// Stop and Restart keep the ports and the data.
func TestIntegrationInfluxDBRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts influxd")
	}
	t.Parallel()
	srv := InfluxDB(t, WithFlux(false))
	conf, err := os.ReadFile(srv.conf)
	require.NoError(t, err)
	require.Contains(t, string(conf), "flux-enabled = false")
	influxWrite(t, srv, "probe value=1 1795341600\n")

	srv.Stop()
	srv.Stop() // idempotent
	_, err = net.DialTimeout("tcp", srv.Addr, time.Second)
	require.Error(t, err, "stopped server still accepts connections")
	_, err = srv.Query(`SELECT * FROM probe`)
	require.Error(t, err)

	srv.Restart()
	rows, err := srv.Query(`SELECT value FROM probe`)
	require.NoError(t, err)
	require.Equal(t, []InfluxRow{{"time": time.Unix(1795341600, 0).UTC(), "value": 1.0}}, rows, "data survives a restart")
	http.DefaultClient.CloseIdleConnections()
}
