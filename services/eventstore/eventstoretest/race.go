package eventstoretest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
)

// racers is how many goroutines the race tests run at once.
const racers = 64

func testRaceOneStream(t *testing.T, h Harness) {
	f := newFixture(t, h)
	s := f.stream("item-争")
	f.mustAppend(s, eventstore.NoStream, newEvent(typeRaised, "起点"))

	const target = 100 // revisions to win after the first
	type win struct {
		id  string
		res eventstore.AppendResult
	}
	var won atomic.Int64
	wins := make([][]win, racers)
	errs := make([]error, racers)
	conflicts := make([]int, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < racers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rev := uint64(0)
			for won.Load() < target {
				ev := newEvent(typeLogged, fmt.Sprintf("第%d号选手", g))
				res, err := f.s.Append(f.ctx, s, eventstore.Exact(rev), ev)
				if err == nil {
					if res.NextExpected != rev+1 {
						errs[g] = fmt.Errorf("append expecting %d returned next expected %d", rev, res.NextExpected)
						return
					}
					wins[g] = append(wins[g], win{ev.ID, res})
					won.Add(1)
					rev = res.NextExpected
					continue
				}
				if events.ErrorCode(err) != events.CodeConflict {
					errs[g] = fmt.Errorf("append expecting %d: %w", rev, err)
					return
				}
				conflicts[g]++
				last, err := f.s.ReadStream(f.ctx, s, eventstore.Backwards, fromEnd, 1)
				if err != nil || len(last) != 1 {
					errs[g] = fmt.Errorf("read the last event (%d events): %v", len(last), err)
					return
				}
				if last[0].Revision < rev {
					errs[g] = fmt.Errorf("last revision went back from %d to %d", rev, last[0].Revision)
					return
				}
				rev = last[0].Revision
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	stored := f.mustReadStream(s, eventstore.Forwards, 0, 0)
	n := int(won.Load())
	if n < target {
		t.Fatalf("%d wins, want at least %d", n, target)
	}
	if len(stored) != n+1 {
		t.Fatalf("stream holds %d events, but %d appends succeeded (plus the first)", len(stored), n)
	}
	for i, e := range stored {
		if e.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d", i, e.Revision)
		}
		if i > 0 && e.Position <= stored[i-1].Position {
			t.Fatalf("revision %d at position %d, not after revision %d at %d", i, e.Position, i-1, stored[i-1].Position)
		}
	}
	winnerOf := map[uint64]int{}
	totalConflicts := 0
	for g, ws := range wins {
		totalConflicts += conflicts[g]
		for _, w := range ws {
			rev := w.res.NextExpected
			if other, dup := winnerOf[rev]; dup {
				t.Fatalf("goroutines %d and %d both won revision %d", other, g, rev)
			}
			winnerOf[rev] = g
			if rev >= uint64(len(stored)) || stored[rev].ID != w.id {
				t.Fatalf("goroutine %d won revision %d with %s, which the stream does not hold there", g, rev, w.id)
			}
			if stored[rev].Position != w.res.Position {
				t.Fatalf("revision %d: append result position %d, stored at %d", rev, w.res.Position, stored[rev].Position)
			}
		}
	}
	if totalConflicts == 0 {
		t.Fatalf("%d goroutines never conflicted: the race did not happen", racers)
	}
	t.Logf("%d revisions won by %d goroutines, %d conflicts", n, racers, totalConflicts)
}

// ack is one acknowledged append.
type ack struct {
	stream string
	ids    []string
	res    eventstore.AppendResult
}

func testRaceManyStreams(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const (
		appendsEach   = 12
		sharedStreams = 40
	)
	acks := make([][]ack, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < racers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			own := f.stream(fmt.Sprintf("unit-%d", g))
			ownExp := eventstore.NoStream
			for i := 0; i < appendsEach; i++ {
				n := 1
				if i%4 == 3 {
					n = 3
				}
				evs := newEvents(n, typeLogged, fmt.Sprintf("并发%d-%d", g, i))
				stream, exp := f.stream(fmt.Sprintf("item-%d", (g*7+i*13)%sharedStreams)), eventstore.Any
				if i%3 == 0 {
					stream, exp = own, ownExp
				}
				res, err := f.s.Append(f.ctx, stream, exp, evs...)
				if err != nil {
					errs[g] = fmt.Errorf("append %d to %s expecting %v: %w", i, stream, exp, err)
					return
				}
				if stream == own {
					ownExp = eventstore.Exact(res.NextExpected)
				}
				a := ack{stream: stream, res: res}
				for _, e := range evs {
					a.ids = append(a.ids, e.ID)
				}
				acks[g] = append(acks[g], a)
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var all []ack
	for _, a := range acks {
		all = append(all, a...)
	}
	stored := f.mustReadOurs(0) // checks that positions rise strictly
	checkAcks(t, stored, all, true)
	checkStreams(t, f.ctx, f.s, stored)
}

// checkAcks fails tb unless every acknowledged append is in stored exactly
// once, as one adjacent run of events in its stream with consecutive
// revisions ending at the acknowledged revision and position, and, when
// exhaustive, stored holds nothing else.
func checkAcks(tb testing.TB, stored []events.Event, acks []ack, exhaustive bool) {
	tb.Helper()
	index := make(map[string]int, len(stored))
	for i, e := range stored {
		if j, dup := index[e.ID]; dup {
			tb.Fatalf("event %s stored twice, at positions %d and %d", e.ID, stored[j].Position, e.Position)
		}
		index[e.ID] = i
	}
	count := 0
	positions := map[uint64]bool{}
	for _, a := range acks {
		count += len(a.ids)
		if positions[a.res.Position] {
			tb.Fatalf("two appends acknowledged at position %d", a.res.Position)
		}
		positions[a.res.Position] = true
		first, ok := index[a.ids[0]]
		if !ok {
			tb.Fatalf("acknowledged event %s of %s is missing", a.ids[0], a.stream)
		}
		for k, id := range a.ids {
			i := first + k
			if i >= len(stored) || stored[i].ID != id {
				tb.Fatalf("acknowledged append to %s: event %d (%s) is not stored right after the one before", a.stream, k, id)
			}
			e := stored[i]
			if e.Stream != a.stream {
				tb.Fatalf("event %s stored in %s, appended to %s", id, e.Stream, a.stream)
			}
			if k > 0 && e.Revision != stored[i-1].Revision+1 {
				tb.Fatalf("event %s of one append has revision %d after %d", id, e.Revision, stored[i-1].Revision)
			}
		}
		last := stored[first+len(a.ids)-1]
		if last.Revision != a.res.NextExpected || last.Position != a.res.Position {
			tb.Fatalf("append to %s acknowledged at revision %d position %d, its last event is at %d position %d",
				a.stream, a.res.NextExpected, a.res.Position, last.Revision, last.Position)
		}
	}
	if exhaustive && count != len(stored) {
		tb.Fatalf("%d events acknowledged, %d stored", count, len(stored))
	}
}

// checkStreams fails tb unless every stream in stored has revisions 0..n-1
// in $all order, each event chained to the one before, and reads back as
// exactly that sequence.
func checkStreams(tb testing.TB, ctx context.Context, s eventstore.Store, stored []events.Event) {
	tb.Helper()
	checkChain(tb, stored)
	byStream := map[string][]events.Event{}
	for _, e := range stored {
		if want := uint64(len(byStream[e.Stream])); e.Revision != want {
			tb.Fatalf("stream %s: revision %d (event %s) follows %d events in $all", e.Stream, e.Revision, e.ID, want)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	for name, want := range byStream {
		got, err := s.ReadStream(ctx, name, eventstore.Forwards, 0, 0)
		if err != nil {
			tb.Fatalf("read %s: %v", name, err)
		}
		if len(got) != len(want) {
			tb.Fatalf("stream %s holds %d events, $all %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].Position != want[i].Position || got[i].Hash != want[i].Hash {
				tb.Fatalf("stream %s revision %d: %s@%d hash %q, $all has %s@%d hash %q", name, i, got[i].ID, got[i].Position, got[i].Hash, want[i].ID, want[i].Position, want[i].Hash)
			}
		}
	}
}
