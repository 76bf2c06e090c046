package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// rebuildBatch is how many events a rebuild applies per transaction: large
// batches amortise the commit, which is most of a rebuild's cost.
const rebuildBatch = 10000

// RebuildStats says what a rebuild did.
type RebuildStats struct {
	Events   int    // events applied to the new database
	Position uint64 // position the new view was swapped in at
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
		queues[i] = make(chan []Delivery, 2)
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
			stats[i], errs[i] = b.finish(ctx)
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
type rebuild struct {
	r      *Runner
	tmp    string
	db     *viewDB
	pos    uint64
	events int
	kept   bool
}

func (r *Runner) startRebuild(ctx context.Context) (*rebuild, error) {
	tmp := r.path + ".rebuild"
	removeDB(tmp)
	db, pos, _, err := r.openAndMigrate(ctx, tmp)
	if err != nil {
		removeDB(tmp)
		return nil, err
	}
	return &rebuild{r: r, tmp: tmp, db: db, pos: pos}, nil
}

func (b *rebuild) apply(ctx context.Context, batch []Delivery) error {
	res, err := b.r.applyTo(ctx, b.db, batch, false)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", b.r.proj.Name(), err)
	}
	b.events += res.applied
	b.pos = res.pos
	return nil
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
	st := RebuildStats{Events: b.events}
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
	if _, err := b.db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return st, fmt.Errorf("rebuild %s: %w", r.proj.Name(), err)
	}
	b.db.Close()
	b.db = nil
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	if r.db != nil {
		r.db.Close()
	}
	removeDB(r.path)
	if err := os.Rename(b.tmp, r.path); err != nil {
		r.db = nil
		return st, fmt.Errorf("rebuild %s: swap: %w", r.proj.Name(), err)
	}
	b.kept = true
	syncDir(filepath.Dir(r.path))
	ndb, npos, ptime, err := r.openAndMigrate(ctx, r.path)
	if err != nil {
		r.db = nil
		return st, err
	}
	r.db = ndb
	st.Position = npos
	if npos != live {
		r.pos.Store(npos)
		r.posTime.Store(ptime)
	}
	return st, nil
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
