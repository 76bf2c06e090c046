package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// eventLog builds a small hand-made history: events made with events.New
// from payloads, each with the next revision of its stream and the next
// position in $all. Positions go up by 10 to show that views do not expect
// them to be contiguous.
type eventLog struct {
	tb   testing.TB
	evs  []events.Event
	revs map[string]uint64
	now  time.Time
}

func newEventLog(tb testing.TB) *eventLog {
	return &eventLog{tb: tb, revs: map[string]uint64{}, now: time.Date(2019, 1, 1, 9, 0, 0, 0, chinaZone)}
}

// at sets the time of the events that follow, "2019-03-04 10:00" in UTC+8.
func (l *eventLog) at(s string) *eventLog {
	l.tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, chinaZone)
	if err != nil {
		l.tb.Fatal(err)
	}
	l.now = t
	return l
}

// add appends an event of payload p by actor, on p's own stream.
func (l *eventLog) add(actor string, p events.Payload) events.Event {
	l.tb.Helper()
	e, err := events.New(p, events.Meta{
		ID: fmt.Sprintf("ev-%d", len(l.evs)+1), Stream: streamOfPayload(l.tb, p), Actor: actor, Time: l.now,
		CorrelationID: fmt.Sprintf("corr-%d", len(l.evs)+1),
	})
	if err != nil {
		l.tb.Fatal(err)
	}
	return l.raw(e)
}

// raw appends e as it is (for old schema versions and unknown types),
// giving it its revision and position.
func (l *eventLog) raw(e events.Event) events.Event {
	if e.Time.IsZero() {
		e.Time = l.now
	}
	e.Revision = l.revs[e.Stream]
	l.revs[e.Stream]++
	e.Position = uint64(len(l.evs)+1) * 10
	l.evs = append(l.evs, e)
	// Events of one command share a second; the next one is a minute on.
	l.now = l.now.Add(time.Minute)
	return e
}

// last is the position of the latest event.
func (l *eventLog) last() uint64 { return l.evs[len(l.evs)-1].Position }

func streamOfPayload(tb testing.TB, p events.Payload) string {
	tb.Helper()
	switch d := p.(type) {
	case events.CycleOpenedData:
		return events.CycleStream(d.CycleID)
	case events.CycleClosedData:
		return events.CycleStream(d.CycleID)
	case events.UnitRegisteredData:
		return events.UnitStream(d.UnitID)
	case events.UnitRenamedData:
		return events.UnitStream(d.UnitID)
	case events.UnitMovedData:
		return events.UnitStream(d.UnitID)
	case events.UnitRetiredData:
		return events.UnitStream(d.UnitID)
	case events.CommitmentMadeData:
		return events.CommitmentStream(d.CommitmentID)
	case events.CommitmentRevisedData:
		return events.CommitmentStream(d.CommitmentID)
	case events.CommitmentEndedData:
		return events.CommitmentStream(d.CommitmentID)
	case events.CommitmentActivityLoggedData:
		return events.CommitmentStream(d.CommitmentID)
	case events.UserCreatedData:
		return events.UserStream(d.UserID)
	case events.UserRoleGrantedData:
		return events.UserStream(d.UserID)
	case events.UserRoleRevokedData:
		return events.UserStream(d.UserID)
	case events.UserTokenIssuedData:
		return events.UserStream(d.UserID)
	case events.UserTokenRevokedData:
		return events.UserStream(d.UserID)
	}
	if id := itemIDOf(p); id != "" {
		return events.ItemStream(id)
	}
	tb.Fatalf("no stream for %T", p)
	return ""
}

// MustOpenView opens a runner of p in a temporary directory and applies
// the log's events to it.
func MustOpenView(tb testing.TB, p Projection, l *eventLog) *Runner {
	tb.Helper()
	r := MustOpenRunner(tb, p, nil, nil)
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		tb.Fatal(err)
	}
	return r
}

// askView runs one query in-process and returns its data or its error.
func askView(tb testing.TB, r *Runner, op string, req query.Request) (json.RawMessage, *events.Error) {
	tb.Helper()
	resp := Answer(context.Background(), r, op, req, 2*time.Second)
	return resp.Data, resp.Error
}

