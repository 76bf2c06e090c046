package projections

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/eventstore"
)

// ledgerHistory builds a small hand-made history event by event, with
// positions 1, 2, 3... and times on the days given (10:00 China time).
type ledgerHistory struct {
	tb  testing.TB
	evs []events.Event
}

func (h *ledgerHistory) add(day string, p events.Payload) {
	h.tb.Helper()
	var stream string
	switch d := p.(type) {
	case events.UnitRegisteredData:
		stream = events.UnitStream(d.UnitID)
	case events.UnitRenamedData:
		stream = events.UnitStream(d.UnitID)
	case events.UnitMovedData:
		stream = events.UnitStream(d.UnitID)
	case events.UnitRetiredData:
		stream = events.UnitStream(d.UnitID)
	case events.CycleOpenedData:
		stream = events.CycleStream(d.CycleID)
	case events.CycleClosedData:
		stream = events.CycleStream(d.CycleID)
	default:
		stream = events.ItemStream(itemIDOf(p))
	}
	d := events.MustDate(day)
	at := time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, chinaZone)
	e, err := events.New(p, events.Meta{ID: fmt.Sprintf("ev-%d", len(h.evs)+1), Stream: stream, Actor: "admin", Time: at})
	if err != nil {
		h.tb.Fatal(err)
	}
	e.Position = uint64(len(h.evs) + 1)
	h.evs = append(h.evs, e)
}

// ledgerToday is the day every query of the sample history asks about.
var ledgerToday = events.MustDate("2024-06-15")

// sampleLedger is the history the ledger tests share. On 2024-06-15 with 7
// yellow days: i1 red, i2 yellow, i3 and i6 green, i4 i5 i7 done.
//
//	jw 街道工委            other 其他单位
//	├── sq1 东风社区        (i6)
//	│   ├── (i1 i4 i7)
//	│   └── zb1 第一支部 (i2)
//	└── sq2 西湖社区 (i3 i5)
func sampleLedger(tb testing.TB) []events.Event {
	h := &ledgerHistory{tb: tb}
	d := events.MustDate
	h.add("2023-01-02", events.UnitRegisteredData{UnitID: "jw", Name: "街道工委", Kind: events.UnitCommittee})
	h.add("2023-01-02", events.UnitRegisteredData{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "jw"})
	h.add("2023-01-02", events.UnitRegisteredData{UnitID: "zb1", Name: "第一支部", Kind: events.UnitBranch, ParentID: "sq1"})
	h.add("2023-01-02", events.UnitRegisteredData{UnitID: "sq2", Name: "西湖社区", Kind: events.UnitCommunity, ParentID: "jw"})
	h.add("2023-01-02", events.UnitRegisteredData{UnitID: "other", Name: "其他单位", Kind: events.UnitOther})
	h.add("2023-01-03", events.CycleOpenedData{CycleID: "c2023", Name: "2023年度述职评议", Year: 2023, Kind: events.CycleAnnualReview, Start: d("2023-01-01"), End: d("2023-12-31")})
	h.add("2024-01-03", events.CycleOpenedData{CycleID: "c2024", Name: "2024年度述职评议", Year: 2024, Kind: events.CycleAnnualReview, Start: d("2024-01-01"), End: d("2024-12-31")})

	// 2023 items.
	h.add("2023-12-01", events.ItemRaisedData{ItemID: "i5", CycleID: "c2023", UnitID: "sq2", Title: "慰问困难群众不及时", Category: "民生服务", Deadline: d("2024-03-31")})
	h.add("2023-12-01", events.ItemRaisedData{ItemID: "i6", CycleID: "c2023", UnitID: "other", Title: "Meeting minutes incomplete", Description: "会议记录不完整", Category: "组织建设", Deadline: d("2024-01-31")})
	h.add("2024-01-20", events.ItemDeadlineChangedData{ItemID: "i6", OldDeadline: d("2024-01-31"), NewDeadline: d("2024-06-30"), Reason: "人员调整"})
	h.add("2024-01-25", events.ItemCarriedOverData{ItemID: "i6", FromCycleID: "c2023", ToCycleID: "c2024", Reason: "跨年度"})
	h.add("2024-04-01", events.ItemSubmittedData{ItemID: "i5"})
	h.add("2024-04-10", events.ItemVerifiedData{ItemID: "i5", ReviewerID: "rev"})
	h.add("2024-04-11", events.CycleClosedData{CycleID: "c2023", Note: "已结转"})

	// 2024 items.
	h.add("2024-05-01", events.ItemRaisedData{ItemID: "i1", CycleID: "c2024", UnitID: "sq1", Title: "整改党员活动室管理不规范问题", Category: "阵地建设", Source: "2024年度述职评议会议", Severity: events.SeverityHigh, Deadline: d("2024-06-10")})
	h.add("2024-05-01", events.ItemRaisedData{ItemID: "i2", CycleID: "c2024", UnitID: "zb1", Title: "Fix road lighting in the community", Description: "路灯损坏", Category: "民生服务", Deadline: d("2024-06-20")})
	h.add("2024-05-01", events.ItemRaisedData{ItemID: "i3", CycleID: "c2024", UnitID: "sq2", Title: "落实三会一课制度整改", Category: "组织建设", Deadline: d("2024-07-31")})
	h.add("2024-05-01", events.ItemRaisedData{ItemID: "i4", CycleID: "c2024", UnitID: "sq1", Title: "台账不完整", Description: "整改台账缺页", Category: "组织建设", Deadline: d("2024-05-31")})
	h.add("2024-05-01", events.ItemRaisedData{ItemID: "i7", CycleID: "c2024", UnitID: "sq1", Title: "重复提出的问题", Category: "阵地建设", Deadline: d("2024-08-31")})
	h.add("2024-05-02", events.ItemAssignedData{ItemID: "i1", UnitID: "sq1", OwnerID: "zhang", OwnerName: "张三"})
	h.add("2024-05-02", events.ItemAssignedData{ItemID: "i2", UnitID: "zb1", OwnerID: "li", OwnerName: "李四"})
	h.add("2024-05-03", events.ItemMeasurePlannedData{ItemID: "i2", MeasureID: "m1", Text: "更换路灯 replace lamps", OwnerID: "li", OwnerName: "李四", Due: d("2024-06-01")})
	h.add("2024-05-03", events.ItemMeasurePlannedData{ItemID: "i2", MeasureID: "m2", Text: "巡查线路", Due: d("2024-06-15")})
	h.add("2024-05-20", events.ItemMeasureCompletedData{ItemID: "i2", MeasureID: "m1", Note: "已完成", CompletedOn: d("2024-05-20")})
	h.add("2024-05-21", events.ItemProgressReportedData{ItemID: "i2", Percent: 50, Note: "完成一半"})
	h.add("2024-05-21", events.ItemEvidenceAttachedData{ItemID: "i2", EvidenceID: "ev1", Name: "照片.jpg", Size: 1024, SHA256: "ab12", ContentType: "image/jpeg", UploadedBy: "li"})
	h.add("2024-05-10", events.ItemSubmittedData{ItemID: "i4"})
	h.add("2024-05-12", events.ItemVerificationRejectedData{ItemID: "i4", ReviewerID: "rev", Reason: "材料不全"})
	h.add("2024-05-18", events.ItemSubmittedData{ItemID: "i4"})
	h.add("2024-05-20", events.ItemVerifiedData{ItemID: "i4", ReviewerID: "rev", Note: "合格"})
	h.add("2024-05-22", events.ItemWithdrawnData{ItemID: "i7", Reason: "与i1重复"})
	// An event for an item nobody raised changes nothing.
	h.add("2024-05-23", events.ItemSubmittedData{ItemID: "ghost"})
	return h.evs
}

