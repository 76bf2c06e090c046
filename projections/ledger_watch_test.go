package projections

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services"
	"rectify/services/eventstore/embedded"
	"rectify/services/watcher"
)

// watchedLedger is a real command side and a real deadline watcher on an
// embedded store, with a clock the test moves, and a ledger fed from the
// store as the relay would feed it.
type watchedLedger struct {
	tb      testing.TB
	store   *embedded.Store
	svc     *services.Service
	watcher *watcher.Watcher
	ledger  *Runner
	mu      sync.Mutex
	now     time.Time
	applied uint64
}

func mustOpenWatchedLedger(tb testing.TB) *watchedLedger {
	tb.Helper()
	store, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	w := &watchedLedger{tb: tb, store: store}
	w.on("2024-05-01")
	w.svc = services.New(store, services.Options{Now: w.clock})
	if w.watcher, err = watcher.New(store, watcher.Options{Now: w.clock}); err != nil {
		tb.Fatal(err)
	}
	w.ledger = MustOpenRunner(tb, Ledger{}, nil, nil)
	return w
}

func (w *watchedLedger) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// on moves the clock to 10:00 China time of day.
func (w *watchedLedger) on(day string) {
	d := events.MustDate(day)
	w.mu.Lock()
	w.now = time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, chinaZone)
	w.mu.Unlock()
}