// mustAsk runs one query that must succeed and decodes its answer.
func mustAsk[T any](tb testing.TB, r *Runner, op string, req query.Request) T {
	tb.Helper()
	data, qerr := askView(tb, r, op, req)
	if qerr != nil {
		tb.Fatalf("%s: %v", op, qerr)
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		tb.Fatalf("%s: decode %s: %v", op, data, err)
	}
	return out
}

// mustFail runs one query that must fail with code and returns the error.
func mustFail(tb testing.TB, r *Runner, op string, req query.Request, code events.Code) *events.Error {
	tb.Helper()
	data, qerr := askView(tb, r, op, req)
	if qerr == nil {
		tb.Fatalf("%s succeeded with %s, want %s", op, data, code)
	}
	if qerr.Code != code {
		tb.Fatalf("%s failed with %v, want code %s", op, qerr, code)
	}
	return qerr
}

// failsOn asserts that err names field.
func failsOn(tb testing.TB, err *events.Error, field string) {
	tb.Helper()
	for _, f := range err.Fields {
		if f.Field == field {
			return
		}
	}
	tb.Fatalf("error %v does not name %q", err, field)
}

func paramsOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var scopeAll = query.Scope{All: true}

func scopeOf(units ...string) query.Scope { return query.Scope{Units: units} }

// orgUnits registers the organisation used by the views' tests:
//
//	jw 城关街道工委
//	├── sq1 东风社区
//	│   └── sq1a 东风社区第一支部
//	└── sq2 西湖社区
func orgUnits(l *eventLog) {
	l.at("2019-01-01 09:00")
	l.add("admin", events.UnitRegisteredData{UnitID: "jw", Name: "城关街道工委", Kind: events.UnitCommittee})
	l.add("admin", events.UnitRegisteredData{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "jw"})
	l.add("admin", events.UnitRegisteredData{UnitID: "sq1a", Name: "东风社区第一支部", Kind: events.UnitBranch, ParentID: "sq1"})
	l.add("admin", events.UnitRegisteredData{UnitID: "sq2", Name: "西湖社区", Kind: events.UnitCommunity, ParentID: "jw"})
}

