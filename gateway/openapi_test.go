package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"rectify/events"
	"rectify/services/report"
)

// mustLoadOpenAPI fetches /api/openapi.json and checks it is a valid
// OpenAPI 3 document.
func mustLoadOpenAPI(tb testing.TB, st *Stack) *openapi3.T {
	tb.Helper()
	r := st.Client(tb, "").Get("/api/openapi.json")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		tb.Fatalf("GET /api/openapi.json: %d %v", r.Status, r.Header)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		tb.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentsExactlyTheRoutes checks the document against the
// router: every route registered in Gin is documented, and every
// documented operation is a route.
func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	st := MustStartStack(t)
	doc := mustLoadOpenAPI(t, st)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range st.Gateway.engine.Routes() {
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not documented", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("documented operation %s is not a route", k)
		}
	}
	if len(registered) < 50 {
		t.Errorf("only %d routes registered", len(registered))
	}
	// Every path parameter is declared, in the path and the operation.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for _, name := range pathParams(strings.NewReplacer("{", ":", "}", "").Replace(path)) {
				if p := op.Parameters.GetByInAndName("path", name); p == nil {
					t.Errorf("%s %s does not declare path parameter %s", method, path, name)
				}
			}
		}
	}
}

// TestOpenAPIDescribesTheRealReplies validates real requests and replies
// against the document: the schemas are those of what the handlers send.
func TestOpenAPIDescribesTheRealReplies(t *testing.T) {
	st := MustStartStack(t)
	doc := mustLoadOpenAPI(t, st)
	doc.Servers = openapi3.Servers{{URL: st.URL}}
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	raised := admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA1", "title": "理论学习", "deadline": "2030-06-30"}, http.StatusCreated)
	admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": "c1", "unit_id": "sqA", "title": "走访", "activity": "走访",
		"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	up := admin.Upload("/api/v1/items/i1/evidence", []upload{{field: "file", filename: "照片.png", data: pngBytes(t, 4, 4)}},
		headerMinPosition, fmt.Sprint(raised.Position))
	var ev evidenceReply
	up.JSON(t, &ev)
	last := admin.MustPost("/api/v1/items/i1/progress", map[string]any{"percent": 10, "note": "开始"}, http.StatusOK).Position
	wait := fmt.Sprintf("min_position=%d", last)

	ctx := context.Background()
	check := func(method, path string, body []byte, ctype string) {
		t.Helper()
		req, err := http.NewRequest(method, st.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+st.AdminToken)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: no documented route: %v", method, path, err)
			return
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request does not fit the document: %v", method, path, err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(b)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
				t.Errorf("%s %s: the %d reply does not fit the document: %v\n%.500s", method, path, resp.StatusCode, err, b)
			}
		}
	}
	for _, p := range []string{
		"/api/v1/items?" + wait, "/api/v1/items?as_of=position:1", "/api/v1/items/i1?" + wait, "/api/v1/items/i1?as_of=position:" + fmt.Sprint(last) + "&" + wait,
		"/api/v1/items/i1/timeline", "/api/v1/units", "/api/v1/units/sqA", "/api/v1/units/sqA/timeline", "/api/v1/cycles",
		"/api/v1/cycles/y2024/timeline", "/api/v1/progress/summary", "/api/v1/progress/trend", "/api/v1/commitments",
		"/api/v1/commitments/c1", "/api/v1/commitments/c1/compliance", "/api/v1/commitments/c1/timeline", "/api/v1/compliance",
		"/api/v1/compliance/units", "/api/v1/audit", "/api/v1/timeline?stream=unit-sqA", "/api/v1/users", "/api/v1/users/admin",
		"/api/v1/users/admin/timeline", "/api/v1/me", "/healthz", "/readyz", "/api/v1/units/sqA/people", "/api/v1/units/nope/people",
		"/api/v1/items/nope", "/api/v1/items?limit=999", "/api/v1/items/i1/evidence/" + ev.Evidence.ID,
	} {
		path, query, _ := strings.Cut(p, "?")
		if query != "" {
			path += "?" + query
		}
		check(http.MethodGet, path, nil, "")
	}
	for _, c := range []struct {
		path, body string
	}{
		{"/api/v1/items", `{"cycle_id":"y2024","unit_id":"sqA","title":"会议记录","deadline":"2030-06-30"}`},
		{"/api/v1/items/i1/measures", `{"text":"每周学习"}`},
		{"/api/v1/items/i1/submit", `{}`},
		{"/api/v1/items", `{"title":""}`},
		{"/api/v1/items", `{"cycle_id":"y2024","unit_id":"sqA","title":"` + strings.Repeat("长", 201) + `","deadline":"2030-02-28","severity":"x"}`},
		{"/api/v1/users", `{"user_id":"li","name":"李四"}`},
		{"/api/v1/users/li/tokens", `{"label":"电脑"}`},
	} {
		check(http.MethodPost, c.path, []byte(c.body), "application/json")
	}
	// A report import: the draft from a raw text body, and its review
	// confirmed (the draft holds a count still to be set: null).
	draft := reportSample(t, "xihu_2019_gb18030.txt")
	check(http.MethodPost, "/api/v1/imports/report?name=xihu.txt", draft, "text/plain")
	var review report.Review
	admin.postReport("/api/v1/imports/report", draft).JSON(t, &review)
	settle(&review, "y2024", "sqA")
	rb, _ := json.Marshal(review)
	check(http.MethodPost, "/api/v1/imports/report/confirm", rb, "application/json")
	if !slices.ContainsFunc(st.Gateway.routes, func(r route) bool { return r.path == "/api/v1/stream" }) {
		t.Errorf("the live stream is not among the routes")
	}
}

