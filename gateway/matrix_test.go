package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"rectify/events"
	"rectify/gateway/ledgerfile"
	"rectify/projections/query"
)

// The auth matrix. Four users hold one role each (admin, reviewer,
// editor, viewer) on 东风社区 (sqA). Every route is called by each of them
// on something in scope (sqA's child sqA1) and on something out of scope
// (the sibling 西湖社区, sqB):
//
//   - commands are allowed or refused exactly as the permission table of
//     the command side says (services/authz.go);
//   - queries, lists, timelines, as-of reads, evidence downloads and the
//     live stream never show anything of sqB.

var matrixRoles = []string{events.RoleAdmin, events.RoleReviewer, events.RoleEditor, events.RoleViewer}

const (
	unitIn  = "sqA1" // inside the scope of the users on sqA
	unitOut = "sqB"  // outside it
)

// matrixStack is a stack with the organisation and one token per role.
type matrixStack struct {
	*Stack
	admin  *Client
	tokens map[string]string // role -> token of the user holding it on sqA
	n      atomic.Int64
}

func mustMatrixStack(tb testing.TB) *matrixStack {
	tb.Helper()
	st := MustStartStack(tb)
	m := &matrixStack{Stack: st, admin: st.Client(tb, st.AdminToken), tokens: map[string]string{}}
	mustOrg(tb, m.admin)
	for _, role := range matrixRoles {
		m.tokens[role] = mustUser(tb, st, m.admin, role+"A", "东风"+role, role, "sqA")
	}
	return m
}

// id returns a fresh id with prefix.
func (m *matrixStack) id(prefix string) string { return fmt.Sprintf("%s%d", prefix, m.n.Add(1)) }

// as returns a client acting with the token of role.
func (m *matrixStack) as(tb testing.TB, role string) *Client { return m.Client(tb, m.tokens[role]) }

// The fixtures a command case needs, made by the administrator.

func (m *matrixStack) item(tb testing.TB, unit string) (string, uint64) {
	tb.Helper()
	id := m.id("it")
	res := m.admin.MustPost("/api/v1/items", map[string]any{"item_id": id, "cycle_id": "y2024", "unit_id": unit, "title": "矩阵测试事项", "deadline": "2030-06-30"}, http.StatusCreated)
	return id, res.Position
}

func (m *matrixStack) progressed(tb testing.TB, unit string) (string, uint64) {
	tb.Helper()
	id, _ := m.item(tb, unit)
	return id, m.admin.MustPost("/api/v1/items/"+id+"/progress", map[string]any{"percent": 100}, http.StatusOK).Position
}

func (m *matrixStack) submitted(tb testing.TB, unit string) (string, uint64) {
	tb.Helper()
	id, _ := m.progressed(tb, unit)
	return id, m.admin.MustPost("/api/v1/items/"+id+"/submit", map[string]any{}, http.StatusOK).Position
}

func (m *matrixStack) closed(tb testing.TB, unit string) (string, uint64) {
	tb.Helper()
	id, _ := m.submitted(tb, unit)
	return id, m.admin.MustPost("/api/v1/items/"+id+"/verify", map[string]any{}, http.StatusOK).Position
}

func (m *matrixStack) commitment(tb testing.TB, unit string) (string, uint64) {
	tb.Helper()
	id := m.id("cm")
	res := m.admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": id, "unit_id": unit, "title": "每月召开专题会议",
		"activity": "会议", "target": 2, "period": "month", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	return id, res.Position
}

func (m *matrixStack) unit(tb testing.TB, parent string) (string, uint64) {
	tb.Helper()
	id := m.id("un")
	res := m.admin.MustPost("/api/v1/units", map[string]any{"unit_id": id, "name": "矩阵测试支部", "kind": "branch", "parent_id": parent}, http.StatusCreated)
	return id, res.Position
}

func (m *matrixStack) user(tb testing.TB, unit string, token bool) (user, tokenID string, pos uint64) {
	tb.Helper()
	user = m.id("us")
	m.admin.MustPost("/api/v1/users", map[string]any{"user_id": user, "name": "矩阵测试用户"}, http.StatusCreated)
	pos = m.admin.MustPost("/api/v1/users/"+user+"/roles", map[string]any{"role": "viewer", "unit_id": unit}, http.StatusOK).Position
	if token {
		res := m.admin.MustPost("/api/v1/users/"+user+"/tokens", map[string]any{}, http.StatusCreated)
		tokenID, pos = res.Extra["token_id"], res.Position
	}
	return user, tokenID, pos
}

// matrixCall is one request of a command case, with the position its
// fixtures reached (sent as min_position, so that the views know them).
type matrixCall struct {
	path string
	body any
	// upload is sent as a multipart upload instead of body.
	upload []upload
	pos    uint64
}

// matrixCommand is one command route in the matrix.
type matrixCommand struct {
	name string
	// roles may issue it on a unit of their scope; org: only with the
	// role on the whole organisation (nobody here); anyScope: with the
	// role anywhere.
	roles    []string
	org      bool
	anyScope bool
	// outOfScope is the status refusing it out of scope: 403, or 404 when
	// the gateway itself must find the thing first (evidence).
	outOfScope int
	call       func(tb testing.TB, m *matrixStack, unit string) matrixCall
}

