package api

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// statusTemplate is the status page: per group and metric the newest
// window, its coverage, sum with bounds, quality and missing devices. It
// is self-contained (no scripts, no external resources) and reloads itself.
const statusTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>rollcall</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: #060; } .uncertain { color: #a60; } .bad { color: #b00; }
</style>
</head>
<body>
<h1>rollcall</h1>
<p>{{ts .Now}} · refreshes every 5 s</p>
{{- if .EngineError}}
<p class="bad">engine: {{.EngineError}}</p>
{{- end}}
{{- range .Groups}}
{{- $group := .Name}}
<h2>{{.Name}}</h2>
{{- with .Info}}
<p>{{.Expected}} on the roster{{range $state, $n := .States}} · {{$n}} {{$state}}{{end}}{{with .Watermark}} · watermark {{ts .}}{{end}}</p>
{{- end}}
{{- if .Metrics}}
<table>
<tr><th>metric</th><th>window</th><th>reported</th><th>sum [lower, upper]</th><th>quality</th><th>missing</th></tr>
{{- range .Metrics}}
<tr>
<td><a href="/api/v1/aggregates?group={{$group}}&amp;metric={{.Metric}}">{{.Metric}}</a></td>
<td>{{ts .Window.Start}} – {{ts .Window.End}}{{if .Final}}, final{{else}}, revision {{.Revision}}{{end}}</td>
<td class="n">{{.Coverage.Reported}}/{{.Coverage.Expected}}</td>
<td class="n">{{num .Stats.Sum.Value}} [{{num .Stats.Sum.Lower}}, {{num .Stats.Sum.Upper}}]</td>
<td class="{{.Quality}}">{{.Quality}}</td>
<td>{{range .Coverage.Missing}}{{.Device}} ({{.State}}{{with .AgeS}}, {{age .}}{{end}})<br>{{end}}{{with .Coverage.MissingUnlisted}}and {{.}} more{{end}}</td>
</tr>
{{- end}}
</table>
{{- else}}
<p>no windows yet</p>
{{- end}}
{{- else}}
<p>no groups yet</p>
{{- end}}
<p>API:
<a href="/api/v1/groups">groups</a> ·
<a href="/api/v1/aggregates/latest">latest aggregates</a> ·
<a href="/api/v1/devices">devices</a> ·
<a href="/metrics">metrics</a> ·
<a href="/healthz">healthz</a> ·
<a href="/readyz">readyz</a></p>
</body>
</html>
`

// statusPage is the data of statusTemplate.
type statusPage struct {
	Now         time.Time
	EngineError string
	Groups      []statusGroup
}

// statusGroup is one group on the status page. Info is nil when the engine
// did not answer or does not know the group.
type statusGroup struct {
	Name    string
	Info    *aggregate.GroupInfo
	Metrics []aggregate.Aggregate
}

func parseStatusTemplate() (*template.Template, error) {
	return template.New("status").Funcs(template.FuncMap{
		"ts": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"num": func(n aggregate.Num) string {
			if !n.Known() {
				return "–"
			}
			return strconv.FormatFloat(float64(n), 'f', -1, 64)
		},
		"age": func(s *float64) string {
			return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
		},
	}).Parse(statusTemplate)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	page := statusPage{Now: s.cfg.Now()}
	byName := map[string]*statusGroup{}
	group := func(name string) *statusGroup {
		g := byName[name]
		if g == nil {
			g = &statusGroup{Name: name}
			byName[name] = g
		}
		return g
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	// The page shows what the store has even when the engine cannot say.
	if infos, err := s.deps.Engine.Groups(ctx); err != nil {
		page.EngineError = err.Error()
	} else {
		for i := range infos {
			group(infos[i].Name).Info = &infos[i]
		}
	}
	for _, a := range s.deps.Store.Latest("", "") {
		g := group(a.Group)
		g.Metrics = append(g.Metrics, a)
	}
	for _, g := range byName {
		page.Groups = append(page.Groups, *g)
	}
	slices.SortFunc(page.Groups, func(a, b statusGroup) int { return strings.Compare(a.Name, b.Name) })

	var buf bytes.Buffer
	if err := s.status.Execute(&buf, page); err != nil {
		s.log.Error("render status page", "err", err)
		s.writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "cannot render the status page"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// A write error means the client went away.
	_, _ = buf.WriteTo(w)
}
