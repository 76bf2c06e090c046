package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// viewDB is one projection's SQLite file: a single-connection writer that
// applies events and a pool of read-only connections for queries. WAL lets
// queries read the last committed view while a batch is being applied.
type viewDB struct {
	path  string
	write *sql.DB
	read  *sql.DB

	// The writer's prepared statements, kept for the life of the file.
	// In live use a transaction applies one or a few events, so preparing
	// its statements per transaction meant parsing the same SQL again for
	// every event (about a twentieth of the CPU of serving commands).
	// Statements are prepared on the writer's single connection, which
	// lives as long as the file is open.
	mu       sync.Mutex
	stmts    map[string]*sql.Stmt   // for Tx.stmt, through Tx.StmtContext
	direct   map[string]driver.Stmt // for Tx.execMany, on directOn
	directOn any                    // the driver connection direct belongs to
}

// prepared returns the writer's statement for query, or nil when it has
// not been prepared yet.
func (v *viewDB) prepared(query string) *sql.Stmt {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stmts[query]
}

// prepare prepares queries on the writer for later transactions. It must
// be called with no transaction open: the writer has one connection.
func (v *viewDB) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		if v.prepared(q) != nil {
			continue
		}
		st, err := v.write.PrepareContext(ctx, q)
		if err != nil {
			// The next transaction prepares it for itself again and
			// reports any error where it is used.
			continue
		}
		v.mu.Lock()
		if v.stmts == nil {
			v.stmts = map[string]*sql.Stmt{}
		}
		v.stmts[q] = st
		v.mu.Unlock()
	}
}

// directStmt returns execMany's statement for query on the driver
// connection dc, preparing it the first time. Statements of a connection
// that database/sql has since replaced are forgotten, not closed: their
// connection is gone.
func (v *viewDB) directStmt(ctx context.Context, dc any, query string) (driver.Stmt, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.directOn != dc {
		v.direct, v.directOn = map[string]driver.Stmt{}, dc
	}
	if st, ok := v.direct[query]; ok {
		return st, nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver cannot prepare with a context")
	}
	st, err := pc.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	v.direct[query] = st
	return st, nil
}

// closeStatements closes the writer's statements; the writer must be idle.
func (v *viewDB) closeStatements() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, st := range v.stmts {
		_ = st.Close()
	}
	v.stmts = nil
	if len(v.direct) == 0 {
		return
	}
	if conn, err := v.write.Conn(context.Background()); err == nil {
		_ = conn.Raw(func(dc any) error {
			if dc == v.directOn {
				for _, st := range v.direct {
					_ = st.Close()
				}
			}
			return nil
		})
		_ = conn.Close()
	}
	v.direct, v.directOn = nil, nil
}

// openViewDB opens the view database at path. bulk opens a rebuild's new
// database for its bulk load (see rebuild), which nobody reads and a
// crash throws away: no write-ahead log, no syncs, and a small cache,
// since a bulk load mostly appends. rebuild.endBulk turns it into an
// ordinary view database.
func openViewDB(path string, bulk bool) (*viewDB, error) {
	q := url.Values{}
	if bulk {
		q.Add("_pragma", "journal_mode(MEMORY)")
		q.Add("_pragma", "synchronous(OFF)")
		q.Add("_pragma", "cache_size(-16384)")
	} else {
		// synchronous=NORMAL: a power cut may lose the last batches, but
		// never splits a view change from its checkpoint, and the lost
		// events are simply consumed again.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "cache_size(-65536)")
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Add("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open view db %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open view db %s: %w", path, err)
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "query_only(ON)")
	rq.Add("_pragma", "cache_size(-32768)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open view db %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &viewDB{path: path, write: w, read: r}, nil
}

func (v *viewDB) Close() error {
	v.closeStatements()
	err1 := v.read.Close()
	err2 := v.write.Close()
	if err1 != nil {
		return err1
	}
	return err2
}
