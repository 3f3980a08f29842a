package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/gateway"
)

const repoRoot = "../../.."

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty"},
		{"v1.2.3-rc1-4-gabc1234", "1.2.3~rc1+4.gabc1234"},
		{"2d3105e", "0.0.0+g2d3105e"},
		{"2d3105e-dirty", "0.0.0+g2d3105e.dirty"},
	} {
		got, err := debVersion(tc.in)
		if assert.NoError(t, err, tc.in) {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2", "v1.2.3 ", "release-1", "v1.2.3-4-gxyz"} {
		_, err := debVersion(bad)
		assert.Error(t, err, bad)
	}
}

func TestPackageInfoRefusesBadOptions(t *testing.T) {
	_, err := packageInfo(options{})
	require.Error(t, err)
	for _, want := range []string{"-version: required", "-arch", "-bin: required"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = packageInfo(options{version: "dev", arch: "amd64", binDir: t.TempDir(), root: repoRoot})
	require.ErrorContains(t, err, `-version: "dev"`)
	// No binaries in the directory.
	_, err = packageInfo(options{version: "v1.0.0", arch: "arm64", binDir: t.TempDir(), root: repoRoot})
	require.ErrorContains(t, err, "/usr/bin/rollcall")
	require.ErrorContains(t, err, "/usr/bin/fleetsim")
}

func fakeBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"rollcall", "fleetsim"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
	}
	return dir
}

func TestBuild(t *testing.T) {
	out := t.TempDir()
	o := options{version: "v1.2.3-4-gabc1234", arch: "armv7", binDir: fakeBinaries(t), root: repoRoot, outDir: out, maintainer: defaultMaintainer}
	info, err := packageInfo(o)
	require.NoError(t, err)
	assert.Equal(t, "armhf", info.Arch)
	assert.Equal(t, "1.2.3+4.gabc1234", info.Version)
	byDst := map[string]string{}
	for _, c := range info.Contents {
		byDst[c.Destination] = c.Type
	}
	assert.Equal(t, "config", byDst["/etc/rollcall/rollcall.yaml"], "a conffile")
	assert.Equal(t, "config", byDst["/etc/rollcall/devices.yaml.example"], "a conffile")
	assert.Contains(t, byDst, "/lib/systemd/system/rollcall.service")

	name, err := build(o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(out, "rollcall_1.2.3+4.gabc1234_armhf.deb"), name)
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("!<arch>\ndebian-binary")), "an ar archive that starts with debian-binary")
	// scripts/test-dist.sh inspects the package with dpkg-deb and installs it.
}

func TestRunUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run([]string{"-arch", "sparc", "-version", "v1.0.0", "-bin", "x"}, &stdout, &stderr)
	require.ErrorContains(t, err, `-arch: "sparc"`)
	err = run([]string{"extra"}, &stdout, &stderr)
	require.ErrorContains(t, err, "unexpected arguments")
	assert.Empty(t, stdout.String())
}

// TestDeployConfigLoads checks that the example config of the package is
// accepted by the config parser (which refuses unknown keys) and valid.
func TestDeployConfigLoads(t *testing.T) {
	cfg, err := gateway.LoadFile(filepath.Join(repoRoot, "deploy/rollcall.yaml"), gateway.Defaults())
	require.NoError(t, err)
	cfg = cfg.WithDefaults()
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "/var/lib/rollcall", cfg.DataDir)
	assert.True(t, strings.HasPrefix(cfg.Broker.Listen, "127.0.0.1:"), "without broker.auth the broker stays on loopback")
	assert.True(t, strings.HasPrefix(cfg.HTTP.Addr, "127.0.0.1:"), "the API stays on loopback until a token is set")
}
