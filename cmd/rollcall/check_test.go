package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckGolden runs rollcall check over the files in testdata/check and
// compares stdout followed by stderr with testdata/check/<case>.golden.
func TestCheckGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"good", []string{"--config", "testdata/check/good.yaml"}, checkOK},
		{"good_print", []string{"--config", "testdata/check/good.yaml", "--print"}, checkOK},
		{"good_flags", []string{"--fleet", "testdata/check/good.fleet.yaml", "--devices-file", "testdata/check/good.devices.yaml"}, checkOK},
		{"bad", []string{"--config", "testdata/check/bad.yaml"}, checkProblems},
		{"bad_print", []string{"--config", "testdata/check/bad.yaml", "--print"}, checkProblems},
		{"bad_fleet_flag", []string{"--config", "testdata/check/good.yaml", "--fleet", "testdata/check/bad.fleet.yaml"}, checkProblems},
		{"bad_devices_flag", []string{"--config", "testdata/check/good.yaml", "--devices-file", "testdata/check/bad.devices.yaml"}, checkProblems},
		{"syntax", []string{"--config", "testdata/check/syntax.yaml"}, checkProblems},
		{"missing_fleet", []string{"--config", "testdata/check/missing.yaml"}, checkProblems},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(append([]string{"check"}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			golden(t, filepath.Join("..", "check", tc.name), out+errOut)
			for _, secret := range []string{"hunter2", "an-api-token", "$2a$"} {
				require.NotContains(t, out+errOut, secret, "a secret is printed")
			}
		})
	}
}

// TestCheckExitCodes: one test per exit status, usage and I/O errors
// included.
func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "dir.yaml")
	require.NoError(t, os.Mkdir(unreadable, 0o700))
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ok", []string{"--config", "testdata/check/good.yaml"}, checkOK, "ok"},
		{"defaults only", nil, checkOK, "ok"},
		{"shipped examples", []string{"--config", "../../examples/rollcall.yaml", "--fleet", "../../examples/fleet.yaml"}, checkOK, "ok"},
		{"help", []string{"--help"}, checkOK, "Exit status"},
		{"problems", []string{"--config", "testdata/check/bad.yaml"}, checkProblems, "16 problem(s)"},
		{"unknown flag", []string{"--nope"}, checkUsage, "flag provided but not defined"},
		{"argument", []string{"extra"}, checkUsage, "unexpected arguments"},
		{"missing config", []string{"--config", filepath.Join(dir, "none.yaml")}, checkUsage, "no such file"},
		{"unreadable config", []string{"--config", unreadable}, checkUsage, "is a directory"},
		{"missing fleet flag", []string{"--fleet", filepath.Join(dir, "none.yaml")}, checkUsage, "fleet file"},
		{"missing devices flag", []string{"--devices-file", filepath.Join(dir, "none.yaml")}, checkUsage, "devices file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(append([]string{"check"}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(t, errOut, tc.stderr)
		})
	}
}
