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

// auditHistory is a year of one organisation: users, three items (one
// reassigned between communities, one whose deadline moved twice, once by
// an old version 1 event), a commitment revised, a unit renamed, and an
// event of a type this build does not know.
func auditHistory(tb testing.TB) *eventLog {
	l := newEventLog(tb)
	d := events.MustDate
	orgUnits(l)
	l.add("admin", events.CycleOpenedData{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview,
		Start: d("2019-01-01"), End: d("2019-12-31")})
	l.add("admin", events.UserCreatedData{UserID: "u1", Name: "李明"})
	l.add("admin", events.UserRoleGrantedData{UserID: "u1", Role: events.RoleEditor, UnitID: "sq1"})
	l.add("admin", events.UserTokenIssuedData{UserID: "u1", TokenID: "t1", SHA256: strings.Repeat("a", 64)})
	l.add("admin", events.UserCreatedData{UserID: "u2", Name: "赵强"})

	l.at("2019-03-01 10:00")
	l.add("u1", events.ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "sq1", Title: "整改：党员活动室台账不规范",
		Category: "组织建设", Deadline: d("2019-06-30")})
	l.add("u1", events.ItemAssignedData{ItemID: "i1", UnitID: "sq1", OwnerID: "wang", OwnerName: "王芳"})
	l.at("2019-03-02 10:00")
	l.add("u2", events.ItemRaisedData{ItemID: "i2", CycleID: "2019", UnitID: "sq2", Title: "Fix the residents' hotline backlog",
		Deadline: d("2019-05-31")})
	l.add("u2", events.ItemRaisedData{ItemID: "i3", CycleID: "2019", UnitID: "sq2", Title: "整改：垃圾分类宣传不到位",
		Deadline: d("2019-04-30")})
	l.at("2019-03-05 10:00")
	l.add("u1", events.CommitmentMadeData{CommitmentID: "c1", CycleID: "2019", UnitID: "sq1", Title: "每周走访社区至少2次",
		Activity: "走访", Target: 2, Period: events.PeriodWeek, Start: d("2019-03-04"), End: d("2019-12-29")})
	l.at("2019-04-01 10:00")
	l.add("u1", events.ItemProgressReportedData{ItemID: "i1", Percent: 40, OldPercent: 0, Note: "已完成一半"})
	l.at("2019-05-01 10:00")
	// Version 1 of deadline_changed: the new date and a note, no old date.
	l.raw(events.Event{ID: "ev-v1", Stream: events.ItemStream("i1"), Type: events.ItemDeadlineChanged, Version: 1,
		Actor: "u1", Data: json.RawMessage(`{"deadline":"2019-09-30","note":"延期至三季度"}`)})
	l.at("2019-05-10 10:00")
	l.add("u2", events.ItemAssignedData{ItemID: "i2", UnitID: "sq1a", OwnerID: "zhao", OwnerName: "赵强", OldUnitID: "sq2"})
	l.at("2019-06-01 10:00")
	l.add("u1", events.ItemDeadlineChangedData{ItemID: "i1", OldDeadline: d("2019-09-30"), NewDeadline: d("2019-10-31"), Reason: "再次延期"})
	l.add("u1", events.CommitmentRevisedData{CommitmentID: "c1", OldTarget: 2, NewTarget: 1, OldPeriod: events.PeriodWeek,
		NewPeriod: events.PeriodWeek, OldEnd: d("2019-12-29"), NewEnd: d("2019-12-29"), Reason: "人员调整"})
	l.at("2019-06-15 10:00")
	l.add("admin", events.UnitRenamedData{UnitID: "sq2", OldName: "西湖社区", NewName: "西湖新村社区"})
	l.at("2019-07-01 10:00")
	l.add("u1", events.ItemSubmittedData{ItemID: "i1", Note: "请验收"})
	l.at("2019-07-05 10:00")
	l.add("rev", events.ItemVerificationRejectedData{ItemID: "i1", ReviewerID: "rev", Reason: "材料不全"})
	l.at("2019-08-01 10:00")
	l.add("u1", events.ItemSubmittedData{ItemID: "i1"})
	l.at("2019-08-05 10:00")
	l.add("rev", events.ItemVerifiedData{ItemID: "i1", ReviewerID: "rev", Note: "同意销号"})
	l.raw(events.Event{ID: "ev-unknown", Stream: "thing-1", Type: "rectify.thing.happened", Version: 1, Actor: "system",
		Data: json.RawMessage(`{}`)})
	return l
}