var (
	editors   = []string{events.RoleEditor, events.RoleAdmin}
	reviewers = []string{events.RoleReviewer, events.RoleAdmin}
	admins    = []string{events.RoleAdmin}
)

func matrixCommands() []matrixCommand {
	itemCmd := func(name string, roles []string, fixture func(*matrixStack, testing.TB, string) (string, uint64), suffix string, body any) matrixCommand {
		return matrixCommand{name: name, roles: roles, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, pos := fixture(m, tb, unit)
			return matrixCall{path: "/api/v1/items/" + id + suffix, body: body, pos: pos}
		}}
	}
	cmtCmd := func(name string, roles []string, suffix string, body any) matrixCommand {
		return matrixCommand{name: name, roles: roles, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, pos := m.commitment(tb, unit)
			return matrixCall{path: "/api/v1/commitments/" + id + suffix, body: body, pos: pos}
		}}
	}
	unitCmd := func(name, suffix string, body func(unit string) any) matrixCommand {
		return matrixCommand{name: name, roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, pos := m.unit(tb, unit)
			return matrixCall{path: "/api/v1/units/" + id + suffix, body: body(unit), pos: pos}
		}}
	}
	item := (*matrixStack).item
	return []matrixCommand{
		{name: "item.raise", roles: editors, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/items", body: map[string]any{"cycle_id": "y2024", "unit_id": unit, "title": "新发现的问题", "deadline": "2030-06-30"}}
		}},
		{name: "item.assign", roles: editors, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, pos := m.item(tb, unit)
			return matrixCall{path: "/api/v1/items/" + id + "/assign", body: map[string]any{"unit_id": unit, "owner_name": "王主任"}, pos: pos}
		}},
		itemCmd("item.plan_measure", editors, item, "/measures", map[string]any{"text": "制定整改方案"}),
		{name: "item.complete_measure", roles: editors, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, _ := m.item(tb, unit)
			res := m.admin.MustPost("/api/v1/items/"+id+"/measures", map[string]any{"text": "整改措施"}, http.StatusCreated)
			return matrixCall{path: "/api/v1/items/" + id + "/measures/" + res.Extra["measure_id"] + "/complete", body: map[string]any{}, pos: res.Position}
		}},
		itemCmd("item.report_progress", editors, item, "/progress", map[string]any{"percent": 40, "note": "进展顺利"}),
		{name: "item.attach_evidence", roles: editors, outOfScope: http.StatusNotFound, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id, pos := m.item(tb, unit)
			return matrixCall{path: "/api/v1/items/" + id + "/evidence", pos: pos,
				upload: []upload{{field: "file", filename: "会议记录.txt", data: []byte("召开专题会议" + id)}}}
		}},
		itemCmd("item.submit", editors, (*matrixStack).progressed, "/submit", map[string]any{}),
		itemCmd("item.verify", reviewers, (*matrixStack).submitted, "/verify", map[string]any{"note": "同意"}),
		itemCmd("item.reject", reviewers, (*matrixStack).submitted, "/reject", map[string]any{"reason": "材料不全"}),
		itemCmd("item.reopen", reviewers, (*matrixStack).closed, "/reopen", map[string]any{"reason": "问题反弹"}),
		itemCmd("item.change_deadline", admins, item, "/deadline", map[string]any{"deadline": "2031-01-31", "reason": "延期"}),
		itemCmd("item.carry_over", admins, item, "/carry-over", map[string]any{"to_cycle_id": "y2025"}),
		itemCmd("item.withdraw", admins, item, "/withdraw", map[string]any{"reason": "撤销"}),
		{name: "commitment.make", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/commitments", body: map[string]any{"unit_id": unit, "title": "每周走访", "activity": "走访",
				"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}}
		}},
		cmtCmd("commitment.revise", admins, "/revise", map[string]any{"target": 3, "reason": "提高要求"}),
		cmtCmd("commitment.end", admins, "/end", map[string]any{"reason": "停止"}),
		cmtCmd("commitment.log_activity", editors, "/activities", map[string]any{"count": 1, "occurred_on": "2024-05-06"}),
		{name: "cycle.open", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/cycles", body: map[string]any{"name": "专项整治", "year": 2026, "kind": "special", "start": "2026-01-01", "end": "2026-12-31"}}
		}},
		{name: "cycle.close", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			id := m.id("cy")
			res := m.admin.MustPost("/api/v1/cycles", map[string]any{"cycle_id": id, "name": "临时周期", "year": 2026, "kind": "other",
				"start": "2026-01-01", "end": "2026-12-31"}, http.StatusCreated)
			return matrixCall{path: "/api/v1/cycles/" + id + "/close", body: map[string]any{}, pos: res.Position}
		}},
		{name: "cycle.carry_over", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/cycles/y2024/carry-over", body: map[string]any{"to_cycle_id": "y2025", "dry_run": true}}
		}},
		// Rule sets and publications are the whole organisation's.
		{name: "ruleset.draft", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/rulesets", body: map[string]any{"name": "考核细则", "rules": events.DefaultScoringRules()}}
		}},
		{name: "ruleset.revise", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/rulesets/rs1/revise", body: map[string]any{"rules": events.DefaultScoringRules(), "reason": "修订"}}
		}},
		{name: "ruleset.publish", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/rulesets/rs1/publish", body: map[string]any{}}
		}},
		{name: "assessment.publish", roles: admins, org: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/assessments/publications", body: map[string]any{"kind": "month", "period": "2024-03-01"}}
		}},
		// An import of problems only needs what raising them needs.
		{name: "report.import", roles: editors, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/imports/report/confirm", body: reviewJSON(tb, unit, m.id("imp"))}
		}},
		{name: "unit.register", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/units", body: map[string]any{"name": "新支部", "kind": "branch", "parent_id": unit}}
		}},
		unitCmd("unit.rename", "/rename", func(string) any { return map[string]any{"name": "改名支部"} }),
		unitCmd("unit.move", "/move", func(unit string) any {
			if unit == unitIn {
				return map[string]any{"parent_id": "sqA"}
			}
			return map[string]any{"parent_id": "jw"}
		}),
		unitCmd("unit.retire", "/retire", func(string) any { return map[string]any{"reason": "撤并"} }),
		{name: "user.create", roles: admins, anyScope: true, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			return matrixCall{path: "/api/v1/users", body: map[string]any{"name": "新用户"}}
		}},
		{name: "user.grant_role", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			user := m.id("us")
			res := m.admin.MustPost("/api/v1/users", map[string]any{"user_id": user, "name": "待授权用户"}, http.StatusCreated)
			return matrixCall{path: "/api/v1/users/" + user + "/roles", body: map[string]any{"role": "editor", "unit_id": unit}, pos: res.Position}
		}},
		{name: "user.revoke_role", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			user, _, pos := m.user(tb, unit, false)
			return matrixCall{path: "/api/v1/users/" + user + "/roles/revoke", body: map[string]any{"role": "viewer", "unit_id": unit}, pos: pos}
		}},
		{name: "user.issue_token", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			user, _, pos := m.user(tb, unit, false)
			return matrixCall{path: "/api/v1/users/" + user + "/tokens", body: map[string]any{"label": "新令牌"}, pos: pos}
		}},
		{name: "user.revoke_token", roles: admins, call: func(tb testing.TB, m *matrixStack, unit string) matrixCall {
			user, tokenID, pos := m.user(tb, unit, true)
			return matrixCall{path: "/api/v1/users/" + user + "/tokens/" + tokenID + "/revoke", body: map[string]any{}, pos: pos}
		}},
	}
}

