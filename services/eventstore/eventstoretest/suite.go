// Package eventstoretest is the conformance suite every eventstore.Store
// implementation runs: expected-revision checks, stream and $all reads,
// metadata round trips, races on one stream and on many, idempotent retries,
// catch-up subscriptions across the history-to-live handover, and crashes of
// a writing child process.
//
// A store's test package calls Run from one test function:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, eventstoretest.Harness{Open: ..., DSN: ..., OpenDSN: ...})
//	}
//
// The crash test re-executes the test binary, selecting the test that
// called Run, with an environment variable that makes Run act as the
// writing child instead of running the suite, so no TestMain is needed.
//
// Besides what eventstore.Store documents, the suite pins down:
//   - an empty stream name, an event without id or without type is
//     CodeInvalid; one id twice in one append is CodeInvalid or
//     CodeConflict and stores nothing;
//   - AppendResult.Position is the position of the append's last event;
//   - Data reads back byte for byte, Time to the nanosecond (in any zone),
//     and every text field keeps its Chinese;
//   - reading an existing stream from past its end gives no events and no
//     error;
//   - for idempotency the content of an event is its type and data: a
//     retry that changes either is CodeConflict, while metadata (time,
//     actor, correlation) may differ between attempts;
//   - a subscription's Next returns an error once its ctx is done or the
//     subscription is closed;
//   - every event read back carries events.ChainHash of the previous
//     event's hash in its stream and itself, computed by the store at
//     append, whatever hash the appender passed; a retry keeps the first
//     attempt's hashes.
package eventstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

// Harness tells the suite how to reach the store under test.
type Harness struct {
	// Open returns a store for one subtest and registers its own
	// tb.Cleanup to close it. Unless Shared is set the store must be
	// empty.
	Open func(tb testing.TB) eventstore.Store

	// StreamPrefix is prepended to every stream name the suite uses. A
	// store on a shared server sets a value unique to the run so that runs
	// do not collide; the suite adds a random part per subtest as well.
	StreamPrefix string

	// Shared says that $all may hold events the suite did not write (an
	// EventStoreDB server keeps earlier runs and system events). The suite
	// then judges $all by its own streams only; otherwise it also checks
	// that $all holds exactly what it wrote and that a new store is empty.
	Shared bool

	// UniqueIDs says that an event id is unique across the whole store
	// forever, as in the embedded store's permanent index: reusing an id in
	// another stream is a conflict, and a retry is recognised whatever its
	// expected revision and however late it comes. EventStoreDB only
	// promises idempotence for a retry with the expected revision of the
	// first attempt, which the suite checks for every store.
	UniqueIDs bool

	// DSN returns the address of a fresh store that another process can
	// open with OpenDSN (a file path for the embedded store, a connection
	// string for a server). The crash test is skipped, saying so, when DSN
	// or OpenDSN is nil.
	DSN func(tb testing.TB) string

	// OpenDSN opens the store at dsn. The crash test calls it in the child
	// process and in the parent after each kill; the caller closes it.
	OpenDSN func(dsn string) (eventstore.Store, error)

	// CrashRounds is how many times the crash test kills its child; 0 means 4.
	CrashRounds int
}

// Run runs the conformance suite against the store h describes, each part
// as a subtest. In a child process started by the crash test it runs the
// child's writing loop instead and exits the process.
func Run(t *testing.T, h Harness) {
	if os.Getenv(envChild) != "" {
		runCrashChild(h)
		return
	}
	if h.Open == nil {
		t.Fatal("eventstoretest: Harness.Open is nil")
	}
	t.Run("invalid_arguments", func(t *testing.T) { testInvalid(t, h) })
	t.Run("expected", func(t *testing.T) { testExpected(t, h) })
	t.Run("read_stream", func(t *testing.T) { testReadStream(t, h) })
	t.Run("read_all", func(t *testing.T) { testReadAll(t, h) })
	t.Run("metadata_round_trip", func(t *testing.T) { testMetadata(t, h) })
	t.Run("idempotent_retry", func(t *testing.T) { testIdempotent(t, h) })
	t.Run("hash_chain", func(t *testing.T) { testHashChain(t, h) })
	t.Run("race_one_stream", func(t *testing.T) { testRaceOneStream(t, h) })
	t.Run("race_many_streams", func(t *testing.T) { testRaceManyStreams(t, h) })
	t.Run("subscribe", func(t *testing.T) { testSubscribe(t, h) })
	t.Run("subscribe_handover", func(t *testing.T) { testHandover(t, h) })
	runName := t.Name()
	t.Run("crash", func(t *testing.T) { testCrash(t, h, runName) })
}

