package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// asmAdd appends an event of payload p on stream (rule sets and
// publications, which streamOfPayload does not know).
func asmAdd(l *eventLog, stream, actor string, p events.Payload) events.Event {
	l.tb.Helper()
	e, err := events.New(p, events.Meta{ID: fmt.Sprintf("ev-%d", len(l.evs)+1), Stream: stream, Actor: actor, Time: l.now,
		CorrelationID: fmt.Sprintf("corr-%d", len(l.evs)+1)})
	if err != nil {
		l.tb.Fatal(err)
	}
	return l.raw(e)
}

// assessmentHistory: the test organisation in March 2019, with items
// closed on time and late, overdue, reopened, withdrawn and with a moved
// deadline, a weekly commitment of 西湖社区, and rule set r1 published as
// version 1 with the default weights.
//
//	unit  item  deadline    in March
//	sq1   i1    2019-03-20  closed 03-15 (on time)
//	sq1   i2    2019-03-10  closed 03-25 (late)
//	sq1   i6    2019-03-31  deadline moved 03-20 to 05-31, progress reported
//	sq2   i3    2019-03-05  open: overdue at the end of March
//	sq2   i4    2019-04-30  closed 03-12, reopened 03-18
//	sq1a  i5    2019-02-28  withdrawn 03-02 (overdue at the end of February)
//
// c1 (sq2): one visit a week, 4 to 31 March; visits on 03-05 and 03-12, so
// weeks 1 and 2 met, weeks 3 and 4 missed.
func assessmentHistory(tb testing.TB) *eventLog {
	l := newEventLog(tb)
	orgUnits(l)
	d := events.MustDate
	raise := func(id, unit, title, deadline string) {
		l.add("u1", events.ItemRaisedData{ItemID: id, CycleID: "2019", UnitID: unit, Title: title, Deadline: d(deadline)})
	}
	l.at("2019-02-10 09:00")
	raise("i1", "sq1", "党员走访不到位", "2019-03-20")
	raise("i2", "sq1", "“三会一课”记录缺失", "2019-03-10")
	raise("i6", "sq1", "网格员队伍不稳定", "2019-03-31")
	raise("i3", "sq2", "办事大厅服务效率低", "2019-03-05")
	raise("i4", "sq2", "环境卫生死角", "2019-04-30")
	raise("i5", "sq1a", "支部台账不规范", "2019-02-28")
	l.at("2019-03-01 09:00")
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c1", CycleID: "2019", UnitID: "sq2", Title: "每周走访居民至少1次",
		Activity: "走访", Target: 1, Period: events.PeriodWeek, Start: d("2019-03-04"), End: d("2019-03-31")})
	l.at("2019-03-02 10:00")
	l.add("admin", events.ItemWithdrawnData{ItemID: "i5", Reason: "重复事项"})
	l.at("2019-03-06 20:00")
	l.add("u2", events.CommitmentActivityLoggedData{CommitmentID: "c1", ActivityID: "a1", Count: 1, OccurredOn: d("2019-03-05"), LoggedBy: "u2"})
	l.at("2019-03-12 16:00")
	l.add("rev", events.ItemVerifiedData{ItemID: "i4", ReviewerID: "rev", Note: "同意销号"})
	l.add("u2", events.CommitmentActivityLoggedData{CommitmentID: "c1", ActivityID: "a2", Count: 1, OccurredOn: d("2019-03-12"), LoggedBy: "u2"})
	l.at("2019-03-15 11:00")
	l.add("rev", events.ItemVerifiedData{ItemID: "i1", ReviewerID: "rev"})
	l.at("2019-03-18 09:00")
	l.add("rev", events.ItemReopenedData{ItemID: "i4", Reason: "群众反映问题复发"})
	l.at("2019-03-20 10:00")
	l.add("admin", events.ItemDeadlineChangedData{ItemID: "i6", OldDeadline: d("2019-03-31"), NewDeadline: d("2019-05-31"), Reason: "人员调整，延期"})
	l.add("u1", events.ItemProgressReportedData{ItemID: "i6", Percent: 40, OldPercent: 0, Note: "已招聘两名网格员"})
	l.at("2019-03-25 15:00")
	l.add("rev", events.ItemVerifiedData{ItemID: "i2", ReviewerID: "rev"})
	l.at("2019-04-01 09:00")
	asmAdd(l, events.RulesetStream("r1"), "admin", events.RulesetDraftedData{RulesetID: "r1", Name: "2019年月度考核细则", Rules: events.DefaultScoringRules()})
	asmAdd(l, events.RulesetStream("r1"), "admin", events.RulesetPublishedData{RulesetID: "r1", Version: 1, Name: "2019年月度考核细则", Rules: events.DefaultScoringRules(), Note: "工委会议通过"})
	return l
}