// MustOpenLedger returns a ledger runner with evs applied.
func MustOpenLedger(tb testing.TB, evs []events.Event) *Runner {
	tb.Helper()
	r := MustOpenRunner(tb, Ledger{}, nil, nil)
	if err := r.Apply(context.Background(), deliveries(evs)); err != nil {
		tb.Fatal(err)
	}
	return r
}

// MustRebuildLedger builds the ledger of evs the way a rebuild does, in
// bulk, from a source holding them.
func MustRebuildLedger(tb testing.TB, evs []events.Event) *Runner {
	tb.Helper()
	return mustRebuild(tb, Ledger{}, evs)
}

// mustRebuild rebuilds p from a source holding evs.
func mustRebuild(tb testing.TB, p Projection, evs []events.Event) *Runner {
	tb.Helper()
	r := MustOpenRunner(tb, p, sliceSource(evs), nil)
	if _, err := r.Rebuild(context.Background(), nil); err != nil {
		tb.Fatal(err)
	}
	return r
}

// withRebuildBatch makes rebuilds read and apply n events at a time until
// the test ends.
func withRebuildBatch(tb testing.TB, n int) {
	old := rebuildBatch
	rebuildBatch = n
	tb.Cleanup(func() { rebuildBatch = old })
}

// sliceSource is a Source holding the events of a slice, in order.
type sliceSource []events.Event

func (s sliceSource) ReadAll(_ context.Context, after uint64, limit int) ([]events.Event, error) {
	i, _ := slices.BinarySearchFunc(s, after+1, func(e events.Event, pos uint64) int { return cmp.Compare(e.Position, pos) })
	out := s[i:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return slices.Clone(out), nil
}

var allScope = query.Scope{All: true}

// ask runs one query and decodes its answer into T.
func ask[T any](tb testing.TB, r *Runner, op string, scope query.Scope, params any) T {
	tb.Helper()
	resp := askRaw(tb, r, op, scope, params)
	if resp.Error != nil {
		tb.Fatalf("%s %v: %v", op, params, resp.Error)
	}
	var out T
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		tb.Fatalf("%s: decode %s: %v", op, resp.Data, err)
	}
	return out
}

func askRaw(tb testing.TB, r *Runner, op string, scope query.Scope, params any) query.Response {
	tb.Helper()
	var raw json.RawMessage
	switch p := params.(type) {
	case nil:
	case string:
		raw = json.RawMessage(p)
	default:
		b, err := json.Marshal(p)
		if err != nil {
			tb.Fatal(err)
		}
		raw = b
	}
	return Answer(context.Background(), r, op, query.Request{Scope: scope, Today: ledgerToday, Params: raw}, time.Second)
}