// commitmentHistory: four commitments over the organisation, revisions,
// an early end and activities (one logged twice).
func commitmentHistory(tb testing.TB) *eventLog {
	l := newEventLog(tb)
	orgUnits(l)
	d := events.MustDate
	l.at("2019-03-01 09:00")
	// c1: 东风社区, at least 2 visits a week from Monday 4 March.
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c1", CycleID: "2019", UnitID: "sq1", Title: "每周走访社区至少2次",
		Activity: "走访", Target: 2, Period: events.PeriodWeek, Start: d("2019-03-04"), End: d("2019-04-28")})
	// c2: 西湖社区, 4 special meetings a month, all year; weekly from 13 February.
	l.add("u2", events.CommitmentMadeData{CommitmentID: "c2", CycleID: "2019", UnitID: "sq2", Title: "每月专题会议4次",
		Activity: "会议", Target: 4, Period: events.PeriodMonth, Start: d("2019-01-01"), End: d("2019-12-31")})
	// c3: a person of the branch, quarterly, another cycle.
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c3", CycleID: "2018", UnitID: "sq1a", PersonID: "zhangsan", PersonName: "张三",
		Title: "每季度为群众办实事3件", Activity: "办实事", Target: 3, Period: events.PeriodQuarter, Start: d("2018-10-01"), End: d("2019-09-30")})
	// c4: 东风社区, weekly, ended early on Wednesday 13 March.
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c4", CycleID: "2019", UnitID: "sq1", Title: "每周开展整改督查1次",
		Activity: "督查", Target: 1, Period: events.PeriodWeek, Start: d("2019-03-04"), End: d("2019-06-30")})

	logAct := func(c, id, day string, n int) {
		l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: c, ActivityID: id, Count: n, OccurredOn: d(day), Note: "入户走访，了解诉求", LoggedBy: "u1"})
	}
	l.at("2019-03-10 20:00")
	logAct("c1", "a1", "2019-03-05", 1)
	logAct("c1", "a2", "2019-03-08", 1)
	logAct("c1", "a2", "2019-03-08", 1) // the same activity again: counts once
	logAct("c4", "a3", "2019-03-06", 1)
	l.at("2019-03-17 20:00")
	logAct("c1", "a4", "2019-03-12", 1) // week 2: 1 of 2, missed
	l.add("u1", events.CommitmentEndedData{CommitmentID: "c4", Reason: "并入月度督查", EndedOn: d("2019-03-13")})
	l.at("2019-03-24 20:00")
	logAct("c1", "a5", "2019-03-18", 3) // week 3: met
	// From Monday 25 March c1 needs 1 a week.
	l.at("2019-03-25 10:00")
	l.add("u1", events.CommitmentRevisedData{CommitmentID: "c1", OldTarget: 2, NewTarget: 1, OldPeriod: events.PeriodWeek,
		NewPeriod: events.PeriodWeek, OldEnd: d("2019-04-28"), NewEnd: d("2019-04-28"), Reason: "人员调整"})
	l.at("2019-03-31 20:00")
	logAct("c1", "a6", "2019-03-27", 1) // week 4: met under the new target
	logAct("c1", "a7", "2019-04-10", 1) // a future week

	// c2: January met (4), then weekly from Wednesday 13 February.
	l.at("2019-01-31 20:00")
	l.add("u2", events.CommitmentActivityLoggedData{CommitmentID: "c2", ActivityID: "b1", Count: 4, OccurredOn: d("2019-01-15"), LoggedBy: "u2"})
	l.at("2019-02-13 10:00")
	l.add("u2", events.CommitmentRevisedData{CommitmentID: "c2", OldTarget: 4, NewTarget: 1, OldPeriod: events.PeriodMonth,
		NewPeriod: events.PeriodWeek, OldEnd: d("2019-12-31"), NewEnd: d("2019-12-31"), Reason: "改为每周"})
	l.at("2019-02-20 20:00")
	l.add("u2", events.CommitmentActivityLoggedData{CommitmentID: "c2", ActivityID: "b2", Count: 1, OccurredOn: d("2019-02-19"), LoggedBy: "u2"})
	return l
}

