package projections

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// positionOf is the position of the log's first event of type typ on
// stream at or after index from.
func positionOf(tb testing.TB, l *eventLog, stream, typ string, nth int) uint64 {
	tb.Helper()
	for _, e := range l.evs {
		if e.Stream == stream && e.Type == typ {
			if nth == 0 {
				return e.Position
			}
			nth--
		}
	}
	tb.Fatalf("no %s on %s", typ, stream)
	return 0
}

func cst(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, chinaZone) }

func TestAsOfItem(t *testing.T) {
	l := auditHistory(t)
	r := MustOpenView(t, Audit{}, l)
	firstMove := positionOf(t, l, "item-i1", events.ItemDeadlineChanged, 0)
	cases := []struct {
		name     string
		asOf     query.AsOf
		today    events.Date
		deadline string
		status   events.ItemStatus
		percent  int
		rag      string
		day      string
	}{
		// Just before the first deadline change: the original deadline.
		{"position before the change", query.AsOf{Position: firstMove - 1}, events.Date{},
			"2019-06-30", events.StatusInProgress, 40, query.RAGGreen, "2019-04-01"},
		{"position of the change", query.AsOf{Position: firstMove}, events.Date{},
			"2019-09-30", events.StatusInProgress, 40, query.RAGGreen, "2019-05-01"},
		// Submitted, deadline moved twice; colours for that day.
		{"time", query.AsOf{Time: cst(2019, 7, 2, 0)}, events.Date{},
			"2019-10-31", events.StatusSubmitted, 40, query.RAGGreen, "2019-07-02"},
		{"time, coloured for a given today", query.AsOf{Time: cst(2019, 7, 2, 0)}, events.MustDate("2019-11-01"),
			"2019-10-31", events.StatusSubmitted, 40, query.RAGRed, "2019-11-01"},
		{"time before the position: the earlier wins", query.AsOf{Time: cst(2019, 3, 1, 12), Position: l.last()}, events.Date{},
			"2019-06-30", events.StatusAssigned, 0, query.RAGGreen, "2019-03-01"},
		{"now", query.AsOf{}, events.MustDate("2020-01-01"),
			"2019-10-31", events.StatusClosed, 40, query.RAGDone, "2020-01-01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustAsk[query.AsOfItem](t, r, "asof_item", query.Request{Scope: scopeOf("sq1"), AsOf: tc.asOf, Today: tc.today,
				Params: paramsOf(query.AsOfItemParams{ItemID: "i1"})})
			it := got.Item
			if it.Deadline.String() != tc.deadline || it.Status != tc.status || it.Percent != tc.percent || it.RAG != tc.rag || got.Day.String() != tc.day {
				t.Errorf("got deadline %s status %s percent %d rag %s day %s, want %s %s %d %s %s",
					it.Deadline, it.Status, it.Percent, it.RAG, got.Day, tc.deadline, tc.status, tc.percent, tc.rag, tc.day)
			}
			if it.Title != "整改：党员活动室台账不规范" || it.UnitName != "东风社区" || it.CycleName != "2019年度述职评议" || it.OwnerName != "王芳" && tc.status != events.StatusRaised {
				t.Errorf("item text = %+v", it)
			}
		})
	}

	// Before it was raised, out of scope, unknown: not found alike.
	raised := positionOf(t, l, "item-i1", events.ItemRaised, 0)
	mustFail(t, r, "asof_item", query.Request{Scope: scopeAll, AsOf: query.AsOf{Position: raised - 1},
		Params: paramsOf(query.AsOfItemParams{ItemID: "i1"})}, events.CodeNotFound)
	mustFail(t, r, "asof_item", query.Request{Scope: scopeOf("sq2"), Params: paramsOf(query.AsOfItemParams{ItemID: "i1"})}, events.CodeNotFound)
	mustFail(t, r, "asof_item", query.Request{Scope: scopeAll, Params: paramsOf(query.AsOfItemParams{ItemID: "nope"})}, events.CodeNotFound)
	err := mustFail(t, r, "asof_item", query.Request{Scope: scopeAll, Params: paramsOf(query.AsOfItemParams{})}, events.CodeInvalid)
	failsOn(t, err, "item_id")
	// A position the view has not reached is not answered as if it were now.
	mustFail(t, r, "asof_item", query.Request{Scope: scopeAll, AsOf: query.AsOf{Position: l.last() + 1},
		Params: paramsOf(query.AsOfItemParams{ItemID: "i1"})}, events.CodeUnavailable)

	// i2 belonged to 西湖社区 until 10 May: visible there as it stood then,
	// with the unit's name of that day.
	before := mustAsk[query.AsOfItem](t, r, "asof_item", query.Request{Scope: scopeOf("sq2"), AsOf: query.AsOf{Time: cst(2019, 5, 1, 0)},
		Params: paramsOf(query.AsOfItemParams{ItemID: "i2"})})
	if before.Item.UnitID != "sq2" || before.Item.UnitName != "西湖社区" || before.Item.Title != "Fix the residents' hotline backlog" {
		t.Errorf("i2 on 1 May = %+v", before.Item)
	}
	mustFail(t, r, "asof_item", query.Request{Scope: scopeOf("sq2"), Params: paramsOf(query.AsOfItemParams{ItemID: "i2"})}, events.CodeNotFound)
	// i3's unit was renamed on 15 June.
	for _, tc := range []struct {
		at   time.Time
		name string
	}{{cst(2019, 6, 1, 0), "西湖社区"}, {cst(2019, 7, 1, 0), "西湖新村社区"}} {
		got := mustAsk[query.AsOfItem](t, r, "asof_item", query.Request{Scope: scopeAll, AsOf: query.AsOf{Time: tc.at},
			Params: paramsOf(query.AsOfItemParams{ItemID: "i3"})})
		if got.Item.UnitName != tc.name {
			t.Errorf("i3 unit name as of %s = %q, want %q", tc.at, got.Item.UnitName, tc.name)
		}
	}
}

