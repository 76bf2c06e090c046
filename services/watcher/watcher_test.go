package watcher_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/services"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/watcher"
)

var cst = time.FixedZone("CST", 8*3600)

// clock is a clock tests move by hand; the command side and the watchers
// read the same one.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// On sets the clock to 10:00 of day (YYYY-MM-DD) in China.
func (c *clock) On(tb testing.TB, day string) {
	tb.Helper()
	t, err := time.ParseInLocation(time.DateOnly, day, cst)
	if err != nil {
		tb.Fatal(err)
	}
	c.mu.Lock()
	c.t = t.Add(10 * time.Hour)
	c.mu.Unlock()
}

// fixture is a store with a committee, a community under it, and a cycle,
// and the command side writing to it at the clock's time.
type fixture struct {
	store *embedded.Store
	svc   *services.Service
	clock *clock
}

func MustOpenFixture(tb testing.TB, day string) *fixture {
	tb.Helper()
	store, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	f := &fixture{store: store, clock: &clock{}}
	f.clock.On(tb, day)
	f.svc = services.New(store, services.Options{Now: f.clock.Now})
	f.exec(tb, events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee})
	f.exec(tb, events.RegisterUnit{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "gw"})
	f.exec(tb, events.RegisterUnit{UnitID: "zb1", Name: "东风社区第一支部", Kind: events.UnitBranch, ParentID: "sq1"})
	f.exec(tb, events.OpenCycle{CycleID: "y2024", Name: "2024年度述职评议", Year: 2024, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2024-01-01"), End: events.MustDate("2024-12-31")})
	return f
}

func (f *fixture) exec(tb testing.TB, cmd events.Command) services.Result {
	tb.Helper()
	res, err := f.svc.Execute(context.Background(), cmd, services.Meta{Actor: events.SystemActor})
	if err != nil {
		tb.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	return res
}

// raise raises an item of zb1, due on deadline, owned by 李四.
func (f *fixture) raise(tb testing.TB, id, deadline string) {
	tb.Helper()
	f.exec(tb, events.RaiseItem{ItemID: id, CycleID: "y2024", UnitID: "zb1", Title: "“三会一课”落实不到位", Deadline: events.MustDate(deadline)})
	f.exec(tb, events.AssignItem{ItemID: id, UnitID: "zb1", OwnerID: "lisi", OwnerName: "李四"})
}

func mustWatcher(tb testing.TB, f *fixture) *watcher.Watcher {
	tb.Helper()
	w, err := watcher.New(f.store, watcher.Options{Now: f.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// pass runs one pass of w on day and returns how many events it recorded.
func pass(tb testing.TB, f *fixture, w *watcher.Watcher, day string) int {
	tb.Helper()
	f.clock.On(tb, day)
	n, err := w.Check(context.Background())
	if err != nil {
		tb.Fatalf("pass on %s: %v", day, err)
	}
	return n
}

// watched returns the watcher's events in the item's stream, as
// "type whom days" lines.
func watched(tb testing.TB, f *fixture, id string) []string {
	tb.Helper()
	evs, err := f.store.ReadStream(context.Background(), events.ItemStream(id), eventstore.Forwards, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		p, err := events.Decode(e)
		if err != nil {
			tb.Fatal(err)
		}
		var line string
		switch d := p.(type) {
		case events.ItemTurnedYellowData:
			line = fmt.Sprintf("yellow %s left %d", d.Deadline, d.DaysLeft)
		case events.ItemTurnedRedData:
			line = fmt.Sprintf("red %s over %d", d.Deadline, d.DaysOverdue)
		case events.ItemEscalatedData:
			line = fmt.Sprintf("escalated %d %s %s %s over %d", d.Step, d.Whom, d.NotifyUnitID, d.OwnerName, d.DaysOverdue)
		default:
			continue
		}
		if e.Actor != watcher.Actor {
			tb.Errorf("%s recorded by %q, want %q", e.Type, e.Actor, watcher.Actor)
		}
		out = append(out, line)
	}
	return out
}

func TestWatcherWithAMovingClock(t *testing.T) {
	f := MustOpenFixture(t, "2024-06-01")
	f.raise(t, "i1", "2024-06-30")
	f.raise(t, "closed", "2024-06-20")
	f.exec(t, events.ReportProgress{ItemID: "closed", Percent: ptr(100)})
	f.exec(t, events.SubmitItem{ItemID: "closed"})
	f.exec(t, events.VerifyItem{ItemID: "closed", Note: "同意销号"})
	f.raise(t, "gone", "2024-06-20")
	f.exec(t, events.WithdrawItem{ItemID: "gone", Reason: "重复事项"})
	w := mustWatcher(t, f)

	steps := []struct {
		day  string
		want int
	}{
		{"2024-06-01", 0}, // 29 days left: green
		{"2024-06-22", 0}, // 8 days left
		{"2024-06-23", 1}, // 7 days left: yellow
		{"2024-06-23", 0}, // once
		{"2024-06-30", 0}, // due today: still yellow
		{"2024-07-01", 2}, // overdue: red, and the owner is reminded
		{"2024-07-06", 0},
		{"2024-07-07", 1}, // 7 days overdue: the unit's head
		{"2024-07-13", 0},
		{"2024-07-14", 1}, // 14 days overdue: the committee
		{"2024-09-01", 0}, // nothing more, however late
	}
	for _, s := range steps {
		if n := pass(t, f, w, s.day); n != s.want {
			t.Fatalf("on %s the watcher recorded %d events, want %d: %q", s.day, n, s.want, watched(t, f, "i1"))
		}
	}
	// Each step reminds its own people, and says how late the item was.
	want := []string{
		"yellow 2024-06-30 left 7",
		"red 2024-06-30 over 1",
		"escalated 1 owner zb1 李四 over 1",
		"escalated 2 unit_head zb1  over 7",
		"escalated 3 committee gw  over 14",
	}
	if got := watched(t, f, "i1"); !slices.Equal(got, want) {
		t.Fatalf("i1's stream shows\n%q\nwant\n%q", got, want)
	}
	for _, id := range []string{"closed", "gone"} {
		if got := watched(t, f, id); len(got) != 0 {
			t.Errorf("%s, finished before its deadline, got %q", id, got)
		}
	}

	// A new deadline starts the colours afresh. The command side folds the
	// watcher's events like any other and still takes commands.
	f.exec(t, events.ChangeDeadline{ItemID: "i1", Deadline: events.MustDate("2024-10-31"), Reason: "经工委同意延期"})
	f.exec(t, events.ReportProgress{ItemID: "i1", Percent: ptr(50), Note: "已完成一半"})
	for _, s := range []struct {
		day  string
		want int
	}{{"2024-09-01", 0}, {"2024-10-23", 0}, {"2024-10-24", 1}, {"2024-10-24", 0}, {"2024-11-01", 2}, {"2024-11-01", 0}} {
		if n := pass(t, f, w, s.day); n != s.want {
			t.Fatalf("after the new deadline, on %s the watcher recorded %d events, want %d: %q", s.day, n, s.want, watched(t, f, "i1"))
		}
	}
	got := watched(t, f, "i1")
	if tail := got[len(want):]; !slices.Equal(tail, []string{"yellow 2024-10-31 left 7", "red 2024-10-31 over 1", "escalated 1 owner zb1 李四 over 1"}) {
		t.Fatalf("after the new deadline: %q", tail)
	}

	// Closing the item ends it; it stays quiet even later.
	f.exec(t, events.SubmitItem{ItemID: "i1", Note: "请验收"})
	f.exec(t, events.VerifyItem{ItemID: "i1"})
	if n := pass(t, f, w, "2024-12-31"); n != 0 {
		t.Fatalf("a closed item got %d events", n)
	}
}

func TestWatcherEventsCarryTheirCause(t *testing.T) {
	f := MustOpenFixture(t, "2024-06-01")
	f.raise(t, "i1", "2024-06-03")
	w := mustWatcher(t, f)
	pass(t, f, w, "2024-06-05")
	evs, err := f.store.ReadStream(context.Background(), events.ItemStream("i1"), eventstore.Forwards, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	raised, red, owner := evs[0], evs[2], evs[3]
	if red.Type != events.ItemTurnedRed || owner.Type != events.ItemEscalated {
		t.Fatalf("events %s, %s after the assignment", red.Type, owner.Type)
	}
	if red.CausationID != raised.ID || owner.CausationID != raised.ID || owner.CorrelationID != red.CorrelationID {
		t.Errorf("the watcher's events name cause %s and %s (correlation %s, %s); want the raise %s and one correlation",
			red.CausationID, owner.CausationID, red.CorrelationID, owner.CorrelationID, raised.ID)
	}
	if !red.Time.Equal(f.clock.Now()) {
		t.Errorf("recorded at %s, the clock says %s", red.Time, f.clock.Now())
	}
}

func TestCarriedOverItemsWaitForANewDeadline(t *testing.T) {
	f := MustOpenFixture(t, "2024-12-01")
	f.exec(t, events.OpenCycle{CycleID: "y2025", Name: "2025年度整改计划", Year: 2025, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2025-01-01"), End: events.MustDate("2025-12-31")})
	f.raise(t, "i1", "2024-12-31")
	f.exec(t, events.CarryOverItem{ItemID: "i1", ToCycleID: "y2025", Reason: "转入2025年整改计划"})
	w := mustWatcher(t, f)
	if n := pass(t, f, w, "2025-01-20"); n != 0 {
		t.Fatalf("a carried-over item got %d events: %q", n, watched(t, f, "i1"))
	}
	f.exec(t, events.ChangeDeadline{ItemID: "i1", Deadline: events.MustDate("2025-01-25"), Reason: "按2025年计划"})
	if n := pass(t, f, w, "2025-01-20"); n != 1 {
		t.Fatalf("with a deadline of the new plan 5 days away: %d events, want yellow: %q", n, watched(t, f, "i1"))
	}
}

// TestTwoWatchersRacing runs two watchers on one store, passing at the
// same moments while people keep working on the items: every transition
// is recorded exactly once.
func TestTwoWatchersRacing(t *testing.T) {
	f := MustOpenFixture(t, "2024-05-01")
	const items = 24
	for i := range items {
		f.raise(t, fmt.Sprintf("i%02d", i), fmt.Sprintf("2024-06-%02d", 1+i))
	}
	a, b := mustWatcher(t, f), mustWatcher(t, f)
	ctx := context.Background()
	for day := time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC); day.Before(time.Date(2024, 7, 31, 0, 0, 0, 0, time.UTC)); day = day.AddDate(0, 0, 1) {
		f.clock.On(t, day.Format(time.DateOnly))
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for _, w := range []*watcher.Watcher{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.Check(ctx); err != nil {
					errs <- err
				}
			}()
		}
		// A user reports progress on some items meanwhile, moving their
		// streams under the watchers' appends.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := day.Day() % 3; i < items; i += 3 {
				if _, err := f.svc.Execute(ctx, events.ReportProgress{ItemID: fmt.Sprintf("i%02d", i), Note: "进展"}, services.Meta{Actor: events.SystemActor}); err != nil {
					errs <- err
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", day.Format(time.DateOnly), err)
		}
	}
	// A last quiet pass each: whatever a conflict postponed is recorded now.
	pass(t, f, a, "2024-07-31")
	pass(t, f, b, "2024-07-31")
	for i := range items {
		got := watched(t, f, fmt.Sprintf("i%02d", i))
		kinds := make([]string, len(got))
		for k, line := range got {
			kinds[k] = strings.Join(strings.Fields(line)[:2], " ")
		}
		want := []string{"yellow 2024-06-" + fmt.Sprintf("%02d", 1+i), "red 2024-06-" + fmt.Sprintf("%02d", 1+i),
			"escalated 1", "escalated 2", "escalated 3"}
		if !slices.Equal(kinds, want) {
			t.Errorf("i%02d: %q, want each transition once", i, got)
		}
	}
}

// TestRestartedWatcherDoesNotRepeat starts a new watcher, as after a
// restart, at every step: it learns from the store what was recorded.
func TestRestartedWatcherDoesNotRepeat(t *testing.T) {
	f := MustOpenFixture(t, "2024-06-01")
	f.raise(t, "i1", "2024-06-30")
	f.raise(t, "i2", "2024-07-10")
	for _, s := range []struct {
		day         string
		first, then int
	}{
		{"2024-06-23", 1, 0}, // i1 yellow
		{"2024-07-01", 2, 0}, // i1 red + owner
		{"2024-07-03", 1, 0}, // i2 yellow
		{"2024-07-11", 3, 0}, // i1 unit head; i2 red + owner
		{"2024-07-17", 2, 0}, // i1 committee; i2 unit head
	} {
		if n := pass(t, f, mustWatcher(t, f), s.day); n != s.first {
			t.Fatalf("on %s a fresh watcher recorded %d, want %d", s.day, n, s.first)
		}
		if n := pass(t, f, mustWatcher(t, f), s.day); n != s.then {
			t.Fatalf("on %s a restarted watcher recorded %d more, want %d", s.day, n, s.then)
		}
	}
}

// gatedStore holds every Append until the test releases it, so that two
// watchers can be made to decide from the same state and append at once.
type gatedStore struct {
	eventstore.Store
	arrived chan struct{}
	release chan struct{}
}

func (g gatedStore) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	g.arrived <- struct{}{}
	<-g.release
	return g.Store.Append(ctx, stream, expected, evs...)
}

// TestWatchersAppendingTheSameFactsAtOnce makes two watchers decide the
// same transition from the same state and append it together: the event
// ids are the same, so the store keeps one copy, whichever way the race
// goes.
func TestWatchersAppendingTheSameFactsAtOnce(t *testing.T) {
	f := MustOpenFixture(t, "2024-06-01")
	f.raise(t, "i1", "2024-06-30")
	head, _ := f.store.Head(context.Background())
	gate := gatedStore{Store: f.store, arrived: make(chan struct{}), release: make(chan struct{})}
	var ws []*watcher.Watcher
	for range 2 {
		w, err := watcher.New(gate, watcher.Options{Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	f.clock.On(t, "2024-07-01")
	errs := make(chan error, 2)
	for _, w := range ws {
		go func() {
			_, err := w.Check(context.Background())
			errs <- err
		}()
	}
	<-gate.arrived
	<-gate.arrived // both have decided red + owner from revision 1
	close(gate.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := watched(t, f, "i1"); !slices.Equal(got, []string{"red 2024-06-30 over 1", "escalated 1 owner zb1 李四 over 1"}) {
		t.Fatalf("two watchers at once recorded %q", got)
	}
	if h, _ := f.store.Head(context.Background()); h-head != 2 {
		t.Fatalf("the store moved by %d events, want 2", h-head)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	f := MustOpenFixture(t, "2024-06-01")
	for _, o := range []watcher.Options{
		{YellowDays: -1},
		{Steps: []watcher.Step{{Whom: "mayor", AfterDays: 1}}},
		{Steps: watcher.Ladder(14, 7)},
		{Steps: []watcher.Step{{Whom: events.EscalateOwner, AfterDays: 1}, {Whom: events.EscalateOwner, AfterDays: 3}}},
		{Steps: []watcher.Step{{Whom: events.EscalateOwner, AfterDays: 0}}},
	} {
		if _, err := watcher.New(f.store, o); events.ErrorCode(err) != events.CodeInvalid {
			t.Errorf("New(%+v) = %v, want invalid", o, err)
		}
	}
	// A shorter ladder and window are fine.
	w, err := watcher.New(f.store, watcher.Options{Now: f.clock.Now, YellowDays: 3, Steps: []watcher.Step{{Whom: events.EscalateCommittee, AfterDays: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	f.raise(t, "i1", "2024-06-10")
	for _, s := range []struct {
		day  string
		want int
	}{{"2024-06-06", 0}, {"2024-06-07", 1}, {"2024-06-11", 1}, {"2024-06-12", 1}} {
		if n := pass(t, f, w, s.day); n != s.want {
			t.Fatalf("on %s: %d, want %d: %q", s.day, n, s.want, watched(t, f, "i1"))
		}
	}
	if got := watched(t, f, "i1"); got[2] != "escalated 1 committee gw  over 2" {
		t.Errorf("escalation to the committee: %q", got)
	}
}

func TestRunPassesUntilCancelled(t *testing.T) {
	f := MustOpenFixture(t, "2024-07-05")
	f.raise(t, "i1", "2024-06-30")
	w, err := watcher.New(f.store, watcher.Options{Now: f.clock.Now, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(watched(t, f, "i1")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Run recorded %q", watched(t, f, "i1"))
		}
		time.Sleep(5 * time.Millisecond) // poll pacing
	}
	f.clock.On(t, "2024-07-07") // the unit head's day
	for len(watched(t, f, "i1")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Run recorded %q", watched(t, f, "i1"))
		}
		time.Sleep(5 * time.Millisecond) // poll pacing
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
