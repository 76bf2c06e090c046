package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

func TestReadYourWritesWithMinPosition(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	// Each write is read back at once, by the position its reply carries,
	// in the query string or in the header.
	for i := range 20 {
		res := admin.MustPost("/api/v1/items", map[string]any{"cycle_id": "y2024", "unit_id": "sqA1",
			"title": fmt.Sprintf("整改事项%d", i), "deadline": "2030-06-30"}, http.StatusCreated)
		var d query.ItemDetail
		var r Reply
		if i%2 == 0 {
			r = admin.MustGet(fmt.Sprintf("/api/v1/items/%s?min_position=%d", res.ID, res.Position), &d)
		} else {
			r = admin.MustGet("/api/v1/items/"+res.ID, &d, headerMinPosition, fmt.Sprint(res.Position))
		}
		if d.Title != fmt.Sprintf("整改事项%d", i) {
			t.Fatalf("read back %q", d.Title)
		}
		if pos, err := strconv.ParseUint(r.Header.Get(headerPosition), 10, 64); err != nil || pos < res.Position {
			t.Fatalf("view position header %q, the write was at %d", r.Header.Get(headerPosition), res.Position)
		}
	}
	// A position the view will not reach in time is a clear 503.
	start := time.Now()
	r := admin.Get("/api/v1/items?min_position=999999999")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("waiting for an unreachable position: %d %s", r.Status, r.Body)
	}
	var e errorBody
	r.JSON(t, &e)
	if e.Error.Code != events.CodeUnavailable || !strings.Contains(e.Error.Message, "999999999") {
		t.Errorf("the 503 says %+v", e.Error)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the bounded wait took %v", took)
	}
	for _, bad := range []string{"?min_position=-1", "?min_position=abc"} {
		if r := admin.Get("/api/v1/items" + bad); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.Status)
		}
	}
}

func TestETagAnswers304UntilTheViewChanges(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	pos := mustOrg(t, admin)
	res := admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA", "title": "台账", "deadline": "2030-06-30"}, http.StatusCreated)
	pos = max(pos, res.Position)
	first := admin.MustGet(fmt.Sprintf("/api/v1/items?min_position=%d", pos), nil)
	etag := first.Header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("ETag %q", etag)
	}
	if r := admin.Get("/api/v1/items", "If-None-Match", etag); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Fatalf("If-None-Match with the current ETag: %d %q", r.Status, r.Body)
	}
	// Another question has another ETag.
	if r := admin.MustGet("/api/v1/items?status=raised", nil); r.Header.Get("ETag") == etag {
		t.Errorf("a filtered list has the ETag of the whole list")
	}
	res = admin.MustPost("/api/v1/items/i1/assign", map[string]any{"unit_id": "sqA", "owner_name": "李四"}, http.StatusOK)
	r := admin.Get(fmt.Sprintf("/api/v1/items?min_position=%d", res.Position), "If-None-Match", etag)
	if r.Status != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("after a change: %d, ETag %q (was %q)", r.Status, r.Header.Get("ETag"), etag)
	}
	var page query.LedgerPage
	r.JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].OwnerName != "李四" {
		t.Errorf("list after the change: %+v", page.Items)
	}
}

