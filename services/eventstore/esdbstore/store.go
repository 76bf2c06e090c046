// Package esdbstore is rectify's event store on EventStoreDB, reached over
// gRPC with github.com/EventStore/EventStore-Client-Go/v4. It is what a
// production deployment runs against; `rectify serve` uses the embedded
// store instead. Both pass the same conformance suite (eventstoretest).
//
// # Mapping
//
// An event's ID becomes the EventStoreDB event id when it is a UUID in
// canonical form; any other ID is mapped to a name-based UUID (version 5, in
// a namespace fixed by this package), so a retry maps to the same UUID. The
// ID itself always travels in the JSON metadata, next to the schema version,
// the time (RFC 3339 with nanoseconds and the writer's offset), the actor and
// the correlation and causation ids, which use EventStoreDB's own
// "$correlationId" and "$causationId" keys so that its by-correlation
// projection understands them, and the event's chain hash. Type becomes the
// event type and Data the JSON data, byte for byte.
//
// # Hash chain
//
// Append reads the stream's last event (backwards, one event) and chains
// the new events to its hash (events.ChainHash). It then appends expecting
// exactly that last revision (or no stream), whatever the caller expected,
// so that no other writer's events can come between: a second writer that
// read the same head fails with a wrong expected version, and an append
// expecting any revision or an existing stream reads the head again and
// retries. The caller's own expectation is checked against the head read.
//
// # Positions
//
// An event's Position is the commit position of its record in the
// transaction log. Every append made through the gRPC API is an implicit
// transaction whose events are each written as their own record flagged
// committed, so each event's commit position is the log offset of its own
// record: distinct for every event, strictly increasing in $all order, and
// above zero because the log begins with the epoch record the node writes
// when it starts. (Events that a legacy TCP client wrote in an explicit
// transaction share one commit position; this store never writes such
// events and does not support reading a $all that holds them.) Stream reads
// carry positions since EventStoreDB 22.10; with an older server ReadStream
// fails with CodeInternal rather than return events without one.
//
// System events are skipped by ReadAll, Head and Subscribe: those of streams
// whose name starts with '$' and those whose type does. Append refuses such
// names, so every event this store writes is visible.
//
// # Idempotency
//
// EventStoreDB recognises a retried append by its event ids and writes
// nothing, returning the first result (and keeping the first hashes),
// whenever the retry carries the expected revision the first attempt had
// (an exact revision or no stream), however far the stream has moved on
// since. A retry that matches only some
// of the events already stored is a conflict. These are the cases the
// conformance suite checks for every store. The store goes further than the
// server in one way: EventStoreDB compares ids only, so after each append
// this store reads the events back and returns CodeConflict if a retry with
// known ids carried a different type or data.
//
// Where it differs from the embedded store, which keeps a permanent unique
// index on event id:
//   - A retry expecting any revision or that the stream exists is
//     recognised only while its events are still the last of the stream
//     (its last event is the stream's head): a late retry is written a
//     second time.
//   - Event ids are unique per stream, not across the store: the same id
//     appended to another stream is a new event, not a conflict.
//
// Every append therefore costs two round trips: the write and the read-back
// that also yields the position of its last event, which the write result
// does not report reliably for batches and retries.
package esdbstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"rectify/events"
	"rectify/services/eventstore"
)

// Store is an eventstore.Store on one EventStoreDB node or cluster. It is
// safe for concurrent use.
type Store struct {
	client *esdb.Client
}

var _ eventstore.Store = (*Store)(nil)

// idNamespace is the UUIDv5 namespace in which event ids that are not
// UUIDs are mapped to EventStoreDB event ids. Changing it would break the
// idempotency of retries across versions.
var idNamespace = uuid.MustParse("9ef9887e-f08c-4bc8-a684-3e172ae2a2ad")

// noLimit is the count asked of the server for an unbounded read; it is the
// largest value the server's signed counters accept.
const noLimit = math.MaxInt64

