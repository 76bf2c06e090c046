// Package embedded is rectify's event store in a single SQLite file, for
// `rectify serve` and for tests: the same contract as EventStoreDB, with no
// server to run.
//
// One goroutine writes. Appends from every caller queue on a channel; the
// writer takes all that are waiting (up to Options.MaxBatch), checks each
// one's expected revision as if they ran one after another, writes them in
// one transaction and answers the callers only after that transaction is on
// disk (WAL, synchronous=FULL). Many callers thus share one fsync, which is
// what makes durable appends fast. A request that fails its check fails
// alone; the rest of the batch commits.
//
// The writer also chains every event to the one before it in its stream
// (events.ChainHash): it remembers each stream's last hash with its last
// revision, so checking the expectation and finding what to chain to are
// one lookup, and appends to one stream in one batch chain one after the
// other before anything is committed.
//
// A second connection copies committed pages from the WAL into the file in
// the background (see checkpointer), so the writer does not stop for it.
// Readers (ReadStream, ReadAll, Head, subscriptions) use their own pool of
// connections and never wait for the writer. Several processes may read the
// file at once (Options.ReadOnly); only one Store should write it.
//
// Every event id goes into a permanent unique index. Time-ordered ids
// (UUIDv7) land at its right edge; random ones (v4, v5) land anywhere and
// dirty a page of their own per event, which costs about half of the
// throughput of large batches (see BenchmarkAppendRandomIDs).
package embedded

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"rectify/events"
	"rectify/services/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// schemaVersion is the PRAGMA user_version this code writes and reads. A
// later change of the schema bumps it and adds a migration from the old one
// (see writer.migrate).
//
//	1: the events table and the unique index on event id
//	2: the hash column, filled for the events already stored
const schemaVersion = 2

// schema is version 1, which every file starts from; migrations take it to
// schemaVersion.
const schema = `
CREATE TABLE events (
	position       INTEGER PRIMARY KEY,
	stream         TEXT    NOT NULL,
	revision       INTEGER NOT NULL,
	id             TEXT    NOT NULL,
	type           TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	time           INTEGER,
	actor          TEXT    NOT NULL,
	correlation_id TEXT    NOT NULL,
	causation_id   TEXT    NOT NULL,
	data           BLOB    NOT NULL,
	UNIQUE (stream, revision)
);
CREATE UNIQUE INDEX events_id ON events (id);
`

// schemaV2 adds each event's chain hash (events.ChainHash) as its 32 bytes,
// half the room of the hex text in every row (hashBlob, hashText). The
// default only serves the ALTER: the migration fills every row. In the
// sqlite3 shell, hex(hash) shows it as Event.Hash does, in upper case.
const schemaV2 = `ALTER TABLE events ADD COLUMN hash BLOB NOT NULL DEFAULT x''`

// The columns every read returns, in the order scanEvent expects.
const eventColumns = `position, stream, revision, id, type, version, time, actor, correlation_id, causation_id, data, hash`

// eventColumnsV1 reads a version-1 file, which has no hashes yet: only a
// ReadOnly store opens one without migrating it.
const eventColumnsV1 = `position, stream, revision, id, type, version, time, actor, correlation_id, causation_id, data, x'' AS hash`

