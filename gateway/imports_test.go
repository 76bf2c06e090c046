package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/report"
)

// reportSample reads a sample report of services/report/testdata.
func reportSample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "services", "report", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// postReport sends a report's text as the raw body of a draft request.
func (c *Client) postReport(path string, text []byte) Reply {
	c.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(string(text)))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.send(req)
}

// settle fills in a review as a reviewer would: the cycle and the unit,
// every proposal to confirm accepted (or dropped when it has no count),
// measures tied to no item dropped, and the entries in drop dropped.
func settle(r *report.Review, cycle, unit string, drop ...string) {
	r.Assign.CycleID, r.Assign.UnitID = cycle, unit
	set := func(e report.Entry) { setEntry(r, e) }
	for _, c := range r.Draft.Commitments {
		if c.Ledger.Confirm {
			set(report.Entry{Key: c.Key, Accept: c.Ledger.Target > 0, Drop: c.Ledger.Target == 0})
		}
	}
	for _, m := range r.Draft.Unmatched {
		set(report.Entry{Key: m.Key, Drop: true})
	}
	for _, k := range drop {
		set(report.Entry{Key: k, Drop: true})
	}
}

// setEntry puts e into the review's assignments, replacing the entry of
// the same key.
func setEntry(r *report.Review, e report.Entry) {
	for i := range r.Assign.Entries {
		if r.Assign.Entries[i].Key == e.Key {
			r.Assign.Entries[i] = e
			return
		}
	}
	r.Assign.Entries = append(r.Assign.Entries, e)
}

// TestImportReportOverHTTP takes a report from its text to the ledger:
// the draft, a review refused without writing, the confirmation, its
// retry, and the items in the ledger with their source in the timeline.
func TestImportReportOverHTTP(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)

	// The draft: nothing written, every entry with its line.
	r := admin.postReport("/api/v1/imports/report?name=dongfeng_2019.txt", reportSample(t, "dongfeng_2019.txt"))
	if r.Status != http.StatusOK {
		t.Fatalf("draft: %d %s", r.Status, r.Body)
	}
	var review report.Review
	r.JSON(t, &review)
	d := review.Draft
	if len(d.Items) != 3 || len(d.Commitments) == 0 || len(d.Skipped) == 0 || d.Items[0].Line == 0 || review.Assign.File != "dongfeng_2019.txt" {
		t.Fatalf("draft: %d items, %d commitments, %d lines left out, file %q", len(d.Items), len(d.Commitments), len(d.Skipped), review.Assign.File)
	}
	if d.Items[0].Title != "抓党建主体责任落实还不够到位" {
		t.Errorf("p1 reads %q", d.Items[0].Title)
	}

	// The same, GB18030, uploaded as a file.
	up := admin.Upload("/api/v1/imports/report", []upload{{field: "file", filename: "西湖社区.txt", data: reportSample(t, "xihu_2019_gb18030.txt")}})
	var gb report.Review
	up.JSON(t, &gb)
	if up.Status != http.StatusOK || gb.Draft.Encoding != report.EncodingGB18030 || gb.Assign.File != "西湖社区.txt" ||
		len(gb.Draft.Items) == 0 || gb.Draft.Items[0].Title != "理论学习不够深入系统" {
		t.Errorf("GB18030 upload: %d, encoding %q, file %q, items %d", up.Status, gb.Draft.Encoding, gb.Assign.File, len(gb.Draft.Items))
	}
	for _, bad := range []struct {
		reply Reply
		field string
	}{
		{admin.postReport("/api/v1/imports/report", []byte("  \n")), "file"},
		{admin.Upload("/api/v1/imports/report", []upload{{field: "report", data: []byte("x")}}), "report"},
	} {
		if code, fields := bad.reply.ErrorFields(t); bad.reply.Status != http.StatusBadRequest || code != events.CodeInvalid || !slices.Contains(fields, bad.field) {
			t.Errorf("bad draft request: %d %s, want 400 naming %s", bad.reply.Status, bad.reply.Body, bad.field)
		}
	}

	// A review that is not ready, or names a unit the ledger lacks, is
	// refused naming the entry, and writes nothing.
	confirm := func(rv report.Review, key string) Reply {
		t.Helper()
		return admin.Post("/api/v1/imports/report/confirm", rv, "Idempotency-Key", key)
	}
	for _, c := range []struct {
		edit  func(*report.Review)
		code  events.Code
		field string
	}{
		{func(rv *report.Review) {}, events.CodeInvalid, "assign.cycle_id"},
		{func(rv *report.Review) { settle(rv, "y2024", "sqZ") }, events.CodeInvalid, "p1.unit_id"},
		{func(rv *report.Review) { settle(rv, "y2024", "sqA"); rv.Draft.Items[1].Title = "" }, events.CodeInvalid, "p2.title"},
	} {
		rv := review
		rv.Assign.Entries = slices.Clone(review.Assign.Entries)
		rv.Draft.Items = slices.Clone(review.Draft.Items)
		c.edit(&rv)
		r := confirm(rv, "bad")
		if code, fields := r.ErrorFields(t); r.Status != http.StatusBadRequest || code != c.code || !slices.Contains(fields, c.field) {
			t.Errorf("%s: %d %s", c.field, r.Status, r.Body)
		}
	}
	var none query.LedgerPage
	admin.MustGet("/api/v1/items?cycle_id=y2024", &none)
	if len(none.Items) != 0 {
		t.Fatalf("a refused review wrote %d items", len(none.Items))
	}

	// Settled, with one item dropped, it is written in one command.
	settle(&review, "y2024", "sqA", "p3")
	r = confirm(review, "import-dongfeng")
	if r.Status != http.StatusCreated {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	var rep importReply
	r.JSON(t, &rep)
	if rep.ImportKey != "import-dongfeng" || len(rep.Items) != 2 || len(rep.Commitments) == 0 || rep.Position == 0 ||
		r.Header.Get(headerPosition) != fmt.Sprint(rep.Position) {
		t.Fatalf("confirm reply %+v", rep)
	}
	if rep.Items[0].Entry != "p1" || rep.Items[0].ID == "" || len(rep.Items[0].Measures) == 0 || rep.Items[0].Measures[0].ID == "" {
		t.Errorf("p1 created %+v", rep.Items[0])
	}

	// A retry with the same key: the same reply, nothing written.
	again := confirm(review, "import-dongfeng")
	var rep2 importReply
	again.JSON(t, &rep2)
	if again.Status != http.StatusCreated || !reflect.DeepEqual(rep, rep2) {
		t.Errorf("retry: %d %+v, want %+v", again.Status, rep2, rep)
	}
	// Under another key it is refused: the entries are there already.
	if r := confirm(review, "import-dongfeng-2"); r.Status != http.StatusConflict {
		t.Errorf("the same review under another key: %d %s", r.Status, r.Body)
	}

	// The items are in the ledger, in Chinese, with their source in the
	// timeline; so are the commitments.
	var page query.LedgerPage
	admin.MustGet(fmt.Sprintf("/api/v1/items?cycle_id=y2024&min_position=%d", rep.Position), &page)
	if len(page.Items) != 2 {
		t.Fatalf("the ledger holds %d imported items, want 2", len(page.Items))
	}
	p1 := rep.Items[0]
	var item query.ItemDetail
	admin.MustGet("/api/v1/items/"+p1.ID, &item)
	if item.Title != "抓党建主体责任落实还不够到位" || item.Source != p1.Source || len(item.Measures) != len(p1.Measures) ||
		!strings.HasPrefix(item.Source, "述职报告《dongfeng_2019.txt》第14行：") {
		t.Errorf("p1 in the ledger: %q from %q, %d measures", item.Title, item.Source, len(item.Measures))
	}
	sourceIn := func(path, source string) {
		t.Helper()
		var tl query.AuditPage
		admin.MustGet(fmt.Sprintf("%s?min_position=%d", path, rep.Position), &tl)
		for _, e := range tl.Entries {
			for _, c := range e.Changes {
				if c.Field == "source" && c.After == source {
					return
				}
			}
		}
		t.Errorf("the timeline %s does not show the source %q: %+v", path, source, tl.Entries)
	}
	sourceIn("/api/v1/items/"+p1.ID+"/timeline", p1.Source)
	c1 := rep.Commitments[0]
	sourceIn("/api/v1/commitments/"+c1.ID+"/timeline", c1.Source)
}

