package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Snapshot is a dashboard as one run of its queries showed it: the
// variables' selected values, each panel as Grafana lays it out (a
// repeated panel once per value) with what its queries returned, and the
// annotations. TestIntegrationDashboards writes one per dashboard (with
// -update, into SnapshotDir); dashboards/render draws them (cmd/dashrender
// shoots the docs' screenshots from them).
type Snapshot struct {
	UID   string `json:"uid"`
	Title string `json:"title"`
	// From and To are the time range the queries covered; Taken is when
	// they ran ("now" for times shown relative to it).
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Taken time.Time `json:"taken"`
	// Variables are the dashboard's variables in order, as selected.
	Variables []Selection `json:"variables"`
	// Panels are in the dashboard's order, rows included.
	Panels []PanelData `json:"panels"`
	// Annotations are the results of the annotation queries (tables whose
	// first column is the time of each annotation).
	Annotations []Result `json:"annotations"`
}

// Selection is a variable's selected values.
type Selection struct {
	Name   string   `json:"name"`
	Label  string   `json:"label"`
	Values []string `json:"values"`
	// All is set when "All" is selected (Values then holds every option).
	All bool `json:"all,omitempty"`
}

// PanelData is one panel as shown, with the results of its queries in the
// order of its targets.
type PanelData struct {
	Panel *Panel `json:"panel"`
	// Title is the panel's title with the variables expanded.
	Title string `json:"title"`
	// GridPos is where the panel is shown: a repeated panel's own place,
	// and every panel below repeated ones pushed down.
	GridPos GridPos  `json:"gridPos"`
	Results []Result `json:"results"`
}

// Result is what one query returned, shaped as Grafana's datasources hand
// it to panels: series (time series queries) or a table.
type Result struct {
	Series []Series `json:"series,omitempty"`
	Table  *Table   `json:"table,omitempty"`
}

// Series is one named series: a value at each time.
type Series struct {
	Name   string      `json:"name"`
	Times  []time.Time `json:"times"`
	Values Values      `json:"values"`
}

// Table is a table result: its columns, and a row of values per record.
type Table struct {
	Columns []string `json:"columns"`
	Rows    []Values `json:"rows"`
}

// Values are query values: float64, string, bool, time.Time or nil (no
// value). In JSON, numbers, strings, booleans and null are themselves; a
// time is {"time": RFC 3339 with nanoseconds} and a NaN or infinite number
// {"float": "NaN" | "+Inf" | "-Inf"}, so that every value reads back as
// the same type and value.
type Values []any

// SnapshotDir is where TestIntegrationDashboards -update writes the
// snapshots, relative to this package, one <uid>.json per dashboard.
const SnapshotDir = "testdata/snapshots"

// taggedValue is the JSON form of the values JSON has no type for.
type taggedValue struct {
	Time  *time.Time `json:"time,omitempty"`
	Float *string    `json:"float,omitempty"`
}

// MarshalJSON encodes vs as the type's doc says. It fails on a value of
// another type.
func (vs Values) MarshalJSON() ([]byte, error) {
	out := make([]any, len(vs))
	for i, v := range vs {
		switch v := v.(type) {
		case nil, string, bool:
			out[i] = v
		case float64:
			out[i] = v
			if math.IsNaN(v) || math.IsInf(v, 0) {
				s := strconv.FormatFloat(v, 'g', -1, 64)
				out[i] = taggedValue{Float: &s}
			}
		case time.Time:
			out[i] = taggedValue{Time: &v}
		default:
			return nil, fmt.Errorf("dashboards: value %d: unsupported type %T", i, v)
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (vs *Values) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("dashboards: values: %w", err)
	}
	out := make(Values, len(raw))
	for i, r := range raw {
		v, err := decodeValue(r)
		if err != nil {
			return fmt.Errorf("dashboards: value %d: %w", i, err)
		}
		out[i] = v
	}
	*vs = out
	return nil
}

// decodeValue decodes one value of Values' JSON form.
func decodeValue(r json.RawMessage) (any, error) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return nil, errors.New("empty")
	}
	switch r[0] {
	case 'n':
		return nil, nil
	case '"':
		var s string
		err := json.Unmarshal(r, &s)
		return s, err
	case 't', 'f':
		var b bool
		err := json.Unmarshal(r, &b)
		return b, err
	case '{':
		var tv taggedValue
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tv); err != nil {
			return nil, err
		}
		switch {
		case tv.Time != nil && tv.Float == nil:
			return *tv.Time, nil
		case tv.Float != nil && tv.Time == nil:
			f, err := strconv.ParseFloat(*tv.Float, 64)
			if err != nil || !(math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, fmt.Errorf("float %q is not NaN or infinite", *tv.Float)
			}
			return f, nil
		}
		return nil, fmt.Errorf("want one of time, float: %s", r)
	}
	return strconv.ParseFloat(string(r), 64)
}

// WriteSnapshot writes s as JSON to dir/<uid>.json.
func WriteSnapshot(dir string, s *Snapshot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("dashboards: snapshot %s: %w", s.UID, err)
	}
	return os.WriteFile(filepath.Join(dir, s.UID+".json"), append(b, '\n'), 0o644)
}

// ReadSnapshot reads a snapshot WriteSnapshot wrote.
func ReadSnapshot(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("dashboards: snapshot %s: %w", path, err)
	}
	return &s, nil
}