// Open connects to the EventStoreDB at url, a connection string such as
// "esdb://localhost:2113?tls=false" (callers take it from ESDB_URL), and
// checks that $all can be read. It returns CodeInvalid for a malformed url
// and CodeUnavailable, CodeUnauthorized or CodeForbidden when the server
// cannot be reached or refuses.
func Open(ctx context.Context, url string) (*Store, error) {
	conf, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, &events.Error{Code: events.CodeInvalid, Message: "invalid EventStoreDB connection string",
			Fields: []events.FieldError{{Field: "url", Problem: err.Error()}}, Err: err}
	}
	conf.Logger = logToSlog
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, events.Wrap(events.CodeInvalid, err, "invalid EventStoreDB configuration")
	}
	s := &Store{client: client}
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err == nil {
		_, err = rs.Recv()
		rs.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		client.Close()
		err = mapError(ctx, err, false)
		if events.ErrorCode(err) == events.CodeInternal || events.ErrorCode(err) == events.CodeNotFound {
			err = events.Wrap(events.CodeUnavailable, err, "EventStoreDB not reachable")
		}
		return nil, fmt.Errorf("open EventStoreDB: %w", err)
	}
	return s, nil
}

// Close closes the connection. Appends in flight fail with CodeUnavailable
// unless the server already answered them.
func (s *Store) Close() error {
	return s.client.Close()
}

// metadata is the JSON metadata of every event this store writes.
type metadata struct {
	ID            string    `json:"id"`
	Version       int       `json:"version"`
	Time          time.Time `json:"time"`
	Actor         string    `json:"actor,omitempty"`
	CorrelationID string    `json:"$correlationId,omitempty"`
	CausationID   string    `json:"$causationId,omitempty"`
	Hash          string    `json:"hash,omitempty"`
}

// eventID returns the EventStoreDB event id for our id.
func eventID(id string) uuid.UUID {
	if u, err := uuid.Parse(id); err == nil && u.String() == id {
		return u
	}
	return uuid.NewSHA1(idNamespace, []byte(id))
}

// toEventData returns the record of ev with its chain hash.
func toEventData(ev events.Event, hash string) (esdb.EventData, error) {
	meta, err := json.Marshal(metadata{
		ID:            ev.ID,
		Version:       ev.Version,
		Time:          ev.Time,
		Actor:         ev.Actor,
		CorrelationID: ev.CorrelationID,
		CausationID:   ev.CausationID,
		Hash:          hash,
	})
	if err != nil {
		return esdb.EventData{}, events.Invalid("time", err.Error())
	}
	return esdb.EventData{
		EventID:     eventID(ev.ID),
		EventType:   ev.Type,
		ContentType: esdb.ContentTypeJson,
		Data:        ev.Data,
		Metadata:    meta,
	}, nil
}

// fromRecorded turns a stored record into an event. Records written by
// other programs have no metadata of ours; they keep the server's id and
// creation time.
func fromRecorded(r *esdb.RecordedEvent) (events.Event, error) {
	if r.Position.Commit == math.MaxUint64 {
		return events.Event{}, events.Errorf(events.CodeInternal,
			"EventStoreDB did not report the position of %s@%d: version 22.10 or later is required", r.StreamID, r.EventNumber)
	}
	ev := events.Event{
		ID:       r.EventID.String(),
		Stream:   r.StreamID,
		Revision: r.EventNumber,
		Position: r.Position.Commit,
		Type:     r.EventType,
		Time:     r.CreatedDate,
		Data:     json.RawMessage(r.Data),
	}
	var m metadata
	if len(r.UserMetadata) > 0 && json.Unmarshal(r.UserMetadata, &m) == nil && m.ID != "" {
		ev.ID = m.ID
		ev.Version = m.Version
		ev.Time = m.Time
		ev.Actor = m.Actor
		ev.CorrelationID = m.CorrelationID
		ev.CausationID = m.CausationID
		ev.Hash = m.Hash
	}
	return ev, nil
}

// system reports whether r is one of EventStoreDB's own events, which this
// store never shows in $all.
func system(r *esdb.RecordedEvent) bool {
	return strings.HasPrefix(r.StreamID, "$") || strings.HasPrefix(r.EventType, "$")
}

func toExpected(e eventstore.Expected) (esdb.ExpectedRevision, error) {
	switch e.Kind {
	case eventstore.KindAny:
		return esdb.Any{}, nil
	case eventstore.KindNoStream:
		return esdb.NoStream{}, nil
	case eventstore.KindStreamExists:
		return esdb.StreamExists{}, nil
	case eventstore.KindExact:
		return esdb.Revision(e.Revision), nil
	}
	return nil, events.Invalid("expected", fmt.Sprintf("unknown kind %d", e.Kind))
}