// entryLine renders an entry as "type field:before>after ..." for compact
// comparisons.
func entryLine(e query.AuditEntry) string {
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(e.Type, "rectify."))
	for _, c := range e.Changes {
		fmt.Fprintf(&b, " %s:%s>%s", c.Field, c.Before, c.After)
	}
	return b.String()
}

func TestAuditTimelineOfAnItem(t *testing.T) {
	r := MustOpenView(t, Audit{}, auditHistory(t))
	got := mustAsk[query.AuditPage](t, r, "timeline", query.Request{Scope: scopeOf("sq1"),
		Params: paramsOf(query.TimelineParams{Kind: events.CategoryItem, ID: "i1"})})
	want := []string{
		"item.raised title:>整改：党员活动室台账不规范 cycle:>2019 unit:>sq1 category:>组织建设 deadline:>2019-06-30 status:>raised",
		"item.assigned owner:>wang owner_name:>王芳 status:raised>assigned",
		"item.progress_reported percent:0>40 status:assigned>in_progress",
		// The old deadline comes from the view: version 1 did not record it.
		"item.deadline_changed deadline:2019-06-30>2019-09-30",
		"item.deadline_changed deadline:2019-09-30>2019-10-31",
		"item.submitted status:in_progress>submitted",
		"item.verification_rejected status:submitted>in_progress",
		"item.submitted status:in_progress>submitted",
		"item.verified status:submitted>closed",
	}
	var lines []string
	for _, e := range got.Entries {
		lines = append(lines, entryLine(e))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	first, v1 := got.Entries[0], got.Entries[3]
	if first.Actor != "u1" || first.ActorName != "李明" || first.UnitID != "sq1" || first.UnitName != "东风社区" ||
		first.Kind != "item" || first.AggregateID != "i1" || first.Revision != 0 ||
		!first.Time.Equal(time.Date(2019, 3, 1, 10, 0, 0, 0, chinaZone)) {
		t.Errorf("first entry = %+v", first)
	}
	if v1.Reason != "延期至三季度" || v1.EventID != "ev-v1" {
		t.Errorf("version 1 entry = %+v, want its note as the reason", v1)
	}
	if rej := got.Entries[6]; rej.Reason != "材料不全" || rej.Actor != "rev" {
		t.Errorf("rejection = %+v", rej)
	}

	// The stream name asks for the same timeline; pages of two cover it
	// once, oldest first.
	var paged []uint64
	p := query.TimelineParams{Stream: "item-i1", Limit: 2}
	for {
		page := mustAsk[query.AuditPage](t, r, "timeline", query.Request{Scope: scopeAll, Params: paramsOf(p)})
		for _, e := range page.Entries {
			paged = append(paged, e.Position)
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	var whole []uint64
	for _, e := range got.Entries {
		whole = append(whole, e.Position)
	}
	if !slices.Equal(paged, whole) || !slices.IsSorted(paged) {
		t.Errorf("paged timeline %v, want %v", paged, whole)
	}
}

func TestAuditTimelineOfOtherAggregates(t *testing.T) {
	r := MustOpenView(t, Audit{}, auditHistory(t))
	lines := func(scope query.Scope, stream string) []string {
		page := mustAsk[query.AuditPage](t, r, "timeline", query.Request{Scope: scope, Params: paramsOf(query.TimelineParams{Stream: stream})})
		var out []string
		for _, e := range page.Entries {
			out = append(out, entryLine(e))
		}
		return out
	}
	cases := []struct {
		scope  query.Scope
		stream string
		want   []string
	}{
		{scopeOf("sq1"), "commitment-c1", []string{
			"commitment.made title:>每周走访社区至少2次 unit:>sq1 activity:>走访 target:>2 period:>week start:>2019-03-04 end:>2019-12-29 status:>active",
			"commitment.revised target:2>1",
		}},
		{scopeOf("sq2"), "unit-sq2", []string{
			"unit.registered name:>西湖社区 kind:>community parent:>jw",
			"unit.renamed name:西湖社区>西湖新村社区",
		}},
		{scopeAll, "user-u1", []string{
			"user.created name:>李明",
			"user.role_granted role:>editor@sq1",
			"user.token_issued token:>t1",
		}},
		// i2 moved from 西湖社区 to a branch of 东风社区: its whole timeline
		// is visible where it is now.
		{scopeOf("sq1"), "item-i2", []string{
			"item.raised title:>Fix the residents' hotline backlog cycle:>2019 unit:>sq2 deadline:>2019-05-31 status:>raised",
			"item.assigned unit:sq2>sq1a owner:>zhao owner_name:>赵强 status:raised>assigned",
		}},
	}
	for _, tc := range cases {
		if got := lines(tc.scope, tc.stream); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.stream, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	// Out of scope, of no unit, or absent: not found alike.
	for _, tc := range []struct {
		scope  query.Scope
		stream string
	}{
		{scopeOf("sq2"), "item-i1"},
		{scopeOf("sq2"), "item-i2"},
		{scopeOf("jw"), "user-u1"},
		{scopeOf("jw"), "cycle-2019"},
		{scopeAll, "item-nope"},
	} {
		mustFail(t, r, "timeline", query.Request{Scope: tc.scope, Params: paramsOf(query.TimelineParams{Stream: tc.stream})}, events.CodeNotFound)
	}
}

func TestAuditFeed(t *testing.T) {
	l := auditHistory(t)
	r := MustOpenView(t, Audit{}, l)
	feed := func(scope query.Scope, p query.FeedParams) []query.AuditEntry {
		return mustAsk[query.AuditPage](t, r, "feed", query.Request{Scope: scope, Params: paramsOf(p)}).Entries
	}
	streams := func(es []query.AuditEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Stream)
		}
		return strings.Join(out, " ")
	}

	everything := feed(scopeAll, query.FeedParams{Limit: query.MaxPageSize})
	if len(everything) != len(l.evs) {
		t.Fatalf("feed for an All scope has %d entries, want every one of %d events", len(everything), len(l.evs))
	}
	if everything[0].Stream != "thing-1" || everything[0].Type != "rectify.thing.happened" || len(everything[0].Changes) != 0 {
		t.Errorf("newest entry = %+v, want the unknown event, unchanged", everything[0])
	}
	if !slices.IsSortedFunc(everything, func(a, b query.AuditEntry) int { return int(b.Position) - int(a.Position) }) {
		t.Error("feed is not newest first")
	}
	// Every entry names what it is about: an item's or commitment's
	// title on each of its entries, not only the one that set it; a
	// unit's name as it is now; nothing for a stream never named.
	titles := map[string]string{
		"item-i1": "整改：党员活动室台账不规范", "item-i2": "Fix the residents' hotline backlog", "commitment-c1": "每周走访社区至少2次",
		"unit-sq2": "西湖新村社区", "unit-sq1a": "东风社区第一支部", "cycle-2019": "2019年度述职评议", "user-u1": "李明", "thing-1": "",
	}
	for _, e := range everything {
		if want, ok := titles[e.Stream]; ok && e.Title != want {
			t.Errorf("%s entry at %d (%s) has title %q, want %q", e.Stream, e.Position, e.Type, e.Title, want)
		}
	}

	cases := []struct {
		name  string
		scope query.Scope
		p     query.FeedParams
		want  string
	}{
		// 东风社区 sees its units, items and commitment, and i2 only from
		// the day it moved in; never users, cycles or 西湖社区.
		{"scope sq1", scopeOf("sq1"), query.FeedParams{},
			"item-i1 item-i1 item-i1 item-i1 commitment-c1 item-i1 item-i2 item-i1 item-i1 commitment-c1 item-i1 item-i1 unit-sq1a unit-sq1"},
		{"scope sq2", scopeOf("sq2"), query.FeedParams{}, "unit-sq2 item-i3 item-i2 unit-sq2"},
		{"unit filter inside an All scope", scopeAll, query.FeedParams{UnitID: "sq1a"}, "item-i2 unit-sq1a"},
		{"unit filter outside the scope", scopeOf("sq2"), query.FeedParams{UnitID: "sq1"}, ""},
		{"actor", scopeAll, query.FeedParams{ActorID: "u2"}, "item-i2 item-i3 item-i2"},
		{"actor within scope", scopeOf("sq1"), query.FeedParams{ActorID: "u2"}, "item-i2"},
		{"types", scopeAll, query.FeedParams{Types: []string{events.ItemDeadlineChanged, events.UnitRenamed}},
			"unit-sq2 item-i1 item-i1"},
		{"time range", scopeAll, query.FeedParams{
			From: time.Date(2019, 5, 1, 0, 0, 0, 0, chinaZone), To: time.Date(2019, 6, 1, 10, 0, 0, 0, chinaZone)},
			"item-i1 item-i2 item-i1"},
		{"time range with nothing in it", scopeAll, query.FeedParams{
			From: time.Date(2020, 1, 1, 0, 0, 0, 0, chinaZone)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := streams(feed(tc.scope, tc.p)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}

	// Pages of three cover the feed once.
	seen := map[uint64]int{}
	p := query.FeedParams{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > len(l.evs) {
			t.Fatal("paging does not end")
		}
		page := mustAsk[query.AuditPage](t, r, "feed", query.Request{Scope: scopeAll, Params: paramsOf(p)})
		for _, e := range page.Entries {
			seen[e.Position]++
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	for _, e := range l.evs {
		if seen[e.Position] != 1 {
			t.Errorf("event at %d seen %d times in pages", e.Position, seen[e.Position])
		}
	}
}

func TestAuditParamsAreValidated(t *testing.T) {
	r := MustOpenView(t, Audit{}, auditHistory(t))
	cases := []struct{ op, params, field string }{
		{"timeline", `{}`, "kind"},
		{"timeline", `{"kind":"item"}`, "id"},
		{"timeline", `{"stream":"item-1","kind":"item","id":"1"}`, "stream"},
		{"timeline", `{"stream":"事项-1"}`, "stream"},
		{"timeline", `{"stream":"item-i1","limit":-1}`, "limit"},
		{"timeline", `{"stream":"item-i1","cursor":"eHh4"}`, "cursor"},
		{"feed", `{"types":["rectify.item.exploded"]}`, "types"},
		{"feed", `{"from":"2019-06-01T00:00:00Z","to":"2019-05-01T00:00:00Z"}`, "to"},
		{"feed", `{"actor_id":"李明"}`, "actor_id"},
		{"feed", `{"actor":"u1"}`, "params"},
	}
	for _, tc := range cases {
		err := mustFail(t, r, tc.op, query.Request{Scope: scopeAll, Params: json.RawMessage(tc.params)}, events.CodeInvalid)
		failsOn(t, err, tc.field)
	}
}

func TestAuditRedeliveryKeepsTheDigest(t *testing.T) {
	l := auditHistory(t)
	// An item event this build cannot read, then one it can: the second
	// starts from the unreadable one's empty state.
	l.at("2019-08-06 10:00")
	l.raw(events.Event{ID: "ev-v99", Stream: events.ItemStream("i1"), Type: events.ItemProgressReported, Version: 99,
		Actor: "u1", Data: json.RawMessage(`{"item_id":"i1"}`)})
	l.add("u1", events.ItemReopenedData{ItemID: "i1", Reason: "复查"})
	ctx := context.Background()
	once := MustOpenView(t, Audit{}, l)
	want, err := once.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := MustOpenRunner(t, Audit{}, nil, nil)
	ds := deliveries(l.evs)
	for i := 0; i < len(ds); i += 3 {
		if err := r.Apply(ctx, ds[i:min(i+3, len(ds))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(ctx, ds[5:]); err != nil {
		t.Fatal(err)
	}
	got, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("digest after batches and redelivery %s, want %s", got, want)
	}
	for _, n := range []int{1, 4, 1000} {
		withRebuildBatch(t, n)
		if got, err := mustRebuild(t, Audit{}, l.evs).Digest(ctx); err != nil || got != want {
			t.Errorf("digest after a rebuild %d events at a time %s (%v), want %s", n, got, err, want)
		}
	}
}

// mixedHistory makes n events of a busy organisation: 200 units, items
// going through their lifecycle (about ten events each), commitments with
// activities logged, some users. Built without events.New's reflection in
// the loop being the point: it is what a rebuild reads.
func mixedHistory(tb testing.TB, n int) []events.Event {
	tb.Helper()
	l := newEventLog(tb)
	d := events.MustDate
	l.add("admin", events.UnitRegisteredData{UnitID: "root", Name: "城关街道工委", Kind: events.UnitCommittee})
	for u := 0; u < 199; u++ {
		l.add("admin", events.UnitRegisteredData{UnitID: fmt.Sprintf("u%d", u), Name: fmt.Sprintf("第%d社区", u), Kind: events.UnitCommunity, ParentID: "root"})
	}
	for u := 0; u < 20; u++ {
		l.add("admin", events.UserCreatedData{UserID: fmt.Sprintf("user%d", u), Name: fmt.Sprintf("用户%d", u)})
	}
	for c := 0; c < 400; c++ {
		l.add("admin", events.CommitmentMadeData{CommitmentID: fmt.Sprintf("c%d", c), UnitID: fmt.Sprintf("u%d", c%199),
			Title: "每周走访社区至少2次", Activity: "走访", Target: 2, Period: events.PeriodWeek, Start: d("2019-01-07"), End: d("2019-12-29")})
	}
	// Items move through their lifecycle in waves of 2,000, one step of
	// every item of the wave after another, so that an item's events lie
	// far apart in $all as they do in a real year.
	const wave = 2000
	step := func(k, j int) events.Payload {
		id, unit, actor := fmt.Sprintf("i%d", k), fmt.Sprintf("u%d", k%199), fmt.Sprintf("user%d", k%20)
		switch j {
		case 0:
			return events.ItemRaisedData{ItemID: id, CycleID: "2019", UnitID: unit, Title: "整改：党员活动室台账不规范 " + id, Category: "组织建设", Deadline: d("2019-06-30")}
		case 1:
			return events.ItemAssignedData{ItemID: id, UnitID: unit, OwnerID: "wang", OwnerName: "王芳"}
		case 2:
			return events.ItemMeasurePlannedData{ItemID: id, MeasureID: "m1", Text: "完善台账制度"}
		case 3:
			return events.ItemProgressReportedData{ItemID: id, Percent: 50, Note: "已完成一半"}
		case 4:
			return events.ItemDeadlineChangedData{ItemID: id, OldDeadline: d("2019-06-30"), NewDeadline: d("2019-09-30"), Reason: "延期"}
		case 5:
			return events.ItemMeasureCompletedData{ItemID: id, MeasureID: "m1", CompletedOn: d("2019-08-01")}
		case 6:
			return events.CommitmentActivityLoggedData{CommitmentID: fmt.Sprintf("c%d", k%400), ActivityID: "a" + id, Count: 1, OccurredOn: d("2019-03-05"), LoggedBy: actor}
		case 7:
			return events.ItemSubmittedData{ItemID: id}
		case 8:
			return events.ItemVerifiedData{ItemID: id, ReviewerID: "rev"}
		}
		return events.CommitmentActivityLoggedData{CommitmentID: fmt.Sprintf("c%d", (k+7)%400), ActivityID: "b" + id, Count: 2, OccurredOn: d("2019-04-09"), LoggedBy: actor}
	}
	for w := 0; len(l.evs) < n; w++ {
		for j := 0; j < 10; j++ {
			for k := w * wave; k < (w+1)*wave; k++ {
				l.add(fmt.Sprintf("user%d", k%20), step(k, j))
			}
		}
	}
	return l.evs[:n]
}

// benchmarkRebuild applies n events in batches of the rebuild's size to a
// fresh view and reports events per second.
func benchmarkRebuild(b *testing.B, p Projection, n int) {
	evs := mixedHistory(b, n)
	ds := deliveries(evs)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := MustOpenRunner(b, p, nil, nil)
		b.StartTimer()
		start := time.Now()
		for j := 0; j < len(ds); j += rebuildBatch {
			if err := r.Apply(ctx, ds[j:min(j+rebuildBatch, len(ds))]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	}
}

func BenchmarkAuditRebuild(b *testing.B) { benchmarkRebuild(b, Audit{}, 200_000) }

// BenchmarkAuditFeed measures a first page of the feed for a scope of one
// community over 200,000 events.
func BenchmarkAuditFeed(b *testing.B) {
	r := MustOpenRunner(b, Audit{}, nil, nil)
	ds := deliveries(mixedHistory(b, 200_000))
	for j := 0; j < len(ds); j += rebuildBatch {
		if err := r.Apply(context.Background(), ds[j:min(j+rebuildBatch, len(ds))]); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name  string
		scope query.Scope
		p     query.FeedParams
	}{
		{"all", scopeAll, query.FeedParams{}},
		{"one-unit", scopeOf("u7"), query.FeedParams{}},
		{"actor", scopeAll, query.FeedParams{ActorID: "user3"}},
		{"subtree-filter", scopeAll, query.FeedParams{UnitID: "u7"}},
		{"types", scopeAll, query.FeedParams{Types: []string{events.ItemDeadlineChanged}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := query.Request{Scope: bc.scope, Params: paramsOf(bc.p)}
			for i := 0; i < b.N; i++ {
				if resp := Answer(context.Background(), r, "feed", req, time.Second); resp.Error != nil {
					b.Fatal(resp.Error)
				}
			}
		})
	}
}

// TestChangesJSONIsJSONMarshal: the audit writes its changes without
// encoding/json, byte for byte as json.Marshal would.
func TestChangesJSONIsJSONMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", "整改措施", `a "quoted" \ back`, "<b>&amp;</b>", "line\nbreak\ttab\x01",
		"sep\u2028par\u2029", "bad \xff utf8", "\ufffd", "mixed 中文 <tag>", "emoji 😀"} {
		checkChangesJSON(t, []query.FieldChange{{Field: "title", Before: s, After: s + "x"}, {Field: s, Before: "", After: "1"}})
	}
}

func FuzzChangesJSON(f *testing.F) {
	for _, s := range []string{"", "a", "整改", "<&>", "\u2028", "\xff", `"\`} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		checkChangesJSON(t, []query.FieldChange{{Field: a, Before: b, After: a + b}})
	})
}

func checkChangesJSON(t *testing.T, cs []query.FieldChange) {
	t.Helper()
	want, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	if got := changesJSON(cs); got != string(want) {
		t.Errorf("changesJSON(%q) = %s, json.Marshal gives %s", cs, got, want)
	}
}
