package projections

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"rectify/events"
	"rectify/projections/query"
)

// counts is the part of query.Counts a table test states.
type counts struct {
	total, open, closed, withdrawn, overdue, onTime, red, yellow, green int
	closedShare, onTimeRate                                             float64 // -1: absent
}

func checkCounts(t *testing.T, what string, got query.Counts, want counts) {
	t.Helper()
	rate := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return math.Round(*p*1000) / 1000
	}
	g := counts{got.Total, got.Open, got.Closed, got.Withdrawn, got.Overdue, got.ClosedOnTime, got.Red, got.Yellow, got.Green,
		rate(got.ClosedShare), rate(got.OnTimeRate)}
	if g != want {
		t.Fatalf("%s: got %+v, want %+v", what, g, want)
	}
	sum := 0
	for _, n := range got.ByStatus {
		sum += n
	}
	if sum != got.Total || len(got.ByStatus) != len(query.ItemStatuses) {
		t.Fatalf("%s: by status %v does not add up to %d", what, got.ByStatus, got.Total)
	}
}

func TestProgressSummary(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	s := ask[query.Summary](t, r, "summary", allScope, nil)
	if s.Today != ledgerToday || s.YellowDays != 7 {
		t.Fatalf("today %s yellow %d", s.Today, s.YellowDays)
	}
	// 7 items: i3 i6 raised, i1 assigned, i2 in progress, i4 closed on
	// time, i5 closed late, i7 withdrawn.
	checkCounts(t, "total", s.Total, counts{7, 4, 2, 1, 1, 1, 1, 1, 2, 0.333, 0.5})
	if s.Total.ByStatus[events.StatusRaised] != 2 || s.Total.ByStatus[events.StatusAssigned] != 1 {
		t.Fatalf("by status %v", s.Total.ByStatus)
	}
	var units []string
	for _, u := range s.Units {
		units = append(units, fmt.Sprintf("%d:%s %d/%d", u.Depth, u.UnitID, u.Own.Total, u.Subtree.Total))
	}
	if want := []string{"0:other 1/1", "0:jw 0/6", "1:sq1 3/4", "2:zb1 1/1", "1:sq2 2/2"}; !slices.Equal(units, want) {
		t.Fatalf("units %v, want %v", units, want)
	}
	jw := s.Units[1]
	if jw.Name != "街道工委" {
		t.Fatalf("unit name %q", jw.Name)
	}
	checkCounts(t, "jw subtree", jw.Subtree, counts{6, 3, 2, 1, 1, 1, 1, 1, 1, 0.4, 0.5})
	checkCounts(t, "jw own", jw.Own, counts{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1})
	checkCounts(t, "sq1 subtree", s.Units[2].Subtree, counts{4, 2, 1, 1, 1, 1, 1, 1, 0, 0.333, 1})

	var cats []string
	for _, c := range s.Categories {
		cats = append(cats, fmt.Sprintf("%s %d", c.Category, c.Total))
	}
	if want := []string{"民生服务 2", "组织建设 3", "阵地建设 2"}; !slices.Equal(cats, want) {
		t.Fatalf("categories %v, want %v", cats, want)
	}
	checkCounts(t, "民生服务", s.Categories[0].Counts, counts{2, 1, 1, 0, 0, 0, 0, 1, 0, 0.5, 0})
	if len(s.Cycles) != 2 || s.Cycles[0].CycleID != "c2023" || s.Cycles[0].CycleName != "2023年度述职评议" || s.Cycles[0].Total != 1 || s.Cycles[1].Total != 6 {
		t.Fatalf("cycles %+v", s.Cycles)
	}

	cases := []struct {
		name   string
		scope  query.Scope
		params query.SummaryParams
		units  []string
		want   counts
	}{
		{"scope sq1", query.Scope{Units: []string{"sq1"}}, query.SummaryParams{}, []string{"sq1", "zb1"},
			counts{4, 2, 1, 1, 1, 1, 1, 1, 0, 0.333, 1}},
		{"unit sq2", allScope, query.SummaryParams{UnitID: "sq2"}, []string{"sq2"},
			counts{2, 1, 1, 0, 0, 0, 0, 0, 1, 0.5, 0}},
		{"depth 1", allScope, query.SummaryParams{UnitID: "jw", Depth: 1}, []string{"jw", "sq1", "sq2"},
			counts{6, 3, 2, 1, 1, 1, 1, 1, 1, 0.4, 0.5}},
		{"cycle 2023", allScope, query.SummaryParams{CycleID: "c2023"}, []string{"other", "jw", "sq1", "zb1", "sq2"},
			counts{1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0}},
		{"category", allScope, query.SummaryParams{Category: "组织建设"}, []string{"other", "jw", "sq1", "zb1", "sq2"},
			counts{3, 2, 1, 0, 0, 1, 0, 0, 2, 0.333, 1}},
		{"wider yellow", allScope, query.SummaryParams{YellowDays: ptr(20)}, nil,
			counts{7, 4, 2, 1, 1, 1, 1, 2, 1, 0.333, 0.5}},
		{"nothing in scope", query.Scope{}, query.SummaryParams{}, []string{},
			counts{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ask[query.Summary](t, r, "summary", c.scope, c.params)
			checkCounts(t, "total", s.Total, c.want)
			if c.units == nil {
				return
			}
			got := []string{}
			for _, u := range s.Units {
				got = append(got, u.UnitID)
			}
			if !slices.Equal(got, c.units) {
				t.Fatalf("units %v, want %v", got, c.units)
			}
		})
	}
}

