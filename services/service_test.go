package services

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
)

// Handler tests: a real embedded store on a temporary SQLite file.

var beijing = time.FixedZone("CST", 8*3600)

// testClock is the injectable clock: fixed until a test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// MustOpenStore opens an embedded store in a temporary directory, closed
// when the test ends.
func MustOpenStore(tb testing.TB) *embedded.Store {
	tb.Helper()
	st, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// fixture is a service over a real store, seeded with an organisation:
//
//	gw  东风街道工委 (committee)
//	├── c1  东风社区 (community)
//	│   └── c1a  东风社区第一党支部 (branch)
//	└── c2  西湖社区 (community)
//
// cycles 2019 (open) and 2020 (open), and users: editor1 (editor on c1),
// reviewer1 (reviewer on c1), reviewer2 (reviewer on c2), boss (reviewer
// on gw), viewer1 (viewer on gw), unitadmin (admin on c1).
type fixture struct {
	svc   *Service
	store eventstore.Store
	clock *testClock
}

// MustOpenFixture builds the fixture; store may wrap the real store.
func MustOpenFixture(tb testing.TB, wrap func(eventstore.Store) eventstore.Store) *fixture {
	tb.Helper()
	var st eventstore.Store = MustOpenStore(tb)
	if wrap != nil {
		st = wrap(st)
	}
	clock := &testClock{now: time.Date(2019, 9, 1, 10, 0, 0, 0, beijing)}
	f := &fixture{svc: New(st, Options{Now: clock.Now, Location: beijing}), store: st, clock: clock}
	for _, c := range []events.Command{
		events.OpenCycle{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview, Start: d("2019-01-01"), End: d("2019-12-31")},
		events.OpenCycle{CycleID: "2020", Name: "2020年度述职评议", Year: 2020, Kind: events.CycleAnnualReview, Start: d("2020-01-01"), End: d("2020-12-31")},
		events.RegisterUnit{UnitID: "gw", Name: "东风街道工委", Kind: events.UnitCommittee},
		events.RegisterUnit{UnitID: "c1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "gw"},
		events.RegisterUnit{UnitID: "c1a", Name: "东风社区第一党支部", Kind: events.UnitBranch, ParentID: "c1"},
		events.RegisterUnit{UnitID: "c2", Name: "西湖社区", Kind: events.UnitCommunity, ParentID: "gw"},
	} {
		f.mustExec(tb, events.SystemActor, c)
	}
	for _, u := range []struct{ id, name, role, unit string }{
		{"editor1", "李四", events.RoleEditor, "c1"},
		{"reviewer1", "王五", events.RoleReviewer, "c1"},
		{"reviewer2", "赵六", events.RoleReviewer, "c2"},
		{"boss", "钱七", events.RoleReviewer, "gw"},
		{"viewer1", "孙八", events.RoleViewer, "gw"},
		{"unitadmin", "周九", events.RoleAdmin, "c1"},
	} {
		f.mustExec(tb, events.SystemActor, events.CreateUser{UserID: u.id, Name: u.name})
		f.mustExec(tb, events.SystemActor, events.GrantRole{UserID: u.id, Role: u.role, UnitID: u.unit})
	}
	return f
}

func (f *fixture) exec(actor string, c events.Command) (Result, error) {
	return f.svc.Execute(context.Background(), c, Meta{Actor: actor})
}

func (f *fixture) mustExec(tb testing.TB, actor string, c events.Command) Result {
	tb.Helper()
	r, err := f.exec(actor, c)
	if err != nil {
		tb.Fatalf("%s by %s: %v", c.CommandName(), actor, err)
	}
	return r
}

// read returns the events of a stream as stored.
func (f *fixture) read(tb testing.TB, stream string) []events.Event {
	tb.Helper()
	evs, err := f.store.ReadStream(context.Background(), stream, eventstore.Forwards, 0, 0)
	if err != nil {
		tb.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

func (f *fixture) item(tb testing.TB, id string) itemState {
	tb.Helper()
	h, err := f.svc.dir.load(context.Background(), events.ItemStream(id))
	if err != nil {
		tb.Fatal(err)
	}
	return fold(h, evolveItem)
}

func (f *fixture) head(tb testing.TB) uint64 {
	tb.Helper()
	h, err := f.store.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// raiseItem raises an item of unit c1 in cycle 2019 as editor1.
func (f *fixture) raiseItem(tb testing.TB, id string) {
	tb.Helper()
	f.mustExec(tb, "editor1", events.RaiseItem{ItemID: id, CycleID: "2019", UnitID: "c1", Title: "党员走访不到位", Deadline: d("2019-12-31")})
}

// submitItem raises an item and brings it to submitted.
func (f *fixture) submitItem(tb testing.TB, id string) {
	tb.Helper()
	f.raiseItem(tb, id)
	f.mustExec(tb, "editor1", events.ReportProgress{ItemID: id, Percent: pct(100)})
	f.mustExec(tb, "editor1", events.SubmitItem{ItemID: id})
}

// wantError fails unless err is an *events.Error with code and, when field
// is set, naming field first.
func wantError(tb testing.TB, err error, code events.Code, field string) *events.Error {
	tb.Helper()
	var e *events.Error
	if !errors.As(err, &e) || e.Code != code {
		tb.Fatalf("error = %v, want code %s", err, code)
	}
	if field != "" && (len(e.Fields) == 0 || e.Fields[0].Field != field) {
		tb.Fatalf("error %v names %v, want field %q", err, e.Fields, field)
	}
	return e
}

func types(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strings.TrimPrefix(e.Type, "rectify.item.")
	}
	return out
}

func TestItemFullLife(t *testing.T) {
	f := MustOpenFixture(t, nil)
	ctx := context.Background()
	meta := Meta{Actor: "editor1", CorrelationID: "req-1", CausationID: "msg-1"}

	raise := events.RaiseItem{
		CycleID: "2019", UnitID: "c1",
		Title:       "“三会一课”落实不到位",
		Description: "支部会议记录缺失；\n党员大会未按期召开。",
		Category:    "组织生活",
		Source:      "2019年度述职评议会议",
		Severity:    events.SeverityHigh,
		Deadline:    d("2019-12-31"),
	}
	r, err := f.svc.Execute(ctx, raise, meta)
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID
	if !events.ValidID(id) || r.Stream != events.ItemStream(id) || r.Revision != 0 || r.Events != 1 || r.Position != f.head(t) {
		t.Fatalf("raise result %+v (head %d)", r, f.head(t))
	}
	step := func(actor string, c events.Command) Result {
		t.Helper()
		return f.mustExec(t, actor, c)
	}
	step("editor1", events.AssignItem{ItemID: id, UnitID: "c1", OwnerID: "lisi", OwnerName: "李四"})
	m := step("editor1", events.PlanMeasure{ItemID: id, Text: "建立“三会一课”台账", OwnerName: "李四", Due: d("2019-10-31")})
	mid := m.Extra["measure_id"]
	if mid == "" {
		t.Fatalf("plan measure result has no measure id: %+v", m)
	}
	step("editor1", events.CompleteMeasure{ItemID: id, MeasureID: mid, Note: "台账已建立"})
	step("editor1", events.ReportProgress{ItemID: id, Percent: pct(90), Note: "已补开支部会议两次"})
	ev := step("editor1", events.AttachEvidence{ItemID: id, Name: "会议记录.pdf", Size: 1024, SHA256: strings.Repeat("0f", 32), ContentType: "application/pdf"})
	if ev.Extra["evidence_id"] == "" {
		t.Fatalf("attach evidence result has no evidence id: %+v", ev)
	}
	step("editor1", events.SubmitItem{ItemID: id, Note: "请验收"})
	// The editor cannot close their own work.
	_, err = f.exec("editor1", events.VerifyItem{ItemID: id})
	wantError(t, err, events.CodeForbidden, "")
	// Rejection needs a reason, first at the command's shape.
	_, err = f.exec("reviewer1", events.RejectItem{ItemID: id})
	wantError(t, err, events.CodeInvalid, "reason")
	step("reviewer1", events.RejectItem{ItemID: id, Reason: "佐证材料不足，缺少党员大会记录"})
	if st := f.item(t, id); st.status != events.StatusInProgress {
		t.Fatalf("after rejection status = %s", st.status)
	}
	// Only a submitted item can be verified.
	_, err = f.exec("reviewer1", events.VerifyItem{ItemID: id})
	wantError(t, err, events.CodeInvalid, "item_id")
	step("editor1", events.AttachEvidence{ItemID: id, Name: "党员大会记录.jpg", Size: 2048, SHA256: strings.Repeat("1e", 32)})
	step("editor1", events.SubmitItem{ItemID: id})
	last := step("reviewer1", events.VerifyItem{ItemID: id, Note: "同意销号"})

	evs := f.read(t, events.ItemStream(id))
	want := []string{"raised", "assigned", "measure_planned", "measure_completed", "progress_reported", "evidence_attached",
		"submitted", "verification_rejected", "evidence_attached", "submitted", "verified"}
	if got := types(evs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stream = %v\nwant     %v", got, want)
	}
	if last.Revision != evs[len(evs)-1].Revision || last.Position != evs[len(evs)-1].Position {
		t.Fatalf("verify result %+v does not point at the last event %+v", last, evs[len(evs)-1])
	}
	if st := f.item(t, id); st.status != events.StatusClosed || st.percent != 90 {
		t.Fatalf("final state %+v", st)
	}

	// Envelopes carry actor, time, correlation and causation.
	first := evs[0]
	if first.Actor != "editor1" || !first.Time.Equal(f.clock.Now()) || first.CorrelationID != "req-1" || first.CausationID != "msg-1" || first.Version != 1 {
		t.Fatalf("envelope %+v", first)
	}
	if evs[len(evs)-1].Actor != "reviewer1" {
		t.Fatalf("verified by %q", evs[len(evs)-1].Actor)
	}
	// Chinese text comes back exactly.
	p, err := events.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	got := p.(events.ItemRaisedData)
	if got.Title != raise.Title || got.Description != raise.Description || got.Category != raise.Category || got.Source != raise.Source {
		t.Fatalf("raised payload %+v, want the texts of %+v", got, raise)
	}
	rej, _ := events.Decode(evs[7])
	if r := rej.(events.ItemVerificationRejectedData); r.Reason != "佐证材料不足，缺少党员大会记录" || r.ReviewerID != "reviewer1" {
		t.Fatalf("rejection %+v", r)
	}
	// A closed item takes no more progress; a reviewer may reopen it.
	_, err = f.exec("editor1", events.ReportProgress{ItemID: id, Note: "补充"})
	wantError(t, err, events.CodeInvalid, "item_id")
	step("reviewer1", events.ReopenItem{ItemID: id, Reason: "群众反映问题复发"})
	step("editor1", events.ReportProgress{ItemID: id, Note: "重新整改"})
}

func TestAuthorization(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.submitItem(t, "i1")

	// A reviewer of another unit may not verify.
	_, err := f.exec("reviewer2", events.VerifyItem{ItemID: "i1"})
	e := wantError(t, err, events.CodeForbidden, "")
	if !strings.Contains(e.Message, "c1") || !strings.Contains(e.Message, events.RoleReviewer) {
		t.Errorf("forbidden message %q should name the unit and the role", e.Message)
	}
	// Neither may a viewer, an editor or an unknown actor.
	_, err = f.exec("viewer1", events.VerifyItem{ItemID: "i1"})
	wantError(t, err, events.CodeForbidden, "")
	_, err = f.exec("nobody", events.VerifyItem{ItemID: "i1"})
	wantError(t, err, events.CodeUnauthorized, "")
	_, err = f.exec("", events.VerifyItem{ItemID: "i1"})
	wantError(t, err, events.CodeUnauthorized, "")
	if st := f.item(t, "i1"); st.status != events.StatusSubmitted {
		t.Fatalf("refused verifications changed the item: %s", st.status)
	}
	// A reviewer on the committee above covers c1.
	f.mustExec(t, "boss", events.VerifyItem{ItemID: "i1"})

	cases := []struct {
		name  string
		actor string
		cmd   events.Command
		code  events.Code
	}{
		{"editor of c1 raises in c1a (subtree)", "editor1", events.RaiseItem{ItemID: "i2", CycleID: "2019", UnitID: "c1a", Title: "t", Deadline: d("2019-12-31")}, ""},
		{"editor of c1 raises in c2", "editor1", events.RaiseItem{ItemID: "i3", CycleID: "2019", UnitID: "c2", Title: "t", Deadline: d("2019-12-31")}, events.CodeForbidden},
		{"viewer raises", "viewer1", events.RaiseItem{ItemID: "i4", CycleID: "2019", UnitID: "c1", Title: "t", Deadline: d("2019-12-31")}, events.CodeForbidden},
		{"editor changes a deadline", "editor1", events.ChangeDeadline{ItemID: "i2", Deadline: d("2020-01-31"), Reason: "延期"}, events.CodeForbidden},
		{"unit admin changes a deadline in scope", "unitadmin", events.ChangeDeadline{ItemID: "i2", Deadline: d("2020-01-31"), Reason: "延期"}, ""},
		{"editor assigns out of scope", "editor1", events.AssignItem{ItemID: "i2", UnitID: "c2"}, events.CodeForbidden},
		{"unit admin opens a cycle", "unitadmin", events.OpenCycle{CycleID: "2021", Name: "2021", Year: 2021, Kind: events.CycleAnnualReview, Start: d("2021-01-01"), End: d("2021-12-31")}, events.CodeForbidden},
		{"unit admin registers under c1", "unitadmin", events.RegisterUnit{UnitID: "c1b", Name: "第二支部", Kind: events.UnitBranch, ParentID: "c1"}, ""},
		{"unit admin registers under gw", "unitadmin", events.RegisterUnit{UnitID: "c3", Name: "南山社区", Kind: events.UnitCommunity, ParentID: "gw"}, events.CodeForbidden},
		{"unit admin grants in scope", "unitadmin", events.GrantRole{UserID: "viewer1", Role: events.RoleEditor, UnitID: "c1a"}, ""},
		{"unit admin grants org-wide", "unitadmin", events.GrantRole{UserID: "editor1", Role: events.RoleAdmin}, events.CodeForbidden},
		{"unit admin issues a token for a committee reviewer", "unitadmin", events.IssueToken{UserID: "boss"}, events.CodeForbidden},
		{"unit admin issues a token for an editor of c1", "unitadmin", events.IssueToken{UserID: "editor1"}, ""},
		{"editor makes a commitment", "editor1", events.MakeCommitment{UnitID: "c1", Title: "t", Activity: "走访", Target: 1, Period: events.PeriodWeek, Start: d("2019-01-01"), End: d("2019-12-31")}, events.CodeForbidden},
		{"system may do anything", events.SystemActor + ":deadlines", events.ChangeDeadline{ItemID: "i2", Deadline: d("2020-02-28"), Reason: "自动顺延"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.exec(tc.actor, tc.cmd)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("%v", err)
				}
				return
			}
			wantError(t, err, tc.code, "")
		})
	}
}

func TestUnitTreeRules(t *testing.T) {
	f := MustOpenFixture(t, nil)
	// gw -> c1 -> c1a: c1 may not move under c1a, nor gw under c1a.
	_, err := f.exec(events.SystemActor, events.MoveUnit{UnitID: "c1", ParentID: "c1a"})
	wantError(t, err, events.CodeInvalid, "parent_id")
	_, err = f.exec(events.SystemActor, events.MoveUnit{UnitID: "gw", ParentID: "c1a"})
	wantError(t, err, events.CodeInvalid, "parent_id")
	// c1a may move under c2, and then c2 may not move under c1a.
	f.mustExec(t, events.SystemActor, events.MoveUnit{UnitID: "c1a", ParentID: "c2"})
	_, err = f.exec(events.SystemActor, events.MoveUnit{UnitID: "c2", ParentID: "c1a"})
	wantError(t, err, events.CodeInvalid, "parent_id")
	// Scope follows the tree: editor1 (c1) no longer covers c1a.
	_, err = f.exec("editor1", events.RaiseItem{ItemID: "i1", CycleID: "2019", UnitID: "c1a", Title: "t", Deadline: d("2019-12-31")})
	wantError(t, err, events.CodeForbidden, "")

	// A retired unit gets no new items, commitments or children.
	f.mustExec(t, events.SystemActor, events.RetireUnit{UnitID: "c2", Reason: "撤并到东风社区"})
	_, err = f.exec(events.SystemActor, events.RaiseItem{ItemID: "i2", CycleID: "2019", UnitID: "c2", Title: "t", Deadline: d("2019-12-31")})
	wantError(t, err, events.CodeInvalid, "unit_id")
	_, err = f.exec(events.SystemActor, events.MakeCommitment{UnitID: "c2", Title: "t", Activity: "走访", Target: 1, Period: events.PeriodWeek, Start: d("2019-01-01"), End: d("2019-12-31")})
	wantError(t, err, events.CodeInvalid, "unit_id")
	_, err = f.exec(events.SystemActor, events.RegisterUnit{UnitID: "c2x", Name: "x", Kind: events.UnitBranch, ParentID: "c2"})
	wantError(t, err, events.CodeInvalid, "parent_id")
	if _, err := f.exec(events.SystemActor, events.RaiseItem{ItemID: "i3", CycleID: "2019", UnitID: "c1", Title: "t", Deadline: d("2019-12-31")}); err != nil {
		t.Fatalf("an active unit takes items: %v", err)
	}

	// Renaming keeps the old name in the event, in Chinese.
	f.mustExec(t, events.SystemActor, events.RenameUnit{UnitID: "c1", Name: "东风社区居委会"})
	evs := f.read(t, events.UnitStream("c1"))
	p, err := events.Decode(evs[len(evs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if r := p.(events.UnitRenamedData); r.OldName != "东风社区" || r.NewName != "东风社区居委会" {
		t.Fatalf("rename %+v", r)
	}
}

func TestCarryOverAndCommitments(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.raiseItem(t, "i1")
	f.mustExec(t, "editor1", events.ReportProgress{ItemID: "i1", Percent: pct(40)})
	f.mustExec(t, events.SystemActor, events.CloseCycle{CycleID: "2019", Note: "评议结束"})
	// A closed cycle takes no new items, but its unfinished items move on.
	_, err := f.exec("editor1", events.RaiseItem{ItemID: "i2", CycleID: "2019", UnitID: "c1", Title: "t", Deadline: d("2019-12-31")})
	wantError(t, err, events.CodeInvalid, "cycle_id")
	f.mustExec(t, "unitadmin", events.CarryOverItem{ItemID: "i1", ToCycleID: "2020", Reason: "转入2020年整改计划"})
	if st := f.item(t, "i1"); st.cycleID != "2020" || st.status != events.StatusInProgress || st.percent != 40 {
		t.Fatalf("carried item %+v", st)
	}
	_, err = f.exec("unitadmin", events.CarryOverItem{ItemID: "i1", ToCycleID: "2019"})
	wantError(t, err, events.CodeInvalid, "to_cycle_id")

	r := f.mustExec(t, "unitadmin", events.MakeCommitment{UnitID: "c1", PersonID: "lisi", PersonName: "李四", Title: "每周走访社区", Activity: "走访社区", Target: 1, Period: events.PeriodWeek, Start: d("2019-03-01"), End: d("2019-12-31")})
	k := r.ID
	a := f.mustExec(t, "editor1", events.LogActivity{CommitmentID: k, Count: 2, OccurredOn: d("2019-08-30"), Note: "走访东风社区两户困难党员"})
	if a.Extra["activity_id"] == "" {
		t.Fatalf("log activity result %+v has no activity id", a)
	}
	_, err = f.exec("editor1", events.LogActivity{CommitmentID: k, Count: 1, OccurredOn: d("2019-02-01")})
	wantError(t, err, events.CodeInvalid, "occurred_on")
	_, err = f.exec("editor1", events.LogActivity{CommitmentID: k, Count: 0, OccurredOn: d("2019-08-01")})
	wantError(t, err, events.CodeInvalid, "count")
	_, err = f.exec("unitadmin", events.ReviseCommitment{CommitmentID: k, Target: pct(0), Reason: "r"})
	wantError(t, err, events.CodeInvalid, "target")
	f.mustExec(t, "unitadmin", events.EndCommitment{CommitmentID: k, Reason: "人员调动"})
	// Ended today (2019-09-01 in Beijing): nothing after it counts.
	f.clock.Set(time.Date(2019, 9, 3, 9, 0, 0, 0, beijing))
	_, err = f.exec("editor1", events.LogActivity{CommitmentID: k, Count: 1, OccurredOn: d("2019-09-02")})
	wantError(t, err, events.CodeInvalid, "occurred_on")
	f.mustExec(t, "editor1", events.LogActivity{CommitmentID: k, Count: 1, OccurredOn: d("2019-09-01"), Note: "补记"})
}

func TestIdempotentRetry(t *testing.T) {
	f := MustOpenFixture(t, nil)
	ctx := context.Background()
	raise := events.RaiseItem{CycleID: "2019", UnitID: "c1", Title: "无编号事项", Deadline: d("2019-12-31")}
	meta := Meta{Actor: "editor1", IdempotencyKey: "form-42"}

	first, err := f.svc.Execute(ctx, raise, meta)
	if err != nil {
		t.Fatal(err)
	}
	head := f.head(t)
	again, err := f.svc.Execute(ctx, raise, meta)
	if err != nil {
		t.Fatal(err)
	}
	if again.Stream != first.Stream || again.ID != first.ID || again.Revision != first.Revision || again.Position != first.Position || again.Events != first.Events {
		t.Fatalf("retry = %+v, first = %+v", again, first)
	}
	if f.head(t) != head {
		t.Fatalf("retry wrote: head %d -> %d", head, f.head(t))
	}

	// A retry after the state moved on still gets the first reply.
	pm := events.PlanMeasure{ItemID: first.ID, Text: "建立台账"}
	pmMeta := Meta{Actor: "editor1", IdempotencyKey: "form-43"}
	planned, err := f.svc.Execute(ctx, pm, pmMeta)
	if err != nil {
		t.Fatal(err)
	}
	f.mustExec(t, "editor1", events.ReportProgress{ItemID: first.ID, Percent: pct(10)})
	f.mustExec(t, "editor1", events.ReportProgress{ItemID: first.ID, Percent: pct(20)})
	head = f.head(t)
	replayed, err := f.svc.Execute(ctx, pm, pmMeta)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.Revision != planned.Revision || replayed.Position != planned.Position || replayed.Extra["measure_id"] != planned.Extra["measure_id"] || planned.Extra["measure_id"] == "" {
		t.Fatalf("replayed %+v, first %+v", replayed, planned)
	}
	if f.head(t) != head || len(f.item(t, first.ID).measures) != 1 {
		t.Fatalf("retry wrote again: head %d -> %d, measures %v", head, f.head(t), f.item(t, first.ID).measures)
	}

	// The same key from another actor is another request.
	other, err := f.svc.Execute(ctx, raise, Meta{Actor: "unitadmin", IdempotencyKey: "form-42"})
	if err != nil || other.ID == first.ID {
		t.Fatalf("same key, other actor: %+v, %v", other, err)
	}
	// The same key for a different command of the same actor is refused.
	_, err = f.svc.Execute(ctx, events.RaiseItem{ItemID: "other", CycleID: "2019", UnitID: "c1", Title: "t", Deadline: d("2019-12-31")}, meta)
	wantError(t, err, events.CodeConflict, "")
}

func TestExpectedRevisionPins(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.raiseItem(t, "i1")
	r := f.mustExec(t, "editor1", events.ReportProgress{ItemID: "i1", Percent: pct(10)})
	stale := r.Revision
	f.mustExec(t, "editor1", events.ReportProgress{ItemID: "i1", Percent: pct(20)})
	_, err := f.exec("editor1", events.ReportProgress{ItemID: "i1", Percent: pct(30), ExpectedRevision: &stale})
	wantError(t, err, events.CodeConflict, "expected_revision")
	cur := stale + 1
	f.mustExec(t, "editor1", events.ReportProgress{ItemID: "i1", Percent: pct(30), ExpectedRevision: &cur})
	if st := f.item(t, "i1"); st.percent != 30 {
		t.Fatalf("percent = %d", st.percent)
	}
}

// raceStore is the real store with one twist: the first n appends wait for
// each other before going on, so that n commands decided against the same
// revision reach the store together and all but one lose the race.
type raceStore struct {
	eventstore.Store
	n       int32
	arrived atomic.Int32
	gate    chan struct{}
	lost    atomic.Int32
}

// arm makes the next n appends meet before they run.
func (s *raceStore) arm(n int) {
	s.arrived.Store(0)
	s.gate = make(chan struct{})
	atomic.StoreInt32(&s.n, int32(n))
}

func (s *raceStore) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	if n := atomic.LoadInt32(&s.n); n > 0 {
		if got := s.arrived.Add(1); got <= n {
			if got == n {
				atomic.StoreInt32(&s.n, -1)
				close(s.gate)
			}
			select {
			case <-s.gate:
			case <-ctx.Done():
				return eventstore.AppendResult{}, ctx.Err()
			}
		}
	}
	r, err := s.Store.Append(ctx, stream, expected, evs...)
	if events.ErrorCode(err) == events.CodeConflict {
		s.lost.Add(1)
	}
	return r, err
}

// concurrently runs the commands at once, each decided against the same
// state, and returns their errors.
func concurrently(f *fixture, rs *raceStore, actor string, cmds ...events.Command) []error {
	rs.arm(len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, errs[i] = f.svc.Execute(ctx, c, Meta{Actor: actor})
		}()
	}
	wg.Wait()
	return errs
}

func TestConcurrentCommands(t *testing.T) {
	var rs *raceStore
	f := MustOpenFixture(t, func(s eventstore.Store) eventstore.Store {
		rs = &raceStore{Store: s, n: -1}
		return rs
	})
	f.raiseItem(t, "i1")

	t.Run("two progress reports both land", func(t *testing.T) {
		rs.lost.Store(0)
		errs := concurrently(f, rs, "editor1",
			events.ReportProgress{ItemID: "i1", Percent: pct(30), Note: "甲"},
			events.ReportProgress{ItemID: "i1", Percent: pct(40), Note: "乙"})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("progress: %v", err)
			}
		}
		if rs.lost.Load() == 0 {
			t.Fatal("no append lost the race; the test did not test retrying")
		}
		n := 0
		for _, e := range f.read(t, events.ItemStream("i1")) {
			if e.Type == events.ItemProgressReported {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d progress events, want 2", n)
		}
	})

	t.Run("two verifications: one wins", func(t *testing.T) {
		f.mustExec(t, "editor1", events.SubmitItem{ItemID: "i1"})
		rs.lost.Store(0)
		errs := concurrently(f, rs, "reviewer1", events.VerifyItem{ItemID: "i1", Note: "甲"}, events.VerifyItem{ItemID: "i1", Note: "乙"})
		var won, lost int
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			wantError(t, err, events.CodeConflict, "item_id")
			lost++
		}
		if won != 1 || lost != 1 {
			t.Fatalf("won %d, lost %d: %v", won, lost, errs)
		}
		verified := 0
		for _, e := range f.read(t, events.ItemStream("i1")) {
			if e.Type == events.ItemVerified {
				verified++
			}
		}
		if verified != 1 {
			t.Fatalf("%d verified events, want 1", verified)
		}
	})

	t.Run("two deadline changes: the second must look again", func(t *testing.T) {
		f.raiseItem(t, "i2")
		errs := concurrently(f, rs, "unitadmin",
			events.ChangeDeadline{ItemID: "i2", Deadline: d("2020-01-31"), Reason: "甲"},
			events.ChangeDeadline{ItemID: "i2", Deadline: d("2020-02-29"), Reason: "乙"})
		var won, lost int
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			wantError(t, err, events.CodeConflict, "")
			lost++
		}
		if won != 1 || lost != 1 {
			t.Fatalf("won %d, lost %d: %v", won, lost, errs)
		}
	})
}

