package dashboards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// panelRun is one panel as Grafana shows it (a repeated panel once per
// value) with the results of its queries.
type panelRun struct {
	panel   *Panel
	title   string
	grid    GridPos // after repeated panels pushed the rest down
	scope   *scope
	results []*result
}

// dashboardRun is a dashboard's variables and panels, run.
type dashboardRun struct {
	d           *Dashboard
	scope       *scope
	panels      []*panelRun
	annotations []*result
	taken       time.Time // when the queries ran
}

// resolveVariables selects each variable's default, as Grafana does on
// load: query variables get their options from their datasource, in order
// (a variable may use the ones before it); All selects every option; a
// single-valued variable keeps its current value if it is an option, else
// takes the first.
func (c *client) resolveVariables(ctx context.Context, d *Dashboard, s *scope) error {
	for _, v := range d.Templating.List {
		sel := &selection{v: v}
		switch v.Type {
		case "custom":
			for _, o := range v.Options {
				sel.options = append(sel.options, o.Value.(string))
			}
		case "query":
			var err error
			if sel.options, err = c.variableOptions(ctx, v, s); err != nil {
				return fmt.Errorf("variable %s: %w", v.Name, err)
			}
		}
		if len(sel.options) == 0 {
			return fmt.Errorf("variable %s: no options", v.Name)
		}
		cur, _ := v.Current.Value.(string)
		if list, ok := v.Current.Value.([]any); ok && len(list) == 1 {
			cur, _ = list[0].(string)
		}
		switch {
		case cur == AllValue:
			sel.all, sel.values = true, sel.options
		case slices.Contains(sel.options, cur):
			sel.values = []string{cur}
		default:
			sel.values = sel.options[:1]
		}
		s.vars[v.Name] = sel
	}
	return nil
}

// with returns a copy of s with variable name set to the single value.
func (s *scope) with(name, value string) *scope {
	c := *s
	c.vars = map[string]*selection{}
	for k, v := range s.vars {
		c.vars[k] = v
	}
	sel := *s.vars[name]
	sel.values, sel.all = []string{value}, false
	c.vars[name] = &sel
	return &c
}

// run runs every panel and annotation query of d.
func (c *client) run(ctx context.Context, d *Dashboard, base *scope) (*dashboardRun, error) {
	dr := &dashboardRun{d: d, scope: base, taken: time.Now()}
	shift := 0
	for _, p := range d.AllPanels() {
		instances := []*panelRun{{panel: p, scope: base, grid: p.GridPos}}
		instances[0].grid.Y += shift
		if p.Repeat != "" {
			values := base.vars[p.Repeat].values
			perRow := min(len(values), max(p.MaxPerRow, 1))
			w := 24 / perRow
			instances = nil
			for i, v := range values {
				g := GridPos{W: w, H: p.GridPos.H, X: (i % perRow) * w, Y: p.GridPos.Y + shift + (i/perRow)*p.GridPos.H}
				instances = append(instances, &panelRun{panel: p, scope: base.with(p.Repeat, v), grid: g})
			}
			shift += (len(values)/perRow + min(len(values)%perRow, 1) - 1) * p.GridPos.H
		}
		for _, pr := range instances {
			pr.title = pr.scope.expandVariables(p.Title, "")
			for _, tg := range p.Targets {
				r, err := c.runTarget(ctx, pr, tg)
				if err != nil {
					return nil, fmt.Errorf("panel %q, query %s: %w", pr.title, tg.RefID, err)
				}
				pr.results = append(pr.results, r)
			}
			dr.panels = append(dr.panels, pr)
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		tg := Target{RefID: a.Target.RefID, Datasource: &a.Datasource, Query: a.Target.Query, RawQuery: true, ResultFormat: "table"}
		r, err := c.runTarget(ctx, &panelRun{panel: &Panel{}, scope: base, grid: GridPos{W: 24}}, tg)
		if err != nil {
			return nil, fmt.Errorf("annotation %q: %w", a.Name, err)
		}
		dr.annotations = append(dr.annotations, r)
	}
	return dr, nil
}

// runTarget expands one query for its panel and runs it.
func (c *client) runTarget(ctx context.Context, pr *panelRun, tg Target) (*result, error) {
	s := pr.scope
	ds, ok := s.ds[tg.Datasource.UID]
	if !ok {
		return nil, fmt.Errorf("datasource %s is not provisioned", tg.Datasource.UID)
	}
	iv := s.interval(pr.panel, pr.grid.W, ds)
	var q string
	switch ds.typ {
	case InfluxType:
		q = s.influxQL(tg.Query, iv)
	case PrometheusType:
		q = s.promQL(tg.Expr, iv, ds.timeInterval)
	}
	if m := leftover.FindStringIndex(q); m != nil {
		return nil, fmt.Errorf("not expanded at %q: %s", q[m[0]:], q)
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch ds.typ {
	case InfluxType:
		return c.runInflux(qctx, tg, q)
	default:
		return c.runProm(qctx, tg, q, s, iv)
	}
}

// fieldNames are the names the panel's fields have after its
// transformations (what overrides and sortBy match).
func (pr *panelRun) fieldNames() []string {
	var names []string
	for _, r := range pr.results {
		names = append(names, r.names()...)
	}
	names, _ = pr.panel.Organize(names)
	return names
}

// snapshot is dr as a Snapshot, for cmd/dashrender.
func (dr *dashboardRun) snapshot() *Snapshot {
	s := &Snapshot{UID: dr.d.UID, Title: dr.d.Title, From: dr.scope.from, To: dr.scope.to, Taken: dr.taken}
	for _, v := range dr.d.Templating.List {
		sel := dr.scope.vars[v.Name]
		s.Variables = append(s.Variables, Selection{Name: v.Name, Label: v.Label, Values: sel.values, All: sel.all})
	}
	for _, pr := range dr.panels {
		panel := pr.panel
		if len(panel.Panels) > 0 { // a collapsed row: its panels are listed on their own
			row := *panel
			row.Panels = nil
			panel = &row
		}
		pd := PanelData{Panel: panel, Title: pr.title, GridPos: pr.grid}
		for _, r := range pr.results {
			pd.Results = append(pd.Results, r.Result)
		}
		s.Panels = append(s.Panels, pd)
	}
	for _, a := range dr.annotations {
		s.Annotations = append(s.Annotations, a.Result)
	}
	return s
}

// describe says where a result comes from, for failure messages.
func (pr *panelRun) describe(r *result) string {
	return fmt.Sprintf("%q query %s: %s", pr.title, r.target.RefID, strings.TrimSpace(r.query))
}
