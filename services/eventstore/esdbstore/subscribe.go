package esdbstore

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"rectify/events"
	"rectify/services/eventstore"
)

// Subscribe follows $all after position after (0: from the start; otherwise
// a position this store returned) with a catch-up subscription of the
// server, which hands over from history to live appends itself. The server
// filters by stream prefix or, when there is none, by event type; the rest
// of filter and the skipping of system events happen here. The
// subscription lives until Close or until ctx is done.
func (s *Store) Subscribe(ctx context.Context, after uint64, filter eventstore.Filter) (eventstore.Subscription, error) {
	opts := esdb.SubscribeToAllOptions{From: allPosition(after), Filter: serverFilter(filter)}
	sub, err := s.client.SubscribeToAll(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("subscribe after %d: %w", after, mapError(ctx, err, false))
	}
	out := &subscription{
		sub:    sub,
		filter: filter,
		last:   after,
		events: make(chan delivery, 256),
		closed: make(chan struct{}),
	}
	go out.pump()
	return out, nil
}

// serverFilter is the part of f the server can apply: one filter, either on
// stream prefixes or on event types, and always without system events.
func serverFilter(f eventstore.Filter) *esdb.SubscriptionFilter {
	if len(f.StreamPrefixes) > 0 {
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: f.StreamPrefixes}
	}
	if len(f.EventTypes) > 0 {
		quoted := make([]string, len(f.EventTypes))
		for i, t := range f.EventTypes {
			quoted[i] = regexp.QuoteMeta(t)
		}
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^(?:" + strings.Join(quoted, "|") + ")$"}
	}
	return esdb.ExcludeSystemEventsFilter()
}

type delivery struct {
	ev  events.Event
	err error
}

type subscription struct {
	sub    *esdb.Subscription
	filter eventstore.Filter
	last   uint64 // only the pump touches it
	events chan delivery
	once   sync.Once
	closed chan struct{}
	err    error // why it stopped; set once, before closed is closed
}

func (s *subscription) stop(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.closed)
	})
}

// pump receives from the server in order and passes on what Next should
// see, ending with the error that stopped it.
func (s *subscription) pump() {
	for {
		se := s.sub.Recv()
		var d delivery
		switch {
		case se.SubscriptionDropped != nil:
			d.err = events.Wrap(events.CodeUnavailable, se.SubscriptionDropped.Error, "subscription dropped")
		case se.EventAppeared != nil:
			rec := se.EventAppeared.OriginalEvent()
			if rec == nil || system(rec) || rec.Position.Commit <= s.last {
				continue
			}
			ev, err := fromRecorded(rec)
			if err != nil {
				d.err = err
				break
			}
			if !s.filter.Matches(ev) {
				continue
			}
			s.last = ev.Position
			d.ev = ev
		default:
			// Checkpoints, caught up and fell behind carry no event.
			continue
		}
		select {
		case s.events <- d:
		case <-s.closed:
			return
		}
		if d.err != nil {
			return
		}
	}
}

// Next returns the next matching event. It returns CodeUnavailable when
// the subscription was closed or dropped by the server, or when ctx is done
// (the error then wraps ctx.Err()).
func (s *subscription) Next(ctx context.Context) (events.Event, error) {
	select {
	case <-s.closed:
		return events.Event{}, s.err
	default:
	}
	select {
	case d := <-s.events:
		if d.err != nil {
			// Later calls see the same failure.
			s.stop(d.err)
			return events.Event{}, s.err
		}
		return d.ev, nil
	case <-ctx.Done():
		return events.Event{}, events.Wrap(events.CodeUnavailable, ctx.Err(), "wait for the next event")
	case <-s.closed:
		return events.Event{}, s.err
	}
}

// Close ends the subscription; a blocked Next returns.
func (s *subscription) Close() error {
	s.stop(events.Errorf(events.CodeUnavailable, "subscription closed"))
	return s.sub.Close()
}