func TestBootstrap(t *testing.T) {
	st := MustOpenStore(t)
	svc := New(st, Options{})
	ctx := context.Background()
	token, created, err := svc.Bootstrap(ctx, "系统管理员")
	if err != nil || !created || !events.LooksLikeToken(token) {
		t.Fatalf("Bootstrap = %q, %v, %v", token, created, err)
	}
	evs, err := st.ReadStream(ctx, events.UserStream(AdminUserID), eventstore.Forwards, 0, 0)
	if err != nil || len(evs) != 3 {
		t.Fatalf("admin stream: %d events, %v", len(evs), err)
	}
	var sawHash bool
	for _, e := range evs {
		if strings.Contains(string(e.Data), strings.TrimPrefix(token, events.TokenPrefix)) {
			t.Fatal("the token text was stored")
		}
		p, err := events.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		switch p := p.(type) {
		case events.UserCreatedData:
			if p.Name != "系统管理员" {
				t.Errorf("admin name %q", p.Name)
			}
		case events.UserTokenIssuedData:
			sawHash = p.SHA256 == events.TokenHash(token)
		}
	}
	if !sawHash {
		t.Fatal("no token event with the token's hash")
	}
	again, created, err := svc.Bootstrap(ctx, "另一个")
	if err != nil || created || again != "" {
		t.Fatalf("second Bootstrap = %q, %v, %v", again, created, err)
	}
	// The admin can work at once, org-wide, and hand out tokens.
	if _, err := svc.Execute(ctx, events.OpenCycle{CycleID: "2019", Name: "2019年度", Year: 2019, Kind: events.CycleAnnualReview, Start: d("2019-01-01"), End: d("2019-12-31")}, Meta{Actor: AdminUserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, events.CreateUser{UserID: "lisi", Name: "李四"}, Meta{Actor: AdminUserID}); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Execute(ctx, events.IssueToken{UserID: "lisi", Label: "手机"}, Meta{Actor: AdminUserID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Extra["token"], events.TokenPrefix) || r.Extra["token_id"] == "" || r.Extra["token"] == token {
		t.Fatalf("issue token extra = %v", r.Extra)
	}
	// A user may revoke their own token.
	if _, err := svc.Execute(ctx, events.RevokeToken{UserID: "lisi", TokenID: r.Extra["token_id"], Reason: "手机丢失"}, Meta{Actor: "lisi"}); err != nil {
		t.Fatal(err)
	}
}

// TestOldEventVersionsAreUpcastOnLoad stores a version 1 deadline change
// the way an old build wrote it and expects the command side to read it as
// version 2: the next change records the v1 date as its old deadline.
func TestOldEventVersionsAreUpcastOnLoad(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.raiseItem(t, "i1")
	ctx := context.Background()
	v1 := events.Event{
		ID: "5d1c6c7e-9b7a-4f43-9a51-0c6f1f3d2a10", Type: events.ItemDeadlineChanged, Version: 1,
		Time: f.clock.Now(), Actor: "admin",
		Data: []byte(`{"deadline": "2020-06-30", "note": "受疫情影响，经工委同意延期"}`),
	}
	if _, err := f.store.Append(ctx, events.ItemStream("i1"), eventstore.Exact(0), v1); err != nil {
		t.Fatal(err)
	}
	if st := f.item(t, "i1"); st.deadline != d("2020-06-30") {
		t.Fatalf("deadline after a v1 change = %s", st.deadline)
	}
	f.mustExec(t, "unitadmin", events.ChangeDeadline{ItemID: "i1", Deadline: d("2020-09-30"), Reason: "再次延期"})
	evs := f.read(t, events.ItemStream("i1"))
	last := evs[len(evs)-1]
	p, err := events.Decode(last)
	if err != nil {
		t.Fatal(err)
	}
	want := events.ItemDeadlineChangedData{ItemID: "i1", OldDeadline: d("2020-06-30"), NewDeadline: d("2020-09-30"), Reason: "再次延期"}
	if last.Version != 2 || p != events.Payload(want) {
		t.Fatalf("new change v%d %#v, want v2 %#v", last.Version, p, want)
	}
}