func TestAsOfCommitmentAndUnit(t *testing.T) {
	l := auditHistory(t)
	r := MustOpenView(t, Audit{}, l)
	revised := positionOf(t, l, "commitment-c1", events.CommitmentRevised, 0)
	for _, tc := range []struct {
		pos       uint64
		target    int
		revisions int
	}{{revised - 1, 2, 0}, {revised, 1, 1}} {
		got := mustAsk[query.AsOfCommitment](t, r, "asof_commitment", query.Request{Scope: scopeOf("sq1"), AsOf: query.AsOf{Position: tc.pos},
			Params: paramsOf(query.AsOfCommitmentParams{CommitmentID: "c1"})})
		c := got.Commitment
		if c.Target != tc.target || c.Revisions != tc.revisions || c.Title != "每周走访社区至少2次" || c.UnitName != "东风社区" {
			t.Errorf("c1 as of %d = %+v, want target %d after %d revisions", tc.pos, c, tc.target, tc.revisions)
		}
		if got.Position > tc.pos || got.Position == 0 {
			t.Errorf("c1 as of %d was folded up to %d", tc.pos, got.Position)
		}
	}
	mustFail(t, r, "asof_commitment", query.Request{Scope: scopeOf("sq2"), Params: paramsOf(query.AsOfCommitmentParams{CommitmentID: "c1"})}, events.CodeNotFound)

	renamed := positionOf(t, l, "unit-sq2", events.UnitRenamed, 0)
	for _, tc := range []struct {
		pos  uint64
		name string
	}{{renamed - 1, "西湖社区"}, {renamed, "西湖新村社区"}} {
		got := mustAsk[query.AsOfUnit](t, r, "asof_unit", query.Request{Scope: scopeOf("jw"), AsOf: query.AsOf{Position: tc.pos},
			Params: paramsOf(query.AsOfUnitParams{UnitID: "sq2"})})
		if got.Unit.Name != tc.name || got.Unit.ParentID != "jw" || got.Unit.Kind != events.UnitCommunity {
			t.Errorf("sq2 as of %d = %+v, want %s under jw", tc.pos, got.Unit, tc.name)
		}
	}
	registered := positionOf(t, l, "unit-sq2", events.UnitRegistered, 0)
	mustFail(t, r, "asof_unit", query.Request{Scope: scopeAll, AsOf: query.AsOf{Position: registered - 1},
		Params: paramsOf(query.AsOfUnitParams{UnitID: "sq2"})}, events.CodeNotFound)
	mustFail(t, r, "asof_unit", query.Request{Scope: scopeOf("sq1"), Params: paramsOf(query.AsOfUnitParams{UnitID: "sq2"})}, events.CodeNotFound)
}