func ids(items []query.LedgerItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestLedgerListFilters(t *testing.T) {
	t.Run("applied", func(t *testing.T) { testLedgerListFilters(t, MustOpenLedger(t, sampleLedger(t))) })
	t.Run("rebuilt", func(t *testing.T) { testLedgerListFilters(t, MustRebuildLedger(t, sampleLedger(t))) })
}

// TestLedgerTextIndexFollowsARaiseAgain: an item raised again with other
// text (which the command side refuses, and the fold takes) is found by
// its new text only, applied or rebuilt.
func TestLedgerTextIndexFollowsARaiseAgain(t *testing.T) {
	h := &ledgerHistory{tb: t}
	h.add("2024-01-02", events.UnitRegisteredData{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity})
	h.add("2024-02-01", events.ItemRaisedData{ItemID: "i1", UnitID: "sq1", Title: "旧的标题文字", Category: "组织建设", Deadline: events.MustDate("2024-03-01")})
	h.add("2024-02-01", events.ItemRaisedData{ItemID: "i2", UnitID: "sq1", Title: "另一个问题", Category: "组织建设", Deadline: events.MustDate("2024-03-01")})
	h.add("2024-02-02", events.ItemRaisedData{ItemID: "i1", UnitID: "sq1", Title: "新的标题文字", Description: "补充说明", Category: "作风建设", Deadline: events.MustDate("2024-03-01")})
	for name, r := range map[string]*Runner{"applied": MustOpenLedger(t, h.evs), "rebuilt": MustRebuildLedger(t, h.evs)} {
		for q, want := range map[string][]string{"旧的标题": {}, "新的标题": {"i1"}, "补充说明": {"i1"}, "作风建设": {"i1"}, "组织建设": {"i2"}, "问题": {"i2"}} {
			page := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{Q: q})
			if got := ids(page.Items); !slices.Equal(got, want) {
				t.Errorf("%s: search %q found %v, want %v", name, q, got, want)
			}
		}
	}
}

func testLedgerListFilters(t *testing.T, r *Runner) {
	sq1 := query.Scope{Units: []string{"sq1"}}
	cases := []struct {
		name   string
		scope  query.Scope
		params query.LedgerParams
		want   []string
	}{
		{"everything by deadline", allScope, query.LedgerParams{}, []string{"i5", "i4", "i1", "i2", "i6", "i3", "i7"}},
		{"newest deadline first", allScope, query.LedgerParams{Order: "desc"}, []string{"i7", "i3", "i6", "i2", "i1", "i4", "i5"}},
		{"scope sq1 includes its branch", sq1, query.LedgerParams{}, []string{"i4", "i1", "i2", "i7"}},
		{"scope of two subtrees", query.Scope{Units: []string{"zb1", "other"}}, query.LedgerParams{}, []string{"i2", "i6"}},
		{"empty scope sees nothing", query.Scope{}, query.LedgerParams{}, []string{}},
		{"unknown unit in scope sees nothing", query.Scope{Units: []string{"nowhere"}}, query.LedgerParams{}, []string{}},
		{"unit with subtree", allScope, query.LedgerParams{UnitID: "sq1"}, []string{"i4", "i1", "i2", "i7"}},
		{"unit without subtree", allScope, query.LedgerParams{UnitID: "sq1", Subtree: ptr(false)}, []string{"i4", "i1", "i7"}},
		{"unit outside scope", sq1, query.LedgerParams{UnitID: "sq2"}, []string{}},
		{"root unit intersected with scope", sq1, query.LedgerParams{UnitID: "jw"}, []string{"i4", "i1", "i2", "i7"}},
		{"cycle after carry-over", allScope, query.LedgerParams{CycleID: "c2023"}, []string{"i5"}},
		{"carried item in new cycle", allScope, query.LedgerParams{CycleID: "c2024", Category: "组织建设"}, []string{"i4", "i6", "i3"}},
		{"statuses", allScope, query.LedgerParams{Status: []string{"closed", "withdrawn"}}, []string{"i5", "i4", "i7"}},
		{"in progress", allScope, query.LedgerParams{Status: []string{"in_progress"}}, []string{"i2"}},
		{"owner", allScope, query.LedgerParams{OwnerID: "zhang"}, []string{"i1"}},
		{"overdue", allScope, query.LedgerParams{Overdue: ptr(true)}, []string{"i1"}},
		{"not overdue", allScope, query.LedgerParams{Overdue: ptr(false)}, []string{"i5", "i4", "i2", "i6", "i3", "i7"}},
		{"red", allScope, query.LedgerParams{RAG: "red"}, []string{"i1"}},
		{"yellow", allScope, query.LedgerParams{RAG: "yellow"}, []string{"i2"}},
		{"yellow over 20 days", allScope, query.LedgerParams{RAG: "yellow", YellowDays: ptr(20)}, []string{"i2", "i6"}},
		{"green", allScope, query.LedgerParams{RAG: "green"}, []string{"i6", "i3"}},
		{"done", allScope, query.LedgerParams{RAG: "done"}, []string{"i5", "i4", "i7"}},
		{"chinese two characters", allScope, query.LedgerParams{Q: "整改"}, []string{"i4", "i1", "i3"}},
		{"chinese trigram", allScope, query.LedgerParams{Q: "台账不完整"}, []string{"i4"}},
		{"chinese in description", allScope, query.LedgerParams{Q: "会议记录"}, []string{"i6"}},
		{"chinese in source", allScope, query.LedgerParams{Q: "述职评议"}, []string{"i1"}},
		{"two words", allScope, query.LedgerParams{Q: "整改 台账"}, []string{"i4"}},
		{"english any case", allScope, query.LedgerParams{Q: "ROAD Lighting"}, []string{"i2"}},
		{"english short word", allScope, query.LedgerParams{Q: "in"}, []string{"i2", "i6"}},
		{"search respects scope", sq1, query.LedgerParams{Q: "整改"}, []string{"i4", "i1"}},
		{"no match", allScope, query.LedgerParams{Q: "不存在的内容"}, []string{}},
		{"quotes are text", allScope, query.LedgerParams{Q: `"road" OR x`}, []string{}},
		// Titles compare by code point: 台 < 慰 < 整 < 落 < 重.
		{"by title", allScope, query.LedgerParams{Sort: "title"}, []string{"i2", "i6", "i4", "i5", "i1", "i3", "i7"}},
		{"by status", allScope, query.LedgerParams{Sort: "status"}, []string{"i6", "i3", "i1", "i2", "i5", "i4", "i7"}},
		{"by raised", allScope, query.LedgerParams{Sort: "raised", Order: "desc"}, []string{"i7", "i4", "i3", "i2", "i1", "i6", "i5"}},
		{"by updated", allScope, query.LedgerParams{Sort: "updated", Order: "desc"}, []string{"i7", "i4", "i2", "i1", "i3", "i5", "i6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page := ask[query.LedgerPage](t, r, "list", c.scope, c.params)
			if got := ids(page.Items); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if page.NextCursor != "" {
				t.Fatalf("one page expected, got cursor %q", page.NextCursor)
			}
		})
	}
}