func (w *watchedLedger) exec(cmd events.Command) uint64 {
	w.tb.Helper()
	res, err := w.svc.Execute(context.Background(), cmd, services.Meta{Actor: events.SystemActor})
	if err != nil {
		w.tb.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	w.sync()
	return res.Position
}

// pass runs the watcher on day and returns the types it recorded.
func (w *watchedLedger) pass(day string) []string {
	w.tb.Helper()
	w.on(day)
	if _, err := w.watcher.Check(context.Background()); err != nil {
		w.tb.Fatal(err)
	}
	return w.sync()
}

// sync applies what the store holds beyond the ledger, and returns the
// types of those events.
func (w *watchedLedger) sync() []string {
	w.tb.Helper()
	evs, err := w.store.ReadAll(context.Background(), w.applied, 0)
	if err != nil {
		w.tb.Fatal(err)
	}
	if len(evs) == 0 {
		return nil
	}
	if err := w.ledger.Apply(context.Background(), deliveries(evs)); err != nil {
		w.tb.Fatal(err)
	}
	w.applied = evs[len(evs)-1].Position
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

func (w *watchedLedger) all() []events.Event {
	w.tb.Helper()
	evs, err := w.store.ReadAll(context.Background(), 0, 0)
	if err != nil {
		w.tb.Fatal(err)
	}
	return evs
}

func (w *watchedLedger) item(id string) query.ItemDetail {
	w.tb.Helper()
	today := events.DateFrom(w.clock(), chinaZone)
	resp := Answer(context.Background(), w.ledger, "get", query.Request{Scope: allScope, Today: today, Params: paramsOf(query.ItemParams{ItemID: id})}, time.Second)
	if resp.Error != nil {
		w.tb.Fatal(resp.Error)
	}
	var out query.ItemDetail
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		w.tb.Fatal(err)
	}
	return out
}

func (w *watchedLedger) list(p query.LedgerParams) []string {
	w.tb.Helper()
	today := events.DateFrom(w.clock(), chinaZone)
	resp := Answer(context.Background(), w.ledger, "list", query.Request{Scope: allScope, Today: today, Params: paramsOf(p)}, time.Second)
	if resp.Error != nil {
		w.tb.Fatal(resp.Error)
	}
	var page query.LedgerPage
	if err := json.Unmarshal(resp.Data, &page); err != nil {
		w.tb.Fatal(err)
	}
	return ids(page.Items)
}

// TestLedgerShowsTheWatchersFacts drives the real deadline watcher with a
// moving clock and checks what the ledger makes of its facts: yellow, red,
// escalation to the owner and the unit's head; a deadline change clears
// them; the new deadline escalates again, to the committee; a closed item
// keeps them as history. The "updated" order never moves for them, the
// escalated filter follows them, and a bulk rebuild equals the view built
// event by event.
func TestLedgerShowsTheWatchersFacts(t *testing.T) {
	w := mustOpenWatchedLedger(t)
	d := events.MustDate
	w.exec(events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee})
	w.exec(events.RegisterUnit{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "gw"})
	w.exec(events.OpenCycle{CycleID: "y2024", Name: "2024年度述职评议", Year: 2024, Kind: events.CycleAnnualReview, Start: d("2024-01-01"), End: d("2024-12-31")})
	w.exec(events.RaiseItem{ItemID: "i1", CycleID: "y2024", UnitID: "sq1", Title: "“三会一课”落实不到位", Deadline: d("2024-06-10")})
	w.exec(events.AssignItem{ItemID: "i1", UnitID: "sq1", OwnerID: "lisi", OwnerName: "李四"})
	w.exec(events.RaiseItem{ItemID: "i2", CycleID: "y2024", UnitID: "sq1", Title: "党员活动室管理不规范", Deadline: d("2024-12-31")})
	// i1's last piece of work; i2's comes after it.
	w.on("2024-05-20")
	i1Work := w.exec(events.ReportProgress{ItemID: "i1", Percent: ptr(20), Note: "已制定计划"})
	w.on("2024-05-21")
	w.exec(events.ReportProgress{ItemID: "i2", Percent: ptr(10), Note: "开始整改"})
	updatedOrder := []string{"i2", "i1"}
	checkOrder := func(when string) {
		t.Helper()
		if got := w.list(query.LedgerParams{Sort: query.LedgerSortUpdated, Order: query.OrderDesc}); !slices.Equal(got, updatedOrder) {
			t.Errorf("%s: by last update %v, want %v: the watcher's facts are not work", when, got, updatedOrder)
		}
		if got := w.item("i1").UpdatedPosition; got != i1Work {
			t.Errorf("%s: i1 updated at %d, want %d (its progress report)", when, got, i1Work)
		}
	}
	filter := func(when string, want map[string][]string) {
		t.Helper()
		for f, ids := range want {
			if got := w.list(query.LedgerParams{Escalated: f}); !slices.Equal(got, ids) && !(len(got) == 0 && len(ids) == 0) {
				t.Errorf("%s: escalated=%s lists %v, want %v", when, f, got, ids)
			}
		}
	}

	// Seven days before the deadline: yellow.
	if got := w.pass("2024-06-03"); !slices.Equal(got, []string{events.ItemTurnedYellow}) {
		t.Fatalf("on 3 June the watcher recorded %v", got)
	}
	it := w.item("i1")
	if it.TurnedYellowAt.IsZero() || !it.TurnedRedAt.IsZero() || it.Escalation != nil || it.RAG != query.RAGYellow {
		t.Errorf("on 3 June i1 = yellow at %v, red at %v, escalation %+v, %s", it.TurnedYellowAt, it.TurnedRedAt, it.Escalation, it.RAG)
	}
	checkOrder("yellow")
	filter("yellow", map[string][]string{query.EscalatedAny: nil})

	// The day after the deadline: red, and the owner reminded.
	if got := w.pass("2024-06-11"); !slices.Equal(got, []string{events.ItemTurnedRed, events.ItemEscalated}) {
		t.Fatalf("on 11 June the watcher recorded %v", got)
	}
	it = w.item("i1")
	if it.TurnedRedAt.IsZero() || it.Escalation == nil || it.Escalation.Whom != events.EscalateOwner || it.Escalation.Step != 1 || !it.Escalation.Open {
		t.Fatalf("on 11 June i1 = red at %v, escalation %+v", it.TurnedRedAt, it.Escalation)
	}
	yellowAt := it.TurnedYellowAt
	filter("owner", map[string][]string{query.EscalatedOwner: {"i1"}, query.EscalatedHead: nil, query.EscalatedAny: {"i1"}})

	// A week overdue: the unit's head.
	if got := w.pass("2024-06-17"); !slices.Equal(got, []string{events.ItemEscalated}) {
		t.Fatalf("on 17 June the watcher recorded %v", got)
	}
	it = w.item("i1")
	if it.Escalation == nil || it.Escalation.Whom != events.EscalateUnitHead || it.Escalation.Step != 2 ||
		!it.Escalation.At.Equal(w.clock()) || !it.TurnedYellowAt.Equal(yellowAt) {
		t.Fatalf("on 17 June i1 escalation %+v, yellow at %v", it.Escalation, it.TurnedYellowAt)
	}
	checkOrder("escalated to the head")
	filter("head", map[string][]string{
		query.EscalatedOwner: nil, query.EscalatedHead: {"i1"}, events.EscalateUnitHead: {"i1"},
		query.EscalatedCommittee: nil, query.EscalatedAny: {"i1"},
	})
	// The watcher's facts in the ledger's JSON.
	resp := Answer(context.Background(), w.ledger, "list", query.Request{Scope: allScope, Today: d("2024-06-17"),
		Params: paramsOf(query.LedgerParams{Escalated: query.EscalatedHead})}, time.Second)
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(resp.Data, &raw); err != nil || len(raw.Items) != 1 {
		t.Fatalf("list: %s (%v)", resp.Data, err)
	}
	var esc map[string]any
	if err := json.Unmarshal(raw.Items[0]["escalation"], &esc); err != nil {
		t.Fatalf("escalation %s: %v", raw.Items[0]["escalation"], err)
	}
	if esc["whom"] != "unit_head" || esc["step"] != 2.0 || esc["open"] != true || esc["at"] != "2024-06-17T02:00:00Z" {
		t.Errorf("escalation JSON = %v", esc)
	}
	for _, k := range []string{"turned_yellow_at", "turned_red_at"} {
		if _, ok := raw.Items[0][k]; !ok {
			t.Errorf("a red item's JSON has no %s: %v", k, raw.Items[0])
		}
	}

	// A new deadline: the facts of the old one no longer apply.
	w.on("2024-06-18")
	moved := w.exec(events.ChangeDeadline{ItemID: "i1", Deadline: d("2024-07-31"), Reason: "上级要求延期"})
	it = w.item("i1")
	if !it.TurnedYellowAt.IsZero() || !it.TurnedRedAt.IsZero() || it.Escalation != nil {
		t.Errorf("after the deadline change i1 keeps yellow %v, red %v, escalation %+v", it.TurnedYellowAt, it.TurnedRedAt, it.Escalation)
	}
	i1Work = moved // a deadline change is work
	updatedOrder = []string{"i1", "i2"}
	checkOrder("deadline changed")
	filter("deadline changed", map[string][]string{query.EscalatedAny: nil, query.EscalatedHead: nil})
	var raw2 map[string]json.RawMessage
	resp = Answer(context.Background(), w.ledger, "get", query.Request{Scope: allScope, Params: paramsOf(query.ItemParams{ItemID: "i1"})}, time.Second)
	if err := json.Unmarshal(resp.Data, &raw2); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"turned_yellow_at", "turned_red_at", "escalation"} {
		if _, ok := raw2[k]; ok {
			t.Errorf("an item without watcher facts has %s in its JSON: %s", k, raw2[k])
		}
	}

	// Two weeks past the new deadline: everything at once, up to the
	// committee.
	if got := w.pass("2024-08-14"); !slices.Equal(got, []string{events.ItemTurnedRed, events.ItemEscalated, events.ItemEscalated, events.ItemEscalated}) {
		t.Fatalf("on 14 August the watcher recorded %v", got)
	}
	it = w.item("i1")
	if it.Escalation == nil || it.Escalation.Whom != events.EscalateCommittee || it.Escalation.Step != 3 || it.TurnedRedAt.IsZero() || !it.TurnedYellowAt.IsZero() {
		t.Fatalf("on 14 August i1 escalation %+v, red %v, yellow %v", it.Escalation, it.TurnedRedAt, it.TurnedYellowAt)
	}
	checkOrder("escalated to the committee")
	filter("committee", map[string][]string{query.EscalatedCommittee: {"i1"}, query.EscalatedHead: nil, query.EscalatedAny: {"i1"}})

	// Closed: the escalation is history, no longer open.
	w.on("2024-08-15")
	w.exec(events.SubmitItem{ItemID: "i1"})
	w.exec(events.VerifyItem{ItemID: "i1", Note: "整改到位"})
	it = w.item("i1")
	if it.Escalation == nil || it.Escalation.Whom != events.EscalateCommittee || it.Escalation.Open {
		t.Errorf("closed i1 escalation %+v, want the committee's, closed", it.Escalation)
	}
	filter("closed", map[string][]string{query.EscalatedCommittee: nil, query.EscalatedAny: nil})
	if got := w.pass("2024-08-20"); len(got) != 0 {
		t.Errorf("the watcher recorded %v for a closed item", got)
	}

	// A bad filter names itself.
	bad := Answer(context.Background(), w.ledger, "list", query.Request{Scope: allScope, Params: paramsOf(query.LedgerParams{Escalated: "boss"})}, time.Second)
	if bad.Error == nil || bad.Error.Code != events.CodeInvalid || len(bad.Error.Fields) != 1 || bad.Error.Fields[0].Field != "escalated" {
		t.Errorf("escalated=boss: %v", bad.Error)
	}

	// Built in bulk, event by event, or in one batch: the same view.
	ctx := context.Background()
	evs := w.all()
	want, err := w.ledger.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := MustOpenLedger(t, evs).Digest(ctx); err != nil || got != want {
		t.Errorf("one batch: digest %s (%v), event by event %s", got, err, want)
	}
	for _, n := range []int{1, 3, 1000} {
		withRebuildBatch(t, n)
		if got, err := MustRebuildLedger(t, evs).Digest(ctx); err != nil || got != want {
			t.Errorf("rebuilt %d at a time: digest %s (%v), event by event %s", n, got, err, want)
		}
	}

	// As of 17 June, through the audit view: escalated to the head then.
	audit := MustOpenRunner(t, Audit{}, nil, nil)
	if err := audit.Apply(ctx, deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	then := Answer(ctx, audit, "asof_ledger", query.Request{Scope: allScope, AsOf: query.AsOf{Time: time.Date(2024, 6, 17, 23, 0, 0, 0, chinaZone)},
		Params: paramsOf(query.AsOfLedgerParams{Escalated: query.EscalatedHead})}, time.Second)
	var page query.AsOfLedger
	if then.Error != nil || json.Unmarshal(then.Data, &page) != nil || len(page.Items) != 1 || page.Items[0].Escalation == nil ||
		page.Items[0].Escalation.Whom != events.EscalateUnitHead {
		t.Errorf("as of 17 June escalated=head: %s %v", then.Data, then.Error)
	}
}
