package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/internal/testserver"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rollcall.yaml")
	require.NoError(t, os.WriteFile(file, []byte("http:\n  addr: 127.0.0.1:1111\nwindow:\n  size: 20s\n  allowed_lateness: 40s\ndata_dir: /from/file\n"), 0o600))

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, addr string, window, lateness time.Duration, dataDir string)
	}{
		{"defaults", nil, nil, func(t *testing.T, addr string, w, l time.Duration, d string) {
			require.Equal(t, ":8080", addr)
			require.Equal(t, 10*time.Second, w)
			require.Equal(t, 60*time.Second, l)
			require.Equal(t, "./data", d)
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, addr string, w, l time.Duration, d string) {
			require.Equal(t, "127.0.0.1:1111", addr)
			require.Equal(t, 20*time.Second, w)
			require.Equal(t, 40*time.Second, l)
			require.Equal(t, "/from/file", d)
		}},
		{
			"env over file",
			[]string{"--config", file},
			map[string]string{"ROLLCALL_HTTP_ADDR": "127.0.0.1:2222", "ROLLCALL_WINDOW": "30s"},
			func(t *testing.T, addr string, w, l time.Duration, d string) {
				require.Equal(t, "127.0.0.1:2222", addr)
				require.Equal(t, 30*time.Second, w)
				require.Equal(t, 40*time.Second, l, "untouched by env: from the file")
			},
		},
		{
			"flag over env",
			[]string{"--config", file, "--http-addr", "127.0.0.1:3333", "--lateness", "5s"},
			map[string]string{"ROLLCALL_HTTP_ADDR": "127.0.0.1:2222"},
			func(t *testing.T, addr string, w, l time.Duration, d string) {
				require.Equal(t, "127.0.0.1:3333", addr)
				require.Equal(t, 5*time.Second, l)
				require.Equal(t, 20*time.Second, w)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, _, err := loadConfig("serve", tc.args, io.Discard)
			require.NoError(t, err)
			tc.check(t, cfg.HTTP.Addr, cfg.Window.Size, cfg.Window.AllowedLateness, cfg.DataDir)
		})
	}
}

func TestLoadConfigWindowStep(t *testing.T) {
	cfg, _, err := loadConfig("serve", nil, io.Discard)
	require.NoError(t, err)
	require.Zero(t, cfg.Window.Step, "default: tumbling")
	cfg, _, err = loadConfig("serve", []string{"--window", "1m", "--window-step", "10s"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, time.Minute, cfg.Window.Size)
	require.Equal(t, 10*time.Second, cfg.Window.Step)
	t.Setenv("ROLLCALL_WINDOW_STEP", "20s")
	cfg, _, err = loadConfig("serve", []string{"--window", "1m"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20*time.Second, cfg.Window.Step)
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"version command", []string{"version"}, 0, "rollcall dev"},
		{"version flag", []string{"--version"}, 0, "rollcall dev"},
		{"help", []string{"--help"}, 0, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"serve", "x"}, 2, "unexpected arguments"},
		{"missing config file", []string{"--config", "/does/not/exist.yaml"}, 2, "no such file"},
		{"invalid value names the field", []string{"--window", "-1s", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"}, 1, "window.size"},
		{"bad env value", []string{}, 2, "ROLLCALL_LATENESS"},
		{"window step must divide the size", []string{"--window", "1m", "--window-step", "7s", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"}, 1, "window.step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "bad env value" {
				t.Setenv("ROLLCALL_LATENESS", "soon")
			}
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			require.Equal(t, tc.code, code, errOut.String())
			require.Contains(t, out.String()+errOut.String(), tc.want)
		})
	}
}

// start runs the binary and returns it with a reader of its stderr+stdout
// lines.
func start(t *testing.T, args ...string) (*testserver.RollcallServer, <-chan string) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() }) // after the process stopped
	p := testserver.Rollcall(t, testserver.RollcallBinary(t), testserver.RollcallOptions{Args: args, Output: pw})
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	return p, lines
}

// await returns the first submatch of re in the output.
func await(t *testing.T, lines <-chan string, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "process output ended before %s", re)
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no output matching %s within %v", re, timeout)
		}
	}
}

func TestIntegrationServeStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	p, lines := start(t, "serve", "--http-addr", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	addr := await(t, lines, regexp.MustCompile(`msg="rollcall started" http=(\S+)`), 60*time.Second)
	p.WaitReady("http://" + addr)
	stopping := time.Now()
	require.NoError(t, p.Stop(), "exit status 0 after SIGTERM")
	require.Less(t, time.Since(stopping), 20*time.Second, "exited within 20 s of SIGTERM")
}

// The README's first command: the demo shows 19 of 20 for the site with the
// silent turbine.
func TestIntegrationDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short (make test)")
	}
	p, lines := start(t, "demo", "--http-addr", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0")
	base := await(t, lines, regexp.MustCompile(`(http://\S+)/api/v1/aggregates/latest`), 60*time.Second)
	type agg struct {
		Group    string `json:"group"`
		Final    bool   `json:"final"`
		Coverage struct {
			Expected int `json:"expected"`
			Reported int `json:"reported"`
			Missing  []struct {
				Device string `json:"device"`
				State  string `json:"state"`
			} `json:"missing"`
		} `json:"coverage"`
	}
	var siteA agg
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/v1/aggregates/latest?metric=power_kw")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Aggregates []agg `json:"aggregates"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		for _, a := range out.Aggregates {
			if a.Group == "site-a" && a.Coverage.Reported == 19 {
				siteA = a
				return true
			}
		}
		return false
	}, 45*time.Second, 250*time.Millisecond, "site-a reports 19 of 20")
	require.Equal(t, 20, siteA.Coverage.Expected)
	require.Len(t, siteA.Coverage.Missing, 1)
	require.Equal(t, "site-a/wt-07", siteA.Coverage.Missing[0].Device)
	require.Contains(t, "late silent", siteA.Coverage.Missing[0].State, siteA.Coverage.Missing[0].State)

	// The replaying turbine's old messages are recognised as replays.
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/v1/devices/site-b/wt-32") // sim.DemoReplayDevice
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var dev struct {
			Counts struct {
				Replays uint64 `json:"replays"`
			} `json:"counts"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&dev) == nil && dev.Counts.Replays > 0
	}, 30*time.Second, 250*time.Millisecond, "wt-32 replays an old message; its replays are counted")

	p.Signal(syscall.SIGINT)
	require.NoError(t, p.Wait(), "clean exit after Ctrl-C")
}
