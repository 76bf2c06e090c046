package eventstoretest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

func testInvalid(t *testing.T, h Harness) {
	f := newFixture(t, h)
	s := f.stream("item-1")

	_, err := f.s.Append(f.ctx, "", eventstore.Any, newEvent(typeRaised, "无流名"))
	wantCode(t, "append to an empty stream name", err, events.CodeInvalid)

	noID := newEvent(typeRaised, "无编号")
	noID.ID = ""
	_, err = f.s.Append(f.ctx, s, eventstore.Any, noID)
	wantCode(t, "append an event without id", err, events.CodeInvalid)

	_, err = f.s.Append(f.ctx, s, eventstore.Any, newEvent("", "无类型"))
	wantCode(t, "append an event without type", err, events.CodeInvalid)

	// One command must not produce the same event twice; a store may call
	// it invalid or a conflict, but it must not store it.
	twice := newEvent(typeRaised, "重复")
	_, err = f.s.Append(f.ctx, s, eventstore.Any, twice, twice)
	if c := events.ErrorCode(err); c != events.CodeInvalid && c != events.CodeConflict {
		t.Fatalf("append one id twice in one batch: code %q (%v), want invalid or conflict", c, err)
	}

	if got := f.mustReadOurs(0); len(got) != 0 {
		t.Fatalf("rejected appends stored %d events", len(got))
	}
	_, err = f.s.ReadStream(f.ctx, s, eventstore.Forwards, 0, 0)
	wantCode(t, "read a stream only rejected appends went to", err, events.CodeNotFound)
}

// checkResult fails tb unless res says the last event of stream now has
// revision wantNext and res.Position is that event's position.
func (f *fixture) checkResult(what, stream string, res eventstore.AppendResult, wantNext uint64) {
	f.tb.Helper()
	if res.NextExpected != wantNext {
		f.tb.Fatalf("%s: next expected = %d, want %d", what, res.NextExpected, wantNext)
	}
	last := f.mustReadStream(stream, eventstore.Forwards, wantNext, 1)
	if len(last) != 1 {
		f.tb.Fatalf("%s: stream %s has no event at revision %d", what, stream, wantNext)
	}
	if res.Position == 0 || res.Position != last[0].Position {
		f.tb.Fatalf("%s: result position = %d, want %d, the position of the last event written", what, res.Position, last[0].Position)
	}
}

// checkLen fails tb unless stream holds exactly n events with revisions 0..n-1.
func (f *fixture) checkLen(what, stream string, n int) {
	f.tb.Helper()
	evs, err := f.s.ReadStream(f.ctx, stream, eventstore.Forwards, 0, 0)
	if n == 0 {
		wantCode(f.tb, what+": read the stream", err, events.CodeNotFound)
		return
	}
	if err != nil {
		f.tb.Fatalf("%s: read %s: %v", what, stream, err)
	}
	if len(evs) != n {
		f.tb.Fatalf("%s: stream %s holds %d events, want %d", what, stream, len(evs), n)
	}
	for i, e := range evs {
		if e.Revision != uint64(i) {
			f.tb.Fatalf("%s: event %d of %s has revision %d", what, i, stream, e.Revision)
		}
	}
}

