package services

import (
	"errors"
	"testing"
	"time"

	"rectify/events"
)

// Pure tests of the aggregates: states folded from facts, decisions checked
// against rules, no store involved.

var (
	d = events.MustDate

	raised     = []events.Payload{events.ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "u1", Title: "党员走访不到位", Deadline: d("2019-12-31")}}
	assigned   = with(raised, events.ItemAssignedData{ItemID: "i1", UnitID: "u1", OwnerID: "lisi", OwnerName: "李四"})
	inProgress = with(assigned, events.ItemProgressReportedData{ItemID: "i1", Percent: 30})
	openM      = with(inProgress, events.ItemMeasurePlannedData{ItemID: "i1", MeasureID: "m1", Text: "建立台账"})
	doneM      = with(openM, events.ItemMeasureCompletedData{ItemID: "i1", MeasureID: "m1", CompletedOn: d("2019-08-01")})
	submitted  = with(inProgress, events.ItemSubmittedData{ItemID: "i1"})
	closed     = with(submitted, events.ItemVerifiedData{ItemID: "i1", ReviewerID: "wangwu"})
	withdrawn  = with(inProgress, events.ItemWithdrawnData{ItemID: "i1", Reason: "重复"})

	cycle2019   = cycleState{exists: true, id: "2019", year: 2019, start: d("2019-01-01"), end: d("2019-12-31")}
	cycle2020   = cycleState{exists: true, id: "2020", year: 2020, start: d("2020-01-01"), end: d("2020-12-31")}
	cycle2018   = cycleState{exists: true, id: "2018", year: 2018, start: d("2018-01-01"), end: d("2018-12-31")}
	closed2020  = cycleState{exists: true, id: "2020", year: 2020, start: d("2020-01-01"), end: d("2020-12-31"), closed: true}
	activeU1    = unitState{exists: true, id: "u1", name: "东风社区"}
	retiredU1   = unitState{exists: true, id: "u1", name: "东风社区", retired: true}
	testNow     = time.Date(2019, 9, 1, 10, 0, 0, 0, time.UTC)
	testContext = decideContext{now: testNow, today: d("2019-09-01"), actor: "wangwu", cycle: cycle2019, toCycle: cycle2020, unit: activeU1}
)

func with(base []events.Payload, more ...events.Payload) []events.Payload {
	out := append([]events.Payload(nil), base...)
	return append(out, more...)
}

func itemOf(ps []events.Payload) itemState {
	var s itemState
	for _, p := range ps {
		s = evolveItem(s, p)
	}
	return s
}

func pct(v int) *int { return &v }

// ruleCase is one decision and what it must come to: a payload of type
// wantType, or an *events.Error with code and field.
type ruleCase struct {
	name     string
	decide   func() ([]events.Payload, error)
	code     events.Code
	field    string
	wantType string
}

func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := tc.decide()
			if tc.code == "" {
				if err != nil {
					t.Fatalf("decide: %v", err)
				}
				if len(ps) == 0 || ps[0].EventType() != tc.wantType {
					t.Fatalf("decided %v, want a %s", ps, tc.wantType)
				}
				return
			}
			if len(ps) != 0 {
				t.Errorf("decided %v along with an error", ps)
			}
			var e *events.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("error = %v, want code %s", err, tc.code)
			}
			if tc.field != "" && (len(e.Fields) == 0 || e.Fields[0].Field != tc.field) {
				t.Fatalf("error %v names fields %v, want %q", err, e.Fields, tc.field)
			}
			// A broken rule is worded by clients from its code: every one
			// has its own.
			for _, f := range e.Fields {
				if f.Code == events.ProblemInvalid || !events.IsProblemCode(f.Code) {
					t.Errorf("%s: problem %q has code %q, want one of its own from events.ProblemCodes", f.Field, f.Problem, f.Code)
				}
			}
		})
	}
}

