package gen

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"rectify/events"
	"rectify/services/eventstore"
)

// Load tuning: a chunk of the history is appended at once, one Append per
// stream, from many goroutines, so that the store's group commit puts many
// appends into each transaction. Large chunks hold more of each stream's
// events, so fewer and larger appends: 200,000 loads twice as fast as
// 50,000.
var loadChunk = 200_000

const loadWorkers = 64

// Load appends the history cfg describes to store and returns the number
// of events appended. progress, if not nil, is called with the number of
// events appended so far after each chunk.
//
// Events of items and commitments are appended a chunk at a time, each
// stream's events of the chunk in one Append from one of many concurrent
// callers; the organisation's events (units, users, cycles), which later
// events depend on, are appended alone, in order, between chunks. So
// $all keeps every cause before its effects, though within a chunk the
// streams interleave in whatever order the appends land.
//
// Every Append expects the stream's exact revision. Chunks are the same on
// every run, so Load on a store that already holds the history (or a
// prefix of it, after a crash) appends only what is missing: the store
// treats the repeats as idempotent retries.
//
// Errors are the store's, wrapped with the stream: CodeConflict when the
// store holds other events in the history's streams.
func Load(ctx context.Context, store eventstore.Store, cfg Config, progress func(n int)) (int, error) {
	return AppendAll(ctx, store, History(cfg), progress)
}

// AppendAll is Load for any part of a history, such as all but its last
// events: evs must come in History's order, and a part must begin with
// the history's first event or after events already in the store.
func AppendAll(ctx context.Context, store eventstore.Store, evs iter.Seq[events.Event], progress func(n int)) (int, error) {
	loaded := 0
	var chunk []events.Event
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := appendChunk(ctx, store, chunk); err != nil {
			return err
		}
		loaded += len(chunk)
		chunk = chunk[:0]
		if progress != nil {
			progress(loaded)
		}
		return nil
	}
	var org []events.Event // consecutive events of one organisation stream
	flushOrg := func() error {
		if len(org) == 0 {
			return nil
		}
		if err := appendStream(ctx, store, org); err != nil {
			return err
		}
		loaded += len(org)
		org = org[:0]
		return nil
	}
	for e := range evs {
		if err := ctx.Err(); err != nil {
			return loaded, err
		}
		switch e.Category() {
		case events.CategoryItem, events.CategoryCommitment:
			if err := flushOrg(); err != nil {
				return loaded, err
			}
			chunk = append(chunk, e)
			if len(chunk) >= loadChunk {
				if err := flush(); err != nil {
					return loaded, err
				}
			}
		default:
			if err := flush(); err != nil {
				return loaded, err
			}
			// Events of one command (the bootstrap) go in one append, as
			// the command side wrote them.
			if len(org) > 0 && (org[0].Stream != e.Stream || org[0].CorrelationID != e.CorrelationID) {
				if err := flushOrg(); err != nil {
					return loaded, err
				}
			}
			org = append(org, e)
		}
	}
	if err := flushOrg(); err != nil {
		return loaded, err
	}
	if err := flush(); err != nil {
		return loaded, err
	}
	return loaded, nil
}

// appendStream appends evs, consecutive events of one stream, expecting
// the stream to be just before the first of them.
func appendStream(ctx context.Context, store eventstore.Store, evs []events.Event) error {
	expected := eventstore.NoStream
	if r := evs[0].Revision; r > 0 {
		expected = eventstore.Exact(r - 1)
	}
	if _, err := store.Append(ctx, evs[0].Stream, expected, evs...); err != nil {
		return fmt.Errorf("append %s: %w", evs[0].Stream, err)
	}
	return nil
}

// appendChunk appends the events of a chunk grouped by stream, from
// loadWorkers goroutines.
func appendChunk(ctx context.Context, store eventstore.Store, chunk []events.Event) error {
	var order []string
	byStream := map[string][]events.Event{}
	for _, e := range chunk {
		if _, ok := byStream[e.Stream]; !ok {
			order = append(order, e.Stream)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []events.Event)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(loadWorkers, len(order)) {
		wg.Go(func() {
			for evs := range work {
				if err := appendStream(ctx, store, evs); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for _, s := range order {
		select {
		case work <- byStream[s]:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
