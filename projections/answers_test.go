package projections

import (
	"context"
	"strings"
	"testing"

	"rectify/events"
	"rectify/projections/query"
)

// TestAnswersAreKeptOnlyWhileTheViewStands: a repeated question at the
// same position gets the very answer already encoded; once the view
// applies an event the answer is computed again and shows the event; a
// different question (another scope, another today) is never answered
// with someone else's answer.
func TestAnswersAreKeptOnlyWhileTheViewStands(t *testing.T) {
	l := assessmentHistory(t)
	r := MustOpenView(t, Ledger{}, l)
	ctx := context.Background()
	all := query.Request{Scope: scopeAll, Today: events.MustDate("2019-04-10")}

	first := Answer(ctx, r, "list", all, 0)
	again := Answer(ctx, r, "list", all, 0)
	if first.Error != nil || again.Error != nil {
		t.Fatal(first.Error, again.Error)
	}
	if &first.Data[0] != &again.Data[0] {
		t.Error("the same question at the same position was answered again instead of from the cache")
	}
	if first.Position != again.Position || first.Position != r.Position() {
		t.Errorf("positions %d and %d, view at %d", first.Position, again.Position, r.Position())
	}

	// Another scope: 西湖社区 (sq2) sees only its own items.
	narrow := all
	narrow.Scope = query.Scope{Units: []string{"sq2"}}
	scoped := Answer(ctx, r, "list", narrow, 0)
	if strings.Contains(string(scoped.Data), "党员走访不到位") {
		t.Errorf("sq2's answer holds sq1's item: %s", scoped.Data)
	}
	// Another today: the same items, other colours.
	later := all
	later.Today = events.MustDate("2019-06-01")
	if a := Answer(ctx, r, "list", later, 0); string(a.Data) == string(first.Data) {
		t.Error("an answer for another day was the cached one")
	}

	// An event moves the view: the next answer holds it, and a caller
	// waiting for its position gets it.
	l.at("2019-04-11 09:00")
	l.add("u1", events.ItemRaisedData{ItemID: "i9", CycleID: "2019", UnitID: "sq1", Title: "楼道堆物清理", Deadline: events.MustDate("2019-05-01")})
	if err := r.Apply(ctx, deliveries(l.evs)); err != nil {
		t.Fatal(err)
	}
	all.MinPosition = r.Position()
	after := Answer(ctx, r, "list", all, 0)
	if after.Error != nil {
		t.Fatal(after.Error)
	}
	if after.Position <= first.Position || !strings.Contains(string(after.Data), "楼道堆物清理") {
		t.Errorf("after the event: position %d (was %d), answer %s", after.Position, first.Position, after.Data)
	}
}

func TestAnswerCacheBounds(t *testing.T) {
	var c answerCache
	c.put(5, "a", []byte("A"))
	if b, ok := c.get(5, "a"); !ok || string(b) != "A" {
		t.Fatalf("get(5, a) = %q, %v", b, ok)
	}
	if _, ok := c.get(6, "a"); ok {
		t.Error("an answer of position 5 was given for position 6")
	}
	c.put(4, "b", []byte("B")) // older than the cache: dropped
	if _, ok := c.get(5, "b"); ok {
		t.Error("an answer of an older position was kept")
	}
	c.put(7, "c", []byte("C")) // newer: empties it
	if _, ok := c.get(7, "a"); ok {
		t.Error("position 5's answers survived the move to 7")
	}
	big := make([]byte, answerCacheBytes)
	c.put(7, "big", big)
	if _, ok := c.get(7, "big"); ok {
		t.Error("an answer past the byte bound was kept")
	}
	for i := range answerCacheEntries + 10 {
		c.put(7, string(rune('a'+i%26))+strings.Repeat("x", i), nil)
	}
	if n := len(c.items); n > answerCacheEntries {
		t.Errorf("%d entries kept, bound %d", n, answerCacheEntries)
	}
}
