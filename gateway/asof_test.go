package gateway

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/gateway/ledgerfile"
	"rectify/projections/query"
)

// TestEveryReadAnswersAsOf changes something after a point T and reads
// every view, report and export as of T and now: the as-of read shows
// what stood at T, the current read the change. Then every GET route
// either answers ?as_of= or refuses it with a 400 naming it and saying
// why, and the refusing ones are exactly the few with no past to show.
func TestEveryReadAnswersAsOf(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)

	// ---- before T ----
	admin.MustPost("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2024", "unit_id": "sqA1", "title": "“三会一课”记录不全", "deadline": "2030-06-30"}, http.StatusCreated)
	admin.MustPost("/api/v1/items/i1/progress", map[string]any{"percent": 60, "note": "补齐记录"}, http.StatusOK)
	admin.MustPost("/api/v1/commitments", map[string]any{"commitment_id": "c1", "unit_id": "sqA", "title": "每周走访居民至少2次", "activity": "走访",
		"target": 2, "period": "week", "start": "2024-03-04", "end": "2030-12-31"}, http.StatusCreated)
	admin.MustPost("/api/v1/commitments/c1/activities", map[string]any{"count": 1, "occurred_on": "2024-03-05", "note": "入户走访"}, http.StatusCreated)
	admin.MustPost("/api/v1/users", map[string]any{"user_id": "li", "name": "李四"}, http.StatusCreated)
	admin.MustPost("/api/v1/users/li/roles", map[string]any{"role": events.RoleViewer, "unit_id": "sqA"}, http.StatusOK)
	tPos := admin.MustPost("/api/v1/rulesets", map[string]any{"ruleset_id": "rs", "name": "月度考核细则", "rules": events.DefaultScoringRules()}, http.StatusCreated).Position
	admin.MustGet(fmt.Sprintf("/api/v1/items?min_position=%d", tPos), nil)
	tTime := time.Now()
	time.Sleep(5 * time.Millisecond) // the next events' times come after tTime on any clock

	// ---- after T ----
	admin.MustPost("/api/v1/units/sqA1/rename", map[string]any{"name": "东风社区第一党支部"}, http.StatusOK)
	admin.MustPost("/api/v1/items/i1/submit", map[string]any{"note": "请验收"}, http.StatusOK)
	admin.MustPost("/api/v1/items/i1/verify", map[string]any{"note": "整改到位"}, http.StatusOK)
	admin.MustPost("/api/v1/items", map[string]any{"item_id": "i2", "cycle_id": "y2024", "unit_id": "sqB", "title": "党员活动室管理不规范", "deadline": "2030-06-30"}, http.StatusCreated)
	admin.MustPost("/api/v1/commitments/c1/activities", map[string]any{"count": 1, "occurred_on": "2024-03-06", "note": "入户走访"}, http.StatusCreated)
	admin.MustPost("/api/v1/commitments/c1/revise", map[string]any{"target": 3, "reason": "加大走访力度"}, http.StatusOK)
	admin.MustPost("/api/v1/users/li/roles", map[string]any{"role": events.RoleEditor, "unit_id": "sqB"}, http.StatusOK)
	pub := admin.MustPost("/api/v1/rulesets/rs/publish", map[string]any{"note": "工委会议通过"}, http.StatusOK).Position
	admin.MustPost("/api/v1/assessments/publications", map[string]any{"kind": "month", "period": "2024-03-01", "position": pub}, http.StatusCreated)
	rules := events.DefaultScoringRules()
	rules.Base = 90
	admin.MustPost("/api/v1/rulesets/rs/revise", map[string]any{"rules": rules, "reason": "基础分调整"}, http.StatusOK)
	last := admin.MustPost("/api/v1/cycles/y2024/close", map[string]any{"note": "年度评议结束"}, http.StatusOK).Position

	wait := fmt.Sprintf("min_position=%d", last)
	at := fmt.Sprintf("as_of=position:%d", tPos)
	// both reads path now and as of T into fresh values of T.
	both := func(path string, now, then any) {
		t.Helper()
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		admin.MustGet(path+sep+wait, now)
		admin.MustGet(path+sep+wait+"&"+at, then)
	}
	differ := func(what string, now, then, wantNow, wantThen any) {
		t.Helper()
		if fmt.Sprint(now) != fmt.Sprint(wantNow) || fmt.Sprint(then) != fmt.Sprint(wantThen) {
			t.Errorf("%s: now %v, as of T %v; want %v and %v", what, now, then, wantNow, wantThen)
		}
	}

	t.Run("views", func(t *testing.T) {
		var u1, u0 query.UnitTree
		both("/api/v1/units", &u1, &u0)
		name := func(tr query.UnitTree) string {
			for _, u := range tr.Units {
				if u.ID == "sqA1" {
					return u.Name
				}
			}
			return ""
		}
		differ("unit tree: sqA1's name", name(u1), name(u0), "东风社区第一党支部", "东风社区第一支部")

		var c1, c0 query.Cycles
		both("/api/v1/cycles", &c1, &c0)
		closed := func(cs query.Cycles) bool {
			return cs.Cycles[slices.IndexFunc(cs.Cycles, func(c query.Cycle) bool { return c.ID == "y2024" })].Closed
		}
		differ("cycles: y2024 closed", closed(c1), closed(c0), true, false)

		var s1, s0 query.Summary
		both("/api/v1/progress/summary", &s1, &s0)
		differ("summary: items, closed", [2]int{s1.Total.Total, s1.Total.Closed}, [2]int{s0.Total.Total, s0.Total.Closed}, [2]int{2, 1}, [2]int{1, 0})
		var byTime query.Summary
		admin.MustGet("/api/v1/progress/summary?"+wait+"&as_of="+tTime.Format(time.RFC3339Nano), &byTime)
		if byTime.Total.Total != 1 || byTime.Total.Closed != 0 {
			t.Errorf("summary as of T's time: %+v", byTime.Total)
		}

		var tr1, tr0 query.Trend
		both("/api/v1/progress/trend", &tr1, &tr0)
		lastPoint := func(tr query.Trend) [2]int { p := tr.Points[len(tr.Points)-1]; return [2]int{p.Open, p.Closed} }
		differ("trend: open and closed today", lastPoint(tr1), lastPoint(tr0), [2]int{1, 1}, [2]int{1, 0})

		var l1, l0 query.LedgerPage
		var a0 query.AsOfLedger
		admin.MustGet("/api/v1/items?"+wait, &l1)
		admin.MustGet("/api/v1/items?"+wait+"&"+at, &a0)
		differ("ledger: items", ids(l1.Items), ids(a0.Items), []string{"i1", "i2"}, []string{"i1"})
		admin.MustGet("/api/v1/items?escalated=any&"+wait, &l0)
		if len(l0.Items) != 0 {
			t.Errorf("escalated items without a watcher: %v", ids(l0.Items))
		}
		var i1 query.ItemDetail
		var i0 query.AsOfItem
		both("/api/v1/items/i1", &i1, &i0)
		differ("item i1 status", i1.Status, i0.Item.Status, events.StatusClosed, events.StatusInProgress)

		var cl1, cl0 query.CommitmentPage
		both("/api/v1/commitments", &cl1, &cl0)
		differ("commitments: c1's target", cl1.Commitments[0].Target, cl0.Commitments[0].Target, 3, 2)
		var cm1, cm0 query.AsOfCommitment
		both("/api/v1/commitments/c1", &cm1, &cm0)
		differ("commitment c1 logged", cm1.Commitment.Logged, cm0.Commitment.Logged, 2, 1)

		week := "from=2024-03-04&to=2024-03-10"
		for _, path := range []string{"/api/v1/compliance?" + week, "/api/v1/commitments/c1/compliance?" + week} {
			var p1, p0 query.Compliance
			both(path, &p1, &p0)
			first := func(c query.Compliance) string {
				p := c.Commitments[0].Periods[0]
				return fmt.Sprintf("%d/%d %s", p.Actual, p.Target, p.Status)
			}
			differ(path, first(p1), first(p0), "2/2 met", "1/2 missed")
		}
		var cu1, cu0 query.UnitsCompliance
		both("/api/v1/compliance/units?"+week, &cu1, &cu0)
		tally := func(c query.UnitsCompliance) string {
			return fmt.Sprintf("%s met %d missed %d", c.Units[0].UnitID, c.Units[0].Met, c.Units[0].Missed)
		}
		differ("unit compliance", tally(cu1), tally(cu0), "sqA met 1 missed 0", "sqA met 0 missed 1")

		var us1, us0 query.UserPage
		both("/api/v1/users", &us1, &us0)
		roles := func(p query.UserPage) int {
			i := slices.IndexFunc(p.Users, func(u query.User) bool { return u.ID == "li" })
			return len(p.Users[i].Roles)
		}
		differ("users: li's roles", roles(us1), roles(us0), 2, 1)
		var ul1, ul0 query.User
		both("/api/v1/users/li", &ul1, &ul0)
		differ("user li's roles", len(ul1.Roles), len(ul0.Roles), 2, 1)

		var f1, f0 query.AuditPage
		both("/api/v1/audit?limit=200", &f1, &f0)
		if f0.Entries[0].Position != tPos || f1.Entries[0].Position != last || len(f0.Entries) >= len(f1.Entries) {
			t.Errorf("feed: newest %d of %d as of T, %d of %d now", f0.Entries[0].Position, len(f0.Entries), f1.Entries[0].Position, len(f1.Entries))
		}
		for _, path := range []string{"/api/v1/items/i1/timeline", "/api/v1/units/sqA1/timeline", "/api/v1/cycles/y2024/timeline",
			"/api/v1/users/li/timeline", "/api/v1/commitments/c1/timeline", "/api/v1/timeline?stream=rule-rs"} {
			if strings.HasSuffix(path, "rule-rs") {
				path = "/api/v1/timeline?stream=" + events.RulesetStream("rs")
			}
			var p1, p0 query.AuditPage
			both(path, &p1, &p0)
			if len(p0.Entries) >= len(p1.Entries) || p0.Entries[len(p0.Entries)-1].Position > tPos {
				t.Errorf("%s: %d entries as of T (the last at %d), %d now", path, len(p0.Entries), p0.Entries[len(p0.Entries)-1].Position, len(p1.Entries))
			}
		}

		var r1, r0 query.Rulesets
		both("/api/v1/rulesets", &r1, &r0)
		differ("rule set versions", len(r1.Rulesets[0].Versions), len(r0.Rulesets[0].Versions), 1, 0)
		var pv1, pv0 query.AssessmentResult
		both("/api/v1/assessments/preview?kind=month&period=2024-03-01&ruleset_id=rs", &pv1, &pv0)
		differ("preview: the draft's base", pv1.Ruleset.Rules.Base, pv0.Ruleset.Rules.Base, 90, 100)
		var pb1, pb0 query.PublicationsPage
		both("/api/v1/assessments/publications", &pb1, &pb0)
		differ("publications", len(pb1.Publications), len(pb0.Publications), 1, 0)
		var pd1, pd0 query.Published
		both("/api/v1/assessments/published?kind=month&period=2024-03-01", &pd1, &pd0)
		differ("published versions", len(pd1.Versions), len(pd0.Versions), 1, 0)
		// No rule set was published at T: nothing to score with then.
		for _, path := range []string{"/api/v1/assessments/monthly?period=2024-03-01", "/api/v1/assessments/weekly?period=2024-03-04",
			"/api/v1/assessments/ranking?period=2024-01-01"} {
			admin.MustGet(path+"&"+wait, nil)
			if r := admin.Get(path + "&" + wait + "&" + at); r.Status != http.StatusNotFound {
				t.Errorf("%s as of T: %d %s, want 404: no rule set published then", path, r.Status, r.Body)
			}
		}
	})

	t.Run("exports", func(t *testing.T) {
		week := "from=2024-03-04&to=2024-03-10"
		csvRows := func(b []byte) [][]string {
			t.Helper()
			rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
			if err != nil {
				t.Fatalf("the CSV export does not parse: %v", err)
			}
			return rows
		}
		now := csvRows(admin.MustGet("/api/v1/exports/compliance.csv?"+week+"&"+wait, nil).Body)
		then := csvRows(admin.MustGet("/api/v1/exports/compliance.csv?"+week+"&"+wait+"&"+at, nil).Body)
		differ("compliance CSV: actual, result", column(t, now, "实际次数")[0]+column(t, now, "结果")[0], column(t, then, "实际次数")[0]+column(t, then, "结果")[0],
			"2达标", "1未达标")
		x1 := sheetRows(t, admin.MustGet("/api/v1/exports/compliance.xlsx?"+week+"&"+wait, nil).Body, ledgerfile.SheetTally)
		x0 := sheetRows(t, admin.MustGet("/api/v1/exports/compliance.xlsx?"+week+"&"+wait+"&"+at, nil).Body, ledgerfile.SheetTally)
		differ("compliance XLSX tally: met", column(t, x1, "达标周期数")[0], column(t, x0, "达标周期数")[0], "1", "0")

		c1 := sheetRows(t, admin.MustGet("/api/v1/exports/commitments.xlsx?"+wait, nil).Body, ledgerfile.SheetCommitments)
		c0 := sheetRows(t, admin.MustGet("/api/v1/exports/commitments.xlsx?"+wait+"&"+at, nil).Body, ledgerfile.SheetCommitments)
		differ("commitments XLSX: target", column(t, c1, "目标次数"), column(t, c0, "目标次数"), []string{"3"}, []string{"2"})

		l1 := csvRows(admin.MustGet("/api/v1/exports/ledger.csv?"+wait, nil).Body)
		l0 := csvRows(admin.MustGet("/api/v1/exports/ledger.csv?"+wait+"&"+at, nil).Body)
		differ("ledger CSV: items", len(l1)-1, len(l0)-1, 2, 1)

		for _, v := range []string{"assessments", "rankings"} {
			path := "/api/v1/exports/" + v + ".csv?period=2024-03-01&" + wait
			admin.MustGet(path, nil)
			if r := admin.Get(path + "&" + at); r.Status != http.StatusNotFound {
				t.Errorf("%s as of T: %d %s, want 404: no rule set published then", path, r.Status, r.Body)
			}
		}
	})

	t.Run("every route", func(t *testing.T) {
		refused := map[string]bool{}
		for _, rt := range st.Gateway.routes {
			path := strings.NewReplacer(":id", "sqA", ":eid", "e1", ":mid", "m1", ":tid", "t1").Replace(rt.path)
			r := admin.Do(rt.method, path+"?as_of=position:"+fmt.Sprint(tPos), map[string]any{})
			if rt.method != http.MethodGet {
				if code, fields := r.ErrorFields(t); r.Status != http.StatusBadRequest || code != events.CodeInvalid || !slices.Equal(fields, []string{paramAsOf}) {
					t.Errorf("%s %s with as_of: %d %s, want 400 naming as_of", rt.method, rt.path, r.Status, r.Body)
				}
				continue
			}
			if r.Status != http.StatusBadRequest {
				continue
			}
			var e struct {
				Error events.Error `json:"error"`
			}
			r.JSON(t, &e)
			i := slices.IndexFunc(e.Error.Fields, func(f events.FieldError) bool { return f.Field == paramAsOf })
			if i < 0 {
				continue // another parameter is missing: as_of was taken
			}
			refused[rt.id] = true
			if p := e.Error.Fields[i].Problem; len(p) < 30 {
				t.Errorf("GET %s refuses as_of without saying why: %q", rt.path, p)
			}
		}
		want := []string{"downloadEvidence", "healthz", "me", "metrics", "openapi", "readyz", "stream"}
		if got := slices.Sorted(func(yield func(string) bool) {
			for k := range refused {
				if !yield(k) {
					return
				}
			}
		}); !slices.Equal(got, want) {
			t.Errorf("GET routes refusing as_of: %v, want %v", got, want)
		}
	})
}

func ids(items []query.LedgerItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
