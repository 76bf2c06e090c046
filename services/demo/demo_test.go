package demo

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services"
	"rectify/services/eventstore/embedded"
)

func TestSeedBuildsEveryItemStateThroughTheCommandSide(t *testing.T) {
	store, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if _, _, err := services.New(store, services.Options{}).Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	res, err := Seed(ctx, store, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items < 65 || res.Items > 75 {
		t.Errorf("demo raised %d items, want about seventy (sixty last year, ten the year before)", res.Items)
	}
	for _, uid := range []string{"u-reviewer", "u-viewer", "u-dongfeng"} {
		if !strings.HasPrefix(res.Tokens[uid], events.TokenPrefix) {
			t.Errorf("no demo token for %s: %q", uid, res.Tokens[uid])
		}
	}
	// Fold every event: which statuses and facts does the sample show?
	all, err := store.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for i, e := range all {
		types[e.Type]++
		// The bootstrap administrator is created at the real time, before
		// the demo's year begins; the demo's own events are in time order.
		if i > 0 && all[i-1].Stream != "user-admin" && e.Time.Before(all[i-1].Time) {
			t.Fatalf("event %d at %s is earlier than the one before it", e.Position, e.Time)
		}
		if e.Time.After(now) && e.Stream != "user-admin" {
			t.Fatalf("event %d (%s) happens in the future: %s", e.Position, e.Type, e.Time)
		}
		if _, err := events.Decode(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []string{events.ItemRaised, events.ItemAssigned, events.ItemMeasurePlanned, events.ItemMeasureCompleted,
		events.ItemProgressReported, events.ItemEvidenceAttached, events.ItemDeadlineChanged, events.ItemSubmitted,
		events.ItemVerified, events.ItemVerificationRejected, events.ItemReopened, events.ItemCarriedOver, events.ItemWithdrawn,
		events.CommitmentMade, events.CommitmentActivityLogged, events.CycleClosed, events.UnitRegistered, events.UserRoleGranted} {
		if types[typ] == 0 {
			t.Errorf("the demo has no %s event", typ)
		}
	}
	if types[events.CommitmentActivityLogged] < 300 {
		t.Errorf("only %d activities logged; a year of commitments needs hundreds", types[events.CommitmentActivityLogged])
	}
	// A second run on a seeded store is refused, never doubling the sample.
	if _, err := Seed(ctx, store, Options{Now: now}); events.ErrorCode(err) != events.CodeConflict {
		t.Errorf("seeding twice: %v, want a conflict", err)
	}
	head, _ := store.Head(ctx)
	if head != all[len(all)-1].Position {
		t.Errorf("the refused second seed wrote events: head %d, was %d", head, all[len(all)-1].Position)
	}
}
