package natsx

// The store-read service: $all read over NATS request/reply, for processes
// that have no store of their own. With the embedded store only one process
// owns the file; a projection replica in another process fills its gaps and
// rebuilds its views through this service instead of opening the file.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"rectify/events"
)

const (
	// StoreService is the micro service name of the store-read service.
	StoreService = "rectify-store"
	// StoreQueueGroup spreads reads over every process serving them.
	StoreQueueGroup = "rectify-store"
	// StoreSubjectPrefix starts the store-read subjects, rectify.store.<op>.
	StoreSubjectPrefix = "rectify.store"
	// StoreReadAllSubject answers a StoreReadRequest with a StoreReadReply.
	StoreReadAllSubject = StoreSubjectPrefix + ".read_all"
	// StoreHeadSubject answers any request with a StoreReadReply whose
	// Head is the position of the last event in $all.
	StoreHeadSubject = StoreSubjectPrefix + ".head"

	// StoreMaxLimit is the most events one read asks for; larger limits
	// are lowered to it.
	StoreMaxLimit = 10_000
	// storeReplyMargin is room left under the connection's maximum
	// payload for the reply's framing and headers.
	storeReplyMargin = 4 << 10
	// defaultStoreTimeout bounds a request whose context has no deadline.
	defaultStoreTimeout = 10 * time.Second
)

// StoreReader is what the store-read service needs of an event store
// (eventstore.Store has both methods).
type StoreReader interface {
	ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error)
	Head(ctx context.Context) (uint64, error)
}

// StoreReadRequest asks for up to Limit events of $all with a position
// above After.
type StoreReadRequest struct {
	After uint64 `json:"after"`
	Limit int    `json:"limit"`
}