func TestLedgerListShowsWhatAUserSees(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	page := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{WithTotal: true})
	if page.Total == nil || *page.Total != 7 {
		t.Fatalf("total %v, want 7", page.Total)
	}
	if page.Today != ledgerToday {
		t.Fatalf("today %s", page.Today)
	}
	byID := map[string]query.LedgerItem{}
	for _, it := range page.Items {
		byID[it.ID] = it
	}
	i1 := byID["i1"]
	if i1.Title != "整改党员活动室管理不规范问题" || i1.UnitName != "东风社区" || i1.CycleName != "2024年度述职评议" ||
		i1.OwnerName != "张三" || i1.Status != events.StatusAssigned || i1.Source != "2024年度述职评议会议" {
		t.Fatalf("i1 = %+v", i1)
	}
	if !i1.Overdue || i1.RAG != "red" || i1.DaysLeft == nil || *i1.DaysLeft != -5 {
		t.Fatalf("i1 colour %s overdue %v days %v, want red, overdue by 5 days", i1.RAG, i1.Overdue, i1.DaysLeft)
	}
	i2 := byID["i2"]
	if i2.Status != events.StatusInProgress || i2.Percent != 50 || i2.MeasuresTotal != 2 || i2.MeasuresDone != 1 || i2.EvidenceCount != 1 ||
		i2.RAG != "yellow" || *i2.DaysLeft != 5 {
		t.Fatalf("i2 = %+v", i2)
	}
	i4 := byID["i4"]
	if i4.Status != events.StatusClosed || i4.ClosedOn != events.MustDate("2024-05-20") || i4.OnTime == nil || !*i4.OnTime ||
		i4.RAG != "done" || i4.Overdue || i4.Reason != "材料不全" {
		t.Fatalf("i4 = %+v", i4)
	}
	i5 := byID["i5"]
	if i5.OnTime == nil || *i5.OnTime || i5.ClosedOn != events.MustDate("2024-04-10") {
		t.Fatalf("i5 closed late, got %+v", i5)
	}
	i6 := byID["i6"]
	if i6.Deadline != events.MustDate("2024-06-30") || i6.CycleID != "c2024" || i6.CarriedFrom != "c2023" || i6.RAG != "green" {
		t.Fatalf("i6 = %+v", i6)
	}
	if i7 := byID["i7"]; i7.Status != events.StatusWithdrawn || i7.Reason != "与i1重复" || i7.OnTime != nil {
		t.Fatalf("i7 = %+v", i7)
	}
	if _, ok := byID["ghost"]; ok {
		t.Fatal("an item never raised is listed")
	}
}

