package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
	"rectify/services/relay"
)

// fast makes failures, lease changes and checks quick enough for tests.
func fast() relay.Options {
	return relay.Options{
		LeaseTTL:      time.Second,
		LeasePoll:     50 * time.Millisecond,
		CheckInterval: 100 * time.Millisecond,
		AckTimeout:    2 * time.Second,
		RetryMax:      300 * time.Millisecond,
	}
}

func MustOpenStore(tb testing.TB) *embedded.Store {
	tb.Helper()
	s, err := embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// appendEvents appends n events in appends of one to five events, spread
// over item and unit streams, with Chinese text in every text field.
func appendEvents(tb testing.TB, store eventstore.Store, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for done := 0; done < n; {
		k := min(1+done%5, n-done)
		evs := make([]events.Event, k)
		for i := range evs {
			j := done + i
			evs[i] = sampleEvent(j)
		}
		stream := fmt.Sprintf("item-%d", done%7)
		if done%3 == 0 {
			stream = fmt.Sprintf("unit-社区%d", done%4)
		}
		if _, err := store.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			tb.Fatalf("append: %v", err)
		}
		done += k
	}
}

func sampleEvent(j int) events.Event {
	return events.Event{
		ID:            uuid.NewString(),
		Type:          []string{"rectify.item.raised", "rectify.item.assigned", "rectify.unit.created"}[j%3],
		Version:       1 + j%2,
		Time:          time.Date(2019, 12, 1+j%28, 9, 30, j%60, j, time.UTC),
		Actor:         fmt.Sprintf("用户-%d 王主任", j%5),
		CorrelationID: fmt.Sprintf("请求-%d", j),
		CausationID:   fmt.Sprintf("cmd-%d", j),
		Data:          json.RawMessage(fmt.Sprintf(`{"n": %d, "标题": "第%d项整改：社区走访不足"}`, j, j)),
	}
}

// appendUntil appends small batches until stop is closed, returning how
// many it appended on done.
func appendUntil(tb testing.TB, store eventstore.Store, stop <-chan struct{}) <-chan int {
	done := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			evs := []events.Event{sampleEvent(n), sampleEvent(n + 1)}
			_, err := store.Append(ctx, fmt.Sprintf("item-live-%d", n%11), eventstore.Any, evs...)
			cancel()
			if err != nil {
				tb.Errorf("append: %v", err)
				done <- n
				return
			}
			n += len(evs)
		}
	}()
	return done
}

type running struct {
	*relay.Relay
	nc   *nats.Conn
	stop func()
}

// MustStartRelay runs a relay on its own connection to url until the test
// ends or stop is called.
func MustStartRelay(tb testing.TB, store eventstore.Store, url string, opts relay.Options) *running {
	tb.Helper()
	nc, js := natstest.MustConnect(tb, url)
	r := relay.New(store, js, nc, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("relay run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return &running{Relay: r, nc: nc, stop: stop}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", timeout, what)
		}
		<-tick.C
	}
}

// waitCopied waits until the events stream ends with the store's last
// event.
func waitCopied(tb testing.TB, js jetstream.JetStream, store eventstore.Store, timeout time.Duration) {
	tb.Helper()
	ctx := context.Background()
	head, err := store.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, timeout, fmt.Sprintf("JetStream does not end with position %d", head), func() bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := js.Stream(qctx, natsx.EventsStream)
		if err != nil {
			return false
		}
		last, err := s.GetLastMsgForSubject(qctx, natsx.EventsSubjects)
		if err != nil {
			return false
		}
		pos, _, err := natsx.HeaderPositions(last.Header)
		return err == nil && pos == head
	})
}

type copied struct {
	seq     uint64
	subject string
	ev      events.Event
	prev    uint64
}