func TestCommitmentsList(t *testing.T) {
	l := commitmentHistory(t)
	r := MustOpenView(t, Commitments{}, l)
	ids := func(p query.CommitmentPage) string {
		var s []string
		for _, c := range p.Commitments {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name  string
		scope query.Scope
		p     query.CommitmentListParams
		want  string
	}{
		{"everything, by unit then id", scopeAll, query.CommitmentListParams{}, "c1,c4,c3,c2"},
		{"scope is a subtree", scopeOf("sq1"), query.CommitmentListParams{}, "c1,c4,c3"},
		{"scope of a leaf", scopeOf("sq2"), query.CommitmentListParams{}, "c2"},
		{"no scope, nothing", query.Scope{}, query.CommitmentListParams{}, ""},
		{"unit filter within scope", scopeAll, query.CommitmentListParams{UnitID: "sq1a"}, "c3"},
		{"unit filter cannot leave scope", scopeOf("sq2"), query.CommitmentListParams{UnitID: "sq1"}, ""},
		{"cycle", scopeAll, query.CommitmentListParams{CycleID: "2018"}, "c3"},
		{"current period week (c2 became weekly)", scopeAll, query.CommitmentListParams{Period: events.PeriodWeek}, "c1,c4,c2"},
		{"person", scopeAll, query.CommitmentListParams{PersonID: "zhangsan"}, "c3"},
		{"active on 20 March: c4 ended on the 13th", scopeAll, query.CommitmentListParams{ActiveOn: events.MustDate("2019-03-20")}, "c1,c3,c2"},
		{"active on 2019-10-01", scopeAll, query.CommitmentListParams{ActiveOn: events.MustDate("2019-10-01")}, "c2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustAsk[query.CommitmentPage](t, r, "list", query.Request{Scope: tc.scope, Params: paramsOf(tc.p)})
			if ids(got) != tc.want {
				t.Errorf("got %q, want %q", ids(got), tc.want)
			}
		})
	}

	got := mustAsk[query.CommitmentPage](t, r, "list", query.Request{Scope: scopeAll, Params: paramsOf(query.CommitmentListParams{UnitID: "sq1"})})
	c1 := got.Commitments[0]
	if c1.Title != "每周走访社区至少2次" || c1.UnitName != "东风社区" || c1.Activity != "走访" {
		t.Errorf("Chinese text did not round-trip: %+v", c1)
	}
	if c1.Target != 1 || c1.Revisions != 1 || c1.Logged != 8 {
		t.Errorf("c1 target %d revisions %d logged %d, want 1, 1, 8 (a2 counted once)", c1.Target, c1.Revisions, c1.Logged)
	}
	c4 := got.Commitments[1]
	if !c4.Ended || c4.EndedOn != events.MustDate("2019-03-13") || c4.EndReason != "并入月度督查" {
		t.Errorf("c4 = %+v, want ended on 2019-03-13 with its reason", c4)
	}

	// Pages of one cover every commitment exactly once.
	seen := map[string]int{}
	req := query.CommitmentListParams{Limit: 1}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p := mustAsk[query.CommitmentPage](t, r, "list", query.Request{Scope: scopeAll, Params: paramsOf(req)})
		for _, c := range p.Commitments {
			seen[c.ID]++
		}
		if p.NextCursor == "" {
			break
		}
		req.Cursor = p.NextCursor
	}
	if len(seen) != 4 || seen["c1"] != 1 || seen["c2"] != 1 || seen["c3"] != 1 || seen["c4"] != 1 {
		t.Errorf("paging saw %v, want each of c1..c4 once", seen)
	}
}

func TestCommitmentsParamsAreValidated(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	cases := []struct {
		op, params, field string
	}{
		{"list", `{"period":"fortnight"}`, "period"},
		{"list", `{"limit":500}`, "limit"},
		{"list", `{"unit_id":"东风"}`, "unit_id"},
		{"list", `{"cursor":"not-a-cursor"}`, "cursor"},
		{"list", `{"colour":"red"}`, "params"},
		{"list", `{"active_on":"2019-02-30"}`, "params"},
		{"compliance", `{"from":"2019-05-01","to":"2019-04-01"}`, "to"},
		{"compliance", `{"from":"2000-01-01","to":"2019-04-01"}`, "to"},
		{"compliance", `{"period":"day"}`, "period"},
		{"units", `{"sort":"best"}`, "sort"},
	}
	for _, tc := range cases {
		err := mustFail(t, r, tc.op, query.Request{Scope: scopeAll, Params: json.RawMessage(tc.params)}, events.CodeInvalid)
		failsOn(t, err, tc.field)
	}
}

func TestCommitmentComplianceOwnPeriods(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	got := mustAsk[query.Compliance](t, r, "compliance", query.Request{
		Scope: scopeOf("sq1"), Today: events.MustDate("2019-04-03"),
		Params: paramsOf(query.ComplianceParams{CommitmentID: "c1", From: events.MustDate("2019-03-01"), To: events.MustDate("2019-04-14")}),
	})
	if len(got.Commitments) != 1 {
		t.Fatalf("got %d commitments, want c1 only", len(got.Commitments))
	}
	cc := got.Commitments[0]
	type row struct {
		start, end     string
		target, actual int
		status         string
	}
	want := []row{
		{"2019-03-04", "2019-03-10", 2, 2, query.PeriodMet},
		{"2019-03-11", "2019-03-17", 2, 1, query.PeriodMissed},
		{"2019-03-18", "2019-03-24", 2, 3, query.PeriodMet},
		// The revision of 25 March counts from that week on, not before.
		{"2019-03-25", "2019-03-31", 1, 1, query.PeriodMet},
		// The current week is in progress, not missed.
		{"2019-04-01", "2019-04-07", 1, 0, query.PeriodInProgress},
		{"2019-04-08", "2019-04-14", 1, 1, query.PeriodUpcoming},
	}
	if len(cc.Periods) != len(want) {
		t.Fatalf("got %d periods %+v, want %d", len(cc.Periods), cc.Periods, len(want))
	}
	for i, w := range want {
		p := cc.Periods[i]
		if p.Kind != events.PeriodWeek || p.Start.String() != w.start || p.End.String() != w.end ||
			p.Target != w.target || p.Actual != w.actual || p.Status != w.status || p.Scaled {
			t.Errorf("period %d = %+v, want %+v", i, p, w)
		}
	}
	if cc.Met != 3 || cc.Missed != 1 || cc.InProgress != 1 || cc.Rate == nil || *cc.Rate != 0.75 ||
		cc.CurrentStreak != 2 || cc.LongestStreak != 2 {
		t.Errorf("tally = %+v (rate %v), want met 3, missed 1, in progress 1, rate 0.75, streaks 2/2", cc.Tally, cc.Rate)
	}
}

