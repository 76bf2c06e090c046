package gen_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
	"unicode"

	"rectify/events"
	"rectify/services"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
	"rectify/services/watcher"
)

func MustOpenStore(tb testing.TB) *embedded.Store {
	tb.Helper()
	s, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// commandFor returns the command that makes the command side write p.
func commandFor(tb testing.TB, p events.Payload) events.Command {
	tb.Helper()
	switch p := p.(type) {
	case events.CycleOpenedData:
		return events.OpenCycle{CycleID: p.CycleID, Name: p.Name, Year: p.Year, Kind: p.Kind, Start: p.Start, End: p.End}
	case events.CycleClosedData:
		return events.CloseCycle{CycleID: p.CycleID, Note: p.Note}
	case events.UnitRegisteredData:
		return events.RegisterUnit{UnitID: p.UnitID, Name: p.Name, Kind: p.Kind, ParentID: p.ParentID}
	case events.UnitRenamedData:
		return events.RenameUnit{UnitID: p.UnitID, Name: p.NewName}
	case events.UnitMovedData:
		return events.MoveUnit{UnitID: p.UnitID, ParentID: p.NewParentID}
	case events.UnitRetiredData:
		return events.RetireUnit{UnitID: p.UnitID, Reason: p.Reason}
	case events.ItemRaisedData:
		return events.RaiseItem{ItemID: p.ItemID, CycleID: p.CycleID, UnitID: p.UnitID, Title: p.Title, Description: p.Description,
			Category: p.Category, Source: p.Source, Severity: p.Severity, Deadline: p.Deadline}
	case events.ItemAssignedData:
		return events.AssignItem{ItemID: p.ItemID, UnitID: p.UnitID, OwnerID: p.OwnerID, OwnerName: p.OwnerName}
	case events.ItemMeasurePlannedData:
		return events.PlanMeasure{ItemID: p.ItemID, MeasureID: p.MeasureID, Text: p.Text, OwnerID: p.OwnerID, OwnerName: p.OwnerName, Due: p.Due}
	case events.ItemMeasureCompletedData:
		return events.CompleteMeasure{ItemID: p.ItemID, MeasureID: p.MeasureID, Note: p.Note, CompletedOn: p.CompletedOn}
	case events.ItemProgressReportedData:
		return events.ReportProgress{ItemID: p.ItemID, Percent: &p.Percent, Note: p.Note}
	case events.ItemEvidenceAttachedData:
		return events.AttachEvidence{ItemID: p.ItemID, EvidenceID: p.EvidenceID, Name: p.Name, Size: p.Size, SHA256: p.SHA256, ContentType: p.ContentType}
	case events.ItemDeadlineChangedData:
		return events.ChangeDeadline{ItemID: p.ItemID, Deadline: p.NewDeadline, Reason: p.Reason}
	case events.ItemSubmittedData:
		return events.SubmitItem{ItemID: p.ItemID, Note: p.Note}
	case events.ItemVerifiedData:
		return events.VerifyItem{ItemID: p.ItemID, Note: p.Note}
	case events.ItemVerificationRejectedData:
		return events.RejectItem{ItemID: p.ItemID, Reason: p.Reason}
	case events.ItemReopenedData:
		return events.ReopenItem{ItemID: p.ItemID, Reason: p.Reason}
	case events.ItemCarriedOverData:
		return events.CarryOverItem{ItemID: p.ItemID, ToCycleID: p.ToCycleID, Reason: p.Reason}
	case events.ItemWithdrawnData:
		return events.WithdrawItem{ItemID: p.ItemID, Reason: p.Reason}
	case events.CommitmentMadeData:
		return events.MakeCommitment{CommitmentID: p.CommitmentID, CycleID: p.CycleID, UnitID: p.UnitID, PersonID: p.PersonID,
			PersonName: p.PersonName, Title: p.Title, Activity: p.Activity, Target: p.Target, Period: p.Period, Start: p.Start, End: p.End,
			Source: p.Source}
	case events.CommitmentRevisedData:
		return events.ReviseCommitment{CommitmentID: p.CommitmentID, Target: &p.NewTarget, Period: p.NewPeriod, End: p.NewEnd, Reason: p.Reason}
	case events.CommitmentEndedData:
		return events.EndCommitment{CommitmentID: p.CommitmentID, Reason: p.Reason, EndedOn: p.EndedOn}
	case events.CommitmentActivityLoggedData:
		return events.LogActivity{CommitmentID: p.CommitmentID, ActivityID: p.ActivityID, Count: p.Count, OccurredOn: p.OccurredOn, Note: p.Note}
	case events.UserCreatedData:
		return events.CreateUser{UserID: p.UserID, Name: p.Name}
	case events.UserRoleGrantedData:
		return events.GrantRole{UserID: p.UserID, Role: p.Role, UnitID: p.UnitID}
	case events.UserRoleRevokedData:
		return events.RevokeRole{UserID: p.UserID, Role: p.Role, UnitID: p.UnitID, Reason: p.Reason}
	case events.UserTokenIssuedData:
		return events.IssueToken{UserID: p.UserID, TokenID: p.TokenID, Label: p.Label, ExpiresAt: p.ExpiresAt}
	case events.UserTokenRevokedData:
		return events.RevokeToken{UserID: p.UserID, TokenID: p.TokenID, Reason: p.Reason}
	}
	tb.Fatalf("no command writes %T", p)
	return nil
}

// TestHistoryReplaysThroughCommandSide issues, for every generated event,
// the command that would have written it, at the event's time and as the
// event's actor, through the real command side: every command must pass
// its rules and authorisation and write exactly the generated payload at
// the generated revision.
func TestHistoryReplaysThroughCommandSide(t *testing.T) {
	cfg := gen.Config{Seed: 7, Units: 40, Items: 160, Commitments: 20, Events: 2000}
	store := MustOpenStore(t)
	var mu sync.Mutex
	var clock time.Time
	svc := services.New(store, services.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}})
	ctx := context.Background()
	n := 0
	types := map[string]bool{}
	for e := range gen.History(cfg) {
		types[e.Type] = true
		want, err := events.Decode(e)
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if recordedByWatcher[e.Type] {
			// No command writes these: the watcher appends them itself, at
			// the exact revision it folded, as here.
			if e.Actor != watcher.Actor {
				t.Fatalf("event %d (%s): recorded by %s, not the watcher", n, e.Type, e.Actor)
			}
			if _, err := store.Append(ctx, e.Stream, eventstore.Exact(e.Revision-1), e); err != nil {
				t.Fatalf("event %d (%s %s rev %d): the watcher's append fails: %v", n, e.Type, e.Stream, e.Revision, err)
			}
			n++
			continue
		}
		mu.Lock()
		clock = e.Time
		mu.Unlock()
		cmd := commandFor(t, want)
		res, err := svc.Execute(ctx, cmd, services.Meta{Actor: e.Actor})
		if err != nil {
			t.Fatalf("event %d (%s %s rev %d at %s by %s): the command side refuses %s: %v",
				n, e.Type, e.Stream, e.Revision, e.Time.In(time.FixedZone("CST", 8*3600)).Format(time.DateTime), e.Actor, cmd.CommandName(), err)
		}
		if res.Stream != e.Stream || res.Revision != e.Revision || res.Events != 1 {
			t.Fatalf("event %d (%s): command side wrote %d events to %s rev %d, generated %s rev %d", n, e.Type, res.Events, res.Stream, res.Revision, e.Stream, e.Revision)
		}
		stored, err := store.ReadStream(ctx, e.Stream, eventstore.Forwards, e.Revision, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.Decode(stored[0])
		if err != nil {
			t.Fatal(err)
		}
		if tok, ok := got.(events.UserTokenIssuedData); ok {
			// The command side hashes a token of its own making.
			tok.SHA256 = want.(events.UserTokenIssuedData).SHA256
			got = tok
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d (%s %s): command side wrote\n%+v\ngenerated\n%+v", n, e.Type, e.Stream, got, want)
		}
		n++
	}
	if n != gen.Count(cfg) {
		t.Errorf("replayed %d events, Count says %d", n, gen.Count(cfg))
	}
	for _, typ := range events.Types() {
		if !types[typ] && !notGenerated[typ] {
			t.Errorf("the replayed history has no %s", typ)
		}
	}
	t.Logf("%d events replayed through the command side", n)
}