// asmReq is a request for the whole organisation, today being 10 April
// 2019, with params.
func asmReq(params any) query.Request {
	return query.Request{Scope: scopeAll, Today: events.MustDate("2019-04-10"), Params: paramsOf(params)}
}

func unitLine(tb testing.TB, res query.AssessmentResult, unit string) query.UnitAssessment {
	tb.Helper()
	for _, u := range res.Units {
		if u.UnitID == unit {
			return u
		}
	}
	tb.Fatalf("no line of %s in %+v", unit, res.Units)
	return query.UnitAssessment{}
}

func TestAssessmentMonthlyScoresWithBreakdown(t *testing.T) {
	l := assessmentHistory(t)
	r := MustOpenView(t, Assessments{}, l)
	res := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-09")}))
	if res.PeriodStart.String() != "2019-03-01" || res.PeriodEnd.String() != "2019-03-31" || !res.Complete || res.Through != res.PeriodEnd {
		t.Fatalf("period %s..%s through %s complete %v", res.PeriodStart, res.PeriodEnd, res.Through, res.Complete)
	}
	if res.Ruleset.ID != "r1" || res.Ruleset.Version != 1 || res.Position != l.last() || len(res.Digest) != 64 {
		t.Fatalf("ruleset %+v position %d digest %q", res.Ruleset, res.Position, res.Digest)
	}
	var order []string
	for _, u := range res.Units {
		order = append(order, u.UnitID)
	}
	if fmt.Sprint(order) != "[jw sq1 sq1a sq2]" {
		t.Fatalf("units in order %v, want tree order", order)
	}
	tests := []struct {
		unit   string
		counts query.AssessmentCounts
		score  float64
		rank   int
		move   int
	}{
		{"jw", query.AssessmentCounts{}, 100, 1, 0},
		{"sq1", query.AssessmentCounts{ItemsClosed: 2, ItemsOnTime: 1, ProgressReports: 1, DeadlinesChanged: 1}, 105, 1, 0},
		{"sq2", query.AssessmentCounts{ItemsClosed: 1, ItemsOnTime: 1, ItemsOverdue: 1, ItemsReopened: 1, PeriodsMet: 2, PeriodsMissed: 2}, 96, 2, -1},
		{"sq1a", query.AssessmentCounts{}, 100, 1, 0},
	}
	for _, tc := range tests {
		u := unitLine(t, res, tc.unit)
		if u.Counts != tc.counts || u.Score != tc.score || u.Own != tc.score || u.Rank != tc.rank || u.Movement == nil || *u.Movement != tc.move {
			t.Errorf("%s: counts %+v score %v own %v rank %d movement %v, want %+v %v rank %d movement %d",
				tc.unit, u.Counts, u.Score, u.Own, u.Rank, u.Movement, tc.counts, tc.score, tc.rank, tc.move)
		}
	}
	// 西湖社区: 100 + 2 closed + 1 on time - 2 overdue - 3 reopened + 2 met - 4 missed.
	want := query.ScoreBreakdown{Base: 100, ItemClosed: 2, ItemOnTime: 1, ItemOverdue: -2, ItemReopened: -3, PeriodMet: 2, PeriodMissed: -4}
	if b := unitLine(t, res, "sq2").Breakdown; b != want {
		t.Errorf("sq2 breakdown %+v, want %+v", b, want)
	}
	// February: the withdrawn item was still open and overdue at its end.
	feb := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-02-01")}))
	if u := unitLine(t, feb, "sq1a"); u.Counts.ItemsOverdue != 1 || u.Score != 98 || u.Counts.ItemsRaised != 1 {
		t.Errorf("February sq1a %+v", u)
	}
	// The default period is the last month that ended before today.
	def := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{}))
	if def.Digest != res.Digest {
		t.Errorf("default period %s, want March", def.PeriodStart)
	}
}