func testExpected(t *testing.T, h Harness) {
	t.Run("any", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		r0 := f.mustAppend(s, eventstore.Any, newEvent(typeRaised, "新建"))
		f.checkResult("any on a new stream", s, r0, 0)
		r1 := f.mustAppend(s, eventstore.Any, newEvents(2, typeAssigned, "指派")...)
		f.checkResult("any on an existing stream", s, r1, 2)
		if r1.Position <= r0.Position {
			t.Fatalf("second append at position %d, not after the first at %d", r1.Position, r0.Position)
		}
		f.checkLen("after two appends", s, 3)
	})
	t.Run("no_stream_on_new", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		f.checkResult("no stream on a new stream", s, f.mustAppend(s, eventstore.NoStream, newEvents(2, typeRaised, "新建")...), 1)
		f.checkLen("after the append", s, 2)
	})
	t.Run("no_stream_on_existing", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		f.mustAppend(s, eventstore.NoStream, newEvent(typeRaised, "新建"))
		_, err := f.s.Append(f.ctx, s, eventstore.NoStream, newEvent(typeRaised, "再建"))
		wantCode(t, "no stream on an existing stream", err, events.CodeConflict)
		f.checkLen("after the conflict", s, 1)
	})
	t.Run("stream_exists_on_new", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		_, err := f.s.Append(f.ctx, s, eventstore.StreamExists, newEvent(typeAssigned, "指派"))
		wantCode(t, "stream exists on a new stream", err, events.CodeConflict)
		f.checkLen("after the conflict", s, 0)
	})
	t.Run("stream_exists_on_existing", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		f.mustAppend(s, eventstore.NoStream, newEvent(typeRaised, "新建"))
		f.checkResult("stream exists on an existing stream", s, f.mustAppend(s, eventstore.StreamExists, newEvent(typeAssigned, "指派")), 1)
		f.checkLen("after two appends", s, 2)
	})
	t.Run("exact_right", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		f.mustAppend(s, eventstore.NoStream, newEvent(typeRaised, "新建"))
		f.checkResult("exact 0", s, f.mustAppend(s, eventstore.Exact(0), newEvent(typeAssigned, "指派")), 1)
		f.checkResult("exact 1 with three events", s, f.mustAppend(s, eventstore.Exact(1), newEvents(3, typeLogged, "履诺")...), 4)
		f.checkLen("after three appends", s, 5)
	})
	t.Run("exact_wrong", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		_, err := f.s.Append(f.ctx, s, eventstore.Exact(0), newEvent(typeRaised, "新建"))
		wantCode(t, "exact 0 on a new stream", err, events.CodeConflict)
		f.mustAppend(s, eventstore.NoStream, newEvents(2, typeRaised, "新建")...)
		for _, rev := range []uint64{0, 2, 7} {
			_, err := f.s.Append(f.ctx, s, eventstore.Exact(rev), newEvent(typeAssigned, "过期"))
			wantCode(t, fmt.Sprintf("exact %d on a stream at revision 1", rev), err, events.CodeConflict)
		}
		f.checkLen("after the conflicts", s, 2)
		if got := f.mustReadOurs(0); len(got) != 2 {
			t.Fatalf("$all holds %d events of this test, want 2", len(got))
		}
	})
}

func testReadStream(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.stream("item-甲"), f.stream("item-乙")
	want := newEvents(5, typeRaised, "甲")
	f.mustAppend(a, eventstore.NoStream, want[0], want[1])
	f.mustAppend(b, eventstore.Any, newEvent(typeRaised, "乙"))
	f.mustAppend(a, eventstore.Exact(1), want[2])
	f.mustAppend(a, eventstore.Exact(2), want[3])
	f.mustAppend(b, eventstore.Any, newEvent(typeAssigned, "乙"))
	f.mustAppend(a, eventstore.Exact(3), want[4])

	positions := map[string]uint64{}
	for _, e := range f.mustReadOurs(0) {
		positions[e.ID] = e.Position
	}

	cases := []struct {
		name  string
		dir   eventstore.Direction
		from  uint64
		limit int
		revs  []int
	}{
		{"forwards_all", eventstore.Forwards, 0, 0, []int{0, 1, 2, 3, 4}},
		{"forwards_negative_limit", eventstore.Forwards, 0, -1, []int{0, 1, 2, 3, 4}},
		{"forwards_from_1_limit_2", eventstore.Forwards, 1, 2, []int{1, 2}},
		{"forwards_limit_past_end", eventstore.Forwards, 3, 10, []int{3, 4}},
		{"forwards_limit_1", eventstore.Forwards, 0, 1, []int{0}},
		{"forwards_after_last", eventstore.Forwards, 5, 0, nil},
		{"backwards_from_end", eventstore.Backwards, fromEnd, 0, []int{4, 3, 2, 1, 0}},
		{"backwards_from_end_limit_2", eventstore.Backwards, fromEnd, 2, []int{4, 3}},
		{"backwards_from_2", eventstore.Backwards, 2, 0, []int{2, 1, 0}},
		{"backwards_from_3_limit_2", eventstore.Backwards, 3, 2, []int{3, 2}},
		{"backwards_from_0", eventstore.Backwards, 0, 0, []int{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.s.ReadStream(f.ctx, a, c.dir, c.from, c.limit)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(got) != len(c.revs) {
				t.Fatalf("read %d events, want revisions %v", len(got), c.revs)
			}
			for i, rev := range c.revs {
				checkStored(t, fmt.Sprintf("event %d", i), want[rev], a, uint64(rev), got[i])
				if got[i].Position != positions[got[i].ID] {
					t.Errorf("event %s: position %d in the stream, %d in $all", got[i].ID, got[i].Position, positions[got[i].ID])
				}
			}
		})
	}
	t.Run("missing_stream", func(t *testing.T) {
		for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
			_, err := f.s.ReadStream(f.ctx, f.stream("item-无"), dir, 0, 0)
			wantCode(t, fmt.Sprintf("read a missing stream in direction %d", dir), err, events.CodeNotFound)
		}
		_, err := f.s.ReadStream(f.ctx, f.stream("item-无"), eventstore.Backwards, fromEnd, 1)
		wantCode(t, "read a missing stream backwards from the end", err, events.CodeNotFound)
	})
}

