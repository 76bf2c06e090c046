package report

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services"
	"rectify/services/eventstore/embedded"
)

// ledger is a real command side over a real embedded store in a temporary
// directory, with the organisation a report is imported into:
//
//	gw  东风街道工委 (committee)
//	└── c1  东风社区 (community)
//
// cycle 2019 (open), and the bootstrap administrator "admin".
type ledger struct {
	svc   *services.Service
	store *embedded.Store
}

func MustOpenLedger(tb testing.TB) *ledger {
	tb.Helper()
	st, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	cst := time.FixedZone("CST", 8*3600)
	now := func() time.Time { return time.Date(2020, 1, 15, 9, 0, 0, 0, cst) }
	l := &ledger{svc: services.New(st, services.Options{Now: now, Location: cst}), store: st}
	ctx := context.Background()
	if _, _, err := l.svc.Bootstrap(ctx, "管理员"); err != nil {
		tb.Fatal(err)
	}
	for _, c := range []events.Command{
		events.OpenCycle{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview, Start: events.MustDate("2019-01-01"), End: events.MustDate("2019-12-31")},
		events.RegisterUnit{UnitID: "gw", Name: "东风街道工委", Kind: events.UnitCommittee},
		events.RegisterUnit{UnitID: "c1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "gw"},
	} {
		if _, err := l.svc.Execute(ctx, c, services.Meta{Actor: events.SystemActor}); err != nil {
			tb.Fatalf("%s: %v", c.CommandName(), err)
		}
	}
	return l
}

// exec runs commands as the administrator, as the CLI and the gateway do.
func (l *ledger) exec(ctx context.Context, cmd events.Command, key string) error {
	_, err := l.svc.Execute(ctx, cmd, services.Meta{Actor: services.AdminUserID, IdempotencyKey: key})
	return err
}

// written returns the payloads of every item and commitment event, in
// store order.
func (l *ledger) written(tb testing.TB) []events.Payload {
	tb.Helper()
	evs, err := l.store.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []events.Payload
	for _, e := range evs {
		if !strings.HasPrefix(e.Stream, "item-") && !strings.HasPrefix(e.Stream, "commitment-") {
			continue
		}
		p, err := events.Decode(e)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func setEntry(a *Assignments, e Entry) {
	for i := range a.Entries {
		if a.Entries[i].Key == e.Key {
			a.Entries[i] = e
			return
		}
	}
	a.Entries = append(a.Entries, e)
}

func intp(v int) *int { return &v }

// reviewedDongfeng is the dongfeng sample as a reviewer would leave it:
// cycle and unit set, one item dropped, one assigned to a community,
// yearly commitments accepted or restated, one commitment dropped.
func reviewedDongfeng(tb testing.TB) Review {
	tb.Helper()
	r := NewReview(MustParseFile(tb, filepath.Join("testdata", "dongfeng_2019.txt")), "dongfeng_2019.txt")
	r.Assign.CycleID, r.Assign.UnitID, r.Assign.OwnerName = "2019", "gw", "李建国"
	r.Draft.Items[0].Title = "抓基层党建主体责任落实不到位（审核修改）"
	for _, e := range []Entry{
		{Key: "p2", UnitID: "c1", OwnerName: "王芳", Severity: events.SeverityHigh},
		{Key: "p3", Drop: true},
		{Key: "p1.m3", Drop: true},
		{Key: "c3", Accept: true},
		{Key: "c6", Period: events.PeriodMonth, Target: intp(1)},
		{Key: "c7", Drop: true},
		{Key: "c8", UnitID: "c1", PersonID: "zhangsan", PersonName: "张三"},
		{Key: "c9", Accept: true},
	} {
		setEntry(&r.Assign, e)
	}
	return r
}

func TestConfirmWritesTheReviewedDraft(t *testing.T) {
	l := MustOpenLedger(t)
	ctx := context.Background()
	r := reviewedDongfeng(t)
	if r.Assign.Start != events.MustDate("2020-01-01") || r.Assign.End != events.MustDate("2020-12-31") || r.Assign.Deadline != events.MustDate("2020-12-31") {
		t.Fatalf("review defaults: start %s, end %s, deadline %s; want the year after 2019", r.Assign.Start, r.Assign.End, r.Assign.Deadline)
	}
	steps, err := r.Draft.Commands(r.Assign)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Apply(ctx, l.exec, steps)
	if err != nil || n != len(steps) {
		t.Fatalf("Apply: %d of %d, %v", n, len(steps), err)
	}

	var raised []events.ItemRaisedData
	var assigned []events.ItemAssignedData
	measures := map[string][]string{}
	var made []events.CommitmentMadeData
	for _, p := range l.written(t) {
		switch e := p.(type) {
		case events.ItemRaisedData:
			raised = append(raised, e)
		case events.ItemAssignedData:
			assigned = append(assigned, e)
		case events.ItemMeasurePlannedData:
			measures[e.ItemID] = append(measures[e.ItemID], e.Text)
		case events.CommitmentMadeData:
			made = append(made, e)
		default:
			t.Errorf("unexpected %s", p.EventType())
		}
	}
	if len(raised) != 2 || len(assigned) != 2 || len(made) != 8 {
		t.Fatalf("%d items raised, %d assigned, %d commitments made; want 2, 2, 8", len(raised), len(assigned), len(made))
	}

	p1, p2 := raised[0], raised[1]
	if p1.Title != "抓基层党建主体责任落实不到位（审核修改）" || p1.UnitID != "gw" || p1.CycleID != "2019" || p1.Deadline != events.MustDate("2020-12-31") || p1.Category != "责任落实" {
		t.Errorf("p1 raised as %+v", p1)
	}
	if want := "述职报告《dongfeng_2019.txt》第14行：抓基层党建主体责任落实不到位（审核修改）"; p1.Source != want {
		t.Errorf("p1 source %q, want %q", p1.Source, want)
	}
	if !strings.HasPrefix(p1.Description, "抓党建主体责任落实还不够到位。对社区党建工作督促指导多") ||
		!strings.Contains(p1.Description, "原因分析：\n1. 思想认识有偏差，存在重业务、轻党建的倾向\n2. 考核督查机制不健全") {
		t.Errorf("p1 description %q", p1.Description)
	}
	if p2.UnitID != "c1" || p2.Severity != events.SeverityHigh || p2.Title != "社区党组织服务群众能力有待提升" {
		t.Errorf("p2 raised as %+v", p2)
	}
	if assigned[0].OwnerName != "李建国" || assigned[1].OwnerName != "王芳" || assigned[1].UnitID != "c1" {
		t.Errorf("owners %q and %q", assigned[0].OwnerName, assigned[1].OwnerName)
	}
	wantMeasures := map[string][]string{
		p1.ItemID: {
			"严格落实党建工作例会制度，街道工委每月召开1次党建工作专题会议，研究解决基层党建重点难点问题",
			"班子成员每周至少到分包社区走访2次，全年开展走访调研不少于4次，形成调研报告",
		},
		p2.ItemID: {
			"社区党委书记每月走访弱势群体5户，建立困难群众帮扶台账",
			"每季度组织两次社区工作者业务培训，全年培训不少于十二场",
			"整合驻区单位资源，每半年召开一次区域化党建联席会议",
		},
	}
	if !reflect.DeepEqual(measures, wantMeasures) {
		t.Errorf("measures %q, want %q", measures, wantMeasures)
	}

	type commitment struct {
		title, activity, period string
		target                  int
		person, unit            string
	}
	var got []commitment
	for _, c := range made {
		got = append(got, commitment{c.Title, c.Activity, c.Period, c.Target, c.PersonName, c.UnitID})
		if c.Start != events.MustDate("2020-01-01") || c.End != events.MustDate("2020-12-31") || c.CycleID != "2019" {
			t.Errorf("%s runs %s..%s in cycle %s", c.Title, c.Start, c.End, c.CycleID)
		}
	}
	want := []commitment{
		{"街道工委每月召开1次党建工作专题会议", "召开党建工作专题会议", "month", 1, "", "gw"},
		{"班子成员每周至少到分包社区走访2次", "到分包社区走访", "week", 2, "", "gw"},
		{"全年开展走访调研不少于4次", "开展走访调研", "quarter", 1, "", "gw"},
		{"社区党委书记每月走访弱势群体5户", "走访弱势群体", "month", 5, "", "gw"},
		{"每季度组织两次社区工作者业务培训", "组织社区工作者业务培训", "quarter", 2, "", "gw"},
		{"全年培训不少于十二场", "培训", "month", 1, "", "gw"},
		{"党建指导员每月到联系企业指导工作3-5次", "到联系企业指导工作", "month", 3, "张三", "c1"},
		{"每年开展“两新”组织党组织书记培训2次", "开展“两新”组织党组织书记培训", "quarter", 1, "", "gw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("commitments\n%+v\nwant\n%+v", got, want)
	}
	if want := "述职报告《dongfeng_2019.txt》第19行：二是班子成员每周至少到分包社区走访2次"; made[1].Source != want {
		t.Errorf("commitment source %q, want %q", made[1].Source, want)
	}

	// Confirming again writes nothing new.
	head, err := l.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Apply(ctx, l.exec, steps); err != nil || n != len(steps) {
		t.Fatalf("second Apply: %d, %v", n, err)
	}
	if again, err := l.store.Head(ctx); err != nil || again != head {
		t.Errorf("second Apply moved the store from %d to %d (%v)", head, again, err)
	}
}

// TestConfirmResumesAPartialImport: a confirm cut off halfway (the
// connection to the command side dropped) leaves the entries before the
// cut written; confirming again writes the rest, and nothing twice.
func TestConfirmResumesAPartialImport(t *testing.T) {
	l := MustOpenLedger(t)
	ctx := context.Background()
	r := reviewedDongfeng(t)
	steps, err := r.Draft.Commands(r.Assign)
	if err != nil {
		t.Fatal(err)
	}
	const cut = 5
	calls := 0
	dropping := func(ctx context.Context, cmd events.Command, key string) error {
		if calls++; calls > cut {
			return events.Errorf(events.CodeUnavailable, "the command service did not answer in time")
		}
		return l.exec(ctx, cmd, key)
	}
	n, err := Apply(ctx, dropping, steps)
	if n != cut || events.ErrorCode(err) != events.CodeUnavailable || !strings.Contains(err.Error(), steps[cut].Entry) {
		t.Fatalf("cut Apply: %d applied, %v; want %d and unavailable naming %s", n, err, cut, steps[cut].Entry)
	}
	if got := len(l.written(t)); got != cut {
		t.Fatalf("%d events after the cut, want %d", got, cut)
	}
	if n, err := Apply(ctx, l.exec, steps); err != nil || n != len(steps) {
		t.Fatalf("resumed Apply: %d, %v", n, err)
	}
	if got := len(l.written(t)); got != len(steps) {
		t.Errorf("%d events after resuming, want one per step: %d", got, len(steps))
	}

	// A cancelled context stops before the next command.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := Apply(cancelled, l.exec, steps); n != 0 || events.ErrorCode(err) != events.CodeUnavailable {
		t.Errorf("Apply with a cancelled context: %d, %v", n, err)
	}
}

// TestCommandsRefusesAnUnfinishedReview: everything a reviewer still has
// to settle is reported at once, each problem naming the entry and field.
func TestCommandsRefusesAnUnfinishedReview(t *testing.T) {
	xihu := MustParseFile(t, filepath.Join("testdata", "xihu_2019_gb18030.txt"))
	r := NewReview(xihu, "xihu.txt")
	r.Assign.Deadline, r.Assign.Start, r.Assign.End = events.Date{}, events.Date{}, events.Date{}
	r.Draft.Items[1].Title = strings.Repeat("长", events.MaxTitleLen+1)
	setEntry(&r.Assign, Entry{Key: "p9", OwnerName: "张三"})
	setEntry(&r.Assign, Entry{Key: "p3", Drop: true})
	setEntry(&r.Assign, Entry{Key: "u1", Item: "p3"})
	setEntry(&r.Assign, Entry{Key: "u2", Item: "p7"})
	_, err := r.Draft.Commands(r.Assign)
	var e *events.Error
	if !errors.As(err, &e) || e.Code != events.CodeInvalid {
		t.Fatalf("Commands: %v, want invalid", err)
	}
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, f.Field)
	}
	for _, want := range []string{
		"entries.p9",      // no such entry, and it sets something
		"assign.cycle_id", // no cycle
		"p1.unit_id",      // no unit anywhere
		"p1.deadline",     // no deadline anywhere
		"p2.title",        // too long: the command's own check, named by entry
		"u1.item",         // put under a dropped item
		"u2.item",         // put under an item that does not exist
		"c5.period",       // 6 a year: to be accepted or restated
		"c6.period",       // a day: to be accepted or restated
		"c7.period",       // every two weeks: no period fits
		"c8.target",       // 每周X次: count to be set
		"c1.unit_id",      // commitments need a unit too
		"c1.start",        // and a span
		"c1.end",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("no problem reported for %s; got %q", want, fields)
		}
	}
	for _, unwanted := range []string{"p3.deadline", "p3.unit_id", "c2.target", "c2.period", "assign.import_key", "p1.m1.unit_id"} {
		if slices.Contains(fields, unwanted) {
			t.Errorf("problem reported for %s, which is fine", unwanted)
		}
	}

	// Settled, the same review goes through, the unmatched measure under p1.
	r.Assign.CycleID, r.Assign.UnitID = "2019", "gw"
	r.Assign.Deadline, r.Assign.Start, r.Assign.End = events.MustDate("2020-06-30"), events.MustDate("2020-01-01"), events.MustDate("2020-12-31")
	r.Draft.Items[1].Title = "党员教育管理不够严格"
	r.Assign.Entries = slices.DeleteFunc(r.Assign.Entries, func(e Entry) bool { return e.Key == "p9" })
	// An empty entry is what NewReview leaves for an entry the reviewer
	// then deleted from the draft: no problem.
	setEntry(&r.Assign, Entry{Key: "p8"})
	for _, e := range []Entry{
		{Key: "p3"},
		{Key: "u1", Item: "p1", Due: events.MustDate("2020-03-31")},
		{Key: "u2", Drop: true},
		{Key: "c5", Accept: true},
		{Key: "c6", Period: events.PeriodWeek, Target: intp(7)},
		{Key: "c7", Period: events.PeriodMonth, Target: intp(2)},
		{Key: "c8", Target: intp(1)},
	} {
		setEntry(&r.Assign, e)
	}
	steps, err := r.Draft.Commands(r.Assign)
	if err != nil {
		t.Fatalf("settled review: %v", err)
	}
	var p1 string
	for _, s := range steps {
		switch c := s.Command.(type) {
		case events.RaiseItem:
			if s.Entry == "p1" {
				p1 = c.ItemID
			}
		case events.PlanMeasure:
			if s.Entry == "u1" && (c.ItemID != p1 || c.Text != "配合街道完成3个老旧小区改造" || c.Due != events.MustDate("2020-03-31")) {
				t.Errorf("u1 planned as %+v under %s", c, p1)
			}
			if s.Entry == "u2" {
				t.Errorf("dropped u2 planned")
			}
		case events.MakeCommitment:
			if s.Entry == "c8" && (c.Period != events.PeriodWeek || c.Target != 1) {
				t.Errorf("c8 made as %d/%s", c.Target, c.Period)
			}
		}
	}
	if p1 == "" {
		t.Error("p1 not raised")
	}

	// The same review gives the same commands; another cycle other ids.
	again, err := r.Draft.Commands(r.Assign)
	if err != nil || !reflect.DeepEqual(steps, again) {
		t.Errorf("Commands is not deterministic: %v", err)
	}
	r.Assign.CycleID = "2020"
	other, err := r.Draft.Commands(r.Assign)
	if err != nil || other[0].Command.(events.RaiseItem).ItemID == p1 || other[0].Key == steps[0].Key {
		t.Errorf("another cycle reuses ids or keys: %v", err)
	}
}

