// Package projections builds rectify's views from the events: a runner that
// consumes the JetStream copy of $all, applies events in batches to a SQLite
// view database with the checkpoint in the same transaction, fills gaps from
// the store, rebuilds views beside the live ones, and answers queries over
// NATS. Each view lives in a file of its own.
package projections

import (
	"context"
	"database/sql"
	"fmt"

	"rectify/events"
)

// Projection is one family of views that share a view database and a
// checkpoint. Apply is called inside the transaction that also moves the
// checkpoint, so a view change and its checkpoint commit together.
type Projection interface {
	// Name identifies the projection in file names, consumer names, metrics
	// and change notices: lowercase letters and digits only.
	Name() string
	// Migrate creates the projection's tables in a fresh database.
	Migrate(ctx context.Context, tx *sql.Tx) error
	// Apply applies one event. It must be deterministic (a function of the
	// event and the view only, never of the wall clock) so that a rebuild
	// gives the same view. Events the projection does not care about are
	// ignored. A returned error aborts the batch and is retried; it means
	// the database failed, never that the event was unwelcome.
	Apply(ctx context.Context, tx *Tx, e events.Event) error
	// DigestQueries lists SELECTs whose rows, in order, define the view's
	// content for Digest. Each must have a total ORDER BY.
	DigestQueries() []string
}

// Flusher is a projection that keeps changes in memory across the events
// of a batch (in Tx.Batch) instead of writing each at once: counters that
// many events move, rows that several events of one batch change. Flush
// writes them; the runner calls it once per batch that applied anything,
// in the batch's transaction, after the last Apply and before the
// checkpoint moves, so the buffered changes commit with the checkpoint or
// not at all.
type Flusher interface {
	Projection
	Flush(ctx context.Context, tx *Tx) error
}

// Change is a notice that a key of a view changed at a position. Dashboards
// and caches follow these to refetch what they show.
type Change struct {
	View     string `json:"view"`
	Key      string `json:"key"`
	Position uint64 `json:"position"`
	// Unit is the unit the change belongs to, for the gateway to deliver
	// it only to callers whose scope holds that unit; empty for changes of
	// no unit (cycles, users, roles, tokens), which only callers who see
	// everything receive.
	Unit string `json:"unit,omitempty"`
}

// Tx is the transaction an event is applied in. It remembers prepared
// statements across batches and collects change notices.
type Tx struct {
	*sql.Tx
	bound   map[string]*sql.Stmt
	batch   map[any]any
	changes []Change
	view    string
	pos     uint64
}

// stmt returns query prepared once per transaction: batches are large,
// and reusing statements across a batch is what makes applying a million
// events fast. (Preparing once per database is not possible: the writer has
// a single connection, held by the transaction.)
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.bound[query]; ok {
		return st, nil
	}
	st, err := tx.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	tx.bound[query] = st
	return st, nil
}

// Exec runs a cached prepared statement.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRow runs a cached prepared query returning at most one row.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		// Let the caller see the error through Scan.
		return tx.Tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Query runs a cached prepared query.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Batch returns the value kept under key for this transaction, made by
// mk the first time it is asked for. A Flusher buffers what the events of
// a batch change here and writes it in Flush.
func (tx *Tx) Batch(key any, mk func() any) any {
	if v, ok := tx.batch[key]; ok {
		return v
	}
	if tx.batch == nil {
		tx.batch = map[any]any{}
	}
	v := mk()
	tx.batch[key] = v
	return v
}

// Position is the $all position of the event being applied.
func (tx *Tx) Position() uint64 { return tx.pos }

// Changed records a change notice for key, of no unit, at the position
// being applied.
func (tx *Tx) Changed(key string) { tx.ChangedIn(key, "") }

// ChangedIn records a change notice for key in unit at the position being
// applied. A change that concerns two units (an item moved from one to
// another) is recorded once for each, so that callers who see only one of
// them still hear of it.
func (tx *Tx) ChangedIn(key, unit string) {
	for i := len(tx.changes) - 1; i >= 0 && tx.changes[i].Position == tx.pos; i-- {
		if tx.changes[i].Key == key && tx.changes[i].Unit == unit {
			return
		}
	}
	tx.changes = append(tx.changes, Change{View: tx.view, Key: key, Position: tx.pos, Unit: unit})
}
