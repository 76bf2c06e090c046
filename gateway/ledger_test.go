package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"rectify/events"
	"rectify/gateway/ledgerfile"
	"rectify/projections/query"
	"rectify/services/demo"
)

// postFile posts a file as the raw body.
func (c *Client) postFile(path string, data []byte, ctype string, hdr ...string) Reply {
	c.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(data))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.send(req)
}

// ledgerOf reads every item of a cycle with its detail, by id.
func ledgerOf(t *testing.T, c *Client, cycle string, wait uint64) map[string]query.ItemDetail {
	t.Helper()
	out := map[string]query.ItemDetail{}
	cursor := ""
	for {
		var page query.LedgerPage
		c.MustGet(fmt.Sprintf("/api/v1/items?cycle_id=%s&limit=200&cursor=%s&min_position=%d", cycle, cursor, wait), &page)
		for _, it := range page.Items {
			var d query.ItemDetail
			c.MustGet("/api/v1/items/"+it.ID, &d)
			out[it.ID] = d
		}
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

func commitmentsOf(t *testing.T, c *Client, wait uint64) map[string]query.Commitment {
	t.Helper()
	var page query.CommitmentPage
	c.MustGet(fmt.Sprintf("/api/v1/commitments?limit=200&min_position=%d", wait), &page)
	out := map[string]query.Commitment{}
	for _, cm := range page.Commitments {
		out[cm.ID] = cm
	}
	return out
}

// sheetRows reads a sheet of an exported workbook.
func sheetRows(t *testing.T, data []byte, sheet string) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the export is not a workbook: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("sheet %s: %v", sheet, err)
	}
	return rows
}

// column returns the cells of the column with header h.
func column(t *testing.T, rows [][]string, h string) []string {
	t.Helper()
	i := slices.Index(rows[0], h)
	if i < 0 {
		t.Fatalf("no column %s in %v", h, rows[0])
	}
	var out []string
	for _, r := range rows[1:] {
		if i < len(r) {
			out = append(out, r[i])
		} else {
			out = append(out, "")
		}
	}
	return out
}

