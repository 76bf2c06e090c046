package services

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
)

// sampleImport is a reviewed report of 东风社区 (c1): two items, the first
// with an owner and two measures, and one commitment. Entry keys and ids
// are as services/report gives them, the second item's left to the
// command side.
func sampleImport() events.ImportReport {
	return events.ImportReport{
		CycleID: "2019",
		Items: []events.ImportItem{
			{
				Entry: "p1", ItemID: "imp-p1", UnitID: "c1", Title: "理论学习不够深入系统",
				Description: "学习流于形式。\n\n原因分析：\n1. 重视不够", Category: "思想建设",
				Source: "述职报告《东风社区2019.txt》第12行：理论学习不够深入系统", Deadline: d("2020-12-31"),
				OwnerName: "王书记",
				Measures: []events.ImportMeasure{
					{Entry: "p1.m1", MeasureID: "imp-p1-m1", Text: "每月召开1次专题学习会", Due: d("2020-06-30")},
					{Entry: "p1.m2", MeasureID: "imp-p1-m2", Text: "建立学习台账"},
				},
			},
			{
				Entry: "p2", UnitID: "c1a", Title: "支部服务群众能力不足", Deadline: d("2020-12-31"),
				Source: "述职报告《东风社区2019.txt》第15行：支部服务群众能力不足",
			},
		},
		Commitments: []events.ImportCommitment{{
			Entry: "c1", CommitmentID: "imp-c1", UnitID: "c1", Title: "班子成员每周至少到分包社区走访2次",
			Activity: "走访", Target: 2, Period: events.PeriodWeek, Start: d("2020-01-01"), End: d("2020-12-31"),
			Source: "述职报告《东风社区2019.txt》第30行：班子成员每周至少到分包社区走访2次",
		}},
	}
}

func TestImportReportWritesEveryEntryOnce(t *testing.T) {
	f := MustOpenFixture(t, nil)
	ctx := context.Background()
	meta := Meta{Actor: "unitadmin", IdempotencyKey: "import-1", CorrelationID: "req-import"}
	before := f.head(t)
	res, err := f.svc.Execute(ctx, sampleImport(), meta)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "import-1" || res.Events != 6 || res.Position != f.head(t) || res.Position <= before {
		t.Errorf("reply %+v (head %d)", res, f.head(t))
	}
	p2 := res.Extra["p2"]
	if !events.ValidID(p2) || res.Extra["p1"] != "imp-p1" || res.Extra["p1.m1"] != "imp-p1-m1" || res.Extra["p1.m2"] != "imp-p1-m2" ||
		res.Extra["c1"] != "imp-c1" || len(res.Extra) != 5 {
		t.Errorf("created ids %v", res.Extra)
	}

	// p1 is one append: raised, assigned, both measures, in the review's
	// words and with its source.
	evs := f.read(t, events.ItemStream("imp-p1"))
	if got := strings.Join(types(evs), " "); got != "raised assigned measure_planned measure_planned" {
		t.Fatalf("p1 stream: %s", got)
	}
	for _, e := range evs {
		if e.CorrelationID != "req-import" || e.Actor != "unitadmin" {
			t.Errorf("event %s: correlation %q, actor %q", e.Type, e.CorrelationID, e.Actor)
		}
	}
	raised, _ := events.Decode(evs[0])
	if r := raised.(events.ItemRaisedData); r.Source != "述职报告《东风社区2019.txt》第12行：理论学习不够深入系统" ||
		r.Description != "学习流于形式。\n\n原因分析：\n1. 重视不够" || r.CycleID != "2019" {
		t.Errorf("p1 raised as %+v", r)
	}
	if st := f.item(t, "imp-p1"); st.ownerName != "王书记" || len(st.measures) != 2 || st.status != events.StatusInProgress {
		t.Errorf("p1 state %+v", st)
	}
	if got := types(f.read(t, events.ItemStream(p2))); !slices.Equal(got, []string{"raised"}) {
		t.Errorf("p2 stream: %v", got)
	}
	made, _ := events.Decode(f.read(t, events.CommitmentStream("imp-c1"))[0])
	if c := made.(events.CommitmentMadeData); c.Source != "述职报告《东风社区2019.txt》第30行：班子成员每周至少到分包社区走访2次" || c.Target != 2 {
		t.Errorf("c1 made as %+v", c)
	}

	// The same import again, as a retry after a lost reply: the first
	// reply, nothing written.
	head := f.head(t)
	again, err := f.svc.Execute(ctx, sampleImport(), meta)
	if err != nil || !reflect.DeepEqual(again, res) {
		t.Fatalf("retry: %+v, %v; want %+v", again, err, res)
	}
	if f.head(t) != head {
		t.Errorf("the retry wrote: head %d -> %d", head, f.head(t))
	}

	// Under another key the same review is refused as a whole, every
	// entry already there named, and nothing is written.
	imp := sampleImport()
	imp.Items[1].ItemID = p2
	_, err = f.svc.Execute(ctx, imp, Meta{Actor: "unitadmin", IdempotencyKey: "import-2"})
	e := wantError(t, err, events.CodeConflict, "p1.item_id")
	var fields []string
	for _, fe := range e.Fields {
		fields = append(fields, fe.Field)
	}
	if !slices.Equal(fields, []string{"p1.item_id", "p2.item_id", "c1.commitment_id"}) || !strings.Contains(e.Message, "drop it") {
		t.Errorf("conflict names %v: %s", fields, e.Message)
	}
	if f.head(t) != head {
		t.Errorf("a refused import wrote: head %d -> %d", head, f.head(t))
	}
}