func TestProgressCountsFollowTheItems(t *testing.T) {
	// Reopen the on-time item, move the deadline of the overdue one and
	// hand the green one to another unit: the counters must follow.
	h := &ledgerHistory{tb: t, evs: sampleLedger(t)}
	h.add("2024-06-01", events.ItemReopenedData{ItemID: "i4", Reason: "复查不合格"})
	h.add("2024-06-01", events.ItemDeadlineChangedData{ItemID: "i1", OldDeadline: events.MustDate("2024-06-10"), NewDeadline: events.MustDate("2024-09-30"), Reason: "延期"})
	h.add("2024-06-02", events.ItemAssignedData{ItemID: "i3", UnitID: "sq1", OwnerID: "wang", OwnerName: "王五", OldUnitID: "sq2"})
	r := MustOpenLedger(t, h.evs)
	s := ask[query.Summary](t, r, "summary", allScope, query.SummaryParams{UnitID: "jw", Depth: 1})
	// jw subtree: i1 green now, i2 yellow, i3 green, i4 open again (its
	// deadline 05-31 has passed: red), i5 closed late, i7 withdrawn.
	checkCounts(t, "jw", s.Total, counts{6, 4, 1, 1, 1, 0, 1, 1, 2, 0.2, 0})
	got := map[string]int{}
	for _, u := range s.Units {
		got[u.UnitID] = u.Subtree.Total
	}
	if got["sq1"] != 5 || got["sq2"] != 1 {
		t.Fatalf("subtree totals %v, want sq1 5 and sq2 1", got)
	}
	// Same events, rebuilt from scratch vs applied after the fact.
	fresh := MustOpenLedger(t, h.evs)
	a, _ := r.Digest(t.Context())
	b, _ := fresh.Digest(t.Context())
	if a != b {
		t.Fatal("digests differ between two builds of the same events")
	}
}

