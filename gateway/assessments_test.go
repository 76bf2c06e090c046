package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"rectify/events"
	"rectify/projections/query"
)

// lineOf returns the line of unit in res, failing when there is none.
func lineOf(tb testing.TB, res query.AssessmentResult, unit string) query.UnitAssessment {
	tb.Helper()
	for _, u := range res.Units {
		if u.UnitID == unit {
			return u
		}
	}
	tb.Fatalf("no line of %s in %+v", unit, res.Units)
	return query.UnitAssessment{}
}

// TestAssessmentsOverHTTP drafts and publishes a rule set, scores March
// 2024 on commitments logged for it, publishes the monthly assessment,
// corrects it after a late-logged activity, and reads both versions side
// by side, as the administrator and as a viewer of one community.
func TestAssessmentsOverHTTP(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	viewer := st.Client(t, mustUser(t, st, admin, "kanA", "东风查看员", events.RoleViewer, "sqA"))

	// No rule set yet: nothing to score with.
	res := admin.MustPost("/api/v1/rulesets", map[string]any{"ruleset_id": "rs", "name": "2024年月度考核细则", "rules": events.DefaultScoringRules()}, http.StatusCreated)
	if r := admin.Get("/api/v1/assessments/monthly?period=2024-03-01", headerMinPosition, fmt.Sprint(res.Position)); r.Status != http.StatusNotFound {
		t.Fatalf("monthly before any publication of rules: %d %s", r.Status, r.Body)
	}
	if code, fields := admin.Post("/api/v1/rulesets/rs/revise", map[string]any{"rules": events.DefaultScoringRules(), "reason": "无变化"}).ErrorFields(t); code != events.CodeInvalid || len(fields) != 1 || fields[0] != "rules" {
		t.Fatalf("a revision changing nothing: %s %v", code, fields)
	}
	admin.MustPost("/api/v1/rulesets/rs/publish", map[string]any{"note": "工委会议通过"}, http.StatusOK)

	// 东风社区第一支部 visits in two weeks of March, 西湖社区 in all four.
	for _, c := range []struct {
		id, unit string
		days     []string
	}{{"kA", "sqA1", []string{"2024-03-05", "2024-03-12"}}, {"kB", "sqB", []string{"2024-03-05", "2024-03-12", "2024-03-19", "2024-03-26"}}} {
		admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": c.id, "unit_id": c.unit, "title": "每周走访居民至少1次", "activity": "走访",
			"target": 1, "period": "week", "start": "2024-03-04", "end": "2024-03-31"}, http.StatusCreated)
		for _, d := range c.days {
			res = admin.MustPost("/api/v1/commitments/"+c.id+"/activities", map[string]any{"count": 1, "occurred_on": d, "note": "入户走访"}, http.StatusCreated)
		}
	}
	wait := fmt.Sprintf("min_position=%d", res.Position)
	var march query.AssessmentResult
	admin.MustGet("/api/v1/assessments/monthly?period=2024-03-15&"+wait, &march)
	if a, b := lineOf(t, march, "sqA1"), lineOf(t, march, "sqB"); a.Score != 98 || b.Score != 104 || b.Rank != 1 || lineOf(t, march, "sqA").Rank != 2 ||
		march.Ruleset.ID != "rs" || march.Ruleset.Version != 1 || !march.Complete {
		t.Fatalf("March: sqA1 %+v, sqB %+v, ruleset %+v", a, b, march.Ruleset)
	}

	// Publish, as reported.
	var v1 publishAssessmentReply
	r := admin.Post("/api/v1/assessments/publications", map[string]any{"kind": "month", "period": "2024-03-15", "digest": march.Digest})
	if r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &v1)
	if v1.Version != 1 || v1.Digest != march.Digest || v1.ComputedFrom != march.Position || v1.RulesetVersion != 1 || v1.PeriodStart.String() != "2024-03-01" {
		t.Fatalf("published %+v", v1)
	}
	// Publishing the same numbers again is refused; so is a week that has
	// not ended.
	if code, fields := admin.Post("/api/v1/assessments/publications", map[string]any{"kind": "month", "period": "2024-03-01"}).ErrorFields(t); code != events.CodeInvalid || fields[0] != "digest" {
		t.Fatalf("publishing an unchanged result: %s %v", code, fields)
	}
	if code, fields := admin.Post("/api/v1/assessments/publications", map[string]any{"kind": "week", "period": "2099-03-02"}).ErrorFields(t); code != events.CodeInvalid || fields[0] != "period" {
		t.Fatalf("publishing a future week: %s %v", code, fields)
	}

	// A visit of 20 March is logged late; the reviewed digest no longer
	// fits, and the correction goes out as version 2.
	late := admin.MustPost("/api/v1/commitments/kA/activities", map[string]any{"count": 1, "occurred_on": "2024-03-20", "note": "补录"}, http.StatusCreated)
	wait = fmt.Sprintf("min_position=%d", late.Position)
	if r := admin.Post("/api/v1/assessments/publications", map[string]any{"kind": "month", "period": "2024-03-01", "digest": march.Digest, "position": late.Position}); r.Status != http.StatusConflict {
		t.Fatalf("publishing with a stale digest: %d %s", r.Status, r.Body)
	}
	var v2 publishAssessmentReply
	r = admin.Post("/api/v1/assessments/publications", map[string]any{"kind": "month", "period": "2024-03-01", "position": late.Position, "note": "补录3月20日走访记录后更正"})
	if r.Status != http.StatusCreated {
		t.Fatalf("publish the correction: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &v2)
	if v2.Version != 2 || v2.Digest == v1.Digest {
		t.Fatalf("correction %+v", v2)
	}
	pubWait := fmt.Sprintf("min_position=%d", v2.Position)

	// As reported and as corrected, side by side.
	var both query.Published
	admin.MustGet("/api/v1/assessments/published?kind=month&period=2024-03-31&"+pubWait, &both)
	if len(both.Versions) != 2 || !both.Versions[0].Reproduced || !both.Versions[1].Reproduced {
		t.Fatalf("published versions %+v", both)
	}
	if a, c := lineOf(t, both.Versions[0].Result, "sqA1").Score, lineOf(t, both.Versions[1].Result, "sqA1").Score; a != 98 || c != 101 {
		t.Fatalf("sqA1 as reported %v, as corrected %v", a, c)
	}
	// Recomputed from the recorded position and rule set version: the same
	// digest.
	var again query.AssessmentResult
	admin.MustGet(fmt.Sprintf("/api/v1/assessments/monthly?period=2024-03-01&ruleset_id=rs&version=1&as_of=position:%d&%s", v1.ComputedFrom, pubWait), &again)
	if again.Digest != v1.Digest {
		t.Fatalf("recomputed digest %s, published %s", again.Digest, v1.Digest)
	}
	var pubs query.PublicationsPage
	admin.MustGet("/api/v1/assessments/publications?kind=month&"+pubWait, &pubs)
	if len(pubs.Publications) != 2 || pubs.Publications[0].Note == "" {
		t.Fatalf("publications %+v", pubs)
	}

	// The viewer of 东风社区 sees its units only, ranks as everyone sees
	// them; the preview is for administrators.
	for _, path := range []string{
		"/api/v1/assessments/monthly?period=2024-03-01&" + pubWait,
		"/api/v1/assessments/weekly?period=2024-03-11&" + pubWait,
		"/api/v1/assessments/ranking?period=2024-01-01&" + pubWait,
		"/api/v1/assessments/published?kind=month&period=2024-03-01&" + pubWait,
	} {
		r := viewer.MustGet(path, nil)
		if strings.Contains(string(r.Body), `"sqB"`) || strings.Contains(string(r.Body), "西湖") || !strings.Contains(string(r.Body), `"sqA1"`) {
			t.Errorf("viewer GET %s: %.400s", path, r.Body)
		}
	}
	if r := viewer.Get("/api/v1/assessments/preview?kind=month&period=2024-03-01&ruleset_id=rs"); r.Status != http.StatusForbidden {
		t.Errorf("viewer preview: %d %s", r.Status, r.Body)
	}
	var rs query.Ruleset
	admin.MustGet("/api/v1/rulesets/rs?"+pubWait, &rs)
	if len(rs.Versions) != 1 || rs.Dirty {
		t.Fatalf("rule set %+v", rs)
	}
	// What if closing counted more and the subtree summed up? The draft
	// changes, the published result does not.
	sum := events.DefaultScoringRules()
	sum.PeriodMet, sum.Rollup = 5, events.RollupSum
	rev := admin.MustPost("/api/v1/rulesets/rs/revise", map[string]any{"rules": sum, "reason": "加大履诺权重", "expected_revision": rs.Revision}, http.StatusOK)
	var pre query.AssessmentResult
	admin.MustGet(fmt.Sprintf("/api/v1/assessments/preview?kind=month&period=2024-03-01&ruleset_id=rs&min_position=%d", rev.Position), &pre)
	if pre.Ruleset.Version != 0 || lineOf(t, pre, "sqA1").Score != 113 || lineOf(t, pre, "sqA").Score != 213 {
		t.Fatalf("preview: %+v sqA1 %v sqA %v", pre.Ruleset, lineOf(t, pre, "sqA1").Score, lineOf(t, pre, "sqA").Score)
	}
	admin.MustGet(fmt.Sprintf("/api/v1/assessments/published?kind=month&period=2024-03-01&min_position=%d", rev.Position), &both)
	if lineOf(t, both.Versions[1].Result, "sqA1").Score != 101 {
		t.Fatal("a draft changed a published result")
	}

	// The replies are those the OpenAPI document describes.
	doc := mustLoadOpenAPI(t, st)
	doc.Servers = openapi3.Servers{{URL: st.URL}}
	for _, p := range []string{
		"/api/v1/rulesets", "/api/v1/rulesets/rs", "/api/v1/assessments/monthly?period=2024-03-01",
		"/api/v1/assessments/ranking?period=2024-01-01", "/api/v1/assessments/preview?kind=week&period=2024-03-04&ruleset_id=rs",
		"/api/v1/assessments/publications", "/api/v1/assessments/published?kind=month&period=2024-03-01",
	} {
		checkOpenAPI(t, doc, st, http.MethodGet, p, nil)
	}
	checkOpenAPI(t, doc, st, http.MethodPost, "/api/v1/assessments/publications", []byte(`{"kind":"quarter","period":"2024-01-01"}`))
}

// checkOpenAPI sends one request as the administrator and validates it
// and its reply against doc.
func checkOpenAPI(tb testing.TB, doc *openapi3.T, st *Stack, method, path string, body []byte) {
	tb.Helper()
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	req, err := http.NewRequest(method, st.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+st.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		tb.Fatalf("%s %s: no documented route: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		tb.Errorf("%s %s: the request does not fit the document: %v", method, path, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		tb.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(b)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		tb.Errorf("%s %s: the %d reply does not fit the document: %v\n%.500s", method, path, resp.StatusCode, err, b)
	}
}
