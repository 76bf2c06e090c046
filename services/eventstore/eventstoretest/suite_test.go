package eventstoretest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/eventstore/eventstoretest"
)

// The suite is only worth running if it fails a store that is wrong. Each
// mutant below is the embedded store with one defect a real store could
// have; the suite must fail the part that covers it. Each mutant runs in a
// child process (TestMutantHost) because a failing suite fails its test.

const envMutant = "RECTIFY_STORETEST_MUTANT"

type mutant struct {
	defect  string // what is wrong with the store
	subtest string // the part of the suite that must fail
	says    string // what its failure message must contain
	wrap    func(eventstore.Store) eventstore.Store
}

var mutants = map[string]mutant{
	"ignores_expected_revision": {"appends whatever the expected revision", "expected", "no error, want conflict",
		func(s eventstore.Store) eventstore.Store { return anyExpected{s} }},
	"reports_wrong_position": {"reports the position before the last event written", "read_all", "result position",
		func(s eventstore.Store) eventstore.Store { return offByOne{s} }},
	"drops_causation": {"loses the causation id on reads", "metadata_round_trip", "causation id",
		func(s eventstore.Store) eventstore.Store { return noCausation{s} }},
	"drops_subscription_events": {"skips one delivered event in 97", "subscribe_handover", "subscription from the",
		func(s eventstore.Store) eventstore.Store { return lossySubs{Store: s, every: 97} }},
	"repeats_subscription_events": {"delivers one event in 89 twice", "subscribe_handover", "subscription from the",
		func(s eventstore.Store) eventstore.Store { return lossySubs{Store: s, every: 89, repeat: true} }},
	"splits_batches": {"writes a batch as separate appends", "crash", "is not stored right after",
		func(s eventstore.Store) eventstore.Store { return splitBatches{s} }},
	"unchained_hashes": {"hashes each event without the one before it", "hash_chain", "chained to revision",
		func(s eventstore.Store) eventstore.Store { return unchainedHashes{s} }},
}

// TestMutantHost runs the suite against the mutant named in envMutant. It
// only runs as the child of TestSuiteFailsBrokenStores.
func TestMutantHost(t *testing.T) {
	name := os.Getenv(envMutant)
	if name == "" {
		t.Skip("helper, not a test of its own: TestSuiteFailsBrokenStores re-executes the test binary into it with " + envMutant + " naming a broken store")
	}
	m, ok := mutants[name]
	if !ok {
		t.Fatalf("no mutant %q", name)
	}
	eventstoretest.Run(t, eventstoretest.Harness{
		Open: func(tb testing.TB) eventstore.Store {
			path := filepath.Join(tb.TempDir(), "events.db")
			s, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				tb.Fatalf("open %s: %v", path, err)
			}
			tb.Cleanup(func() { s.Close() })
			return m.wrap(s)
		},
		UniqueIDs: true,
		DSN:       func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "crash.db") },
		OpenDSN: func(dsn string) (eventstore.Store, error) {
			s, err := embedded.Open(dsn, embedded.Options{})
			if err != nil {
				return nil, err
			}
			return m.wrap(s), nil
		},
	})
}

func TestSuiteFailsBrokenStores(t *testing.T) {
	if os.Getenv(envMutant) != "" {
		t.Skip("this process is a mutant child (" + envMutant + " is set): only TestMutantHost runs here, to keep children from spawning children")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantHost$/^"+m.subtest+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), envMutant+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that %s:\n%s", m.defect, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutantHost/"+m.subtest) || !strings.Contains(string(out), m.says) {
				t.Fatalf("a store that %s did not fail %s saying %q (%v):\n%s", m.defect, m.subtest, m.says, err, out)
			}
		})
	}
}

type anyExpected struct{ eventstore.Store }

func (s anyExpected) Append(ctx context.Context, stream string, _ eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	return s.Store.Append(ctx, stream, eventstore.Any, evs...)
}

type offByOne struct{ eventstore.Store }

func (s offByOne) Append(ctx context.Context, stream string, exp eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	res, err := s.Store.Append(ctx, stream, exp, evs...)
	if err == nil && res.Position > 1 {
		res.Position--
	}
	return res, err
}

type noCausation struct{ eventstore.Store }

func (s noCausation) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]events.Event, error) {
	evs, err := s.Store.ReadStream(ctx, stream, dir, from, limit)
	for i := range evs {
		evs[i].CausationID = ""
	}
	return evs, err
}

type lossySubs struct {
	eventstore.Store
	every  int
	repeat bool
}

func (s lossySubs) Subscribe(ctx context.Context, after uint64, f eventstore.Filter) (eventstore.Subscription, error) {
	sub, err := s.Store.Subscribe(ctx, after, f)
	if err != nil {
		return nil, err
	}
	return &lossySub{Subscription: sub, every: s.every, repeat: s.repeat}, nil
}

type lossySub struct {
	eventstore.Subscription
	every  int
	repeat bool
	n      atomic.Int64
	again  *events.Event
}

func (s *lossySub) Next(ctx context.Context) (events.Event, error) {
	if s.again != nil {
		e := *s.again
		s.again = nil
		return e, nil
	}
	e, err := s.Subscription.Next(ctx)
	if err != nil || s.n.Add(1)%int64(s.every) != 0 {
		return e, err
	}
	if s.repeat {
		s.again = &e
		return e, nil
	}
	return s.Subscription.Next(ctx)
}

type splitBatches struct{ eventstore.Store }

func (s splitBatches) Append(ctx context.Context, stream string, exp eventstore.Expected, evs ...events.Event) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	for _, e := range evs {
		var err error
		if res, err = s.Store.Append(ctx, stream, exp, e); err != nil {
			return res, err
		}
		exp = eventstore.Any
	}
	return res, nil
}

// unchainedHashes reads every event back with a hash of its own that does
// not chain to the event before it, as a store that forgot the previous
// hash would have written.
type unchainedHashes struct{ eventstore.Store }

func (s unchainedHashes) ReadAll(ctx context.Context, after uint64, limit int) ([]events.Event, error) {
	evs, err := s.Store.ReadAll(ctx, after, limit)
	for i := range evs {
		evs[i].Hash = events.ChainHash("", evs[i])
	}
	return evs, err
}
