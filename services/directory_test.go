package services

import (
	"context"
	"testing"

	"rectify/events"
)

// TestDirectorySeesWhatAnotherWriterChanged: the command side keeps user,
// unit and cycle streams in memory, but the store stays the truth. Roles
// revoked and granted, a unit moved and a cycle closed through another
// service on the same store (as another command process would) take
// effect on this service's very next command.
func TestDirectorySeesWhatAnotherWriterChanged(t *testing.T) {
	f := MustOpenFixture(t, nil)
	raise := func(id, unit string) error {
		_, err := f.exec("editor1", events.RaiseItem{ItemID: id, CycleID: "2019", UnitID: unit, Title: "整改事项" + id, Deadline: d("2019-12-01")})
		return err
	}
	// Warm the copies: editor1, c1, c2, the tree and 2019 are read.
	if err := raise("i1", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := raise("i2", "c2"); events.ErrorCode(err) != events.CodeForbidden {
		t.Fatalf("editor1 raised in c2 before any grant: %v", err)
	}

	other := New(f.store, Options{Now: f.clock.Now, Location: beijing})
	ctx := context.Background()
	for _, c := range []events.Command{
		events.RevokeRole{UserID: "editor1", Role: events.RoleEditor, UnitID: "c1", Reason: "调岗"},
		events.GrantRole{UserID: "editor1", Role: events.RoleEditor, UnitID: "c2"},
	} {
		if _, err := other.Execute(ctx, c, Meta{Actor: events.SystemActor}); err != nil {
			t.Fatal(err)
		}
	}
	if err := raise("i3", "c1"); events.ErrorCode(err) != events.CodeForbidden {
		t.Errorf("after the revocation elsewhere, editor1 raised in c1: %v", err)
	}
	if err := raise("i4", "c2"); err != nil {
		t.Errorf("after the grant elsewhere, editor1 could not raise in c2: %v", err)
	}

	// c1a moves under c2: editor1 (now on c2) covers it.
	if err := raise("i5", "c1a"); events.ErrorCode(err) != events.CodeForbidden {
		t.Fatalf("editor1 raised in c1a under c1: %v", err)
	}
	if _, err := other.Execute(ctx, events.MoveUnit{UnitID: "c1a", ParentID: "c2"}, Meta{Actor: events.SystemActor}); err != nil {
		t.Fatal(err)
	}
	if err := raise("i6", "c1a"); err != nil {
		t.Errorf("after the move elsewhere, editor1 could not raise in c1a: %v", err)
	}
}
