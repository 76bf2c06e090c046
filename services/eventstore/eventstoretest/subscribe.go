package eventstoretest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
)

// nextTimeout bounds every wait for an event that must come.
const nextTimeout = 20 * time.Second

// quietPeriod is how long a subscription that has delivered everything is
// watched for an extra (duplicated or stray) event.
const quietPeriod = 300 * time.Millisecond

func mustNext(tb testing.TB, ctx context.Context, sub eventstore.Subscription) events.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, nextTimeout)
	defer cancel()
	e, err := sub.Next(ctx)
	if err != nil {
		tb.Fatalf("subscription next: %v", err)
	}
	return e
}

// matches is the suite's own reading of eventstore.Filter: any stream
// prefix (or none given) and any event type (or none given).
func matches(f eventstore.Filter, e events.Event) bool {
	ok := len(f.StreamPrefixes) == 0
	for _, p := range f.StreamPrefixes {
		ok = ok || strings.HasPrefix(e.Stream, p)
	}
	if !ok {
		return false
	}
	ok = len(f.EventTypes) == 0
	for _, t := range f.EventTypes {
		ok = ok || e.Type == t
	}
	return ok
}

// expectDelivery reads want from sub in order, skipping events of other
// writers on a shared store, and then checks that nothing more of this
// test arrives within quietPeriod.
func (f *fixture) expectDelivery(tb testing.TB, sub eventstore.Subscription, want []events.Event) {
	tb.Helper()
	var last uint64
	for i := 0; i < len(want); {
		e := mustNext(tb, f.ctx, sub)
		if e.Position <= last {
			tb.Fatalf("subscription delivered position %d after %d", e.Position, last)
		}
		last = e.Position
		if !f.ours(e) {
			if !f.h.Shared {
				tb.Fatalf("subscription delivered event %s of stream %q the test did not write", e.ID, e.Stream)
			}
			continue
		}
		if e.ID != want[i].ID || e.Position != want[i].Position {
			tb.Fatalf("subscription event %d = %s@%d (%s %s), want %s@%d (%s %s)", i, e.ID, e.Position, e.Stream, e.Type, want[i].ID, want[i].Position, want[i].Stream, want[i].Type)
		}
		checkStored(tb, fmt.Sprintf("subscription event %d", i), want[i], want[i].Stream, want[i].Revision, e)
		i++
	}
	f.expectQuiet(tb, sub)
}

// expectQuiet fails tb if sub delivers an event of this test within
// quietPeriod.
func (f *fixture) expectQuiet(tb testing.TB, sub eventstore.Subscription) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, quietPeriod)
	defer cancel()
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				tb.Fatalf("subscription next while waiting for silence: %v", err)
			}
			return
		}
		if f.ours(e) || !f.h.Shared {
			tb.Fatalf("subscription delivered %s@%d (%s) after everything expected", e.ID, e.Position, e.Stream)
		}
	}
}

