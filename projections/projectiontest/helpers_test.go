package projectiontest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/projections"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
	"rectify/services/relay"
)

// tally counts the events of each stream and remembers the last revision
// it applied: the smallest view in which a double count, a loss or a
// reordering shows.
type tally struct{}

func (tally) Name() string { return "tally" }

func (tally) Migrate(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE tally (
		stream TEXT PRIMARY KEY, n INTEGER NOT NULL, last_revision INTEGER NOT NULL, last_type TEXT NOT NULL)`)
	return err
}

func (tally) Apply(ctx context.Context, tx *projections.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `INSERT INTO tally VALUES (?, 1, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET n = n + 1, last_revision = excluded.last_revision, last_type = excluded.last_type`,
		e.Stream, e.Revision, e.Type)
	return err
}

func (tally) DigestQueries() []string {
	return []string{`SELECT stream, n, last_revision, last_type FROM tally ORDER BY stream`}
}

// history is the generated history most tests run on: a small
// organisation with a few hundred items (a hundred under the race
// detector, which slows SQLite down about tenfold). Tests load a part of
// it at once and append the rest one event at a time.
func history(seed uint64) gen.Config {
	if raceEnabled {
		return gen.Config{Seed: seed, Units: 30, Items: 100, Commitments: 20, Events: 1500}
	}
	return gen.Config{Seed: seed, Units: 30, Items: 400, Commitments: 40, Events: 6000}
}

// part returns the index a fraction of the way into evs.
func part(evs []events.Event, fraction float64) int { return int(float64(len(evs)) * fraction) }

func historyEvents(cfg gen.Config) []events.Event {
	var out []events.Event
	for e := range gen.History(cfg) {
		out = append(out, e)
	}
	return out
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

// mustLoad appends evs, a prefix of a generated history, to store.
func mustLoad(tb testing.TB, store eventstore.Store, evs []events.Event) {
	tb.Helper()
	seq := func(yield func(events.Event) bool) {
		for _, e := range evs {
			if !yield(e) {
				return
			}
		}
	}
	if _, err := gen.AppendAll(context.Background(), store, seq, nil); err != nil {
		tb.Fatal(err)
	}
}

// MustOpenRunner opens a runner of p in dir, closed at cleanup.
func MustOpenRunner(tb testing.TB, p projections.Projection, dir, replica string, src projections.Source) *projections.Runner {
	tb.Helper()
	r, err := projections.Open(context.Background(), p, projections.Options{Dir: dir, Replica: replica, Source: src})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// pipeline is the store's copy in JetStream, kept by a running relay, on a
// server that can be restarted.
type pipeline struct {
	store *embedded.Store
	nats  *natstest.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	relay *relay.Relay
}

// relayOptions make the relay notice a deleted stream and retry quickly.
func relayOptions() relay.Options {
	return relay.Options{
		LeaseTTL:      time.Second,
		LeasePoll:     50 * time.Millisecond,
		CheckInterval: 100 * time.Millisecond,
		AckTimeout:    2 * time.Second,
		RetryMax:      300 * time.Millisecond,
	}
}

// MustStartPipeline starts a NATS server and a relay copying store into
// it; both stop at cleanup.
func MustStartPipeline(tb testing.TB, store *embedded.Store) *pipeline {
	tb.Helper()
	p := &pipeline{store: store, nats: natstest.MustStartRestartable(tb)}
	p.nc, p.js = natstest.MustConnect(tb, p.nats.URL)
	p.relay = relay.New(store, p.js, p.nc, relayOptions())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.relay.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return p
}

// consume runs r.Consume on js until the returned stop is called (also at
// cleanup); stop waits for Consume to return.
func consume(tb testing.TB, r *projections.Runner, js jetstream.JetStream, opts projections.ConsumeOptions) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Consume(ctx, js, opts)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	tb.Cleanup(stop)
	return stop
}

// waitCaughtUp waits until every runner has applied the store's last event.
func waitCaughtUp(tb testing.TB, store eventstore.Store, timeout time.Duration, runners ...*projections.Runner) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	head, err := store.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range runners {
		if err := r.WaitFor(ctx, head); err != nil {
			tb.Fatalf("%s/%s did not reach %d within %s: %v; stats %+v", r.Name(), r.Replica(), head, timeout, err, r.Stats())
		}
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// freshDigest builds p from the store in a new database and returns its
// digest: what an incrementally built view must equal.
func freshDigest(tb testing.TB, p projections.Projection, store eventstore.Store) string {
	tb.Helper()
	r := MustOpenRunner(tb, p, tb.TempDir(), "fresh", store)
	if _, err := r.Rebuild(context.Background(), nil); err != nil {
		tb.Fatal(err)
	}
	return mustDigest(tb, r)
}

func mustDigest(tb testing.TB, r *projections.Runner) string {
	tb.Helper()
	d, err := r.Digest(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// checkSameAsFresh fails tb unless each runner's view equals one built
// afresh from the store.
func checkSameAsFresh(tb testing.TB, store eventstore.Store, runners ...*projections.Runner) {
	tb.Helper()
	for _, r := range runners {
		p := viewOf(tb, r.Name())
		if got, want := mustDigest(tb, r), freshDigest(tb, p, store); got != want {
			tb.Errorf("%s/%s: digest %s, a fresh build from the store gives %s", r.Name(), r.Replica(), got, want)
		}
	}
}

func viewOf(tb testing.TB, name string) projections.Projection {
	tb.Helper()
	for _, p := range []projections.Projection{tally{}, projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{}} {
		if p.Name() == name {
			return p
		}
	}
	tb.Fatalf("no view %s", name)
	return nil
}

// checkExactCounts fails tb unless a tally runner counted every stream of
// the store exactly once per event.
func checkExactCounts(tb testing.TB, store eventstore.Store, r *projections.Runner) {
	tb.Helper()
	ctx := context.Background()
	all, err := store.ReadAll(ctx, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	want := map[string]int{}
	for _, e := range all {
		want[e.Stream]++
	}
	got := map[string]int{}
	err = r.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
		rows, err := db.QueryContext(ctx, `SELECT stream, n FROM tally`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				return err
			}
			got[s] = n
		}
		return rows.Err()
	})
	if err != nil {
		tb.Fatal(err)
	}
	bad := 0
	for s, n := range want {
		if got[s] != n {
			bad++
			if bad <= 5 {
				tb.Errorf("%s: counted %d events, the store holds %d", s, got[s], n)
			}
		}
	}
	for s := range got {
		if _, ok := want[s]; !ok {
			tb.Errorf("counted stream %s the store does not hold", s)
		}
	}
	if bad > 5 {
		tb.Errorf("... %d streams counted wrong in all", bad)
	}
}

// appender appends events one at a time, in order, each expecting its
// stream at the revision before, as a stream of commands would.
type appender struct {
	n    atomic.Int64
	stop chan struct{}
	done chan error
}

// startAppending appends evs in the background until they run out or stop
// is called.
func startAppending(tb testing.TB, store eventstore.Store, evs []events.Event) *appender {
	tb.Helper()
	a := &appender{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		ctx := context.Background()
		for _, e := range evs {
			select {
			case <-a.stop:
				a.done <- nil
				return
			default:
			}
			expected := eventstore.NoStream
			if e.Revision > 0 {
				expected = eventstore.Exact(e.Revision - 1)
			}
			if _, err := store.Append(ctx, e.Stream, expected, e); err != nil {
				a.done <- fmt.Errorf("append %s rev %d: %w", e.Stream, e.Revision, err)
				return
			}
			a.n.Add(1)
		}
		a.done <- nil
	}()
	tb.Cleanup(func() { a.Stop(tb) })
	return a
}

// Stop stops appending and returns how many events were appended.
func (a *appender) Stop(tb testing.TB) int {
	tb.Helper()
	select {
	case <-a.stop:
	default:
		close(a.stop)
		if err := <-a.done; err != nil {
			tb.Error(err)
		}
	}
	return int(a.n.Load())
}

// Wait waits until every event is appended.
func (a *appender) Wait(tb testing.TB) int {
	tb.Helper()
	select {
	case <-a.stop:
	default:
		if err := <-a.done; err != nil {
			tb.Error(err)
		}
		close(a.stop)
	}
	return int(a.n.Load())
}

// consumerInfo returns the info of a runner's durable consumer.
func consumerInfo(tb testing.TB, js jetstream.JetStream, r *projections.Runner) *jetstream.ConsumerInfo {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, natsx.EventsStream, projections.ConsumerName(r.Name(), r.Replica()))
	if err != nil {
		tb.Fatalf("consumer of %s/%s: %v", r.Name(), r.Replica(), err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info
}

// dropAcks wraps a real JetStream client so that, while drop is set, the
// acknowledgements of the messages it delivers are swallowed instead of
// sent: the server then sees a consumer that applied messages but never
// acknowledged them, as after a crash between commit and ack, and
// redelivers them when their ack wait runs out.
type dropAcks struct {
	jetstream.JetStream
	drop    *atomic.Bool
	dropped *atomic.Int64
}

func (d dropAcks) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := d.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return dropStream{s, d}, nil
}

type dropStream struct {
	jetstream.Stream
	d dropAcks
}

func (s dropStream) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	c, err := s.Stream.Consumer(ctx, name)
	if err != nil {
		return nil, err
	}
	return dropConsumer{c, s.d}, nil
}

func (s dropStream) CreateOrUpdateConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return dropConsumer{c, s.d}, nil
}

type dropConsumer struct {
	jetstream.Consumer
	d dropAcks
}

func (c dropConsumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	it, err := c.Consumer.Messages(opts...)
	if err != nil {
		return nil, err
	}
	return dropIter{it, c.d}, nil
}

type dropIter struct {
	jetstream.MessagesContext
	d dropAcks
}

func (it dropIter) Next(opts ...jetstream.NextOpt) (jetstream.Msg, error) {
	m, err := it.MessagesContext.Next(opts...)
	if err != nil {
		return m, err
	}
	return dropMsg{m, it.d}, nil
}

type dropMsg struct {
	jetstream.Msg
	d dropAcks
}

func (m dropMsg) Ack() error {
	if m.d.drop.Load() {
		m.d.dropped.Add(1)
		return nil
	}
	return m.Msg.Ack()
}