func testReadAll(t *testing.T, h Harness) {
	f := newFixture(t, h)
	type placed struct {
		ev     events.Event
		stream string
		rev    uint64
	}
	var want []placed
	lastOf := map[string]uint64{}
	var results []eventstore.AppendResult
	var lastIdx []int
	appendTo := func(name string, evs ...events.Event) {
		s := f.stream(name)
		res := f.mustAppend(s, eventstore.Any, evs...)
		for _, e := range evs {
			rev, ok := lastOf[s]
			if ok {
				rev++
			}
			lastOf[s] = rev
			want = append(want, placed{e, s, rev})
		}
		results = append(results, res)
		lastIdx = append(lastIdx, len(want)-1)
	}
	appendTo("item-1", newEvents(3, typeRaised, "事项一")...)
	appendTo("commitment-1", newEvent(typeLogged, "履诺一"))
	appendTo("item-2", newEvent(typeRaised, "事项二"))
	appendTo("item-1", newEvent(typeAssigned, "事项一"))
	appendTo("commitment-1", newEvents(4, typeLogged, "履诺一")...)
	appendTo("item-2", newEvents(2, typeAssigned, "事项二")...)

	got := f.mustReadOurs(0)
	if len(got) != len(want) {
		t.Fatalf("$all holds %d events of this test, want %d", len(got), len(want))
	}
	for i, w := range want {
		checkStored(t, fmt.Sprintf("$all event %d", i), w.ev, w.stream, w.rev, got[i])
	}
	for i, res := range results {
		if p := got[lastIdx[i]].Position; res.Position != p {
			t.Errorf("append %d: result position %d, but its last event is at %d", i, res.Position, p)
		}
	}

	t.Run("pages", func(t *testing.T) {
		for _, size := range []int{1, 2, 5, len(want)} {
			paged := f.mustReadOurs(size)
			if len(paged) != len(got) {
				t.Fatalf("pages of %d: %d events, want %d", size, len(paged), len(got))
			}
			for i := range paged {
				if paged[i].ID != got[i].ID || paged[i].Position != got[i].Position {
					t.Fatalf("pages of %d: event %d is %s@%d, want %s@%d", size, i, paged[i].ID, paged[i].Position, got[i].ID, got[i].Position)
				}
			}
		}
	})

	t.Run("after_a_position", func(t *testing.T) {
		last := got[len(got)-1].Position
		if h.Shared {
			rest, err := f.s.ReadAll(f.ctx, last, 0)
			if err != nil {
				t.Fatalf("read all after the last event: %v", err)
			}
			for _, e := range rest {
				if f.ours(e) {
					t.Fatalf("read all after the last event returned %s of this test", e.ID)
				}
			}
			return
		}
		mid, err := f.s.ReadAll(f.ctx, got[3].Position, 4)
		if err != nil {
			t.Fatalf("read all after event 3: %v", err)
		}
		if len(mid) != 4 {
			t.Fatalf("read all after event 3 limit 4: %d events", len(mid))
		}
		for i, e := range mid {
			if e.ID != got[4+i].ID {
				t.Fatalf("read all after event 3: event %d is %s, want %s", i, e.ID, got[4+i].ID)
			}
		}
		first, err := f.s.ReadAll(f.ctx, 0, 1)
		if err != nil || len(first) != 1 || first[0].ID != got[0].ID {
			t.Fatalf("read all from the start limit 1 = %d events, %v; want %s", len(first), err, got[0].ID)
		}
		rest, err := f.s.ReadAll(f.ctx, last, 0)
		if err != nil || len(rest) != 0 {
			t.Fatalf("read all after the last event = %d events, %v; want none", len(rest), err)
		}
	})

	t.Run("head", func(t *testing.T) {
		head, err := f.s.Head(f.ctx)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		last := got[len(got)-1].Position
		if head < last || (!h.Shared && head != last) {
			t.Fatalf("head = %d, last event of this test at %d", head, last)
		}
	})
}

