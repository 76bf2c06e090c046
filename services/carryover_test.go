package services

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
)

// carryOverFixture is the fixture with cycle 2019 holding items in every
// state, beside items that are not 2019's:
//
//	open-raised, open-assigned, open-progress, open-submitted, reopened,
//	from2018 (raised in 2018, carried into 2019): unfinished, in 2019
//	closed, withdrawn: finished
//	moved (carried to 2020 on its own), in2020: not in 2019
func carryOverFixture(tb testing.TB, wrap func(eventstore.Store) eventstore.Store) (*fixture, []string) {
	tb.Helper()
	f := MustOpenFixture(tb, wrap)
	f.mustExec(tb, events.SystemActor, events.OpenCycle{CycleID: "2018", Name: "2018年度述职评议", Year: 2018, Kind: events.CycleAnnualReview, Start: d("2018-01-01"), End: d("2018-12-31")})
	raise := func(id, cycle, title string) {
		f.mustExec(tb, "editor1", events.RaiseItem{ItemID: id, CycleID: cycle, UnitID: "c1a", Title: title, Deadline: d("2019-12-31")})
	}
	raise("open-raised", "2019", "“三会一课”落实不到位")
	raise("open-assigned", "2019", "党员走访不到位")
	f.mustExec(tb, "editor1", events.AssignItem{ItemID: "open-assigned", UnitID: "c1a", OwnerID: "lisi", OwnerName: "李四"})
	raise("open-progress", "2019", "网格员队伍不稳定")
	f.mustExec(tb, "editor1", events.ReportProgress{ItemID: "open-progress", Percent: pct(40)})
	f.submitItem(tb, "open-submitted")
	f.submitItem(tb, "closed")
	f.mustExec(tb, "reviewer1", events.VerifyItem{ItemID: "closed"})
	f.submitItem(tb, "reopened")
	f.mustExec(tb, "reviewer1", events.VerifyItem{ItemID: "reopened"})
	f.mustExec(tb, "reviewer1", events.ReopenItem{ItemID: "reopened", Reason: "问题反弹"})
	raise("withdrawn", "2019", "重复事项")
	f.mustExec(tb, "unitadmin", events.WithdrawItem{ItemID: "withdrawn", Reason: "与其他事项重复"})
	raise("moved", "2019", "已单独结转")
	f.mustExec(tb, "unitadmin", events.CarryOverItem{ItemID: "moved", ToCycleID: "2020"})
	raise("in2020", "2020", "新年度事项")
	raise("from2018", "2018", "上年度遗留问题")
	f.mustExec(tb, "unitadmin", events.CarryOverItem{ItemID: "from2018", ToCycleID: "2019", Reason: "转入2019年"})
	f.mustExec(tb, events.SystemActor, events.CloseCycle{CycleID: "2019", Note: "评议结束"})
	return f, []string{"open-raised", "open-assigned", "open-progress", "open-submitted", "reopened", "from2018"}
}

func carryOverDetail(tb testing.TB, r Result) events.CycleCarryOver {
	tb.Helper()
	d, ok := r.Detail.(*events.CycleCarryOver)
	if !ok {
		tb.Fatalf("detail %T, want *events.CycleCarryOver", r.Detail)
	}
	return *d
}

func lineIDs(d events.CycleCarryOver) []string {
	var out []string
	for _, l := range d.Items {
		out = append(out, l.ItemID)
	}
	return out
}

