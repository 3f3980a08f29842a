package dashboards

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValuesJSON(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	vs := Values{nil, "text", "NaN", true, false, 1.5, -0.25, 1e300, math.NaN(), math.Inf(1), math.Inf(-1), at}
	b, err := json.Marshal(vs)
	require.NoError(t, err)
	require.JSONEq(t, `[null, "text", "NaN", true, false, 1.5, -0.25, 1e300, {"float": "NaN"}, {"float": "+Inf"},
		{"float": "-Inf"}, {"time": "2025-03-01T12:00:00.123456789+01:00"}]`, string(b))

	var got Values
	require.NoError(t, json.Unmarshal(b, &got))
	require.Len(t, got, len(vs))
	for i, v := range vs {
		switch v := v.(type) {
		case time.Time:
			require.IsType(t, time.Time{}, got[i])
			require.True(t, v.Equal(got[i].(time.Time)), "time %v, got %v", v, got[i])
		case float64:
			require.IsType(t, 0.0, got[i])
			if math.IsNaN(v) {
				require.True(t, math.IsNaN(got[i].(float64)))
				continue
			}
			require.Equal(t, v, got[i])
		default:
			require.Equal(t, v, got[i])
		}
	}
	require.NoError(t, json.Unmarshal([]byte(`[]`), &got))
	require.Empty(t, got)
}

func TestValuesJSONErrors(t *testing.T) {
	_, err := json.Marshal(Values{1})
	require.ErrorContains(t, err, "dashboards: value 0: unsupported type int")
	for _, bad := range []string{
		`{}`,
		`[{}]`,
		`[{"time": "2025-03-01T12:00:00Z", "float": "NaN"}]`,
		`[{"float": "1.5"}]`,
		`[{"float": "x"}]`,
		`[{"time": "yesterday"}]`,
		`[{"other": 1}]`,
		`[[1]]`,
	} {
		var vs Values
		require.Error(t, json.Unmarshal([]byte(bad), &vs), bad)
	}
}

func TestSnapshotFile(t *testing.T) {
	from := time.UnixMilli(1_700_000_000_000).UTC()
	s := &Snapshot{
		UID: "rollcall-x", Title: "X", From: from, To: from.Add(time.Minute), Taken: from.Add(time.Minute),
		Variables: []Selection{{Name: "group", Label: "Group", Values: []string{"a", "b"}, All: true}},
		Panels: []PanelData{{
			Panel: fieldPanel(), Title: "p", GridPos: GridPos{W: 12, H: 8},
			Results: []Result{
				{Series: []Series{{Name: "a", Times: []time.Time{from}, Values: Values{math.NaN()}}}},
				{Table: &Table{Columns: []string{"Time", "v"}, Rows: []Values{{from, nil}}}},
			},
		}},
		Annotations: []Result{{Table: &Table{Columns: []string{"Time"}, Rows: []Values{{from}}}}},
	}
	dir := t.TempDir()
	require.NoError(t, WriteSnapshot(dir, s))
	got, err := ReadSnapshot(filepath.Join(dir, "rollcall-x.json"))
	require.NoError(t, err)
	require.Equal(t, s.Variables, got.Variables)
	require.True(t, s.To.Equal(got.To))
	require.Equal(t, "lower", got.Panels[0].Panel.FieldOptions("upper").FillBelowTo)
	require.True(t, math.IsNaN(got.Panels[0].Results[0].Series[0].Values[0].(float64)))
	require.True(t, from.Equal(got.Panels[0].Results[1].Table.Rows[0][0].(time.Time)))
	require.True(t, from.Equal(got.Annotations[0].Table.Rows[0][0].(time.Time)))

	_, err = ReadSnapshot(filepath.Join(dir, "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"panels": [{"results": [{"series": [{"values": [{"x": 1}]}]}]}]}`), 0o644))
	_, err = ReadSnapshot(bad)
	require.ErrorContains(t, err, "dashboards: snapshot")
	require.ErrorIs(t, WriteSnapshot(filepath.Join(dir, "missing"), s), os.ErrNotExist)
	s.Annotations[0].Table.Rows[0][0] = struct{}{}
	require.ErrorContains(t, WriteSnapshot(dir, s), "unsupported type struct {}")
}
