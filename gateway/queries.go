package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// Query parameters every GET of a view takes besides its own.
const (
	paramMinPosition = "min_position"
	paramAsOf        = "as_of"
	paramToday       = "today"
)

// queryHandler serves a view route: the URL's parameters become the op's
// parameters, the caller's roles its scope, and the view's answer is the
// body, with an ETag.
//
// Scope is never taken from a parameter. A filter naming a unit outside
// the caller's scope (unit_id=...) is not an error: the views confine
// every answer to the scope, so such a filter simply matches nothing and a
// list comes back empty. A single thing outside the scope (an item, a
// timeline, an evidence file) is 404, exactly as if it did not exist, so
// that callers learn nothing about what they may not see.
func (s *Server) queryHandler(rt *route) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principalOf(c)
		scope := p.Scope()
		if len(rt.scopeRoles) > 0 {
			if !p.hasRole(rt.scopeRoles...) {
				s.writeError(c, events.Errorf(events.CodeForbidden, "%s may not read %s: needs role %s on some unit",
					p.UserID, rt.path, strings.Join(rt.scopeRoles, " or ")))
				return
			}
			scope = scopeOf(p.Roles, rt.scopeRoles...)
		}
		req, view, op, err := buildQuery(c, rt, scope)
		if err != nil {
			s.writeError(c, err)
			return
		}
		resp, err := s.ask(c.Request.Context(), view, op, req)
		if err != nil {
			s.writeError(c, err)
			return
		}
		s.replyView(c, view, op, req, resp)
	}
}

// ask sends one query and waits, bounded by Config.QueryWait, for the
// answer. The view's own error comes back as the error.
func (s *Server) ask(ctx context.Context, view, op string, req query.Request) (query.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryWait+500*time.Millisecond)
	defer cancel()
	var resp query.Response
	if err := natsx.QueryRequest(ctx, s.nc, view, op, req, &resp); err != nil {
		if req.MinPosition > 0 && events.ErrorCode(err) == events.CodeUnavailable {
			return resp, events.Wrap(events.CodeUnavailable, err,
				"view %s did not reach position %d within %s; retry shortly", view, req.MinPosition, s.cfg.QueryWait)
		}
		return resp, err
	}
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}

// replyView writes a view's answer with its ETag, or 304 when the caller
// has it already.
func (s *Server) replyView(c *gin.Context, view, op string, req query.Request, resp query.Response) {
	etag := etagOf(view, op, req, resp.Position)
	c.Header("ETag", etag)
	c.Header(headerPosition, strconv.FormatUint(resp.Position, 10))
	c.Header("Cache-Control", "private, no-cache")
	if etagMatches(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", resp.Data)
}

// etagOf is W/"<view position>-<hash of the query>": the same question
// from the same scope of a view that has not moved has the same answer.
// The minimum position is left out: it changes when, not what, a view
// answers.
func etagOf(view, op string, req query.Request, pos uint64) string {
	req.MinPosition = 0
	b, _ := json.Marshal(req)
	h := sha256.New()
	h.Write([]byte(view + "\x00" + op + "\x00"))
	h.Write(b)
	return fmt.Sprintf(`W/"%d-%s"`, pos, hex.EncodeToString(h.Sum(nil))[:16])
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// minPosition reads ?min_position= or the X-Rectify-Min-Position header
// (the larger when both are given).
func minPosition(c *gin.Context) (uint64, error) {
	var out uint64
	for _, src := range []struct{ name, val string }{
		{paramMinPosition, c.Query(paramMinPosition)},
		{headerMinPosition, c.GetHeader(headerMinPosition)},
	} {
		if src.val == "" {
			continue
		}
		n, err := strconv.ParseUint(src.val, 10, 64)
		if err != nil {
			return 0, wrongType(src.name, "integer", "must be a position: a non-negative integer")
		}
		out = max(out, n)
	}
	return out, nil
}

// parseAsOf reads ?as_of=: an RFC 3339 time ("2024-05-01T00:00:00+08:00"),
// or a position ("position:123" or "123"). code and problem say what is
// wrong.
func parseAsOf(s string) (a query.AsOf, code, problem string) {
	num := strings.TrimPrefix(s, "position:")
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if n == 0 {
			return query.AsOf{}, events.ProblemNotPositive, "must be a position above 0"
		}
		return query.AsOf{Position: n}, "", ""
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return query.AsOf{Time: t}, "", ""
	}
	return query.AsOf{}, events.ProblemNotATime, "must be a time such as 2024-05-01T00:00:00+08:00, or a position such as position:123"
}

// buildQuery turns the request into the query to send: which view and op
// (the as-of one when ?as_of= is given), and the request envelope.
func buildQuery(c *gin.Context, rt *route, scope query.Scope) (query.Request, string, string, error) {
	req := query.Request{Scope: scope}
	view, op, params := rt.view, rt.op, rt.params
	var v events.Validator
	var err error
	if req.MinPosition, err = minPosition(c); err != nil {
		return req, "", "", err
	}
	if s := c.Query(paramAsOf); s != "" {
		switch {
		case rt.asOf != nil:
			view, op, params = rt.asOf.view, rt.asOf.op, rt.asOf.params
		case rt.asOfNow:
		case rt.noAsOf != "":
			v.Add(paramAsOf, "is not taken here: "+rt.noAsOf)
		default:
			v.Add(paramAsOf, "this route does not answer as-of reads")
		}
		var code, problem string
		if req.AsOf, code, problem = parseAsOf(s); problem != "" {
			v.Fault(paramAsOf, code, problem)
		}
	}
	if s := c.Query(paramToday); s != "" {
		if req.Today, err = events.ParseDate(s); err != nil {
			v.Fault(paramToday, events.ProblemNotADate, events.DateProblem(err))
		}
	}
	raw, perr := paramsFromURL(c, rt, params, &v)
	if err := v.Err(); err != nil {
		return req, "", "", err
	}
	if perr != nil {
		return req, "", "", perr
	}
	req.Params = raw
	return req, view, op, nil
}

// reserved are the parameters buildQuery reads itself.
var reserved = []string{paramMinPosition, paramAsOf, paramToday}

// paramsFromURL fills a fresh value of the params type from the path and
// the query string, validates it and returns it as JSON. Problems with
// single parameters go to v, named as in the query string.
func paramsFromURL(c *gin.Context, rt *route, params any, v *events.Validator) (json.RawMessage, error) {
	values := c.Request.URL.Query()
	if params == nil {
		for name := range values {
			if !slices.Contains(reserved, name) {
				v.Fault(paramName(name), events.ProblemUnknownField, "is not a parameter of this route")
			}
		}
		return nil, nil
	}
	typ := reflect.TypeOf(params).Elem()
	ptr := reflect.New(typ)
	fields := paramFields(typ)
	bound := map[string]bool{}
	for param, field := range rt.bind {
		bound[field] = true
		if f, ok := fields[field]; ok {
			ptr.Elem().FieldByIndex(f.Index).SetString(c.Param(param))
		}
	}
	for field, val := range rt.fixed {
		bound[field] = true
		if f, ok := fields[field]; ok {
			ptr.Elem().FieldByIndex(f.Index).SetString(val)
		}
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(reserved, name) {
			continue
		}
		f, ok := fields[name]
		switch {
		case bound[name]:
			v.Add(name, "is given by the path of this route")
			continue
		case !ok || slices.Contains(rt.omit, name):
			v.Fault(paramName(name), events.ProblemUnknownField, "is not a parameter of this route")
			continue
		}
		if code, problem := setParam(ptr.Elem().FieldByIndex(f.Index), values[name]); problem != "" {
			v.Fault(name, code, problem, paramsOfProblem(code, f.Type)...)
		}
	}
	// Encode before Validate: Validate may fill defaults, and the view
	// validates the parameters again as sent.
	raw, err := json.Marshal(ptr.Interface())
	if err != nil {
		return nil, events.Wrap(events.CodeInternal, err, "encode params")
	}
	if val, ok := ptr.Interface().(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			var e *events.Error
			if !errors.As(err, &e) || e.Code != events.CodeInvalid {
				return nil, err
			}
			for _, fe := range e.Fields {
				v.AddField(fe)
			}
		}
	}
	return raw, nil
}

