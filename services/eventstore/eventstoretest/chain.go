package eventstoretest

import (
	"fmt"
	"sync"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
)

// checkChain fails tb unless every event in stored (whole streams, in $all
// order) carries the hash chained to the event before it in its stream:
// events.ChainHash of the previous hash ("" at revision 0) and the event.
func checkChain(tb testing.TB, stored []events.Event) {
	tb.Helper()
	last := map[string]string{}
	for _, e := range stored {
		want := events.ChainHash(last[e.Stream], e)
		if e.Hash != want {
			tb.Fatalf("stream %s revision %d (event %s): hash %q, want %s chained to revision %d's %q",
				e.Stream, e.Revision, e.ID, e.Hash, want, int64(e.Revision)-1, last[e.Stream])
		}
		last[e.Stream] = e.Hash
	}
}

// sameHashes fails tb unless got and want are the same events with the
// same hashes, in order.
func sameHashes(tb testing.TB, what string, want, got []events.Event) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Hash != want[i].Hash {
			tb.Fatalf("%s: event %d is %s with hash %q, want %s with %q", what, i, got[i].ID, got[i].Hash, want[i].ID, want[i].Hash)
		}
	}
}

// testHashChain checks that the store chains every event to the one before
// it in its stream, whoever appends and however the appends are grouped:
// concurrent writers to a few streams, single events and batches (so that a
// store committing appends together has several to one stream in one
// commit), and that idempotent retries keep the first hashes.
func testHashChain(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const (
		writers = 8
		rounds  = 12
		streams = 3
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				s := f.stream(fmt.Sprintf("item-链-%d", (w+r)%streams))
				n := 1 + (w+r)%3 // singles and batches of two and three
				evs := newEvents(n, typeLogged, fmt.Sprintf("写入者%d-第%d轮", w, r))
				if _, err := f.s.Append(f.ctx, s, eventstore.Any, evs...); err != nil {
					errs <- fmt.Errorf("writer %d round %d: append to %s: %w", w, r, s, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stored := f.mustReadOurs(0)
	checkChain(t, stored)

	// Every read gives the hashes $all gives.
	byStream := map[string][]events.Event{}
	for _, e := range stored {
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	if len(byStream) != streams {
		t.Fatalf("%d streams written, want %d", len(byStream), streams)
	}
	for s, want := range byStream {
		sameHashes(t, "read "+s+" forwards", want, f.mustReadStream(s, eventstore.Forwards, 0, 0))
		back := f.mustReadStream(s, eventstore.Backwards, fromEnd, 2)
		if len(back) != 2 || back[0].Hash != want[len(want)-1].Hash || back[1].Hash != want[len(want)-2].Hash {
			t.Fatalf("read %s backwards: %d events, hashes differ from $all's", s, len(back))
		}
	}

	t.Run("retries_keep_the_first_hashes", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-重试")
		first := newEvents(2, typeRaised, "新建")
		f.mustAppend(s, eventstore.NoStream, first...)
		second := newEvent(typeAssigned, "指派")
		f.mustAppend(s, eventstore.Exact(1), second)
		before := f.mustReadStream(s, eventstore.Forwards, 0, 0)

		// A retry with other metadata (a handler that decided again stamps
		// a new time and actor) is recognised by id and writes nothing: the
		// stored events and their hashes stay those of the first attempt.
		again := append([]events.Event(nil), first...)
		for i := range again {
			again[i].Time = again[i].Time.Add(1e9)
			again[i].Actor = "user:重试者"
			again[i].Hash = "0000000000000000000000000000000000000000000000000000000000000000"
		}
		f.mustAppend(s, eventstore.NoStream, again...)
		f.mustAppend(s, eventstore.Exact(1), second)
		after := f.mustReadStream(s, eventstore.Forwards, 0, 0)
		sameHashes(t, "after the retries", before, after)
		checkChain(t, after)

		// The next new event chains to the first attempt's last.
		f.mustAppend(s, eventstore.Exact(2), newEvent(typeLogged, "之后"))
		checkChain(t, f.mustReadOurs(0))
	})
}
