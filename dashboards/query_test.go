package dashboards

// Running a panel's queries against the real servers and shaping the
// answers the way Grafana's datasources hand them to panels: one series
// per InfluxQL series and column (named by the alias) or Prometheus series
// (named by the legend format), or one table.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is what one query returned, as sent.
type result struct {
	target Target
	query  string // as sent, expanded
	Result
}

// empty reports whether r holds no value at all.
func (r *result) empty() bool {
	if r.Table != nil {
		return len(r.Table.Rows) == 0
	}
	for _, s := range r.Series {
		for _, v := range s.Values {
			if v != nil {
				return false
			}
		}
	}
	return true
}

// names are the field names r gives a panel (series names or columns).
func (r *result) names() []string {
	if r.Table != nil {
		return r.Table.Columns
	}
	var out []string
	for _, s := range r.Series {
		out = append(out, s.Name)
	}
	return out
}

// client runs queries against the emulated datasources' servers.
type client struct {
	influxURL, influxDB string
	promURL             string
	hc                  *http.Client
}

func (c *client) get(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(out)
}

// influxSeries is one series of an InfluxQL answer.
type influxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// influx runs an InfluxQL statement (epoch=ms, as Grafana asks).
func (c *client) influx(ctx context.Context, q string) ([]influxSeries, error) {
	v := url.Values{"db": {c.influxDB}, "q": {q}, "epoch": {"ms"}}
	var out struct {
		Results []struct {
			Error  string         `json:"error"`
			Series []influxSeries `json:"series"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := c.get(ctx, c.influxURL+"/query?"+v.Encode(), &out); err != nil {
		return nil, err
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxdb: %s", out.Error)
	}
	if len(out.Results) != 1 {
		return nil, fmt.Errorf("influxdb: %d results for one statement", len(out.Results))
	}
	if out.Results[0].Error != "" {
		return nil, fmt.Errorf("influxdb: %s", out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// runInflux runs an expanded InfluxQL target and shapes its answer.
func (c *client) runInflux(ctx context.Context, tg Target, q string) (*result, error) {
	ss, err := c.influx(ctx, q)
	if err != nil {
		return nil, err
	}
	r := &result{target: tg, query: q}
	if tg.ResultFormat == "table" {
		r.Table = mergeInfluxSeries(ss)
		return r, nil
	}
	for _, s := range ss {
		for ci, col := range s.Columns {
			if col == "time" {
				continue
			}
			out := Series{Name: influxAlias(tg.Alias, s.Name, col, s.Tags)}
			for _, row := range s.Values {
				out.Times = append(out.Times, time.UnixMilli(toInt(row[0])))
				out.Values = append(out.Values, jsonValue(row[ci]))
			}
			r.Series = append(r.Series, out)
		}
	}
	return r, nil
}

// mergeInfluxSeries merges series into one table as Grafana does: Time, the
// tags, then the columns.
func mergeInfluxSeries(ss []influxSeries) *Table {
	t := &Table{}
	if len(ss) == 0 {
		return t
	}
	tagKeys := sortedKeys(ss[0].Tags)
	t.Columns = append(t.Columns, "Time")
	t.Columns = append(t.Columns, tagKeys...)
	t.Columns = append(t.Columns, ss[0].Columns[1:]...)
	for _, s := range ss {
		for _, row := range s.Values {
			out := Values{time.UnixMilli(toInt(row[0]))}
			for _, k := range tagKeys {
				out = append(out, s.Tags[k])
			}
			for _, v := range row[1:] {
				out = append(out, jsonValue(v))
			}
			t.Rows = append(t.Rows, out)
		}
	}
	return t
}

func toInt(v any) int64 {
	if n, ok := v.(json.Number); ok {
		i, _ := n.Int64()
		return i
	}
	return 0
}

// jsonValue turns a decoded JSON value into float64, string, bool or nil.
func jsonValue(v any) any {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err != nil {
			return nil
		}
		return f
	}
	return v
}

// runProm runs an expanded PromQL target: a range query over the scope
// with step interval, aligned as Grafana aligns it, or an instant query at
// the end of the range.
func (c *client) runProm(ctx context.Context, tg Target, expr string, s *scope, step time.Duration) (*result, error) {
	r := &result{target: tg, query: expr}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if tg.Instant {
		v.Set("time", unixSeconds(s.to))
	} else {
		path = "/api/v1/query_range"
		st := step.Seconds()
		v.Set("start", strconv.FormatFloat(math.Floor(float64(s.from.Unix())/st)*st, 'f', -1, 64))
		v.Set("end", strconv.FormatFloat(math.Floor(float64(s.to.Unix())/st)*st, 'f', -1, 64))
		v.Set("step", strconv.FormatFloat(st, 'f', -1, 64))
	}
	if err := c.get(ctx, c.promURL+path+"?"+v.Encode(), &env); err != nil {
		return nil, err
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", env.Error)
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return nil, err
	}
	for _, res := range data.Result {
		out := Series{Name: legendName(tg.LegendFormat, res.Metric)}
		points := res.Values
		if res.Value != nil {
			points = [][]any{res.Value}
		}
		for _, p := range points {
			ts, _ := p[0].(float64)
			out.Times = append(out.Times, time.UnixMilli(int64(ts*1000)))
			f, err := strconv.ParseFloat(p[1].(string), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				out.Values = append(out.Values, nil)
				continue
			}
			out.Values = append(out.Values, f)
		}
		r.Series = append(r.Series, out)
	}
	return r, nil
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// variableOptions runs a query variable's query as Grafana's datasources
// do for variables: SHOW TAG VALUES (the "value" column) for InfluxQL,
// label_values(metric, label) for Prometheus.
func (c *client) variableOptions(ctx context.Context, v Variable, s *scope) ([]string, error) {
	var out []string
	switch v.Datasource.Type {
	case InfluxType:
		q := s.influxQL(v.Query, time.Second)
		ss, err := c.influx(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, sr := range ss {
			ci := -1
			for i, col := range sr.Columns {
				if col == "value" {
					ci = i
				}
			}
			for _, row := range sr.Values {
				if ci >= 0 {
					out = append(out, fmt.Sprint(row[ci]))
				}
			}
		}
	case PrometheusType:
		q := s.expandVariables(v.Query, PrometheusType)
		metric, label, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")"), ",")
		if !ok {
			return nil, fmt.Errorf("variable %s: only label_values(metric, label) is emulated: %q", v.Name, q)
		}
		vals := url.Values{"match[]": {strings.TrimSpace(metric)}, "start": {unixSeconds(s.from)}, "end": {unixSeconds(s.to)}}
		var env struct {
			Status string   `json:"status"`
			Data   []string `json:"data"`
		}
		if err := c.get(ctx, c.promURL+"/api/v1/label/"+strings.TrimSpace(label)+"/values?"+vals.Encode(), &env); err != nil {
			return nil, err
		}
		out = env.Data
	}
	if v.Sort == 1 {
		slices.Sort(out)
	}
	return slices.Compact(out), nil
}