func TestAssessmentWeeklyAndRunningPeriods(t *testing.T) {
	l := assessmentHistory(t)
	r := MustOpenView(t, Assessments{}, l)
	week := mustAsk[query.AssessmentResult](t, r, "weekly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-13")}))
	if week.PeriodStart.String() != "2019-03-11" || week.PeriodEnd.String() != "2019-03-17" {
		t.Fatalf("week %s..%s", week.PeriodStart, week.PeriodEnd)
	}
	if c := unitLine(t, week, "sq2").Counts; c != (query.AssessmentCounts{ItemsClosed: 1, ItemsOnTime: 1, ItemsOverdue: 1, PeriodsMet: 1}) {
		t.Errorf("sq2 week of 11 March: %+v", c)
	}
	if c := unitLine(t, week, "sq1").Counts; c != (query.AssessmentCounts{ItemsClosed: 1, ItemsOnTime: 1, ItemsOverdue: 1}) {
		t.Errorf("sq1 week of 11 March: %+v (i2 was due on the 10th)", c)
	}
	// On 20 March the month runs: facts of the day count, weeks that
	// ended before it count, overdue means before today.
	req := asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")})
	req.Today = events.MustDate("2019-03-20")
	run := mustAsk[query.AssessmentResult](t, r, "monthly", req)
	if run.Complete || run.Through.String() != "2019-03-20" {
		t.Fatalf("running month: complete %v through %s", run.Complete, run.Through)
	}
	if c := unitLine(t, run, "sq2").Counts; c.PeriodsMet != 2 || c.PeriodsMissed != 0 || c.ItemsOverdue != 1 || c.ItemsReopened != 1 {
		t.Errorf("sq2 on 20 March: %+v", c)
	}
	if c := unitLine(t, run, "sq1").Counts; c.ItemsClosed != 1 || c.ItemsOverdue != 1 || c.DeadlinesChanged != 1 {
		t.Errorf("sq1 on 20 March: %+v", c)
	}
	req.Params = paramsOf(query.AssessmentParams{Period: events.MustDate("2019-05-01")})
	failsOn(t, mustFail(t, r, "monthly", req, events.CodeInvalid), "period")
}