// recordedByWatcher are the event types no command writes: the deadline
// watcher (services/watcher) records them as time passes. The generator
// plans them as the watcher would; the replay appends them as it does.
var recordedByWatcher = map[string]bool{events.ItemTurnedYellow: true, events.ItemTurnedRed: true, events.ItemEscalated: true}

// notGenerated are the event types of the committee's scoring (rule sets
// and published assessments): a few events a month, not part of the units'
// work the generator makes up in volume. Their view is tested on its own
// (projections/assessments_test.go); the generated history leaves them out.
var notGenerated = map[string]bool{events.RulesetDrafted: true, events.RulesetRevised: true, events.RulesetPublished: true,
	events.AssessmentPublished: true}

// legal lists, for each item event, the statuses it may happen in and the
// status it leaves: the lifecycle of DESIGN.md, written out independently
// of the generator.
var legal = map[string]struct {
	from []events.ItemStatus
	to   events.ItemStatus // "" keeps the status
}{
	events.ItemRaised:               {from: []events.ItemStatus{""}, to: events.StatusRaised},
	events.ItemAssigned:             {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemMeasurePlanned:       {from: []events.ItemStatus{events.StatusAssigned, events.StatusInProgress}, to: events.StatusInProgress},
	events.ItemMeasureCompleted:     {from: []events.ItemStatus{events.StatusInProgress}, to: events.StatusInProgress},
	events.ItemProgressReported:     {from: []events.ItemStatus{events.StatusAssigned, events.StatusInProgress}, to: events.StatusInProgress},
	events.ItemEvidenceAttached:     {from: []events.ItemStatus{events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemDeadlineChanged:      {from: []events.ItemStatus{events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemSubmitted:            {from: []events.ItemStatus{events.StatusInProgress}, to: events.StatusSubmitted},
	events.ItemVerified:             {from: []events.ItemStatus{events.StatusSubmitted}, to: events.StatusClosed},
	events.ItemVerificationRejected: {from: []events.ItemStatus{events.StatusSubmitted}, to: events.StatusInProgress},
	events.ItemReopened:             {from: []events.ItemStatus{events.StatusClosed}, to: events.StatusInProgress},
	events.ItemCarriedOver:          {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemWithdrawn:            {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}, to: events.StatusWithdrawn},
	// The watcher's facts: only about unfinished items, changing nothing.
	events.ItemTurnedYellow: {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemTurnedRed:    {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
	events.ItemEscalated:    {from: []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted}},
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return s != ""
}

// TestHistoryShape checks a default-sized organisation with fewer items
// against what a user of the views would expect to find: the sizes asked
// for, every kind of event, every item status, legal lifecycles, stream
// revisions without holes, time moving forwards, unique ids, and titles in
// Chinese and in English.
func TestHistoryShape(t *testing.T) {
	cfg := gen.Config{Seed: 3, Items: 5000, Events: 60_000}.Defaults()
	now := cfg.Now
	ids := map[string]bool{}
	revs := map[string]uint64{}
	status := map[string]events.ItemStatus{}
	perType := map[string]int{}
	measures := map[string]map[string]bool{} // item -> measure -> completed
	var last time.Time
	var zh, en int
	n := 0
	for e := range gen.History(cfg) {
		n++
		p, err := events.Decode(e)
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		perType[e.Type]++
		if ids[e.ID] {
			t.Fatalf("event id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.Revision != revs[e.Stream] {
			t.Fatalf("%s: revision %d after %d events", e.Stream, e.Revision, revs[e.Stream])
		}
		revs[e.Stream]++
		if e.Time.Before(last) || e.Time.After(now) {
			t.Fatalf("event %d at %s: after %s, or after Now %s", n, e.Time, last, now)
		}
		last = e.Time
		if e.Actor == "" || e.CorrelationID == "" {
			t.Fatalf("event %d has no actor or correlation id", n)
		}
		if e.Category() != events.CategoryItem {
			continue
		}
		rule, ok := legal[e.Type]
		if !ok {
			t.Fatalf("unexpected item event %s", e.Type)
		}
		st := status[e.Stream]
		legalFrom := false
		for _, f := range rule.from {
			legalFrom = legalFrom || f == st
		}
		if !legalFrom {
			t.Fatalf("%s: %s while %q", e.Stream, e.Type, st)
		}
		switch {
		case rule.to != "":
			status[e.Stream] = rule.to
		case e.Type == events.ItemAssigned && st == events.StatusRaised:
			status[e.Stream] = events.StatusAssigned
		}
		switch p := p.(type) {
		case events.ItemRaisedData:
			measures[e.Stream] = map[string]bool{}
			if hasHan(p.Title) {
				zh++
			}
			if isASCII(p.Title) {
				en++
			}
		case events.ItemMeasurePlannedData:
			measures[e.Stream][p.MeasureID] = false
		case events.ItemMeasureCompletedData:
			done, ok := measures[e.Stream][p.MeasureID]
			if !ok || done {
				t.Fatalf("%s: completes measure %s that is not open", e.Stream, p.MeasureID)
			}
			measures[e.Stream][p.MeasureID] = true
		case events.ItemSubmittedData:
			for id, done := range measures[e.Stream] {
				if !done {
					t.Fatalf("%s: submitted with measure %s open", e.Stream, id)
				}
			}
		}
	}
	if n != gen.Count(cfg) {
		t.Errorf("History yields %d events, Count says %d", n, gen.Count(cfg))
	}
	if d := n - cfg.Events; d < -cfg.Events/100 || d > cfg.Events/100 {
		t.Errorf("%d events, asked for about %d", n, cfg.Events)
	}
	if perType[events.UnitRegistered] != cfg.Units || perType[events.ItemRaised] != cfg.Items || perType[events.CommitmentMade] != cfg.Commitments {
		t.Errorf("%d units, %d items, %d commitments; asked for %d, %d, %d", perType[events.UnitRegistered], perType[events.ItemRaised],
			perType[events.CommitmentMade], cfg.Units, cfg.Items, cfg.Commitments)
	}
	for _, typ := range events.Types() {
		if perType[typ] == 0 && !notGenerated[typ] {
			t.Errorf("no %s event", typ)
		}
	}
	if perType[events.CommitmentActivityLogged] < cfg.Commitments {
		t.Errorf("%d activities for %d commitments", perType[events.CommitmentActivityLogged], cfg.Commitments)
	}
	byStatus := map[events.ItemStatus]int{}
	for _, s := range status {
		byStatus[s]++
	}
	for _, s := range []events.ItemStatus{events.StatusRaised, events.StatusAssigned, events.StatusInProgress, events.StatusSubmitted, events.StatusClosed, events.StatusWithdrawn} {
		if byStatus[s] == 0 {
			t.Errorf("no item ends %s: %v", s, byStatus)
		}
	}
	if zh < cfg.Items/2 || en == 0 {
		t.Errorf("%d Chinese and %d English item titles of %d", zh, en, cfg.Items)
	}
	t.Logf("%d events; items by status %v", n, byStatus)
}

func historyDigest(cfg gen.Config) string {
	h := sha256.New()
	for e := range gen.History(cfg) {
		b, _ := json.Marshal(e)
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestHistoryIsDeterministic(t *testing.T) {
	cfg := gen.Config{Seed: 11, Units: 50, Items: 1000}
	a, b := historyDigest(cfg), historyDigest(cfg)
	if a != b {
		t.Fatalf("same config, different histories: %s, %s", a, b)
	}
	cfg.Seed++
	if c := historyDigest(cfg); c == a {
		t.Fatalf("seeds %d and %d give the same history", cfg.Seed-1, cfg.Seed)
	}
}

// TestLoad loads a history into a real store, in several chunks: every
// event lands once, in its stream at its revision, causes before effects
// in $all, and loading again appends nothing.
func TestLoad(t *testing.T) {
	cfg := gen.Config{Seed: 5, Units: 30, Items: 1200, Commitments: 40, Events: 12_000}
	defer gen.SetLoadChunk(3000)()
	store := MustOpenStore(t)
	ctx := context.Background()
	var seen []int
	n, err := gen.Load(ctx, store, cfg, func(k int) { seen = append(seen, k) })
	if err != nil {
		t.Fatal(err)
	}
	want := gen.Count(cfg)
	if n != want || len(seen) < 4 || seen[len(seen)-1] != want {
		t.Fatalf("Load appended %d, progress %v, want %d in several chunks", n, seen, want)
	}
	all, err := store.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != want {
		t.Fatalf("store holds %d events, want %d", len(all), want)
	}
	stored := map[string]events.Event{}
	pos := map[string]uint64{} // first position of each stream
	for _, e := range all {
		stored[e.ID] = e
		if _, ok := pos[e.Stream]; !ok {
			pos[e.Stream] = e.Position
		}
	}
	for e := range gen.History(cfg) {
		s, ok := stored[e.ID]
		if !ok || s.Stream != e.Stream || s.Revision != e.Revision || string(s.Data) != string(e.Data) || !s.Time.Equal(e.Time) {
			t.Fatalf("event %s (%s rev %d) stored as %+v", e.ID, e.Stream, e.Revision, s)
		}
		if e.Type != events.ItemRaised {
			continue
		}
		p, _ := events.Decode(e)
		r := p.(events.ItemRaisedData)
		for _, cause := range []string{events.UnitStream(r.UnitID), events.CycleStream(r.CycleID), events.UserStream(e.Actor)} {
			if pos[cause] >= s.Position {
				t.Fatalf("%s at %d is not after %s at %d", e.Stream, s.Position, cause, pos[cause])
			}
		}
	}
	head, _ := store.Head(ctx)
	if n, err := gen.Load(ctx, store, cfg, nil); err != nil || n != want {
		t.Fatalf("second load: %d, %v", n, err)
	}
	if again, _ := store.Head(ctx); again != head {
		t.Fatalf("second load moved the head from %d to %d", head, again)
	}
}

func TestTokenAuthenticatesGeneratedUser(t *testing.T) {
	cfg := gen.Config{Seed: 9, Units: 10, Items: 10}
	want := events.TokenHash(gen.Token(cfg, "reviewer-1"))
	if !events.LooksLikeToken(gen.Token(cfg, "reviewer-1")) {
		t.Fatalf("%q does not look like a token", gen.Token(cfg, "reviewer-1"))
	}
	for e := range gen.History(cfg) {
		if e.Type == events.UserTokenIssued && e.Stream == events.UserStream("reviewer-1") {
			p, _ := events.Decode(e)
			if got := p.(events.UserTokenIssuedData).SHA256; got != want {
				t.Fatalf("reviewer-1's token hash is %s, Token hashes to %s", got, want)
			}
			return
		}
	}
	t.Fatal("reviewer-1 got no token")
}

// TestWatcherFindsNothingLeftToRecord runs the real deadline watcher, with
// its default options, over a loaded history at the history's Now: the
// generator has recorded every fact the watcher would have, each once, so
// it finds nothing to add.
func TestWatcherFindsNothingLeftToRecord(t *testing.T) {
	cfg := gen.Config{Seed: 13, Units: 30, Items: 500, Commitments: 20, Events: 5000}.Defaults()
	store := MustOpenStore(t)
	ctx := context.Background()
	if _, err := gen.Load(ctx, store, cfg, nil); err != nil {
		t.Fatal(err)
	}
	perType := map[string]int{}
	for e := range gen.History(cfg) {
		perType[e.Type]++
	}
	for typ := range recordedByWatcher {
		if perType[typ] == 0 {
			t.Errorf("the history has no %s", typ)
		}
	}
	w, err := watcher.New(store, watcher.Options{Now: func() time.Time { return cfg.Now }})
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		all, _ := store.ReadAll(ctx, 0, 0)
		for _, e := range all[len(all)-min(n, 5):] {
			t.Logf("recorded %s on %s: %s", e.Type, e.Stream, e.Data)
		}
		t.Fatalf("the watcher recorded %d facts the history lacks", n)
	}
	t.Logf("%d yellow, %d red, %d escalations", perType[events.ItemTurnedYellow], perType[events.ItemTurnedRed], perType[events.ItemEscalated])
}