// paramName is how an error names the query parameter name: as given, or
// "query" for a parameter without a name ("?=x"), so that no error names
// an empty field.
func paramName(name string) string {
	if name == "" {
		return "query"
	}
	return name
}

// paramFields maps the JSON names of a params struct to its fields.
func paramFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f
		}
	}
	return out
}

var (
	dateType = reflect.TypeFor[events.Date]()
	timeType = reflect.TypeFor[time.Time]()
)

// paramsOfProblem are the parameters of a query parameter's problem: the
// type expected, for a value of the wrong type.
func paramsOfProblem(code string, t reflect.Type) []string {
	if code != events.ProblemWrongType {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return []string{"expected", jsonExpected(t.Kind().String())}
}

// setParam sets a params field from the query string values of its name,
// returning the problem's code and text when they do not fit.
func setParam(f reflect.Value, vals []string) (code, problem string) {
	if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String {
		for _, val := range vals {
			for part := range strings.SplitSeq(val, ",") {
				if part = strings.TrimSpace(part); part != "" {
					f.Set(reflect.Append(f, reflect.ValueOf(part).Convert(f.Type().Elem())))
				}
			}
		}
		return "", ""
	}
	if len(vals) != 1 {
		return events.ProblemDuplicate, "is given more than once"
	}
	val := vals[0]
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		if code, problem := setParam(p.Elem(), vals); problem != "" {
			return code, problem
		}
		f.Set(p)
		return "", ""
	}
	switch {
	case f.Type() == dateType:
		d, err := events.ParseDate(val)
		if err != nil {
			return events.ProblemNotADate, events.DateProblem(err)
		}
		f.Set(reflect.ValueOf(d))
	case f.Type() == timeType:
		t, err := time.Parse(time.RFC3339Nano, val)
		if err != nil {
			return events.ProblemNotATime, "must be a time in RFC 3339 form, 2024-05-01T00:00:00+08:00"
		}
		f.Set(reflect.ValueOf(t))
	case f.Kind() == reflect.String:
		f.SetString(val)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return events.ProblemWrongType, "must be true or false"
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return events.ProblemWrongType, "must be an integer"
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Uint64:
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return events.ProblemWrongType, "must be a non-negative integer"
		}
		f.SetUint(n)
	default:
		return events.ProblemInvalid, "cannot be given in the query string"
	}
	return "", ""
}

// meReply is the answer of GET /api/v1/me.
type meReply struct {
	Principal
	// Scope is what the caller may read.
	Scope query.Scope `json:"scope"`
}

func (s *Server) me(c *gin.Context) {
	p := principalOf(c)
	c.JSON(http.StatusOK, meReply{Principal: p, Scope: p.Scope()})
}
