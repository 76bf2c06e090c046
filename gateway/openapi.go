package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"rectify/events"
)

// The OpenAPI 3 document is generated from the route table: every route
// is documented with its parameters, body and replies, the schemas come
// from the Go types the handlers actually send and receive, and a test
// checks the router and the document against each other.

// openAPIPath turns a gin path into an OpenAPI one: /items/:id to
// /items/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// pathParams lists the parameters of a gin path, in order.
func pathParams(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			out = append(out, s[1:])
		}
	}
	return out
}

type obj = map[string]any

// schemaGen turns Go types into JSON Schemas, named structs into
// components.
type schemaGen struct {
	components obj
	names      map[reflect.Type]string
	taken      map[string]reflect.Type
}

func newSchemaGen() *schemaGen {
	return &schemaGen{components: obj{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
}

var rawType = reflect.TypeFor[json.RawMessage]()

// schema returns the schema of t: a $ref for named structs.
func (g *schemaGen) schema(t reflect.Type) obj {
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t == dateType:
		return obj{"type": "string", "format": "date", "example": "2024-06-30"}
	case t == rawType:
		return obj{"description": "any JSON value"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int32:
		return obj{"type": "integer"}
	case reflect.Int64:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer", "format": "int64", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		return obj{"$ref": "#/components/schemas/" + g.component(t)}
	case reflect.Interface:
		return obj{"description": "any JSON value"}
	}
	panic(fmt.Sprintf("openapi: no schema for %v", t))
}

// component names t and adds its schema to the components once.
func (g *schemaGen) component(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	name := strings.TrimSuffix(strings.ToUpper(t.Name()[:1])+t.Name()[1:], "Data")
	if other, ok := g.taken[name]; ok && other != t {
		pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
		name = strings.ToUpper(pkg[:1]) + pkg[1:] + name
	}
	g.names[t] = name
	g.taken[name] = t
	g.components[name] = obj{} // placeholder against recursion
	g.components[name] = g.object(t, nil, true)
	return name
}

// object is the inline schema of struct t without the JSON fields in
// skip; with required, fields not marked omitempty or omitzero are
// required (for replies, which always carry them).
func (g *schemaGen) object(t reflect.Type, skip []string, required bool) obj {
	props := obj{}
	var req []string
	for _, f := range jsonFieldsOf(t) {
		if slices.Contains(skip, f.name) {
			continue
		}
		props[f.name] = g.schema(f.typ)
		if f.typ.Kind() == reflect.Pointer && !f.optional {
			// A nil pointer without omitempty is sent as null (a report
			// commitment's count still to be set).
			if _, ref := props[f.name].(obj)["$ref"]; ref {
				props[f.name] = obj{"allOf": []obj{props[f.name].(obj)}, "nullable": true}
			} else {
				props[f.name].(obj)["nullable"] = true
			}
		}
		if required && !f.optional {
			req = append(req, f.name)
		}
	}
	o := obj{"type": "object", "properties": props}
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

type jsonField struct {
	name     string
	typ      reflect.Type
	optional bool
}

// jsonFieldsOf lists the JSON members of struct t as encoding/json writes
// them: embedded structs without a name are flattened.
func jsonFieldsOf(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFieldsOf(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out = append(out, jsonField{name: name, typ: f.Type, optional: optional})
	}
	return out
}

func errorResponse(description string) obj {
	return obj{"description": description, "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}}}
}

var positionHeader = obj{"description": "the $all position the command wrote, or the view position the answer reflects",
	"schema": obj{"type": "integer", "format": "int64"}}

// buildOpenAPI returns the OpenAPI 3 document of routes.
func buildOpenAPI(routes []route) ([]byte, error) {
	g := newSchemaGen()
	g.components["Error"] = obj{
		"type": "object", "required": []string{"error"},
		"properties": obj{"error": obj{
			"type": "object", "required": []string{"code", "message"},
			"properties": obj{
				"code":    obj{"type": "string", "enum": []string{"invalid", "not_found", "conflict", "forbidden", "unauthorized", "unavailable", "internal"}},
				"message": obj{"type": "string"},
				"fields":  obj{"type": "array", "items": obj{"$ref": "#/components/schemas/FieldError"}},
			},
		}},
	}
	g.components["FieldError"] = obj{
		"type": "object", "required": []string{"field", "code", "problem"},
		"description": "One bad field or parameter. Clients show the problem in their own language from code and params; " +
			"problem is the same in English. New codes may be added: a client that does not know a code shows problem.",
		"properties": obj{
			"field": obj{"type": "string", "description": "the JSON field or query parameter, as sent (p1.title for an import entry's)"},
			"code": obj{"type": "string", "enum": events.ProblemCodes(),
				"description": "what is wrong, for machines; invalid is the catch-all, where only problem says what"},
			"problem": obj{"type": "string", "description": "what is wrong, in English"},
			"params": obj{"type": "object", "additionalProperties": obj{"type": "string"},
				"description": "the values the problem mentions: max (too_long, too_large, too_many), min and max (out_of_range), " +
					"allowed, comma-separated (not_one_of), other, a field name (before_field, same_as_field), expected " +
					"(wrong_type: string, integer, boolean, array, object), date (too_early, too_late, commitment_ended, period_open), " +
					"from and to (outside_dates), status (wrong_status), unit, cycle, id, measure, measures, role, token, ruleset, version, latest"},
		},
	}
	paths := obj{}
	for i := range routes {
		rt := &routes[i]
		p := openAPIPath(rt.path)
		item, _ := paths[p].(obj)
		if item == nil {
			item = obj{}
			paths[p] = item
		}
		op, err := operation(g, rt)
		if err != nil {
			return nil, err
		}
		item[strings.ToLower(rt.method)] = op
	}
	doc := obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":   "rectify",
			"version": "1.0.0",
			"description": "Commitment and rectification tracking (整改事项 / 承诺). Every POST sends one command and replies with " +
				"the position it wrote (body and X-Rectify-Position); every GET of a view takes min_position (or the header " +
				"X-Rectify-Min-Position) and answers once the view has it, or 503 after a bounded wait. Callers see only the " +
				"units of their roles and their subtrees: a list never shows anything outside, and a single thing outside is 404. " +
				"Errors are {\"error\": {\"code\", \"message\", \"fields\": [{\"field\", \"code\", \"problem\", \"params\"}]}}: " +
				"each field problem has a machine-readable code (FieldError) beside its English text.",
		},
		"servers":  []obj{{"url": "/"}},
		"security": []obj{{"bearer": []string{}}},
		"tags": []obj{
			{"name": tagItems}, {"name": tagCommitments}, {"name": tagCycles}, {"name": tagUnits},
			{"name": tagUsers}, {"name": tagViews}, {"name": tagImports}, {"name": tagAssessments}, {"name": tagMeta}, {"name": tagOps},
		},
		"paths": paths,
		"components": obj{
			"schemas": g.components,
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer",
				"description": "an API token, rfy_ followed by 43 characters"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operation documents one route.
func operation(g *schemaGen, rt *route) (obj, error) {
	op := obj{"operationId": rt.id, "summary": rt.summary, "tags": []string{rt.tag}}
	if rt.public {
		op["security"] = []obj{}
	}
	var params []obj
	for _, name := range pathParams(rt.path) {
		desc := "id"
		if f, ok := rt.bind[name]; ok {
			desc = f
		}
		params = append(params, obj{"name": name, "in": "path", "required": true, "description": desc,
			"schema": obj{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}})
	}
	responses := obj{}
	if !rt.public {
		responses["401"] = errorResponse("no token, or an unknown, revoked or expired one")
		responses["403"] = errorResponse("the caller's roles do not allow this")
		responses["429"] = errorResponse("too many failed authentications from the caller's address; retry after Retry-After seconds with a valid token")
	}
	responses["400"] = errorResponse("a bad parameter or field; fields names each one")
	responses["503"] = errorResponse("a part of rectify is not answering, or a view did not reach min_position in time; retry")
	switch {
	case rt.command != nil && rt.custom == nil:
		params = append(params, idempotencyParam)
		skip := slices.Collect(mapValues(rt.bind))
		body := g.object(reflect.TypeOf(rt.command), skip, false)
		body["additionalProperties"] = false // unknown fields are refused
		op["requestBody"] = obj{"required": false, "content": obj{"application/json": obj{"schema": body}}}
		var result any = commandResult{}
		if rt.result != nil {
			result = rt.result // the reply's detail, spelt out
		}
		addCommandResponses(g, rt, responses, result)
	case rt.command != nil:
		params = append(params, idempotencyParam)
		for _, q := range rt.doc.query {
			params = append(params, paramObj(q, "query"))
		}
		op["requestBody"] = customBody(g, rt.doc)
		addCommandResponses(g, rt, responses, rt.doc.result)
		for _, st := range rt.doc.also {
			responses[strconv.Itoa(st)] = obj{"description": "OK", "content": obj{"application/json": obj{"schema": g.schema(reflect.TypeOf(rt.doc.result))}}}
		}
		responses["413"] = errorResponse("the file is larger than the limit")
		responses["415"] = errorResponse("the content is not an accepted type, or not what its name or declared type says")
	case rt.custom != nil:
		if len(rt.doc.multipart) > 0 || len(rt.doc.raw) > 0 || rt.doc.body != nil {
			op["requestBody"] = customBody(g, rt.doc)
			responses["413"] = errorResponse("the body is larger than the limit")
			responses["415"] = errorResponse("the body is not of an accepted type")
		}
		for _, q := range rt.doc.query {
			params = append(params, paramObj(q, "query"))
		}
		for _, h := range rt.doc.headers {
			params = append(params, paramObj(h, "header"))
		}
		status := strconv.Itoa(rt.doc.status)
		if rt.doc.result != nil {
			responses[status] = obj{"description": "OK", "content": obj{"application/json": obj{"schema": g.schema(reflect.TypeOf(rt.doc.result))}}}
		} else {
			responses[status] = obj{"description": "the file", "content": obj{rt.doc.resultCT: obj{"schema": obj{"type": "string", "format": "binary"}}}}
		}
		if !rt.public {
			responses["404"] = errorResponse("not found, or outside the caller's scope")
		}
	default:
		qp, err := queryParams(g, rt)
		if err != nil {
			return nil, err
		}
		params = append(params, qp...)
		var schema obj
		if rt.asOf != nil && reflect.TypeOf(rt.asOf.result) != reflect.TypeOf(rt.result) {
			schema = obj{"oneOf": []obj{g.schema(reflect.TypeOf(rt.result)), g.schema(reflect.TypeOf(rt.asOf.result))},
				"description": "the first form now, the second with as_of"}
		} else {
			schema = g.schema(reflect.TypeOf(rt.result))
		}
		responses["200"] = obj{"description": "the view's answer",
			"headers": obj{"ETag": obj{"description": `W/"<view position>-<query hash>"`, "schema": obj{"type": "string"}},
				headerPosition: positionHeader},
			"content": obj{"application/json": obj{"schema": schema}}}
		responses["304"] = obj{"description": "not modified since the ETag in If-None-Match"}
		responses["404"] = errorResponse("not found, or outside the caller's scope")
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	op["responses"] = responses
	return op, nil
}

// customBody documents the request body of a custom route: a multipart
// form, raw bytes of the given types, or JSON, as its doc says.
func customBody(g *schemaGen, d customDoc) obj {
	content := obj{}
	if len(d.multipart) > 0 {
		props, req := obj{}, []string{}
		for _, f := range d.multipart {
			props[f.name] = obj{"type": f.typ, "description": f.description}
			if f.format != "" {
				props[f.name].(obj)["format"] = f.format
			}
			if f.required {
				req = append(req, f.name)
			}
		}
		content["multipart/form-data"] = obj{"schema": obj{"type": "object", "properties": props, "required": req}}
	}
	for _, ct := range d.raw {
		content[ct] = obj{"schema": obj{"type": "string", "format": "binary"}}
	}
	if d.body != nil {
		content["application/json"] = obj{"schema": g.schema(reflect.TypeOf(d.body))}
	}
	return obj{"required": true, "content": content}
}

func paramObj(p paramDoc, in string) obj {
	schema := obj{"type": p.typ}
	if p.typ == "array" {
		schema["items"] = obj{"type": "string"}
	}
	return obj{"name": p.name, "in": in, "required": p.required, "description": p.description, "schema": schema}
}

var idempotencyParam = obj{"name": "Idempotency-Key", "in": "header", "required": false,
	"description": "a retry with the same key returns the first reply and writes nothing",
	"schema":      obj{"type": "string", "maxLength": maxIdempotencyKey}}

func addCommandResponses(g *schemaGen, rt *route, responses obj, result any) {
	status := "200"
	if rt.created {
		status = "201"
	}
	responses[status] = obj{"description": "the command was applied",
		"headers": obj{headerPosition: positionHeader},
		"content": obj{"application/json": obj{"schema": g.schema(reflect.TypeOf(result))}}}
	responses["404"] = errorResponse("the item, unit, ... addressed does not exist, or lies outside the caller's scope")
	responses["409"] = errorResponse("the state moved on: a stale expected_revision, a taken id, an idempotency key reused")
	responses["413"] = errorResponse("the body is larger than the limit")
}

// queryParams documents the query string of a view route: the params
// type's fields (and the as-of variant's), and the parameters every view
// GET takes.
func queryParams(g *schemaGen, rt *route) ([]obj, error) {
	seen := map[string]bool{}
	var out []obj
	skip := slices.Collect(mapValues(rt.bind))
	skip = append(skip, rt.omit...)
	for k := range rt.fixed {
		skip = append(skip, k)
	}
	add := func(params any, note string) {
		if params == nil {
			return
		}
		for _, f := range jsonFieldsOf(reflect.TypeOf(params).Elem()) {
			if seen[f.name] || slices.Contains(skip, f.name) {
				continue
			}
			seen[f.name] = true
			p := obj{"name": f.name, "in": "query", "required": false, "schema": g.schema(f.typ)}
			if f.typ.Kind() == reflect.Slice {
				p["description"] = "repeat the parameter, or separate values with commas"
				p["explode"] = true
			}
			if note != "" {
				p["description"] = note
			}
			out = append(out, p)
		}
	}
	add(rt.params, "")
	if rt.asOf != nil {
		add(rt.asOf.params, "with as_of")
	}
	out = append(out,
		obj{"name": paramMinPosition, "in": "query", "required": false,
			"description": "answer only once the view has this position (read your writes)", "schema": obj{"type": "integer", "format": "int64", "minimum": 0}},
		obj{"name": headerMinPosition, "in": "header", "required": false,
			"description": "like min_position", "schema": obj{"type": "integer", "format": "int64", "minimum": 0}},
		obj{"name": paramToday, "in": "query", "required": false,
			"description": "the day overdue and red/yellow/green are derived for (default: today, UTC+8)", "schema": obj{"type": "string", "format": "date"}},
		obj{"name": "If-None-Match", "in": "header", "required": false, "schema": obj{"type": "string"}},
	)
	if rt.asOf != nil || rt.asOfNow {
		out = append(out, obj{"name": paramAsOf, "in": "query", "required": false,
			"description": "as it stood then: an RFC 3339 time (2024-05-01T00:00:00+08:00) or a position (position:123)",
			"schema":      obj{"type": "string"}})
	}
	return out, nil
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(m[k]) {
				return
			}
		}
	}
}

// serveOpenAPI serves the document of the server's route table.
func (s *Server) serveOpenAPI(c *gin.Context) {
	s.openapiOnce.Do(func() { s.openapiDoc, s.openapiErr = buildOpenAPI(s.routes) })
	if s.openapiErr != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, s.openapiErr, "openapi"))
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.openapiDoc)
}