// fixture is what one subtest works with: a store, a stream-name prefix no
// other subtest or run uses, and the position $all had when it started.
type fixture struct {
	tb   testing.TB
	h    Harness
	s    eventstore.Store
	ctx  context.Context
	ns   string
	base uint64
}

// newFixture opens a store for one subtest. On an unshared store it checks
// that the store starts empty.
func newFixture(tb testing.TB, h Harness) *fixture {
	tb.Helper()
	s := h.Open(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	f := &fixture{tb: tb, h: h, s: s, ctx: ctx, ns: h.StreamPrefix + randomTag() + "_"}
	head, err := s.Head(ctx)
	if err != nil {
		tb.Fatalf("head of a new store: %v", err)
	}
	if !h.Shared {
		if head != 0 {
			tb.Fatalf("head of a new store = %d, want 0", head)
		}
		all, err := s.ReadAll(ctx, 0, 0)
		if err != nil {
			tb.Fatalf("read all of a new store: %v", err)
		}
		if len(all) != 0 {
			tb.Fatalf("a new store holds %d events, want none", len(all))
		}
	}
	f.base = head
	return f
}

// stream returns the subtest's name for stream.
func (f *fixture) stream(name string) string { return f.ns + name }

// ours reports whether e was written by this subtest.
func (f *fixture) ours(e events.Event) bool { return strings.HasPrefix(e.Stream, f.ns) }

func (f *fixture) mustAppend(stream string, exp eventstore.Expected, evs ...events.Event) eventstore.AppendResult {
	f.tb.Helper()
	res, err := f.s.Append(f.ctx, stream, exp, evs...)
	if err != nil {
		f.tb.Fatalf("append %d events to %s expecting %v: %v", len(evs), stream, exp, err)
	}
	return res
}

func (f *fixture) mustReadStream(stream string, dir eventstore.Direction, from uint64, limit int) []events.Event {
	f.tb.Helper()
	evs, err := f.s.ReadStream(f.ctx, stream, dir, from, limit)
	if err != nil {
		f.tb.Fatalf("read %s dir %d from %d limit %d: %v", stream, dir, from, limit, err)
	}
	return evs
}

// mustReadOurs returns every event of this subtest in $all order, read in
// pages of pageSize (0: one read without a limit). It checks on the way
// that positions rise strictly, that no page is longer than asked, and, on
// an unshared store, that $all holds nothing else.
func (f *fixture) mustReadOurs(pageSize int) []events.Event {
	f.tb.Helper()
	return mustReadOursFrom(f.tb, f.ctx, f.s, f.base, f.ns, f.h.Shared, pageSize)
}

func mustReadOursFrom(tb testing.TB, ctx context.Context, s eventstore.Store, after uint64, ns string, shared bool, pageSize int) []events.Event {
	tb.Helper()
	var out []events.Event
	last := after
	for {
		page, err := s.ReadAll(ctx, last, pageSize)
		if err != nil {
			tb.Fatalf("read all after %d limit %d: %v", last, pageSize, err)
		}
		if pageSize > 0 && len(page) > pageSize {
			tb.Fatalf("read all after %d limit %d returned %d events", last, pageSize, len(page))
		}
		for _, e := range page {
			if e.Position <= last {
				tb.Fatalf("read all after %d: position %d (event %s) does not rise above %d", after, e.Position, e.ID, last)
			}
			last = e.Position
			if strings.HasPrefix(e.Stream, ns) {
				out = append(out, e)
			} else if !shared {
				tb.Fatalf("$all holds event %s of stream %q that the suite did not write", e.ID, e.Stream)
			}
		}
		if pageSize <= 0 || len(page) < pageSize {
			return out
		}
	}
}

// newEvent returns an event with a fresh UUID id, every metadata field set
// and a payload in Chinese.
func newEvent(typ, title string) events.Event {
	data, err := json.Marshal(map[string]string{"title": title})
	if err != nil {
		panic(err)
	}
	return events.Event{
		ID:            uuid.NewString(),
		Type:          typ,
		Version:       1,
		Time:          time.Now(),
		Actor:         "user:王五",
		CorrelationID: "req-" + randomTag(),
		CausationID:   "cmd-" + randomTag(),
		Data:          data,
	}
}

// newEvents returns n events of typ titled prefix-0 .. prefix-(n-1).
func newEvents(n int, typ, prefix string) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = newEvent(typ, fmt.Sprintf("%s-%d", prefix, i))
	}
	return evs
}

