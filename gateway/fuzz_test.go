package gateway

// Fuzz targets of the gateway's decoders of outside input: command bodies
// as the gateway reads them, the query strings of every view and export
// route, the live stream's Last-Event-ID and topics, and the
// Authorization header. Seeds are under testdata/fuzz/<name>/; .ci/fuzz
// runs each for a while.

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/projections/query"
)

// fuzzRoutes sorts the route table into the routes each target drives.
var fuzzRoutes = sync.OnceValue(func() (r struct{ commands, queries, exports []*route }) {
	for _, rt := range routeTable() {
		switch {
		case rt.command != nil && rt.custom == nil:
			r.commands = append(r.commands, &rt)
		case rt.custom == nil:
			r.queries = append(r.queries, &rt)
		case strings.Contains(rt.path, "/exports/"):
			r.exports = append(r.exports, &rt)
		}
	}
	return r
})

// fuzzEngine is the engine of every fuzzContext: making one per input
// would cost more than the decoding under test.
var fuzzEngine = sync.OnceValue(func() *gin.Engine {
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	return gin.New()
})

// fuzzContext is a gin context for a request to target with the path
// parameters of rt all set to pathID.
func fuzzContext(method, target string, body []byte, rt *route, pathID string) *gin.Context {
	c := gin.CreateTestContextOnly(httptest.NewRecorder(), fuzzEngine())
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	u, err := url.Parse(target)
	if err == nil {
		req.URL = u
	}
	c.Request = req
	for param := range rt.bind {
		c.Params = append(c.Params, gin.Param{Key: param, Value: pathID})
	}
	return c
}

// invalidFields checks that err is CodeInvalid naming at least one field
// with a problem, and returns the fields.
func invalidFields(t *testing.T, err error) []string {
	t.Helper()
	var e *events.Error
	if !errors.As(err, &e) || e.Code != events.CodeInvalid || len(e.Fields) == 0 {
		t.Fatalf("error %v: want CodeInvalid naming a field", err)
	}
	var out []string
	for _, f := range e.Fields {
		if f.Field == "" || f.Problem == "" {
			t.Fatalf("error %v: a field without name or problem", err)
		}
		out = append(out, f.Field)
	}
	return out
}

// FuzzCommandBody sends any body to any command route the way the
// gateway reads it (readJSONObject, the path's ids, events.DecodeCommand).
// A refusal is a 413 or 415 with a message, or CodeInvalid naming a field;
// an accepted command carries the path's id, and every text in it is
// valid UTF-8 without bidirectional controls.
func FuzzCommandBody(f *testing.F) {
	f.Add(uint(0), []byte(`{"cycle_id":"y2024","unit_id":"sqA1","title":"走访不到位","deadline":"2030-06-30"}`), "")
	f.Add(uint(4), []byte(`{"percent":50,"note":"进展顺利 تقدم"}`), "item-1")
	f.Add(uint(0), []byte(`{"title":"a","title":"b"}`), "")
	f.Add(uint(0), []byte("{\"title\":\"\xff\"}"), "")
	f.Add(uint(7), []byte(`{"deadline":"2025-02-30","reason":"延期"}`), "i1")
	f.Add(uint(15), []byte(`{"count":1e12,"occurred_on":"2024-05-06"}`), "c1")
	f.Fuzz(func(t *testing.T, pick uint, body []byte, pathID string) {
		routes := fuzzRoutes().commands
		rt := routes[pick%uint(len(routes))]
		c := fuzzContext(http.MethodPost, rt.path, body, rt, pathID)
		c.Request.Header.Set("Content-Type", "application/json")
		obj, err := readJSONObject(c, 16<<10)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				if he.status != http.StatusRequestEntityTooLarge || he.msg == "" {
					t.Fatalf("%s: %d %q", rt.path, he.status, he.msg)
				}
				return
			}
			invalidFields(t, err)
			return
		}
		if err := bindPathFields(c, rt, obj); err != nil {
			for _, f := range invalidFields(t, err) {
				if !slices.Contains(slices.Collect(maps.Values(rt.bind)), f) {
					t.Fatalf("path error names %s, not a path field of %v", f, rt.bind)
				}
			}
			return
		}
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("re-encoding an accepted body: %v", err)
		}
		cmd, err := events.DecodeCommand(rt.command.CommandName(), data)
		if err != nil {
			invalidFields(t, err)
			return
		}
		out, _ := json.Marshal(cmd)
		var fields map[string]any
		if err := json.Unmarshal(out, &fields); err != nil {
			t.Fatal(err)
		}
		for _, field := range rt.bind {
			if fields[field] != pathID {
				t.Fatalf("%s: %s is %v, not the path's %q", rt.path, field, fields[field], pathID)
			}
		}
		walkStrings(fields, func(s string) {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, events.IsBidiControl) {
				t.Fatalf("%s accepted the text %q", rt.path, s)
			}
		})
	})
}