func testSubscribe(t *testing.T, h Harness) {
	f := newFixture(t, h)
	item1, item2, item3 := f.stream("item-1"), f.stream("item-2"), f.stream("item-3")
	com1, com2 := f.stream("commitment-1"), f.stream("commitment-2")

	f.mustAppend(item1, eventstore.NoStream, newEvent(typeRaised, "事项一"), newEvent(typeAssigned, "事项一"))
	f.mustAppend(com1, eventstore.NoStream, newEvent(typeLogged, "履诺一"))
	f.mustAppend(item2, eventstore.NoStream, newEvent(typeRaised, "事项二"))
	f.mustAppend(com1, eventstore.Exact(0), newEvents(2, typeLogged, "履诺一")...)
	f.mustAppend(item1, eventstore.Exact(1), newEvent(typeAssigned, "事项一改派"))
	history := f.mustReadOurs(0)
	if len(history) != 7 {
		t.Fatalf("$all holds %d events of this test, want 7", len(history))
	}
	middle := history[3].Position

	filters := []struct {
		name   string
		filter eventstore.Filter
	}{
		{"no_filter", eventstore.Filter{}},
		{"stream_prefix", eventstore.Filter{StreamPrefixes: []string{f.ns + "item-"}}},
		{"two_stream_prefixes", eventstore.Filter{StreamPrefixes: []string{item1, f.ns + "commitment-"}}},
		{"event_type", eventstore.Filter{EventTypes: []string{typeLogged}}},
		{"two_event_types", eventstore.Filter{EventTypes: []string{typeRaised, typeLogged}}},
		{"prefix_and_type", eventstore.Filter{StreamPrefixes: []string{f.ns + "item-"}, EventTypes: []string{typeAssigned}}},
	}
	starts := []struct {
		name  string
		after uint64
	}{{"from_start", f.base}, {"from_middle", middle}}

	type open struct {
		name   string
		filter eventstore.Filter
		after  uint64
		sub    eventstore.Subscription
	}
	var subs []open
	for _, st := range starts {
		for _, fl := range filters {
			sub, err := f.s.Subscribe(f.ctx, st.after, fl.filter)
			if err != nil {
				t.Fatalf("subscribe %s %s: %v", st.name, fl.name, err)
			}
			t.Cleanup(func() { sub.Close() })
			subs = append(subs, open{st.name + "/" + fl.name, fl.filter, st.after, sub})
		}
	}
	// Live appends, made while every subscription is open and unread.
	f.mustAppend(item2, eventstore.Exact(0), newEvent(typeAssigned, "事项二"))
	f.mustAppend(com2, eventstore.NoStream, newEvent(typeLogged, "履诺二"))
	f.mustAppend(item3, eventstore.NoStream, newEvent(typeRaised, "事项三"), newEvent(typeAssigned, "事项三"))
	all := f.mustReadOurs(0)
	if len(all) != 11 {
		t.Fatalf("$all holds %d events of this test, want 11", len(all))
	}

	// Each subscription is read on its own; they run in parallel so that
	// their quiet periods overlap.
	t.Run("deliveries", func(t *testing.T) {
		for _, o := range subs {
			t.Run(o.name, func(t *testing.T) {
				t.Parallel()
				var want []events.Event
				for _, e := range all {
					if e.Position > o.after && matches(o.filter, e) {
						want = append(want, e)
					}
				}
				f.expectDelivery(t, o.sub, want)
			})
		}
	})

	t.Run("live_only_from_head", func(t *testing.T) {
		head, err := f.s.Head(f.ctx)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		sub, err := f.s.Subscribe(f.ctx, head, eventstore.Filter{StreamPrefixes: []string{f.ns}})
		if err != nil {
			t.Fatalf("subscribe from head: %v", err)
		}
		defer sub.Close()
		f.expectQuiet(t, sub)
		ev := newEvent(typeLogged, "实时")
		f.mustAppend(com2, eventstore.Exact(0), ev)
		got := mustNext(t, f.ctx, sub)
		checkStored(t, "live event", ev, com2, 1, got)
	})

	t.Run("close_unblocks_next", func(t *testing.T) {
		sub, err := f.s.Subscribe(f.ctx, all[len(all)-1].Position, eventstore.Filter{StreamPrefixes: []string{f.ns + "nothing-"}})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(f.ctx)
			done <- err
		}()
		if err := sub.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("next on a closed subscription returned an event")
			}
		case <-time.After(nextTimeout):
			t.Fatal("next did not return after close")
		}
		if _, err := sub.Next(f.ctx); err == nil {
			t.Fatal("next after close returned an event")
		}
	})

	t.Run("cancel_unblocks_next", func(t *testing.T) {
		sub, err := f.s.Subscribe(f.ctx, all[len(all)-1].Position, eventstore.Filter{StreamPrefixes: []string{f.ns + "nothing-"}})
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		defer sub.Close()
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() {
			_, err := sub.Next(ctx)
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("next with a cancelled context returned an event")
			}
		case <-time.After(nextTimeout):
			t.Fatal("next did not return after its context was cancelled")
		}
	})
}

// consume reads sub in a goroutine and passes on the events of this test
// until ctx ends or the subscription fails.
func (f *fixture) consume(ctx context.Context, sub eventstore.Subscription, capacity int) (<-chan events.Event, <-chan error) {
	out := make(chan events.Event, capacity)
	errc := make(chan error, 1)
	go func() {
		for {
			e, err := sub.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			if !f.ours(e) && f.h.Shared {
				continue
			}
			select {
			case out <- e:
			default:
				errc <- fmt.Errorf("subscription delivered more than %d events", capacity)
				return
			}
		}
	}()
	return out, errc
}

