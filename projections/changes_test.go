package projections

import (
	"context"
	"slices"
	"testing"

	"rectify/events"
)

// changeHistory: the test organisation, a cycle, an item of 东风社区
// reassigned to 西湖社区, a commitment of the branch with an activity,
// a user, and a unit moved from 东风社区 to 西湖社区.
func changeHistory(tb testing.TB) (*eventLog, map[string]uint64) {
	l := newEventLog(tb)
	orgUnits(l)
	d := events.MustDate
	pos := map[string]uint64{}
	pos["cycle"] = l.add("admin", events.CycleOpenedData{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: "annual",
		Start: d("2019-01-01"), End: d("2019-12-31")}).Position
	pos["raise"] = l.add("admin", events.ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "sq1", Title: "入户走访不到位",
		Deadline: d("2019-06-30")}).Position
	pos["progress"] = l.add("u1", events.ItemProgressReportedData{ItemID: "i1", Percent: 40, Note: "已走访一半住户"}).Position
	pos["assign"] = l.add("admin", events.ItemAssignedData{ItemID: "i1", UnitID: "sq2", OwnerID: "li", OwnerName: "李四", OldUnitID: "sq1"}).Position
	pos["made"] = l.add("u1", events.CommitmentMadeData{CommitmentID: "c1", CycleID: "2019", UnitID: "sq1a", Title: "每周走访社区至少2次",
		Activity: "走访", Target: 2, Period: events.PeriodWeek, Start: d("2019-03-04"), End: d("2019-04-28")}).Position
	pos["logged"] = l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: "c1", ActivityID: "a1", Count: 1,
		OccurredOn: d("2019-03-05"), LoggedBy: "u1"}).Position
	pos["user"] = l.add("admin", events.UserCreatedData{UserID: "zhang", Name: "张三"}).Position
	pos["moved"] = l.add("admin", events.UnitMovedData{UnitID: "sq1a", OldParentID: "sq1", NewParentID: "sq2"}).Position
	return l, pos
}

// changesOf applies the history to a fresh view of p and returns the
// change notices it announced.
func changesOf(tb testing.TB, p Projection, l *eventLog) []Change {
	tb.Helper()
	var got []Change
	r := MustOpenRunner(tb, p, nil, func(cs []Change) { got = append(got, cs...) })
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestChangeNoticesCarryTheirUnit(t *testing.T) {
	l, pos := changeHistory(t)
	type want struct {
		key, unit string
		at        string
	}
	cases := []struct {
		p    Projection
		want []want
		// none lists notices that must not be announced.
		none []want
	}{
		{Ledger{}, []want{
			{"units", "jw", ""},
			{"units", "sq1a", "moved"},
			{"units", "sq1", "moved"}, // the former parent hears that sq1a left
			{"cycles", "", "cycle"},
			{"item:i1", "sq1", "raise"},
			{"unit:sq1", "sq1", "raise"},
			{"item:i1", "sq1", "progress"},
			{"item:i1", "sq2", "assign"},
			{"unit:sq2", "sq2", "assign"},
			{"item:i1", "sq1", "assign"}, // and 东风社区 hears that the item left
			{"unit:sq1", "sq1", "assign"},
		}, []want{{"item:i1", "sq2", "progress"}}},
		{Commitments{}, []want{
			{"commitment-c1", "sq1a", "made"},
			{"commitment-c1", "sq1a", "logged"},
			{"units", "sq1a", "moved"},
		}, nil},
		{Audit{}, []want{
			{"item-i1", "sq1", "raise"},
			{"item-i1", "sq1", "progress"},
			{"item-i1", "sq2", "assign"},
			{"commitment-c1", "sq1a", "logged"},
			{"cycle-2019", "", "cycle"},
			{"user-zhang", "", "user"},
			{"unit-sq1a", "sq1a", "moved"},
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.p.Name(), func(t *testing.T) {
			got := changesOf(t, tc.p, l)
			has := func(w want) bool {
				return slices.ContainsFunc(got, func(c Change) bool {
					return c.View == tc.p.Name() && c.Key == w.key && c.Unit == w.unit && (w.at == "" || c.Position == pos[w.at])
				})
			}
			for _, w := range tc.want {
				if !has(w) {
					t.Errorf("no notice %s in %q at %s among %+v", w.key, w.unit, w.at, got)
				}
			}
			for _, w := range tc.none {
				if has(w) {
					t.Errorf("notice %s in %q at %s announced, want none", w.key, w.unit, w.at)
				}
			}
		})
	}
}

func TestChangedInRecordsEachUnitOnce(t *testing.T) {
	tx := &Tx{view: "ledger", pos: 7}
	tx.ChangedIn("item:i1", "sq1")
	tx.ChangedIn("item:i1", "sq1")
	tx.ChangedIn("item:i1", "sq2")
	tx.Changed("cycles")
	tx.Changed("cycles")
	want := []Change{
		{View: "ledger", Key: "item:i1", Position: 7, Unit: "sq1"},
		{View: "ledger", Key: "item:i1", Position: 7, Unit: "sq2"},
		{View: "ledger", Key: "cycles", Position: 7},
	}
	if !slices.Equal(tx.changes, want) {
		t.Fatalf("changes %+v, want %+v", tx.changes, want)
	}
}