// TestImportReportWithoutKeyWritesOnce: without an idempotency key the
// import's content is its key.
func TestImportReportWithoutKeyWritesOnce(t *testing.T) {
	f := MustOpenFixture(t, nil)
	imp := sampleImport()
	imp.Items = imp.Items[1:] // p2 only: its id comes from the key
	first := f.mustExec(t, "unitadmin", imp)
	head := f.head(t)
	again := f.mustExec(t, "unitadmin", imp)
	if !reflect.DeepEqual(first, again) || f.head(t) != head || !strings.HasPrefix(first.ID, "report.import:") {
		t.Errorf("first %+v, again %+v, head %d -> %d", first, again, head, f.head(t))
	}
}

// flakyStore is the real store with one append going wrong: the append
// to stream is refused without writing (a crash before the write), or
// written but answered with an error (a crash before the reply).
type flakyStore struct {
	eventstore.Store
	stream  string
	written bool // write first, then fail
	armed   atomic.Bool
}

func (s *flakyStore) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	if stream == s.stream && s.armed.CompareAndSwap(true, false) {
		if s.written {
			if _, err := s.Store.Append(ctx, stream, expected, evs...); err != nil {
				return eventstore.AppendResult{}, err
			}
		}
		return eventstore.AppendResult{}, events.Errorf(events.CodeUnavailable, "the store went away")
	}
	return s.Store.Append(ctx, stream, expected, evs...)
}

// TestImportReportFinishesACutOffImport: an import cut off after some
// entries, before or after the write of the next, is finished by the same
// import sent again with the same key, with every entry written once.
func TestImportReportFinishesACutOffImport(t *testing.T) {
	for _, written := range []bool{false, true} {
		name := "crash before the write"
		if written {
			name = "crash after the write"
		}
		t.Run(name, func(t *testing.T) {
			fs := &flakyStore{stream: events.CommitmentStream("imp-c1"), written: written}
			f := MustOpenFixture(t, func(st eventstore.Store) eventstore.Store { fs.Store = st; return fs })
			ctx := context.Background()
			meta := Meta{Actor: "unitadmin", IdempotencyKey: "import-cut"}
			before := f.head(t)
			fs.armed.Store(true)
			_, err := f.svc.Execute(ctx, sampleImport(), meta)
			e := wantError(t, err, events.CodeUnavailable, "")
			if !strings.HasPrefix(e.Message, "c1: ") || !strings.Contains(e.Message, "2 of 3 entries written") {
				t.Errorf("the error does not say where the import stopped: %s", e.Message)
			}
			res, err := f.svc.Execute(ctx, sampleImport(), meta)
			if err != nil {
				t.Fatalf("the retry: %v", err)
			}
			if res.Events != 6 || f.head(t)-before != 6 || res.Position != f.head(t) {
				t.Errorf("after the retry: reply %+v, %d events written, want 6 once each", res, f.head(t)-before)
			}
			for _, stream := range []string{events.ItemStream("imp-p1"), events.ItemStream(res.Extra["p2"]), events.CommitmentStream("imp-c1")} {
				if n := len(f.read(t, stream)); n == 0 || (stream != events.ItemStream("imp-p1") && n != 1) {
					t.Errorf("%s holds %d events", stream, n)
				}
			}
		})
	}
}