func TestCarryOverCycleDryRunListsAndWritesNothing(t *testing.T) {
	f, want := carryOverFixture(t, nil)
	head := f.head(t)
	r, err := f.svc.Execute(context.Background(), events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020", DryRun: true}, Meta{Actor: events.SystemActor, IdempotencyKey: "dry"})
	if err != nil {
		t.Fatal(err)
	}
	if f.head(t) != head {
		t.Fatalf("a dry run wrote events: head %d, was %d", f.head(t), head)
	}
	d := carryOverDetail(t, r)
	if !d.DryRun || d.FromCycleID != "2019" || d.ToCycleID != "2020" || !slices.Equal(lineIDs(d), want) {
		t.Fatalf("dry run lists %v (%+v), want %v", lineIDs(d), d, want)
	}
	if r.Events != 0 || r.Position != head {
		t.Errorf("dry run result %+v: want no events and the position it read up to, %d", r, head)
	}
	byID := map[string]events.CarryOverLine{}
	for _, l := range d.Items {
		byID[l.ItemID] = l
		if l.Position != 0 || (l.UnitID != "c1a" && l.UnitID != "c1") || l.Deadline != events.MustDate("2019-12-31") {
			t.Errorf("line %+v", l)
		}
	}
	for id, st := range map[string]events.ItemStatus{"open-raised": events.StatusRaised, "open-assigned": events.StatusAssigned,
		"open-progress": events.StatusInProgress, "open-submitted": events.StatusSubmitted, "reopened": events.StatusInProgress} {
		if byID[id].Status != st {
			t.Errorf("%s listed as %s, want %s", id, byID[id].Status, st)
		}
	}
	if byID["open-raised"].Title != "“三会一课”落实不到位" {
		t.Errorf("title %q", byID["open-raised"].Title)
	}
	// The dry run's key does not stand in the real run's way.
	r, err = f.svc.Execute(context.Background(), events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020"}, Meta{Actor: events.SystemActor, IdempotencyKey: "dry"})
	if err != nil || r.Events != len(want) {
		t.Fatalf("the real run after a dry run under the same key: %+v, %v", r, err)
	}
}

func TestCarryOverCycleMovesEveryUnfinishedItemOnce(t *testing.T) {
	f, want := carryOverFixture(t, nil)
	ctx := context.Background()
	cmd := events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020", Reason: "转入2020年整改计划"}
	meta := Meta{Actor: events.SystemActor, IdempotencyKey: "close-2019"}
	r, err := f.svc.Execute(ctx, cmd, meta)
	if err != nil {
		t.Fatal(err)
	}
	d := carryOverDetail(t, r)
	if d.DryRun || !slices.Equal(lineIDs(d), want) || r.Events != len(want) {
		t.Fatalf("carried %v (%d events), want %v", lineIDs(d), r.Events, want)
	}
	head := f.head(t)
	if r.Position != head {
		t.Errorf("result position %d, the last carry-over is at %d", r.Position, head)
	}
	for _, l := range d.Items {
		evs := f.read(t, events.ItemStream(l.ItemID))
		last := evs[len(evs)-1]
		p, err := events.Decode(last)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := p.(events.ItemCarriedOverData); !ok || c.FromCycleID != "2019" || c.ToCycleID != "2020" || c.Reason != cmd.Reason || last.Position != l.Position {
			t.Errorf("%s ends with %s %+v at %d, listed at %d", l.ItemID, last.Type, p, last.Position, l.Position)
		}
		// One stream, one id, from the first cycle's raise to the second's
		// plan; the work done before stays.
		if st := f.item(t, l.ItemID); st.cycleID != "2020" || st.status != l.Status || st.title != l.Title {
			t.Errorf("%s after the carry-over: %+v", l.ItemID, st)
		}
		if evs[0].Type != events.ItemRaised {
			t.Errorf("%s's stream starts with %s", l.ItemID, evs[0].Type)
		}
	}
	for _, id := range []string{"closed", "withdrawn", "moved", "in2020"} {
		if types := types(f.read(t, events.ItemStream(id))); id != "moved" && slices.Contains(types, "carried_over") {
			t.Errorf("%s was carried: %v", id, types)
		}
	}
	if n := len(f.read(t, events.ItemStream("moved"))); n != 2 {
		t.Errorf("moved, carried on its own before, has %d events", n)
	}

	// A retry under the same key writes nothing and answers the same.
	again, err := f.svc.Execute(ctx, cmd, meta)
	if err != nil {
		t.Fatal(err)
	}
	if f.head(t) != head || again.Events != r.Events || again.Position != r.Position || !slices.Equal(carryOverDetail(t, again).Items, d.Items) {
		t.Fatalf("the retry: %+v %+v; head %d, was %d", again, carryOverDetail(t, again), f.head(t), head)
	}
	// A new job finds nothing left to carry.
	empty, err := f.svc.Execute(ctx, cmd, Meta{Actor: events.SystemActor, IdempotencyKey: "close-2019-again"})
	if err != nil || len(carryOverDetail(t, empty).Items) != 0 || f.head(t) != head {
		t.Fatalf("a second job: %+v, %v", empty, err)
	}
	// Every carried item is in 2020 now, in one correlation.
	corr := ""
	for _, l := range d.Items {
		evs := f.read(t, events.ItemStream(l.ItemID))
		c := evs[len(evs)-1].CorrelationID
		if corr == "" {
			corr = c
		}
		if c != corr {
			t.Errorf("%s carried under correlation %s, others under %s", l.ItemID, c, corr)
		}
	}
}

// dyingStore lets a number of appends through, then writes one more whose
// reply is lost, and then refuses everything: a process that crashes in
// the middle of a bulk job.
type dyingStore struct {
	eventstore.Store
	left atomic.Int64
}

func (s *dyingStore) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	switch n := s.left.Add(-1); {
	case n >= 0:
		return s.Store.Append(ctx, stream, expected, evs...)
	case n == -1:
		if _, err := s.Store.Append(ctx, stream, expected, evs...); err != nil {
			return eventstore.AppendResult{}, err
		}
		return eventstore.AppendResult{}, events.Errorf(events.CodeUnavailable, "the reply was lost")
	}
	return eventstore.AppendResult{}, events.Errorf(events.CodeUnavailable, "the store is gone")
}

func TestCarryOverCycleRetryAfterACrashCompletesTheJob(t *testing.T) {
	ds := &dyingStore{}
	ds.left.Store(math.MaxInt64)
	f, want := carryOverFixture(t, func(s eventstore.Store) eventstore.Store { ds.Store = s; return ds })
	ctx := context.Background()
	cmd := events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020", Reason: "年度结转"}
	meta := Meta{Actor: events.SystemActor, IdempotencyKey: "close-2019"}

	ds.left.Store(2)
	if _, err := f.svc.Execute(ctx, cmd, meta); events.ErrorCode(err) != events.CodeUnavailable {
		t.Fatalf("the crashed run: %v, want unavailable", err)
	}
	carried := 0
	for _, id := range want {
		if f.item(t, id).cycleID == "2020" {
			carried++
		}
	}
	if carried != 3 {
		t.Fatalf("the crashed run carried %d items, want 3 (two answered, one unanswered)", carried)
	}

	ds.left.Store(math.MaxInt64)
	r, err := f.svc.Execute(ctx, cmd, meta)
	if err != nil {
		t.Fatal(err)
	}
	if d := carryOverDetail(t, r); !slices.Equal(lineIDs(d), want) || r.Events != len(want) {
		t.Fatalf("the retry reports %v, want the whole job %v", lineIDs(d), want)
	}
	for _, id := range want {
		n := 0
		for _, e := range f.read(t, events.ItemStream(id)) {
			if p, err := events.Decode(e); err == nil {
				if c, ok := p.(events.ItemCarriedOverData); ok && c.ToCycleID == "2020" {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("%s carried into 2020 %d times", id, n)
		}
		if st := f.item(t, id); st.cycleID != "2020" {
			t.Errorf("%s is in %s after the retry", id, st.cycleID)
		}
	}
}

func TestCarryOverCycleRules(t *testing.T) {
	f, _ := carryOverFixture(t, nil)
	f.mustExec(t, events.SystemActor, events.OpenCycle{CycleID: "2017", Name: "2017年度", Year: 2017, Kind: events.CycleAnnualReview, Start: d("2017-01-01"), End: d("2017-12-31")})
	f.mustExec(t, events.SystemActor, events.OpenCycle{CycleID: "2021", Name: "2021年度", Year: 2021, Kind: events.CycleAnnualReview, Start: d("2021-01-01"), End: d("2021-12-31")})
	f.mustExec(t, events.SystemActor, events.CloseCycle{CycleID: "2021"})
	head := f.head(t)
	for _, tt := range []struct {
		actor    string
		cmd      events.CarryOverCycle
		code     events.Code
		field    string
		whatWhen string
	}{
		{"unitadmin", events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020"}, events.CodeForbidden, "", "an admin of one unit"},
		{"boss", events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020"}, events.CodeForbidden, "", "a reviewer"},
		{events.SystemActor, events.CarryOverCycle{FromCycleID: "1999", ToCycleID: "2020"}, events.CodeNotFound, "", "an unknown cycle"},
		{events.SystemActor, events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2021"}, events.CodeInvalid, "to_cycle_id", "into a closed cycle"},
		{events.SystemActor, events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2017"}, events.CodeInvalid, "to_cycle_id", "into an earlier cycle"},
		{events.SystemActor, events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2019"}, events.CodeInvalid, "to_cycle_id", "into itself"},
	} {
		_, err := f.exec(tt.actor, tt.cmd)
		if events.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.whatWhen, err, tt.code)
			continue
		}
		if tt.field != "" {
			wantError(t, err, tt.code, tt.field)
		}
	}
	if f.head(t) != head {
		t.Fatalf("refused jobs wrote events")
	}
	// An admin of the whole organisation may.
	f.mustExec(t, events.SystemActor, events.CreateUser{UserID: "orgadmin", Name: "吴十"})
	f.mustExec(t, events.SystemActor, events.GrantRole{UserID: "orgadmin", Role: events.RoleAdmin})
	if _, err := f.exec("orgadmin", events.CarryOverCycle{FromCycleID: "2019", ToCycleID: "2020", DryRun: true}); err != nil {
		t.Fatalf("an admin of the organisation: %v", err)
	}
}