// TestImportWritesTheReviewedDraftInOneCommand: Import makes the one
// report.import command of a review, and the command side writes what the
// steps of Commands would, replaying it on a retry.
func TestImportWritesTheReviewedDraftInOneCommand(t *testing.T) {
	l := MustOpenLedger(t)
	ctx := context.Background()
	r := reviewedDongfeng(t)
	imp, err := r.Draft.Import(r.Assign)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := r.Draft.Commands(r.Assign)
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Items) != 2 || len(imp.Items[0].Measures) != 2 || len(imp.Items[1].Measures) != 3 || len(imp.Commitments) != 8 ||
		imp.Items[1].OwnerName != "王芳" || imp.CycleID != "2019" {
		t.Fatalf("import %+v", imp)
	}
	meta := services.Meta{Actor: services.AdminUserID, IdempotencyKey: "review-dongfeng"}
	res, err := l.svc.Execute(ctx, imp, meta)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(steps) || len(l.written(t)) != len(steps) {
		t.Errorf("%d events in the reply, %d written; want one per step: %d", res.Events, len(l.written(t)), len(steps))
	}
	for _, s := range steps {
		var id string
		switch c := s.Command.(type) {
		case events.RaiseItem:
			id = c.ItemID
		case events.PlanMeasure:
			id = c.MeasureID
		case events.MakeCommitment:
			id = c.CommitmentID
		default:
			continue
		}
		if res.Extra[s.Entry] != id {
			t.Errorf("entry %s created %q, want %q", s.Entry, res.Extra[s.Entry], id)
		}
	}
	again, err := l.svc.Execute(ctx, imp, meta)
	if err != nil || !reflect.DeepEqual(again, res) || len(l.written(t)) != len(steps) {
		t.Errorf("retry: %+v, %v", again, err)
	}
}