func TestLedgerCursorPagingCoversEveryRowOnce(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	for _, sort := range query.LedgerSorts {
		for _, order := range []string{"asc", "desc"} {
			for _, limit := range []int{1, 2, 3} {
				t.Run(fmt.Sprintf("%s_%s_%d", sort, order, limit), func(t *testing.T) {
					want := ids(ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{Sort: sort, Order: order}).Items)
					var got []string
					p := query.LedgerParams{Sort: sort, Order: order, Limit: limit}
					for pages := 0; ; pages++ {
						if pages > 10 {
							t.Fatal("paging does not end")
						}
						page := ask[query.LedgerPage](t, r, "list", allScope, p)
						if len(page.Items) > limit {
							t.Fatalf("page of %d items, limit %d", len(page.Items), limit)
						}
						got = append(got, ids(page.Items)...)
						if page.NextCursor == "" {
							break
						}
						p.Cursor = page.NextCursor
					}
					if !slices.Equal(got, want) {
						t.Fatalf("pages gave %v, one page %v", got, want)
					}
				})
			}
		}
	}
	// Ties on the sort key: every item of one deadline.
	h := &ledgerHistory{tb: t}
	h.add("2024-01-01", events.UnitRegisteredData{UnitID: "u", Name: "单位", Kind: events.UnitOther})
	for i := range 25 {
		h.add("2024-01-02", events.ItemRaisedData{ItemID: fmt.Sprintf("t%02d", i), CycleID: "c", UnitID: "u", Title: "同一期限", Deadline: events.MustDate("2024-03-01")})
	}
	r2 := MustOpenLedger(t, h.evs)
	seen := map[string]int{}
	p := query.LedgerParams{Limit: 4}
	for {
		page := ask[query.LedgerPage](t, r2, "list", allScope, p)
		for _, id := range ids(page.Items) {
			seen[id]++
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d distinct items, want 25", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("item %s seen %d times", id, n)
		}
	}
}

func TestLedgerRejectsBadParams(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	page := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{Limit: 2})
	cases := []struct {
		name, op string
		params   any
		field    string
	}{
		{"unknown status", "list", query.LedgerParams{Status: []string{"foo"}}, "status"},
		{"unknown field", "list", `{"colour":"red"}`, "params"},
		{"limit too large", "list", query.LedgerParams{Limit: 500}, "limit"},
		{"bad sort", "list", query.LedgerParams{Sort: "priority"}, "sort"},
		{"bad order", "list", query.LedgerParams{Order: "up"}, "order"},
		{"bad colour", "list", query.LedgerParams{RAG: "blue"}, "rag"},
		{"bad unit id", "list", query.LedgerParams{UnitID: "东风"}, "unit_id"},
		{"bad yellow days", "list", query.LedgerParams{YellowDays: ptr(-1)}, "yellow_days"},
		{"garbage cursor", "list", query.LedgerParams{Cursor: "!!!"}, "cursor"},
		{"cursor of another sort", "list", query.LedgerParams{Sort: "title", Cursor: page.NextCursor}, "cursor"},
		{"get without id", "get", query.ItemParams{}, "item_id"},
		{"cycles takes nothing", "cycles", `{"year":2024}`, "params"},
		{"summary depth", "summary", query.SummaryParams{Depth: -1}, "depth"},
		{"trend interval", "trend", query.TrendParams{Interval: "month"}, "interval"},
		{"trend range", "trend", query.TrendParams{From: events.MustDate("2024-02-01"), To: events.MustDate("2024-01-01")}, "to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := askRaw(t, r, c.op, allScope, c.params)
			if resp.Error == nil || resp.Error.Code != events.CodeInvalid {
				t.Fatalf("got %v, want an invalid error", resp.Error)
			}
			if !slices.ContainsFunc(resp.Error.Fields, func(f events.FieldError) bool { return f.Field == c.field }) {
				t.Fatalf("error %v does not name %s", resp.Error, c.field)
			}
		})
	}
}

func TestLedgerGetItem(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	it := ask[query.ItemDetail](t, r, "get", query.Scope{Units: []string{"sq1"}}, query.ItemParams{ItemID: "i2"})
	if it.ID != "i2" || it.Description != "路灯损坏" || it.UnitName != "第一支部" || it.RAG != "yellow" {
		t.Fatalf("item %+v", it)
	}
	wantM := []query.Measure{
		{ID: "m1", Text: "更换路灯 replace lamps", OwnerID: "li", OwnerName: "李四", Due: events.MustDate("2024-06-01"), Done: true, CompletedOn: events.MustDate("2024-05-20"), Note: "已完成"},
		{ID: "m2", Text: "巡查线路", Due: events.MustDate("2024-06-15")},
	}
	if !slices.Equal(it.Measures, wantM) {
		t.Fatalf("measures %+v, want %+v", it.Measures, wantM)
	}
	if len(it.Evidence) != 1 || it.Evidence[0].Name != "照片.jpg" || it.Evidence[0].Size != 1024 || it.Evidence[0].UploadedBy != "li" {
		t.Fatalf("evidence %+v", it.Evidence)
	}
	if it.Progress.Percent != 50 || it.Progress.Note != "完成一半" || it.Progress.ReportedAt.IsZero() {
		t.Fatalf("progress %+v", it.Progress)
	}
	for _, c := range []struct {
		name  string
		scope query.Scope
		id    string
	}{
		{"outside scope", query.Scope{Units: []string{"sq2"}}, "i2"},
		{"never raised", allScope, "ghost"},
		{"unknown", allScope, "nope"},
	} {
		resp := askRaw(t, r, "get", c.scope, query.ItemParams{ItemID: c.id})
		if !errors.Is(resp.Error, &events.Error{Code: events.CodeNotFound}) {
			t.Fatalf("%s: got %v, want not found", c.name, resp.Error)
		}
	}
}