func TestCommitmentComplianceOtherPeriodsScaleTheTarget(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	got := mustAsk[query.Compliance](t, r, "compliance", query.Request{
		Scope: scopeAll, Today: events.MustDate("2019-04-03"),
		Params: paramsOf(query.ComplianceParams{CommitmentID: "c1", Period: events.PeriodMonth,
			From: events.MustDate("2019-03-15"), To: events.MustDate("2019-04-02")}),
	})
	ps := got.Commitments[0].Periods
	if len(ps) != 2 {
		t.Fatalf("got %+v, want March and April", ps)
	}
	// March: 21 days at 2 a week (from the 4th) and 7 at 1 a week = 6 + 1.
	if m := ps[0]; m.Kind != events.PeriodMonth || m.Start.String() != "2019-03-04" || m.End.String() != "2019-03-31" ||
		m.Target != 7 || m.ExactTarget != 7 || m.Actual != 7 || m.Status != query.PeriodMet || !m.Scaled {
		t.Errorf("March = %+v, want 4..31, target 7, actual 7, met, scaled", m)
	}
	// April: 28 days to the end of the commitment at 1 a week.
	if a := ps[1]; a.Start.String() != "2019-04-01" || a.End.String() != "2019-04-28" || a.Target != 4 ||
		a.Actual != 1 || a.Status != query.PeriodInProgress {
		t.Errorf("April = %+v, want 1..28, target 4, actual 1, in progress", a)
	}
}

func TestCommitmentComplianceAfterPeriodChange(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	got := mustAsk[query.Compliance](t, r, "compliance", query.Request{
		Scope: scopeOf("jw"), Today: events.MustDate("2019-03-01"),
		Params: paramsOf(query.ComplianceParams{CommitmentID: "c2", From: events.MustDate("2019-01-01"), To: events.MustDate("2019-02-24")}),
	})
	type row struct {
		kind, start, end string
		target           int
		exact            float64
		scaled           bool
		status           string
	}
	want := []row{
		{"month", "2019-01-01", "2019-01-31", 4, 4, false, query.PeriodMet},
		// February until the revision: 12 of 28 days of 4 a month.
		{"month", "2019-02-01", "2019-02-12", 2, 1.71, true, query.PeriodMissed},
		// The week of the revision, from its Wednesday: 5 days of 1 a week.
		{"week", "2019-02-13", "2019-02-17", 1, 0.71, true, query.PeriodMissed},
		{"week", "2019-02-18", "2019-02-24", 1, 1, false, query.PeriodMet},
	}
	ps := got.Commitments[0].Periods
	if len(ps) != len(want) {
		t.Fatalf("got %+v, want %d periods", ps, len(want))
	}
	for i, w := range want {
		p := ps[i]
		if p.Kind != w.kind || p.Start.String() != w.start || p.End.String() != w.end || p.Target != w.target ||
			p.ExactTarget != w.exact || p.Scaled != w.scaled || p.Status != w.status {
			t.Errorf("period %d = %+v, want %+v", i, p, w)
		}
	}
}

