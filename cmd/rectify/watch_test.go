package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/watcher"
)

// TestServeRunsTheDeadlineWatcher starts serve with the watcher on: an
// item raised past its deadline is recorded red and escalated up the whole
// ladder, once, by the system's watcher.
func TestServeRunsTheDeadlineWatcher(t *testing.T) {
	dir := t.TempDir()
	cfg := serveConfig{DataDir: dir, NATSHost: "127.0.0.1", NATSPort: -1, Replica: "0", Addr: "127.0.0.1:0",
		Watch: true, WatchInterval: 20 * time.Millisecond}
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v", err)
		}
		a.Close()
	})

	send(t, a, events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee}, "u1")
	send(t, a, events.RegisterUnit{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "gw"}, "u2")
	send(t, a, events.OpenCycle{CycleID: "y2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2019-01-01"), End: events.MustDate("2019-12-31")}, "c1")
	send(t, a, events.RaiseItem{ItemID: "late", CycleID: "y2019", UnitID: "sq1", Title: "阵地建设不规范", Deadline: events.MustDate("2020-06-30")}, "r1")

	want := []string{events.ItemTurnedRed, events.ItemEscalated, events.ItemEscalated, events.ItemEscalated}
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	for {
		evs, err := a.store.ReadStream(context.Background(), events.ItemStream("late"), eventstore.Forwards, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range evs {
			if e.Actor != watcher.Actor {
				t.Fatalf("%s by %s", e.Type, e.Actor)
			}
			got = append(got, e.Type)
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll pacing
	}
	// Passes go on every 20 ms; give a few of them the chance to repeat.
	time.Sleep(100 * time.Millisecond)
	evs, err := a.store.ReadStream(context.Background(), events.ItemStream("late"), eventstore.Forwards, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || len(evs) != len(want) {
		t.Fatalf("the watcher recorded %v (%d events after more passes), want %v", got, len(evs), want)
	}
}

func TestServeWatcherFlags(t *testing.T) {
	t.Setenv("RECTIFY_YELLOW_DAYS", "3")
	t.Setenv("RECTIFY_WATCH", "false")
	c, err := serveFlags("serve", io.Discard, []string{"--escalate-head-days", "5", "--escalate-committee-days", "10"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Watch || c.YellowDays != 3 || c.HeadDays != 5 || c.CommitteeDays != 10 || c.WatchInterval != watcher.DefaultInterval {
		t.Fatalf("config %+v", c)
	}
	for _, args := range [][]string{
		{"--yellow-days", "0"},
		{"--watch-interval", "0s"},
		{"--escalate-head-days", "1"},
		{"--escalate-head-days", "9", "--escalate-committee-days", "9"},
	} {
		if _, err := serveFlags("serve", io.Discard, args); exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
