package embedded

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"rectify/events"
)

const (
	// checkpointEvery is the least time between two background
	// checkpoints. Each one costs an fsync of the database file; pages
	// written many times in between (the last page of the table, the right
	// edge of an index) are copied once.
	checkpointEvery = 50 * time.Millisecond
	// walResetFrames is the WAL size, in pages, past which the writer
	// checkpoints once itself between two batches, so that the WAL starts
	// over from its beginning (see writer.run).
	walResetFrames = 8192
	// walSizeLimit is what a WAL file is cut back to when it starts over.
	walSizeLimit = 64 << 20
)

// checkpointer copies committed pages from the WAL into the database file
// on a connection of its own, so that the writer never stops for it, as it
// would with SQLite's automatic checkpoints: they run inside the COMMIT of
// whichever transaction crossed the threshold, and every caller of that
// batch waited for them.
//
// A checkpoint running beside the writer can never catch up with it while
// appends keep coming, and SQLite only starts the WAL over once all of it
// is copied; so when the WAL has grown past walResetFrames the checkpointer
// asks the writer to run one checkpoint itself, between two batches, which
// then copies only what the last background one left.
type checkpointer struct {
	db   *sql.DB
	conn *sql.Conn
	stmt *sql.Stmt

	kick chan struct{} // a commit happened; capacity 1, never blocks
	stop chan struct{}
	done chan struct{}

	// mu is held while a checkpoint runs, on either connection: SQLite
	// allows one at a time and would make the second fail with SQLITE_BUSY.
	mu sync.Mutex
	// resetWanted asks the writer for its own checkpoint once the WAL
	// holds resetFrames pages.
	resetWanted atomic.Bool
	resetFrames int64
	// every is the least time between two background checkpoints.
	every time.Duration
	// resets counts the writer's own checkpoints.
	resets atomic.Uint64
}

func openCheckpointer(path string) (*checkpointer, error) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", writeDSN(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), resetFrames: walResetFrames, every: checkpointEvery}
	if c.conn, err = db.Conn(ctx); err == nil {
		c.stmt, err = c.conn.PrepareContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}
	if err != nil {
		c.closeDB()
		return nil, err
	}
	return c, nil
}

// commitHappened tells the checkpointer there are new pages in the WAL.
func (c *checkpointer) commitHappened() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		frames, err := c.checkpoint(c.stmt)
		// A failed checkpoint loses nothing: the pages stay in the WAL
		// and the next one copies them.
		if err == nil && frames >= c.resetFrames {
			c.resetWanted.Store(true)
		}
		timer.Reset(c.every)
		select {
		case <-timer.C:
		case <-c.stop:
			return
		}
	}
}

// checkpoint runs a PASSIVE checkpoint with stmt and returns the size of
// the WAL in pages.
func (c *checkpointer) checkpoint(stmt *sql.Stmt) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var busy, frames, copied int64
	if err := stmt.QueryRowContext(context.Background()).Scan(&busy, &frames, &copied); err != nil {
		return 0, events.Wrap(events.CodeInternal, err, "checkpoint")
	}
	return frames, nil
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.closeDB()
}

func (c *checkpointer) closeDB() error {
	if c.conn != nil {
		c.conn.Close()
	}
	return c.db.Close()
}