func TestCommitmentComplianceStopsAtTheEnd(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	got := mustAsk[query.Compliance](t, r, "compliance", query.Request{
		Scope: scopeAll, Today: events.MustDate("2019-05-01"),
		Params: paramsOf(query.ComplianceParams{CommitmentID: "c4", From: events.MustDate("2019-03-01"), To: events.MustDate("2019-04-30")}),
	})
	ps := got.Commitments[0].Periods
	// Ended on Wednesday the 13th: the first week, then 3 days of the
	// second (3/7 of 1 rounds to 0: exempt), nothing after.
	if len(ps) != 2 || ps[0].Status != query.PeriodMet || ps[1].End.String() != "2019-03-13" || ps[1].Status != query.PeriodExempt {
		t.Fatalf("periods of the ended c4 = %+v", ps)
	}
}

func TestCommitmentComplianceScope(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	// Another unit's commitment looks absent.
	mustFail(t, r, "compliance", query.Request{Scope: scopeOf("sq1"), Params: paramsOf(query.ComplianceParams{CommitmentID: "c2"})}, events.CodeNotFound)
	mustFail(t, r, "compliance", query.Request{Scope: scopeAll, Params: paramsOf(query.ComplianceParams{CommitmentID: "nope"})}, events.CodeNotFound)
	// A unit subtree lists only what the scope holds, paged.
	seen := []string{}
	p := query.ComplianceParams{From: events.MustDate("2019-03-01"), To: events.MustDate("2019-03-31"), Limit: 2}
	for {
		got := mustAsk[query.Compliance](t, r, "compliance", query.Request{Scope: scopeOf("sq1"), Today: events.MustDate("2019-04-03"), Params: paramsOf(p)})
		for _, c := range got.Commitments {
			seen = append(seen, c.Commitment.ID)
		}
		if got.NextCursor == "" {
			break
		}
		p.Cursor = got.NextCursor
	}
	if strings.Join(seen, ",") != "c1,c4,c3" {
		t.Errorf("compliance pages saw %v, want c1,c4,c3", seen)
	}
}

func TestCommitmentUnits(t *testing.T) {
	r := MustOpenView(t, Commitments{}, commitmentHistory(t))
	req := query.Request{Scope: scopeAll, Today: events.MustDate("2019-04-03"),
		Params: paramsOf(query.CommitmentUnitsParams{From: events.MustDate("2019-03-01"), To: events.MustDate("2019-03-31")})}
	got := mustAsk[query.UnitsCompliance](t, r, "units", req)
	byUnit := map[string]query.UnitCompliance{}
	var order []string
	for _, u := range got.Units {
		byUnit[u.UnitID] = u
		order = append(order, u.UnitID)
	}
	// Tree order: 东风社区 (sq1) before its branch, then 西湖社区 (sq2).
	if strings.Join(order, ",") != "sq1,sq1a,sq2" {
		t.Fatalf("units %v, want sq1,sq1a,sq2", order)
	}
	// sq1: c1 met, missed, met, met; c4 met (week 1), exempt stub. In end
	// order: c1 w1 met, c4 w1 met, c1 w2 missed, c1 w3 met, c1 w4 met.
	if u := byUnit["sq1"]; u.UnitName != "东风社区" || u.Commitments != 2 || u.Met != 4 || u.Missed != 1 ||
		u.CurrentStreak != 2 || u.LongestStreak != 2 || u.Rate == nil || *u.Rate != 0.8 {
		t.Errorf("sq1 = %+v, want 2 commitments, 4 met, 1 missed, streaks 2/2, rate 0.8", u)
	}
	// sq1a: the first quarter of c3 ended on 31 March with nothing logged.
	if u := byUnit["sq1a"]; u.Missed != 1 || u.Met != 0 || u.Rate == nil || *u.Rate != 0 {
		t.Errorf("sq1a = %+v, want Q1 missed", u)
	}
	// sq2: every March week of c2 missed (nothing logged).
	if u := byUnit["sq2"]; u.Met != 0 || u.Missed != 5 || u.CurrentStreak != 0 {
		t.Errorf("sq2 = %+v, want 5 missed weeks", u)
	}

	scoped := mustAsk[query.UnitsCompliance](t, r, "units", query.Request{Scope: scopeOf("sq2"), Today: req.Today, Params: req.Params})
	if len(scoped.Units) != 1 || scoped.Units[0].UnitID != "sq2" {
		t.Errorf("scope sq2 sees %+v, want sq2 only", scoped.Units)
	}
	req.Params = paramsOf(query.CommitmentUnitsParams{From: events.MustDate("2019-03-01"), To: events.MustDate("2019-03-31"), Sort: query.SortRate})
	ranked := mustAsk[query.UnitsCompliance](t, r, "units", req)
	if ranked.Units[0].UnitID != "sq1" {
		t.Errorf("best rate first: got %s first", ranked.Units[0].UnitID)
	}
}

