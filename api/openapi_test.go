package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/aggregate"
)

// openAPIFile is the OpenAPI document of the API.
const openAPIFile = "../docs/api.yaml"

// schemaTypes maps the document's schemas to the Go types the handlers
// encode. Schemas without a Go struct (enums) are in schemaEnums.
var schemaTypes = map[string]reflect.Type{
	"Error":              reflect.TypeFor[Error](),
	"Status":             reflect.TypeFor[statusBody](),
	"AggregatesResponse": reflect.TypeFor[AggregatesResponse](),
	"LatestResponse":     reflect.TypeFor[LatestResponse](),
	"StreamReset":        reflect.TypeFor[StreamReset](),
	"Aggregate":          reflect.TypeFor[aggregate.Aggregate](),
	"Window":             reflect.TypeFor[aggregate.Window](),
	"Stats":              reflect.TypeFor[aggregate.Stats](),
	"Stat":               reflect.TypeFor[aggregate.Stat](),
	"CountStat":          reflect.TypeFor[aggregate.CountStat](),
	"Coverage":           reflect.TypeFor[aggregate.Coverage](),
	"Missing":            reflect.TypeFor[aggregate.Missing](),
	"Staleness":          reflect.TypeFor[aggregate.Staleness](),
	"Counts":             reflect.TypeFor[aggregate.Counts](),
	"Quality":            reflect.TypeFor[aggregate.Quality](),
	"DevicesResponse":    reflect.TypeFor[DevicesResponse](),
	"DeviceInfo":         reflect.TypeFor[aggregate.DeviceInfo](),
	"DeviceCounts":       reflect.TypeFor[aggregate.DeviceCounts](),
	"GroupsResponse":     reflect.TypeFor[GroupsResponse](),
	"GroupStatus":        reflect.TypeFor[GroupStatus](),
	"MetricCoverage":     reflect.TypeFor[MetricCoverage](),
	"RejectsResponse":    reflect.TypeFor[RejectsResponse](),
	"RejectSample":       reflect.TypeFor[aggregate.RejectSample](),
	"PipelineResponse":   reflect.TypeFor[PipelineResponse](),
	"PipelineMetric":     reflect.TypeFor[PipelineMetric](),
	"GatewaysResponse":   reflect.TypeFor[GatewaysResponse](),
	"GatewayInfo":        reflect.TypeFor[GatewayInfo](),
}

// schemaEnums are schemas of parameter values, with no Go type.
var schemaEnums = []string{"DeviceStateFilter"}

// allCodes are the error codes of errors.go.
var allCodes = []string{
	CodeMissingParameter, CodeBadParameter, CodeRangeTooLarge, CodeLimitTooLarge, CodeUnauthorized,
	CodeUnknownDevice, CodeNotFound, CodeMethodNotAllowed, CodeTooLarge, CodeURITooLong, CodeUnknownGroup,
	CodeUnknownMetric, CodeTooManyStreams, CodeInternal, CodeNotReady, CodeUnavailable,
}

type openAPI struct {
	Paths      map[string]map[string]operation `yaml:"paths"`
	Components struct {
		Schemas    map[string]*schema    `yaml:"schemas"`
		Parameters map[string]parameter  `yaml:"parameters"`
		Responses  map[string]respObject `yaml:"responses"`
	} `yaml:"components"`
}

type operation struct {
	Parameters []parameter           `yaml:"parameters"`
	Responses  map[string]respObject `yaml:"responses"`
}

type parameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type respObject struct {
	Ref     string `yaml:"$ref"`
	Content map[string]struct {
		Schema *schema `yaml:"schema"`
	} `yaml:"content"`
}

type schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Format               string             `yaml:"format"`
	Nullable             bool               `yaml:"nullable"`
	Enum                 []string           `yaml:"enum"`
	Required             []string           `yaml:"required"`
	Properties           map[string]*schema `yaml:"properties"`
	Items                *schema            `yaml:"items"`
	AdditionalProperties *schema            `yaml:"additionalProperties"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	b, err := os.ReadFile(openAPIFile)
	require.NoError(t, err)
	var doc openAPI
	require.NoError(t, yaml.Unmarshal(b, &doc))
	return &doc
}

func (doc *openAPI) resolve(s *schema) *schema {
	for s != nil && s.Ref != "" {
		s = doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

func (doc *openAPI) param(p parameter) parameter {
	if p.Ref != "" {
		return doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
	}
	return p
}

func (doc *openAPI) response(r respObject) respObject {
	if r.Ref != "" {
		return doc.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return r
}

// openAPIPath is the document's path of a route pattern.
func openAPIPath(pattern string) string { return strings.TrimSuffix(pattern, "{$}") }

// TestOpenAPIRoutes: docs/api.yaml has exactly the server's routes, each
// with exactly the query and path parameters the handler takes.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	s, _ := newServer(t, fixture{})
	documented := []string{}
	for p := range doc.Paths {
		documented = append(documented, p)
	}
	served := []string{}
	for _, rt := range s.routes {
		served = append(served, openAPIPath(rt.path))
	}
	slices.Sort(documented)
	slices.Sort(served)
	require.Equal(t, served, documented, "paths of docs/api.yaml and of the server")

	pathParam := regexp.MustCompile(`\{([^}$]+)\}`)
	for _, rt := range s.routes {
		op, ok := doc.Paths[openAPIPath(rt.path)]["get"]
		require.True(t, ok, "%s has no get", rt.path)
		query, path := []string{}, []string{}
		for _, p := range op.Parameters {
			p = doc.param(p)
			switch p.In {
			case "query":
				query = append(query, p.Name)
			case "path":
				path = append(path, p.Name)
			}
		}
		if !slices.Equal(rt.params, anyParams) {
			want := append([]string{}, rt.params...)
			slices.Sort(want)
			slices.Sort(query)
			require.Equal(t, want, query, "query parameters of %s", rt.path)
		}
		wantPath := []string{}
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			wantPath = append(wantPath, m[1])
		}
		require.Equal(t, wantPath, path, "path parameters of %s", rt.path)
		if strings.HasPrefix(rt.path, "/api/") {
			for _, code := range []string{"200", "400", "401", "413", "414"} {
				require.Contains(t, op.Responses, code, "%s documents %s", rt.path, code)
			}
		}
	}
}

// TestOpenAPISchemas: every schema has the fields, types, nullability and
// required list of the Go type the handlers encode.
func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for name := range doc.Components.Schemas {
		_, typed := schemaTypes[name]
		require.True(t, typed || slices.Contains(schemaEnums, name), "schema %s has no Go type in schemaTypes", name)
	}
	for name, typ := range schemaTypes {
		s := doc.Components.Schemas[name]
		require.NotNil(t, s, "docs/api.yaml lacks schema %s", name)
		compareSchema(t, doc, name, s, typ)
	}
	codes := slices.Clone(allCodes)
	slices.Sort(codes)
	enum := slices.Clone(doc.Components.Schemas["Error"].Properties["code"].Enum)
	slices.Sort(enum)
	require.Equal(t, codes, enum, "error codes")
	quality := doc.Components.Schemas["Quality"].Enum
	require.Equal(t, []string{string(aggregate.QualityGood), string(aggregate.QualityUncertain), string(aggregate.QualityBad)}, quality)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	numType  = reflect.TypeFor[aggregate.Num]()
)

// jsonField is one field of a struct's JSON form.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// jsonFields lists the JSON fields of struct type t, embedded structs
// flattened as encoding/json does.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, omitempty: strings.Contains(opts, "omitempty"), typ: f.Type})
	}
	return out
}

func compareSchema(t *testing.T, doc *openAPI, where string, s *schema, typ reflect.Type) {
	t.Helper()
	s = doc.resolve(s)
	require.NotNil(t, s, "%s: unresolved $ref", where)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ {
	case timeType:
		require.Equal(t, "string", s.Type, where)
		require.Equal(t, "date-time", s.Format, where)
		return
	case numType:
		require.Equal(t, "number", s.Type, where)
		require.True(t, s.Nullable, "%s: a Num is null when unknown", where)
		return
	}
	require.False(t, s.Nullable, "%s: %v is never null", where, typ)
	switch typ.Kind() {
	case reflect.String:
		require.Equal(t, "string", s.Type, where)
	case reflect.Bool:
		require.Equal(t, "boolean", s.Type, where)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		require.Equal(t, "integer", s.Type, where)
	case reflect.Float32, reflect.Float64:
		require.Equal(t, "number", s.Type, where)
	case reflect.Slice:
		require.Equal(t, "array", s.Type, where)
		compareSchema(t, doc, where+"[]", s.Items, typ.Elem())
	case reflect.Map:
		require.Equal(t, "object", s.Type, where)
		require.NotNil(t, s.AdditionalProperties, "%s: a map has additionalProperties", where)
		compareSchema(t, doc, where+"{}", s.AdditionalProperties, typ.Elem())
	case reflect.Struct:
		require.Equal(t, "object", s.Type, where)
		fields := jsonFields(typ)
		names, required := []string{}, []string{}
		for _, f := range fields {
			names = append(names, f.name)
			if !f.omitempty {
				required = append(required, f.name)
			}
		}
		props := []string{}
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(names)
		slices.Sort(props)
		require.Equal(t, names, props, "%s: properties of %v", where, typ)
		req := slices.Clone(s.Required)
		slices.Sort(req)
		slices.Sort(required)
		require.Equal(t, required, req, "%s: required properties of %v (those without omitempty)", where, typ)
		for _, f := range fields {
			compareSchema(t, doc, where+"."+f.name, s.Properties[f.name], f.typ)
		}
	default:
		t.Fatalf("%s: no rule for %v", where, typ)
	}
}

// TestOpenAPIResponses sends requests for every route and status and
// validates each answer against the document: the status is documented
// for the path, and the body matches its schema, with no undocumented
// field.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	withStats := func(d *Deps) {
		withRejects(d)
		d.MetricStat = func(string) string { return "sum" }
	}
	s, _ := newServer(t, fixture{deps: withStats})
	authed, _ := newServer(t, fixture{deps: withStats, cfg: Config{Token: testToken, MetricsAuth: true}})
	down, _ := newServer(t, fixture{engine: &fakeEngine{err: aggregate.ErrStopped}, ready: func() error { return fmt.Errorf("not connected") }})
	central, _ := newServer(t, fixture{engine: centralEngine(nil)})
	centralDown, _ := newServer(t, fixture{engine: centralEngine(aggregate.ErrStopped)})
	long := "?" + strings.Repeat("x", DefaultMaxURLBytes)
	tests := []struct {
		s      *Server
		path   string // the document's path
		target string
		status int
	}{
		{s, "/api/v1/aggregates", "/api/v1/aggregates?group=site-a&metric=power_kw&limit=2&revisions=all", 200},
		{s, "/api/v1/aggregates", "/api/v1/aggregates?group=site-a", 400},
		{s, "/api/v1/aggregates", "/api/v1/aggregates?group=site-a&metric=power_kw&limit=100000", 400},
		{authed, "/api/v1/aggregates", "/api/v1/aggregates?group=site-a&metric=power_kw", 401},
		{s, "/api/v1/aggregates", "/api/v1/aggregates" + long, 414},
		{s, "/api/v1/aggregates", "/api/v1/aggregates?group=site-x&metric=power_kw", 422},
		{s, "/api/v1/aggregates/latest", "/api/v1/aggregates/latest", 200},
		{s, "/api/v1/aggregates/latest", "/api/v1/aggregates/latest?group=site-x", 422},
		{s, "/api/v1/aggregates/stream", "/api/v1/aggregates/stream?group=site-x", 422},
		{s, "/api/v1/aggregates/stream", "/api/v1/aggregates/stream?last_event_id=x", 400},
		{s, "/api/v1/devices", "/api/v1/devices", 200},
		{s, "/api/v1/devices", "/api/v1/devices?state=asleep", 400},
		{s, "/api/v1/devices", "/api/v1/devices?group=site-x", 422},
		{down, "/api/v1/devices", "/api/v1/devices", 503},
		{s, "/api/v1/devices/{site}/{device}", "/api/v1/devices/site-a/wt-07", 200},
		{s, "/api/v1/devices/{site}/{device}", "/api/v1/devices/site-a/wt-99", 404},
		{down, "/api/v1/devices/{site}/{device}", "/api/v1/devices/site-a/wt-07", 503},
		{s, "/api/v1/groups", "/api/v1/groups", 200},
		{down, "/api/v1/groups", "/api/v1/groups", 503},
		{s, "/api/v1/rejects", "/api/v1/rejects", 200},
		{s, "/api/v1/pipeline", "/api/v1/pipeline", 200},
		{s, "/api/v1/gateways", "/api/v1/gateways", 404},
		{central, "/api/v1/gateways", "/api/v1/gateways", 200},
		{centralDown, "/api/v1/gateways", "/api/v1/gateways", 503},
		{s, "/healthz", "/healthz", 200},
		{s, "/readyz", "/readyz", 200},
		{down, "/readyz", "/readyz", 503},
		{s, "/metrics", "/metrics", 200},
		{authed, "/metrics", "/metrics", 401},
		{s, "/", "/", 200},
		{s, "/static/{file}", "/static/app.js", 200},
		{s, "/static/{file}", "/static/nope", 404},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+" "+tt.target[:min(len(tt.target), 60)], func(t *testing.T) {
			rec := do(tt.s.Handler(), http.MethodGet, tt.target, nil)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			op := doc.Paths[tt.path]["get"]
			r, ok := op.Responses[strconv.Itoa(tt.status)]
			require.True(t, ok, "%s does not document %d", tt.path, tt.status)
			r = doc.response(r)
			ct, _, _ := strings.Cut(rec.Header().Get("Content-Type"), ";")
			media, ok := r.Content[ct]
			require.True(t, ok, "%s %d does not document %s", tt.path, tt.status, ct)
			if ct != "application/json" {
				return
			}
			var v any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
			for _, err := range validate(doc, "body", media.Schema, v) {
				t.Error(err)
			}
		})
	}
}

// TestOpenAPIStreamEvents validates the stream's event data against the
// Aggregate and StreamReset schemas.
func TestOpenAPIStreamEvents(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	ss := newStreamServer(t, Config{}, nil)
	_, events := ss.open(t, "", "1-1") // another run: a reset, then live
	ev := next(t, events)
	require.Equal(t, EventReset, ev.Event)
	var v any
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &v))
	require.Empty(t, validate(doc, "reset", &schema{Ref: "#/components/schemas/StreamReset"}, v))
	a := agg("site-a", "power_kw", 6, 0)
	seen, age := start(5), 3.5
	a.Coverage.Missing = []aggregate.Missing{{Device: "wt-07", State: "silent", LastSeen: &seen, AgeS: &age}}
	ss.store.Add(a)
	ev = next(t, events)
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &v))
	require.Empty(t, validate(doc, "aggregate", &schema{Ref: "#/components/schemas/Aggregate"}, v))
}

// validate checks v (decoded JSON) against s and returns every mismatch.
// Objects with properties are closed: an undocumented field is an error.
func validate(doc *openAPI, where string, s *schema, v any) []error {
	s = doc.resolve(s)
	if s == nil {
		return []error{fmt.Errorf("%s: unresolved schema", where)}
	}
	if v == nil {
		if s.Nullable {
			return nil
		}
		return []error{fmt.Errorf("%s: null, not nullable", where)}
	}
	var errs []error
	bad := func(format string, args ...any) []error {
		return append(errs, fmt.Errorf("%s: "+format, append([]any{where}, args...)...))
	}
	switch s.Type {
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("%v is not a string", v)
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			return bad("%q is not one of %v", str, s.Enum)
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return bad("%q is not a date-time", str)
			}
		}
	case "number", "integer":
		f, ok := v.(float64)
		if !ok {
			return bad("%v is not a number", v)
		}
		if s.Type == "integer" && f != float64(int64(f)) {
			return bad("%v is not an integer", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("%v is not a boolean", v)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return bad("not an array")
		}
		for i, x := range arr {
			errs = append(errs, validate(doc, fmt.Sprintf("%s[%d]", where, i), s.Items, x)...)
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("not an object")
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				errs = append(errs, fmt.Errorf("%s: lacks required %q", where, r))
			}
		}
		for k, x := range obj {
			switch p, ok := s.Properties[k]; {
			case ok:
				errs = append(errs, validate(doc, where+"."+k, p, x)...)
			case s.AdditionalProperties != nil:
				errs = append(errs, validate(doc, where+"."+k, s.AdditionalProperties, x)...)
			default:
				errs = append(errs, fmt.Errorf("%s: undocumented field %q", where, k))
			}
		}
	default:
		return bad("schema without a type")
	}
	return errs
}