func TestLedgerUnitsAndCycles(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	names := func(us []query.Unit) []string {
		var out []string
		for _, u := range us {
			out = append(out, fmt.Sprintf("%d:%s", u.Depth, u.Name))
		}
		return out
	}
	all := ask[query.UnitTree](t, r, "units", allScope, nil)
	if got, want := names(all.Units), []string{"0:其他单位", "0:街道工委", "1:东风社区", "2:第一支部", "1:西湖社区"}; !slices.Equal(got, want) {
		t.Fatalf("tree %v, want %v", got, want)
	}
	sq1 := ask[query.UnitTree](t, r, "units", query.Scope{Units: []string{"sq1"}}, nil)
	if got, want := names(sq1.Units), []string{"0:东风社区", "1:第一支部"}; !slices.Equal(got, want) {
		t.Fatalf("scoped tree %v, want %v", got, want)
	}
	if sq1.Units[0].ParentID != "jw" {
		t.Fatalf("a scoped root still names its parent: %+v", sq1.Units[0])
	}
	cy := ask[query.Cycles](t, r, "cycles", query.Scope{}, nil)
	if len(cy.Cycles) != 2 || cy.Cycles[0].ID != "c2024" || cy.Cycles[1].Name != "2023年度述职评议" || !cy.Cycles[1].Closed ||
		cy.Cycles[1].CloseNote != "已结转" || cy.Cycles[0].Closed {
		t.Fatalf("cycles %+v", cy.Cycles)
	}
}

func TestLedgerUnitMoveRenameRetire(t *testing.T) {
	evs := sampleLedger(t)
	h := &ledgerHistory{tb: t, evs: evs}
	// zb1 moves from sq1 to sq2; the view follows for items and counts.
	h.add("2024-06-01", events.UnitMovedData{UnitID: "zb1", OldParentID: "sq1", NewParentID: "sq2"})
	h.add("2024-06-01", events.UnitRenamedData{UnitID: "sq2", OldName: "西湖社区", NewName: "西湖新社区"})
	h.add("2024-06-01", events.UnitRetiredData{UnitID: "other", Reason: "合并"})
	// A unit registered under a parent the view has not seen yet hangs
	// under it once the parent arrives; so do its items.
	h.add("2024-06-02", events.UnitRegisteredData{UnitID: "zb9", Name: "第九支部", Kind: events.UnitBranch, ParentID: "sq9"})
	h.add("2024-06-02", events.ItemRaisedData{ItemID: "i9", CycleID: "c2024", UnitID: "zb9", Title: "新支部问题", Deadline: events.MustDate("2024-12-31")})
	h.add("2024-06-03", events.UnitRegisteredData{UnitID: "sq9", Name: "第九社区", Kind: events.UnitCommunity, ParentID: "jw"})
	// A move under its own subtree is ignored.
	h.add("2024-06-04", events.UnitMovedData{UnitID: "jw", NewParentID: "zb1"})
	r := MustOpenLedger(t, h.evs)

	if got := ids(ask[query.LedgerPage](t, r, "list", query.Scope{Units: []string{"sq2"}}, query.LedgerParams{}).Items); !slices.Equal(got, []string{"i5", "i2", "i3"}) {
		t.Fatalf("sq2 after the move sees %v", got)
	}
	if got := ids(ask[query.LedgerPage](t, r, "list", query.Scope{Units: []string{"sq1"}}, query.LedgerParams{}).Items); !slices.Equal(got, []string{"i4", "i1", "i7"}) {
		t.Fatalf("sq1 after the move sees %v", got)
	}
	if got := ids(ask[query.LedgerPage](t, r, "list", query.Scope{Units: []string{"jw"}}, query.LedgerParams{}).Items); !slices.Contains(got, "i9") {
		t.Fatalf("jw does not see the item of its late-linked grandchild: %v", got)
	}
	tree := ask[query.UnitTree](t, r, "units", allScope, query.UnitsParams{})
	var got []string
	for _, u := range tree.Units {
		got = append(got, fmt.Sprintf("%d:%s", u.Depth, u.ID))
	}
	if want := []string{"0:jw", "1:sq1", "1:sq9", "2:zb9", "1:sq2", "2:zb1"}; !slices.Equal(got, want) {
		t.Fatalf("tree %v, want %v (retired units hidden)", got, want)
	}
	withRetired := ask[query.UnitTree](t, r, "units", allScope, query.UnitsParams{IncludeRetired: true})
	if len(withRetired.Units) != 7 || !slices.ContainsFunc(withRetired.Units, func(u query.Unit) bool { return u.ID == "other" && u.Retired }) {
		t.Fatalf("tree with retired units %+v", withRetired.Units)
	}
	it := ask[query.ItemDetail](t, r, "get", allScope, query.ItemParams{ItemID: "i3"})
	if it.UnitName != "西湖新社区" {
		t.Fatalf("renamed unit shows as %q", it.UnitName)
	}
	sum := ask[query.Summary](t, r, "summary", allScope, query.SummaryParams{UnitID: "sq2"})
	if sum.Total.Total != 3 || sum.Units[0].Subtree.Total != 3 || sum.Units[0].Own.Total != 2 {
		t.Fatalf("summary of sq2 after the move: total %d, units %+v", sum.Total.Total, sum.Units)
	}
}

func TestFTS5TrigramIsCompiledIn(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/fts.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')`); err != nil {
		t.Fatalf("fts5 with trigram: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO t (x) VALUES ('落实三会一课制度整改'), ('Fix road lighting')`); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{`"三会一课"`: 1, `"LIGHT"`: 1, `"整改问题"`: 0} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM t WHERE t MATCH ?`, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("%s matched %d rows, want %d", q, n, want)
		}
	}
}

