package events

import (
	"encoding/json"
	"time"
)

// Event is one stored fact together with the metadata the store and the
// command side attach to it.
//
// When an Event is handed to a store for appending, Stream, Revision,
// Position and Hash are ignored: the store assigns them and returns them on
// read.
type Event struct {
	// ID identifies the event across every store and every copy of it. A
	// retried append reuses the IDs of the first attempt, which is what makes
	// retries idempotent.
	ID string `json:"id"`
	// Stream is the aggregate stream the event belongs to, "item-<id>".
	Stream string `json:"stream"`
	// Revision is the event's place in its stream, counting from 0.
	Revision uint64 `json:"revision"`
	// Position is the event's place in $all. Positions are strictly
	// increasing in store order but need not be contiguous (EventStoreDB's
	// are log offsets); every stored event has a position above zero.
	Position uint64 `json:"position"`
	// Type is the namespaced event name, "rectify.item.raised".
	Type string `json:"type"`
	// Version is the schema version of Data as it was written.
	Version int `json:"version"`
	// Time is when the command that produced the event was decided.
	Time time.Time `json:"time"`
	// Actor is the user id that issued the command, or "system:<process>".
	Actor string `json:"actor"`
	// CorrelationID ties together every event caused by one user request.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the command or event that caused this one.
	CausationID string `json:"causation_id,omitempty"`
	// Data is the JSON payload in schema version Version.
	Data json.RawMessage `json:"data"`
	// Hash chains the event to the one before it in its stream: ChainHash
	// of the previous event's Hash and this event, as lowercase hex
	// SHA-256. The store computes it when it appends; anyone holding the
	// stream can recompute it, so an event changed, removed or put out of
	// order after the fact shows (see `rectify verify`). Empty only for an
	// event read from a store that did not record one.
	Hash string `json:"hash,omitempty"`
}

// Category returns the part of the stream name before the first '-',
// "item" for "item-42". Streams without a dash are their own category.
func (e Event) Category() string { return StreamCategory(e.Stream) }

// StreamCategory returns the part of a stream name before the first '-'.
func StreamCategory(stream string) string {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '-' {
			return stream[:i]
		}
	}
	return stream
}
