package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"rectify/events"
	"rectify/services/eventstore"
)

// noStream is the head revision of a stream that has no events.
const noStream = -1

// head is a stream's last event as the writer needs it: its revision, to
// check expectations and number the next event, and its hash, to chain the
// next event to it. A stream without events has revision noStream and no
// hash.
type head struct {
	rev  int64
	hash string
}

var absent = head{rev: noStream}

// maxHeadCache bounds the writer's memory of stream heads; past it the
// memory starts over, costing one index probe per stream on its next
// append.
const maxHeadCache = 1 << 17

// appendReq is one Append call waiting for the writer.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.Expected
	evs      []events.Event
	times    []sql.NullInt64 // evs[i].Time as unix nanoseconds, NULL when zero
	reply    chan appendReply
}

type appendReply struct {
	res eventstore.AppendResult
	err error
}

// writer owns the single write connection and commits queued appends in
// groups.
type writer struct {
	s    *Store
	db   *sql.DB
	conn *sql.Conn
	reqs chan *appendReq
	done chan struct{}

	begin, commit, rollback      *sql.Stmt
	savepoint, release, rollTo   *sql.Stmt
	insert, head, byID, dataVers *sql.Stmt
	checkpoint                   *sql.Stmt

	ckpt *checkpointer

	// heads remembers the last revision and hash of streams (absent for
	// streams known to have no events) as committed. It is valid while no
	// other connection writes the file, which dataVersion detects.
	heads       map[string]head
	dataVersion int64
	// pending holds the heads written by the batch in progress, so that a
	// second append to a stream in the same batch chains to the first;
	// they join heads only once the batch commits.
	pending map[string]head
}

// openWriter opens the write connection, creates the schema if the file
// has none, and prepares the statements the writer reuses.
func openWriter(s *Store) (*writer, error) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", writeDSN(s.path,
		// The checkpointer does this work off the writer's path.
		"_pragma=wal_autocheckpoint(0)",
		fmt.Sprintf("_pragma=journal_size_limit(%d)", walSizeLimit)))
	if err != nil {
		return nil, events.Wrap(events.CodeUnavailable, err, "open event store %s", s.path)
	}
	db.SetMaxOpenConns(1)
	w := &writer{
		s:       s,
		db:      db,
		reqs:    make(chan *appendReq, s.opt.MaxBatch),
		done:    make(chan struct{}),
		heads:   make(map[string]head),
		pending: make(map[string]head),
	}
	w.conn, err = db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, events.Wrap(events.CodeUnavailable, err, "open event store %s", s.path)
	}
	if err := w.migrate(ctx); err != nil {
		w.closeDB()
		return nil, err
	}
	prepare := func(dst **sql.Stmt, q string) {
		if err != nil {
			return
		}
		*dst, err = w.conn.PrepareContext(ctx, q)
	}
	prepare(&w.begin, "BEGIN IMMEDIATE")
	prepare(&w.commit, "COMMIT")
	prepare(&w.rollback, "ROLLBACK")
	prepare(&w.savepoint, "SAVEPOINT req")
	prepare(&w.release, "RELEASE req")
	prepare(&w.rollTo, "ROLLBACK TO req")
	prepare(&w.insert, insertSQL)
	prepare(&w.head, "SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1")
	prepare(&w.byID, "SELECT stream, revision, position, type, data FROM events WHERE id = ?")
	prepare(&w.dataVers, "PRAGMA data_version")
	prepare(&w.checkpoint, "PRAGMA wal_checkpoint(PASSIVE)")
	if err != nil {
		w.closeDB()
		return nil, events.Wrap(events.CodeInternal, err, "prepare event store statements")
	}
	if w.ckpt, err = openCheckpointer(s.path); err != nil {
		w.closeDB()
		return nil, events.Wrap(events.CodeUnavailable, err, "open event store %s", s.path)
	}
	return w, nil
}