func TestAssessmentRulesetVersionsAndPreview(t *testing.T) {
	l := assessmentHistory(t)
	v1 := l.last()
	r1 := events.RulesetStream("r1")
	sum := events.DefaultScoringRules()
	sum.ItemClosed, sum.Rollup = 3, events.RollupSum
	l.at("2019-04-02 09:00")
	asmAdd(l, r1, "admin", events.RulesetRevisedData{RulesetID: "r1", OldName: "2019年月度考核细则", NewName: "2019年月度考核细则（修订）",
		OldRules: events.DefaultScoringRules(), NewRules: sum, Reason: "加大销号权重"})
	draft := l.last()
	r := MustOpenView(t, Assessments{}, l)
	ctx := context.Background()
	before, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A preview of the draft: sums the subtree, 3 points a closure.
	pre := mustAsk[query.AssessmentResult](t, r, "preview", asmReq(query.PreviewParams{Kind: events.PeriodMonth, Period: events.MustDate("2019-03-01"), RulesetID: "r1"}))
	if pre.Ruleset.Version != 0 || pre.Ruleset.Rules != sum {
		t.Fatalf("preview ruleset %+v", pre.Ruleset)
	}
	// sq1 own 100+6+1 = 107 plus sq1a 100; jw 100 + 207 + sq2 (100+3+1-2-3+2-4 = 97).
	for unit, want := range map[string]float64{"sq1": 207, "jw": 404, "sq2": 97} {
		if u := unitLine(t, pre, unit); u.Score != want {
			t.Errorf("preview %s score %v, want %v", unit, u.Score, want)
		}
	}
	// Previewing wrote nothing; the published rules still score.
	if after, _ := r.Digest(ctx); after != before {
		t.Fatal("a preview changed the view")
	}
	pub := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")}))
	if pub.Ruleset.Version != 1 || unitLine(t, pub, "sq1").Score != 105 {
		t.Fatalf("published v1 after a draft revision: %+v", pub.Ruleset)
	}

	// Version 2 is published: results name it; version 1 stays asked for.
	l.at("2019-04-03 09:00")
	asmAdd(l, r1, "admin", events.RulesetPublishedData{RulesetID: "r1", Version: 2, Name: "2019年月度考核细则（修订）", Rules: sum})
	if err := r.Apply(ctx, deliveries(l.evs[len(l.evs)-1:])); err != nil {
		t.Fatal(err)
	}
	latest := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")}))
	old := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01"), RulesetID: "r1", Version: 1}))
	if latest.Ruleset.Version != 2 || unitLine(t, latest, "sq1").Score != 207 || old.Ruleset.Version != 1 || old.Digest != pub.Digest {
		t.Fatalf("latest v%d sq1 %v; v1 v%d digest equal %v", latest.Ruleset.Version, unitLine(t, latest, "sq1").Score, old.Ruleset.Version, old.Digest == pub.Digest)
	}
	// As of a position before version 2, version 1 was the latest.
	asOf := asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")})
	asOf.AsOf = query.AsOf{Position: draft}
	if res := mustAsk[query.AssessmentResult](t, r, "monthly", asOf); res.Ruleset.Version != 1 || res.Digest != pub.Digest || res.Position != draft {
		t.Fatalf("as of %d: v%d position %d", draft, res.Ruleset.Version, res.Position)
	}
	sets := mustAsk[query.Rulesets](t, r, "rulesets", asmReq(nil))
	if len(sets.Rulesets) != 1 || len(sets.Rulesets[0].Versions) != 2 || sets.Rulesets[0].Dirty || sets.Rulesets[0].Name != "2019年月度考核细则（修订）" {
		t.Fatalf("rulesets %+v", sets)
	}
	asOf = asmReq(nil)
	asOf.AsOf = query.AsOf{Position: v1}
	if sets := mustAsk[query.Rulesets](t, r, "rulesets", asOf); len(sets.Rulesets[0].Versions) != 1 || sets.Rulesets[0].Dirty {
		t.Fatalf("rulesets as of version 1: %+v", sets)
	}
	// Errors name what is wrong.
	mustFail(t, r, "monthly", asmReq(query.AssessmentParams{RulesetID: "r1", Version: 3}), events.CodeNotFound)
	mustFail(t, r, "preview", asmReq(query.PreviewParams{Kind: events.PeriodMonth, RulesetID: "nope"}), events.CodeNotFound)
	failsOn(t, mustFail(t, r, "preview", asmReq(query.PreviewParams{Kind: "year", RulesetID: "r1"}), events.CodeInvalid), "kind")
	failsOn(t, mustFail(t, r, "monthly", asmReq(query.AssessmentParams{Version: 2}), events.CodeInvalid), "version")
}

func TestAssessmentRollupAverage(t *testing.T) {
	l := assessmentHistory(t)
	avg := events.DefaultScoringRules()
	avg.Rollup = events.RollupAverage
	asmAdd(l, events.RulesetStream("r1"), "admin", events.RulesetRevisedData{RulesetID: "r1", OldName: "2019年月度考核细则", NewName: "2019年月度考核细则",
		OldRules: events.DefaultScoringRules(), NewRules: avg, Reason: "按平均汇总"})
	r := MustOpenView(t, Assessments{}, l)
	pre := mustAsk[query.AssessmentResult](t, r, "preview", asmReq(query.PreviewParams{Kind: events.PeriodMonth, Period: events.MustDate("2019-03-31"), RulesetID: "r1"}))
	// sq1: (105 + 100) / 2; jw: (100 + 102.5 + 96) / 3 = 99.5.
	for unit, want := range map[string]float64{"sq1": 102.5, "jw": 99.5, "sq2": 96, "sq1a": 100} {
		if u := unitLine(t, pre, unit); u.Score != want {
			t.Errorf("%s score %v, want %v", unit, u.Score, want)
		}
	}
}