func validateStream(stream string) error {
	switch {
	case stream == "":
		return events.Invalid("stream", "is empty")
	case strings.HasPrefix(stream, "$"):
		return events.Invalid("stream", "starts with '$', which EventStoreDB reserves for system streams")
	}
	return nil
}

func validateAppend(stream string, evs []events.Event) error {
	var v events.Validator
	if err := validateStream(stream); err != nil {
		return err
	}
	v.Check(len(evs) > 0, "events", "none given")
	seen := make(map[uuid.UUID]string, len(evs))
	for i, ev := range evs {
		field := fmt.Sprintf("events[%d]", i)
		v.Check(ev.ID != "", field+".id", "is empty")
		v.Check(ev.Type != "", field+".type", "is empty")
		v.Check(!strings.HasPrefix(ev.Type, "$"), field+".type", "starts with '$', which EventStoreDB reserves for system events")
		v.Check(json.Valid(ev.Data), field+".data", "is not JSON")
		if ev.ID == "" {
			continue
		}
		if prev, dup := seen[eventID(ev.ID)]; dup {
			v.Add(field+".id", fmt.Sprintf("%q appears twice in one append (as %q before)", ev.ID, prev))
		}
		seen[eventID(ev.ID)] = ev.ID
	}
	return v.Err()
}

// Append writes evs to stream if expected holds; see the package comment
// for how retries are recognised and how events are chained. It returns
// CodeInvalid for an empty or '$' stream name, no events, an event without
// id or type or with data that is not JSON, or one id twice; CodeConflict
// when expected does not hold or known ids come with different content;
// CodeUnavailable when the server cannot be reached.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	if err := validateAppend(stream, evs); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if _, err := toExpected(expected); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	var (
		wr  *esdb.WriteResult
		err error
	)
	for attempt := 1; ; attempt++ {
		var last *events.Event
		if last, err = s.lastEvent(ctx, stream); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: read its last event: %w", stream, err)
		}
		var exp esdb.ExpectedRevision
		var chained bool
		if exp, chained, err = serverExpected(expected, last, evs); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		prev, next := "", uint64(0)
		if last != nil {
			prev, next = last.Hash, last.Revision+1
		}
		data := make([]esdb.EventData, len(evs))
		for i, ev := range evs {
			ev.Stream, ev.Revision = stream, next+uint64(i)
			prev = events.ChainHash(prev, ev)
			if data[i], err = toEventData(ev, prev); err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
			}
		}
		wr, err = s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, data...)
		if err == nil {
			break
		}
		// Another writer appended between the read of the head and this
		// append. A caller that expects any revision or an existing stream
		// does not mind: chain to the new head and try again.
		var e *esdb.Error
		if chained && errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion &&
			(expected.Kind == eventstore.KindAny || expected.Kind == eventstore.KindStreamExists) && attempt < maxChainAttempts {
			continue
		}
		return eventstore.AppendResult{}, fmt.Errorf("append %s expecting %v: %w", stream, expected, mapError(ctx, err, true))
	}

	// The events this append stands for, written now or by the first
	// attempt, end at NextExpectedVersion.
	last := wr.NextExpectedVersion
	n := uint64(len(evs))
	if last+1 < n {
		return eventstore.AppendResult{}, events.Errorf(events.CodeInternal,
			"append %s: server reported last revision %d for %d events", stream, last, n)
	}
	stored, err := s.readStream(ctx, stream, esdb.Forwards, esdb.Revision(last+1-n), n)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: read back: %w", stream, err)
	}
	if uint64(len(stored)) != n {
		return eventstore.AppendResult{}, events.Errorf(events.CodeInternal,
			"append %s: read back %d of %d events at revision %d", stream, len(stored), n, last+1-n)
	}
	for i, ev := range evs {
		got := stored[i]
		if got.ID != ev.ID {
			return eventstore.AppendResult{}, events.Errorf(events.CodeInternal,
				"append %s: revision %d holds %q where the server put %q", stream, got.Revision, got.ID, ev.ID)
		}
		if !sameContent(got, ev) {
			return eventstore.AppendResult{}, events.Errorf(events.CodeConflict,
				"append %s: event %q is already stored with different content", stream, ev.ID)
		}
	}
	return eventstore.AppendResult{NextExpected: last, Position: stored[n-1].Position}, nil
}