const insertSQL = `INSERT INTO events (stream, revision, id, type, version, time, actor, correlation_id, causation_id, data, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Options tunes a Store. The zero value is a writable store with defaults.
type Options struct {
	// ReadOnly opens an existing file for reading only, for example to tail
	// the events of a server running beside it. Append then fails with
	// CodeForbidden, and subscriptions find new events by polling.
	ReadOnly bool
	// PollInterval is how often subscriptions look for events written by
	// another process (default 200ms). In a writable store they are also
	// woken directly by every commit, so this is only a fallback there.
	PollInterval time.Duration
	// MaxBatch is the most appends committed together in one transaction
	// (default 512).
	MaxBatch int
}

const (
	defaultPollInterval = 200 * time.Millisecond
	defaultMaxBatch     = 512
	readConns           = 4
	// busyTimeoutMS bounds how long a connection waits for a lock held by
	// another connection (a checkpoint, another process) before failing.
	busyTimeoutMS = 10000
)

// Stats counts the writer's work since Open. Commits well below Appends
// show that group commit is sharing transactions between callers.
type Stats struct {
	// Appends is the number of Append calls the writer answered, whatever
	// the outcome.
	Appends uint64
	// Events is the number of events written.
	Events uint64
	// Commits is the number of write transactions committed.
	Commits uint64
}

// Store is an event store in one SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	opt  Options
	// version is the file's schema version; cols the columns that read
	// events from it (eventColumns, or eventColumnsV1 for a version-1 file
	// opened ReadOnly).
	version int
	cols    string

	read *sql.DB // pool for reads; query_only (or mode=ro) connections
	// Statements on the read pool, prepared once: command handlers read
	// a stream before every append, so parsing each time would show.
	headStmt, existsStmt, streamFwdStmt, streamBwdStmt, allStmt *sql.Stmt
	streamHeadStmt                                              *sql.Stmt

	// Writer side; nil when ReadOnly.
	w *writer

	// closeMu orders Append's send on the queue against Close closing it.
	closeMu sync.RWMutex
	closing bool
	// closed is closed once Close has finished the writer; it ends
	// subscriptions.
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	// wake is closed and replaced after every commit, so subscribers
	// waiting for new events look again. The writer never blocks on it.
	wakeMu sync.Mutex
	wake   chan struct{}

	appends atomic.Uint64
	written atomic.Uint64
	commits atomic.Uint64
}

// Open opens the event store in the file at path. A writable store creates
// the file and its schema when they do not exist; a ReadOnly store requires
// both and fails with CodeNotFound otherwise. A file whose schema is newer
// than this program understands fails with CodeInvalid. Any other failure
// to open is CodeUnavailable.
func Open(path string, opt Options) (*Store, error) {
	s, err := open(path, opt)
	if err != nil {
		return nil, err
	}
	if s.w != nil {
		s.w.start()
	}
	return s, nil
}

// open is Open without starting the writer goroutine.
func open(path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, events.Invalid("path", "must not be empty")
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = defaultPollInterval
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = defaultMaxBatch
	}
	s := &Store{
		path:    path,
		opt:     opt,
		version: schemaVersion,
		cols:    eventColumns,
		closed:  make(chan struct{}),
		wake:    make(chan struct{}),
	}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, events.Wrap(events.CodeNotFound, err, "event store %s does not exist", path)
			}
			return nil, events.Wrap(events.CodeUnavailable, err, "open event store %s", path)
		}
	} else {
		w, err := openWriter(s)
		if err != nil {
			return nil, err
		}
		s.w = w
	}

	var readDSN string
	if opt.ReadOnly {
		readDSN = dsn(path, "mode=ro", fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS))
	} else {
		readDSN = dsn(path, fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS), "_pragma=query_only(1)")
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		s.abortOpen()
		return nil, events.Wrap(events.CodeUnavailable, err, "open event store %s", path)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	read.SetConnMaxIdleTime(0)
	s.read = read
	if opt.ReadOnly {
		if s.version, err = checkSchema(context.Background(), read, path); err != nil {
			s.abortOpen()
			return nil, err
		}
		if s.version < 2 {
			s.cols = eventColumnsV1
		}
	}
	prepare := func(dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = read.Prepare(q)
		}
	}
	prepare(&s.headStmt, `SELECT coalesce(max(position), 0) FROM events`)
	prepare(&s.existsStmt, `SELECT 1 FROM events WHERE stream = ? LIMIT 1`)
	prepare(&s.streamFwdStmt, `SELECT `+s.cols+` FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`)
	prepare(&s.streamBwdStmt, `SELECT `+s.cols+` FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`)
	prepare(&s.allStmt, `SELECT `+s.cols+` FROM events WHERE position > ? ORDER BY position LIMIT ?`)
	if s.cols == eventColumnsV1 {
		prepare(&s.streamHeadStmt, `SELECT revision, NULL FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1`)
	} else {
		prepare(&s.streamHeadStmt, `SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1`)
	}
	if err != nil {
		s.abortOpen()
		return nil, events.Wrap(events.CodeInternal, err, "prepare event store reads in %s", path)
	}
	return s, nil
}

// abortOpen releases what a failed Open had opened.
func (s *Store) abortOpen() {
	if s.read != nil {
		s.read.Close()
	}
	if s.w != nil {
		s.w.closeDB()
		s.w.ckpt.closeDB()
	}
}

// checkSchema makes sure a file opened read-only holds an event store this
// program can read, and returns its schema version.
func checkSchema(ctx context.Context, db *sql.DB, path string) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, events.Wrap(events.CodeUnavailable, err, "open event store %s", path)
	}
	switch {
	case v == 0:
		return 0, events.Errorf(events.CodeNotFound, "%s holds no event store", path)
	case v > schemaVersion:
		return 0, events.Errorf(events.CodeInvalid, "event store %s has schema version %d, newer than this program's %d", path, v, schemaVersion)
	}
	return v, nil
}

// dsn builds a SQLite URI for path with the given query parameters.
// SQLite decodes %HH escapes in a file: URI, and '?' and '#' would end the
// path, so those three are escaped.
func dsn(path string, params ...string) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p + "?" + strings.Join(params, "&")
}

// writeDSN is the DSN of a connection that writes, with extra parameters
// after the common ones. The benchmark's raw-insert baseline opens its
// database with the same, so that the two compare like with like.
func writeDSN(path string, extra ...string) string {
	return dsn(path, append([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		// The writer probes the id and (stream, revision) indexes for
		// every event; a larger cache keeps their upper pages in memory.
		"_pragma=cache_size(-32768)",
	}, extra...)...)
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Hashed reports whether the file keeps event hashes. Only a version-1
// file opened ReadOnly does not (a writable Open migrates it); its events
// read back with an empty Hash.
func (s *Store) Hashed() bool { return s.version >= 2 }

// Stats returns the writer's counters. A ReadOnly store reports zeros.
func (s *Store) Stats() Stats {
	return Stats{Appends: s.appends.Load(), Events: s.written.Load(), Commits: s.commits.Load()}
}

// Close stops accepting appends, lets the queued ones complete or fail,
// ends every subscription (their Next returns CodeUnavailable) and closes
// the file. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closing = true
		if s.w != nil {
			close(s.w.reqs)
		}
		s.closeMu.Unlock()
		var errs []error
		if s.w != nil {
			errs = append(errs, s.w.stop())
		}
		close(s.closed)
		errs = append(errs, s.read.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = events.Wrap(events.CodeInternal, err, "close event store %s", s.path)
		}
	})
	return s.closeErr
}

// errClosed is returned by every operation on a closed store.
func (s *Store) errClosed() error {
	return events.Errorf(events.CodeUnavailable, "event store %s is closed", s.path)
}

// isClosed reports whether Close has been called.
func (s *Store) isClosed() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closing
}

// readErr turns a failed read into an *events.Error.
func (s *Store) readErr(ctx context.Context, err error, format string, args ...any) error {
	if s.isClosed() {
		return s.errClosed()
	}
	if ctx.Err() != nil {
		return events.Wrap(events.CodeUnavailable, ctx.Err(), format, args...)
	}
	return events.Wrap(events.CodeInternal, err, format, args...)
}

// notify wakes every subscriber waiting for new events.
func (s *Store) notify() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

// wakeChan returns the channel the next commit will close.
func (s *Store) wakeChan() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

// Head returns the position of the last stored event, 0 when the store is
// empty.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, s.errClosed()
	}
	var head int64
	if err := s.headStmt.QueryRowContext(ctx).Scan(&head); err != nil {
		return 0, s.readErr(ctx, err, "read head")
	}
	return uint64(head), nil
}

// ReadStream returns up to limit events of stream from revision from
// (inclusive) in direction dir; limit <= 0 means all. Reading backwards
// from math.MaxUint64 starts at the last event. A stream without events is
// CodeNotFound; a start past the end of an existing stream gives no events
// and no error.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]events.Event, error) {
	if stream == "" {
		return nil, events.Invalid("stream", "must not be empty")
	}
	if dir != eventstore.Forwards && dir != eventstore.Backwards {
		return nil, events.Invalid("direction", fmt.Sprintf("unknown direction %d", dir))
	}
	if s.isClosed() {
		return nil, s.errClosed()
	}
	// Revisions are stored as int64; no stream gets anywhere near the top.
	start := int64(min(from, math.MaxInt64))
	q := s.streamFwdStmt
	if dir == eventstore.Backwards {
		q = s.streamBwdStmt
	}
	evs, err := s.query(ctx, q, stream, start, sqlLimit(limit))
	if err != nil {
		return nil, s.readErr(ctx, err, "read stream %s", stream)
	}
	if len(evs) == 0 {
		var one int
		err := s.existsStmt.QueryRowContext(ctx, stream).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, events.Errorf(events.CodeNotFound, "stream %s not found", stream)
		}
		if err != nil {
			return nil, s.readErr(ctx, err, "read stream %s", stream)
		}
	}
	return evs, nil
}

// ReadAll returns up to limit events with a position above after, in
// position order; limit <= 0 means all.
func (s *Store) ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error) {
	if s.isClosed() {
		return nil, s.errClosed()
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	evs, err := s.query(ctx, s.allStmt, int64(after), sqlLimit(limit))
	if err != nil {
		return nil, s.readErr(ctx, err, "read $all after %d", after)
	}
	return evs, nil
}

// sqlLimit turns the contract's "limit <= 0 means no limit" into SQLite's.
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return -1
	}
	return int64(limit)
}

// query runs a SELECT of eventColumns on the read pool.
// StreamHead implements eventstore.StreamHeads: one probe of the
// (stream, revision) index and the row's hash, instead of reading and
// scanning the whole last event.
func (s *Store) StreamHead(ctx context.Context, stream string) (uint64, string, error) {
	if s.isClosed() {
		return 0, "", s.errClosed()
	}
	var rev int64
	var hash []byte
	// One index probe is over in microseconds; with a cancellable context
	// the driver would start a goroutine per query to interrupt it.
	err := s.streamHeadStmt.QueryRowContext(context.WithoutCancel(ctx), stream).Scan(&rev, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", events.Errorf(events.CodeNotFound, "stream %s not found", stream)
	}
	if err != nil {
		return 0, "", s.readErr(ctx, err, "read stream %s", stream)
	}
	return uint64(rev), hashText(hash), nil
}

func (s *Store) query(ctx context.Context, q *sql.Stmt, args ...any) ([]events.Event, error) {
	rows, err := q.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

func scanEvents(rows *sql.Rows) ([]events.Event, error) {
	defer rows.Close()
	var evs []events.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

// scanEvent reads one row of eventColumns.
func scanEvent(rows *sql.Rows) (events.Event, error) {
	var (
		ev       events.Event
		pos, rev int64
		t        sql.NullInt64
		data     []byte
		hash     sql.RawBytes // only read before the next row
	)
	err := rows.Scan(&pos, &ev.Stream, &rev, &ev.ID, &ev.Type, &ev.Version, &t, &ev.Actor, &ev.CorrelationID, &ev.CausationID, &data, &hash)
	if err != nil {
		return ev, err
	}
	ev.Position = uint64(pos)
	ev.Revision = uint64(rev)
	if t.Valid {
		ev.Time = time.Unix(0, t.Int64).UTC()
	}
	ev.Data = data
	ev.Hash = hashText(hash)
	return ev, nil
}

// hashBlob is how a hash is stored: the bytes its hex digits stand for.
// Every hash the store writes is events.ChainHash's, 64 hex digits.
func hashBlob(h string) []byte {
	b, _ := hex.DecodeString(h)
	return b
}

// hashText is the Event.Hash of a stored hash, "" for none.
func hashText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) == sha256.Size {
		var buf [2 * sha256.Size]byte
		hex.Encode(buf[:], b)
		return string(buf[:])
	}
	return hex.EncodeToString(b)
}