// TestLedgerExportImport exports the demo's ledger, imports it into an
// empty rectify, and finds the same items, measures and commitments
// there; and checks the dry run, idempotency, the error report of a
// broken file, the scope of exports and as-of exports.
func TestLedgerExportImport(t *testing.T) {
	a := MustStartStack(t)
	ctx := context.Background()
	seeded, err := demo.Seed(ctx, a.Store, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	headA, err := a.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	adminA := a.Client(t, a.AdminToken)
	waitA := fmt.Sprintf("min_position=%d", headA)

	xlsx := adminA.MustGet("/api/v1/exports/ledger.xlsx?cycle_id=y-cur&"+waitA, nil)
	csvFile := adminA.MustGet("/api/v1/exports/ledger.csv?cycle_id=y-cur&"+waitA, nil)
	itemsA := ledgerOf(t, adminA, "y-cur", headA)
	commitmentsA := commitmentsOf(t, adminA, headA)

	t.Run("export", func(t *testing.T) {
		if ct := xlsx.Header.Get("Content-Type"); ct != typeXLSX {
			t.Errorf("Content-Type %q", ct)
		}
		if d := xlsx.Header.Get("Content-Disposition"); !strings.HasPrefix(d, `attachment; filename="ledger-`) || !strings.Contains(d, "filename*=UTF-8''") {
			t.Errorf("Content-Disposition %q", d)
		}
		if n, _ := strconv.Atoi(xlsx.Header.Get("X-Rectify-Rows")); n != len(itemsA) || n < 60 {
			t.Errorf("X-Rectify-Rows %q, want %d", xlsx.Header.Get("X-Rectify-Rows"), len(itemsA))
		}
		if p, _ := strconv.ParseUint(xlsx.Header.Get(headerPosition), 10, 64); p < headA {
			t.Errorf("%s %d, want at least %d", headerPosition, p, headA)
		}
		f, err := excelize.OpenReader(bytes.NewReader(xlsx.Body))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.GetSheetList(); !slices.Equal(got, []string{ledgerfile.SheetItems, ledgerfile.SheetCommitments, ledgerfile.SheetInfo}) {
			t.Errorf("sheets %v", got)
		}
		f.Close()
		rows := sheetRows(t, xlsx.Body, ledgerfile.SheetItems)
		if len(rows) != len(itemsA)+1 || !slices.Equal(rows[0][:8], []string{"序号", "事项编号", "整改事项", "问题描述", "责任单位", "责任人", "整改时限", "整改措施"}) {
			t.Errorf("%d rows, header %v", len(rows), rows[0])
		}
		overdue := column(t, rows, "是否逾期")
		rag := column(t, rows, "预警")
		for i, id := range column(t, rows, "事项编号") {
			it := itemsA[id]
			if (overdue[i] == "是") != it.Overdue || (it.RAG == query.RAGRed) != strings.HasPrefix(rag[i], "红") {
				t.Errorf("row of %s: overdue %s, colour %s; the view says %v, %s", id, overdue[i], rag[i], it.Overdue, it.RAG)
			}
		}
		for _, p := range []struct{ path, head string }{
			{"/api/v1/exports/ledger.csv?cycle_id=y-cur", "\uFEFF序号,事项编号,整改事项"},
			{"/api/v1/exports/commitments.csv", "\uFEFF序号,承诺编号,承诺事项"},
			{"/api/v1/exports/compliance.csv", "\uFEFF承诺编号,承诺事项"},
		} {
			sep := "?"
			if strings.Contains(p.path, "?") {
				sep = "&"
			}
			r := adminA.MustGet(p.path+sep+waitA, nil)
			if !strings.HasPrefix(string(r.Body), p.head) || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Errorf("%s: %s %.80q", p.path, r.Header.Get("Content-Type"), r.Body)
			}
		}
		cx := adminA.MustGet("/api/v1/exports/compliance.xlsx?"+waitA, nil)
		periods := sheetRows(t, cx.Body, ledgerfile.SheetCompliance)
		results := column(t, periods, "结果")
		if len(periods) < 50 || !slices.Contains(results, "达标") || !slices.Contains(results, "未达标") {
			t.Errorf("compliance: %d rows, results %v", len(periods), results[:min(len(results), 10)])
		}
		if tally := sheetRows(t, cx.Body, ledgerfile.SheetTally); len(tally) != len(commitmentsA)+1 {
			t.Errorf("tally: %d rows for %d commitments", len(tally), len(commitmentsA))
		}
		cs := adminA.MustGet("/api/v1/exports/commitments.xlsx?"+waitA, nil)
		if rows := sheetRows(t, cs.Body, ledgerfile.SheetCommitments); len(rows) != len(commitmentsA)+1 {
			t.Errorf("commitments: %d rows", len(rows))
		}
		for _, c := range []struct{ path, field string }{
			{"/api/v1/exports/compliance.xlsx?as_of=last-week", "as_of"},
			{"/api/v1/exports/ledger.xlsx?escalated=boss", "escalated"},
			{"/api/v1/exports/ledger.xlsx?colour=red", "colour"},
			{"/api/v1/exports/ledger.csv?as_of=yesterday", "as_of"},
			{"/api/v1/exports/compliance.csv?from=2024-13-01", "from"},
		} {
			r := adminA.Get(c.path)
			if code, fields := r.ErrorFields(t); r.Status != http.StatusBadRequest || code != events.CodeInvalid || !slices.Contains(fields, c.field) {
				t.Errorf("GET %s: %d %s", c.path, r.Status, r.Body)
			}
		}
	})

	t.Run("scope", func(t *testing.T) {
		editor := a.Client(t, seeded.Tokens["u-dongfeng"])
		r := editor.MustGet("/api/v1/exports/ledger.xlsx?"+waitA, nil)
		rows := sheetRows(t, r.Body, ledgerfile.SheetItems)
		units := column(t, rows, "单位编号")
		if len(units) == 0 || len(units) >= len(itemsA) {
			t.Errorf("the editor's export holds %d items", len(units))
		}
		for _, u := range units {
			if u != "sq-dongfeng" {
				t.Errorf("the editor of sq-dongfeng exports an item of %s", u)
			}
		}
		for _, u := range column(t, sheetRows(t, r.Body, ledgerfile.SheetCommitments), "单位编号") {
			if u != "sq-dongfeng" {
				t.Errorf("the editor of sq-dongfeng exports a commitment of %s", u)
			}
		}
		viewer := a.Client(t, seeded.Tokens["u-viewer"])
		if n, _ := strconv.Atoi(viewer.MustGet("/api/v1/exports/ledger.csv?"+waitA, nil).Header.Get("X-Rectify-Rows")); n < len(itemsA) {
			t.Errorf("the committee's viewer exports %d items", n)
		}
	})

	t.Run("as of", func(t *testing.T) {
		// An item in progress gets its second measure done and a new
		// item is raised; the ledger as of before shows neither.
		var page query.LedgerPage
		adminA.MustGet("/api/v1/items?status=in_progress&cycle_id=y-cur&limit=1&"+waitA, &page)
		it := itemsA[page.Items[0].ID]
		m2 := it.Measures[1]
		if m2.Done {
			t.Fatalf("the demo's item %s has its second measure done", it.ID)
		}
		adminA.MustPost("/api/v1/items/"+it.ID+"/measures/"+m2.ID+"/complete", map[string]any{"note": "已完成"}, http.StatusOK)
		last := adminA.MustPost("/api/v1/items", map[string]any{"item_id": "zg-new", "cycle_id": "y-cur", "unit_id": it.UnitID,
			"title": "新发现的问题", "deadline": "2030-06-30"}, http.StatusCreated).Position
		now := adminA.MustGet(fmt.Sprintf("/api/v1/exports/ledger.xlsx?cycle_id=y-cur&min_position=%d", last), nil)
		then := adminA.MustGet(fmt.Sprintf("/api/v1/exports/ledger.xlsx?cycle_id=y-cur&as_of=position:%d&min_position=%d", headA, last), nil)
		if !strings.Contains(then.Header.Get("Content-Disposition"), fmt.Sprintf("asof-position-%d", headA)) {
			t.Errorf("as-of file name %q", then.Header.Get("Content-Disposition"))
		}
		measuresOf := func(data []byte) map[string]string {
			rows := sheetRows(t, data, ledgerfile.SheetItems)
			out := map[string]string{}
			ms := column(t, rows, "整改措施")
			for i, id := range column(t, rows, "事项编号") {
				out[id] = ms[i]
			}
			return out
		}
		mNow, mThen := measuresOf(now.Body), measuresOf(then.Body)
		if _, ok := mThen["zg-new"]; ok || len(mThen) != len(itemsA) {
			t.Errorf("as of position %d: %d items, zg-new among them: %v", headA, len(mThen), ok)
		}
		if _, ok := mNow["zg-new"]; !ok {
			t.Errorf("now: zg-new missing")
		}
		if strings.Count(mNow[it.ID], "已完成") != 2 || strings.Count(mThen[it.ID], "已完成") != 1 || !strings.Contains(mThen[it.ID], m2.Text) {
			t.Errorf("measures of %s now %q, then %q", it.ID, mNow[it.ID], mThen[it.ID])
		}
	})

	t.Run("assessments and rankings", func(t *testing.T) {
		adminA.MustPost("/api/v1/rulesets", map[string]any{"ruleset_id": "rs-1", "name": "2025年度考核细则", "rules": events.DefaultScoringRules()}, http.StatusCreated)
		pos := adminA.MustPost("/api/v1/rulesets/rs-1/publish", map[string]any{"note": "工委会议通过"}, http.StatusOK).Position
		for _, c := range []struct{ export, view, sheet string }{
			{"assessments", "monthly", ledgerfile.SheetMonthly},
			{"rankings", "ranking", ledgerfile.SheetRanking},
		} {
			var res query.AssessmentResult
			adminA.MustGet(fmt.Sprintf("/api/v1/assessments/%s?min_position=%d", c.view, pos), &res)
			x := adminA.MustGet(fmt.Sprintf("/api/v1/exports/%s.xlsx?min_position=%d", c.export, pos), nil)
			rows := sheetRows(t, x.Body, c.sheet)
			ids, ranks := column(t, rows, "单位编号"), column(t, rows, "名次")
			if len(ids) != len(res.Units) || len(ids) == 0 {
				t.Fatalf("%s: %d rows, the view has %d units", c.export, len(ids), len(res.Units))
			}
			for i, u := range res.Units {
				if ids[i] != u.UnitID || ranks[i] != strconv.Itoa(u.Rank) {
					t.Errorf("%s row %d: %s rank %s, the view says %s rank %d", c.export, i+2, ids[i], ranks[i], u.UnitID, u.Rank)
				}
			}
			info := sheetRows(t, x.Body, ledgerfile.SheetInfo)
			if !slices.ContainsFunc(info, func(r []string) bool { return len(r) > 1 && r[1] == res.Digest }) {
				t.Errorf("%s: the info sheet lacks the digest %s", c.export, res.Digest)
			}
			if r := adminA.MustGet(fmt.Sprintf("/api/v1/exports/%s.csv?min_position=%d", c.export, pos), nil); !strings.HasPrefix(string(r.Body), "\uFEFF层级,名次,单位") {
				t.Errorf("%s.csv starts %.40q", c.export, r.Body)
			}
		}
		if r := adminA.Get("/api/v1/exports/rankings.xlsx?period=soon&version=-1"); r.Status != http.StatusBadRequest {
			t.Errorf("bad assessment parameters: %d", r.Status)
		} else if _, fields := r.ErrorFields(t); !slices.Contains(fields, "period") || !slices.Contains(fields, "version") {
			t.Errorf("bad assessment parameters name %v", fields)
		}
	})

	// An empty rectify with the same organisation and cycle.
	b := MustStartStack(t)
	adminB := b.Client(t, b.AdminToken)
	var tree query.UnitTree
	adminA.MustGet("/api/v1/units?include_retired=true", &tree)
	var posB uint64
	for _, u := range tree.Units {
		posB = adminB.MustPost("/api/v1/units", map[string]any{"unit_id": u.ID, "name": u.Name, "kind": u.Kind, "parent_id": u.ParentID}, http.StatusCreated).Position
	}
	var cycles query.Cycles
	adminA.MustGet("/api/v1/cycles", &cycles)
	for _, c := range cycles.Cycles {
		if c.ID == "y-cur" {
			posB = adminB.MustPost("/api/v1/cycles", map[string]any{"cycle_id": c.ID, "name": c.Name, "year": c.Year, "kind": c.Kind,
				"start": c.Start, "end": c.End}, http.StatusCreated).Position
		}
	}
	headB := func() uint64 {
		h, err := b.Store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("dry run", func(t *testing.T) {
		before := headB()
		for _, f := range []struct {
			path, ctype string
			body        []byte
			commitments int
		}{
			{"ledger.xlsx", typeXLSX, xlsx.Body, len(commitmentsA)},
			{"ledger.csv", "text/csv", csvFile.Body, 0},
		} {
			r := adminB.postFile(fmt.Sprintf("/api/v1/imports/ledger?dry_run=true&name=%s&min_position=%d", f.path, posB), f.body, f.ctype)
			if r.Status != http.StatusOK {
				t.Fatalf("dry run of %s: %d %s", f.path, r.Status, r.Body)
			}
			var rep ledgerImportReply
			r.JSON(t, &rep)
			if !rep.DryRun || rep.CycleID != "y-cur" || len(rep.Items) != len(itemsA) || len(rep.Commitments) != f.commitments || rep.Position != 0 {
				t.Errorf("dry run of %s: %d items, %d commitments, %+v", f.path, len(rep.Items), len(rep.Commitments), rep.Sheets)
			}
			for _, it := range rep.Items {
				if _, ok := itemsA[it.ID]; !ok || it.Row < 2 || it.Sheet != ledgerfile.SheetItems {
					t.Errorf("dry run of %s: item %+v", f.path, it)
				}
			}
		}
		if h := headB(); h != before {
			t.Errorf("a dry run wrote: head %d -> %d", before, h)
		}
	})

	t.Run("broken file", func(t *testing.T) {
		before := headB()
		f := excelize.NewFile()
		f.SetSheetName("Sheet1", "整改事项")
		for i, r := range [][]any{
			{"事项编号", "整改事项", "责任单位", "整改时限", "整改措施"},
			{"ok-1", "好的一行", "东风社区党委", "2030-06-30", "1. 措施"},
			{"bad-date", "时限不对", "东风社区党委", "2030-02-30", ""},
			{"bad-unit", "单位不对", "不存在的社区", "2030-06-30", ""},
			{"no-title", "", "东风社区党委", "2030-06-30", ""},
			{"ok-1", "编号重复", "东风社区党委", "2030-06-30", ""},
		} {
			f.SetSheetRow("整改事项", fmt.Sprintf("A%d", i+1), &r)
		}
		f.NewSheet("承诺事项")
		for i, r := range [][]any{
			{"承诺事项", "责任单位", "履诺活动", "目标次数", "统计周期", "开始日期", "结束日期"},
			{"每周走访", "东风社区党委", "走访", -3, "每周", "2030-01-01", "2030-12-31"},
		} {
			f.SetSheetRow("承诺事项", fmt.Sprintf("A%d", i+1), &r)
		}
		var buf bytes.Buffer
		f.Write(&buf)
		for _, dry := range []bool{true, false} {
			r := adminB.postFile(fmt.Sprintf("/api/v1/imports/ledger?cycle_id=y-cur&dry_run=%v&min_position=%d", dry, posB), buf.Bytes(), typeXLSX)
			var e ledgerImportError
			r.JSON(t, &e)
			if r.Status != http.StatusBadRequest || e.Error.Code != events.CodeInvalid {
				t.Fatalf("broken file (dry run %v): %d %s", dry, r.Status, r.Body)
			}
			var got []string
			for _, p := range e.Problems {
				got = append(got, fmt.Sprintf("%s %d %s", p.Sheet, p.Row, p.Column))
			}
			slices.Sort(got)
			want := []string{"承诺事项 2 目标次数", "整改事项 3 整改时限", "整改事项 4 责任单位", "整改事项 5 整改事项", "整改事项 6 事项编号"}
			if !slices.Equal(got, want) {
				t.Errorf("problems %q, want %q", got, want)
			}
			_, fields := r.ErrorFields(t)
			if !slices.Contains(fields, "整改事项!D3") || !slices.Contains(fields, "承诺事项!D2") {
				t.Errorf("error fields %v", fields)
			}
		}
		if h := headB(); h != before {
			t.Errorf("a broken file wrote: head %d -> %d", before, h)
		}
	})

	var imported ledgerImportReply
	t.Run("import", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/imports/ledger?name=%s&min_position=%d", "整改台账.xlsx", posB)
		r := adminB.postFile(path, xlsx.Body, typeXLSX, "Idempotency-Key", "round-trip-1")
		if r.Status != http.StatusCreated {
			t.Fatalf("import: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &imported)
		if imported.Position == 0 || r.Header.Get(headerPosition) != fmt.Sprint(imported.Position) || len(imported.Items) != len(itemsA) {
			t.Errorf("import reply %+v", imported)
		}
		// The same request again writes nothing and answers the same.
		head := headB()
		again := adminB.postFile(path, xlsx.Body, typeXLSX, "Idempotency-Key", "round-trip-1")
		var rep ledgerImportReply
		again.JSON(t, &rep)
		if again.Status != http.StatusCreated || rep.Position != imported.Position || headB() != head {
			t.Errorf("the import again: %d, position %d (first %d), head %d -> %d", again.Status, rep.Position, imported.Position, head, headB())
		}
		// Under another key the ids are taken: 409, every row named.
		conflict := adminB.postFile(fmt.Sprintf("/api/v1/imports/ledger?dry_run=true&min_position=%d", posB), xlsx.Body, typeXLSX)
		var e ledgerImportError
		conflict.JSON(t, &e)
		if conflict.Status != http.StatusConflict || len(e.Problems) < len(itemsA) || e.Problems[0].Column != "事项编号" {
			t.Errorf("the same ledger under another key: %d %.300s", conflict.Status, conflict.Body)
		}
	})

	t.Run("the views agree", func(t *testing.T) {
		itemsB := ledgerOf(t, adminB, "y-cur", imported.Position)
		if len(itemsB) != len(itemsA) {
			t.Fatalf("%d items after the import, %d exported", len(itemsB), len(itemsA))
		}
		for id, x := range itemsA {
			y, ok := itemsB[id]
			if !ok {
				t.Errorf("item %s was not imported", id)
				continue
			}
			if x.Title != y.Title || x.UnitID != y.UnitID || x.UnitName != y.UnitName || x.OwnerID != y.OwnerID || x.OwnerName != y.OwnerName ||
				x.Deadline != y.Deadline || x.Description != y.Description || x.Category != y.Category || x.Severity != y.Severity ||
				x.Source != y.Source || x.CycleID != y.CycleID {
				t.Errorf("item %s:\nexported %+v\nimported %+v", id, x.LedgerItem, y.LedgerItem)
			}
			if len(x.Measures) != len(y.Measures) {
				t.Errorf("item %s: %d measures, %d imported", id, len(x.Measures), len(y.Measures))
				continue
			}
			for k := range x.Measures {
				mx, my := x.Measures[k], y.Measures[k]
				if mx.Text != my.Text || mx.OwnerID != my.OwnerID || mx.OwnerName != my.OwnerName || mx.Due != my.Due {
					t.Errorf("item %s measure %d: exported %+v, imported %+v", id, k+1, mx, my)
				}
			}
		}
		commitmentsB := commitmentsOf(t, adminB, imported.Position)
		if len(commitmentsB) != len(commitmentsA) {
			t.Errorf("%d commitments imported of %d", len(commitmentsB), len(commitmentsA))
		}
		for id, x := range commitmentsA {
			y := commitmentsB[id]
			if x.Title != y.Title || x.UnitID != y.UnitID || x.PersonID != y.PersonID || x.PersonName != y.PersonName || x.Activity != y.Activity ||
				x.Target != y.Target || x.Period != y.Period || x.Start != y.Start || x.End != y.End || x.CycleID != y.CycleID {
				t.Errorf("commitment %s: exported %+v, imported %+v", id, x, y)
			}
		}
	})

	t.Run("roles", func(t *testing.T) {
		editor := a.Client(t, seeded.Tokens["u-dongfeng"])
		csv := "承诺编号,承诺事项,责任单位,履诺活动,目标次数,统计周期,开始日期,结束日期\n" +
			"cn-new,每周走访,东风社区党委,走访,2,每周,2030-01-01,2030-12-31\n"
		r := editor.postFile("/api/v1/imports/ledger?dry_run=true&cycle_id=y-cur", []byte(csv), "text/csv")
		var e ledgerImportError
		r.JSON(t, &e)
		if r.Status != http.StatusForbidden || len(e.Problems) != 1 || e.Problems[0].Sheet != ledgerfile.SheetCommitments || e.Problems[0].Row != 2 {
			t.Errorf("an editor importing a commitment: %d %s", r.Status, r.Body)
		}
		viewer := a.Client(t, seeded.Tokens["u-viewer"])
		if r := viewer.postFile("/api/v1/imports/ledger?dry_run=true", []byte(csv), "text/csv"); r.Status != http.StatusForbidden {
			t.Errorf("a viewer importing: %d", r.Status)
		}
		if r := editor.postFile("/api/v1/imports/ledger?dry_run=maybe&colour=red", []byte(csv), "text/csv"); r.Status != http.StatusBadRequest {
			t.Errorf("bad parameters: %d", r.Status)
		} else if _, fields := r.ErrorFields(t); !slices.Contains(fields, "dry_run") || !slices.Contains(fields, "colour") {
			t.Errorf("bad parameters name %v", fields)
		}
		if r := editor.postFile("/api/v1/imports/ledger", []byte("{}"), "application/json"); r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("a JSON body: %d", r.Status)
		}
		old := []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
		if r := editor.postFile("/api/v1/imports/ledger", old, "application/vnd.ms-excel"); r.Status != http.StatusBadRequest {
			t.Errorf("an .xls file: %d %s", r.Status, r.Body)
		}
	})
}
