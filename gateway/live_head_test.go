package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"rectify/events"
)

// A hub that has just started (a gateway restarted after a crash) holds
// the notices of views catching up, which come late and out of position
// order: the audit view's notice of 104 may be in its ring while the
// ledger's notice of 105 went out before the hub existed. A client that
// resumes from a position up to the store head as of the hub's start is
// therefore reset; one that resumes from a later position, which only
// this hub can have sent, is resumed exactly.
func TestLiveResetsResumesFromBeforeTheHubStarted(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{StoreHead: func(context.Context) (uint64, error) { return 105, nil }}, true)
	waitFor(t, 10*time.Second, "the hub to learn the store head", func() bool {
		r.hub.mu.Lock()
		defer r.hub.mu.Unlock()
		return r.hub.headKnown
	})
	// The audit view catches up from 103; the ledger, already at 105
	// before the restart, goes on from 106.
	r.publish(liveChange{View: "audit", Key: "item-a", Position: 104})
	r.publish(liveChange{View: "audit", Key: "item-b", Position: 105})
	r.publish(ledgerChange(106, "item:c"))
	r.publish(ledgerChange(107, "item:d"))
	r.settled(107)

	for _, id := range []string{"104", "105"} {
		s := MustOpenStream(t, r, "all", "", id)
		e := s.next(t, false)
		var data struct{ Reason string }
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil || e.Event != "reset" || data.Reason != resetResume {
			t.Fatalf("resume from %s, at or below the head when the hub started: got %+v, want a reset", id, e)
		}
		s.close()
	}
	s := MustOpenStream(t, r, "all", "", "106")
	if got := positions(s.changesUntil(t, 107)); !slices.Equal(got, []uint64{107}) {
		t.Fatalf("resumed after 106 got %v", got)
	}
}

// Until the hub knows the store head, it resumes nobody exactly.
func TestLiveResetsResumesWhileTheStoreHeadIsUnknown(t *testing.T) {
	var asked atomic.Int64
	r := MustOpenLiveRig(t, liveOptions{StoreHead: func(context.Context) (uint64, error) {
		asked.Add(1)
		return 0, events.Errorf(events.CodeUnavailable, "the command service is not running")
	}}, true)
	r.publish(ledgerChange(301, "item:a"))
	r.publish(ledgerChange(302, "item:b"))
	r.settled(302)
	s := MustOpenStream(t, r, "all", "", "301")
	if e := s.next(t, false); e.Event != "reset" {
		t.Fatalf("resume while the head is unknown: got %+v, want a reset", e)
	}
	waitFor(t, 10*time.Second, "the hub to ask again", func() bool { return asked.Load() >= 2 })
}