// readCopy reads the whole events stream.
func readCopy(tb testing.TB, js jetstream.JetStream) []copied {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		tb.Fatal(err)
	}
	n := int(s.CachedInfo().State.Msgs)
	if n == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]copied, 0, n)
	for len(out) < n {
		batch, err := c.Fetch(min(1000, n-len(out)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				tb.Fatal(err)
			}
			e, prev, err := natsx.DecodeEventParts(m.Headers(), m.Data())
			if err != nil {
				tb.Fatalf("message %d: %v", md.Sequence.Stream, err)
			}
			out = append(out, copied{seq: md.Sequence.Stream, subject: m.Subject(), ev: e, prev: prev})
		}
		if err := batch.Error(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// checkCopy asserts that the events stream is the store's $all: every
// event once, in order, on sequences 1..n, with its subject, every field
// exact and the predecessor positions chained.
func checkCopy(tb testing.TB, js jetstream.JetStream, store eventstore.Store) []copied {
	tb.Helper()
	want, err := store.ReadAll(context.Background(), 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	got := readCopy(tb, js)
	if len(got) != len(want) {
		tb.Errorf("JetStream holds %d events, the store %d", len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		var wantPrev uint64
		if i > 0 {
			wantPrev = want[i-1].Position
		}
		var problems []string
		if g.seq != uint64(i+1) {
			problems = append(problems, fmt.Sprintf("sequence %d", g.seq))
		}
		if g.prev != wantPrev {
			problems = append(problems, fmt.Sprintf("prev %d, want %d", g.prev, wantPrev))
		}
		if g.subject != natsx.EventSubject(w.Category(), w.Type) {
			problems = append(problems, "subject "+g.subject)
		}
		if g.ev.ID != w.ID || g.ev.Position != w.Position {
			problems = append(problems, fmt.Sprintf("event %s at %d, want %s at %d", g.ev.ID, g.ev.Position, w.ID, w.Position))
		} else if !sameEvent(g.ev, w) {
			problems = append(problems, fmt.Sprintf("fields differ: %+v, want %+v", g.ev, w))
		}
		if len(problems) > 0 {
			tb.Errorf("message %d (store position %d): %v", i+1, w.Position, problems)
			if bad++; bad == 5 {
				tb.FailNow()
			}
		}
	}
	return got
}

func sameEvent(a, b events.Event) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Revision == b.Revision && a.Position == b.Position &&
		a.Type == b.Type && a.Version == b.Version && a.Time.Equal(b.Time) && a.Actor == b.Actor &&
		a.CorrelationID == b.CorrelationID && a.CausationID == b.CausationID && bytes.Equal(a.Data, b.Data) &&
		a.Hash == b.Hash && events.ValidSHA256(a.Hash)
}

func TestRelayPublishesEveryEventOnceInOrder(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 700) // history before the relay starts

	r := MustStartRelay(t, store, url, fast())
	appendEvents(t, store, 500) // live appends while it publishes
	waitCopied(t, js, store, 30*time.Second)
	got := checkCopy(t, js, store)

	if got[0].prev != 0 {
		t.Errorf("first event's prev %d, want 0", got[0].prev)
	}
	if got[0].ev.Actor != "用户-0 王主任" {
		t.Errorf("actor %q", got[0].ev.Actor)
	}
	st := r.Stats()
	if !st.Leader || st.Published != 1200 || st.LastPosition != got[len(got)-1].ev.Position || st.LastSequence != 1200 {
		t.Errorf("stats %+v", st)
	}
	waitFor(t, 5*time.Second, "lag does not reach 0", func() bool { return r.Stats().Lag == 0 })
}

func TestRelayResumesAfterRestartWithoutDuplicates(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 300)

	first := MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)
	first.stop()

	appendEvents(t, store, 250) // while no relay runs
	second := MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	// It resumed after the last message JetStream held: it published the
	// new events only.
	if st := second.Stats(); st.Published != 250 || st.Restarts != 0 {
		t.Errorf("second relay stats %+v, want 250 published without restarts", st)
	}
}

func TestRelayConvergesAcrossNATSRestarts(t *testing.T) {
	store := MustOpenStore(t)
	srv := natstest.MustStartRestartable(t)
	opts := fast()
	r := MustStartRelay(t, store, srv.URL, opts)

	stop := make(chan struct{})
	appended := appendUntil(t, store, stop)
	waitFor(t, 20*time.Second, "nothing published", func() bool { return r.Stats().Published >= 200 })
	for range 2 {
		head, _ := store.Head(context.Background())
		srv.MustRestart(t)
		// Keep appending through the outage and after it.
		waitFor(t, 20*time.Second, "store stalled", func() bool {
			h, _ := store.Head(context.Background())
			return h >= head+400
		})
	}
	close(stop)
	if n := <-appended; n == 0 {
		t.Fatal("appended nothing")
	}

	_, js := natstest.MustConnect(t, srv.URL)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	if st := r.Stats(); st.Restarts < 2 {
		t.Errorf("relay restarted %d times across 2 outages: %+v", st.Restarts, st)
	}
}

