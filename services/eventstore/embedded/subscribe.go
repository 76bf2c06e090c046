package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"rectify/events"
	"rectify/services/eventstore"
)

// subBatch is how many events a subscription reads from the file at a time.
const subBatch = 512

// Subscribe follows $all after position after (0: from the start), first
// through the stored history and then live, in position order with no gap
// and no duplicate, returning only events that pass filter. The
// subscription ends when ctx ends, when it is closed, or when the store is
// closed; Next then returns CodeUnavailable. A filter prefix that is not
// valid UTF-8 is CodeInvalid.
//
// A subscription reads the file itself, in batches, so a slow subscriber
// holds nothing up: the writer only signals that the head moved.
func (s *Store) Subscribe(ctx context.Context, after uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	var v events.Validator
	for i, p := range filter.StreamPrefixes {
		v.Check(utf8.ValidString(p), fmt.Sprintf("filter.stream_prefixes[%d]", i), "must be valid UTF-8")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, s.errClosed()
	}
	q, args := filterQuery(s.cols, filter)
	stmt, err := s.read.PrepareContext(ctx, q)
	if err != nil {
		return nil, s.readErr(ctx, err, "subscribe")
	}
	sub := &subscription{
		s:       s,
		ctx:     ctx,
		cursor:  min(after, math.MaxInt64),
		stmt:    stmt,
		args:    args,
		closed:  make(chan struct{}),
		pollDur: s.opt.PollInterval,
	}
	return sub, nil
}

// filterQuery builds the batch query of a subscription: events in
// (cursor, head] that pass the filter. Its first three arguments are
// cursor, head and the batch size; args holds the filter's.
func filterQuery(cols string, f eventstore.Filter) (string, []any) {
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + cols + ` FROM events WHERE position > ? AND position <= ?`)
	if len(f.StreamPrefixes) > 0 {
		b.WriteString(` AND (`)
		for i, p := range f.StreamPrefixes {
			if i > 0 {
				b.WriteString(` OR `)
			}
			// substr counts characters, and stream names are valid UTF-8
			// (Append checks), so this is an exact prefix test.
			b.WriteString(`substr(stream, 1, ?) = ?`)
			args = append(args, utf8.RuneCountInString(p), p)
		}
		b.WriteString(`)`)
	}
	if len(f.EventTypes) > 0 {
		b.WriteString(` AND type IN (`)
		for i, t := range f.EventTypes {
			if i > 0 {
				b.WriteString(`, `)
			}
			b.WriteString(`?`)
			args = append(args, t)
		}
		b.WriteString(`)`)
	}
	b.WriteString(` ORDER BY position LIMIT ?`)
	return b.String(), args
}

type subscription struct {
	s       *Store
	ctx     context.Context
	stmt    *sql.Stmt // the filterQuery of this subscription
	args    []any
	pollDur time.Duration

	// mu serializes Next; a subscription has one reader.
	mu     sync.Mutex
	cursor uint64 // every matching event at or below it has been buffered
	buf    []events.Event
	timer  *time.Timer

	closeOnce sync.Once
	closed    chan struct{}
}

// Next returns the next matching event, waiting for one to be appended if
// need be. It returns CodeUnavailable once the subscription, its context or
// the store is closed, or when ctx ends.
func (sub *subscription) Next(ctx context.Context) (events.Event, error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for {
		if err := sub.ended(ctx); err != nil {
			return events.Event{}, err
		}
		if len(sub.buf) > 0 {
			ev := sub.buf[0]
			sub.buf[0] = events.Event{}
			sub.buf = sub.buf[1:]
			return ev, nil
		}
		// Take the wake channel before reading, so that a commit landing
		// after the read still wakes us.
		wake := sub.s.wakeChan()
		if err := sub.fetch(ctx); err != nil {
			if e := sub.ended(ctx); e != nil {
				return events.Event{}, e
			}
			return events.Event{}, err
		}
		if len(sub.buf) > 0 {
			continue
		}
		if sub.timer == nil {
			sub.timer = time.NewTimer(sub.pollDur)
		} else {
			sub.timer.Reset(sub.pollDur)
		}
		select {
		case <-wake:
		case <-sub.timer.C:
		case <-ctx.Done():
		case <-sub.ctx.Done():
		case <-sub.closed:
		case <-sub.s.closed:
		}
		sub.timer.Stop()
	}
}

// ended returns why the subscription can deliver nothing more, if so. A
// subscription whose own context has ended lets go of its statement at
// once, closed or not.
func (sub *subscription) ended(ctx context.Context) error {
	select {
	case <-sub.s.closed:
		return sub.s.errClosed()
	default:
	}
	if err := sub.ctx.Err(); err != nil {
		sub.Close()
		return events.Wrap(events.CodeUnavailable, err, "subscription ended")
	}
	select {
	case <-sub.closed:
		return events.Errorf(events.CodeUnavailable, "subscription closed")
	default:
	}
	if err := ctx.Err(); err != nil {
		return events.Wrap(events.CodeUnavailable, err, "waiting for the next event")
	}
	return nil
}

// fetch buffers the next batch of matching events after the cursor.
//
// It first reads the head, then the events up to it. Positions become
// visible in order (one writer, one transaction per batch), so everything
// at or below a head once seen is there to read; when fewer than a batch
// match, the cursor moves to the head and those events are never scanned
// again, however selective the filter.
func (sub *subscription) fetch(ctx context.Context) error {
	head, err := sub.s.Head(ctx)
	if err != nil {
		return err
	}
	if head <= sub.cursor {
		return nil
	}
	args := make([]any, 0, 3+len(sub.args))
	args = append(args, int64(sub.cursor), int64(head))
	args = append(args, sub.args...)
	args = append(args, subBatch)
	rows, err := sub.stmt.QueryContext(ctx, args...)
	if err != nil {
		return sub.s.readErr(ctx, err, "subscription read after %d", sub.cursor)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return sub.s.readErr(ctx, err, "subscription read after %d", sub.cursor)
	}
	sub.buf = evs
	if len(evs) == subBatch {
		sub.cursor = evs[len(evs)-1].Position
	} else {
		sub.cursor = head
	}
	return nil
}

// Close ends the subscription; a Next waiting in another goroutine
// returns.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		close(sub.closed)
		// A query in flight keeps its connection until it ends; the
		// statement goes once it is no longer used.
		sub.stmt.Close()
	})
	return nil
}
