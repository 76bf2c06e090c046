package natsx_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

// MustServeStore opens an embedded store in a temporary directory and
// serves it over NATS until the test ends; it returns the store and a
// client on another connection.
func MustServeStore(tb testing.TB) (*embedded.Store, *natsx.StoreClient) {
	tb.Helper()
	_, url := natstest.MustStartServer(tb)
	store, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	serverConn, _ := natstest.MustConnect(tb, url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- natsx.ServeStore(ctx, serverConn, store, nil) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ServeStore: %v", err)
		}
	})
	clientConn, _ := natstest.MustConnect(tb, url)
	client := natsx.NewStoreClient(clientConn)
	// Wait for the service's endpoints.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := client.Head(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("store service never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return store, client
}

func appendN(tb testing.TB, store eventstore.Store, stream string, n int, data func(i int) string) {
	tb.Helper()
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.Event{
			ID: fmt.Sprintf("%s-%d", stream, i), Type: "rectify.test.happened", Version: 1,
			Time:  time.Date(2026, 3, 1, 8, 0, i, 123456789, time.FixedZone("CST", 8*3600)),
			Actor: "u1", CorrelationID: "c1", Data: []byte(data(i)),
		}
	}
	if _, err := store.Append(context.Background(), stream, eventstore.Any, evs...); err != nil {
		tb.Fatal(err)
	}
}

// The service hands out $all exactly as the store holds it, payload bytes
// included: a payload that a JSON encoder would escape or compact must come
// back unchanged, or a view filled through the service could differ from
// one rebuilt from the store.
func TestStoreClientReadsWhatTheStoreHolds(t *testing.T) {
	store, client := MustServeStore(t)
	ctx := context.Background()
	if h, err := client.Head(ctx); err != nil || h != 0 {
		t.Fatalf("empty store: head %d, %v", h, err)
	}
	if evs, err := client.ReadAll(ctx, 0, 100); err != nil || len(evs) != 0 {
		t.Fatalf("empty store: %d events, %v", len(evs), err)
	}
	appendN(t, store, "item-1", 5, func(i int) string { return fmt.Sprintf(`{ "title": "整改<%d> & 落实",  "n":%d }`, i, i) })
	appendN(t, store, "item-2", 3, func(i int) string { return `{"x":"\u003c"}` })

	want, err := store.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []uint64{0, want[2].Position, want[len(want)-1].Position} {
		got, err := client.ReadAll(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		var exp []events.Event
		for _, e := range want {
			if e.Position > after && len(exp) < 4 {
				exp = append(exp, e)
			}
		}
		if len(got) != len(exp) {
			t.Fatalf("after %d: %d events, want %d", after, len(got), len(exp))
		}
		for i := range got {
			g, w := got[i], exp[i]
			if g.ID != w.ID || g.Stream != w.Stream || g.Revision != w.Revision || g.Position != w.Position || g.Type != w.Type ||
				g.Version != w.Version || !g.Time.Equal(w.Time) || g.Actor != w.Actor || g.CorrelationID != w.CorrelationID ||
				g.CausationID != w.CausationID || !bytes.Equal(g.Data, w.Data) || g.Hash != w.Hash || !events.ValidSHA256(g.Hash) {
				t.Errorf("after %d, event %d:\n got %+v (data %s)\nwant %+v (data %s)", after, i, g, g.Data, w, w.Data)
			}
		}
	}
	if h, err := client.Head(ctx); err != nil || h != want[len(want)-1].Position {
		t.Fatalf("head %d, %v; want %d", h, err, want[len(want)-1].Position)
	}
}

// A read that would not fit in one NATS message returns fewer events, and
// reading on from the last one returns the rest, in order.
func TestStoreClientSplitsLargeReads(t *testing.T) {
	store, client := MustServeStore(t)
	ctx := context.Background()
	big := strings.Repeat("整", 40_000) // 120 KB of UTF-8: about eight fit in 1 MiB
	for s := range 4 {
		appendN(t, store, fmt.Sprintf("item-%d", s), 10, func(int) string { return `{"text":"` + big + `"}` })
	}
	var pos uint64
	reads, total := 0, 0
	for {
		evs, err := client.ReadAll(ctx, pos, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		reads++
		total += len(evs)
		pos = evs[len(evs)-1].Position
	}
	if total != 40 || reads < 5 {
		t.Fatalf("read %d events in %d reads; want 40 in at least 5", total, reads)
	}
}

func TestStoreClientWithoutServiceIsUnavailable(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	nc, _ := natstest.MustConnect(t, url)
	client := natsx.NewStoreClient(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.ReadAll(ctx, 0, 10); events.ErrorCode(err) != events.CodeUnavailable {
		t.Fatalf("ReadAll without a service: %v; want unavailable", err)
	}
	if _, err := client.Head(ctx); events.ErrorCode(err) != events.CodeUnavailable {
		t.Fatalf("Head without a service: %v; want unavailable", err)
	}
}