func TestAuthMatrixCommands(t *testing.T) {
	m := mustMatrixStack(t)
	cases := matrixCommands()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.name] = true
	}
	for _, name := range events.CommandNames() {
		if !covered[name] {
			t.Errorf("command %s is not in the matrix", name)
		}
		if _, ok := commandNeeds[name]; !ok {
			t.Errorf("command %s has no entry in commandNeeds", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, role := range matrixRoles {
				for _, unit := range []string{unitIn, unitOut} {
					call := c.call(t, m, unit)
					allowed := slices.Contains(c.roles, role) && !c.org && (c.anyScope || unit == unitIn)
					hdr := []string{headerMinPosition, fmt.Sprint(call.pos)}
					var r Reply
					if call.upload != nil {
						r = m.as(t, role).Upload(call.path, call.upload, hdr...)
					} else {
						r = m.as(t, role).Post(call.path, call.body, hdr...)
					}
					want := []int{http.StatusForbidden}
					switch {
					case allowed:
						want = []int{http.StatusOK, http.StatusCreated}
					case unit == unitOut && c.outOfScope != 0 && slices.Contains(c.roles, role):
						want = []int{c.outOfScope}
					}
					if !slices.Contains(want, r.Status) {
						t.Errorf("%s on %s: %d %s, want %v", role, unit, r.Status, r.Body, want)
					}
				}
			}
		})
	}
}

// seeded are the things the query matrix looks for: one of each in scope
// (sqA1) and out of it (sqB).
type seeded struct {
	itemIn, itemOut         string
	evidenceIn, evidenceOut string
	cmtIn, cmtOut           string
	userOut                 string
	before                  uint64 // a position after the items were raised
	last                    uint64
}