// TestImportReportNeedsTheRoles: an editor imports the problems of their
// unit, not commitments and not another unit's; a viewer nothing.
func TestImportReportNeedsTheRoles(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	editor := st.Client(t, mustUser(t, st, admin, "ed", "东风编辑", events.RoleEditor, "sqA"))
	viewer := st.Client(t, mustUser(t, st, admin, "vw", "东风查看", events.RoleViewer, "sqA"))

	var review report.Review
	admin.postReport("/api/v1/imports/report", reportSample(t, "dongfeng_2019.txt")).JSON(t, &review)
	settle(&review, "y2024", "sqA1")
	if r := editor.Post("/api/v1/imports/report/confirm", review); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "c1") {
		t.Errorf("an editor importing commitments: %d %s", r.Status, r.Body)
	}
	if r := viewer.postReport("/api/v1/imports/report", reportSample(t, "dongfeng_2019.txt")); r.Status != http.StatusForbidden {
		t.Errorf("a viewer asking for a draft: %d", r.Status)
	}
	for _, c := range review.Draft.Commitments {
		setEntry(&review, report.Entry{Key: c.Key, Drop: true})
	}
	if r := editor.Post("/api/v1/imports/report/confirm", review); r.Status != http.StatusCreated {
		t.Errorf("an editor importing the problems of their unit: %d %s", r.Status, r.Body)
	}
	review.Assign.CycleID, review.Assign.UnitID = "y2025", "sqB"
	if r := editor.Post("/api/v1/imports/report/confirm", review); r.Status != http.StatusForbidden {
		t.Errorf("an editor importing into another unit: %d %s", r.Status, r.Body)
	}
}

// reviewJSON is a review of one problem on unit, ready to confirm, with an
// import key of its own.
func reviewJSON(tb testing.TB, unit, importKey string) report.Review {
	tb.Helper()
	d, err := report.Parse(strings.NewReader(tinyReport))
	if err != nil || len(d.Items) != 1 {
		tb.Fatalf("tiny report: %v, %d items", err, len(d.Items))
	}
	r := report.NewReview(d, "矩阵.txt")
	r.Assign.CycleID, r.Assign.UnitID, r.Assign.ImportKey = "y2024", unit, importKey
	for i := range r.Assign.Entries {
		if !strings.HasPrefix(r.Assign.Entries[i].Key, "p") {
			r.Assign.Entries[i].Drop = true
		}
	}
	return r
}

// tinyReport is a report of one problem with one measure.
const tinyReport = `东风社区党委2019年度述职报告

一、主要工作
全年召开党员大会4次。

二、存在的问题
（一）党员教育管理不够严格。部分党员参加组织生活不积极。

三、下一步工作
（一）加强党员教育管理。严格落实“三会一课”制度。
`

func TestTinyReportParses(t *testing.T) {
	r := reviewJSON(t, "sqA1", "k")
	if _, err := r.Draft.Import(r.Assign); err != nil {
		t.Fatalf("the tiny review does not confirm: %v", err)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), "党员教育管理不够严格") {
		t.Errorf("review %s", b)
	}
}