// publish records a publication of the March assessment computed from
// the view as it stands, as assessment.publish would after the gateway
// asked the view.
func publish(tb testing.TB, l *eventLog, r *Runner, version int, note string) query.AssessmentResult {
	tb.Helper()
	res := mustAsk[query.AssessmentResult](tb, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")}))
	start := events.MustDate("2019-03-01")
	asmAdd(l, events.AssessmentStream(events.PeriodMonth, start), "admin", events.AssessmentPublishedData{
		AssessmentID: events.AssessmentID(events.PeriodMonth, start), Kind: events.PeriodMonth, PeriodStart: start,
		PeriodEnd: events.MustDate("2019-03-31"), Version: version, RulesetID: res.Ruleset.ID, RulesetVersion: res.Ruleset.Version,
		Position: res.Position, Digest: res.Digest, Note: note,
	})
	if err := r.Apply(context.Background(), deliveries(l.evs)); err != nil {
		tb.Fatal(err)
	}
	return res
}

func TestAssessmentPublicationsAreReproducibleAndCorrectionsSideBySide(t *testing.T) {
	l := assessmentHistory(t)
	r := MustOpenView(t, Assessments{}, l)
	ctx := context.Background()
	l.at("2019-04-05 10:00")
	reported := publish(t, l, r, 1, "")
	// A visit of 27 March is logged late: week 4 of c1 was met after all.
	l.at("2019-04-15 09:00")
	l.add("u2", events.CommitmentActivityLoggedData{CommitmentID: "c1", ActivityID: "a3", Count: 1, OccurredOn: events.MustDate("2019-03-27"), LoggedBy: "u2", Note: "补录"})
	if err := r.Apply(ctx, deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	corrected := publish(t, l, r, 2, "补录3月27日走访记录后更正")
	if corrected.Digest == reported.Digest {
		t.Fatal("the late activity did not change the result")
	}

	got := mustAsk[query.Published](t, r, "published", asmReq(query.PublishedParams{Kind: events.PeriodMonth, Period: events.MustDate("2019-03-18")}))
	if len(got.Versions) != 2 {
		t.Fatalf("%d versions, want 2", len(got.Versions))
	}
	asReported, asCorrected := got.Versions[0], got.Versions[1]
	for i, v := range got.Versions {
		want := []query.AssessmentResult{reported, corrected}[i]
		if !v.Reproduced || v.Digest != want.Digest || v.Result.Digest != want.Digest || v.Position != want.Position || v.Version != i+1 {
			t.Errorf("version %d: reproduced %v digest %s (want %s) position %d", v.Version, v.Reproduced, v.Result.Digest, want.Digest, v.Position)
		}
	}
	if a, c := unitLine(t, asReported.Result, "sq2"), unitLine(t, asCorrected.Result, "sq2"); a.Score != 96 || c.Score != 99 || a.Counts.PeriodsMissed != 2 || c.Counts.PeriodsMissed != 1 {
		t.Errorf("sq2 as reported %v (%+v), as corrected %v (%+v)", a.Score, a.Counts, c.Score, c.Counts)
	}
	if asCorrected.Note == "" || asCorrected.PublishedBy != "admin" {
		t.Errorf("correction %+v", asCorrected.Publication)
	}

	// Recomputing from the recorded position and version gives the same
	// digest, now and after a rebuild.
	again := asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01"), RulesetID: "r1", Version: 1})
	again.AsOf = query.AsOf{Position: reported.Position}
	if res := mustAsk[query.AssessmentResult](t, r, "monthly", again); res.Digest != reported.Digest {
		t.Fatalf("recomputed as of %d: digest %s, published %s", reported.Position, res.Digest, reported.Digest)
	}
	// As of the time before the late logging, too.
	again.AsOf = query.AsOf{Time: time.Date(2019, 4, 10, 0, 0, 0, 0, chinaZone)}
	if res := mustAsk[query.AssessmentResult](t, r, "monthly", again); res.Digest != reported.Digest {
		t.Fatalf("recomputed as of 10 April: digest %s, published %s", res.Digest, reported.Digest)
	}
	rebuilt := MustOpenView(t, Assessments{}, l)
	want, _ := r.Digest(ctx)
	if got, _ := rebuilt.Digest(ctx); got != want {
		t.Fatalf("rebuilt view digest %s, incremental %s", got, want)
	}

	pubs := mustAsk[query.PublicationsPage](t, r, "publications", asmReq(query.PublicationsParams{Kind: events.PeriodMonth}))
	if len(pubs.Publications) != 2 || pubs.Publications[0].Version != 2 {
		t.Fatalf("publications %+v", pubs)
	}
	page := mustAsk[query.PublicationsPage](t, r, "publications", asmReq(query.PublicationsParams{Limit: 1}))
	next := mustAsk[query.PublicationsPage](t, r, "publications", asmReq(query.PublicationsParams{Limit: 1, Cursor: page.NextCursor}))
	if page.NextCursor == "" || len(next.Publications) != 1 || next.Publications[0].Version != 1 {
		t.Fatalf("paging: %+v then %+v", page, next)
	}
	// As of before the correction, only what was reported.
	before := asmReq(query.PublishedParams{Kind: events.PeriodMonth, Period: events.MustDate("2019-03-01")})
	before.AsOf = query.AsOf{Position: corrected.Position}
	if got := mustAsk[query.Published](t, r, "published", before); len(got.Versions) != 1 {
		t.Fatalf("as of the correction's computation: %d versions", len(got.Versions))
	}
}

func TestAssessmentPublicationWithAWrongDigestIsNotReproduced(t *testing.T) {
	l := assessmentHistory(t)
	start := events.MustDate("2019-03-01")
	asmAdd(l, events.AssessmentStream(events.PeriodMonth, start), "admin", events.AssessmentPublishedData{
		AssessmentID: events.AssessmentID(events.PeriodMonth, start), Kind: events.PeriodMonth, PeriodStart: start,
		PeriodEnd: events.MustDate("2019-03-31"), Version: 1, RulesetID: "r1", RulesetVersion: 1, Position: l.last(),
		Digest: "00000000000000000000000000000000000000000000000000000000000000ff",
	})
	r := MustOpenView(t, Assessments{}, l)
	got := mustAsk[query.Published](t, r, "published", asmReq(query.PublishedParams{Kind: events.PeriodMonth, Period: start}))
	if len(got.Versions) != 1 || got.Versions[0].Reproduced || len(got.Versions[0].Result.Units) != 4 {
		t.Fatalf("%+v", got)
	}
}

func TestAssessmentScope(t *testing.T) {
	l := assessmentHistory(t)
	l.at("2019-04-05 10:00")
	r := MustOpenView(t, Assessments{}, l)
	all := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")}))
	publish(t, l, r, 1, "")
	for _, tc := range []struct {
		scope query.Scope
		unit  string
		want  string
	}{
		{scopeOf("sq1"), "", "[sq1 sq1a]"},
		{scopeOf("sq2", "sq1a"), "", "[sq1a sq2]"},
		{scopeAll, "sq1", "[sq1 sq1a]"},
		{scopeOf("sq2"), "sq1", "[]"},
		{scopeOf(), "", "[]"},
	} {
		req := asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01"), UnitID: tc.unit})
		req.Scope = tc.scope
		res := mustAsk[query.AssessmentResult](t, r, "monthly", req)
		var ids []string
		for _, u := range res.Units {
			ids = append(ids, u.UnitID)
			// Ranks and the digest are the whole organisation's.
			if u.Rank != unitLine(t, all, u.UnitID).Rank {
				t.Errorf("%v: rank of %s %d", tc.scope, u.UnitID, u.Rank)
			}
		}
		if got := fmt.Sprint(ids); got != tc.want && !(tc.want == "[]" && ids == nil) {
			t.Errorf("scope %v unit %q: units %v, want %s", tc.scope, tc.unit, ids, tc.want)
		}
		if res.Digest != all.Digest {
			t.Errorf("scope %v: digest differs", tc.scope)
		}
		preq := asmReq(query.PublishedParams{Kind: events.PeriodMonth, Period: events.MustDate("2019-03-01"), UnitID: tc.unit})
		preq.Scope = tc.scope
		pub := mustAsk[query.Published](t, r, "published", preq)
		if n := len(pub.Versions[0].Result.Units); n != len(ids) {
			t.Errorf("scope %v: published rows %d, want %d", tc.scope, n, len(ids))
		}
	}
}

func TestAssessmentUnitsAsTheyStood(t *testing.T) {
	l := assessmentHistory(t)
	// A unit registered in April takes part in March (registering is
	// recording); one retired in February does not; a rename shows in
	// results as of after it only.
	l.at("2019-04-03 09:00")
	l.add("admin", events.UnitRegisteredData{UnitID: "sq3", Name: "南山社区", Kind: events.UnitCommunity, ParentID: "jw"})
	renamed := l.add("admin", events.UnitRenamedData{UnitID: "sq1", OldName: "东风社区", NewName: "东风社区居委会"})
	l.at("2019-02-20 09:00")
	l.add("admin", events.UnitRetiredData{UnitID: "sq1a", Reason: "撤并"})
	r := MustOpenView(t, Assessments{}, l)
	res := mustAsk[query.AssessmentResult](t, r, "monthly", asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")}))
	var ids []string
	for _, u := range res.Units {
		ids = append(ids, u.UnitID)
	}
	if fmt.Sprint(ids) != "[jw sq1 sq3 sq2]" || unitLine(t, res, "sq1").UnitName != "东风社区居委会" {
		t.Fatalf("units %v (%s)", ids, unitLine(t, res, "sq1").UnitName)
	}
	req := asmReq(query.AssessmentParams{Period: events.MustDate("2019-03-01")})
	req.AsOf = query.AsOf{Position: renamed.Position - 1}
	if u := unitLine(t, mustAsk[query.AssessmentResult](t, r, "monthly", req), "sq1"); u.UnitName != "东风社区" {
		t.Fatalf("as of before the rename: %q", u.UnitName)
	}
	req.AsOf = query.AsOf{Position: l.last() + 1}
	mustFail(t, r, "monthly", req, events.CodeUnavailable)
}

func TestAssessmentsRedeliveryAndRebuildKeepTheDigest(t *testing.T) {
	l := assessmentHistory(t)
	l.at("2019-04-05 10:00")
	ctx := context.Background()
	live := MustOpenView(t, Assessments{}, l)
	publish(t, l, live, 1, "")
	// Facts after the publication, of items it counted (a rebuild's bulk
	// load has written those items' latest facts for it, and must now
	// update them) and of a new one; then a corrected publication.
	l.at("2019-04-08 09:00")
	l.add("rev", events.ItemVerifiedData{ItemID: "i3", ReviewerID: "rev", Note: "逾期完成"})
	l.add("u1", events.ItemProgressReportedData{ItemID: "i6", Percent: 80, OldPercent: 40, Note: "网格员已到岗"})
	l.add("u1", events.ItemRaisedData{ItemID: "i7", CycleID: "2019", UnitID: "sq2", Title: "停车秩序混乱", Deadline: events.MustDate("2019-05-15")})
	l.add("admin", events.ItemDeadlineChangedData{ItemID: "i7", OldDeadline: events.MustDate("2019-05-15"), NewDeadline: events.MustDate("2019-06-15"), Reason: "协调交警"})
	if err := live.Apply(ctx, deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	l.at("2019-04-09 10:00")
	publish(t, l, live, 2, "更正")
	want, err := live.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Event by event, then everything again.
	r := MustOpenRunner(t, Assessments{}, nil, nil)
	ds := deliveries(l.evs)
	for i := range ds {
		if err := r.Apply(ctx, ds[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Digest(ctx); got != want {
		t.Errorf("digest event by event %s, want %s", got, want)
	}
	// A rebuild from the source beside the live view.
	src := MustOpenRunner(t, Assessments{}, sliceSource(l.evs), nil)
	if _, err := src.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := src.Digest(ctx); got != want {
		t.Errorf("digest after rebuild %s, want %s", got, want)
	}
}

func BenchmarkAssessmentsRebuild(b *testing.B) { benchmarkRebuild(b, Assessments{}, 200_000) }
