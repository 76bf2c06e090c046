// Package eventstore defines the contract every event store of rectify
// fulfils, with the semantics of EventStoreDB: streams with revisions from 0,
// expected-revision checks, a global $all order with positions, forward and
// backward stream reads, catch-up subscriptions with filters, and idempotent
// appends by event id.
//
// Implementations live in sub-packages (embedded, esdb); the conformance
// suite in eventstoretest runs against each of them.
package eventstore

import (
	"context"
	"fmt"
	"strings"

	"rectify/events"
)

// ExpectedKind says what an append expects of the stream it writes to.
type ExpectedKind uint8

const (
	// KindAny appends whatever the stream's state.
	KindAny ExpectedKind = iota
	// KindNoStream appends only if the stream has no events yet.
	KindNoStream
	// KindStreamExists appends only if the stream has at least one event.
	KindStreamExists
	// KindExact appends only if the stream's last revision is Revision.
	KindExact
)

// Expected is the optimistic concurrency check of one append.
type Expected struct {
	Kind     ExpectedKind
	Revision uint64 // used by KindExact only
}

var (
	// Any appends regardless of the stream's state.
	Any = Expected{Kind: KindAny}
	// NoStream appends only to a stream that does not exist yet.
	NoStream = Expected{Kind: KindNoStream}
	// StreamExists appends only to a stream that has events.
	StreamExists = Expected{Kind: KindStreamExists}
)

// Exact appends only if the stream's last event has revision rev.
func Exact(rev uint64) Expected { return Expected{Kind: KindExact, Revision: rev} }

func (e Expected) String() string {
	switch e.Kind {
	case KindAny:
		return "any"
	case KindNoStream:
		return "no stream"
	case KindStreamExists:
		return "stream exists"
	default:
		return fmt.Sprintf("revision %d", e.Revision)
	}
}

// AppendResult tells where an append landed.
type AppendResult struct {
	// NextExpected is the revision of the last event now in the stream: the
	// value to pass to Exact for the next append.
	NextExpected uint64
	// Position is the $all position of the last event written.
	Position uint64
}

// Direction of a stream read.
type Direction uint8

const (
	Forwards Direction = iota
	Backwards
)

// Filter selects events of a subscription. An event passes when it matches
// any stream prefix (or there are none) and any event type (or there are
// none).
type Filter struct {
	StreamPrefixes []string
	EventTypes     []string
}

// Matches reports whether e passes the filter.
func (f Filter) Matches(e events.Event) bool {
	if len(f.StreamPrefixes) > 0 {
		ok := false
		for _, p := range f.StreamPrefixes {
			if strings.HasPrefix(e.Stream, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.EventTypes) == 0 {
		return true
	}
	for _, t := range f.EventTypes {
		if e.Type == t {
			return true
		}
	}
	return false
}

// Subscription delivers the events of $all after a position, first the
// stored history and then live appends, in position order, with no gap and
// no duplicate.
type Subscription interface {
	// Next blocks until the next matching event, ctx is done or the
	// subscription is closed.
	Next(ctx context.Context) (events.Event, error)
	// Close ends the subscription; a blocked Next returns.
	Close() error
}

// StreamHeads is implemented by stores that can tell where a stream ends
// without reading its last event: the command side checks its copies of
// user, unit and cycle streams against the store on every command.
type StreamHeads interface {
	// StreamHead returns the revision and hash of stream's last event
	// (the hash is empty in stores written before events carried one),
	// or CodeNotFound when the stream has no events.
	StreamHead(ctx context.Context, stream string) (revision uint64, hash string, err error)
}

// Store is an event store.
//
// Errors are *events.Error: CodeConflict for a failed expected-revision
// check or an event id reused with different content, CodeNotFound for a
// read of a stream that does not exist, CodeInvalid for bad arguments,
// CodeUnavailable when the store cannot be reached, CodeInternal otherwise.
type Store interface {
	// Append writes evs to stream atomically and durably (on disk before it
	// returns) if expected holds. Stream, Revision and Position of evs are
	// ignored. Appending events whose ids are already stored, in the same
	// stream and with the same content, writes nothing and returns the
	// result of the first append.
	Append(ctx context.Context, stream string, expected Expected, evs ...events.Event) (AppendResult, error)

	// ReadStream returns up to limit events of stream starting at revision
	// from (inclusive) in direction dir. Reading backwards from
	// math.MaxUint64 starts at the last event. limit <= 0 means no limit.
	ReadStream(ctx context.Context, stream string, dir Direction, from uint64, limit int) ([]events.Event, error)

	// ReadAll returns up to limit events of $all with a position strictly
	// greater than after, in position order. after 0 reads from the start.
	ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error)

	// Subscribe follows $all after the given position (0: from the start).
	Subscribe(ctx context.Context, after uint64, filter Filter) (Subscription, error)

	// Head returns the position of the last event in $all, 0 when empty.
	Head(ctx context.Context) (uint64, error)

	// Close releases the store. Appends in flight either complete or fail.
	Close() error
}
