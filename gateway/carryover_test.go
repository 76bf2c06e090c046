package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"rectify/events"
	"rectify/projections/query"
)

// carryOverReply is the reply of the bulk carry-over, decoded.
type carryOverReply struct {
	commandResult
	Detail events.CycleCarryOver `json:"detail"`
}

// TestCarryOverCycleOverHTTP closes 2024 and carries its unfinished items
// into 2025 through the gateway: a dry run first, then the run, then a
// retry of it; the views show the items in 2025 with timelines spanning
// both years.
func TestCarryOverCycleOverHTTP(t *testing.T) {
	st := MustStartStack(t)
	admin := st.Client(t, st.AdminToken)
	mustOrg(t, admin)
	unitAdmin := st.Client(t, mustUser(t, st, admin, "wangA", "王主任", events.RoleAdmin, "sqA"))
	raise := func(id, unit, title string) {
		admin.MustPost("/api/v1/items", map[string]any{"item_id": id, "cycle_id": "y2024", "unit_id": unit, "title": title, "deadline": "2024-12-31"}, http.StatusCreated)
	}
	raise("i1", "sqA1", "理论学习不够深入")
	raise("i2", "sqA", "网格员队伍不稳定")
	admin.MustPost("/api/v1/items/i2/progress", map[string]any{"percent": 60, "note": "已补充三名网格员"}, http.StatusOK)
	raise("i3", "sqB", "“三会一课”落实不到位")
	raise("done", "sqA1", "会议记录缺失")
	admin.MustPost("/api/v1/items/done/progress", map[string]any{"percent": 100}, http.StatusOK)
	admin.MustPost("/api/v1/items/done/submit", map[string]any{}, http.StatusOK)
	admin.MustPost("/api/v1/items/done/verify", map[string]any{"note": "同意销号"}, http.StatusOK)
	raise("dropped", "sqB", "重复立项")
	admin.MustPost("/api/v1/items/dropped/withdraw", map[string]any{"reason": "与i3重复"}, http.StatusOK)
	admin.MustPost("/api/v1/cycles/y2024/close", map[string]any{"note": "评议结束"}, http.StatusOK)
	want := []string{"i1", "i2", "i3"}

	doc := mustLoadOpenAPI(t, st)
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// post sends the carry-over and checks the exchange against the
	// OpenAPI document.
	post := func(body string, hdr ...string) Reply {
		t.Helper()
		r := admin.Post("/api/v1/cycles/y2024/carry-over", body, hdr...)
		req, _ := http.NewRequest(http.MethodPost, "/api/v1/cycles/y2024/carry-over", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("no documented route: %v", err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("the request %s does not fit the document: %v", body, err)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Status, Header: r.Header,
			Body: io.NopCloser(bytes.NewReader(r.Body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("the %d reply does not fit the document: %v\n%s", r.Status, err, r.Body)
		}
		return r
	}
	ids := func(rep carryOverReply) []string {
		var out []string
		for _, l := range rep.Detail.Items {
			out = append(out, l.ItemID)
		}
		return out
	}
	head := func() uint64 {
		h, err := st.Store.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	// The dry run lists exactly the unfinished items and writes nothing.
	before := head()
	r := post(`{"to_cycle_id":"y2025","reason":"转入2025年整改计划","dry_run":true}`)
	if r.Status != http.StatusOK {
		t.Fatalf("dry run: %d %s", r.Status, r.Body)
	}
	var dry carryOverReply
	r.JSON(t, &dry)
	if !dry.Detail.DryRun || !slices.Equal(ids(dry), want) || dry.Events != 0 || head() != before {
		t.Fatalf("dry run: %+v; head %d, was %d", dry, head(), before)
	}
	if l := dry.Detail.Items[1]; l.Title != "网格员队伍不稳定" || l.UnitID != "sqA" || l.Status != events.StatusInProgress || l.Deadline != events.MustDate("2024-12-31") {
		t.Errorf("dry run line %+v", l)
	}

	// Only an administrator of the whole organisation may carry a cycle.
	if r := unitAdmin.Post("/api/v1/cycles/y2024/carry-over", map[string]any{"to_cycle_id": "y2025"}); r.Status != http.StatusForbidden {
		t.Errorf("a unit's admin: %d %s, want 403", r.Status, r.Body)
	}
	if r := post(`{"dry_run":true}`); r.Status != http.StatusBadRequest {
		t.Errorf("no to_cycle_id: %d %s", r.Status, r.Body)
	} else if _, fields := r.ErrorFields(t); !slices.Equal(fields, []string{"to_cycle_id"}) {
		t.Errorf("no to_cycle_id: the 400 names %v", fields)
	}
	if r := admin.Post("/api/v1/cycles/y1999/carry-over", map[string]any{"to_cycle_id": "y2025"}); r.Status != http.StatusNotFound {
		t.Errorf("an unknown cycle: %d %s, want 404", r.Status, r.Body)
	}

	// The run moves them all, under one key.
	r = post(`{"to_cycle_id":"y2025","reason":"转入2025年整改计划"}`, "Idempotency-Key", "close-2024")
	if r.Status != http.StatusOK {
		t.Fatalf("carry over: %d %s", r.Status, r.Body)
	}
	var run carryOverReply
	r.JSON(t, &run)
	if run.Detail.DryRun || !slices.Equal(ids(run), want) || run.Events != len(want) || r.Header.Get(headerPosition) != fmt.Sprint(run.Position) {
		t.Fatalf("carry over: %+v", run)
	}
	after := head()
	// A retry with the same key writes nothing and gets the same answer.
	r = post(`{"to_cycle_id":"y2025","reason":"转入2025年整改计划"}`, "Idempotency-Key", "close-2024")
	var again carryOverReply
	r.JSON(t, &again)
	if r.Status != http.StatusOK || head() != after || again.Position != run.Position || !slices.Equal(again.Detail.Items, run.Detail.Items) {
		t.Fatalf("retry: %d %+v; head %d, was %d", r.Status, again, head(), after)
	}

	// The views: every item is in 2025 now, the finished ones stay in
	// 2024, and an item's timeline runs from its raise in 2024 through the
	// carry-over.
	wait := fmt.Sprintf("?min_position=%d", run.Position)
	for _, id := range want {
		var it query.ItemDetail
		admin.MustGet("/api/v1/items/"+id+wait, &it)
		if it.CycleID != "y2025" {
			t.Errorf("%s is in %s", id, it.CycleID)
		}
	}
	for _, id := range []string{"done", "dropped"} {
		var it query.ItemDetail
		admin.MustGet("/api/v1/items/"+id+wait, &it)
		if it.CycleID != "y2024" {
			t.Errorf("finished %s moved to %s", id, it.CycleID)
		}
	}
	var tl query.AuditPage
	admin.MustGet("/api/v1/items/i2/timeline"+wait, &tl)
	var types []string
	for _, e := range tl.Entries {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{events.ItemRaised, events.ItemProgressReported, events.ItemCarriedOver}) {
		t.Errorf("i2's timeline: %v", types)
	}
	if last := tl.Entries[len(tl.Entries)-1]; last.Reason != "转入2025年整改计划" {
		t.Errorf("the carry-over shows reason %q", last.Reason)
	}
}