// StoreEvent is an event on the wire of the store-read service: the
// envelope with Data carried as base64, so that a reader gets the stored
// payload byte for byte (a JSON payload embedded as JSON would come back
// re-encoded).
type StoreEvent struct {
	ID            string    `json:"id"`
	Stream        string    `json:"stream"`
	Revision      uint64    `json:"revision"`
	Position      uint64    `json:"position"`
	Type          string    `json:"type"`
	Version       int       `json:"version"`
	Time          time.Time `json:"time"`
	Actor         string    `json:"actor,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	Data          []byte    `json:"data"`
	Hash          string    `json:"hash,omitempty"`
}

func toStoreEvent(e events.Event) StoreEvent {
	return StoreEvent{ID: e.ID, Stream: e.Stream, Revision: e.Revision, Position: e.Position, Type: e.Type, Version: e.Version,
		Time: e.Time, Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID, Data: e.Data, Hash: e.Hash}
}

func (s StoreEvent) event() events.Event {
	return events.Event{ID: s.ID, Stream: s.Stream, Revision: s.Revision, Position: s.Position, Type: s.Type, Version: s.Version,
		Time: s.Time, Actor: s.Actor, CorrelationID: s.CorrelationID, CausationID: s.CausationID, Data: s.Data, Hash: s.Hash}
}

// StoreReadReply is the service's answer: events in position order (fewer
// than asked when they would not fit in one NATS message), or the head,
// or the error.
type StoreReadReply struct {
	Events []StoreEvent  `json:"events,omitempty"`
	Head   uint64        `json:"head,omitempty"`
	Error  *events.Error `json:"error,omitempty"`
}

// ServeStore answers StoreReadAllSubject and StoreHeadSubject from store,
// as one micro service in StoreQueueGroup, until ctx is done. The process
// that owns an embedded store runs it.
func ServeStore(ctx context.Context, nc *nats.Conn, store StoreReader, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        StoreService,
		Version:     "1.0.0",
		Description: "rectify event store reads ($all) for processes without a store",
		QueueGroup:  StoreQueueGroup,
	})
	if err != nil {
		return fmt.Errorf("store service: %w", err)
	}
	defer svc.Stop()
	respond := func(req micro.Request, b []byte) {
		if err := req.Respond(b); err != nil {
			logger.Debug("store reply lost", "err", err)
		}
	}
	readAll := micro.HandlerFunc(func(req micro.Request) {
		// A read on a goroutine of its own: micro handles one endpoint's
		// requests one after another.
		go func() { respond(req, storeReadAll(ctx, nc, store, req.Data(), logger)) }()
	})
	head := micro.HandlerFunc(func(req micro.Request) {
		go func() {
			var rep StoreReadReply
			h, err := store.Head(ctx)
			if err != nil {
				rep.Error = storeError(err, logger)
			}
			rep.Head = h
			b, _ := json.Marshal(rep)
			respond(req, b)
		}()
	})
	if err := svc.AddEndpoint("read_all", readAll, micro.WithEndpointSubject(StoreReadAllSubject), micro.WithEndpointQueueGroup(StoreQueueGroup)); err != nil {
		return fmt.Errorf("store endpoint read_all: %w", err)
	}
	if err := svc.AddEndpoint("head", head, micro.WithEndpointSubject(StoreHeadSubject), micro.WithEndpointQueueGroup(StoreQueueGroup)); err != nil {
		return fmt.Errorf("store endpoint head: %w", err)
	}
	<-ctx.Done()
	return nil
}

// storeReadAll reads what req asks for and encodes as many events as fit
// in one message of nc (at least one, unless that one alone is too big).
func storeReadAll(ctx context.Context, nc *nats.Conn, store StoreReader, data []byte, logger *slog.Logger) []byte {
	fail := func(err error) []byte {
		b, _ := json.Marshal(StoreReadReply{Error: storeError(err, logger)})
		return b
	}
	var req StoreReadRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return fail(events.Errorf(events.CodeInvalid, "malformed store read: %v", err))
	}
	limit := req.Limit
	if limit <= 0 || limit > StoreMaxLimit {
		limit = StoreMaxLimit
	}
	evs, err := store.ReadAll(ctx, req.After, limit)
	if err != nil {
		return fail(err)
	}
	budget := int(nc.MaxPayload()) - storeReplyMargin
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, e := range evs {
		eb, err := json.Marshal(toStoreEvent(e))
		if err != nil {
			return fail(events.Wrap(events.CodeInternal, err, "encode event %d", e.Position))
		}
		if b.Len()+len(eb)+2 > budget {
			if i == 0 {
				return fail(events.Errorf(events.CodeInternal, "event %d (%d bytes) does not fit in one NATS message of %d bytes",
					e.Position, len(eb), nc.MaxPayload()))
			}
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(eb)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// storeError turns err into the reply's error, logging internal ones.
func storeError(err error, logger *slog.Logger) *events.Error {
	var e *events.Error
	if errors.As(err, &e) && e.Code != events.CodeInternal {
		return e
	}
	logger.Error("store read failed", "err", err)
	return &events.Error{Code: events.CodeInternal, Message: "the event store could not be read"}
}

// StoreClient reads $all through the store-read service of whichever
// process owns the store. It is a projections.Source.
type StoreClient struct {
	nc *nats.Conn
}

// NewStoreClient returns a client of the store-read service on nc.
func NewStoreClient(nc *nats.Conn) *StoreClient { return &StoreClient{nc: nc} }

// ReadAll returns up to limit events of $all after the position after, in
// position order; fewer when they would not fit in one NATS message, and
// none at the end of $all. Errors: CodeUnavailable when no store service
// answers in time, else the error the store reported.
func (c *StoreClient) ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error) {
	req, _ := json.Marshal(StoreReadRequest{After: after, Limit: limit})
	var rep StoreReadReply
	if err := c.request(ctx, StoreReadAllSubject, req, &rep); err != nil {
		return nil, err
	}
	out := make([]events.Event, len(rep.Events))
	for i, e := range rep.Events {
		out[i] = e.event()
		if (i > 0 && out[i].Position <= out[i-1].Position) || out[i].Position <= after {
			return nil, events.Errorf(events.CodeInternal, "store service answered event %d out of order (after %d)", out[i].Position, after)
		}
	}
	return out, nil
}

// Head returns the position of the last event in $all, 0 when empty.
func (c *StoreClient) Head(ctx context.Context) (uint64, error) {
	var rep StoreReadReply
	if err := c.request(ctx, StoreHeadSubject, nil, &rep); err != nil {
		return 0, err
	}
	return rep.Head, nil
}

func (c *StoreClient) request(ctx context.Context, subject string, data []byte, rep *StoreReadReply) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStoreTimeout)
		defer cancel()
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return events.Wrap(events.CodeUnavailable, err, "no process serves the event store over NATS; is the store's owner running?")
		}
		return events.Wrap(events.CodeUnavailable, err, "the event store service did not answer in time")
	}
	if err := json.Unmarshal(msg.Data, rep); err != nil {
		return events.Wrap(events.CodeInternal, err, "decode store reply")
	}
	if rep.Error != nil {
		return rep.Error
	}
	return nil
}