func TestItemLifecycle(t *testing.T) {
	steps := []struct {
		p    events.Payload
		want events.ItemStatus
	}{
		{raised[0], events.StatusRaised},
		{events.ItemAssignedData{ItemID: "i1", UnitID: "u1", OwnerName: "李四"}, events.StatusAssigned},
		{events.ItemMeasurePlannedData{ItemID: "i1", MeasureID: "m1"}, events.StatusInProgress},
		{events.ItemProgressReportedData{ItemID: "i1", Percent: 80}, events.StatusInProgress},
		{events.ItemSubmittedData{ItemID: "i1"}, events.StatusSubmitted},
		{events.ItemEvidenceAttachedData{ItemID: "i1", EvidenceID: "e1"}, events.StatusSubmitted},
		{events.ItemVerificationRejectedData{ItemID: "i1", Reason: "材料不足"}, events.StatusInProgress},
		{events.ItemSubmittedData{ItemID: "i1"}, events.StatusSubmitted},
		{events.ItemVerifiedData{ItemID: "i1"}, events.StatusClosed},
		{events.ItemReopenedData{ItemID: "i1", Reason: "问题复发"}, events.StatusInProgress},
		{events.ItemCarriedOverData{ItemID: "i1", FromCycleID: "2019", ToCycleID: "2020"}, events.StatusInProgress},
		{events.ItemWithdrawnData{ItemID: "i1", Reason: "重复"}, events.StatusWithdrawn},
	}
	var s itemState
	for i, st := range steps {
		s = evolveItem(s, st.p)
		if s.status != st.want {
			t.Fatalf("after step %d (%s) status = %s, want %s", i, st.p.EventType(), s.status, st.want)
		}
	}
	if s.cycleID != "2020" || s.percent != 80 || !s.evidence["e1"] {
		t.Fatalf("final state %+v", s)
	}
}

func TestEvolveDoesNotChangeEarlierStates(t *testing.T) {
	before := itemOf(openM)
	after := evolveItem(before, events.ItemMeasureCompletedData{ItemID: "i1", MeasureID: "m1"})
	if before.measures["m1"] || !after.measures["m1"] {
		t.Fatalf("before %v after %v: evolve changed its input", before.measures, after.measures)
	}
	u := userState{}
	for _, p := range []events.Payload{
		events.UserCreatedData{UserID: "lisi", Name: "李四"},
		events.UserRoleGrantedData{UserID: "lisi", Role: events.RoleEditor, UnitID: "u1"},
		events.UserRoleGrantedData{UserID: "lisi", Role: events.RoleReviewer, UnitID: "u2"},
	} {
		u = evolveUser(u, p)
	}
	revoked := evolveUser(u, events.UserRoleRevokedData{UserID: "lisi", Role: events.RoleEditor, UnitID: "u1"})
	if len(u.grants) != 2 || len(revoked.grants) != 1 || revoked.grants[0] != (grant{events.RoleReviewer, "u2"}) {
		t.Fatalf("grants before %v after %v", u.grants, revoked.grants)
	}
}

