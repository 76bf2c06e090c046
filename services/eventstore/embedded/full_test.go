package embedded

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
)

// When the database cannot grow — a full disk; here SQLite's page limit,
// which fails the same way, with SQLITE_FULL — every queued append fails
// as unavailable saying the disk is full and writes nothing, the writer
// goes on, and once there is room the same appends succeed.
func TestAppendOnAFullDiskFailsCleanlyAndRecovers(t *testing.T) {
	s := MustOpenStore(t, Options{})
	ctx := context.Background()
	mustAppend(t, s, "item-before", eventstore.NoStream, newEvent("rectify.item.raised", "磁盘写满之前"))
	pragma := func(q string) int64 {
		t.Helper()
		var n int64
		if err := s.w.conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	// No page more than the file has now: the writer's connection can
	// store nothing that needs a new page.
	pragma(fmt.Sprintf("PRAGMA max_page_count = %d", pragma("PRAGMA page_count")))

	// Each event needs pages of its own (its data overflows a page).
	big := strings.Repeat("整改措施", 2000)
	evs := make([]events.Event, 16)
	for i := range evs {
		evs[i] = newEvent("rectify.item.raised", fmt.Sprintf("%s %d", big, i))
	}
	appendAll := func() []error {
		errs := make([]error, len(evs))
		var wg sync.WaitGroup
		for i := range evs {
			wg.Go(func() {
				_, errs[i] = s.Append(ctx, fmt.Sprintf("item-%d", i), eventstore.NoStream, evs[i])
			})
		}
		wg.Wait()
		return errs
	}
	for i, err := range appendAll() {
		wantCode(t, fmt.Sprintf("append %d on a full disk", i), err, events.CodeUnavailable)
		if !strings.Contains(events.ErrorMessage(err), "disk is full") {
			t.Errorf("append %d on a full disk: %q does not say the disk is full", i, events.ErrorMessage(err))
		}
	}
	if got := mustReadAll(t, s); len(got) != 1 {
		t.Fatalf("after the failed appends the store holds %d events, want the 1 from before", len(got))
	}

	// Room again: the same appends, with the same ids, go through.
	pragma("PRAGMA max_page_count = 1073741823")
	for i, err := range appendAll() {
		if err != nil {
			t.Errorf("append %d once there is room: %v", i, err)
		}
	}
	if got := mustReadAll(t, s); len(got) != 1+len(evs) {
		t.Fatalf("the store holds %d events, want %d", len(got), 1+len(evs))
	}
}
