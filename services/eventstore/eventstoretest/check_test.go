package eventstoretest

import (
	"fmt"
	"testing"

	"rectify/events"
)

// recorder is a testing.TB whose Fatalf records the failure and unwinds
// with a panic that catch recovers, so a checker can be run on bad input.
type recorder struct {
	testing.TB
	failed string
}

type fatal struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(fatal{})
}

// catch runs check against a recorder and returns its failure, "" if none.
func catch(t *testing.T, check func(tb testing.TB)) (failed string) {
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatal); !ok {
				panic(v)
			}
		}
		failed = r.failed
	}()
	check(r)
	return ""
}

func crashEvents(ids ...string) []events.Event {
	evs := make([]events.Event, len(ids))
	for i, id := range ids {
		evs[i] = events.Event{ID: id, Stream: "s", Revision: uint64(i), Position: uint64(i + 1)}
	}
	return evs
}

func TestCheckBatches(t *testing.T) {
	cases := []struct {
		name string
		ids  []string
		ok   bool
	}{
		{"whole batches", []string{"r0-w0-b0-0.1", "r0-w1-b1-0.3", "r0-w1-b1-1.3", "r0-w1-b1-2.3", "r1-w0-b0-0.2", "r1-w0-b0-1.2"}, true},
		{"batch cut short at the end", []string{"r0-w0-b0-0.1", "r0-w1-b1-0.3", "r0-w1-b1-1.3"}, false},
		{"batch cut short by another", []string{"r0-w1-b1-0.3", "r0-w1-b1-1.3", "r0-w0-b0-0.1"}, false},
		{"batch without its start", []string{"r0-w1-b1-1.3", "r0-w1-b1-2.3"}, false},
		{"foreign id", []string{"整改事项-001"}, false},
	}
	for _, c := range cases {
		failed := catch(t, func(tb testing.TB) { checkBatches(tb, crashEvents(c.ids...)) })
		if (failed == "") != c.ok {
			t.Errorf("%s: failure %q, want ok=%v", c.name, failed, c.ok)
		}
	}
}

func TestCheckAcks(t *testing.T) {
	stored := crashEvents("a", "b", "c", "d")
	whole := []ack{{stream: "s", ids: []string{"a", "b"}}, {stream: "s", ids: []string{"c"}}, {stream: "s", ids: []string{"d"}}}
	whole[0].res.NextExpected, whole[0].res.Position = 1, 2
	whole[1].res.NextExpected, whole[1].res.Position = 2, 3
	whole[2].res.NextExpected, whole[2].res.Position = 3, 4
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, stored, whole, true) }); failed != "" {
		t.Fatalf("a faithful store failed: %s", failed)
	}
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, stored, whole[:2], true) }); failed == "" {
		t.Fatal("an unacknowledged stored event passed an exhaustive check")
	}
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, stored, whole[:2], false) }); failed != "" {
		t.Fatalf("an unacknowledged stored event failed a crash check: %s", failed)
	}
	wrongPos := append([]ack(nil), whole...)
	wrongPos[1].res.Position = 4
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, stored, wrongPos, true) }); failed == "" {
		t.Fatal("a wrong acknowledged position passed")
	}
	missing := append([]ack(nil), whole...)
	missing = append(missing, ack{stream: "s", ids: []string{"e"}})
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, stored, missing, false) }); failed == "" {
		t.Fatal("a lost acknowledged event passed")
	}
	twice := crashEvents("a", "b", "c", "d", "c")
	if failed := catch(t, func(tb testing.TB) { checkAcks(tb, twice, whole, false) }); failed == "" {
		t.Fatal("an event stored twice passed")
	}
}