func TestItemRules(t *testing.T) {
	x := testContext
	pastCycleCtx := x
	pastCycleCtx.toCycle = cycle2018
	closedCycleCtx := x
	closedCycleCtx.toCycle = closed2020
	retiredCtx := x
	retiredCtx.unit = retiredU1
	noUnitCtx := x
	noUnitCtx.unit = unitState{}
	closedRaiseCtx := x
	closedRaiseCtx.cycle = closed2020
	raise := events.RaiseItem{ItemID: "i2", CycleID: "2019", UnitID: "u1", Title: "会议记录缺失", Deadline: d("2019-12-31")}

	runRules(t, []ruleCase{
		// raising
		{"raise", func() ([]events.Payload, error) { return decideRaiseItem(itemState{}, raise, x) }, "", "", events.ItemRaised},
		{"raise for a retired unit", func() ([]events.Payload, error) { return decideRaiseItem(itemState{}, raise, retiredCtx) }, events.CodeInvalid, "unit_id", ""},
		{"raise for an unknown unit", func() ([]events.Payload, error) { return decideRaiseItem(itemState{}, raise, noUnitCtx) }, events.CodeInvalid, "unit_id", ""},
		{"raise in a closed cycle", func() ([]events.Payload, error) { return decideRaiseItem(itemState{}, raise, closedRaiseCtx) }, events.CodeInvalid, "cycle_id", ""},
		{"raise an existing id", func() ([]events.Payload, error) { return decideRaiseItem(itemOf(raised), raise, x) }, events.CodeConflict, "item_id", ""},
		{"assign to a retired unit", func() ([]events.Payload, error) {
			return decideAssignItem(itemOf(raised), events.AssignItem{ItemID: "i1", UnitID: "u1"}, retiredCtx)
		}, events.CodeInvalid, "unit_id", ""},
		{"assign unchanged", func() ([]events.Payload, error) {
			return decideAssignItem(itemOf(assigned), events.AssignItem{ItemID: "i1", UnitID: "u1", OwnerID: "lisi", OwnerName: "李四"}, x)
		}, events.CodeInvalid, "unit_id", ""},
		{"unknown item", func() ([]events.Payload, error) {
			return decideReportProgress(itemState{}, events.ReportProgress{ItemID: "nope", Percent: pct(5)}, x)
		}, events.CodeNotFound, "", ""},

		// a closed or withdrawn item takes no progress, measures or evidence
		{"progress on a closed item", func() ([]events.Payload, error) {
			return decideReportProgress(itemOf(closed), events.ReportProgress{ItemID: "i1", Percent: pct(90)}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"progress on a withdrawn item", func() ([]events.Payload, error) {
			return decideReportProgress(itemOf(withdrawn), events.ReportProgress{ItemID: "i1", Percent: pct(90)}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"measure on a closed item", func() ([]events.Payload, error) {
			return decidePlanMeasure(itemOf(closed), events.PlanMeasure{ItemID: "i1", MeasureID: "m9", Text: "补课"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"measure on a withdrawn item", func() ([]events.Payload, error) {
			return decidePlanMeasure(itemOf(withdrawn), events.PlanMeasure{ItemID: "i1", MeasureID: "m9", Text: "补课"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"complete a measure of a withdrawn item", func() ([]events.Payload, error) {
			return decideCompleteMeasure(itemOf(with(openM, events.ItemWithdrawnData{ItemID: "i1", Reason: "r"})), events.CompleteMeasure{ItemID: "i1", MeasureID: "m1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"evidence on a closed item", func() ([]events.Payload, error) {
			return decideAttachEvidence(itemOf(closed), events.AttachEvidence{ItemID: "i1", EvidenceID: "e1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"evidence on a withdrawn item", func() ([]events.Payload, error) {
			return decideAttachEvidence(itemOf(withdrawn), events.AttachEvidence{ItemID: "i1", EvidenceID: "e1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"evidence while submitted", func() ([]events.Payload, error) {
			return decideAttachEvidence(itemOf(submitted), events.AttachEvidence{ItemID: "i1", EvidenceID: "e1"}, x)
		}, "", "", events.ItemEvidenceAttached},
		{"progress while submitted", func() ([]events.Payload, error) {
			return decideReportProgress(itemOf(submitted), events.ReportProgress{ItemID: "i1", Percent: pct(90)}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"duplicate measure id", func() ([]events.Payload, error) {
			return decidePlanMeasure(itemOf(openM), events.PlanMeasure{ItemID: "i1", MeasureID: "m1", Text: "again"}, x)
		}, events.CodeConflict, "measure_id", ""},
		{"complete an unknown measure", func() ([]events.Payload, error) {
			return decideCompleteMeasure(itemOf(openM), events.CompleteMeasure{ItemID: "i1", MeasureID: "m7"}, x)
		}, events.CodeInvalid, "measure_id", ""},
		{"complete a measure twice", func() ([]events.Payload, error) {
			return decideCompleteMeasure(itemOf(doneM), events.CompleteMeasure{ItemID: "i1", MeasureID: "m1"}, x)
		}, events.CodeInvalid, "measure_id", ""},
		{"complete a measure tomorrow", func() ([]events.Payload, error) {
			return decideCompleteMeasure(itemOf(openM), events.CompleteMeasure{ItemID: "i1", MeasureID: "m1", CompletedOn: d("2019-09-02")}, x)
		}, events.CodeInvalid, "completed_on", ""},

		// submission
		{"submit without work", func() ([]events.Payload, error) {
			return decideSubmitItem(itemOf(assigned), events.SubmitItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"submit with an open measure", func() ([]events.Payload, error) {
			return decideSubmitItem(itemOf(openM), events.SubmitItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"submit with measures done", func() ([]events.Payload, error) {
			return decideSubmitItem(itemOf(doneM), events.SubmitItem{ItemID: "i1"}, x)
		}, "", "", events.ItemSubmitted},
		{"submit twice", func() ([]events.Payload, error) {
			return decideSubmitItem(itemOf(submitted), events.SubmitItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},

		// only a submitted item can be verified or rejected; rejection needs a reason
		{"verify an item in progress", func() ([]events.Payload, error) {
			return decideVerifyItem(itemOf(inProgress), events.VerifyItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"verify a raised item", func() ([]events.Payload, error) {
			return decideVerifyItem(itemOf(raised), events.VerifyItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"verify a closed item", func() ([]events.Payload, error) {
			return decideVerifyItem(itemOf(closed), events.VerifyItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"verify a submitted item", func() ([]events.Payload, error) {
			return decideVerifyItem(itemOf(submitted), events.VerifyItem{ItemID: "i1"}, x)
		}, "", "", events.ItemVerified},
		{"reject an item in progress", func() ([]events.Payload, error) {
			return decideRejectItem(itemOf(inProgress), events.RejectItem{ItemID: "i1", Reason: "材料不足"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"reject without a reason", func() ([]events.Payload, error) {
			return decideRejectItem(itemOf(submitted), events.RejectItem{ItemID: "i1", Reason: " "}, x)
		}, events.CodeInvalid, "reason", ""},
		{"reject with a reason", func() ([]events.Payload, error) {
			return decideRejectItem(itemOf(submitted), events.RejectItem{ItemID: "i1", Reason: "材料不足"}, x)
		}, "", "", events.ItemVerificationRejected},
		{"reopen an open item", func() ([]events.Payload, error) {
			return decideReopenItem(itemOf(inProgress), events.ReopenItem{ItemID: "i1", Reason: "r"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"reopen a closed item", func() ([]events.Payload, error) {
			return decideReopenItem(itemOf(closed), events.ReopenItem{ItemID: "i1", Reason: "复发"}, x)
		}, "", "", events.ItemReopened},

		// a deadline change needs a reason and a date
		{"deadline change without reason", func() ([]events.Payload, error) {
			return decideChangeDeadline(itemOf(inProgress), events.ChangeDeadline{ItemID: "i1", Deadline: d("2020-03-31")}, x)
		}, events.CodeInvalid, "reason", ""},
		{"deadline change without date", func() ([]events.Payload, error) {
			return decideChangeDeadline(itemOf(inProgress), events.ChangeDeadline{ItemID: "i1", Reason: "延期"}, x)
		}, events.CodeInvalid, "deadline", ""},
		{"deadline change to the same date", func() ([]events.Payload, error) {
			return decideChangeDeadline(itemOf(inProgress), events.ChangeDeadline{ItemID: "i1", Deadline: d("2019-12-31"), Reason: "延期"}, x)
		}, events.CodeInvalid, "deadline", ""},
		{"deadline change into the past", func() ([]events.Payload, error) {
			return decideChangeDeadline(itemOf(inProgress), events.ChangeDeadline{ItemID: "i1", Deadline: d("2019-08-31"), Reason: "提前"}, x)
		}, events.CodeInvalid, "deadline", ""},
		{"deadline change of a closed item", func() ([]events.Payload, error) {
			return decideChangeDeadline(itemOf(closed), events.ChangeDeadline{ItemID: "i1", Deadline: d("2020-03-31"), Reason: "延期"}, x)
		}, events.CodeInvalid, "item_id", ""},

		// carry-over only of an unfinished item into a later, open cycle
		{"carry over", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(inProgress), events.CarryOverItem{ItemID: "i1", ToCycleID: "2020"}, x)
		}, "", "", events.ItemCarriedOver},
		{"carry over a closed item", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(closed), events.CarryOverItem{ItemID: "i1", ToCycleID: "2020"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"carry over a withdrawn item", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(withdrawn), events.CarryOverItem{ItemID: "i1", ToCycleID: "2020"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"carry over into an earlier cycle", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(inProgress), events.CarryOverItem{ItemID: "i1", ToCycleID: "2018"}, pastCycleCtx)
		}, events.CodeInvalid, "to_cycle_id", ""},
		{"carry over into a closed cycle", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(inProgress), events.CarryOverItem{ItemID: "i1", ToCycleID: "2020"}, closedCycleCtx)
		}, events.CodeInvalid, "to_cycle_id", ""},
		{"carry over into its own cycle", func() ([]events.Payload, error) {
			return decideCarryOverItem(itemOf(inProgress), events.CarryOverItem{ItemID: "i1", ToCycleID: "2019"}, x)
		}, events.CodeInvalid, "to_cycle_id", ""},

		// withdrawal
		{"withdraw a closed item", func() ([]events.Payload, error) {
			return decideWithdrawItem(itemOf(closed), events.WithdrawItem{ItemID: "i1", Reason: "r"}, x)
		}, events.CodeInvalid, "item_id", ""},
		{"withdraw without reason", func() ([]events.Payload, error) {
			return decideWithdrawItem(itemOf(inProgress), events.WithdrawItem{ItemID: "i1"}, x)
		}, events.CodeInvalid, "reason", ""},
		{"withdraw", func() ([]events.Payload, error) {
			return decideWithdrawItem(itemOf(raised), events.WithdrawItem{ItemID: "i1", Reason: "重复"}, x)
		}, "", "", events.ItemWithdrawn},
	})
}

func TestDeadlineChangeRecordsOldAndNew(t *testing.T) {
	ps, err := decideChangeDeadline(itemOf(inProgress), events.ChangeDeadline{ItemID: "i1", Deadline: d("2020-03-31"), Reason: "疫情影响"}, testContext)
	if err != nil {
		t.Fatal(err)
	}
	want := events.ItemDeadlineChangedData{ItemID: "i1", OldDeadline: d("2019-12-31"), NewDeadline: d("2020-03-31"), Reason: "疫情影响"}
	if len(ps) != 1 || ps[0] != events.Payload(want) {
		t.Fatalf("decided %#v, want %#v", ps, want)
	}
}

func TestCommitmentRules(t *testing.T) {
	x := testContext
	made := commitmentState{exists: true, id: "k1", unitID: "u1", target: 1, period: events.PeriodWeek, start: d("2019-03-01"), end: d("2019-12-31")}
	ended := evolveCommitment(made, events.CommitmentEndedData{CommitmentID: "k1", Reason: "调动", EndedOn: d("2019-06-30")})
	logAt := func(s commitmentState, on string, count int) func() ([]events.Payload, error) {
		return func() ([]events.Payload, error) {
			return decideLogActivity(s, events.LogActivity{CommitmentID: "k1", ActivityID: "a1", Count: count, OccurredOn: d(on)}, x)
		}
	}
	make := events.MakeCommitment{CommitmentID: "k2", UnitID: "u1", Title: "每周走访", Activity: "走访社区", Target: 1, Period: events.PeriodWeek, Start: d("2019-01-01"), End: d("2019-12-31")}
	retiredCtx := x
	retiredCtx.unit = retiredU1
	zeroTarget := make
	zeroTarget.Target = 0

	runRules(t, []ruleCase{
		{"activity inside the span", logAt(made, "2019-03-01", 2), "", "", events.CommitmentActivityLogged},
		{"activity before the start", logAt(made, "2019-02-28", 1), events.CodeInvalid, "occurred_on", ""},
		{"activity after it ended", logAt(ended, "2019-07-01", 1), events.CodeInvalid, "occurred_on", ""},
		{"activity before it ended", logAt(ended, "2019-06-30", 1), "", "", events.CommitmentActivityLogged},
		{"activity in the future", logAt(made, "2019-09-02", 1), events.CodeInvalid, "occurred_on", ""},
		{"activity count zero", logAt(made, "2019-05-01", 0), events.CodeInvalid, "count", ""},
		{"activity count negative", logAt(made, "2019-05-01", -3), events.CodeInvalid, "count", ""},
		{"duplicate activity id", func() ([]events.Payload, error) {
			s := evolveCommitment(made, events.CommitmentActivityLoggedData{CommitmentID: "k1", ActivityID: "a1", Count: 1, OccurredOn: d("2019-04-01")})
			return logAt(s, "2019-04-02", 1)()
		}, events.CodeConflict, "activity_id", ""},
		{"make", func() ([]events.Payload, error) { return decideMakeCommitment(commitmentState{}, make, x) }, "", "", events.CommitmentMade},
		{"make with target zero", func() ([]events.Payload, error) { return decideMakeCommitment(commitmentState{}, zeroTarget, x) }, events.CodeInvalid, "target", ""},
		{"make for a retired unit", func() ([]events.Payload, error) { return decideMakeCommitment(commitmentState{}, make, retiredCtx) }, events.CodeInvalid, "unit_id", ""},
		{"revise target to zero", func() ([]events.Payload, error) {
			return decideReviseCommitment(made, events.ReviseCommitment{CommitmentID: "k1", Target: pct(0), Reason: "r"}, x)
		}, events.CodeInvalid, "target", ""},
		{"revise target", func() ([]events.Payload, error) {
			return decideReviseCommitment(made, events.ReviseCommitment{CommitmentID: "k1", Target: pct(3), Reason: "提高标准"}, x)
		}, "", "", events.CommitmentRevised},
		{"revise nothing", func() ([]events.Payload, error) {
			return decideReviseCommitment(made, events.ReviseCommitment{CommitmentID: "k1", Target: pct(1), Reason: "r"}, x)
		}, events.CodeInvalid, "target", ""},
		{"revise end before start", func() ([]events.Payload, error) {
			return decideReviseCommitment(made, events.ReviseCommitment{CommitmentID: "k1", End: d("2019-02-01"), Reason: "r"}, x)
		}, events.CodeInvalid, "end", ""},
		{"revise an ended commitment", func() ([]events.Payload, error) {
			return decideReviseCommitment(ended, events.ReviseCommitment{CommitmentID: "k1", Target: pct(3), Reason: "r"}, x)
		}, events.CodeInvalid, "commitment_id", ""},
		{"end twice", func() ([]events.Payload, error) {
			return decideEndCommitment(ended, events.EndCommitment{CommitmentID: "k1", Reason: "r"}, x)
		}, events.CodeInvalid, "commitment_id", ""},
		{"end before the start", func() ([]events.Payload, error) {
			return decideEndCommitment(made, events.EndCommitment{CommitmentID: "k1", Reason: "r", EndedOn: d("2019-01-01")}, x)
		}, events.CodeInvalid, "ended_on", ""},
	})

	ps, err := decideReviseCommitment(made, events.ReviseCommitment{CommitmentID: "k1", Target: pct(3), Reason: "提高标准"}, x)
	if err != nil {
		t.Fatal(err)
	}
	want := events.CommitmentRevisedData{CommitmentID: "k1", OldTarget: 1, NewTarget: 3, OldPeriod: "week", NewPeriod: "week", OldEnd: d("2019-12-31"), NewEnd: d("2019-12-31"), Reason: "提高标准"}
	if ps[0] != events.Payload(want) {
		t.Fatalf("revision = %#v, want %#v", ps[0], want)
	}
}

func TestUnitRules(t *testing.T) {
	x := testContext
	u1 := unitState{exists: true, id: "u1", name: "东风社区", parentID: "root"}
	retired := evolveUnit(u1, events.UnitRetiredData{UnitID: "u1", Reason: "撤并"})
	under := func(parent unitState, line ...string) decideContext {
		c := x
		c.unit, c.parentLine = parent, line
		return c
	}
	child := unitState{exists: true, id: "u1a", parentID: "u1"}
	grandchild := unitState{exists: true, id: "u1a1", parentID: "u1a"}
	other := unitState{exists: true, id: "u2", parentID: "root"}

	runRules(t, []ruleCase{
		{"move under its grandchild", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1", ParentID: "u1a1"}, under(grandchild, "u1a1", "u1a", "u1", "root"))
		}, events.CodeInvalid, "parent_id", ""},
		{"move under its child", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1", ParentID: "u1a"}, under(child, "u1a", "u1", "root"))
		}, events.CodeInvalid, "parent_id", ""},
		{"move under itself", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1", ParentID: "u1"}, under(u1, "u1", "root"))
		}, events.CodeInvalid, "parent_id", ""},
		{"move under a sibling", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1", ParentID: "u2"}, under(other, "u2", "root"))
		}, "", "", events.UnitMoved},
		{"move to the root", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1"}, x)
		}, "", "", events.UnitMoved},
		{"move under a retired unit", func() ([]events.Payload, error) {
			return decideMoveUnit(other, events.MoveUnit{UnitID: "u2", ParentID: "u1"}, under(retired, "u1", "root"))
		}, events.CodeInvalid, "parent_id", ""},
		{"move to the same parent", func() ([]events.Payload, error) {
			return decideMoveUnit(u1, events.MoveUnit{UnitID: "u1", ParentID: "root"}, under(unitState{exists: true, id: "root"}, "root"))
		}, events.CodeInvalid, "parent_id", ""},
		{"register under a retired unit", func() ([]events.Payload, error) {
			return decideRegisterUnit(unitState{}, events.RegisterUnit{UnitID: "u9", Name: "新社区", Kind: events.UnitCommunity, ParentID: "u1"}, under(retired))
		}, events.CodeInvalid, "parent_id", ""},
		{"register an existing id", func() ([]events.Payload, error) {
			return decideRegisterUnit(u1, events.RegisterUnit{UnitID: "u1", Name: "东风社区", Kind: events.UnitCommunity}, x)
		}, events.CodeConflict, "unit_id", ""},
		{"rename a retired unit", func() ([]events.Payload, error) {
			return decideRenameUnit(retired, events.RenameUnit{UnitID: "u1", Name: "西湖社区"}, x)
		}, events.CodeInvalid, "unit_id", ""},
		{"rename to the same name", func() ([]events.Payload, error) {
			return decideRenameUnit(u1, events.RenameUnit{UnitID: "u1", Name: "东风社区"}, x)
		}, events.CodeInvalid, "name", ""},
		{"retire twice", func() ([]events.Payload, error) {
			return decideRetireUnit(retired, events.RetireUnit{UnitID: "u1", Reason: "r"}, x)
		}, events.CodeInvalid, "unit_id", ""},
	})
}

func TestCycleAndUserRules(t *testing.T) {
	x := testContext
	closedCycle := evolveCycle(cycle2019, events.CycleClosedData{CycleID: "2019"})
	lisi := evolveUser(evolveUser(userState{}, events.UserCreatedData{UserID: "lisi", Name: "李四"}),
		events.UserRoleGrantedData{UserID: "lisi", Role: events.RoleEditor, UnitID: "u1"})
	withToken := evolveUser(lisi, events.UserTokenIssuedData{UserID: "lisi", TokenID: "t1"})
	revokedToken := evolveUser(withToken, events.UserTokenRevokedData{UserID: "lisi", TokenID: "t1"})
	tokenCtx := x
	tokenCtx.tokenHash = events.TokenHash("rfy_x")

	runRules(t, []ruleCase{
		{"close a closed cycle", func() ([]events.Payload, error) {
			return decideCloseCycle(closedCycle, events.CloseCycle{CycleID: "2019"}, x)
		}, events.CodeInvalid, "cycle_id", ""},
		{"open an existing cycle", func() ([]events.Payload, error) {
			return decideOpenCycle(cycle2019, events.OpenCycle{CycleID: "2019", Name: "n", Year: 2019, Kind: events.CycleAnnualReview, Start: d("2019-01-01"), End: d("2019-12-31")}, x)
		}, events.CodeConflict, "cycle_id", ""},
		{"grant a held role", func() ([]events.Payload, error) {
			return decideGrantRole(lisi, events.GrantRole{UserID: "lisi", Role: events.RoleEditor, UnitID: "u1"}, x)
		}, events.CodeInvalid, "role", ""},
		{"grant on a retired unit", func() ([]events.Payload, error) {
			c := x
			c.unit = retiredU1
			return decideGrantRole(lisi, events.GrantRole{UserID: "lisi", Role: events.RoleReviewer, UnitID: "u1"}, c)
		}, events.CodeInvalid, "unit_id", ""},
		{"revoke a role not held", func() ([]events.Payload, error) {
			return decideRevokeRole(lisi, events.RevokeRole{UserID: "lisi", Role: events.RoleEditor, UnitID: "u2"}, x)
		}, events.CodeInvalid, "role", ""},
		{"token expiring in the past", func() ([]events.Payload, error) {
			return decideIssueToken(lisi, events.IssueToken{UserID: "lisi", TokenID: "t2", ExpiresAt: testNow.Add(-time.Hour)}, tokenCtx)
		}, events.CodeInvalid, "expires_at", ""},
		{"token", func() ([]events.Payload, error) {
			return decideIssueToken(lisi, events.IssueToken{UserID: "lisi", TokenID: "t2", ExpiresAt: testNow.Add(time.Hour)}, tokenCtx)
		}, "", "", events.UserTokenIssued},
		{"revoke an unknown token", func() ([]events.Payload, error) {
			return decideRevokeToken(lisi, events.RevokeToken{UserID: "lisi", TokenID: "t9"}, x)
		}, events.CodeInvalid, "token_id", ""},
		{"revoke a token twice", func() ([]events.Payload, error) {
			return decideRevokeToken(revokedToken, events.RevokeToken{UserID: "lisi", TokenID: "t1"}, x)
		}, events.CodeInvalid, "token_id", ""},
		{"create an existing user", func() ([]events.Payload, error) {
			return decideCreateUser(lisi, events.CreateUser{UserID: "lisi", Name: "李四"}, x)
		}, events.CodeConflict, "user_id", ""},
	})
}