// walkStrings calls f with every string in a decoded JSON value, keys
// included.
func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case map[string]any:
		for k, e := range x {
			f(k)
			walkStrings(e, f)
		}
	}
}

// FuzzQueryParams sends any query string to any view or export route the
// way the gateway reads it (buildQuery, parseExportParams). A refusal is
// CodeInvalid naming a field; an accepted query keeps the caller's scope
// whatever the parameters say, asks the route's own view, and its
// parameters decode strictly into the route's parameter type.
func FuzzQueryParams(f *testing.F) {
	f.Add(uint(0), "status=open,submitted&rag=red&q=走访&sort=deadline&order=desc&limit=10", "")
	f.Add(uint(1), "as_of=position:12&min_position=3", "it-1")
	f.Add(uint(2), "as_of=2024-05-01T00:00:00+08:00&today=2025-02-30", "")
	f.Add(uint(5), "unit_id=sqB&scope=all&All=true&units=sqB", "")
	f.Add(uint(100), "period=2024-03-01&ruleset_id=kh&version=2", "")
	f.Add(uint(101), "from=2024-01-01&to=2024-12-31&period=month&cycle_id=y2024", "")
	f.Add(uint(3), "limit=99999999999999999999&cursor=%ff%fe", "")
	scope := query.Scope{Units: []string{"sqA"}}
	f.Fuzz(func(t *testing.T, pick uint, rawQuery, pathID string) {
		r := fuzzRoutes()
		all := append(slices.Clone(r.queries), r.exports...)
		rt := all[pick%uint(len(all))]
		c := fuzzContext(http.MethodGet, "/x?"+rawQuery, nil, rt, pathID)
		if c.Request.URL.RawQuery != rawQuery {
			return // not a query string a request line can carry
		}
		if strings.Contains(rt.path, "/exports/") {
			view, _, _ := strings.Cut(path.Base(rt.path), ".")
			p, err := parseExportParams(c, view, scope)
			if err != nil {
				invalidFields(t, err)
				return
			}
			if !reflect.DeepEqual(p.base.Scope, scope) {
				t.Fatalf("%s?%s: scope %+v, want %+v", rt.path, rawQuery, p.base.Scope, scope)
			}
			return
		}
		req, view, op, err := buildQuery(c, rt, scope)
		if err != nil {
			invalidFields(t, err)
			return
		}
		if !reflect.DeepEqual(req.Scope, scope) {
			t.Fatalf("%s?%s: scope %+v, want %+v", rt.path, rawQuery, req.Scope, scope)
		}
		params := rt.params
		switch {
		case view == rt.view && op == rt.op:
		case rt.asOf != nil && view == rt.asOf.view && op == rt.asOf.op:
			params = rt.asOf.params
		default:
			t.Fatalf("%s asks %s %s", rt.path, view, op)
		}
		if params == nil {
			if req.Params != nil {
				t.Fatalf("%s takes no parameters, sent %s", rt.path, req.Params)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(req.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(reflect.New(reflect.TypeOf(params).Elem()).Interface()); err != nil {
			t.Fatalf("%s: parameters %s do not decode: %v", rt.path, req.Params, err)
		}
	})
}

// FuzzLiveStreamParams feeds the live stream's Last-Event-ID (header or
// parameter) and topics to their parsers. A refusal is CodeInvalid naming
// the field it came from; an accepted id is exactly the number sent, and
// accepted topics are exactly the ones sent, each of a known kind with a
// printable id.
func FuzzLiveStreamParams(f *testing.F) {
	f.Add("42", "", "item:it-1\nunit:sqA")
	f.Add("", "18446744073709551615", "view:ledger")
	f.Add("  7 ", "x", "unit:东风社区")
	f.Add("-1", "", "file:../../etc/passwd\nitem:")
	f.Add("1e3", "", "item:a\x00b")
	f.Fuzz(func(t *testing.T, header, param, topics string) {
		c := fuzzContext(http.MethodGet, "/api/v1/stream?"+url.Values{"last_event_id": {param}}.Encode(), nil, &route{}, "")
		c.Request.Header["Last-Event-Id"] = []string{header}
		id, has, err := lastEventID(c)
		source, name := header, "Last-Event-ID"
		if header == "" {
			source, name = param, "last_event_id"
		}
		switch {
		case err != nil:
			if fields := invalidFields(t, err); !slices.Equal(fields, []string{name}) {
				t.Fatalf("Last-Event-ID %q / %q: error names %v, want %s", header, param, fields, name)
			}
		case source == "":
			if has {
				t.Fatalf("no id sent, but one read: %d", id)
			}
		default:
			want, perr := strconv.ParseUint(strings.TrimSpace(source), 10, 64)
			if !has || perr != nil || id != want {
				t.Fatalf("id %q read as %d (%v)", source, id, has)
			}
		}

		values := strings.Split(topics, "\n")
		got, err := parseTopics(values, defaultLiveMaxTopics)
		if err != nil {
			if fields := invalidFields(t, err); slices.ContainsFunc(fields, func(f string) bool { return f != "topic" }) {
				t.Fatalf("topics %q: error names %v", topics, fields)
			}
			return
		}
		if len(got) != len(values) {
			t.Fatalf("topics %q read as %v", topics, got)
		}
		for i, tp := range got {
			if tp.kind+":"+tp.id != values[i] || !slices.Contains([]string{"item", "unit", "view"}, tp.kind) ||
				tp.id == "" || strings.ContainsFunc(tp.id, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("topic %q read as %+v", values[i], tp)
			}
		}
	})
}

// FuzzAuthorization feeds any Authorization header to the bearer token
// reader and the log's redaction. A refusal is CodeUnauthorized with one
// of two fixed messages (nothing sent is repeated); an accepted token is
// a rectify token taken from a "Bearer" header; and no token shape
// survives redaction.
func FuzzAuthorization(f *testing.F) {
	tok := events.TokenPrefix + strings.Repeat("Ab3-_", 8) + "xyz"
	f.Add("Bearer " + tok)
	f.Add("bearer   " + tok + "  ")
	f.Add("Basic YWRtaW46cGFzc3dvcmQ=")
	f.Add(tok)
	f.Add("Bearer rfy_短令牌")
	f.Add("Bearer " + tok + "rfy_" + tok)
	f.Fuzz(func(t *testing.T, h string) {
		token, err := bearerToken(h)
		if err != nil {
			var e *events.Error
			if !errors.As(err, &e) || e.Code != events.CodeUnauthorized {
				t.Fatalf("%q: %v, want CodeUnauthorized", h, err)
			}
			if e.Message != `the Authorization header must be "Bearer <token>"` &&
				e.Message != "the bearer token is not a rectify token ("+events.TokenPrefix+"...)" {
				t.Fatalf("%q: the message %q is not one of the fixed ones", h, e.Message)
			}
		} else if !events.LooksLikeToken(token) || !strings.Contains(h, token) || !strings.EqualFold(h[:6], "Bearer") {
			t.Fatalf("%q: accepted %q", h, token)
		}
		red := redactString(h)
		if redactString(red) != red {
			t.Fatalf("redaction of %q is not stable: %q", h, red)
		}
		for i := 0; ; {
			j := strings.Index(red[i:], events.TokenPrefix)
			if j < 0 {
				break
			}
			i += j + len(events.TokenPrefix)
			if i < len(red) && isTokenChar(red[i]) {
				t.Fatalf("%q redacted as %q keeps a token's characters", h, red)
			}
		}
	})
}