// TestRelayRepublishesAfterNATSLosesItsData restarts NATS with its
// JetStream directory wiped, as after a disk loss: streams, messages and
// the lease are gone, and the relay puts everything back from the store.
func TestRelayRepublishesAfterNATSLosesItsData(t *testing.T) {
	store := MustOpenStore(t)
	srv := natstest.MustStartRestartable(t)
	appendEvents(t, store, 300)
	r := MustStartRelay(t, store, srv.URL, fast())
	_, js := natstest.MustConnect(t, srv.URL)
	waitCopied(t, js, store, 30*time.Second)

	srv.Stop()
	if err := os.RemoveAll(srv.StoreDir()); err != nil {
		t.Fatal(err)
	}
	srv.MustStart(t)
	appendEvents(t, store, 40)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	// checkCopy is the outcome that matters: JetStream again holds every
	// stored event once, in order. The publish counter is only logged: on
	// a loaded machine its last acks can be counted after the copy is seen.
	st := r.Stats()
	if !st.Leader || st.Published < 300+40 {
		t.Errorf("stats %+v, want the leader to have republished the store", st)
	}
	t.Logf("relay stats after the wipe: %+v", st)
}

func TestRelayReseedsDeletedStream(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 400)
	MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)

	ctx := context.Background()
	if err := js.DeleteStream(ctx, natsx.EventsStream); err != nil {
		t.Fatal(err)
	}
	// No new event arrives: the relay notices on its own.
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)

	// And it goes on with new events.
	appendEvents(t, store, 50)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
}

func TestRelayRebuildsPurgedStream(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 200)
	r := MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)

	ctx := context.Background()
	s, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	// A purge keeps the duplicate window: republishing into the same
	// stream would have every event dropped as a duplicate.
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	if st := r.Stats(); st.Rebuilds == 0 {
		t.Errorf("stats %+v: no rebuild", st)
	}
}

// TestRelayReplacesCopyOfAnotherHistory points a relay at a store whose
// history differs from what JetStream holds: the store wins.
func TestRelayReplacesCopyOfAnotherHistory(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	old := MustOpenStore(t)
	appendEvents(t, old, 120)
	r := MustStartRelay(t, old, url, fast())
	waitCopied(t, js, old, 30*time.Second)
	r.stop()

	store := MustOpenStore(t)
	appendEvents(t, store, 80)
	MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
}

// TestRelayRepairsForeignPublish has someone else publish into the events
// stream: the relay's next publish no longer lands on the sequence it
// expects, and the relay puts the stream back to a pure copy of the store.
// Depending on timing the relay meets the foreign message as the last one
// at its next start-up, or behind publishes of its own that were already
// in flight and landed one sequence late; both must end in a clean copy.
func TestRelayRepairsForeignPublish(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 60)
	MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)

	foreign := sampleEvent(7)
	foreign.Stream, foreign.Position = "item-外来", 1_000_000
	if _, err := js.PublishMsg(context.Background(), natsx.EncodeEvent(foreign, 60)); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, store, 20)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
}