// migrate brings the file's schema to schemaVersion in one transaction: a
// new file gets version 1 and then every migration, an older file the
// migrations it lacks, so both end with the same schema. A crash halfway
// leaves the file as it was.
func (w *writer) migrate(ctx context.Context) error {
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "open event store %s", w.s.path)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return events.Wrap(events.CodeUnavailable, err, "open event store %s", w.s.path)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return events.Errorf(events.CodeInvalid, "event store %s has schema version %d, newer than this program's %d", w.s.path, v, schemaVersion)
	}
	if v < 1 {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return events.Wrap(events.CodeInternal, err, "create event store schema in %s", w.s.path)
		}
	}
	if v < 2 {
		if err := migrateHashes(ctx, tx); err != nil {
			return events.Wrap(events.CodeInternal, err, "add event hashes to %s", w.s.path)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return events.Wrap(events.CodeInternal, err, "set event store schema version in %s", w.s.path)
	}
	if err := tx.Commit(); err != nil {
		return events.Wrap(events.CodeInternal, err, "migrate event store schema in %s", w.s.path)
	}
	return nil
}

// migrateBatch is how many events the hash migration reads at a time.
var migrateBatch = 5000

// migrateHashes adds the hash column to a version-1 table and fills it:
// each event chained to the one before it in its stream, exactly as
// Append would have. Events are read in position order, in which every
// stream's revisions rise, keeping the last hash of every stream in
// memory (one entry per stream).
func migrateHashes(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, schemaV2); err != nil {
		return err
	}
	sel, err := tx.PrepareContext(ctx, `SELECT `+eventColumns+` FROM events WHERE position > ? ORDER BY position LIMIT ?`)
	if err != nil {
		return err
	}
	defer sel.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE events SET hash = ? WHERE position = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	last := make(map[string]string)
	var after int64
	for {
		// A whole page is read before any row is updated: SQLite leaves
		// undefined what a statement still reading sees of its own
		// connection's writes.
		rows, err := sel.QueryContext(ctx, after, migrateBatch)
		if err != nil {
			return err
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return err
		}
		for _, e := range evs {
			h := events.ChainHash(last[e.Stream], e)
			last[e.Stream] = h
			if _, err := upd.ExecContext(ctx, hashBlob(h), int64(e.Position)); err != nil {
				return fmt.Errorf("position %d: %w", e.Position, err)
			}
		}
		if len(evs) < migrateBatch {
			return nil
		}
		after = int64(evs[len(evs)-1].Position)
	}
}

// start starts the writer and checkpointer goroutines.
func (w *writer) start() {
	go w.ckpt.run()
	go w.run()
}

// stop waits for the writer to finish the queue, which Close has closed,
// stops the checkpointer and closes the connections.
func (w *writer) stop() error {
	<-w.done
	return errors.Join(w.ckpt.close(), w.closeDB())
}

// closeDB closes the writer's connection.
func (w *writer) closeDB() error {
	var errs []error
	if w.conn != nil {
		// Closing the connection finalizes the statements prepared on it.
		errs = append(errs, w.conn.Close())
	}
	errs = append(errs, w.db.Close())
	return errors.Join(errs...)
}

// Append writes evs to the end of stream, atomically and durably, if
// expected holds. It returns the revision of the last event now in the
// stream and its position.
//
// Errors: CodeInvalid for an empty stream, no events, an event without id
// or type, data that is not JSON, a time outside 1678..2262 or one id used
// twice; CodeConflict when expected does not hold or an id is already
// stored with other content or in another place; CodeForbidden on a
// ReadOnly store; CodeUnavailable when the store is closed or ctx ends
// first (the append may or may not have been written then; retrying with
// the same ids is safe).
//
// An append whose ids are all stored already, in this stream, in this order
// and with the same type and data, writes nothing and returns the result
// of the first one, whatever expected says.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	times, err := validateAppend(stream, expected, evs)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.w == nil {
		return eventstore.AppendResult{}, events.Errorf(events.CodeForbidden, "event store %s is open read-only", s.path)
	}
	r := &appendReq{ctx: ctx, stream: stream, expected: expected, evs: evs, times: times, reply: make(chan appendReply, 1)}

	s.closeMu.RLock()
	if s.closing {
		s.closeMu.RUnlock()
		return eventstore.AppendResult{}, s.errClosed()
	}
	select {
	case s.w.reqs <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return eventstore.AppendResult{}, events.Wrap(events.CodeUnavailable, ctx.Err(), "append to %s: not written", stream)
	}
	s.closeMu.RUnlock()

	select {
	case rep := <-r.reply:
		return rep.res, rep.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, events.Wrap(events.CodeUnavailable, ctx.Err(), "append to %s: gave up waiting, the events may or may not be written", stream)
	}
}

