package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"rectify/events"
)

// Source reads $all from the event store, directly or through the process
// that owns it. The runner uses it to fill gaps and to rebuild.
type Source interface {
	ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error)
}

// Delivery is one event as it arrived from JetStream, with the position of
// the event before it in $all.
type Delivery struct {
	Event events.Event
	Prev  uint64
	// decoded holds Event's payload for all the views a rebuild applies
	// it to; nil outside a rebuild of several views.
	decoded *decoded
}

// Options configure a Runner.
type Options struct {
	// Dir holds the view database, <Dir>/<projection>-<Replica>.db.
	Dir string
	// Replica distinguishes the replicas of one projection: each has its own
	// database and its own durable consumer. Default "0".
	Replica string
	// Source fills gaps and feeds rebuilds. Without one, a gap is an error.
	Source Source
	// OnCommit receives the change notices of every committed batch, after
	// the commit. It must not block for long.
	OnCommit func([]Change)
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Runner keeps one projection's view database up to date and serves reads
// from it. Apply may be called from one goroutine at a time per runner
// (Consume does); reads may run from any number of goroutines.
type Runner struct {
	answers answerCache // encoded answers at the current position (answers.go)
	proj    Projection
	opts    Options
	path    string

	// dbMu guards db: queries hold it for reading, a rebuild swaps the
	// database under the write lock.
	dbMu sync.RWMutex
	db   *viewDB

	// applyMu serialises batches with each other and with a rebuild's final
	// catch-up and swap.
	applyMu sync.Mutex

	pos      atomic.Uint64 // checkpoint: last applied position
	posTime  atomic.Int64  // unix nanos of the last applied event's time
	head     atomic.Uint64 // highest position seen on the wire
	headTime atomic.Int64  // wall clock when head was last observed ahead of pos
	applied  atomic.Uint64 // events applied since start (skips excluded)
	skipped  atomic.Uint64 // redelivered or older events skipped
	gaps     atomic.Uint64 // gaps filled from the source

	notifyMu sync.Mutex
	notify   chan struct{} // closed on every commit
}

// Open opens (creating if needed) the view database of proj and reads its
// checkpoint.
func Open(ctx context.Context, proj Projection, opts Options) (*Runner, error) {
	if opts.Replica == "" {
		opts.Replica = "0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("projection %s: %w", proj.Name(), err)
	}
	r := &Runner{
		proj:   proj,
		opts:   opts,
		path:   filepath.Join(opts.Dir, proj.Name()+"-"+opts.Replica+".db"),
		notify: make(chan struct{}),
	}
	db, pos, ptime, err := r.openAndMigrate(ctx, r.path, false)
	if err != nil {
		return nil, err
	}
	r.db = db
	r.pos.Store(pos)
	r.posTime.Store(ptime)
	r.head.Store(pos)
	return r, nil
}

// Name is the projection's name.
func (r *Runner) Name() string { return r.proj.Name() }

// Replica is this runner's replica id.
func (r *Runner) Replica() string { return r.opts.Replica }

// Position is the last position applied to the view.
func (r *Runner) Position() uint64 { return r.pos.Load() }

func (r *Runner) openAndMigrate(ctx context.Context, path string, bulk bool) (*viewDB, uint64, int64, error) {
	db, err := openViewDB(path, bulk)
	if err != nil {
		return nil, 0, 0, err
	}
	if stale, err := staleSchema(ctx, db, r.proj); err != nil {
		db.Close()
		return nil, 0, 0, fmt.Errorf("projection %s: schema: %w", r.proj.Name(), err)
	} else if stale {
		// Built by another version of rectify (see schema.go): start
		// again from an empty view.
		r.opts.Logger.Warn("view database has another schema; building it again from position 0",
			"projection", r.proj.Name(), "path", path)
		db.Close()
		removeDB(path)
		if db, err = openViewDB(path, bulk); err != nil {
			return nil, 0, 0, err
		}
	}
	pos, ptime, err := migrate(ctx, db, r.proj)
	if err != nil {
		db.Close()
		return nil, 0, 0, fmt.Errorf("projection %s: %w", r.proj.Name(), err)
	}
	return db, pos, ptime, nil
}

// migrate creates the checkpoint table and, in a fresh database, the
// projection's tables, and returns the checkpoint.
func migrate(ctx context.Context, db *viewDB, proj Projection) (uint64, int64, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'checkpoint'`).Scan(&n); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE checkpoint (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			position INTEGER NOT NULL,
			event_time INTEGER NOT NULL
		)`); err != nil {
			return 0, 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoint VALUES (1, 0, 0)`); err != nil {
			return 0, 0, err
		}
		if err := proj.Migrate(ctx, tx); err != nil {
			return 0, 0, fmt.Errorf("migrate: %w", err)
		}
	}
	var pos uint64
	var ptime int64
	if err := tx.QueryRowContext(ctx, `SELECT position, event_time FROM checkpoint WHERE id = 1`).Scan(&pos, &ptime); err != nil {
		return 0, 0, err
	}
	return pos, ptime, tx.Commit()
}

// Close closes the view database.
func (r *Runner) Close() error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	if r.db == nil {
		return nil
	}
	err := r.db.Close()
	r.db = nil
	return err
}

// Apply applies a batch of deliveries in one transaction together with the
// checkpoint. Deliveries at or below the checkpoint (redeliveries, older
// events) are skipped. A delivery whose predecessor has not been applied is
// a gap: the missing events are read from the Source and applied first.
func (r *Runner) Apply(ctx context.Context, batch []Delivery) error {
	if len(batch) == 0 {
		return nil
	}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.dbMu.RLock()
	db := r.db
	r.dbMu.RUnlock()
	if db == nil {
		return errors.New("projection closed")
	}
	last := batch[len(batch)-1].Event.Position
	if last > r.head.Load() {
		r.head.Store(last)
	}
	res, err := r.applyTo(ctx, db, batch, true, nil)
	if err != nil {
		return fmt.Errorf("projection %s: apply: %w", r.proj.Name(), err)
	}
	if res.pos == r.pos.Load() {
		r.skipped.Add(uint64(res.skipped))
		return nil
	}
	r.publish(res)
	return nil
}

type applyResult struct {
	pos     uint64
	ptime   int64
	applied int
	skipped int
	gaps    int
	changes []Change
}

// applyTo runs one batch against db starting from the runner's checkpoint
// (or, for a rebuild, the checkpoint stored in db). bulk is the state of a
// rebuild's bulk load (see BulkLoader), nil for any other batch.
func (r *Runner) applyTo(ctx context.Context, db *viewDB, batch []Delivery, live bool, bulk map[any]any) (applyResult, error) {
	// A batch is short: it stops at its end, not in the middle, when ctx
	// is done. (The driver watches a cancellable context with a goroutine
	// for every statement, which was a noticeable part of a rebuild.)
	if err := ctx.Err(); err != nil {
		return applyResult{}, err
	}
	readCtx := ctx
	ctx = context.WithoutCancel(ctx)
	tx, err := beginTx(ctx, db)
	if err != nil {
		return applyResult{}, err
	}
	defer tx.end()
	sqlTx := tx.Tx
	tx.view, tx.bulk, tx.quiet = r.proj.Name(), bulk, !live
	var res applyResult
	if live {
		res.pos, res.ptime = r.pos.Load(), r.posTime.Load()
	} else if err := sqlTx.QueryRowContext(ctx, `SELECT position, event_time FROM checkpoint WHERE id = 1`).Scan(&res.pos, &res.ptime); err != nil {
		return applyResult{}, err
	}
	start := res.pos
	apply := func(e events.Event, dec *decoded) error {
		tx.pos, tx.decoded = e.Position, dec
		if err := r.proj.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("event %d (%s): %w", e.Position, e.Type, err)
		}
		res.pos = e.Position
		res.ptime = e.Time.UnixNano()
		res.applied++
		return nil
	}
	for _, d := range batch {
		e := d.Event
		if e.Position <= res.pos {
			res.skipped++
			continue
		}
		if d.Prev > res.pos {
			n, err := r.fillGap(readCtx, res.pos, e.Position, apply)
			if err != nil {
				return applyResult{}, err
			}
			if n > 0 {
				res.gaps++
			}
		}
		if err := apply(e, d.decoded); err != nil {
			return applyResult{}, err
		}
	}
	if res.pos == start {
		return res, nil
	}
	if f, ok := r.proj.(Flusher); ok {
		if err := f.Flush(ctx, tx); err != nil {
			return applyResult{}, fmt.Errorf("flush: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE checkpoint SET position = ?, event_time = ? WHERE id = 1`, res.pos, res.ptime); err != nil {
		return applyResult{}, err
	}
	if err := sqlTx.Commit(); err != nil {
		return applyResult{}, err
	}
	res.changes = tx.changes
	return res, nil
}