func TestPeriodBounds(t *testing.T) {
	cases := []struct{ kind, day, start, end string }{
		{events.PeriodWeek, "2019-03-06", "2019-03-04", "2019-03-10"},
		{events.PeriodWeek, "2019-03-10", "2019-03-04", "2019-03-10"}, // Sunday ends the ISO week
		{events.PeriodWeek, "2020-01-01", "2019-12-30", "2020-01-05"},
		{events.PeriodMonth, "2020-02-15", "2020-02-01", "2020-02-29"},
		{events.PeriodQuarter, "2019-11-30", "2019-10-01", "2019-12-31"},
		{events.PeriodQuarter, "1960-02-01", "1960-01-01", "1960-03-31"},
	}
	for _, tc := range cases {
		s, e := periodBounds(tc.kind, dayOf(events.MustDate(tc.day)))
		if dateOfDay(s).String() != tc.start || dateOfDay(e).String() != tc.end {
			t.Errorf("%s of %s = %s..%s, want %s..%s", tc.kind, tc.day, dateOfDay(s), dateOfDay(e), tc.start, tc.end)
		}
	}
}

func TestCommitmentsRedeliveryAndRebuildKeepTheDigest(t *testing.T) {
	l := commitmentHistory(t)
	// c5: an activity logged before the commitment was made (kept, not
	// counted), the commitment made twice, an activity logged twice.
	d := events.MustDate
	l.at("2019-05-01 09:00")
	l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: "c5", ActivityID: "e0", Count: 5, OccurredOn: d("2019-04-30"), LoggedBy: "u1"})
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c5", CycleID: "2019", UnitID: "sq2", Title: "每月入户10次",
		Activity: "入户", Target: 10, Period: events.PeriodMonth, Start: d("2019-05-01"), End: d("2019-12-31")})
	l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: "c5", ActivityID: "e1", Count: 2, OccurredOn: d("2019-05-01"), LoggedBy: "u1"})
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c5", CycleID: "2019", UnitID: "sq2", Title: "每月入户12次",
		Activity: "入户", Target: 12, Period: events.PeriodMonth, Start: d("2019-05-01"), End: d("2019-12-31")})
	l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: "c5", ActivityID: "e1", Count: 2, OccurredOn: d("2019-05-01"), LoggedBy: "u1"})
	l.add("u1", events.CommitmentActivityLoggedData{CommitmentID: "c5", Count: 3, OccurredOn: d("2019-05-02"), LoggedBy: "u1"})
	ctx := context.Background()
	once := MustOpenView(t, Commitments{}, l)
	want, err := once.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Event by event, then everything again.
	r := MustOpenRunner(t, Commitments{}, nil, nil)
	ds := deliveries(l.evs)
	for i := range ds {
		if err := r.Apply(ctx, ds[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("digest after redelivery %s, want %s", got, want)
	}
	// Rebuilt in bulk from a source, in batches of several sizes.
	for _, n := range []int{1, 3} {
		withRebuildBatch(t, n)
		if got, err := mustRebuild(t, Commitments{}, l.evs).Digest(ctx); err != nil || got != want {
			t.Errorf("digest after a rebuild %d events at a time %s (%v), want %s", n, got, err, want)
		}
	}
	withRebuildBatch(t, 1000)
	rb := mustRebuild(t, Commitments{}, l.evs)
	if got, err := rb.Digest(ctx); err != nil || got != want {
		t.Errorf("digest after rebuild %s (%v), want %s", got, err, want)
	}
	page := mustAsk[query.CommitmentPage](t, rb, "list", query.Request{Scope: scopeAll, Params: paramsOf(query.CommitmentListParams{UnitID: "sq2"})})
	i := slices.IndexFunc(page.Commitments, func(c query.Commitment) bool { return c.ID == "c5" })
	if i < 0 {
		t.Fatalf("rebuilt: no c5 in %+v", page.Commitments)
	}
	if c := page.Commitments[i]; c.Logged != 5 || c.Target != 12 || c.Position != l.last() {
		t.Errorf("rebuilt c5: logged %d, target %d, position %d; want 5, 12, %d", c.Logged, c.Target, c.Position, l.last())
	}
}

func BenchmarkCommitmentsRebuild(b *testing.B) { benchmarkRebuild(b, Commitments{}, 200_000) }

// FuzzViewParams feeds arbitrary params and cursors to the decoders of the
// commitments, audit and as-of queries: each either accepts them or says
// CodeInvalid, and never panics.
func FuzzViewParams(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"period":"week","from":"2019-01-01","to":"2019-12-31"}`, `{"cursor":"WyJzcTEiLCJjMSJd"}`,
		`{"types":["rectify.item.raised"],"from":"2019-06-01T00:00:00Z"}`, `{"stream":"item-i1","limit":3}`,
		`{"kind":"unit","id":"sq1"}`, `{"item_id":"i1","yellow_days":3}`, `{"limit":1e400}`, `[1,2]`, `{"a":1}{"b":2}`,
	} {
		f.Add(s)
	}
	targets := []func() any{
		func() any { return &query.CommitmentListParams{} },
		func() any { return &query.ComplianceParams{} },
		func() any { return &query.CommitmentUnitsParams{} },
		func() any { return &query.TimelineParams{} },
		func() any { return &query.FeedParams{} },
		func() any { return &query.AsOfItemParams{} },
		func() any { return &query.AsOfLedgerParams{} },
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, mk := range targets {
			p := mk()
			if err := parseParams(json.RawMessage(raw), p); err != nil && events.ErrorCode(err) != events.CodeInvalid {
				t.Fatalf("%T from %q: %v, want nil or invalid", p, raw, err)
			}
		}
		for n := 1; n <= 4; n++ {
			if _, err := readCursor(raw, n); err != nil && events.ErrorCode(err) != events.CodeInvalid {
				t.Fatalf("cursor %q: %v", raw, err)
			}
		}
	})
}

// BenchmarkCommitmentQueries measures the compliance of every unit (400
// weekly commitments over 199 units, a year) and of one commitment.
func BenchmarkCommitmentQueries(b *testing.B) {
	r := MustOpenRunner(b, Commitments{}, nil, nil)
	ds := deliveries(mixedHistory(b, 200_000))
	for j := 0; j < len(ds); j += rebuildBatch {
		if err := r.Apply(context.Background(), ds[j:min(j+rebuildBatch, len(ds))]); err != nil {
			b.Fatal(err)
		}
	}
	year := query.CommitmentUnitsParams{From: events.MustDate("2019-01-01"), To: events.MustDate("2019-12-31")}
	for _, bc := range []struct {
		op string
		p  any
	}{
		{"units", year},
		{"compliance", query.ComplianceParams{CommitmentID: "c7", From: year.From, To: year.To}},
		{"list", query.CommitmentListParams{}},
	} {
		b.Run(bc.op, func(b *testing.B) {
			req := query.Request{Scope: scopeAll, Today: events.MustDate("2019-07-01"), Params: paramsOf(bc.p)}
			for i := 0; i < b.N; i++ {
				if resp := Answer(context.Background(), r, bc.op, req, time.Second); resp.Error != nil {
					b.Fatal(resp.Error)
				}
			}
		})
	}
}
