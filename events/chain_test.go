package events

import (
	"encoding/json"
	"testing"
	"time"
)

func chainSample() Event {
	return Event{
		ID:            "0190b2c4-1f00-7000-8000-000000000001",
		Stream:        "item-整改-1",
		Revision:      3,
		Position:      1042,
		Type:          ItemRaised,
		Version:       1,
		Time:          time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600)),
		Actor:         "user:王秀兰",
		CorrelationID: "请求-7",
		CausationID:   "命令-提交整改",
		Data:          json.RawMessage(`{"title":"网格员队伍不稳定","note":"已整改"}`),
	}
}

// The encoding is part of every stored chain: changing it would make every
// store in use fail verification. This pins it.
func TestChainHashIsPinned(t *testing.T) {
	const want = "853f3941e89deb7a7fe663f3ab78d312555c8db4fcb83b98ee690c92d31aaab7"
	if got := ChainHash("", chainSample()); got != want {
		t.Fatalf("ChainHash of the sample = %s, want %s: the hash encoding changed, which breaks every stored chain", got, want)
	}
}

func TestChainHashCoversEveryImmutableField(t *testing.T) {
	base := chainSample()
	prev := ChainHash("", base)
	h0 := ChainHash(prev, base)
	if !ValidSHA256(h0) {
		t.Fatalf("hash %q is not 64 lowercase hex digits", h0)
	}
	changes := map[string]func(*Event){
		"stream":         func(e *Event) { e.Stream = "item-整改-2" },
		"revision":       func(e *Event) { e.Revision++ },
		"id":             func(e *Event) { e.ID += "x" },
		"type":           func(e *Event) { e.Type = ItemAssigned },
		"version":        func(e *Event) { e.Version = 2 },
		"time by 1ns":    func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) },
		"no time":        func(e *Event) { e.Time = time.Time{} },
		"actor":          func(e *Event) { e.Actor = "user:李四" },
		"correlation id": func(e *Event) { e.CorrelationID = "请求-8" },
		"causation id":   func(e *Event) { e.CausationID = "" },
		"one data byte":  func(e *Event) { e.Data = json.RawMessage(`{"title":"网格员队伍不稳定","note":"未整改"}`) },
		"data spacing":   func(e *Event) { e.Data = json.RawMessage(`{"title": "网格员队伍不稳定","note":"已整改"}`) },
	}
	for what, change := range changes {
		e := base
		change(&e)
		if got := ChainHash(prev, e); got == h0 {
			t.Errorf("changing the %s leaves the hash as it was", what)
		}
	}
	if got := ChainHash("", base); got == h0 {
		t.Error("the previous hash is not part of the hash")
	}

	// What is not part of it: the position (assigned after the fact), the
	// stored hash itself, and the zone the time is shown in.
	same := map[string]func(*Event){
		"position":    func(e *Event) { e.Position = 7 },
		"stored hash": func(e *Event) { e.Hash = "abc" },
		"zone":        func(e *Event) { e.Time = e.Time.UTC() },
	}
	for what, change := range same {
		e := base
		change(&e)
		if got := ChainHash(prev, e); got != h0 {
			t.Errorf("changing the %s changes the hash", what)
		}
	}
}

// Fields are length-prefixed: moving a boundary between two fields gives
// another hash, where concatenating them would not.
func TestChainHashIsUnambiguous(t *testing.T) {
	a, b := chainSample(), chainSample()
	a.Actor, a.CorrelationID = "user:王", "秀兰"
	b.Actor, b.CorrelationID = "user:王秀", "兰"
	if ChainHash("", a) == ChainHash("", b) {
		t.Error("moving text from actor to correlation id leaves the hash as it was")
	}
	c, d := chainSample(), chainSample()
	c.Time = time.Time{}
	d.Time = time.Unix(0, 0)
	if ChainHash("", c) == ChainHash("", d) {
		t.Error("no time and the Unix epoch hash alike")
	}
}

// An event read back as JSON (by `rectify events tail`, over NATS) keeps
// its Chinese and its hash, and the hash can be checked from it.
func TestChainHashSurvivesJSON(t *testing.T) {
	e := chainSample()
	e.Hash = ChainHash("", e)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash != e.Hash || back.Actor != "user:王秀兰" || string(back.Data) != string(e.Data) {
		t.Fatalf("round trip gave %+v, want %+v", back, e)
	}
	if got := ChainHash("", back); got != back.Hash {
		t.Fatalf("recomputed %s after a JSON round trip, stored %s", got, back.Hash)
	}
}

func TestChainHeadsDigest(t *testing.T) {
	evs := []Event{
		{Stream: "item-甲", Revision: 0, Hash: "h-甲-0"},
		{Stream: "unit-乙", Revision: 0, Hash: "h-乙-0"},
		{Stream: "item-甲", Revision: 1, Hash: "h-甲-1"},
	}
	fwd := make(ChainHeads)
	for _, e := range evs {
		fwd.Add(e)
	}
	// In another order, and with the older event of 甲 seen last: heads
	// are the highest revisions, whatever the order of reading.
	bwd := make(ChainHeads)
	for i := len(evs) - 1; i >= 0; i-- {
		bwd.Add(evs[i])
	}
	d1, n1 := fwd.Digest()
	d2, n2 := bwd.Digest()
	if d1 != d2 || n1 != 2 || n2 != 2 {
		t.Fatalf("digests %s (%d streams) and %s (%d), want equal with 2 streams", d1, n1, d2, n2)
	}
	if fwd["item-甲"] != (ChainHead{Revision: 1, Hash: "h-甲-1"}) {
		t.Fatalf("head of item-甲 = %+v", fwd["item-甲"])
	}
	if !ValidSHA256(d1) {
		t.Fatalf("digest %q is not 64 lowercase hex digits", d1)
	}

	changed := make(ChainHeads)
	for s, h := range fwd {
		changed[s] = h
	}
	changed["unit-乙"] = ChainHead{Revision: 0, Hash: "h-乙-x"}
	if d, _ := changed.Digest(); d == d1 {
		t.Error("changing one head's hash leaves the digest as it was")
	}
	delete(changed, "unit-乙")
	if d, n := changed.Digest(); d == d1 || n != 1 {
		t.Errorf("dropping a stream gives %s with %d streams", d, n)
	}
	empty, n := make(ChainHeads).Digest()
	if !ValidSHA256(empty) || n != 0 || empty == d1 {
		t.Errorf("empty heads: %s, %d streams", empty, n)
	}
}

// BenchmarkChainHash is the store writer's cost per event appended.
func BenchmarkChainHash(b *testing.B) {
	e := chainSample()
	prev := ChainHash("", e)
	b.ReportAllocs()
	for b.Loop() {
		prev = ChainHash(prev, e)
	}
}

// Publications record digests of chain heads: changing how they are
// computed would make every recorded one fail verification. This pins it.
func TestChainHeadsDigestIsPinned(t *testing.T) {
	h := ChainHeads{
		"item-整改-1": {Revision: 3, Hash: ChainHash("", chainSample())},
		"unit-第三社区": {Revision: 0, Hash: "ab"},
	}
	const want = "d3554dd2f540341e202c1327e234a76b7df16aa6d57c2a5dadaf1719fa799a37"
	if got, n := h.Digest(); got != want || n != 2 {
		t.Fatalf("digest of the sample heads = %s over %d streams, want %s over 2: the digest encoding changed, which breaks every recorded publication", got, n, want)
	}
}