func testMetadata(t *testing.T, h Harness) {
	f := newFixture(t, h)
	s := f.stream("item-整改-一")
	want := []events.Event{
		{
			// Not a UUID: stores that need one must keep ours as well.
			ID:            "整改事项-001",
			Type:          typeRaised,
			Version:       3,
			Time:          time.Date(2019, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600)),
			Actor:         "user:张三",
			CorrelationID: "关联-请求-42",
			CausationID:   "命令-提交整改",
			Data:          json.RawMessage(`{"title":"社区走访每周至少一次","units":["第一社区","非公党支部"],"note":"引号\"与换行\n🚩"}`),
		},
		{
			ID:      uuid.NewString(),
			Type:    typeLogged,
			Version: 1,
			Time:    time.Date(2024, 12, 31, 23, 59, 59, 1, time.UTC),
			Actor:   "system:投影",
			// Spacing is kept as written: projections digest raw payloads.
			Data: json.RawMessage(`{ "count": 3,  "说明": "每周 三 次" }`),
		},
	}
	res := f.mustAppend(s, eventstore.NoStream, want...)

	fromStream := f.mustReadStream(s, eventstore.Forwards, 0, 0)
	if len(fromStream) != len(want) {
		t.Fatalf("stream holds %d events, want %d", len(fromStream), len(want))
	}
	fromAll := f.mustReadOurs(0)
	if len(fromAll) != len(want) {
		t.Fatalf("$all holds %d events of this test, want %d", len(fromAll), len(want))
	}
	sub, err := f.s.Subscribe(f.ctx, f.base, eventstore.Filter{StreamPrefixes: []string{f.ns}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	for i, w := range want {
		checkStored(t, "read stream", w, s, uint64(i), fromStream[i])
		checkStored(t, "read all", w, s, uint64(i), fromAll[i])
		got := mustNext(t, f.ctx, sub)
		checkStored(t, "subscription", w, s, uint64(i), got)
		if got.Position != fromAll[i].Position || fromStream[i].Position != fromAll[i].Position {
			t.Errorf("event %s: position %d by subscription, %d by stream, %d in $all", w.ID, got.Position, fromStream[i].Position, fromAll[i].Position)
		}
		if got.Hash != fromAll[i].Hash || fromStream[i].Hash != fromAll[i].Hash {
			t.Errorf("event %s: hash %q by subscription, %q by stream, %q in $all", w.ID, got.Hash, fromStream[i].Hash, fromAll[i].Hash)
		}
	}
	checkChain(t, fromAll)
	if res.Position != fromAll[1].Position {
		t.Errorf("append result position %d, last event at %d", res.Position, fromAll[1].Position)
	}
	if c := fromAll[0].Category(); c != f.ns+"item" {
		t.Errorf("category of %q = %q", fromAll[0].Stream, c)
	}
}

func testIdempotent(t *testing.T, h Harness) {
	// Both kinds of store recognise a retry that carries the expected
	// revision of the first attempt: that is what a command handler does.
	t.Run("retry_with_no_stream", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		evs := newEvents(2, typeRaised, "新建")
		first := f.mustAppend(s, eventstore.NoStream, evs...)
		again := f.mustAppend(s, eventstore.NoStream, evs...)
		if again != first {
			t.Fatalf("retry returned %+v, first append %+v", again, first)
		}
		f.checkLen("after the retry", s, 2)
		f.checkNothingNew(2)
	})
	t.Run("retry_with_exact_after_stream_moved_on", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		f.mustAppend(s, eventstore.NoStream, newEvent(typeRaised, "新建"))
		single := newEvent(typeAssigned, "指派")
		firstSingle := f.mustAppend(s, eventstore.Exact(0), single)
		batch := newEvents(3, typeLogged, "进展")
		firstBatch := f.mustAppend(s, eventstore.Exact(1), batch...)
		f.mustAppend(s, eventstore.Exact(4), newEvent(typeAssigned, "后续"))

		if again := f.mustAppend(s, eventstore.Exact(0), single); again != firstSingle {
			t.Fatalf("retry of the single event returned %+v, first append %+v", again, firstSingle)
		}
		if again := f.mustAppend(s, eventstore.Exact(1), batch...); again != firstBatch {
			t.Fatalf("retry of the batch returned %+v, first append %+v", again, firstBatch)
		}
		f.checkLen("after the retries", s, 6)
		f.checkNothingNew(6)
	})
	// The content of an event is its type and data. Its metadata (time,
	// actor, correlation) describes the attempt and is not compared: a
	// command handler that decides again on retry stamps a new time.
	t.Run("same_id_different_content", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		orig := newEvent(typeRaised, "原文")
		f.mustAppend(s, eventstore.NoStream, orig)
		changedData := orig
		changedData.Data = json.RawMessage(`{"title":"改过的内容"}`)
		changedType := orig
		changedType.Type = typeAssigned
		for what, ev := range map[string]events.Event{"data": changedData, "type": changedType} {
			_, err := f.s.Append(f.ctx, s, eventstore.NoStream, ev)
			wantCode(t, "retry with different "+what, err, events.CodeConflict)
		}
		got := f.mustReadStream(s, eventstore.Forwards, 0, 0)
		if len(got) != 1 {
			t.Fatalf("stream holds %d events, want 1", len(got))
		}
		checkStored(t, "after the conflicting retries", orig, s, 0, got[0])
		f.checkNothingNew(1)
	})
	t.Run("partial_retry", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		evs := newEvents(2, typeRaised, "新建")
		f.mustAppend(s, eventstore.NoStream, evs...)
		_, err := f.s.Append(f.ctx, s, eventstore.NoStream, evs[0], newEvent(typeRaised, "新的"))
		wantCode(t, "retry with one old and one new event", err, events.CodeConflict)
		f.checkLen("after the partial retry", s, 2)
		f.checkNothingNew(2)
	})
	if !h.UniqueIDs {
		return
	}
	t.Run("late_retry_with_any", func(t *testing.T) {
		f := newFixture(t, h)
		s := f.stream("item-1")
		ev := newEvent(typeRaised, "新建")
		first := f.mustAppend(s, eventstore.Any, ev)
		for i := 0; i < 5; i++ {
			f.mustAppend(s, eventstore.Any, newEvent(typeAssigned, "其后"))
		}
		if again := f.mustAppend(s, eventstore.Any, ev); again != first {
			t.Fatalf("late retry returned %+v, first append %+v", again, first)
		}
		f.checkLen("after the retry", s, 6)
		f.checkNothingNew(6)
	})
	t.Run("id_reused_in_another_stream", func(t *testing.T) {
		f := newFixture(t, h)
		ev := newEvent(typeRaised, "新建")
		f.mustAppend(f.stream("item-1"), eventstore.Any, ev)
		_, err := f.s.Append(f.ctx, f.stream("item-2"), eventstore.Any, ev)
		wantCode(t, "the same event in another stream", err, events.CodeConflict)
		f.checkLen("the other stream", f.stream("item-2"), 0)
		f.checkNothingNew(1)
	})
}

// checkNothingNew fails the test unless $all holds exactly n events of it.
func (f *fixture) checkNothingNew(n int) {
	f.tb.Helper()
	if got := f.mustReadOurs(0); len(got) != n {
		f.tb.Fatalf("$all holds %d events of this test, want %d", len(got), n)
	}
}
