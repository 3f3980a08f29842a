package influx

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall-iot/rollcall/aggregate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden line protocol: testdata/encode/input.json holds aggregates (their
// API JSON form, null for unknown), expected.lp the lines. Regenerate with
// go test ./sink/influx/ -run TestEncodeGolden -update.
func TestEncodeGolden(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "encode")
	in, err := os.ReadFile(filepath.Join(dir, "input.json"))
	require.NoError(t, err)
	var as []aggregate.Aggregate
	require.NoError(t, json.Unmarshal(in, &as))
	var got []byte
	for _, a := range as {
		got = appendAggregate(got, a)
	}
	path := filepath.Join(dir, "expected.lp")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	require.Len(t, strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"), len(as)*PointsPerAggregate)
}

func TestEncodeEscaping(t *testing.T) {
	t.Parallel()
	require.Equal(t, ",group=a\\,b\\=c\\ d", string(appendTag(nil, "group", "a,b=c d")))
	require.Equal(t, ",group=line\\ break", string(appendTag(nil, "group", "line\nbreak")))
	require.Equal(t, ",group=trail\\\\", string(appendTag(nil, "group", `trail\`)))
	require.Empty(t, appendTag(nil, "group", ""), "no empty tag values")
	require.Equal(t, `say \"hi\" \\ there`, string(appendFieldString(nil, `say "hi" \ there`)))
	require.Equal(t, "m v=0.1", string(appendFloat([]byte("m "), "v", 0.1)), "first field: no comma")
	require.Equal(t, "m a=1i,v=1000000000000000000000", string(appendFloat([]byte("m a=1i"), "v", 1e21)), "no exponent")
}

// TestEncodeHopping: overlapping windows (60 s every 10 s) are one point
// per window start, with the same series (measurement and tags); a
// revision of a window overwrites that window's point only.
func TestEncodeHopping(t *testing.T) {
	t.Parallel()
	series := func(line string) (key, ts string) {
		sp := strings.Split(line, " ")
		return sp[0], sp[len(sp)-1]
	}
	var keys, stamps []string
	for _, a := range []aggregate.Aggregate{agg("site-a", "power_kw", 0, 0), agg("site-a", "power_kw", 10, 0), agg("site-a", "power_kw", 0, 1)} {
		a.Window.End = a.Window.Start.Add(time.Minute)
		for _, line := range strings.Split(strings.TrimSuffix(string(appendAggregate(nil, a)), "\n"), "\n") {
			k, ts := series(line)
			keys = append(keys, k)
			stamps = append(stamps, ts)
		}
	}
	n := PointsPerAggregate
	require.Equal(t, keys[:n], keys[n:2*n], "same series for overlapping windows")
	require.Equal(t, keys[:n], keys[2*n:], "same series for a revision")
	require.NotEqual(t, stamps[0], stamps[n], "one point per window start")
	require.Equal(t, stamps[0], stamps[2*n], "a revision overwrites its window's point")
	require.Equal(t, strconv.FormatInt(t0.Add(10*time.Second).UnixNano(), 10), stamps[n])
}

func BenchmarkEncode(b *testing.B) {
	a := agg("site-a", "power_kw", 0, 1)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(appendAggregate(nil, a))))
	for b.Loop() {
		buf = appendAggregate(buf[:0], a)
	}
}
