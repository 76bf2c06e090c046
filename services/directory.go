package services

import (
	"context"
	"fmt"

	"rectify/events"
	"rectify/services/eventstore"
)

// maxTreeDepth bounds the walk up the unit tree. The tree is kept acyclic by
// decideMoveUnit; the bound only keeps a corrupted store from looping.
const maxTreeDepth = 64

// directory answers the questions authorization and cross-aggregate rules
// ask (who is this actor, what are a unit's ancestors, is that cycle open)
// by reading the streams concerned from the store each time. Correct, not
// fast: a later change may serve them from a projection.
type directory struct {
	store eventstore.Store
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
	h, err := d.load(ctx, events.UserStream(id))
	return fold(h, evolveUser), err
}

func (d directory) unit(ctx context.Context, id string) (unitState, error) {
	h, err := d.load(ctx, events.UnitStream(id))
	return fold(h, evolveUnit), err
}

func (d directory) cycle(ctx context.Context, id string) (cycleState, error) {
	h, err := d.load(ctx, events.CycleStream(id))
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
