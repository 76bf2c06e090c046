package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// QueryFunc answers one query operation of a view from its read-only
// database. Errors are *events.Error (CodeInvalid naming the bad parameter,
// CodeNotFound, ...); anything else is reported as internal.
type QueryFunc func(ctx context.Context, db *sql.DB, req query.Request) (any, error)

// Queryable is a projection that answers queries.
type Queryable interface {
	Projection
	// Queries maps operation names to their functions; each is served on
	// natsx.QuerySubject(Name(), op).
	Queries() map[string]QueryFunc
}

// ServeOptions tune ServeQueries.
type ServeOptions struct {
	// MaxWait bounds how long a query waits for its MinPosition (default 5s).
	MaxWait time.Duration
	// Concurrency is the most queries answered at once (default 64).
	Concurrency int
	Logger      *slog.Logger
}

// ServeQueries answers the queries of every queryable runner over NATS
// request/reply, as one micro service in the query queue group so that
// replicas share the load. It returns when ctx is done.
func ServeQueries(ctx context.Context, nc *nats.Conn, runners []*Runner, opts ServeOptions) error {
	if opts.MaxWait <= 0 {
		opts.MaxWait = 5 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        natsx.QueryService,
		Version:     "1.0.0",
		Description: "rectify views",
		QueueGroup:  natsx.QueryQueueGroup,
	})
	if err != nil {
		return fmt.Errorf("query service: %w", err)
	}
	defer svc.Stop()
	sem := make(chan struct{}, opts.Concurrency)
	for _, r := range runners {
		ops := map[string]QueryFunc{query.StatusOp: r.status}
		if q, ok := r.proj.(Queryable); ok {
			for op, fn := range q.Queries() {
				ops[op] = fn
			}
		}
		for op, fn := range ops {
			r, fn := r, fn
			subject := natsx.QuerySubject(r.Name(), op)
			err := svc.AddEndpoint(endpointName(r.Name()+"_"+op), micro.HandlerFunc(func(req micro.Request) {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				// Answer on a goroutine of its own: micro calls handlers of
				// one endpoint one after another.
				go func() {
					defer func() { <-sem }()
					resp := answer(ctx, r, op, fn, req.Data(), opts)
					if resp.Error != nil && resp.Error.Code == events.CodeInternal {
						opts.Logger.Error("query failed", "view", r.Name(), "op", op, "err", resp.Error.Err)
					}
					h, b := natsx.EncodeQueryReply(resp.Position, resp.Data, resp.Error)
					if err := req.Respond(b, micro.WithHeaders(micro.Headers(h))); err != nil {
						opts.Logger.Debug("query reply failed", "err", err)
					}
				}()
			}), micro.WithEndpointSubject(subject), micro.WithEndpointQueueGroup(natsx.QueryQueueGroup))
			if err != nil {
				return fmt.Errorf("query endpoint %s: %w", subject, err)
			}
		}
	}
	<-ctx.Done()
	return nil
}

// Answer runs one query against a runner in-process, with the same
// semantics as over NATS. Tests and the single-process server use it.
func Answer(ctx context.Context, r *Runner, op string, req query.Request, maxWait time.Duration) query.Response {
	q, ok := r.proj.(Queryable)
	if !ok {
		return query.Response{Error: events.Errorf(events.CodeNotFound, "view %s answers no queries", r.Name())}
	}
	fn, ok := q.Queries()[op]
	if !ok {
		return query.Response{Error: events.Errorf(events.CodeNotFound, "view %s has no query %q", r.Name(), op)}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return query.Response{Error: events.Wrap(events.CodeInternal, err, "encode query")}
	}
	return answer(ctx, r, op, fn, b, ServeOptions{MaxWait: maxWait})
}

func answer(ctx context.Context, r *Runner, op string, fn QueryFunc, data []byte, opts ServeOptions) query.Response {
	var req query.Request
	if err := json.Unmarshal(data, &req); err != nil {
		return query.Response{Error: &events.Error{Code: events.CodeInvalid, Message: "malformed query: " + err.Error()}}
	}
	key := answerKey(op, req)
	if key != "" && req.MinPosition <= r.Position() {
		pos := r.Position()
		if b, ok := r.answers.get(pos, key); ok {
			return query.Response{Position: pos, Data: b}
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, opts.MaxWait)
	defer cancel()
	var resp query.Response
	err := r.Read(waitCtx, req.MinPosition, func(db *sql.DB, pos uint64) error {
		out, err := fn(ctx, db, req)
		if err != nil {
			return err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		resp = query.Response{Position: pos, Data: b}
		return nil
	})
	if err != nil {
		var e *events.Error
		if !errors.As(err, &e) {
			e = events.Wrap(events.CodeInternal, err, "internal error")
		}
		return query.Response{Position: r.Position(), Error: e}
	}
	if key != "" {
		r.answers.put(resp.Position, key, resp.Data)
	}
	return resp
}

// answerKey is the key of req's answer in the view's answer cache: the
// operation and the question without its minimum position (which only says
// how long to wait), with the view's own today when the caller gave none
// (answers derived from today change at midnight); "" for an operation
// whose answer is not a function of the view (status).
func answerKey(op string, req query.Request) string {
	if op == query.StatusOp {
		return ""
	}
	today := ""
	if req.Today.IsZero() {
		today = queryToday(req).String()
	}
	req.MinPosition = 0
	b, err := json.Marshal(req)
	if err != nil {
		return ""
	}
	return op + "\x00" + today + "\x00" + string(b)
}

// status answers query.StatusOp: the position comes in the response.
func (r *Runner) status(context.Context, *sql.DB, query.Request) (any, error) {
	return query.ViewStatus{View: r.Name(), Replica: r.opts.Replica}, nil
}

// endpointName keeps the characters a micro endpoint name may have.
func endpointName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