// TestEveryQueryRoute reads every view route as the administrator and
// checks that a user would find in it what the commands wrote.
func TestEveryQueryRoute(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA1", "title": "理论学习不够深入",
		"category": "作风建设", "deadline": "2030-06-30"}, http.StatusCreated)
	before := admin.MustPost("/api/v1/items/i1/progress", map[string]any{"percent": 30, "note": "开始整改"}, http.StatusOK)
	asOfTime := time.Now()
	admin.MustPost("/api/v1/items/i1/progress", map[string]any{"percent": 80, "note": "基本完成"}, http.StatusOK)
	admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": "c1", "unit_id": "sqA1", "title": "每周走访社区", "activity": "走访",
		"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	admin.MustPost("/api/v1/commitments/c1/activities", map[string]any{"count": 2, "occurred_on": "2024-03-04"}, http.StatusCreated)
	admin.MustPost("/api/v1/users", map[string]any{"user_id": "zhang", "name": "张三"}, http.StatusCreated)
	last := admin.MustPost("/api/v1/users/zhang/roles", map[string]any{"role": "viewer", "unit_id": "sqA"}, http.StatusOK).Position
	wait := fmt.Sprintf("min_position=%d", last)

	type check func(t *testing.T, body Reply)
	contains := func(s ...string) check {
		return func(t *testing.T, r Reply) {
			for _, x := range s {
				if !strings.Contains(string(r.Body), x) {
					t.Errorf("the answer lacks %q: %.400s", x, r.Body)
				}
			}
		}
	}
	cases := []struct {
		path string
		want check
	}{
		{"/api/v1/items?" + wait + "&unit_id=sqA&status=in_progress&sort=title&limit=10&with_total=true", contains(`"id":"i1"`, "理论学习不够深入", `"total":1`)},
		{"/api/v1/items?" + wait + "&as_of=position:" + fmt.Sprint(before.Position), contains(`"id":"i1"`, `"percent":30`)},
		{"/api/v1/items/i1?" + wait, contains(`"percent":80`, "基本完成")},
		{"/api/v1/items/i1?" + wait + "&as_of=" + asOfTime.Format(time.RFC3339Nano), contains(`"percent":30`)},
		{"/api/v1/items/i1/timeline?" + wait, contains(events.ItemRaised, events.ItemProgressReported, "开始整改")},
		{"/api/v1/units?" + wait, contains("东风社区第一支部", "西湖社区")},
		{"/api/v1/units/sqA1?" + wait, contains("东风社区第一支部")},
		{"/api/v1/units/sqA1/timeline?" + wait, contains(events.UnitRegistered)},
		{"/api/v1/cycles?" + wait, contains("2024年度述职评议", "2025年度述职评议")},
		{"/api/v1/cycles/y2024/timeline?" + wait, contains(events.CycleOpened)},
		{"/api/v1/progress/summary?" + wait + "&depth=2", contains(`"unit_id":"sqA1"`, "作风建设")},
		{"/api/v1/progress/trend?" + wait + "&interval=week", contains(`"interval":"week"`)},
		{"/api/v1/commitments?" + wait, contains(`"id":"c1"`, "每周走访社区")},
		{"/api/v1/commitments/c1?" + wait, contains("每周走访社区", `"logged":2`)},
		{"/api/v1/commitments/c1/compliance?" + wait + "&from=2024-03-01&to=2024-03-31", contains(`"actual":2`)},
		{"/api/v1/commitments/c1/timeline?" + wait, contains(events.CommitmentActivityLogged)},
		{"/api/v1/compliance?" + wait + "&from=2024-03-01&to=2024-03-31&unit_id=sqA", contains(`"id":"c1"`)},
		{"/api/v1/compliance/units?" + wait + "&from=2024-03-01&to=2024-03-31", contains(`"unit_id":"sqA1"`)},
		{"/api/v1/audit?" + wait + "&types=rectify.user.role_granted", contains(`"aggregate_id":"zhang"`, "viewer@sqA")},
		{"/api/v1/timeline?" + wait + "&stream=item-i1", contains(events.ItemRaised)},
		{"/api/v1/users?" + wait, contains(`"id":"zhang"`, "张三", `"id":"admin"`)},
		{"/api/v1/users/zhang?" + wait, contains(`"role":"viewer"`)},
		{"/api/v1/users/zhang/timeline?" + wait, contains(events.UserRoleGranted)},
		{"/api/v1/units/sqA/people?" + wait, contains(`"id":"zhang"`, "张三", `"role":"viewer"`)},
		{"/api/v1/units/sqA/people?" + wait + "&as_of=position:" + fmt.Sprint(before.Position), contains(`"people":[]`)},
		{"/api/v1/me", contains(`"user_id":"admin"`, `"all":true`)},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		t.Run(strings.TrimPrefix(strings.SplitN(c.path, "?", 2)[0], "/api/v1/"), func(t *testing.T) {
			r := admin.Get(c.path)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", c.path, r.Status, r.Body)
			}
			c.want(t, r)
		})
		tested[matchRoute(t, http.MethodGet, strings.SplitN(c.path, "?", 2)[0])] = true
	}
	// The operations routes are wired in: probes and metrics answer.
	anon := st.Client(t, "")
	anon.MustGet("/healthz", nil)
	eventually(t, 5*time.Second, "readyz answering 200", func() bool { return anon.Get("/readyz").Status == http.StatusOK })
	metrics := string(anon.MustGet("/metrics", nil).Body)
	for _, m := range []string{`rectify_http_requests_total{method="GET",route="/api/v1/items/:id",status="200"}`, `rectify_commands_total{command="item.raise",outcome="ok"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		tested[p] = true
	}
	tested["/api/v1/items/:id/evidence/:eid"] = true // TestEvidence
	tested["/api/openapi.json"] = true               // TestOpenAPI
	tested["/api/v1/stream"] = true                  // TestAuthMatrixLiveStream
	for _, rt := range exportRoutes("/api/v1") {
		tested[rt.path] = true // TestLedgerExportImport
	}
	for _, p := range []string{"/api/v1/rulesets", "/api/v1/rulesets/:id", "/api/v1/assessments/weekly", "/api/v1/assessments/monthly",
		"/api/v1/assessments/ranking", "/api/v1/assessments/preview", "/api/v1/assessments/publications", "/api/v1/assessments/published"} {
		tested[p] = true // TestAssessmentsOverHTTP
	}
	for _, rt := range st.Gateway.routes {
		if rt.method == http.MethodGet && !tested[rt.path] {
			t.Errorf("GET %s is not exercised", rt.path)
		}
	}
}

func TestQueryParametersAreChecked(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	for _, c := range []struct {
		path   string
		fields []string
	}{
		{"/api/v1/items?limit=abc&overdue=maybe", []string{"limit", "overdue"}},
		{"/api/v1/items?colour=red", []string{"colour"}},
		{"/api/v1/items?limit=1000&status=lost", []string{"limit", "status"}},
		{"/api/v1/items?as_of=yesterday", []string{"as_of"}},
		{"/api/v1/items?as_of=position:5&status=raised", []string{"status"}},
		{"/api/v1/items?today=2024-02-30", []string{"today"}},
		{"/api/v1/items/i1?item_id=i2", []string{"item_id"}},
		{"/api/v1/items/i1/timeline?stream=item-i2", []string{"stream"}},
		{"/api/v1/cycles?unit_id=sqA", []string{"unit_id"}},
		{"/api/v1/cycles?as_of=position:0", []string{"as_of"}},
		{"/api/v1/me?as_of=position:3", []string{"as_of"}},
		{"/api/v1/items?escalated=boss", []string{"escalated"}},
		{"/api/v1/progress/trend?interval=month&from=2024-05-01&to=2024-04-01", []string{"interval", "to"}},
		{"/api/v1/compliance?from=2024-01-01&to=2024-01-01&from=2024-02-01", []string{"from"}},
		{"/api/v1/audit?types=rectify.item.exploded&from=yesterday", []string{"types", "from"}},
		{"/api/v1/timeline?kind=planet", []string{"kind", "id"}},
		{"/api/v1/units?unit_id=东风", []string{"unit_id"}},
	} {
		r := admin.Get(c.path)
		code, fields := r.ErrorFields(t)
		if r.Status != http.StatusBadRequest || code != events.CodeInvalid {
			t.Errorf("GET %s: %d %s, want 400", c.path, r.Status, r.Body)
			continue
		}
		for _, f := range c.fields {
			if !slices.Contains(fields, f) {
				t.Errorf("GET %s: the 400 names %v, not %q", c.path, fields, f)
			}
		}
	}
	// Slices take repeated and comma-separated values alike.
	admin.MustGet("/api/v1/items?status=raised,assigned&status=in_progress", nil)
	if r := admin.Get("/api/v1/items/nope"); r.Status != http.StatusNotFound {
		t.Errorf("an unknown item: %d", r.Status)
	}
}
