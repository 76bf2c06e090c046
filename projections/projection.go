// Package projections builds rectify's views from the events: a runner that
// consumes the JetStream copy of $all, applies events in batches to a SQLite
// view database with the checkpoint in the same transaction, fills gaps from
// the store, rebuilds views beside the live ones, and answers queries over
// NATS. Each view lives in a file of its own.
package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

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
// of a batch (in Tx.Batch, or in a bulk load Tx.Bulk) instead of writing
// each at once: counters that many events move, rows that several events
// of one batch change, rows written many to a statement. Flush
// writes them; the runner calls it once per batch that applied anything,
// in the batch's transaction, after the last Apply and before the
// checkpoint moves, so the buffered changes commit with the checkpoint or
// not at all.
type Flusher interface {
	Projection
	Flush(ctx context.Context, tx *Tx) error
}

// BulkLoader is a projection that rebuilds faster by writing its view in
// bulk. A rebuild's new database is private until it is swapped in: no
// query reads it, and a rebuild that fails is thrown away. So while a
// rebuild reads the source through (the bulk load), Apply and Flush may
// keep the view's state in memory across batches (Tx.Bulk) instead of
// writing and reading it back, and the indexes and triggers named by
// Deferred are left out. After the last event EndBulk writes what was
// kept; the runner then creates the deferred indexes and triggers again,
// and the events that arrived meanwhile are applied the ordinary way.
//
// A rebuild's view must equal, digest for digest, the view applying the
// same events the ordinary way gives.
type BulkLoader interface {
	Projection
	// Deferred names indexes and triggers Migrate creates that the bulk
	// load goes without. The runner drops them before the first event and
	// creates them again, as Migrate made them, after EndBulk; Apply in a
	// bulk load must keep what a deferred trigger would have kept itself.
	Deferred() []string
	// EndBulk writes what the bulk load kept in Tx.Bulk, in the
	// transaction of the last batch's checkpoint. It runs once, after the
	// last event of the bulk load.
	EndBulk(ctx context.Context, tx *Tx) error
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
	conn    *sql.Conn // the connection of Tx, for execMany
	db      *viewDB   // the database of Tx, which keeps prepared statements
	bound   map[string]*sql.Stmt
	unready []string            // queries prepared for this transaction only, for db to prepare after it
	nv      []driver.NamedValue // execMany's arguments, reused
	batch   map[any]any
	bulk    map[any]any // state kept across the batches of a bulk load; nil outside one
	changes []Change
	quiet   bool // nobody hears this transaction's change notices (a rebuild)
	view    string
	pos     uint64
	decoded *decoded // the payload of the event at pos, if decoded already
}

// decoded is an event's payload, decoded once for every view that
// applies the event.
type decoded struct {
	once sync.Once
	p    events.Payload
	err  error
}

// payload decodes e, the event d is for, unless that was done already.
func (d *decoded) payload(e events.Event) (events.Payload, error) {
	d.once.Do(func() { d.p, d.err = decodePayload(e) })
	return d.p, d.err
}

// payloadTypes maps event types to their payload types, as events.Decode
// has returned them.
var payloadTypes sync.Map // type name -> reflect.Type

// decodePayload is events.Decode, in about half the time: it unmarshals
// the upcast data into the payload type events.Decode gave for the type
// before, where events.Decode makes a json.Decoder for every event. The
// result is the same: anything json.Unmarshal refuses (which includes
// everything a json.Decoder refuses) goes to events.Decode for its answer.
// (This belongs in events.Decode; it is here because this package is
// where the time goes.)
func decodePayload(e events.Event) (events.Payload, error) {
	if t, ok := payloadTypes.Load(e.Type); ok {
		if up, err := events.Upcast(e); err == nil {
			ptr := reflect.New(t.(reflect.Type))
			if json.Unmarshal(up.Data, ptr.Interface()) == nil {
				return ptr.Elem().Interface().(events.Payload), nil
			}
		}
	}
	p, err := events.Decode(e)
	if err == nil {
		payloadTypes.LoadOrStore(e.Type, reflect.TypeOf(p))
	}
	return p, err
}