// beginTx begins a transaction on db's writer. end must follow, after
// the commit or instead of it.
func beginTx(ctx context.Context, db *viewDB) (*Tx, error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, err
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Tx{Tx: sqlTx, conn: conn, db: db, bound: map[string]*sql.Stmt{}}, nil
}

// end rolls the transaction back unless it committed, and lets its
// connection go.
func (tx *Tx) end() {
	_ = tx.Rollback()
	_ = tx.conn.Close()
	if len(tx.unready) > 0 {
		// The connection is free again: keep what this transaction
		// prepared for the next ones.
		tx.db.prepare(context.Background(), tx.unready)
	}
}

// fillGap applies the events strictly between from and before, read from
// the source, and returns how many it applied.
func (r *Runner) fillGap(ctx context.Context, from, before uint64, apply func(events.Event, *decoded) error) (int, error) {
	if r.opts.Source == nil {
		return 0, fmt.Errorf("gap after position %d and no source to fill it", from)
	}
	n := 0
	for from < before {
		evs, err := r.opts.Source.ReadAll(ctx, from, 1000)
		if err != nil {
			return n, fmt.Errorf("fill gap after %d: %w", from, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Position >= before {
				return n, nil
			}
			if err := apply(e, nil); err != nil {
				return n, err
			}
			from = e.Position
			n++
		}
	}
	return n, nil
}

// publish makes a committed batch visible: the checkpoint, the waiters,
// the change notices.
func (r *Runner) publish(res applyResult) {
	r.pos.Store(res.pos)
	r.posTime.Store(res.ptime)
	r.applied.Add(uint64(res.applied))
	r.skipped.Add(uint64(res.skipped))
	r.gaps.Add(uint64(res.gaps))
	if res.pos >= r.head.Load() {
		r.head.Store(res.pos)
	}
	r.notifyMu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.notifyMu.Unlock()
	if r.opts.OnCommit != nil && len(res.changes) > 0 {
		r.opts.OnCommit(res.changes)
	}
}

// WaitFor blocks until the view has applied position pos, or ctx is done;
// then it returns a CodeUnavailable error saying how far the view is.
func (r *Runner) WaitFor(ctx context.Context, pos uint64) error {
	for {
		r.notifyMu.Lock()
		ch := r.notify
		r.notifyMu.Unlock()
		if r.pos.Load() >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &events.Error{
				Code:    events.CodeUnavailable,
				Message: fmt.Sprintf("view %s has not reached position %d yet (it is at %d); retry shortly", r.proj.Name(), pos, r.pos.Load()),
				Err:     ctx.Err(),
			}
		}
	}
}

