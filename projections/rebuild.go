package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// rebuildBatch is how many events a rebuild reads at a time and applies
// per transaction: enough to make a transaction's cost small, few enough
// that the batches in flight (being read, decoded, queued for each view)
// stay a few tens of megabytes. Tests make it small, to see bulk loads
// carry their state from batch to batch.
var rebuildBatch = 5000

// RebuildStats says what a rebuild did.
type RebuildStats struct {
	Events   int    // events applied to the new database
	Position uint64 // position the new view was swapped in at
	// Where the time went: Load until the view had applied every event
	// read (for RebuildAll, counted from its start, which all views
	// share), Write writing what the bulk load kept and indexing it,
	// Swap catching up and replacing the live view.
	Load, Write, Swap time.Duration
}

// Rebuild builds the view afresh from position zero in a new database
// beside the live one, reading from the Source, while the live view keeps
// being updated and queried. When the new database has caught up, live
// updates pause for a moment, the new database takes the last few events,
// and it replaces the live one: queries never see a half-built view.
// progress, if not nil, is called after each batch with the position
// reached.
//
// Reading the next batch from the Source overlaps with applying the
// current one.
func (r *Runner) Rebuild(ctx context.Context, progress func(pos uint64)) (RebuildStats, error) {
	st, err := RebuildAll(ctx, []*Runner{r}, progress)
	if len(st) == 0 {
		return RebuildStats{}, err
	}
	return st[0], err
}

