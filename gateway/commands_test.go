package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"rectify/events"
	"rectify/projections/query"
)

// mustOrg registers the test organisation and opens two cycles:
//
//	jw 城关街道工委
//	├── sqA 东风社区
//	│   └── sqA1 东风社区第一支部
//	└── sqB 西湖社区
//
// It returns the position of the last command.
func mustOrg(tb testing.TB, admin *Client) uint64 {
	tb.Helper()
	admin.MustPost("/api/v1/units", map[string]any{"unit_id": "jw", "name": "城关街道工委", "kind": "committee"}, http.StatusCreated)
	admin.MustPost("/api/v1/units", map[string]any{"unit_id": "sqA", "name": "东风社区", "kind": "community", "parent_id": "jw"}, http.StatusCreated)
	admin.MustPost("/api/v1/units", map[string]any{"unit_id": "sqA1", "name": "东风社区第一支部", "kind": "branch", "parent_id": "sqA"}, http.StatusCreated)
	admin.MustPost("/api/v1/units", map[string]any{"unit_id": "sqB", "name": "西湖社区", "kind": "community", "parent_id": "jw"}, http.StatusCreated)
	admin.MustPost("/api/v1/cycles", map[string]any{"cycle_id": "y2024", "name": "2024年度述职评议", "year": 2024, "kind": "annual_review",
		"start": "2024-01-01", "end": "2024-12-31"}, http.StatusCreated)
	return admin.MustPost("/api/v1/cycles", map[string]any{"cycle_id": "y2025", "name": "2025年度述职评议", "year": 2025, "kind": "annual_review",
		"start": "2025-01-01", "end": "2025-12-31"}, http.StatusCreated).Position
}

// commandCase is one command route called once well and once badly.
type commandCase struct {
	path   string
	good   any
	status int
	bad    any
	fields []string // the fields the bad body's 400 must name
}

