package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
)

// HeadDigests gives, at each position asked, the digest of exactly the
// streams' heads as they stood there: later events change it, and a
// position past the end is the whole store.
func TestHeadDigests(t *testing.T) {
	// Pages smaller than the history, so that positions fall on and
	// between page ends.
	defer func(n int) { *eventstore.HeadPage = n }(*eventstore.HeadPage)
	*eventstore.HeadPage = 2

	ctx := context.Background()
	s, err := embedded.Open(filepath.Join(t.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	empty, err := eventstore.HeadDigests(ctx, s, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if empty[0] != empty[5] || empty[0].Streams != 0 || !events.ValidSHA256(empty[0].Digest) {
		t.Fatalf("empty store: %+v", empty)
	}

	for i := range 9 {
		e := events.Event{ID: fmt.Sprintf("事件-%d", i), Type: "rectify.item.noted", Version: 1, Time: time.Now(),
			Actor: "user:张三", Data: json.RawMessage(`{"note":"第` + fmt.Sprint(i) + `条"}`)}
		if _, err := s.Append(ctx, fmt.Sprintf("item-%d", i%3), eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(pos uint64) eventstore.HeadDigest {
		h := make(events.ChainHeads)
		for _, e := range all {
			if e.Position <= pos {
				h.Add(e)
			}
		}
		d, n := h.Digest()
		return eventstore.HeadDigest{Digest: d, Streams: n}
	}
	p2, p5, last := all[1].Position, all[4].Position, all[len(all)-1].Position
	got, err := eventstore.HeadDigests(ctx, s, last+100, p5, p2, p5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d digests for 3 positions", len(got))
	}
	for _, pos := range []uint64{p2, p5, last + 100} {
		// Each alone, too.
		one, err := eventstore.HeadDigests(ctx, s, pos)
		if err != nil || one[pos] != at(pos) {
			t.Errorf("at %d alone: %+v, %v; want %+v", pos, one[pos], err, at(pos))
		}
		if got[pos] != at(pos) {
			t.Errorf("at %d: %+v, want %+v", pos, got[pos], at(pos))
		}
	}
	if got[p2].Streams != 2 || got[p5].Streams != 3 || got[p5].Digest == got[last+100].Digest {
		t.Errorf("digests do not follow the history: %+v", got)
	}
}