func TestLedgerRedeliveryAndRebuildKeepTheDigest(t *testing.T) {
	ctx := context.Background()
	evs := sampleLedger(t)
	// One batch.
	a := MustOpenLedger(t, evs)
	want, err := a.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Event by event, each delivered twice, then everything again.
	b := MustOpenRunner(t, Ledger{}, nil, nil)
	ds := deliveries(evs)
	for i := range ds {
		if err := b.Apply(ctx, ds[i:i+1]); err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(ctx, ds[max(0, i-1):i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got, err := b.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("digest after redeliveries %s, want %s", got, want)
	}
	if got, err := MustRebuildLedger(t, evs).Digest(ctx); err != nil || got != want {
		t.Fatalf("digest after a rebuild %s (%v), want %s", got, err, want)
	}
	// A bulk load carries its state from batch to batch.
	for _, n := range []int{1, 2, 3, 7} {
		withRebuildBatch(t, n)
		if got, err := MustRebuildLedger(t, evs).Digest(ctx); err != nil || got != want {
			t.Fatalf("digest after a rebuild %d events at a time %s (%v), want %s", n, got, err, want)
		}
	}
	// Counters that went back to zero are gone, not kept as zero rows.
	var zeros int
	err = b.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
		return db.QueryRow(`SELECT (SELECT count(*) FROM prog_due WHERE n = 0) + (SELECT count(*) FROM prog_counts
			WHERE raised = 0 AND assigned = 0 AND in_progress = 0 AND submitted = 0 AND closed = 0 AND withdrawn = 0)`).Scan(&zeros)
	})
	if err != nil {
		t.Fatal(err)
	}
	if zeros != 0 {
		t.Fatalf("%d counter rows at zero", zeros)
	}
	// And the digest does see content: one more event changes it.
	h := &ledgerHistory{tb: t, evs: evs}
	h.add("2024-06-15", events.ItemReopenedData{ItemID: "i4", Reason: "复查发现问题"})
	if err := b.Apply(ctx, deliveries(h.evs)[len(evs):]); err != nil {
		t.Fatal(err)
	}
	if after, _ := b.Digest(ctx); after == want {
		t.Fatal("digest unchanged by a reopening")
	}
}

// TestLedgerItemCacheSurvivesARolledBackBatch flushes a batch into a
// transaction that is then rolled back (as when a commit fails), and
// checks that the next batches do not build on the rows that never
// committed.
func TestLedgerItemCacheSurvivesARolledBackBatch(t *testing.T) {
	ctx := context.Background()
	evs := sampleLedger(t)
	h := &ledgerHistory{tb: t, evs: slices.Clone(evs)}
	h.add("2024-06-01", events.ItemSubmittedData{ItemID: "i2", Note: "提交验收"})
	h.add("2024-06-02", events.ItemVerifiedData{ItemID: "i2", ReviewerID: "rev"})
	ds := deliveries(h.evs)
	n := len(evs)

	r := MustOpenRunner(t, Ledger{}, nil, nil)
	if err := r.Apply(ctx, ds[:n]); err != nil {
		t.Fatal(err)
	}
	// The lost batch: i2 submitted and verified, flushed, rolled back.
	sqlTx, err := r.db.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := &Tx{Tx: sqlTx, bound: map[string]*sql.Stmt{}, view: "ledger"}
	for _, d := range ds[n:] {
		tx.pos = d.Event.Position
		if err := (Ledger{}).Apply(ctx, tx, d.Event); err != nil {
			t.Fatal(err)
		}
	}
	if err := (Ledger{}).Flush(ctx, tx); err != nil {
		t.Fatal(err)
	}
	for _, st := range tx.bound {
		st.Close()
	}
	if err := sqlTx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The same events again, for real, one by one.
	for _, d := range ds[n:] {
		if err := r.Apply(ctx, []Delivery{d}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := MustOpenLedger(t, h.evs).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatal("after a rolled-back batch the view differs from a fresh build")
	}
	it := ask[query.ItemDetail](t, r, "get", allScope, query.ItemParams{ItemID: "i2"})
	if it.Status != events.StatusClosed || it.ClosedOn != events.MustDate("2024-06-02") {
		t.Fatalf("i2 is %s closed on %s", it.Status, it.ClosedOn)
	}
}

func TestDateText(t *testing.T) {
	for _, s := range []string{"", "1900-01-01", "2024-06-15", "2200-12-31", "2019-02-28"} {
		if got := dateText(events.MustDate(s)); got != s {
			t.Fatalf("dateText(%q) = %q", s, got)
		}
	}
}

// TestLedgerRebuildWhileServing rebuilds the ledger from the store while
// live batches and queries go on, and checks the swapped-in view against a
// fresh build.
func TestLedgerRebuildWhileServing(t *testing.T) {
	ctx := context.Background()
	store := MustOpenStore(t)
	for _, e := range syntheticLedger(t, 20, 400, 3) {
		e.ID = fmt.Sprintf("%s-%d", e.ID, e.Position)
		if _, err := store.Append(ctx, e.Stream, eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := store.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ds := deliveries(all)
	half := len(ds) / 2
	r := MustOpenRunner(t, Ledger{}, store, nil)
	if err := r.Apply(ctx, ds[:half]); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(2)
	go func() { // queries
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, op := range []string{"list", "summary", "trend"} {
				if resp := Answer(ctx, r, op, query.Request{Scope: query.Scope{Units: []string{"u1"}}}, time.Second); resp.Error != nil {
					errs <- fmt.Errorf("%s during rebuild: %v", op, resp.Error)
					return
				}
			}
		}
	}()
	go func() { // live batches
		defer wg.Done()
		for i := half; i < len(ds); i += 50 {
			if err := r.Apply(ctx, ds[i:min(i+50, len(ds))]); err != nil {
				errs <- err
				return
			}
		}
	}()
	if _, err := r.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Whatever the live batches did not reach arrives now, partly as
	// redeliveries.
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := MustOpenLedger(t, all).Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatal("rebuilt view differs from a fresh build")
	}
	// And the live view keeps applying correctly after the swap.
	page := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{WithTotal: true})
	if *page.Total != 400 {
		t.Fatalf("%d items after the rebuild, want 400", *page.Total)
	}
}