// TestEveryCommandRoute runs every command route as the administrator, in
// an order that makes each one apply, with Chinese text; and each once
// with a bad body whose 400 names the bad fields.
func TestEveryCommandRoute(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	ok, created := http.StatusOK, http.StatusCreated
	m := func(kv ...any) map[string]any {
		out := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	var measureID, tokenID string
	cases := []commandCase{
		{"/api/v1/units", m("unit_id", "tmpU", "name", "临时党支部", "kind", "branch", "parent_id", "sqA"), created,
			m("name", "x", "kind", "planet"), []string{"kind"}},
		{"/api/v1/units/sqB/rename", m("name", "西湖社区（新）"), ok, m("name", ""), []string{"name"}},
		{"/api/v1/units/tmpU/move", m("parent_id", "sqB"), ok, m("parent_id", "东风"), []string{"parent_id"}},
		{"/api/v1/units/tmpU/retire", m("reason", "并入西湖社区"), ok, m(), []string{"reason"}},
		{"/api/v1/cycles", m("cycle_id", "y2026", "name", "2026年专项整治", "year", 2026, "kind", "special", "start", "2026-01-01", "end", "2026-12-31"), created,
			m("name", "x", "year", "2024", "kind", "annual_review", "start", "2024-01-01", "end", "2023-01-01"), []string{"year", "end"}},
		{"/api/v1/items", m("item_id", "i1", "cycle_id", "y2024", "unit_id", "sqA1", "title", "理论学习不够深入", "deadline", "2030-06-30",
			"description", "支部学习流于形式，\n缺少研讨。", "category", "作风建设", "severity", "high"), created,
			m("cycle_id", "y2024", "unit_id", "sqA1", "title", "", "deadline", "2030-13-01"), []string{"title", "deadline"}},
		{"/api/v1/items/i1/assign", m("unit_id", "sqA1", "owner_name", "张三"), ok, m("unit_id", ""), []string{"unit_id"}},
		{"/api/v1/items/i1/measures", m("text", "每周集中学习一次", "due", "2030-03-31"), created, m("text", ""), []string{"text"}},
		{"/api/v1/items/i1/measures/{mid}/complete", m("note", "已落实"), ok, m("completed_on", "昨天"), []string{"completed_on"}},
		{"/api/v1/items/i1/progress", m("percent", 50, "note", "已完成一半"), ok, m("percent", 150), []string{"percent"}},
		{"/api/v1/items/i1/submit", m("note", "请验收"), ok, m("note", 5), []string{"note"}},
		{"/api/v1/items/i1/reject", m("reason", "证据不足"), ok, m(), []string{"reason"}},
		{"/api/v1/items/i1/submit", m(), ok, m("expected_revision", -1), []string{"expected_revision"}},
		{"/api/v1/items/i1/verify", m("note", "同意销号"), ok, m("note", true), []string{"note"}},
		{"/api/v1/items/i1/reopen", m("reason", "群众反映问题复发"), ok, m(), []string{"reason"}},
		{"/api/v1/items/i1/deadline", m("deadline", "2030-12-31", "reason", "因疫情延期"), ok, m("deadline", "2030-12-31"), []string{"reason"}},
		{"/api/v1/items/i1/carry-over", m("to_cycle_id", "y2025", "reason", "结转至2025年"), ok, m(), []string{"to_cycle_id"}},
		{"/api/v1/items", m("item_id", "i2", "cycle_id", "y2024", "unit_id", "sqA", "title", "重复立项", "deadline", "2030-06-30"), created, nil, nil},
		{"/api/v1/items/i2/withdraw", m("reason", "与i1重复"), ok, m("reason", "  "), []string{"reason"}},
		{"/api/v1/cycles/y2024/close", m("note", "评议结束"), ok, m("note", []int{1}), []string{"note"}},
		{"/api/v1/commitments", m("commitment_id", "c1", "unit_id", "sqA1", "title", "每周走访社区", "activity", "走访", "target", 1,
			"period", "week", "start", "2024-01-01", "end", "2030-12-31"), created,
			m("unit_id", "sqA1", "title", "x", "activity", "走访", "target", 0, "period", "day", "start", "2024-01-01", "end", "2024-12-31"),
			[]string{"target", "period"}},
		{"/api/v1/commitments/c1/revise", m("target", 2, "reason", "加强走访"), ok, m("reason", "x"), []string{"target"}},
		{"/api/v1/commitments/c1/activities", m("count", 1, "occurred_on", "2024-03-04", "note", "走访东风社区居民"), created,
			m("count", 0), []string{"count", "occurred_on"}},
		{"/api/v1/commitments/c1/end", m("reason", "调整承诺"), ok, m(), []string{"reason"}},
		{"/api/v1/users", m("user_id", "zhang", "name", "张三"), created, m("name", ""), []string{"name"}},
		{"/api/v1/users/zhang/roles", m("role", "editor", "unit_id", "sqA"), ok, m("role", "boss"), []string{"role"}},
		{"/api/v1/users/zhang/roles/revoke", m("role", "editor", "unit_id", "sqA", "reason", "调岗"), ok, m("role", ""), []string{"role"}},
		{"/api/v1/users/zhang/tokens", m("label", "手机"), created, m("expires_at", "明天"), []string{"expires_at"}},
		{"/api/v1/users/zhang/tokens/{tid}/revoke", m("reason", "手机丢失"), ok, m("reason", 1), []string{"reason"}},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		path := strings.NewReplacer("{mid}", measureID, "{tid}", tokenID).Replace(c.path)
		if c.bad != nil {
			r := admin.Post(path, c.bad)
			code, fields := r.ErrorFields(t)
			if r.Status != http.StatusBadRequest || code != events.CodeInvalid {
				t.Errorf("POST %s %v: %d %s, want 400", path, c.bad, r.Status, r.Body)
			}
			for _, f := range c.fields {
				if !slices.Contains(fields, f) {
					t.Errorf("POST %s %v: the 400 names %v, not %q", path, c.bad, fields, f)
				}
			}
		}
		r := admin.Post(path, c.good)
		if r.Status != c.status {
			t.Fatalf("POST %s %v: %d %s, want %d", path, c.good, r.Status, r.Body, c.status)
		}
		var res commandResult
		r.JSON(t, &res)
		if res.Position == 0 || res.Stream == "" || res.Events == 0 || r.Header.Get(headerPosition) != strconv.FormatUint(res.Position, 10) {
			t.Errorf("POST %s: reply %+v with %s %q", path, res, headerPosition, r.Header.Get(headerPosition))
		}
		if res.Extra["measure_id"] != "" {
			measureID = res.Extra["measure_id"]
		}
		if tok := res.Extra["token"]; tok != "" {
			tokenID = res.Extra["token_id"]
			if !events.LooksLikeToken(tok) {
				t.Errorf("issued token %q is not a token", tok)
			}
		}
		if c.status == http.StatusCreated && !strings.Contains(c.path, "{") && strings.Count(c.path, "/") == 3 {
			if loc := r.Header.Get("Location"); loc != c.path+"/"+res.ID {
				t.Errorf("POST %s: Location %q, want %s/%s", path, loc, c.path, res.ID)
			}
		}
		tested[matchRoute(t, http.MethodPost, path)] = true
	}
	tested["/api/v1/items/:id/evidence"] = true     // TestEvidence
	tested["/api/v1/cycles/:id/carry-over"] = true  // TestCarryOverCycleOverHTTP
	tested["/api/v1/imports/report/confirm"] = true // TestImportReportOverHTTP
	tested["/api/v1/imports/ledger"] = true         // TestLedgerExportImport
	for _, p := range []string{"/api/v1/rulesets", "/api/v1/rulesets/:id/revise", "/api/v1/rulesets/:id/publish", "/api/v1/assessments/publications"} {
		tested[p] = true // TestAssessmentsOverHTTP
	}
	for _, rt := range routeTable() {
		if rt.command != nil && !tested[rt.path] {
			t.Errorf("command route %s %s is not exercised", rt.method, rt.path)
		}
	}

	// What the commands did shows in the views, in Chinese.
	var item query.ItemDetail
	admin.MustGet("/api/v1/items/i1", &item)
	if item.Title != "理论学习不够深入" || item.Description != "支部学习流于形式，\n缺少研讨。" || item.OwnerName != "张三" ||
		item.CycleID != "y2025" || item.Deadline != events.MustDate("2030-12-31") || len(item.Measures) != 1 || !item.Measures[0].Done {
		t.Errorf("item i1 reads %+v", item)
	}
	var units query.UnitTree
	admin.MustGet("/api/v1/units?include_retired=true", &units)
	names := map[string]string{}
	for _, u := range units.Units {
		names[u.ID] = u.Name
	}
	if names["sqB"] != "西湖社区（新）" || names["tmpU"] != "临时党支部" {
		t.Errorf("units read %v", names)
	}
}

// matchRoute returns the path pattern of the table route that serves
// method and path.
func matchRoute(tb testing.TB, method, path string) string {
	tb.Helper()
	segs := strings.Split(path, "/")
	for _, rt := range routeTable() {
		pat := strings.Split(rt.path, "/")
		if rt.method != method || len(pat) != len(segs) {
			continue
		}
		match := true
		for i := range pat {
			if pat[i] != segs[i] && !strings.HasPrefix(pat[i], ":") {
				match = false
				break
			}
		}
		if match {
			return rt.path
		}
	}
	tb.Fatalf("no route serves %s %s", method, path)
	return ""
}

func TestCommandBodiesAreCheckedStrictly(t *testing.T) {
	st := MustStartStack(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	raise := map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA", "title": "台账不全", "deadline": "2030-06-30"}
	admin.MustPost("/api/v1/items", raise, http.StatusCreated)

	for _, c := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"unknown field", map[string]any{"item_id": "i9", "cycle_id": "y2024", "unit_id": "sqA", "title": "x", "deadline": "2030-06-30", "colour": "red"}, 400, "colour"},
		{"malformed JSON", `{"title": "x",`, 400, "body"},
		{"not an object", `["x"]`, 400, "body"},
		{"two values", `{"title":"x"} {"title":"y"}`, 400, "body"},
		{"wrong type", map[string]any{"cycle_id": 2024, "unit_id": "sqA", "title": "x", "deadline": "2030-06-30"}, 400, "cycle_id"},
		{"too large", map[string]any{"cycle_id": "y2024", "unit_id": "sqA", "title": strings.Repeat("长", 2000), "deadline": "2030-06-30"}, 413, ""},
	} {
		r := admin.Post("/api/v1/items", c.body)
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
			continue
		}
		code, fields := r.ErrorFields(t)
		if code != events.CodeInvalid || (c.field != "" && !slices.Contains(fields, c.field)) {
			t.Errorf("%s: %s %v, want invalid naming %q", c.name, code, fields, c.field)
		}
	}

	// The path's id fills the command; a different one in the body is refused.
	r := admin.Post("/api/v1/items/i1/submit", map[string]any{"item_id": "i2"})
	if _, fields := r.ErrorFields(t); r.Status != 400 || !slices.Contains(fields, "item_id") {
		t.Errorf("mismatched item_id: %d %s", r.Status, r.Body)
	}
	admin.MustPost("/api/v1/items/i1/progress", map[string]any{"percent": 100}, http.StatusOK)
	admin.MustPost("/api/v1/items/i1/submit", map[string]any{"item_id": "i1", "note": "同一个"}, http.StatusOK)

	if r := admin.Do(http.MethodPost, "/api/v1/items/i1/submit", nil, "Content-Type", "text/plain"); r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d %s, want 415", r.Status, r.Body)
	}
	// Domain rules come back from the command side with their codes.
	if r := admin.Post("/api/v1/items", raise); r.Status != http.StatusConflict {
		t.Errorf("raising i1 twice: %d %s, want 409", r.Status, r.Body)
	}
	if r := admin.Post("/api/v1/items/nope/submit", map[string]any{}); r.Status != http.StatusNotFound {
		t.Errorf("submitting an unknown item: %d %s, want 404", r.Status, r.Body)
	}
	if r := admin.Post("/api/v1/items/i1/verify", map[string]any{"expected_revision": 0}); r.Status != http.StatusConflict {
		t.Errorf("a stale expected_revision: %d %s, want 409", r.Status, r.Body)
	}
	if r := admin.Get("/api/v1/nothing-here"); r.Status != http.StatusNotFound {
		t.Errorf("unknown route: %d", r.Status)
	}
	if r := admin.Do(http.MethodDelete, "/api/v1/items", nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/v1/items: %d, want 405", r.Status)
	}
}