// TestImportReportWritesNothingForABadReview: shape errors, broken rules
// and missing roles are found for every entry before anything is
// written, each named by its entry.
func TestImportReportWritesNothingForABadReview(t *testing.T) {
	f := MustOpenFixture(t, nil)
	ctx := context.Background()
	f.mustExec(t, events.SystemActor, events.RegisterUnit{UnitID: "old", Name: "撤并社区", Kind: events.UnitCommunity, ParentID: "c1"})
	f.mustExec(t, events.SystemActor, events.RetireUnit{UnitID: "old", Reason: "撤并"})
	head := f.head(t)
	check := func(name string, imp events.ImportReport, actor string, code events.Code, fields ...string) {
		t.Helper()
		_, err := f.svc.Execute(ctx, imp, Meta{Actor: actor, IdempotencyKey: name})
		e := wantError(t, err, code, "")
		var got []string
		for _, fe := range e.Fields {
			got = append(got, fe.Field)
		}
		for _, want := range fields {
			if !slices.Contains(got, want) {
				t.Errorf("%s: the error names %v, not %s (%s)", name, got, want, e.Message)
			}
		}
		if f.head(t) != head {
			t.Fatalf("%s: written: head %d -> %d", name, head, f.head(t))
		}
	}

	shape := sampleImport()
	shape.Items[0].Title = ""
	shape.Items[0].Measures[1].Text = ""
	shape.Commitments[0].Period = "day"
	check("shape", shape, "unitadmin", events.CodeInvalid, "p1.title", "p1.m2.text", "c1.period")

	rules := sampleImport()
	rules.Items[1].UnitID = "old"           // retired
	rules.Commitments[0].UnitID = "nowhere" // no such unit
	check("rules", rules, events.SystemActor, events.CodeInvalid, "p2.unit_id", "c1.unit_id")

	closed := sampleImport()
	closed.CycleID = "2020"
	f.mustExec(t, events.SystemActor, events.CloseCycle{CycleID: "2020"})
	head = f.head(t)
	check("closed cycle", closed, "unitadmin", events.CodeInvalid, "p1.cycle_id", "p2.cycle_id", "c1.cycle_id")
}

// TestImportReportPermissions: an import needs, on each entry's unit,
// what the entry's own commands need, and is refused as a whole when one
// entry is not allowed.
func TestImportReportPermissions(t *testing.T) {
	f := MustOpenFixture(t, nil)
	ctx := context.Background()
	itemsOnly := sampleImport()
	itemsOnly.Commitments = nil
	otherUnit := sampleImport()
	otherUnit.Items[1].UnitID = "c2"
	otherUnit.Commitments = nil
	n := 0
	for _, c := range []struct {
		actor string
		imp   events.ImportReport
		ok    bool
	}{
		{"editor1", itemsOnly, true},          // editor on c1: items of c1 and c1a
		{"editor1", sampleImport(), false},    // but no commitment
		{"editor1", otherUnit, false},         // and nothing of c2
		{"unitadmin", sampleImport(), true},   // admin on c1: items and commitments
		{"unitadmin", otherUnit, false},       // not of c2
		{"reviewer1", itemsOnly, false},       // reviewers do not raise items
		{"viewer1", itemsOnly, false},         // viewers do nothing
		{events.SystemActor, otherUnit, true}, // the system may
	} {
		n++
		imp := c.imp
		// Ids of their own, so that each case starts afresh.
		for i := range imp.Items {
			imp.Items[i].ItemID = ""
			imp.Items[i].Measures = slices.Clone(imp.Items[i].Measures)
			for j := range imp.Items[i].Measures {
				imp.Items[i].Measures[j].MeasureID = ""
			}
		}
		for i := range imp.Commitments {
			imp.Commitments[i].CommitmentID = ""
		}
		head := f.head(t)
		_, err := f.svc.Execute(ctx, imp, Meta{Actor: c.actor, IdempotencyKey: "perm-" + string(rune('a'+n))})
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.actor, err)
		case !c.ok:
			wantError(t, err, events.CodeForbidden, "")
			if f.head(t) != head {
				t.Errorf("%s: a refused import wrote", c.actor)
			}
		}
	}
}
