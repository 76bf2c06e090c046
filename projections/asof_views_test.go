package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/gen"
)

// TestAsOfViewsEqualTheLiveViewsOfThen is the as-of views' oracle: the
// audit view holding a whole generated history answers, as of a position
// P, exactly what the live views built from the history up to P answer,
// byte for byte: unit tree, cycles, progress summary and trend,
// commitments, compliance, unit compliance and users, in an All scope
// and in one unit's, with filters and paging.
func TestAsOfViewsEqualTheLiveViewsOfThen(t *testing.T) {
	ctx := context.Background()
	var evs []events.Event
	cfg := gen.Config{Seed: 21, Units: 14, Items: 120, Commitments: 12, Events: 1800}
	for e := range gen.History(cfg) {
		e.Position = uint64(len(evs) + 1)
		evs = append(evs, e)
	}
	audit := MustOpenRunner(t, Audit{}, nil, nil)
	if err := audit.Apply(ctx, deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	ks := []int{len(evs) / 3, 2 * len(evs) / 3, len(evs)}
	live := make([]map[string]*Runner, len(ks))
	for i, k := range ks {
		live[i] = map[string]*Runner{}
		for _, p := range []Projection{Ledger{}, Commitments{}, Access{}} {
			r := MustOpenRunner(t, p, nil, nil)
			if err := r.Apply(ctx, deliveries(evs[:k])); err != nil {
				t.Fatal(err)
			}
			live[i][p.Name()] = r
		}
	}
	// A community with branches below it, for a scope and a subtree; one
	// whose subtree stays the same throughout, because the as-of views
	// confine to the scope of today (permissions are today's), the live
	// views of then to the scope of then.
	subtree := func(r *Runner, u string) string {
		b, err := askView(t, r, "units", query.Request{Scope: query.Scope{All: true}, Params: paramsOf(query.UnitsParams{UnitID: u, IncludeRetired: true})})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	unit := ""
	for i := 1; i < 20 && unit == ""; i++ {
		u := fmt.Sprintf("sq-%03d", i)
		first := subtree(live[0]["ledger"], u)
		if strings.Count(first, `"id"`) < 2 {
			continue
		}
		if first == subtree(live[1]["ledger"], u) && first == subtree(live[2]["ledger"], u) {
			unit = u
		}
	}
	if unit == "" {
		t.Fatal("no community keeps its subtree throughout the history")
	}
	all := query.Scope{All: true}
	one := query.Scope{Units: []string{unit}}
	type ask struct {
		view   string // live view: ledger, commitments or access
		op     string
		asOf   string
		scope  query.Scope
		params any
	}
	cases := []ask{
		{"ledger", "units", "asof_units", all, query.UnitsParams{}},
		{"ledger", "units", "asof_units", all, query.UnitsParams{IncludeRetired: true}},
		{"ledger", "units", "asof_units", one, query.UnitsParams{}},
		{"ledger", "units", "asof_units", all, query.UnitsParams{UnitID: unit}},
		{"ledger", "cycles", "asof_cycles", all, nil},
		{"ledger", "summary", "asof_summary", all, query.SummaryParams{}},
		{"ledger", "summary", "asof_summary", all, query.SummaryParams{Depth: 1, YellowDays: ptr(14)}},
		{"ledger", "summary", "asof_summary", one, query.SummaryParams{}},
		{"ledger", "summary", "asof_summary", all, query.SummaryParams{UnitID: unit, Category: "组织建设"}},
		{"ledger", "trend", "asof_trend", all, query.TrendParams{}},
		{"ledger", "trend", "asof_trend", all, query.TrendParams{Interval: query.IntervalWeek}},
		{"ledger", "trend", "asof_trend", one, query.TrendParams{Interval: query.IntervalWeek}},
		{"commitments", "list", "asof_commitments", all, query.CommitmentListParams{}},
		{"commitments", "list", "asof_commitments", all, query.CommitmentListParams{Limit: 3}},
		{"commitments", "list", "asof_commitments", one, query.CommitmentListParams{}},
		{"commitments", "list", "asof_commitments", all, query.CommitmentListParams{Period: events.PeriodWeek}},
		{"commitments", "compliance", "asof_compliance", all, query.ComplianceParams{Limit: 4}},
		{"commitments", "compliance", "asof_compliance", all, query.ComplianceParams{Period: events.PeriodMonth}},
		{"commitments", "compliance", "asof_compliance", one, query.ComplianceParams{}},
		{"commitments", "units", "asof_compliance_units", all, query.CommitmentUnitsParams{}},
		{"commitments", "units", "asof_compliance_units", all, query.CommitmentUnitsParams{Sort: query.SortRate}},
		{"commitments", "units", "asof_compliance_units", one, query.CommitmentUnitsParams{}},
		{"access", "users", "asof_users", all, query.UsersParams{}},
		{"access", "users", "asof_users", all, query.UsersParams{Limit: 5}},
		{"access", "users", "asof_users", one, query.UsersParams{}},
		{"access", "users", "asof_users", all, query.UsersParams{UnitID: unit}},
		{"access", "user", "asof_user", all, query.UserParams{UserID: gen.AdminID}},
		{"access", "user", "asof_user", all, query.UserParams{UserID: "ed-" + unit}},
		{"access", "people", "asof_people", all, query.PeopleParams{UnitID: unit}},
		{"access", "people", "asof_people", one, query.PeopleParams{UnitID: unit}},
		{"access", "people", "asof_people", all, query.PeopleParams{UnitID: gen.RootUnitID}},
	}
	raw := func(v any) json.RawMessage {
		if v == nil {
			return nil
		}
		return paramsOf(v)
	}
	checked := 0
	for i, k := range ks {
		then := evs[:k]
		at := query.AsOf{Position: then[k-1].Position}
		today := eventDay(then[k-1]).AddDays(3)
		for _, c := range cases {
			name := fmt.Sprintf("%s/%s %v scope %v at %d", c.view, c.op, c.params, c.scope, at.Position)
			params := raw(c.params)
			for page := 0; page < 3; page++ {
				want := Answer(ctx, live[i][c.view], c.op, query.Request{Scope: c.scope, Today: today, Params: params}, time.Second)
				got := Answer(ctx, audit, c.asOf, query.Request{Scope: c.scope, Today: today, AsOf: at, Params: params}, time.Second)
				if want.Error != nil || got.Error != nil {
					if fmt.Sprint(want.Error) != fmt.Sprint(got.Error) {
						t.Errorf("%s: live %v, as of %v", name, want.Error, got.Error)
					}
					break
				}
				if string(got.Data) != string(want.Data) {
					t.Errorf("%s page %d:\nas of %.2000s\nlive  %.2000s", name, page, got.Data, want.Data)
					break
				}
				checked++
				// Follow the cursor, if any, with the same params.
				var next struct {
					Cursor string `json:"next_cursor"`
				}
				if json.Unmarshal(want.Data, &next) != nil || next.Cursor == "" {
					break
				}
				var m map[string]any
				if err := json.Unmarshal(params, &m); err != nil || m == nil {
					m = map[string]any{}
				}
				m["cursor"] = next.Cursor
				params = raw(m)
			}
		}
	}
	if checked < 3*len(cases) {
		t.Errorf("only %d answers compared", checked)
	}
	t.Logf("%d answers compared at 3 points of %d events; scope and subtree of %s", checked, len(evs), unit)
	// The answers say something: the summary counts items, the compliance
	// lists periods.
	var sum query.Summary
	resp := Answer(ctx, audit, "asof_summary", query.Request{Scope: all, AsOf: query.AsOf{Position: evs[len(evs)/2].Position}, Params: raw(query.SummaryParams{})}, time.Second)
	if resp.Error != nil || json.Unmarshal(resp.Data, &sum) != nil || sum.Total.Total == 0 || len(sum.Units) < 3 {
		t.Errorf("summary half way: %v %.300s", resp.Error, resp.Data)
	}
	var people query.People
	resp = Answer(ctx, audit, "asof_people", query.Request{Scope: all, AsOf: query.AsOf{Position: evs[len(evs)-1].Position}, Params: raw(query.PeopleParams{UnitID: gen.RootUnitID})}, time.Second)
	if resp.Error != nil || json.Unmarshal(resp.Data, &people) != nil || len(people.People) < 3 {
		t.Errorf("the people of the whole organisation: %v %.300s", resp.Error, resp.Data)
	}
	// A position the audit view has not reached is not answered as now.
	for _, op := range []string{"asof_units", "asof_summary", "asof_commitments", "asof_users", "timeline", "feed"} {
		var params any
		switch op {
		case "timeline":
			params = query.TimelineParams{Stream: events.UnitStream(gen.RootUnitID)}
		}
		resp := Answer(ctx, audit, op, query.Request{Scope: all, AsOf: query.AsOf{Position: evs[len(evs)-1].Position + 1}, Params: raw(params)}, time.Second)
		if resp.Error == nil || resp.Error.Code != events.CodeUnavailable {
			t.Errorf("%s beyond the view: %v", op, resp.Error)
		}
	}
}

// TestAsOfAuditTrail: the timeline and the feed as of a point hold the
// entries up to it, by position or by time.
func TestAsOfAuditTrail(t *testing.T) {
	l := auditHistory(t)
	r := MustOpenView(t, Audit{}, l)
	moved := positionOf(t, l, "item-i1", events.ItemDeadlineChanged, 0)
	count := func(op string, at query.AsOf, params any) (int, uint64) {
		t.Helper()
		page := mustAsk[query.AuditPage](t, r, op, query.Request{Scope: scopeAll, AsOf: at, Params: paramsOf(params)})
		var last uint64
		for _, e := range page.Entries {
			last = max(last, e.Position)
		}
		return len(page.Entries), last
	}
	timeline := query.TimelineParams{Stream: "item-i1", Limit: 200}
	nowN, nowLast := count("timeline", query.AsOf{}, timeline)
	thenN, thenLast := count("timeline", query.AsOf{Position: moved}, timeline)
	if thenLast != moved || thenN >= nowN || nowLast <= moved {
		t.Errorf("timeline: %d entries up to %d as of %d; %d up to %d now", thenN, thenLast, moved, nowN, nowLast)
	}
	feed := query.FeedParams{Limit: 200}
	nowN, _ = count("feed", query.AsOf{}, feed)
	thenN, thenLast = count("feed", query.AsOf{Position: moved}, feed)
	upTo := 0
	for _, e := range l.evs {
		if e.Position <= moved {
			upTo++
		}
	}
	if thenLast != moved || thenN != upTo || nowN <= thenN {
		t.Errorf("feed: %d entries up to %d as of %d; %d now", thenN, thenLast, moved, nowN)
	}
	// By time: 2 July 2019 is after the first deadline change.
	n, last := count("feed", query.AsOf{Time: cst(2019, 7, 2, 0)}, feed)
	if n == 0 || last < moved || n >= nowN {
		t.Errorf("feed as of 2 July 2019: %d entries up to %d", n, last)
	}
}