// maxChainAttempts bounds how often an append expecting any revision or an
// existing stream reads the head again after losing a race for it. Each
// loss means another writer's append went through, so only a stream under
// very heavy contention gets there; the caller then sees a conflict.
const maxChainAttempts = 100

// lastEvent returns the stream's last event, nil when it has none.
func (s *Store) lastEvent(ctx context.Context, stream string) (*events.Event, error) {
	evs, err := s.readStream(ctx, stream, esdb.Backwards, esdb.End{}, 1)
	if events.ErrorCode(err) == events.CodeNotFound {
		return nil, nil
	}
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	return &evs[0], nil
}

// serverExpected checks the caller's expectation against last, the
// stream's last event (nil: none), and returns what the append must expect
// of the server. chained says the new events are written exactly after
// last, so the hashes computed from it hold; otherwise the append can only
// be recognised as a retry of one already stored (the server writes
// nothing and keeps the first hashes) or fail, never write.
func serverExpected(expected eventstore.Expected, last *events.Event, evs []events.Event) (exp esdb.ExpectedRevision, chained bool, err error) {
	found := "no stream"
	if last != nil {
		found = fmt.Sprintf("revision %d", last.Revision)
	}
	conflict := events.Errorf(events.CodeConflict, "expected %s, found %s", expected, found)
	switch expected.Kind {
	case eventstore.KindNoStream:
		// With events stored this is a retry or a conflict; the server
		// tells which, and writes nothing either way.
		return esdb.NoStream{}, last == nil, nil
	case eventstore.KindExact:
		switch {
		case last != nil && last.Revision == expected.Revision:
			return esdb.Revision(expected.Revision), true, nil
		case last != nil && expected.Revision < last.Revision:
			// A retry or a conflict, as above: the stream is past it.
			return esdb.Revision(expected.Revision), false, nil
		}
		return nil, false, conflict
	case eventstore.KindStreamExists:
		if last == nil {
			return nil, false, conflict
		}
	}
	if last == nil {
		return esdb.NoStream{}, true, nil
	}
	// Any or StreamExists. A retry whose events are the stream's last:
	// expect what the first attempt found, which the server recognises.
	n := uint64(len(evs))
	if last.ID == evs[n-1].ID {
		switch {
		case last.Revision+1 < n:
			return nil, false, events.Errorf(events.CodeConflict, "event id %s is already stored at revision %d, but not after the events before it", last.ID, last.Revision)
		case last.Revision+1 == n:
			return esdb.NoStream{}, false, nil
		}
		return esdb.Revision(last.Revision - n), false, nil
	}
	return esdb.Revision(last.Revision), true, nil
}

// sameContent reports whether a retry's event b is the stored a: the same
// type and data. Metadata describes the attempt (a handler that decides
// again on retry stamps a new time) and is not compared, as in the
// embedded store.
func sameContent(a, b events.Event) bool {
	return a.ID == b.ID && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

// ReadStream returns up to limit events of stream from revision from in
// direction dir (from math.MaxUint64 backwards starts at the last event).
// It returns CodeNotFound for a stream without events and CodeInvalid for
// a bad stream name.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]events.Event, error) {
	if err := validateStream(stream); err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	var start esdb.StreamPosition = esdb.Revision(from)
	d := esdb.Forwards
	if dir == eventstore.Backwards {
		d = esdb.Backwards
		if from == math.MaxUint64 {
			start = esdb.End{}
		}
	}
	count := uint64(noLimit)
	if limit > 0 {
		count = uint64(limit)
	}
	evs, err := s.readStream(ctx, stream, d, start, count)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return evs, nil
}

func (s *Store) readStream(ctx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, count uint64) ([]events.Event, error) {
	// Reads go to the leader so that an append's read-back and a command's
	// load see every acknowledged write.
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: from, RequiresLeader: true}, count)
	if err != nil {
		return nil, mapError(ctx, err, false)
	}
	defer rs.Close()
	var out []events.Event
	for {
		r, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, mapError(ctx, err, false)
		}
		ev, err := fromRecorded(r.OriginalEvent())
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
}