// takeN receives exactly the events of want from out, in order.
func takeN(tb testing.TB, what string, out <-chan events.Event, errc <-chan error, want []events.Event) {
	tb.Helper()
	seen := make(map[string]bool, len(want))
	var last uint64
	deadline := time.After(2 * nextTimeout)
	for i := range want {
		var e events.Event
		select {
		case e = <-out:
		case err := <-errc:
			tb.Fatalf("%s: subscription failed after %d of %d events: %v", what, i, len(want), err)
		case <-deadline:
			tb.Fatalf("%s: only %d of %d events arrived", what, i, len(want))
		}
		if seen[e.ID] {
			tb.Fatalf("%s: event %s delivered twice", what, e.ID)
		}
		seen[e.ID] = true
		if e.Position <= last {
			tb.Fatalf("%s: position %d delivered after %d", what, e.Position, last)
		}
		last = e.Position
		if e.ID != want[i].ID || e.Position != want[i].Position {
			tb.Fatalf("%s: event %d = %s@%d, want %s@%d", what, i, e.ID, e.Position, want[i].ID, want[i].Position)
		}
		checkStored(tb, what, want[i], want[i].Stream, want[i].Revision, e)
	}
	select {
	case e := <-out:
		tb.Fatalf("%s: extra event %s@%d after all %d expected", what, e.ID, e.Position, len(want))
	case <-time.After(quietPeriod):
	}
}

func testHandover(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const (
		writers = 4
		appends = 150 // per writer; every third one is a batch of three
	)
	total := 0
	for i := 0; i < appends; i++ {
		total += batchSize(i)
	}
	total *= writers

	var acked atomic.Int64
	var lastPos atomic.Uint64
	historyReady := make(chan struct{})
	middleReady := make(chan struct{})
	var signal sync.Once
	var signal2 sync.Once
	ackedIDs := make([][]string, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < appends; i++ {
				evs := newEvents(batchSize(i), typeLogged, fmt.Sprintf("写者%d-%d", w, i))
				res, err := f.s.Append(f.ctx, f.stream(fmt.Sprintf("commitment-%d-%d", w, i%5)), eventstore.Any, evs...)
				if err != nil {
					errs[w] = fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				for _, e := range evs {
					ackedIDs[w] = append(ackedIDs[w], e.ID)
				}
				lastPos.Store(res.Position)
				n := acked.Add(int64(len(evs)))
				if n >= int64(total/10) {
					signal.Do(func() { close(historyReady) })
				}
				if n >= int64(total/2) {
					signal2.Do(func() { close(middleReady) })
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	waitFor := func(what string, ch <-chan struct{}) {
		select {
		case <-ch:
		case <-writersDone:
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		case <-time.After(2 * nextTimeout):
			t.Fatalf("writers did not reach %s", what)
		}
	}

	// The first subscriber starts from the beginning with a tenth of the
	// events stored and catches up while the writers go on.
	waitFor("a tenth of their appends", historyReady)
	sub1, err := f.s.Subscribe(ctx, f.base, eventstore.Filter{StreamPrefixes: []string{f.ns}})
	if err != nil {
		t.Fatalf("subscribe from the start: %v", err)
	}
	defer sub1.Close()
	out1, errc1 := f.consume(ctx, sub1, total+1)

	// The second starts half way, from a position just acknowledged, with
	// no filter.
	waitFor("half of their appends", middleReady)
	middle := lastPos.Load()
	sub2, err := f.s.Subscribe(ctx, middle, eventstore.Filter{})
	if err != nil {
		t.Fatalf("subscribe from the middle: %v", err)
	}
	defer sub2.Close()
	out2, errc2 := f.consume(ctx, sub2, total+1)

	<-writersDone
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	stored := f.mustReadOurs(0)
	if len(stored) != total {
		t.Fatalf("$all holds %d events of this test, %d were acknowledged", len(stored), total)
	}
	ids := map[string]bool{}
	for _, w := range ackedIDs {
		for _, id := range w {
			ids[id] = true
		}
	}
	for _, e := range stored {
		if !ids[e.ID] {
			t.Fatalf("$all holds %s that no writer appended", e.ID)
		}
	}
	takeN(t, "subscription from the start", out1, errc1, stored)
	var afterMiddle []events.Event
	for _, e := range stored {
		if e.Position > middle {
			afterMiddle = append(afterMiddle, e)
		}
	}
	takeN(t, "subscription from the middle", out2, errc2, afterMiddle)
}

func batchSize(i int) int {
	if i%3 == 2 {
		return 3
	}
	return 1
}