func (m *matrixStack) seed(tb testing.TB) seeded {
	tb.Helper()
	s := seeded{itemIn: "alpha-item", itemOut: "bravo-item", cmtIn: "alpha-cmt", cmtOut: "bravo-cmt", userOut: "bravo-user"}
	for _, it := range []struct{ id, unit, title string }{{s.itemIn, unitIn, "东风支部学习不够"}, {s.itemOut, unitOut, "西湖社区服务不到位"}} {
		m.admin.MustPost("/api/v1/items", map[string]any{"item_id": it.id, "cycle_id": "y2024", "unit_id": it.unit, "title": it.title,
			"category": "作风建设", "deadline": "2030-06-30"}, http.StatusCreated)
		s.before = m.admin.MustPost("/api/v1/items/"+it.id+"/progress", map[string]any{"percent": 20, "note": "开始"}, http.StatusOK).Position
		r := m.admin.Upload("/api/v1/items/"+it.id+"/evidence", []upload{{field: "file", filename: it.id + "整改照片.png", data: pngBytes(tb, 6, 6)}},
			headerMinPosition, fmt.Sprint(s.before))
		if r.Status != http.StatusCreated {
			tb.Fatalf("seed evidence: %d %s", r.Status, r.Body)
		}
		var ev evidenceReply
		r.JSON(tb, &ev)
		if it.unit == unitIn {
			s.evidenceIn = ev.Evidence.ID
		} else {
			s.evidenceOut = ev.Evidence.ID
		}
	}
	for _, c := range []struct{ id, unit string }{{s.cmtIn, unitIn}, {s.cmtOut, unitOut}} {
		m.admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": c.id, "unit_id": c.unit, "title": "每周走访", "activity": "走访",
			"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
		m.admin.MustPost("/api/v1/commitments/"+c.id+"/activities", map[string]any{"count": 1, "occurred_on": "2024-03-05"}, http.StatusCreated)
	}
	m.admin.MustPost("/api/v1/users", map[string]any{"user_id": s.userOut, "name": "西湖管理员"}, http.StatusCreated)
	s.last = m.admin.MustPost("/api/v1/users/"+s.userOut+"/roles", map[string]any{"role": "admin", "unit_id": unitOut}, http.StatusOK).Position
	return s
}

// outsideMarkers are strings only something of sqB can bring into an
// answer.
// (The parent id of a visible unit is shown even when the parent is not:
// the views' contract, so "jw" is no marker.)
var outsideMarkers = []string{`"sqB"`, "西湖", "bravo-"}

