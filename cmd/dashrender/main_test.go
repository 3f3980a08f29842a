package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"-h"}, &stderr))
	require.Contains(t, stderr.String(), "-snapshots")
	require.Equal(t, 2, run(t.Context(), []string{"-nope"}, &stderr))
	require.Equal(t, 2, run(t.Context(), []string{"extra"}, &stderr))
	require.Contains(t, stderr.String(), `unexpected arguments ["extra"]`)

	out := t.TempDir()
	stderr.Reset()
	snapshots := filepath.Join("..", "..", "dashboards", "testdata", "snapshots")
	require.Equal(t, 0, run(t.Context(), []string{"-snapshots", snapshots, "-out", out, "-html"}, &stderr), stderr.String())
	require.FileExists(t, filepath.Join(out, "dashboard-fleet.html"))
	require.Contains(t, stderr.String(), "drew dashboard")

	stderr.Reset()
	require.Equal(t, 1, run(t.Context(), []string{"-snapshots", t.TempDir(), "-out", out}, &stderr))
	require.Contains(t, stderr.String(), "dashrender: render: no snapshots")
	_, err := os.Stat(filepath.Join(out, "dashboard-fleet.png"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