// validateAppend checks everything about an append that does not need the
// database, reporting every bad field, and converts the event times.
func validateAppend(stream string, expected eventstore.Expected, evs []events.Event) ([]sql.NullInt64, error) {
	var v events.Validator
	v.Check(stream != "", "stream", "must not be empty")
	v.Check(utf8.ValidString(stream), "stream", "must be valid UTF-8")
	v.Check(expected.Kind <= eventstore.KindExact, "expected", "unknown kind")
	v.Check(len(evs) > 0, "events", "at least one event is required")
	times := make([]sql.NullInt64, len(evs))
	var seen map[string]int
	if len(evs) > 1 {
		seen = make(map[string]int, len(evs))
	}
	for i, ev := range evs {
		f := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		v.Check(ev.ID != "", f("id"), "must not be empty")
		if seen != nil {
			if j, dup := seen[ev.ID]; dup && ev.ID != "" {
				v.Add(f("id"), fmt.Sprintf("same id as events[%d]", j))
			}
			seen[ev.ID] = i
		}
		v.Check(ev.Type != "", f("type"), "must not be empty")
		v.Check(json.Valid(ev.Data), f("data"), "must be valid JSON")
		if !ev.Time.IsZero() {
			// UnixNano is defined for 1678..2262 only; outside it the
			// instant would not come back as given.
			n := ev.Time.UnixNano()
			if time.Unix(0, n).Equal(ev.Time) {
				times[i] = sql.NullInt64{Int64: n, Valid: true}
			} else {
				v.Add(f("time"), "must be between the years 1678 and 2262")
			}
		}
	}
	return times, v.Err()
}

// run is the writer goroutine: it commits queued appends in groups until
// Close closes the queue and the queue is empty.
func (w *writer) run() {
	defer close(w.done)
	batch := make([]*appendReq, 0, w.s.opt.MaxBatch)
	replies := make([]appendReply, 0, w.s.opt.MaxBatch)
	for {
		r, ok := <-w.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if w.ckpt.resetWanted.Load() {
			// Nothing else writes now, so this checkpoint copies the
			// whole WAL and the next transaction starts it over.
			if _, err := w.ckpt.checkpoint(w.checkpoint); err == nil {
				w.ckpt.resets.Add(1)
			}
			w.ckpt.resetWanted.Store(false)
		}
		replies = w.commitBatch(batch, replies[:0])
		for i, r := range batch {
			r.reply <- replies[i]
			batch[i] = nil
		}
	}
}

// commitBatch runs every request of batch in one transaction and returns
// their replies. Nothing is reported as written before the commit is
// durable.
func (w *writer) commitBatch(batch []*appendReq, replies []appendReply) []appendReply {
	ctx := context.Background()
	fail := func(err error) []appendReply {
		err = diskFull(err)
		replies = replies[:0]
		for range batch {
			replies = append(replies, appendReply{err: err})
		}
		clear(w.pending)
		return replies
	}
	if _, err := w.begin.ExecContext(ctx); err != nil {
		return fail(events.Wrap(events.CodeUnavailable, err, "append: begin transaction"))
	}
	if err := w.checkDataVersion(ctx); err != nil {
		w.rollback.ExecContext(ctx)
		return fail(events.Wrap(events.CodeUnavailable, err, "append: read data version"))
	}
	written := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			// The caller has gone; writing its events now would only
			// surprise it.
			replies = append(replies, appendReply{err: events.Wrap(events.CodeUnavailable, err, "append to %s: not written", r.stream)})
			continue
		}
		res, reqErr, err := w.apply(ctx, r)
		if err != nil {
			w.rollback.ExecContext(ctx)
			return fail(events.Wrap(events.CodeInternal, err, "append to %s", r.stream))
		}
		if reqErr == nil && res.wrote {
			written += len(r.evs)
		}
		replies = append(replies, appendReply{res: res.AppendResult, err: reqErr})
	}
	if _, err := w.commit.ExecContext(ctx); err != nil {
		w.rollback.ExecContext(ctx)
		return fail(events.Wrap(events.CodeUnavailable, err, "append: commit"))
	}
	for stream, rev := range w.pending {
		w.heads[stream] = rev
	}
	clear(w.pending)
	if len(w.heads) > maxHeadCache {
		clear(w.heads)
	}
	w.s.appends.Add(uint64(len(batch)))
	if written > 0 {
		w.s.written.Add(uint64(written))
		w.s.commits.Add(1)
		w.s.notify()
		w.ckpt.commitHappened()
	}
	return replies
}