func TestProgressTrend(t *testing.T) {
	r := MustOpenLedger(t, sampleLedger(t))
	points := func(tr query.Trend) []string {
		var out []string
		for _, p := range tr.Points {
			out = append(out, fmt.Sprintf("%s..%s %d/%d +%d v%d", p.Start, p.End, p.Open, p.Closed, p.Raised, p.Verified))
		}
		return out
	}
	d := events.MustDate
	cases := []struct {
		name   string
		scope  query.Scope
		params query.TrendParams
		want   []string
	}{
		{"days", allScope, query.TrendParams{From: d("2024-05-18"), To: d("2024-05-22")}, []string{
			"2024-05-18..2024-05-18 6/1 +0 v0",
			"2024-05-19..2024-05-19 6/1 +0 v0",
			"2024-05-20..2024-05-20 5/2 +0 v1",
			"2024-05-21..2024-05-21 5/2 +0 v0",
			"2024-05-22..2024-05-22 4/2 +0 v0",
		}},
		{"raising day", allScope, query.TrendParams{From: d("2024-04-30"), To: d("2024-05-01")}, []string{
			"2024-04-30..2024-04-30 1/1 +0 v0",
			"2024-05-01..2024-05-01 6/1 +5 v0",
		}},
		{"weeks", allScope, query.TrendParams{Interval: "week", From: d("2024-05-15"), To: d("2024-05-22")}, []string{
			"2024-05-13..2024-05-19 6/1 +0 v0",
			"2024-05-20..2024-05-26 4/2 +0 v1",
		}},
		{"carried out of a cycle", allScope, query.TrendParams{CycleID: "c2023", From: d("2024-01-24"), To: d("2024-01-25")}, []string{
			"2024-01-24..2024-01-24 2/0 +0 v0",
			"2024-01-25..2024-01-25 1/0 +0 v0",
		}},
		{"carried into a cycle", allScope, query.TrendParams{CycleID: "c2024", From: d("2024-01-24"), To: d("2024-01-25")}, []string{
			"2024-01-24..2024-01-24 0/0 +0 v0",
			"2024-01-25..2024-01-25 1/0 +0 v0",
		}},
		{"scope", query.Scope{Units: []string{"sq2"}}, query.TrendParams{Interval: "week", From: d("2024-04-08"), To: d("2024-05-05")}, []string{
			"2024-04-08..2024-04-14 0/1 +0 v1",
			"2024-04-15..2024-04-21 0/1 +0 v0",
			"2024-04-22..2024-04-28 0/1 +0 v0",
			"2024-04-29..2024-05-05 1/1 +1 v0",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := points(ask[query.Trend](t, r, "trend", c.scope, c.params))
			if !slices.Equal(got, c.want) {
				t.Fatalf("got\n%v\nwant\n%v", got, c.want)
			}
		})
	}
	// Defaults: 30 days up to today.
	tr := ask[query.Trend](t, r, "trend", allScope, nil)
	if len(tr.Points) != 30 || tr.To != ledgerToday || tr.Points[29].Open != 4 || tr.Points[29].Closed != 2 {
		t.Fatalf("default trend: %d points to %s, last %+v", len(tr.Points), tr.To, tr.Points[len(tr.Points)-1])
	}
}

// TestAnswersFollowNewEvents asks the same questions before and after an
// event: remembered answers must not outlive the position they were
// computed at.
func TestAnswersFollowNewEvents(t *testing.T) {
	evs := sampleLedger(t)
	h := &ledgerHistory{tb: t, evs: slices.Clone(evs)}
	h.add("2024-06-14", events.ItemWithdrawnData{ItemID: "i3", Reason: "撤销"})
	r := MustOpenLedger(t, evs)
	for range 2 { // the second round is answered from memory
		if s := ask[query.Summary](t, r, "summary", allScope, nil); s.Total.Open != 4 {
			t.Fatalf("open %d before, want 4", s.Total.Open)
		}
		if p := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{RAG: "green"}); len(p.Items) != 2 {
			t.Fatalf("green %v before, want i6 i3", ids(p.Items))
		}
		if tr := ask[query.Trend](t, r, "trend", allScope, nil); tr.Points[29].Open != 4 {
			t.Fatalf("trend open %d before, want 4", tr.Points[29].Open)
		}
	}
	if err := r.Apply(t.Context(), deliveries(h.evs)[len(evs):]); err != nil {
		t.Fatal(err)
	}
	if s := ask[query.Summary](t, r, "summary", allScope, nil); s.Total.Open != 3 || s.Total.Withdrawn != 2 {
		t.Fatalf("after the withdrawal: open %d withdrawn %d, want 3 and 2", s.Total.Open, s.Total.Withdrawn)
	}
	if p := ask[query.LedgerPage](t, r, "list", allScope, query.LedgerParams{RAG: "green"}); !slices.Equal(ids(p.Items), []string{"i6"}) {
		t.Fatalf("green %v after, want i6", ids(p.Items))
	}
	if tr := ask[query.Trend](t, r, "trend", allScope, nil); tr.Points[29].Open != 3 {
		t.Fatalf("trend open %d after, want 3", tr.Points[29].Open)
	}
}
