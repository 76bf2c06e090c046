package projectiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"rectify/projections"
	"rectify/projections/query"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

// The child process of TestRunnerKilledMidBatchResumes runs consumers
// until it is killed; these variables tell it where everything is.
const (
	childEnv   = "PROJECTIONTEST_CHILD"
	childStore = "PROJECTIONTEST_STORE"
	childDir   = "PROJECTIONTEST_DIR"
	childNATS  = "PROJECTIONTEST_NATS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild consumes into the tally and ledger views of replica "k" until
// the process is killed.
func runChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx := context.Background()
	store, err := embedded.Open(os.Getenv(childStore), embedded.Options{ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	nc, err := natsx.Connect(ctx, os.Getenv(childNATS), "projectiontest-child")
	if err != nil {
		return fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	for _, p := range []projections.Projection{tally{}, projections.Ledger{}} {
		r, err := projections.Open(ctx, p, projections.Options{Dir: os.Getenv(childDir), Replica: "k", Source: store})
		if err != nil {
			return fail(err)
		}
		go r.Consume(ctx, js, projections.ConsumeOptions{Batch: 50})
	}
	select {}
}

// TestRedeliveryIsExactlyOnce makes JetStream redeliver what the runners
// applied: their acknowledgements are swallowed while events flow, so the
// server sends every message again once its ack wait runs out. The views
// must skip every redelivery: each stream counted exactly once, and views
// equal to a fresh build from the store.
func TestRedeliveryIsExactlyOnce(t *testing.T) {
	evs := historyEvents(history(1))
	store := MustOpenStore(t)
	half := part(evs, 0.5)
	mustLoad(t, store, evs[:half])
	p := MustStartPipeline(t, store)
	dir := t.TempDir()
	counts := MustOpenRunner(t, tally{}, dir, "r", store)
	ledger := MustOpenRunner(t, projections.Ledger{}, dir, "r", store)

	// A short ack wait, so that redeliveries come quickly.
	opts := projections.ConsumeOptions{Batch: 100, AckWait: 300 * time.Millisecond}
	drop := dropAcks{JetStream: p.js, drop: new(atomic.Bool), dropped: new(atomic.Int64)}
	drop.drop.Store(true)
	consume(t, counts, drop, opts)
	consume(t, ledger, drop, opts)
	a := startAppending(t, store, evs[half:])
	waitFor(t, 10*time.Second, "the runners to create their consumers", func() bool {
		for _, r := range []*projections.Runner{counts, ledger} {
			if _, err := p.js.Consumer(context.Background(), natsx.EventsStream, projections.ConsumerName(r.Name(), r.Replica())); err != nil {
				return false
			}
		}
		return true
	})

	waitFor(t, time.Minute, "JetStream to redeliver applied events", func() bool {
		return consumerInfo(t, p.js, counts).NumRedelivered >= half/2 && consumerInfo(t, p.js, ledger).NumRedelivered >= half/2
	})
	drop.drop.Store(false)
	a.Wait(t)
	waitCaughtUp(t, store, time.Minute, counts, ledger)
	for _, r := range []*projections.Runner{counts, ledger} {
		waitFor(t, 10*time.Second, "every message to be acknowledged", func() bool {
			return consumerInfo(t, p.js, r).NumAckPending == 0
		})
		if r.Stats().Skipped == 0 {
			t.Errorf("%s skipped no redelivered event", r.Name())
		}
	}
	checkExactCounts(t, store, counts)
	checkSameAsFresh(t, store, counts, ledger)
	t.Logf("%d acks dropped; skipped %d (tally), %d (ledger)", drop.dropped.Load(), counts.Stats().Skipped, ledger.Stats().Skipped)
}

// TestRunnerKilledMidBatchResumes runs the runners in a child process and
// kills it with SIGKILL four times while events are appended, each time
// with messages delivered to it and not yet acknowledged; then runners
// reopened on the same files must finish the job with no event lost or
// counted twice.
func TestRunnerKilledMidBatchResumes(t *testing.T) {
	evs := historyEvents(history(2))
	store := MustOpenStore(t)
	mustLoad(t, store, evs[:part(evs, 0.25)])
	p := MustStartPipeline(t, store)
	dir := t.TempDir()
	a := startAppending(t, store, evs[part(evs, 0.25):])

	ctx := context.Background()
	ackFloor := func(name string) (floor uint64, pending int) {
		c, err := p.js.Consumer(ctx, natsx.EventsStream, projections.ConsumerName(name, "k"))
		if err != nil {
			return 0, 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, 0
		}
		return info.AckFloor.Stream, info.NumAckPending
	}
	midBatch := 0
	for kill := range 4 {
		before, _ := ackFloor("ledger")
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childStore+"="+store.Path(), childDir+"="+dir, childNATS+"="+p.nats.URL)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it apply a few batches of fresh events, then kill it.
		waitFor(t, time.Minute, fmt.Sprintf("child %d to make progress", kill), func() bool {
			floor, _ := ackFloor("ledger")
			tf, _ := ackFloor("tally")
			return floor >= before+uint64(len(evs)/60) && tf > 0
		})
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if _, pending := ackFloor("ledger"); pending > 0 {
			midBatch++
		}
	}
	if midBatch == 0 {
		t.Errorf("no kill left messages delivered and unacknowledged")
	}
	n := a.Wait(t)

	counts := MustOpenRunner(t, tally{}, dir, "k", store)
	ledger := MustOpenRunner(t, projections.Ledger{}, dir, "k", store)
	if counts.Position() == 0 || ledger.Position() == 0 {
		t.Fatalf("the child left no checkpoint: tally %d, ledger %d", counts.Position(), ledger.Position())
	}
	consume(t, counts, p.js, projections.ConsumeOptions{Batch: 50})
	consume(t, ledger, p.js, projections.ConsumeOptions{Batch: 50})
	waitCaughtUp(t, store, time.Minute, counts, ledger)
	checkExactCounts(t, store, counts)
	checkSameAsFresh(t, store, counts, ledger)
	t.Logf("%d events appended during 4 kills, %d of them mid-batch", n, midBatch)
}

// TestNATSRestartUnderLoad restarts the NATS server three times while
// events are appended and the views consume; once the appends stop, the
// views must reach the store's head and equal a fresh build.
func TestNATSRestartUnderLoad(t *testing.T) {
	evs := historyEvents(history(3))
	store := MustOpenStore(t)
	mustLoad(t, store, evs[:part(evs, 0.25)])
	p := MustStartPipeline(t, store)
	dir := t.TempDir()
	counts := MustOpenRunner(t, tally{}, dir, "r", store)
	ledger := MustOpenRunner(t, projections.Ledger{}, dir, "r", store)
	consume(t, counts, p.js, projections.ConsumeOptions{})
	consume(t, ledger, p.js, projections.ConsumeOptions{})
	a := startAppending(t, store, evs[part(evs, 0.25):])

	for i := range 3 {
		before := ledger.Position()
		waitFor(t, time.Minute, fmt.Sprintf("the views to move before restart %d", i+1), func() bool {
			return ledger.Position() > before+uint64(len(evs)/30) && counts.Position() > before
		})
		p.nats.MustRestart(t)
	}
	n := a.Wait(t)
	waitCaughtUp(t, store, 2*time.Minute, counts, ledger)
	checkExactCounts(t, store, counts)
	checkSameAsFresh(t, store, counts, ledger)
	if st := p.relay.Stats(); st.Restarts == 0 {
		t.Errorf("the relay never restarted: %+v", st)
	}
	t.Logf("%d events appended across 3 restarts; relay %+v", n, p.relay.Stats())
}

// TestDeletedStreamReseeded deletes the JetStream stream, consumers and
// all. The relay publishes the store again; a runner consuming throughout
// recovers, and a runner that was stopped meanwhile gets a new consumer
// that starts right after its checkpoint, found by binary search over the
// reseeded stream, so that it is sent nothing it has applied.
func TestDeletedStreamReseeded(t *testing.T) {
	evs := historyEvents(history(4))
	store := MustOpenStore(t)
	mustLoad(t, store, evs[:part(evs, 0.5)])
	p := MustStartPipeline(t, store)
	dirA, dirB := t.TempDir(), t.TempDir()
	countsA := MustOpenRunner(t, tally{}, dirA, "a", store)
	ledgerA := MustOpenRunner(t, projections.Ledger{}, dirA, "a", store)
	countsB := MustOpenRunner(t, tally{}, dirB, "b", store)
	consume(t, countsA, p.js, projections.ConsumeOptions{})
	consume(t, ledgerA, p.js, projections.ConsumeOptions{})
	stopB := consume(t, countsB, p.js, projections.ConsumeOptions{})
	waitCaughtUp(t, store, time.Minute, countsA, ledgerA, countsB)
	stopB()
	checkpointB := countsB.Position()
	skippedB := countsB.Stats().Skipped

	mustLoad(t, store, evs[part(evs, 0.5):part(evs, 0.6)])
	waitCaughtUp(t, store, time.Minute, countsA, ledgerA)
	ctx := context.Background()
	if err := p.js.DeleteStream(ctx, natsx.EventsStream); err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(ctx)
	waitFor(t, time.Minute, "the relay to publish the store again", func() bool {
		s, err := p.js.Stream(ctx, natsx.EventsStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == head
	})
	mustLoad(t, store, evs[part(evs, 0.6):part(evs, 0.7)])

	consume(t, countsB, p.js, projections.ConsumeOptions{})
	waitCaughtUp(t, store, time.Minute, countsA, ledgerA, countsB)
	info := consumerInfo(t, p.js, countsB)
	stream, err := p.js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	positionAt := func(seq uint64) uint64 {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		pos, _, err := natsx.HeaderPositions(m.Header)
		if err != nil {
			t.Fatal(err)
		}
		return pos
	}
	start := info.Config.OptStartSeq
	if start < 2 || positionAt(start) <= checkpointB || positionAt(start-1) > checkpointB {
		t.Errorf("b's new consumer starts at sequence %d (%s); its checkpoint was %d", start, info.Config.DeliverPolicy, checkpointB)
	}
	if got := countsB.Stats().Skipped; got != skippedB {
		t.Errorf("b was sent %d events it had applied", got-skippedB)
	}
	checkExactCounts(t, store, countsA)
	checkExactCounts(t, store, countsB)
	checkSameAsFresh(t, store, countsA, ledgerA, countsB)
}

// TestRebuildMatchesIncrementalBuild builds every view incrementally from
// JetStream, in small batches, over a generated history of 100,000 events
// (bigHistory),
// then rebuilds each from the store in large ones (alone, and all at once
// from one read): the digests must agree.
func TestRebuildMatchesIncrementalBuild(t *testing.T) {
	cfg := bigHistory()
	store := MustOpenStore(t)
	ctx := context.Background()
	if _, err := gen.Load(ctx, store, cfg, nil); err != nil {
		t.Fatal(err)
	}
	p := MustStartPipeline(t, store)
	dir := t.TempDir()
	views := []projections.Projection{projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{}, projections.Assessments{}}
	var runners []*projections.Runner
	for _, v := range views {
		r := MustOpenRunner(t, v, dir, "inc", store)
		consume(t, r, p.js, projections.ConsumeOptions{Batch: 200})
		runners = append(runners, r)
	}
	waitCaughtUp(t, store, 5*time.Minute, runners...)
	incremental := map[string]string{}
	for _, r := range runners {
		incremental[r.Name()] = mustDigest(t, r)
	}

	var fresh []*projections.Runner
	for _, v := range views {
		fresh = append(fresh, MustOpenRunner(t, v, t.TempDir(), "all", store))
	}
	if _, err := projections.RebuildAll(ctx, fresh, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range fresh {
		if got := mustDigest(t, r); got != incremental[r.Name()] {
			t.Errorf("%s: rebuilt with the others from one read: %s, built incrementally: %s", r.Name(), got, incremental[r.Name()])
		}
	}
	// The live runner rebuilds beside its live view and swaps.
	r := runners[0]
	st, err := r.Rebuild(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(ctx)
	if st.Position != head || st.Events != int(head) {
		t.Errorf("rebuild of %s: %+v, want %d events up to %d", r.Name(), st, head, head)
	}
	if got := mustDigest(t, r); got != incremental[r.Name()] {
		t.Errorf("%s rebuilt in place: %s, built incrementally: %s", r.Name(), got, incremental[r.Name()])
	}
	t.Logf("%d events; %d views agree", head, len(views))
}

// TestReplicasAnswerThroughQueueGroup serves the ledger from two replicas,
// each with its own database, consumer and NATS connection, in the query
// queue group: both answer, a query that asks for a position it just wrote
// sees it, and when one replica stops the other answers everything.
func TestReplicasAnswerThroughQueueGroup(t *testing.T) {
	evs := historyEvents(history(5))
	store := MustOpenStore(t)
	mustLoad(t, store, evs[:len(evs)-1])
	p := MustStartPipeline(t, store)
	type replica struct {
		r    *projections.Runner
		stop context.CancelFunc
		done chan struct{}
	}
	var replicas []*replica
	for _, name := range []string{"a", "b"} {
		r := MustOpenRunner(t, projections.Ledger{}, t.TempDir(), name, store)
		consume(t, r, p.js, projections.ConsumeOptions{})
		nc, _ := natstest.MustConnect(t, p.nats.URL)
		ctx, cancel := context.WithCancel(context.Background())
		rep := &replica{r: r, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(rep.done)
			if err := projections.ServeQueries(ctx, nc, []*projections.Runner{r}, projections.ServeOptions{}); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { cancel(); <-rep.done })
		replicas = append(replicas, rep)
	}
	waitCaughtUp(t, store, time.Minute, replicas[0].r, replicas[1].r)
	waitFor(t, 10*time.Second, "both replicas to answer pings", func() bool { return len(serviceStats(t, p.nc, 2)) == 2 })

	ask := func(minPos uint64) query.Response {
		t.Helper()
		b, _ := json.Marshal(query.Request{MinPosition: minPos, Scope: query.Scope{All: true}})
		msg, err := p.nc.Request(natsx.QuerySubject("ledger", "cycles"), b, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var resp query.Response
		if err := natsx.DecodeQueryReply(msg, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Error != nil {
			t.Fatalf("query failed: %v", resp.Error)
		}
		if !strings.Contains(string(resp.Data), "年度抓基层党建工作述职评议") {
			t.Fatalf("cycles answer lacks the cycle names: %s", resp.Data)
		}
		return resp
	}
	for range 100 {
		ask(0)
	}
	stats := serviceStats(t, p.nc, 2)
	if len(stats) != 2 {
		t.Fatalf("%d replicas report stats, want 2", len(stats))
	}
	for id, n := range stats {
		if n == 0 {
			t.Errorf("replica %s answered nothing of 100 queries: %v", id, stats)
		}
	}

	// Read your writes: a query waits until the replica it reaches has
	// applied the position the write returned.
	mustLoad(t, store, evs[len(evs)-1:])
	pos, _ := store.Head(context.Background())
	if resp := ask(pos); resp.Position < pos {
		t.Errorf("answer at position %d, asked for at least %d", resp.Position, pos)
	}

	replicas[0].stop()
	<-replicas[0].done
	waitFor(t, 10*time.Second, "the stopped replica to leave", func() bool { return len(serviceStats(t, p.nc, 1)) == 1 })
	before := serviceStats(t, p.nc, 1)
	for range 50 {
		ask(0)
	}
	after := serviceStats(t, p.nc, 1)
	for id, n := range after {
		if n-before[id] != 50 {
			t.Errorf("the remaining replica %s answered %d of 50 queries", id, n-before[id])
		}
	}
}

// serviceStats asks every instance of the query service for its stats and
// returns the requests each has handled, by instance id, once want
// instances answered or a second passed.
func serviceStats(t *testing.T, nc *nats.Conn, want int) map[string]int {
	t.Helper()
	subject, err := micro.ControlSubject(micro.StatsVerb, natsx.QueryService, "")
	if err != nil {
		t.Fatal(err)
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	deadline := time.Now().Add(time.Second)
	for len(out) < want || time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var st micro.Stats
		if err := json.Unmarshal(msg.Data, &st); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range st.Endpoints {
			n += e.NumRequests
		}
		out[st.ID] = n
		if len(out) >= want {
			// Others would have answered by now if they were there.
			deadline = time.Now().Add(100 * time.Millisecond)
		}
	}
	return out
}

// bigHistory is the history of TestRebuildMatchesIncrementalBuild:
// 100,000 events, 10,000 items over 100 units, with or without the race
// detector.
func bigHistory() gen.Config {
	return gen.Config{Seed: 2024, Units: 100, Items: 10_000, Events: 100_000}
}