// TestOpenAPIDocumentsProblemCodes: the document lists every problem code
// a field error can carry, and a real 400 carries codes from that list
// with the parameters its text mentions.
func TestOpenAPIDocumentsProblemCodes(t *testing.T) {
	st := MustStartStack(t)
	doc := mustLoadOpenAPI(t, st)
	fe := doc.Components.Schemas["FieldError"]
	if fe == nil || fe.Value == nil || fe.Value.Properties["code"] == nil {
		t.Fatal("the document has no FieldError schema with a code")
	}
	var listed []string
	for _, v := range fe.Value.Properties["code"].Value.Enum {
		listed = append(listed, fmt.Sprint(v))
	}
	slices.Sort(listed)
	if want := events.ProblemCodes(); !slices.Equal(listed, want) {
		t.Errorf("the document lists codes %v, want %v", listed, want)
	}
	if !slices.Contains(fe.Value.Required, "code") {
		t.Errorf("FieldError does not require code: %v", fe.Value.Required)
	}

	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	r := admin.Post("/api/v1/items", map[string]any{"cycle_id": "y2024", "unit_id": "sqA", "title": strings.Repeat("长", 201),
		"deadline": "2030-02-30", "severity": "x", "colour": "red"})
	var body struct {
		Error struct {
			Fields []events.FieldError `json:"fields"`
		} `json:"error"`
	}
	r.JSON(t, &body)
	got := map[string]events.FieldError{}
	for _, f := range body.Error.Fields {
		got[f.Field] = f
	}
	for field, want := range map[string]events.FieldError{
		"title":    {Code: events.ProblemTooLong, Params: map[string]string{"max": "200"}},
		"deadline": {Code: events.ProblemNotADate},
		"severity": {Code: events.ProblemNotOneOf, Params: map[string]string{"allowed": strings.Join(events.Severities, ",")}},
		"colour":   {Code: events.ProblemUnknownField},
	} {
		f, ok := got[field]
		if !ok || f.Code != want.Code || !maps.Equal(f.Params, want.Params) || f.Problem == "" {
			t.Errorf("%s: %+v, want code %s with params %v (reply %d %s)", field, f, want.Code, want.Params, r.Status, r.Body)
		}
	}
}
