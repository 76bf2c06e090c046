package projections

import (
	"context"
	"database/sql"
	"testing"
)

// tallyV2 is tallyProjection as a later build might define it: the same
// view, one more column.
type tallyV2 struct{ tallyProjection }

func (tallyV2) Migrate(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE tally (stream TEXT PRIMARY KEY, n INTEGER NOT NULL, last_type TEXT NOT NULL,
		last_position INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '')`)
	return err
}

// TestViewOfAnotherSchemaIsBuiltAgain: a view database left by a build
// whose tables differ is replaced by an empty one (position 0) instead of
// failing its queries; one of the current schema keeps its checkpoint.
func TestViewOfAnotherSchemaIsBuiltAgain(t *testing.T) {
	ctx := context.Background()
	store := MustOpenStore(t)
	evs := appendN(t, store, 20, 4)
	dir := t.TempDir()

	open := func(p Projection) *Runner {
		t.Helper()
		r, err := Open(ctx, p, Options{Dir: dir, Source: store})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := open(tallyProjection{})
	if err := old.Apply(ctx, deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	if old.Position() != evs[len(evs)-1].Position {
		t.Fatalf("old view at %d", old.Position())
	}
	old.Close()

	// The same schema: the checkpoint stands.
	same := open(tallyProjection{})
	if same.Position() != evs[len(evs)-1].Position {
		t.Errorf("reopened with its own schema at %d, want %d", same.Position(), evs[len(evs)-1].Position)
	}
	same.Close()

	// Another schema: empty, and usable with the new column.
	r := open(tallyV2{})
	defer r.Close()
	if r.Position() != 0 {
		t.Fatalf("a view of another schema opened at %d, want 0", r.Position())
	}
	if err := r.Apply(ctx, deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	err := r.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
		var n, notes int
		if err := db.QueryRowContext(ctx, `SELECT sum(n), count(note) FROM tally`).Scan(&n, &notes); err != nil {
			return err
		}
		if n != len(evs) || notes != 4 {
			t.Errorf("rebuilt view counts %d events in %d streams, want %d in 4", n, notes, len(evs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