// checkDataVersion forgets the remembered stream heads when another
// connection has written the file since this batch's last look.
func (w *writer) checkDataVersion(ctx context.Context) error {
	var v int64
	if err := w.dataVers.QueryRowContext(ctx).Scan(&v); err != nil {
		return err
	}
	if v != w.dataVersion {
		clear(w.heads)
		w.dataVersion = v
	}
	return nil
}

type applied struct {
	eventstore.AppendResult
	wrote bool // false for an idempotent repeat
}

// apply runs one request inside the batch's transaction. reqErr is the
// request's own failure (conflict); err is a failure of the database that
// dooms the whole batch.
func (w *writer) apply(ctx context.Context, r *appendReq) (res applied, reqErr, err error) {
	hd, known := w.knownHead(r.stream)
	if !known && r.expected.Kind != eventstore.KindNoStream {
		// One probe gives both what the expectation is checked against
		// and what the new events chain to.
		if hd, err = w.queryHead(ctx, r.stream); err != nil {
			return res, nil, err
		}
		w.heads[r.stream] = hd
		known = true
	}
	if !known {
		// NoStream on a stream not seen yet: assume it is absent and let
		// UNIQUE(stream, revision) say otherwise, saving a probe per new
		// stream. The first event of a stream chains to nothing.
		hd = absent
	}
	if expectationHolds(r.expected, hd.rev) {
		var last string
		res, last, err = w.insertAll(ctx, r, hd)
		if err == nil {
			w.pending[r.stream] = head{rev: int64(res.NextExpected), hash: last}
			return res, nil, nil
		}
		if !isConstraint(err) {
			return res, nil, err
		}
	}
	return w.slowPath(ctx, r)
}

// slowPath decides a request that failed its expected-revision check or
// hit a unique index: it is an idempotent repeat, a conflict, or (when the
// remembered head was stale) it can be written after all.
func (w *writer) slowPath(ctx context.Context, r *appendReq) (res applied, reqErr, err error) {
	found := 0
	var mismatch error
	var last stored
	for i, ev := range r.evs {
		st, ok, err := w.lookupID(ctx, ev.ID)
		if err != nil {
			return res, nil, err
		}
		if !ok {
			continue
		}
		found++
		if mismatch == nil {
			switch {
			case st.stream != r.stream:
				mismatch = events.Errorf(events.CodeConflict, "append to %s: event id %s is already stored in stream %s", r.stream, ev.ID, st.stream)
			case st.typ != ev.Type || !bytes.Equal(st.data, ev.Data):
				mismatch = events.Errorf(events.CodeConflict, "append to %s: event id %s is already stored with a different type or data", r.stream, ev.ID)
			case i > 0 && st.revision != last.revision+1:
				mismatch = events.Errorf(events.CodeConflict, "append to %s: event id %s is already stored, but not right after the event before it", r.stream, ev.ID)
			}
		}
		last = st
	}
	switch {
	case mismatch != nil:
		return res, mismatch, nil
	case found == len(r.evs):
		// An idempotent repeat: answer as the first append was answered.
		return applied{AppendResult: eventstore.AppendResult{NextExpected: uint64(last.revision), Position: uint64(last.position)}}, nil, nil
	case found > 0:
		return res, events.Errorf(events.CodeConflict,
			"append to %s: %d of the %d event ids are already stored; a retry must repeat the first append exactly", r.stream, found, len(r.evs)), nil
	}

	// No id is stored: this is about the revision. Look at the stream as
	// it is, not as remembered.
	hd, err := w.queryHead(ctx, r.stream)
	if err != nil {
		return res, nil, err
	}
	if _, inBatch := w.pending[r.stream]; inBatch {
		w.pending[r.stream] = hd
	} else {
		w.heads[r.stream] = hd
	}
	if !expectationHolds(r.expected, hd.rev) {
		return res, events.Errorf(events.CodeConflict, "append to %s: expected %s, found %s", r.stream, r.expected, describeHead(hd.rev)), nil
	}
	res, lastHash, err := w.insertAll(ctx, r, hd)
	if isConstraint(err) {
		// Neither the ids nor the revisions are taken, yet SQLite refused:
		// a bug, but one that concerns this request only.
		return res, events.Wrap(events.CodeInternal, err, "append to %s", r.stream), nil
	}
	if err != nil {
		return res, nil, err
	}
	w.pending[r.stream] = head{rev: int64(res.NextExpected), hash: lastHash}
	return res, nil, nil
}