// RebuildAll rebuilds the views of several runners at once, as Rebuild
// does each, from a single pass over the Source of the first runner: each
// batch is read once and applied to every new database concurrently, so a
// server rebuilding all its views reads and transfers $all once instead
// of once per view. Every runner needs a Source (it takes the events that
// arrive during its swap from its own). progress, if not nil, is called
// after each batch has been applied by every runner, with the position
// reached.
//
// The stats are in the order of runners. A runner whose rebuild fails keeps
// its live view; the error names it, and the others still swap.
func RebuildAll(ctx context.Context, runners []*Runner, progress func(pos uint64)) ([]RebuildStats, error) {
	if len(runners) == 0 {
		return nil, nil
	}
	for _, r := range runners {
		if r.opts.Source == nil {
			return nil, fmt.Errorf("rebuild %s: no source", r.proj.Name())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()

	builds := make([]*rebuild, len(runners))
	defer func() {
		for _, b := range builds {
			if b != nil {
				b.discard()
			}
		}
	}()
	for i, r := range runners {
		b, err := r.startRebuild(ctx)
		if err != nil {
			return nil, err
		}
		builds[i] = b
	}

	// One reader fills a short queue per runner; each runner applies its
	// queue in its own goroutine. A slow runner holds the reader back
	// rather than letting batches pile up in memory.
	queues := make([]chan []Delivery, len(builds))
	for i := range queues {
		queues[i] = make(chan []Delivery, 1)
	}
	errs := make([]error, len(builds))
	var applied sync.WaitGroup
	var acks chan uint64
	if progress != nil {
		acks = make(chan uint64, 2*len(builds))
	}
	for i, b := range builds {
		applied.Go(func() {
			for batch := range queues[i] {
				if errs[i] != nil {
					continue // drain, so that the reader never blocks on a failed runner
				}
				if err := b.apply(ctx, batch); err != nil {
					errs[i] = err
					continue
				}
				if acks != nil {
					acks <- batch[len(batch)-1].Event.Position
				}
			}
			if errs[i] == nil && ctx.Err() == nil {
				// Each view ends its bulk load as soon as it has applied
				// everything read, beside the others still applying.
				b.load = time.Since(start)
				errs[i] = b.endBulk(ctx)
				b.write = time.Since(start) - b.load
			}
		})
	}
	var reported sync.WaitGroup
	if acks != nil {
		// A position is reached when every runner has applied it.
		reported.Go(func() {
			seen := map[uint64]int{}
			for pos := range acks {
				seen[pos]++
				if seen[pos] == len(builds) {
					delete(seen, pos)
					progress(pos)
				}
			}
		})
	}
	readErr := readAll(ctx, runners[0].opts.Source, func(batch []Delivery) bool {
		// Several views share each event's payload, decoded here, beside
		// the reader and before the views, which would otherwise wait for
		// each other to decode it. A single view decodes what it needs
		// itself (often a few kinds of events).
		if len(builds) > 1 {
			dec := make([]decoded, len(batch))
			for i := range batch {
				batch[i].decoded = &dec[i]
				dec[i].payload(batch[i].Event)
			}
		}
		for _, q := range queues {
			select {
			case q <- batch:
			case <-ctx.Done():
				return false
			}
		}
		return true
	})
	for _, q := range queues {
		close(q)
	}
	applied.Wait()
	if acks != nil {
		close(acks)
		reported.Wait()
	}
	if readErr != nil {
		return nil, fmt.Errorf("rebuild: %w", readErr)
	}

	// Swap each runner whose new view caught up.
	stats := make([]RebuildStats, len(builds))
	var swapped sync.WaitGroup
	for i, b := range builds {
		if errs[i] != nil {
			continue
		}
		swapped.Go(func() {
			swap := time.Now()
			stats[i], errs[i] = b.finish(ctx)
			stats[i].Swap = time.Since(swap)
		})
	}
	swapped.Wait()
	return stats, errors.Join(errs...)
}

// readAll reads the source from position zero in batches and hands each to
// fn, which returns false to stop. The next batch is read while fn works
// on the current one.
func readAll(ctx context.Context, src Source, fn func([]Delivery) bool) error {
	type read struct {
		batch []Delivery
		err   error
	}
	ch := make(chan read, 1)
	go func() {
		defer close(ch)
		var pos uint64
		for {
			evs, err := src.ReadAll(ctx, pos, rebuildBatch)
			if err != nil {
				ch <- read{err: fmt.Errorf("read after %d: %w", pos, err)}
				return
			}
			if len(evs) == 0 {
				return
			}
			batch := make([]Delivery, len(evs))
			for i, e := range evs {
				batch[i] = Delivery{Event: e, Prev: pos}
				pos = e.Position
			}
			select {
			case ch <- read{batch: batch}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for rd := range ch {
		if rd.err != nil {
			return rd.err
		}
		if !fn(rd.batch) {
			break
		}
	}
	// Let the reader see the end and go.
	for range ch {
	}
	return ctx.Err()
}

// rebuild is one runner's new view database while it is being built.
//
// It starts in a bulk load: the database has no write-ahead log and is
// not synced (a crash throws it away: the next rebuild starts by removing
// it, and the live view is untouched), and a BulkLoader keeps state in
// memory and goes without its deferred indexes. endBulk writes that
// state, creates the indexes, and turns the database into an ordinary
// one for the catch-up; finish syncs it before it replaces the live one.
type rebuild struct {
	r      *Runner
	tmp    string
	db     *viewDB
	pos    uint64
	events int
	kept   bool
	// bulk is the state of the bulk load (Tx.Bulk), nil once it ended.
	bulk map[any]any
	// deferred holds the SQL of the indexes and triggers dropped for the
	// bulk load.
	deferred []string
	// load and write are RebuildStats.Load and Write.
	load, write time.Duration
}

func (r *Runner) startRebuild(ctx context.Context) (*rebuild, error) {
	tmp := r.path + ".rebuild"
	removeDB(tmp)
	db, pos, _, err := r.openAndMigrate(ctx, tmp, true)
	if err != nil {
		removeDB(tmp)
		return nil, err
	}
	b := &rebuild{r: r, tmp: tmp, db: db, pos: pos}
	if bl, ok := r.proj.(BulkLoader); ok {
		b.bulk = map[any]any{}
		if b.deferred, err = dropDeferred(ctx, db, bl.Deferred()); err != nil {
			b.discard()
			return nil, fmt.Errorf("rebuild %s: %w", r.proj.Name(), err)
		}
	}
	return b, nil
}

// dropDeferred drops the named indexes and triggers and returns the SQL
// that creates them again.
func dropDeferred(ctx context.Context, db *viewDB, names []string) ([]string, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []string
	for _, name := range names {
		var typ, create string
		if err := tx.QueryRowContext(ctx, `SELECT type, sql FROM sqlite_master WHERE name = ? AND type IN ('index', 'trigger')`, name).Scan(&typ, &create); err != nil {
			return nil, fmt.Errorf("deferred %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DROP `+strings.ToUpper(typ)+` "`+name+`"`); err != nil {
			return nil, fmt.Errorf("deferred %s: %w", name, err)
		}
		out = append(out, create)
	}
	return out, tx.Commit()
}

func (b *rebuild) apply(ctx context.Context, batch []Delivery) error {
	res, err := b.r.applyTo(ctx, b.db, batch, false, b.bulk)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", b.r.proj.Name(), err)
	}
	b.events += res.applied
	b.pos = res.pos
	return nil
}

// endBulk ends the bulk load: the projection writes what it kept, the
// deferred indexes and triggers are created again, and the database gets
// its write-ahead log back, for the catch-up and the swap.
func (b *rebuild) endBulk(ctx context.Context) error {
	if b.bulk != nil {
		if err := b.writeBulk(ctx); err != nil {
			return fmt.Errorf("rebuild %s: end bulk load: %w", b.r.proj.Name(), err)
		}
		b.bulk = nil
	}
	for _, pragma := range []string{`PRAGMA journal_mode = WAL`, `PRAGMA synchronous = NORMAL`, `PRAGMA cache_size = -65536`} {
		if _, err := b.db.write.ExecContext(ctx, pragma); err != nil {
			return fmt.Errorf("rebuild %s: %w", b.r.proj.Name(), err)
		}
	}
	return nil
}

// writeBulk lets the projection write what its bulk load kept and creates
// the deferred indexes and triggers again, in one transaction.
func (b *rebuild) writeBulk(ctx context.Context) error {
	tx, err := beginTx(ctx, b.db)
	if err != nil {
		return err
	}
	defer tx.end()
	tx.view, tx.bulk, tx.quiet, tx.pos = b.r.proj.Name(), b.bulk, true, b.pos
	if err := b.r.proj.(BulkLoader).EndBulk(ctx, tx); err != nil {
		return err
	}
	if len(b.deferred) > 0 {
		// Sorting an index's keys in memory, rather than through
		// temporary files, needs a cache as large as the keys.
		if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -32768`); err != nil {
			return err
		}
	}
	for _, create := range b.deferred {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// discard removes the new database unless it replaced the live one.
func (b *rebuild) discard() {
	if b.kept {
		return
	}
	if b.db != nil {
		b.db.Close()
	}
	removeDB(b.tmp)
}

// finish pauses live updates, lets the new database take what arrived
// meanwhile up to the live position, and swaps it in.
func (b *rebuild) finish(ctx context.Context) (RebuildStats, error) {
	r := b.r
	st := RebuildStats{Events: b.events, Load: b.load, Write: b.write}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	live := r.pos.Load()
	for b.pos < live {
		evs, err := r.opts.Source.ReadAll(ctx, b.pos, rebuildBatch)
		if err != nil {
			return st, fmt.Errorf("rebuild %s: read after %d: %w", r.proj.Name(), b.pos, err)
		}
		batch := make([]Delivery, 0, len(evs))
		prev := b.pos
		for _, e := range evs {
			if e.Position > live {
				break
			}
			batch = append(batch, Delivery{Event: e, Prev: prev})
			prev = e.Position
		}
		if len(batch) == 0 {
			break
		}
		if err := b.apply(ctx, batch); err != nil {
			return st, err
		}
		st.Events = b.events
	}
	if b.pos < live {
		return st, fmt.Errorf("rebuild %s: source ends at %d, before the live view's %d", r.proj.Name(), b.pos, live)
	}
	// The new view may be ahead of the live one (the store had events that
	// JetStream has not delivered yet); it then becomes the checkpoint and
	// those events are skipped when they arrive.
	//
	// The bulk load wrote without syncing: the whole file is made durable
	// before it replaces the live one.
	if _, err := b.db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return st, fmt.Errorf("rebuild %s: %w", r.proj.Name(), err)
	}
	b.db.Close()
	b.db = nil
	if err := syncFile(b.tmp); err != nil {
		return st, fmt.Errorf("rebuild %s: %w", r.proj.Name(), err)
	}
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	if r.db != nil {
		r.db.Close()
	}
	// The rename replaces the live file at once; its log must go first,
	// or the new file would open with it.
	os.Remove(r.path + "-wal")
	os.Remove(r.path + "-shm")
	if err := os.Rename(b.tmp, r.path); err != nil {
		r.db = nil
		return st, fmt.Errorf("rebuild %s: swap: %w", r.proj.Name(), err)
	}
	b.kept = true
	syncDir(filepath.Dir(r.path))
	ndb, npos, ptime, err := r.openAndMigrate(ctx, r.path, false)
	if err != nil {
		r.db = nil
		return st, err
	}
	r.db = ndb
	r.answers.reset()
	st.Position = npos
	if npos != live {
		r.pos.Store(npos)
		r.posTime.Store(ptime)
	}
	return st, nil
}

// syncFile flushes the file at path to stable storage.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// syncDir makes a rename in dir durable, where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