func TestRelayLeaseOnePublisherAndTakeover(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	// A lease far longer than the wait for the takeover below: only a
	// holder that releases the lease on stopping lets the standby in in time.
	opts := fast()
	opts.LeaseTTL = 30 * time.Second
	a := MustStartRelay(t, store, url, opts)
	b := MustStartRelay(t, store, url, opts)

	stop := make(chan struct{})
	appended := appendUntil(t, store, stop)
	waitFor(t, 20*time.Second, "nothing published", func() bool { return a.Stats().Published+b.Stats().Published >= 500 })
	close(stop)
	<-appended
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)

	leader, standby := a, b
	if b.Stats().Leader {
		leader, standby = b, a
	}
	if !leader.Stats().Leader || standby.Stats().Leader {
		t.Fatalf("leaders: a %v, b %v", a.Stats().Leader, b.Stats().Leader)
	}
	if n := standby.Stats().Published; n != 0 {
		t.Errorf("standby published %d events", n)
	}

	// The holder stops (and releases): the standby takes over.
	leader.stop()
	waitFor(t, 10*time.Second, "standby does not take over", func() bool { return standby.Stats().Leader })
	appendEvents(t, store, 100)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	if n := standby.Stats().Published; n != 100 {
		t.Errorf("new holder published %d events, want 100", n)
	}
}

// TestRelayStandbyTakesOverFromDeadHolder cuts the holder off NATS, so it
// can neither refresh nor release the lease: the standby takes over once
// the key expires.
func TestRelayStandbyTakesOverFromDeadHolder(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 100)
	a := MustStartRelay(t, store, url, fast())
	waitFor(t, 10*time.Second, "a does not lead", func() bool { return a.Stats().Leader })
	b := MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)

	a.nc.Close()
	cut := time.Now()
	waitFor(t, 10*time.Second, "a still believes it leads", func() bool { return !a.Stats().Leader })
	waitFor(t, 10*time.Second, "b does not take over", func() bool { return b.Stats().Leader })
	if d := time.Since(cut); d < 500*time.Millisecond {
		t.Errorf("b took over %s after a was cut off, before a's lease could expire", d)
	}
	appendEvents(t, store, 100)
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	if n := b.Stats().Published; n != 100 {
		t.Errorf("b published %d events, want 100", n)
	}
}

// TestRelayStopsWhenLeaseTaken overwrites the lease: the holder's next
// refresh fails and it stops publishing; once the key is deleted it takes
// the lease again and publishes what arrived meanwhile.
func TestRelayStopsWhenLeaseTaken(t *testing.T) {
	store := MustOpenStore(t)
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	appendEvents(t, store, 50)
	r := MustStartRelay(t, store, url, fast())
	waitCopied(t, js, store, 30*time.Second)

	ctx := context.Background()
	kv, err := js.KeyValue(ctx, natsx.RelayLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	intruder := "intruder"
	if _, err := kv.PutString(ctx, natsx.RelayLeaseKey, intruder); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "relay keeps leading after losing the lease", func() bool {
		// Keep the intruder's key alive while waiting.
		if _, err := kv.PutString(ctx, natsx.RelayLeaseKey, intruder); err != nil {
			t.Fatal(err)
		}
		return !r.Stats().Leader
	})
	if st := r.Stats(); st.LastError == "" {
		t.Errorf("losing the lease left no error: %+v", st)
	}
	published := r.Stats().Published
	appendEvents(t, store, 30)

	if err := kv.Delete(ctx, natsx.RelayLeaseKey); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "relay does not take the deleted lease", func() bool { return r.Stats().Leader })
	waitCopied(t, js, store, 30*time.Second)
	checkCopy(t, js, store)
	if n := r.Stats().Published - published; n != 30 {
		t.Errorf("published %d after taking the lease back, want 30", n)
	}
}

func TestRelayRunRejectsMissingParts(t *testing.T) {
	err := relay.New(nil, nil, nil, relay.Options{}).Run(context.Background())
	if events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("error %v, want invalid", err)
	}
}

// BenchmarkRelay measures events/s from the store to JetStream's ack, the
// relay catching up on b.N stored events.
func BenchmarkRelay(b *testing.B) {
	store := MustOpenStore(b)
	ctx := context.Background()
	for done := 0; done < b.N; {
		k := min(100, b.N-done)
		evs := make([]events.Event, k)
		for i := range evs {
			evs[i] = sampleEvent(done + i)
		}
		if _, err := store.Append(ctx, fmt.Sprintf("item-%d", done%97), eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	head, err := store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	_, url := natstest.MustStartServer(b)
	b.ResetTimer()
	start := time.Now()
	r := MustStartRelay(b, store, url, relay.Options{})
	waitFor(b, 10*time.Minute, "relay did not catch up", func() bool { return r.Stats().LastPosition == head })
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