func TestAuthMatrixQueries(t *testing.T) {
	m := mustMatrixStack(t)
	s := m.seed(t)
	wait := fmt.Sprintf("min_position=%d", s.last)
	type visibility int
	const (
		listed    visibility = iota // 200, showing the in-scope thing
		hidden                      // 404 out of scope (200 in scope)
		adminsOK                    // users: 200 for admins, 403 for the others
		editorsOK                   // a unit's people: 403 for those who may not assign items, else as hidden
	)
	// Each route with the in-scope and the out-of-scope request, and what
	// the in-scope answer must show.
	cases := []struct {
		name      string
		in, out   string
		kind      visibility
		inShows   string
		evidence  bool
		adminOnly bool
		// outStatus is what the out-of-scope request answers (default:
		// 404 when hidden, 200 otherwise); adminOut what it answers the
		// administrator of everything (default 200).
		outStatus, adminOut int
	}{
		{"items", "/api/v1/items?" + wait, "/api/v1/items?unit_id=sqB&" + wait, listed, s.itemIn, false, false, 0, 0},
		{"items as of", "/api/v1/items?as_of=position:" + fmt.Sprint(s.last) + "&" + wait, "/api/v1/items?unit_id=sqB&as_of=position:" + fmt.Sprint(s.last) + "&" + wait, listed, s.itemIn, false, false, 0, 0},
		{"item", "/api/v1/items/" + s.itemIn + "?" + wait, "/api/v1/items/" + s.itemOut + "?" + wait, hidden, "东风支部学习不够", false, false, 0, 0},
		{"item as of", "/api/v1/items/" + s.itemIn + "?as_of=position:" + fmt.Sprint(s.before) + "&" + wait,
			"/api/v1/items/" + s.itemOut + "?as_of=position:" + fmt.Sprint(s.last) + "&" + wait, hidden, s.itemIn, false, false, 0, 0},
		{"item timeline", "/api/v1/items/" + s.itemIn + "/timeline?" + wait, "/api/v1/items/" + s.itemOut + "/timeline?" + wait, hidden, events.ItemRaised, false, false, 0, 0},
		{"evidence", "/api/v1/items/" + s.itemIn + "/evidence/" + s.evidenceIn + "?" + wait,
			"/api/v1/items/" + s.itemOut + "/evidence/" + s.evidenceOut + "?" + wait, hidden, "", true, false, 0, 0},
		{"evidence through another item", "/api/v1/items/" + s.itemIn + "/evidence/" + s.evidenceIn + "?" + wait,
			"/api/v1/items/" + s.itemIn + "/evidence/" + s.evidenceOut + "?" + wait, hidden, "", true, false, 0, http.StatusNotFound},
		{"units", "/api/v1/units?" + wait, "/api/v1/units?unit_id=sqB&" + wait, listed, "东风社区第一支部", false, false, 0, 0},
		{"unit", "/api/v1/units/sqA1?" + wait, "/api/v1/units/sqB?" + wait, hidden, "东风社区第一支部", false, false, 0, 0},
		{"unit as of", "/api/v1/units/sqA1?as_of=position:" + fmt.Sprint(s.last) + "&" + wait, "/api/v1/units/sqB?as_of=position:" + fmt.Sprint(s.last) + "&" + wait, hidden, "东风社区第一支部", false, false, 0, 0},
		{"unit timeline", "/api/v1/units/sqA1/timeline?" + wait, "/api/v1/units/sqB/timeline?" + wait, hidden, events.UnitRegistered, false, false, 0, 0},
		{"summary", "/api/v1/progress/summary?" + wait, "/api/v1/progress/summary?unit_id=sqB&" + wait, listed, `"unit_id":"sqA1"`, false, false, 0, 0},
		{"trend", "/api/v1/progress/trend?" + wait, "/api/v1/progress/trend?unit_id=sqB&" + wait, listed, `"points"`, false, false, 0, 0},
		{"commitments", "/api/v1/commitments?" + wait, "/api/v1/commitments?unit_id=sqB&" + wait, listed, s.cmtIn, false, false, 0, 0},
		{"commitment", "/api/v1/commitments/" + s.cmtIn + "?" + wait, "/api/v1/commitments/" + s.cmtOut + "?" + wait, hidden, s.cmtIn, false, false, 0, 0},
		{"commitment compliance", "/api/v1/commitments/" + s.cmtIn + "/compliance?from=2024-03-01&to=2024-03-31&" + wait,
			"/api/v1/commitments/" + s.cmtOut + "/compliance?from=2024-03-01&to=2024-03-31&" + wait, hidden, s.cmtIn, false, false, 0, 0},
		{"commitment timeline", "/api/v1/commitments/" + s.cmtIn + "/timeline?" + wait, "/api/v1/commitments/" + s.cmtOut + "/timeline?" + wait, hidden, events.CommitmentMade, false, false, 0, 0},
		{"compliance", "/api/v1/compliance?from=2024-03-01&to=2024-03-31&" + wait, "/api/v1/compliance?unit_id=sqB&from=2024-03-01&to=2024-03-31&" + wait, listed, s.cmtIn, false, false, 0, 0},
		{"unit compliance", "/api/v1/compliance/units?from=2024-03-01&to=2024-03-31&" + wait, "/api/v1/compliance/units?unit_id=sqB&from=2024-03-01&to=2024-03-31&" + wait, listed, `"sqA1"`, false, false, 0, 0},
		{"audit", "/api/v1/audit?limit=200&" + wait, "/api/v1/audit?unit_id=sqB&" + wait, listed, s.itemIn, false, false, 0, 0},
		{"timeline", "/api/v1/timeline?stream=item-" + s.itemIn + "&" + wait, "/api/v1/timeline?stream=item-" + s.itemOut + "&" + wait, hidden, events.ItemRaised, false, false, 0, 0},
		{"users", "/api/v1/users?" + wait, "/api/v1/users?unit_id=sqB&" + wait, adminsOK, "adminA", false, true, 0, 0},
		{"user", "/api/v1/users/viewerA?" + wait, "/api/v1/users/" + s.userOut + "?" + wait, adminsOK, "viewerA", false, true, http.StatusNotFound, 0},
		{"user timeline", "/api/v1/users/bravo-user/timeline?" + wait, "/api/v1/users/bravo-user/timeline?" + wait, hidden, "", false, false, 0, 0},
		{"cycle timeline", "/api/v1/cycles/y2024/timeline?" + wait, "/api/v1/cycles/y2024/timeline?" + wait, hidden, "", false, false, 0, 0},
		{"unit people", "/api/v1/units/sqA/people?" + wait, "/api/v1/units/sqB/people?" + wait, editorsOK, `"id":"editorA"`, false, false, 0, 0},
		{"unit people below", "/api/v1/units/sqA1/people?" + wait, "/api/v1/units/sqB/people?" + wait, editorsOK, `"people":[]`, false, false, 0, 0},
	}
	noOutside := func(t *testing.T, who, path string, body []byte) {
		t.Helper()
		for _, mk := range outsideMarkers {
			if strings.Contains(string(body), mk) {
				t.Errorf("%s GET %s shows %s: %.300s", who, path, mk, body)
			}
		}
	}
	// The administrator of the whole organisation sees both sides, so the
	// out-of-scope requests do find something to hide.
	for _, c := range cases {
		want := http.StatusOK
		if c.adminOut != 0 {
			want = c.adminOut
		}
		if r := m.admin.Get(c.out); r.Status != want {
			t.Errorf("admin GET %s: %d %s, want %d", c.out, r.Status, r.Body, want)
		} else if want == http.StatusOK && c.kind == listed && c.name != "trend" && !strings.Contains(string(r.Body), "sqB") && !strings.Contains(string(r.Body), "bravo-") {
			t.Errorf("admin GET %s shows nothing of sqB: %.300s", c.out, r.Body)
		}
	}
	for _, role := range matrixRoles {
		cl := m.as(t, role)
		for _, c := range cases {
			t.Run(role+"/"+c.name, func(t *testing.T) {
				in, out := cl.Get(c.in), cl.Get(c.out)
				switch {
				case c.adminOnly && role != events.RoleAdmin:
					if in.Status != http.StatusForbidden || out.Status != http.StatusForbidden {
						t.Errorf("%s: %d and %d, want 403 (admins only)", role, in.Status, out.Status)
					}
					return
				case c.kind == editorsOK && !slices.Contains(editors, role):
					if in.Status != http.StatusForbidden || out.Status != http.StatusForbidden {
						t.Errorf("%s: %d and %d, want 403 (those who may assign items only)", role, in.Status, out.Status)
					}
					return
				case c.inShows == "" && !c.evidence:
					// Timelines of things of no unit: only the whole
					// organisation sees them.
					if in.Status != http.StatusNotFound {
						t.Errorf("%s GET %s: %d %s, want 404", role, c.in, in.Status, in.Body)
					}
					return
				}
				if in.Status != http.StatusOK {
					t.Fatalf("%s GET %s: %d %s", role, c.in, in.Status, in.Body)
				}
				if c.inShows != "" && !strings.Contains(string(in.Body), c.inShows) {
					t.Errorf("%s GET %s lacks %q: %.300s", role, c.in, c.inShows, in.Body)
				}
				if c.evidence && len(in.Body) == 0 {
					t.Errorf("%s: empty evidence download", role)
				}
				noOutside(t, role, c.in, in.Body)
				want := c.outStatus
				if want == 0 {
					want = http.StatusOK
					if c.kind == hidden || c.kind == editorsOK {
						want = http.StatusNotFound
					}
				}
				if out.Status != want {
					t.Errorf("%s GET %s: %d %.300s, want %d", role, c.out, out.Status, out.Body, want)
				}
				if out.Status == http.StatusOK { // a 404 may echo the id asked for
					noOutside(t, role, c.out, out.Body)
				}
			})
		}
	}
	// The audit feed holds nothing of no unit either (users, roles,
	// tokens, cycles) for callers scoped to units.
	var feed query.AuditPage
	m.as(t, events.RoleViewer).MustGet("/api/v1/audit?limit=200&"+wait, &feed)
	for _, e := range feed.Entries {
		if e.UnitID != "sqA" && e.UnitID != "sqA1" {
			t.Errorf("the viewer's audit feed shows %s of unit %q", e.Type, e.UnitID)
		}
	}
	// Scope is never widened by what the caller asks for.
	var me meReply
	m.as(t, events.RoleEditor).MustGet("/api/v1/me", &me)
	if me.Scope.All || !slices.Equal(me.Scope.Units, []string{"sqA"}) {
		t.Errorf("the editor's scope: %+v", me.Scope)
	}
}

