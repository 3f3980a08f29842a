package gateway

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckAttribution: a problem names the key and line it comes from; a
// clash with a default the file does not set keeps the key, line 0.
func TestCheckAttribution(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(name, []byte("mqtt:\n  client_id: gw\njournal:\n  queue_len: 10\nprom:\n  max_series: 0\n  series: 1\n"), 0o600))
	_, problems, err := Check(CheckFiles{Config: name}, Defaults())
	require.NoError(t, err)
	require.Equal(t, []Problem{
		{File: name, Line: 4, Key: "journal.queue_len", Msg: "10 must hold the broker's in-flight window, 3 × broker.max_ack_pending = 3072"},
		{File: name, Line: 7, Key: "prom.series", Msg: `unknown key "series"`},
	}, problems)
	require.Equal(t, name+":4: journal.queue_len: x", Problem{File: name, Line: 4, Key: "journal.queue_len", Msg: "x"}.String())
	require.Equal(t, name+": x", Problem{File: name, Msg: "x"}.String())

	idx := keyIndex{file: name, lines: map[string]int{"window": 3}}
	require.Equal(t, Problem{File: name, Line: 3, Key: "window.size", Msg: "bad"}, idx.problem("window.size: bad"))
	require.Equal(t, Problem{File: name, Key: "http.addr", Msg: "bad"}, idx.problem("http.addr: bad"))
	require.Equal(t, Problem{File: name, Msg: "no key here"}, idx.problem("no key here"))
}

// TestMarshalRedacted: passwords, tokens and bcrypt hashes never appear in
// the printed configuration.
func TestMarshalRedacted(t *testing.T) {
	c := Defaults()
	c.MQTT.Password = "hunter2"
	c.HTTP.Token = "token-of-at-least-16"
	c.MQTT.Username = "$2a$04$d1MlDXdlCv0RN.s7J4m9mOnlhVfu7UZv.8k/bnr9KmZCbJzysncLK"
	b, err := MarshalRedacted(c)
	require.NoError(t, err)
	for _, s := range []string{"hunter2", "token-of", "$2a$"} {
		require.NotContains(t, string(b), s)
	}
	require.Contains(t, string(b), "password: REDACTED")
	require.Contains(t, string(b), "password_file: \"\"", "empty values stay empty")
}

// A devices file the config names is checked once, line by line, whatever
// its name; one it cannot read is a problem at its key.
func TestCheckDevicesOnce(t *testing.T) {
	dir := t.TempDir()
	devices := filepath.Join(dir, "my devices.yaml")
	require.NoError(t, os.WriteFile(devices, []byte("site-a/wt-01: \"nothash\"\n"), 0o600))
	name := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(name, []byte("broker:\n  auth:\n    devices_file: "+devices+"\n"), 0o600))
	_, problems, err := Check(CheckFiles{Config: name}, Defaults())
	require.NoError(t, err)
	require.Equal(t, []Problem{{File: devices, Line: 1, Key: "site-a/wt-01", Msg: "not a bcrypt hash (make one with rollcall passwd)"}}, problems)

	require.NoError(t, os.Remove(devices))
	_, problems, err = Check(CheckFiles{Config: name}, Defaults())
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Equal(t, 3, problems[0].Line)
	require.Equal(t, "broker.auth.devices_file", problems[0].Key)
	require.Contains(t, problems[0].Msg, "no such file")
}