// ReadAll returns up to limit events of $all after position after, which
// must be 0 or a position this store returned.
func (s *Store) ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error) {
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allPosition(after), RequiresLeader: true}, noLimit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, mapError(ctx, err, false))
	}
	// Closing stops the server streaming once limit events are in.
	defer rs.Close()
	var out []events.Event
	for limit <= 0 || len(out) < limit {
		r, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read all after %d: %w", after, mapError(ctx, err, false))
		}
		rec := r.OriginalEvent()
		// Reading from a position includes the event at it.
		if system(rec) || rec.Position.Commit <= after {
			continue
		}
		ev, err := fromRecorded(rec)
		if err != nil {
			return nil, fmt.Errorf("read all after %d: %w", after, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Head returns the position of the last event of $all that is not a system
// event, 0 when there is none.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}, RequiresLeader: true}, noLimit)
	if err != nil {
		return 0, fmt.Errorf("head: %w", mapError(ctx, err, false))
	}
	defer rs.Close()
	for {
		r, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("head: %w", mapError(ctx, err, false))
		}
		if rec := r.OriginalEvent(); !system(rec) {
			return rec.Position.Commit, nil
		}
	}
}

func allPosition(after uint64) esdb.AllPosition {
	if after == 0 {
		return esdb.Start{}
	}
	// Our positions are commit positions of records whose prepare position
	// is the same (see the package comment).
	return esdb.Position{Commit: after, Prepare: after}
}

// mapError turns an error of the client into an *events.Error. In an
// append, a deleted stream is a conflict; in a read it is not found.
func mapError(ctx context.Context, err error, appending bool) error {
	if ctx.Err() != nil {
		return events.Wrap(events.CodeUnavailable, err, "cancelled: %v", ctx.Err())
	}
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeWrongExpectedVersion:
			return events.Wrap(events.CodeConflict, err, "wrong expected revision")
		case esdb.ErrorCodeResourceNotFound:
			return events.Wrap(events.CodeNotFound, err, "stream not found")
		case esdb.ErrorCodeStreamDeleted:
			if appending {
				return events.Wrap(events.CodeConflict, err, "stream deleted")
			}
			return events.Wrap(events.CodeNotFound, err, "stream deleted")
		case esdb.ErrorCodeUnauthenticated:
			return events.Wrap(events.CodeUnauthorized, err, "EventStoreDB refused the credentials")
		case esdb.ErrorCodeAccessDenied:
			return events.Wrap(events.CodeForbidden, err, "EventStoreDB denied access")
		case esdb.ErrorCodeDeadlineExceeded, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader,
			esdb.ErrorAborted, esdb.ErrorUnavailable:
			return events.Wrap(events.CodeUnavailable, err, "EventStoreDB unavailable")
		}
	}
	// Some calls return gRPC errors unwrapped.
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.ResourceExhausted:
			return events.Wrap(events.CodeUnavailable, err, "EventStoreDB unavailable")
		case codes.NotFound:
			return events.Wrap(events.CodeNotFound, err, "not found")
		case codes.InvalidArgument, codes.OutOfRange:
			// Such as an append over the server's maximum append size.
			return events.Wrap(events.CodeInvalid, err, "EventStoreDB refused the request")
		case codes.Unauthenticated:
			return events.Wrap(events.CodeUnauthorized, err, "EventStoreDB refused the credentials")
		case codes.PermissionDenied:
			return events.Wrap(events.CodeForbidden, err, "EventStoreDB denied access")
		}
	}
	return events.Wrap(events.CodeInternal, err, "EventStoreDB")
}

// logToSlog routes the client's log lines to slog; the client's default
// logs every line, debug included, through the log package. Its errors
// become warnings: it reports every closed subscription as one, and the
// errors that matter reach the caller anyway.
func logToSlog(level esdb.LogLevel, format string, args ...any) {
	l := slog.LevelDebug
	if level == esdb.LogWarn || level == esdb.LogError {
		l = slog.LevelWarn
	}
	slog.Log(context.Background(), l, fmt.Sprintf(format, args...), "component", "esdb")
}