const (
	typeRaised   = "rectify.item.raised"
	typeAssigned = "rectify.item.assigned"
	typeLogged   = "rectify.commitment.activity_logged"
)

// checkSame fails tb unless got carries exactly what want was appended with.
func checkSame(tb testing.TB, where string, want, got events.Event) {
	tb.Helper()
	switch {
	case got.ID != want.ID:
		tb.Errorf("%s: id = %q, want %q", where, got.ID, want.ID)
	case got.Type != want.Type:
		tb.Errorf("%s: event %s type = %q, want %q", where, want.ID, got.Type, want.Type)
	case got.Version != want.Version:
		tb.Errorf("%s: event %s version = %d, want %d", where, want.ID, got.Version, want.Version)
	case !got.Time.Equal(want.Time):
		tb.Errorf("%s: event %s time = %s, want %s", where, want.ID, got.Time.Format(time.RFC3339Nano), want.Time.Format(time.RFC3339Nano))
	case got.Actor != want.Actor:
		tb.Errorf("%s: event %s actor = %q, want %q", where, want.ID, got.Actor, want.Actor)
	case got.CorrelationID != want.CorrelationID:
		tb.Errorf("%s: event %s correlation id = %q, want %q", where, want.ID, got.CorrelationID, want.CorrelationID)
	case got.CausationID != want.CausationID:
		tb.Errorf("%s: event %s causation id = %q, want %q", where, want.ID, got.CausationID, want.CausationID)
	case !bytes.Equal(got.Data, want.Data):
		tb.Errorf("%s: event %s data = %s, want %s", where, want.ID, got.Data, want.Data)
	}
}

// checkStored fails tb unless got is want as stored in stream at revision
// rev with a position above zero and a hash.
func checkStored(tb testing.TB, where string, want events.Event, stream string, rev uint64, got events.Event) {
	tb.Helper()
	checkSame(tb, where, want, got)
	if got.Stream != stream || got.Revision != rev {
		tb.Errorf("%s: event %s is at %s@%d, want %s@%d", where, want.ID, got.Stream, got.Revision, stream, rev)
	}
	if got.Position == 0 {
		tb.Errorf("%s: event %s has position 0", where, want.ID)
	}
	if !events.ValidSHA256(got.Hash) {
		tb.Errorf("%s: event %s has hash %q, want 64 lowercase hex digits", where, want.ID, got.Hash)
	}
}

// wantCode fails tb unless err is an *events.Error with code.
func wantCode(tb testing.TB, what string, err error, code events.Code) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: no error, want %s", what, code)
	}
	var e *events.Error
	if !errors.As(err, &e) {
		tb.Fatalf("%s: error %v (%T) is not an *events.Error", what, err, err)
	}
	if !errors.Is(err, &events.Error{Code: code}) {
		tb.Fatalf("%s: code %s (%v), want %s", what, events.ErrorCode(err), err, code)
	}
}

func randomTag() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// fromEnd is the revision that reads a stream backwards from its last event.
const fromEnd = math.MaxUint64