// Read runs fn against the view's read-only connections once the view has
// applied minPos. A rebuild's swap waits for running reads.
func (r *Runner) Read(ctx context.Context, minPos uint64, fn func(db *sql.DB, pos uint64) error) error {
	if minPos > 0 {
		if err := r.WaitFor(ctx, minPos); err != nil {
			return err
		}
	}
	r.dbMu.RLock()
	defer r.dbMu.RUnlock()
	if r.db == nil {
		return events.Errorf(events.CodeUnavailable, "view %s is closed", r.proj.Name())
	}
	return fn(r.db.read, r.pos.Load())
}

// Stats describe how far a projection is behind.
type Stats struct {
	Name          string  `json:"name"`
	Replica       string  `json:"replica"`
	Position      uint64  `json:"position"`
	Head          uint64  `json:"head"`
	Behind        uint64  `json:"behind_positions"`
	BehindSeconds float64 `json:"behind_seconds"`
	Applied       uint64  `json:"applied"`
	Skipped       uint64  `json:"skipped"`
	Gaps          uint64  `json:"gaps_filled"`
}

// Stats returns the runner's lag and counters. BehindSeconds is the age of
// the oldest event seen on the wire and not yet applied, approximated by
// the time since the view last caught up.
func (r *Runner) Stats() Stats {
	pos, head := r.pos.Load(), r.head.Load()
	s := Stats{Name: r.proj.Name(), Replica: r.opts.Replica, Position: pos, Head: head,
		Applied: r.applied.Load(), Skipped: r.skipped.Load(), Gaps: r.gaps.Load()}
	if head > pos {
		s.Behind = head - pos
		if t := r.posTime.Load(); t > 0 {
			s.BehindSeconds = math.Max(0, time.Since(time.Unix(0, t)).Seconds())
		}
	}
	return s
}

// ObserveHead tells the runner the newest position known to exist, for lag.
func (r *Runner) ObserveHead(pos uint64) {
	for {
		h := r.head.Load()
		if pos <= h || r.head.CompareAndSwap(h, pos) {
			return
		}
	}
}

// Digest returns a hash of the view's content as defined by the
// projection's DigestQueries, so that two databases built from the same
// events can be compared.
func (r *Runner) Digest(ctx context.Context) (string, error) {
	var out string
	err := r.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
		var err error
		out, err = digest(ctx, db, r.proj.DigestQueries())
		return err
	})
	return out, err
}

func digest(ctx context.Context, db *sql.DB, queries []string) (string, error) {
	h := sha256.New()
	var buf [8]byte
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return "", fmt.Errorf("digest %q: %w", q, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return "", err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		h.Write([]byte(q))
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			for _, v := range vals {
				switch x := v.(type) {
				case nil:
					h.Write([]byte{0})
				case int64:
					h.Write([]byte{1})
					binary.BigEndian.PutUint64(buf[:], uint64(x))
					h.Write(buf[:])
				case float64:
					h.Write([]byte{2})
					binary.BigEndian.PutUint64(buf[:], math.Float64bits(x))
					h.Write(buf[:])
				case string:
					h.Write([]byte{3})
					binary.BigEndian.PutUint64(buf[:], uint64(len(x)))
					h.Write(buf[:])
					h.Write([]byte(x))
				case []byte:
					h.Write([]byte{4})
					binary.BigEndian.PutUint64(buf[:], uint64(len(x)))
					h.Write(buf[:])
					h.Write(x)
				default:
					fmt.Fprintf(h, "\x05%v", x)
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