func TestAsOfLedger(t *testing.T) {
	r := MustOpenView(t, Audit{}, auditHistory(t))
	ledger := func(scope query.Scope, at query.AsOf, p query.AsOfLedgerParams) query.AsOfLedger {
		return mustAsk[query.AsOfLedger](t, r, "asof_ledger", query.Request{Scope: scope, AsOf: at, Params: paramsOf(p)})
	}
	line := func(page query.AsOfLedger) string {
		var out []string
		for _, it := range page.Items {
			out = append(out, it.ID+":"+it.UnitID+":"+string(it.Status)+":"+it.Deadline.String())
		}
		return strings.Join(out, " ")
	}
	april, now := query.AsOf{Time: cst(2019, 4, 2, 0)}, query.AsOf{}
	cases := []struct {
		name  string
		scope query.Scope
		at    query.AsOf
		p     query.AsOfLedgerParams
		want  string
	}{
		{"everything in April", scopeAll, april, query.AsOfLedgerParams{},
			"i1:sq1:in_progress:2019-06-30 i2:sq2:raised:2019-05-31 i3:sq2:raised:2019-04-30"},
		{"西湖社区 in April still had i2", scopeAll, april, query.AsOfLedgerParams{UnitID: "sq2"},
			"i2:sq2:raised:2019-05-31 i3:sq2:raised:2019-04-30"},
		{"西湖社区 now", scopeAll, now, query.AsOfLedgerParams{UnitID: "sq2"}, "i3:sq2:raised:2019-04-30"},
		{"东风社区 subtree now has i2 in its branch", scopeAll, now, query.AsOfLedgerParams{UnitID: "sq1"},
			"i1:sq1:closed:2019-10-31 i2:sq1a:assigned:2019-05-31"},
		{"scope sq1 in April", scopeOf("sq1"), april, query.AsOfLedgerParams{}, "i1:sq1:in_progress:2019-06-30"},
		{"scope sq1 cannot look into sq2", scopeOf("sq1"), april, query.AsOfLedgerParams{UnitID: "sq2"}, ""},
		{"before anything was raised", scopeAll, query.AsOf{Time: cst(2019, 2, 1, 0)}, query.AsOfLedgerParams{}, ""},
		{"another cycle", scopeAll, now, query.AsOfLedgerParams{CycleID: "2020"}, ""},
	}
	for _, chunk := range []int{asofChunk, 1} {
		// Chunks of one candidate read the candidates in many rounds.
		defer func(n int) { asofChunk = n }(asofChunk)
		asofChunk = chunk
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/chunk %d", tc.name, chunk), func(t *testing.T) {
				if got := line(ledger(tc.scope, tc.at, tc.p)); got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
			})
		}
	}

	// Colours are those of the as-of day: on 2 April i3 (due 30 April) is
	// neither overdue nor yellow; by 25 April it is yellow.
	page := ledger(scopeOf("sq2"), april, query.AsOfLedgerParams{})
	if page.Day.String() != "2019-04-02" || page.Items[1].RAG != query.RAGGreen {
		t.Errorf("on 2 April: day %s, i3 %s", page.Day, page.Items[1].RAG)
	}
	page = ledger(scopeOf("sq2"), query.AsOf{Time: cst(2019, 4, 25, 0)}, query.AsOfLedgerParams{})
	if page.Items[1].RAG != query.RAGYellow {
		t.Errorf("on 25 April i3 is %s, want yellow", page.Items[1].RAG)
	}

	// Pages of one cover the ledger once, by item id.
	var ids []string
	p := query.AsOfLedgerParams{Limit: 1}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		pg := ledger(scopeAll, april, p)
		for _, it := range pg.Items {
			ids = append(ids, it.ID)
		}
		if pg.NextCursor == "" {
			break
		}
		p.Cursor = pg.NextCursor
	}
	if strings.Join(ids, ",") != "i1,i2,i3" {
		t.Errorf("pages saw %v, want i1,i2,i3", ids)
	}
}
