package projections

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// viewDB is one projection's SQLite file: a single-connection writer that
// applies events and a pool of read-only connections for queries. WAL lets
// queries read the last committed view while a batch is being applied.
type viewDB struct {
	path  string
	write *sql.DB
	read  *sql.DB
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
	err1 := v.read.Close()
	err2 := v.write.Close()
	if err1 != nil {
		return err1
	}
	return err2
}