// stmt returns query's prepared statement: the database's own when it has
// one (the writer's connection keeps it across transactions), otherwise
// one prepared for this transaction, which the database prepares for good
// once the transaction has ended (see end).
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.bound[query]; ok {
		return st, nil
	}
	if tx.db != nil {
		if st := tx.db.prepared(query); st != nil {
			st = tx.Tx.StmtContext(ctx, st)
			tx.bound[query] = st
			return st, nil
		}
	}
	st, err := tx.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	tx.bound[query] = st
	tx.unready = append(tx.unready, query)
	return st, nil
}

// execMany runs query, a statement of many arguments (rows written many
// at a time), with args, straight through the driver: database/sql would
// allocate and check every argument again for every statement, which was
// a large part of writing a rebuild's rows. Arguments are strings, []byte,
// bool, nil and integers; a statement with any other argument, or a Tx
// without its connection, goes through Exec.
func (tx *Tx) execMany(ctx context.Context, query string, args []any) error {
	if tx.conn == nil || tx.db == nil {
		_, err := tx.Exec(ctx, query, args...)
		return err
	}
	nv := tx.nv[:0]
	for i, a := range args {
		switch x := a.(type) {
		case string, []byte, int64, bool, nil:
		case int:
			a = int64(x)
		case uint64:
			if x > math.MaxInt64 {
				_, err := tx.Exec(ctx, query, args...)
				return err
			}
			a = int64(x)
		default:
			_, err := tx.Exec(ctx, query, args...)
			return err
		}
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	tx.nv = nv
	defer clear(nv) // keep no rows alive
	return tx.conn.Raw(func(dc any) error {
		st, err := tx.db.directStmt(ctx, dc, query)
		if err != nil {
			return err
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			return errors.New("driver cannot execute with a context")
		}
		_, err = ex.ExecContext(ctx, nv)
		return err
	})
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

// Decode returns the payload of e, the event being applied, as
// events.Decode does. A rebuild decodes each event once for all the views
// it builds, and a projection that asks again for the same event gets the
// same payload without decoding it twice. The payload is shared: it must
// not be modified.
func (tx *Tx) Decode(e events.Event) (events.Payload, error) {
	if e.Position != tx.pos {
		return decodePayload(e)
	}
	if tx.decoded == nil {
		tx.decoded = new(decoded)
	}
	return tx.decoded.payload(e)
}

// Bulk returns the value kept under key for the rest of a rebuild's bulk
// load (see BulkLoader), made by mk the first time it is asked for, and
// true; outside a bulk load it returns nil and false.
func (tx *Tx) Bulk(key any, mk func() any) (any, bool) {
	if tx.bulk == nil {
		return nil, false
	}
	if v, ok := tx.bulk[key]; ok {
		return v, true
	}
	v := mk()
	tx.bulk[key] = v
	return v, true
}

// Position is the $all position of the event being applied.
func (tx *Tx) Position() uint64 { return tx.pos }

// Notifying reports whether change notices are heard: false while a
// rebuild applies events (its notices are dropped), so that a projection
// can save making their keys.
func (tx *Tx) Notifying() bool { return !tx.quiet }

// Changed records a change notice for key, of no unit, at the position
// being applied.
func (tx *Tx) Changed(key string) { tx.ChangedIn(key, "") }

// ChangedIn records a change notice for key in unit at the position being
// applied. A change that concerns two units (an item moved from one to
// another) is recorded once for each, so that callers who see only one of
// them still hear of it.
func (tx *Tx) ChangedIn(key, unit string) {
	if tx.quiet {
		return
	}
	for i := len(tx.changes) - 1; i >= 0 && tx.changes[i].Position == tx.pos; i-- {
		if tx.changes[i].Key == key && tx.changes[i].Unit == unit {
			return
		}
	}
	tx.changes = append(tx.changes, Change{View: tx.view, Key: key, Position: tx.pos, Unit: unit})
}