// TestAuthMatrixLiveStream opens the live stream as each role and checks
// that changes of sqB never reach it while those of sqA1 do.
func TestAuthMatrixLiveStream(t *testing.T) {
	m := mustMatrixStack(t)
	type stream struct {
		role   string
		events chan map[string]any
	}
	var streams []stream
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, role := range matrixRoles {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/api/v1/stream", nil)
		req.Header.Set("Authorization", "Bearer "+m.tokens[role])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: stream %d", role, resp.StatusCode)
		}
		s := stream{role: role, events: make(chan map[string]any, 1000)}
		go func() {
			defer resp.Body.Close()
			defer close(s.events)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var ev map[string]any
					if json.Unmarshal([]byte(data), &ev) == nil {
						s.events <- ev
					}
				}
			}
		}()
		streams = append(streams, s)
	}
	// The streams are attached once a change of sqA1 reaches each of them;
	// then one of sqB and one of sqA1 follow.
	warm, _ := m.item(t, unitIn)
	outside, _ := m.item(t, unitOut)
	m.admin.MustPost("/api/v1/items/"+outside+"/progress", map[string]any{"percent": 10, "note": "西湖"}, http.StatusOK)
	last, _ := m.item(t, unitIn)
	for _, s := range streams {
		seen := map[string]bool{}
		deadline := time.After(10 * time.Second)
		sawLast := false
		for !sawLast {
			select {
			case ev, ok := <-s.events:
				if !ok {
					t.Fatalf("%s: the stream ended", s.role)
				}
				key, _ := ev["key"].(string)
				unit, _ := ev["unit"].(string)
				seen[key] = true
				sawLast = sawLast || strings.Contains(key, last)
				if strings.Contains(key, outside) || unit == unitOut || unit == "jw" {
					t.Errorf("%s: the live stream shows %v", s.role, ev)
				}
			case <-deadline:
				t.Fatalf("%s: no change of %s within 10s (saw %v)", s.role, last, seen)
			}
		}
		if !seen["item:"+warm] {
			t.Errorf("%s: the stream missed item-%s", s.role, warm)
		}
	}
}

// liveNotice is one change event of a live stream, as a client reads it.
type liveNotice struct {
	View     string `json:"view"`
	Key      string `json:"key"`
	Position uint64 `json:"position"`
	Unit     string `json:"unit"`
}

// mustOpenNotices opens the live stream with token and rawQuery and
// returns its change events as they come; the stream ends with ctx.
func mustOpenNotices(tb testing.TB, ctx context.Context, url, token, rawQuery string) <-chan liveNotice {
	tb.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/stream?"+rawQuery, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("stream %s: %d", rawQuery, resp.StatusCode)
	}
	out := make(chan liveNotice, 4096)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var n liveNotice
				if json.Unmarshal([]byte(data), &n) == nil && n.View != "" {
					out <- n
				}
			}
		}
	}()
	return out
}

