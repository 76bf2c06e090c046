package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
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
func (r *Runner) Rebuild(ctx context.Context, progress func(pos uint64)) (RebuildStats, error) {
	if r.opts.Source == nil {
		return RebuildStats{}, errors.New("rebuild needs a source")
	}
	tmp := r.path + ".rebuild"
	removeDB(tmp)
	db, _, _, err := r.openAndMigrate(ctx, tmp)
	if err != nil {
		return RebuildStats{}, err
	}
	keep := false
	defer func() {
		if !keep {
			db.Close()
			removeDB(tmp)
		}
	}()

	var st RebuildStats
	var pos uint64
	// catchUp applies events after pos up to and including limit (0: no
	// limit) and reports whether the source had nothing more.
	catchUp := func(limit uint64) error {
		for {
			evs, err := r.opts.Source.ReadAll(ctx, pos, rebuildBatch)
			if err != nil {
				return fmt.Errorf("rebuild %s: read after %d: %w", r.proj.Name(), pos, err)
			}
			batch := make([]Delivery, 0, len(evs))
			for _, e := range evs {
				if limit > 0 && e.Position > limit {
					break
				}
				batch = append(batch, Delivery{Event: e, Prev: pos})
				pos = e.Position
			}
			if len(batch) == 0 {
				return nil
			}
			res, err := r.applyTo(ctx, db, batch, false)
			if err != nil {
				return fmt.Errorf("rebuild %s: %w", r.proj.Name(), err)
			}
			st.Events += res.applied
			if progress != nil {
				progress(pos)
			}
			if len(batch) < len(evs) || (limit > 0 && pos >= limit) {
				return nil
			}
		}
	}
	// Catch up without holding anything: the live view goes on.
	if err := catchUp(0); err != nil {
		return st, err
	}
	// Pause live updates, take what arrived meanwhile up to the live
	// position, and swap.
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	live := r.pos.Load()
	if pos < live {
		if err := catchUp(live); err != nil {
			return st, err
		}
	}
	if pos < live {
		return st, fmt.Errorf("rebuild %s: source ends at %d, before the live view's %d", r.proj.Name(), pos, live)
	}
	// The new view may be ahead of the live one (the store had events that
	// JetStream has not delivered yet); it then becomes the checkpoint and
	// those events are skipped when they arrive.
	if _, err := db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return st, err
	}
	db.Close()
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	if r.db != nil {
		r.db.Close()
	}
	removeDB(r.path)
	if err := os.Rename(tmp, r.path); err != nil {
		return st, fmt.Errorf("rebuild %s: swap: %w", r.proj.Name(), err)
	}
	keep = true
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
