package services

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"rectify/events"
	"rectify/services/eventstore"
)

// maxTreeDepth bounds the walk up the unit tree. The tree is kept acyclic by
// decideMoveUnit; the bound only keeps a corrupted store from looping.
const maxTreeDepth = 64

// directory answers the questions authorization and cross-aggregate rules
// ask (who is this actor, what are a unit's ancestors, is that cycle open)
// from the streams concerned. Every command asks several of them, so the
// user, unit and cycle streams are kept in memory and only checked against
// the store: one read of a stream's newest event, and of whatever came
// after the copy, instead of reading and decoding the whole stream. The
// store stays the truth; another process appending to these streams is
// seen at the next check.
type directory struct {
	store eventstore.Store
	cache *streamCache // nil: read whole streams every time
}

func newDirectory(store eventstore.Store) directory {
	return directory{store: store, cache: &streamCache{streams: map[string]history{}}}
}

// streamCache holds the histories of the directory's streams. A history
// put here is never modified: a longer one replaces it.
type streamCache struct {
	mu      sync.Mutex
	streams map[string]history
}

func (c *streamCache) get(stream string) history {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[stream]
}

func (c *streamCache) put(stream string, h history) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(h.events) > len(c.streams[stream].events) {
		c.streams[stream] = h
	}
}

// loadCached is load for the directory's own streams, through the cache.
func (d directory) loadCached(ctx context.Context, stream string) (history, error) {
	if d.cache == nil {
		return d.load(ctx, stream)
	}
	h := d.cache.get(stream)
	n := len(h.events)
	current, err := d.current(ctx, stream, h)
	if events.ErrorCode(err) == events.CodeNotFound {
		return history{}, nil
	}
	if err != nil {
		return history{}, fmt.Errorf("read %s: %w", stream, err)
	}
	if current {
		return h, nil
	}
	more, err := d.store.ReadStream(ctx, stream, eventstore.Forwards, uint64(n), 0)
	if err != nil {
		return history{}, fmt.Errorf("read %s: %w", stream, err)
	}
	next := history{events: append(slices.Clip(h.events), more...), payloads: slices.Clip(h.payloads)}
	for i, e := range more {
		if e.Revision != uint64(n+i) {
			// Not the continuation of the copy (it cannot happen with
			// streams that only grow): start again from the whole stream.
			return d.load(ctx, stream)
		}
		p, err := events.Decode(e)
		if err != nil {
			return history{}, fmt.Errorf("load %s: %w", stream, err)
		}
		next.payloads = append(next.payloads, p)
	}
	d.cache.put(stream, next)
	return next, nil
}

// current reports whether h, a copy of stream, ends where the stream does.
// A store that knows its streams' heads answers from the index and the
// last event's hash (which covers every event before it); otherwise the
// last event is read and compared by revision and id. CodeNotFound: the
// stream has no events.
func (d directory) current(ctx context.Context, stream string, h history) (bool, error) {
	n := len(h.events)
	if heads, ok := d.store.(eventstore.StreamHeads); ok {
		rev, hash, err := heads.StreamHead(ctx, stream)
		if err != nil || n == 0 {
			return false, err
		}
		last := h.events[n-1]
		if hash != "" && last.Hash != "" {
			return rev == last.Revision && hash == last.Hash, nil
		}
	}
	newest, err := d.store.ReadStream(ctx, stream, eventstore.Backwards, math.MaxUint64, 1)
	if err != nil || n == 0 {
		return false, err
	}
	return newest[0].Revision == h.events[n-1].Revision && newest[0].ID == h.events[n-1].ID, nil
}

// load reads and decodes a whole stream; a stream that does not exist is an
// empty history. Errors keep the store's code, or are CodeInternal for an
// event that does not decode.
func (d directory) load(ctx context.Context, stream string) (history, error) {
	evs, err := d.store.ReadStream(ctx, stream, eventstore.Forwards, 0, 0)
	if events.ErrorCode(err) == events.CodeNotFound {
		return history{}, nil
	}
	if err != nil {
		return history{}, fmt.Errorf("read %s: %w", stream, err)
	}
	h := history{events: evs, payloads: make([]events.Payload, len(evs))}
	for i, e := range evs {
		if h.payloads[i], err = events.Decode(e); err != nil {
			return history{}, fmt.Errorf("load %s: %w", stream, err)
		}
	}
	return h, nil
}

func (d directory) user(ctx context.Context, id string) (userState, error) {
	h, err := d.loadCached(ctx, events.UserStream(id))
	return fold(h, evolveUser), err
}

func (d directory) unit(ctx context.Context, id string) (unitState, error) {
	h, err := d.loadCached(ctx, events.UnitStream(id))
	return fold(h, evolveUnit), err
}

func (d directory) cycle(ctx context.Context, id string) (cycleState, error) {
	h, err := d.loadCached(ctx, events.CycleStream(id))
	return fold(h, evolveCycle), err
}

// line returns unitID followed by its ancestors, nearest first, up to the
// root. An unknown unit is its own whole line.
func (d directory) line(ctx context.Context, unitID string) ([]string, error) {
	out := []string{unitID}
	seen := map[string]bool{unitID: true}
	for id := unitID; len(out) <= maxTreeDepth; {
		u, err := d.unit(ctx, id)
		if err != nil {
			return nil, err
		}
		if u.parentID == "" || seen[u.parentID] {
			return out, nil
		}
		seen[u.parentID] = true
		out = append(out, u.parentID)
		id = u.parentID
	}
	return out, nil
}