// knownHead returns the stream's last event as this batch sees it, if
// remembered.
func (w *writer) knownHead(stream string) (head, bool) {
	if h, ok := w.pending[stream]; ok {
		return h, true
	}
	h, ok := w.heads[stream]
	return h, ok
}

// queryHead reads the stream's last revision and hash from the file.
func (w *writer) queryHead(ctx context.Context, stream string) (head, error) {
	var h head
	var hash []byte
	err := w.head.QueryRowContext(ctx, stream).Scan(&h.rev, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return absent, nil
	}
	h.hash = hashText(hash)
	return h, err
}

// stored is what the idempotency check needs of an event already written.
type stored struct {
	stream             string
	revision, position int64
	typ                string
	data               []byte
}

func (w *writer) lookupID(ctx context.Context, id string) (stored, bool, error) {
	var st stored
	err := w.byID.QueryRowContext(ctx, id).Scan(&st.stream, &st.revision, &st.position, &st.typ, &st.data)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	return st, err == nil, err
}

// insertAll writes r's events after prev, the stream's last event, each
// with the next revision and chained to the one before it, and returns the
// hash of the last. Either all of them are written or none: a multi-event
// request runs inside a savepoint so that a failure halfway leaves nothing
// behind in the batch.
func (w *writer) insertAll(ctx context.Context, r *appendReq, prev head) (applied, string, error) {
	multi := len(r.evs) > 1
	if multi {
		if _, err := w.savepoint.ExecContext(ctx); err != nil {
			return applied{}, "", err
		}
	}
	first := prev.rev + 1
	hash := prev.hash
	var pos int64
	for i, ev := range r.evs {
		ev.Stream, ev.Revision = r.stream, uint64(first+int64(i))
		hash = events.ChainHash(hash, ev)
		res, err := w.insert.ExecContext(ctx, r.stream, first+int64(i), ev.ID, ev.Type, ev.Version, r.times[i], ev.Actor, ev.CorrelationID, ev.CausationID, []byte(ev.Data), hashBlob(hash))
		if err == nil {
			pos, err = res.LastInsertId()
		}
		if err != nil {
			if multi {
				w.rollTo.ExecContext(ctx)
				w.release.ExecContext(ctx)
			}
			return applied{}, "", err
		}
	}
	if multi {
		if _, err := w.release.ExecContext(ctx); err != nil {
			return applied{}, "", err
		}
	}
	return applied{AppendResult: eventstore.AppendResult{NextExpected: uint64(first) + uint64(len(r.evs)) - 1, Position: uint64(pos)}, wrote: true}, hash, nil
}

func expectationHolds(e eventstore.Expected, head int64) bool {
	switch e.Kind {
	case eventstore.KindAny:
		return true
	case eventstore.KindNoStream:
		return head == noStream
	case eventstore.KindStreamExists:
		return head != noStream
	default:
		return e.Revision <= math.MaxInt64 && head == int64(e.Revision)
	}
}

func describeHead(head int64) string {
	if head == noStream {
		return "no stream"
	}
	return fmt.Sprintf("revision %d", head)
}

// diskFull words a failure of the database for a full disk (SQLITE_FULL)
// as CodeUnavailable, saying so: nothing of the batch was written, the
// writer goes on with the next one, and the same append succeeds once
// there is room. Any other error comes back as it is.
func diskFull(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return events.Wrap(events.CodeUnavailable, err, "the event store's disk is full: nothing was written; retry once there is room")
	}
	return err
}

// isConstraint reports whether err is SQLite refusing a row for a
// constraint (here: a unique index).
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