func TestIdempotentRetryWritesOnce(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	body := map[string]any{"cycle_id": "y2024", "unit_id": "sqA", "title": "会议记录不规范", "deadline": "2030-06-30"}
	first := admin.MustPost("/api/v1/items", body, http.StatusCreated, "Idempotency-Key", "raise-1")
	again := admin.MustPost("/api/v1/items", body, http.StatusCreated, "Idempotency-Key", "raise-1")
	if again.ID != first.ID || again.Position != first.Position || again.Revision != first.Revision {
		t.Fatalf("retry replied %+v, first %+v", again, first)
	}
	other := admin.MustPost("/api/v1/items", body, http.StatusCreated, "Idempotency-Key", "raise-2")
	if other.ID == first.ID {
		t.Fatalf("another key reused id %s", first.ID)
	}
	var tl query.AuditPage
	admin.MustGet(fmt.Sprintf("/api/v1/items/%s/timeline?min_position=%d", first.ID, other.Position), &tl)
	if len(tl.Entries) != 1 || tl.Entries[0].Type != events.ItemRaised {
		t.Errorf("the retried item has %d events: %+v", len(tl.Entries), tl.Entries)
	}
	if r := admin.Post("/api/v1/items", body, "Idempotency-Key", strings.Repeat("k", 201)); r.Status != http.StatusBadRequest {
		t.Errorf("an Idempotency-Key of 201 characters: %d", r.Status)
	}
}