// TestAuthMatrixLiveStreamTopics: topics narrow a stream, never widen
// it. Each role on sqA asks for topics that name sqB outright (unit:sqB,
// item:<an item of sqB>), its parent (unit:jw, whose subtree holds sqB)
// and whole views; while things of sqB change in every view, none of
// their notices reaches them, whereas the administrator of everything,
// asking the same, hears of all of them.
func TestAuthMatrixLiveStreamTopics(t *testing.T) {
	m := mustMatrixStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const outItem, outCmt, outUser = "bravo-live", "bravo-live-c", "bravo-live-u"
	const inItem, inCmt, marker = "alpha-live", "alpha-live-c", "alpha-live-end"
	topics := map[string]string{
		"outward": "topic=unit:sqB&topic=item:" + outItem + "&topic=view:access&topic=item:" + marker,
		"broad": "topic=unit:jw&topic=view:ledger&topic=view:audit&topic=view:commitments&topic=view:assessments&topic=view:access" +
			"&topic=item:" + marker,
	}
	type stream struct {
		who, topics string
		notices     <-chan liveNotice
	}
	var streams []stream
	for _, role := range matrixRoles {
		for name, q := range topics {
			streams = append(streams, stream{role, name, mustOpenNotices(t, ctx, m.URL, m.tokens[role], q)})
		}
	}
	control := mustOpenNotices(t, ctx, m.URL, m.AdminToken, topics["broad"]+"&topic=unit:sqB&topic=item:"+outItem)

	// The streams are attached once the control stream hears of a first
	// change (every stream is attached before the hub delivers to any).
	warm, _ := m.item(t, unitIn)
	waitNotice(t, control, "the warm-up item", func(n liveNotice) bool { return strings.Contains(n.Key, warm) })

	// Things of sqB change in every view.
	m.admin.MustPost("/api/v1/items", map[string]any{"item_id": outItem, "cycle_id": "y2024", "unit_id": unitOut, "title": "西湖社区问题", "deadline": "2030-06-30"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/items/"+outItem+"/progress", map[string]any{"percent": 30, "note": "西湖进展"}, http.StatusOK)
	m.admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": outCmt, "unit_id": unitOut, "title": "西湖每周走访", "activity": "走访",
		"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/commitments/"+outCmt+"/activities", map[string]any{"count": 1, "occurred_on": "2024-03-05"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/users", map[string]any{"user_id": outUser, "name": "西湖用户"}, http.StatusCreated)
	lastOut := m.admin.MustPost("/api/v1/users/"+outUser+"/roles", map[string]any{"role": "editor", "unit_id": unitOut}, http.StatusOK).Position
	// Then the same of sqA1, so that every view announces something
	// after the changes of sqB.
	m.admin.MustPost("/api/v1/items", map[string]any{"item_id": inItem, "cycle_id": "y2024", "unit_id": unitIn, "title": "东风问题", "deadline": "2030-06-30"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": inCmt, "unit_id": unitIn, "title": "东风每周走访", "activity": "走访",
		"target": 1, "period": "week", "start": "2024-01-01", "end": "2030-12-31"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/commitments/"+inCmt+"/activities", map[string]any{"count": 1, "occurred_on": "2024-03-05"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/users", map[string]any{"user_id": "alpha-live-u", "name": "东风用户"}, http.StatusCreated)
	m.admin.MustPost("/api/v1/users/alpha-live-u/roles", map[string]any{"role": "viewer", "unit_id": unitIn}, http.StatusOK)

	// Each view's notices come in position order; once the control has a
	// notice past lastOut from every view that announced sqB's changes,
	// the hub has offered all of them to every stream.
	outViews := map[string]bool{}
	past := map[string]bool{}
	outSeen := 0
	waitNotice(t, control, "every view past the changes of sqB", func(n liveNotice) bool {
		if n.Position > lastOut {
			past[n.View] = true
		} else if strings.Contains(n.Key, "bravo-") || n.Unit == unitOut {
			outViews[n.View] = true
			outSeen++
		}
		for v := range outViews {
			if !past[v] {
				return false
			}
		}
		return len(outViews) >= 4
	})
	// A last change behind all of them: a stream that got a notice of sqB
	// got it before this one.
	m.admin.MustPost("/api/v1/items", map[string]any{"item_id": marker, "cycle_id": "y2024", "unit_id": unitIn, "title": "最后一项", "deadline": "2030-06-30"}, http.StatusCreated)
	for _, s := range streams {
		var seen []string
		waitNotice(t, s.notices, s.who+" "+s.topics+": the last item", func(n liveNotice) bool {
			seen = append(seen, n.View+" "+n.Key)
			if strings.Contains(n.Key, "bravo-") || n.Unit == unitOut || n.Unit == "jw" || strings.HasPrefix(n.Key, "user-") {
				t.Errorf("%s with topics %s hears of %+v", s.who, s.topics, n)
			}
			return strings.Contains(n.Key, marker)
		})
		if s.topics == "broad" && !slices.Contains(seen, "ledger item:"+inItem) {
			t.Errorf("%s with topics %s missed the item of sqA1: %v", s.who, s.topics, seen)
		}
	}
	t.Logf("tried: %d scoped streams asking for sqB by unit, item, parent and view; found: none heard any of the %d notices of sqB "+
		"from %d views that the administrator's stream heard", len(streams), outSeen, len(outViews))
}

// waitNotice reads ch until done says so, for at most 15 seconds.
func waitNotice(tb testing.TB, ch <-chan liveNotice, what string, done func(liveNotice) bool) {
	tb.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				tb.Fatalf("%s: the stream ended", what)
			}
			if done(n) {
				return
			}
		case <-deadline:
			tb.Fatalf("%s: not within 15s", what)
		}
	}
}

// TestAuthMatrixExports: every export, in both formats, for every role on
// sqA holds the rows of sqA's subtree and never a row of sqB, even asked
// for sqB by unit_id; a user with no role at all is refused (403); and
// the administrator of everything does get sqB's rows, so the question
// was a fair one.
func TestAuthMatrixExports(t *testing.T) {
	m := mustMatrixStack(t)
	s := m.seed(t)
	m.admin.MustPost("/api/v1/rulesets", map[string]any{"ruleset_id": "rs-export", "name": "考核细则", "rules": events.DefaultScoringRules()}, http.StatusCreated)
	last := m.admin.MustPost("/api/v1/rulesets/rs-export/publish", map[string]any{"note": "通过"}, http.StatusOK).Position
	none := mustUser(t, m.Stack, m.admin, "noneA", "无角色用户", "", "")
	wait := fmt.Sprintf("min_position=%d", max(last, s.last))

	query := map[string]string{
		exportLedger:      "",
		exportCommitments: "",
		exportCompliance:  "from=2024-03-01&to=2024-03-31&",
		exportMonthly:     "period=2024-03-01&",
		exportRanking:     "period=2024-03-01&",
	}
	// What the in-scope export must show.
	shows := map[string]string{exportLedger: s.itemIn, exportCommitments: s.cmtIn, exportCompliance: s.cmtIn, exportMonthly: "sqA1", exportRanking: "sqA1"}
	tried := 0
	for _, view := range []string{exportLedger, exportCommitments, exportCompliance, exportMonthly, exportRanking} {
		for _, format := range []string{ledgerfile.FormatXLSX, ledgerfile.FormatCSV} {
			path := "/api/v1/exports/" + view + "." + format + "?" + query[view] + wait
			// The administrator of everything sees sqB.
			r := m.admin.MustGet(path, nil)
			if cells := exportCells(t, format, r.Body); !slices.ContainsFunc(cells, outsideCell) {
				t.Errorf("admin %s shows nothing of sqB", path)
			}
			if r := m.Client(t, none).Get(path); r.Status != http.StatusForbidden {
				t.Errorf("a user without roles: %s %d %.200s, want 403", path, r.Status, r.Body)
			}
			paths := []string{path}
			if format == ledgerfile.FormatCSV { // the filter is the same for both formats
				paths = append(paths, path+"&unit_id="+unitOut)
			}
			for _, role := range matrixRoles {
				for _, p := range paths {
					tried++
					r := m.as(t, role).Get(p)
					if r.Status != http.StatusOK {
						t.Errorf("%s %s: %d %.300s", role, p, r.Status, r.Body)
						continue
					}
					cells := exportCells(t, format, r.Body)
					if i := slices.IndexFunc(cells, outsideCell); i >= 0 {
						t.Errorf("%s %s holds %q of sqB", role, p, cells[i])
					}
					if p == path && !slices.ContainsFunc(cells, func(c string) bool { return strings.Contains(c, shows[view]) }) {
						t.Errorf("%s %s lacks %s: %v", role, p, shows[view], cells)
					}
				}
			}
		}
	}
	t.Logf("tried: %d exports by 4 roles on sqA (10 endpoints, the CSV ones also with unit_id=sqB), 10 by a user without roles; "+
		"found: no cell of sqB, the rows of sqA1 in each, 403 without roles", tried)
}

// outsideCell reports whether a cell of an export is something of sqB.
func outsideCell(c string) bool {
	return c == unitOut || strings.Contains(c, "西湖") || strings.Contains(c, "bravo-")
}

// exportCells is every cell of every sheet of an export.
func exportCells(t *testing.T, format string, body []byte) []string {
	t.Helper()
	var out []string
	if format == ledgerfile.FormatCSV {
		rd := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF"))))
		rd.FieldsPerRecord = -1
		rows, err := rd.ReadAll()
		if err != nil {
			t.Fatalf("the export is not CSV: %v", err)
		}
		for _, row := range rows {
			out = append(out, row...)
		}
		return out
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the export is not a workbook: %v", err)
	}
	defer f.Close()
	for _, sheet := range f.GetSheetList() {
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			out = append(out, row...)
		}
	}
	return out
}