// FuzzLedgerList sends arbitrary params to "list": every answer is a page
// or an invalid-input error naming a parameter, never an internal error.
func FuzzLedgerList(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"q":"整改"}`, `{"q":"\"road\" OR x*"}`, `{"q":"a\u0000b台账c"}`, `{"q":"NEAR(a b) ^c -d"}`,
		`{"status":["closed","foo"]}`, `{"sort":"title","order":"desc","limit":2}`, `{"cursor":"WyJ4Il0"}`,
		`{"unit_id":"sq1","subtree":false,"rag":"red","yellow_days":366}`, `[]`, `{"limit":-1}`, `null`,
	} {
		f.Add(seed)
	}
	r := MustOpenLedger(f, sampleLedger(f))
	f.Fuzz(func(t *testing.T, params string) {
		if !json.Valid([]byte(params)) {
			return
		}
		resp := askRaw(t, r, "list", allScope, params)
		if resp.Error == nil {
			var page query.LedgerPage
			if err := json.Unmarshal(resp.Data, &page); err != nil {
				t.Fatalf("%s: undecodable page: %v", params, err)
			}
			return
		}
		if resp.Error.Code != events.CodeInvalid || len(resp.Error.Fields) == 0 {
			t.Fatalf("%s: %v", params, resp.Error)
		}
	})
}

func TestFinishedRank(t *testing.T) {
	for _, s := range query.ItemStatuses {
		if s.Finished() != (statusRank(s) >= finishedRank) {
			t.Fatalf("status %s has rank %d, finished from %d", s, statusRank(s), finishedRank)
		}
	}
}

// TestLedgerDigestDoesNotDependOnBatches: an item moved to another unit
// and back on the same day leaves that day's counters of both units at
// zero; the view is the same whether the two moves came in one batch, in
// two, or in a rebuild.
func TestLedgerDigestDoesNotDependOnBatches(t *testing.T) {
	ctx := context.Background()
	h := &ledgerHistory{tb: t}
	h.add("2024-01-02", events.UnitRegisteredData{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity})
	h.add("2024-01-02", events.UnitRegisteredData{UnitID: "sq2", Name: "西湖社区", Kind: events.UnitCommunity})
	h.add("2024-02-01", events.ItemRaisedData{ItemID: "i1", CycleID: "c", UnitID: "sq1", Title: "问题", Category: "组织建设", Deadline: events.MustDate("2024-03-01")})
	h.add("2024-02-05", events.ItemAssignedData{ItemID: "i1", UnitID: "sq2", OwnerID: "p1"})
	h.add("2024-02-05", events.ItemAssignedData{ItemID: "i1", UnitID: "sq1", OwnerID: "p1"})
	h.add("2024-02-06", events.ItemWithdrawnData{ItemID: "i1", Reason: "重复"})
	ds := deliveries(h.evs)
	digest := func(r *Runner) string {
		t.Helper()
		d, err := r.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	want := digest(MustOpenLedger(t, h.evs))
	for split := 1; split < len(ds); split++ {
		r := MustOpenRunner(t, Ledger{}, nil, nil)
		for _, b := range [][]Delivery{ds[:split], ds[split:]} {
			if err := r.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if got := digest(r); got != want {
			t.Errorf("split after event %d: digest %s, in one batch %s", split, got, want)
		}
	}
	for _, n := range []int{1, 2, 3, 1000} {
		withRebuildBatch(t, n)
		if got := digest(MustRebuildLedger(t, h.evs)); got != want {
			t.Errorf("rebuilt %d events at a time: digest %s, applied %s", n, got, want)
		}
	}
	var zeros int
	err := MustRebuildLedger(t, h.evs).Read(ctx, 0, func(db *sql.DB, _ uint64) error {
		return db.QueryRow(`SELECT count(*) FROM prog_daily WHERE d_open = 0 AND d_closed = 0 AND raised = 0 AND verified = 0`).Scan(&zeros)
	})
	if err != nil || zeros != 0 {
		t.Fatalf("%d daily counter rows at zero (%v)", zeros, err)
	}
}
