package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
)

// tallyProjection counts events per stream and remembers the last type: the
// smallest projection that shows double counting, loss and gaps.
type tallyProjection struct{}

func (tallyProjection) Name() string { return "tally" }

func (tallyProjection) Migrate(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE tally (stream TEXT PRIMARY KEY, n INTEGER NOT NULL, last_type TEXT NOT NULL, last_position INTEGER NOT NULL)`)
	return err
}

func (tallyProjection) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `INSERT INTO tally (stream, n, last_type, last_position) VALUES (?, 1, ?, ?)
		ON CONFLICT(stream) DO UPDATE SET n = n + 1, last_type = excluded.last_type, last_position = excluded.last_position`,
		e.Stream, e.Type, e.Position)
	if err == nil {
		tx.Changed(e.Stream)
	}
	return err
}

func (tallyProjection) DigestQueries() []string {
	return []string{`SELECT stream, n, last_type, last_position FROM tally ORDER BY stream`}
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

func MustOpenRunner(tb testing.TB, p Projection, src Source, onCommit func([]Change)) *Runner {
	tb.Helper()
	r, err := Open(context.Background(), p, Options{Dir: tb.TempDir(), Source: src, OnCommit: onCommit})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// appendN appends n events spread over streams and returns them as stored.
func appendN(tb testing.TB, s eventstore.Store, n, streams int) []events.Event {
	tb.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		ev := events.Event{ID: fmt.Sprintf("ev-%d-%d", time.Now().UnixNano(), i), Type: "rectify.test.happened", Version: 1,
			Time: time.Unix(1700000000+int64(i), 0).UTC(), Actor: "tester", Data: []byte(`{"note":"整改"}`)}
		if _, err := s.Append(ctx, fmt.Sprintf("thing-%d", i%streams), eventstore.Any, ev); err != nil {
			tb.Fatal(err)
		}
	}
	all, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return all
}

func deliveries(evs []events.Event) []Delivery {
	out := make([]Delivery, len(evs))
	var prev uint64
	for i, e := range evs {
		out[i] = Delivery{Event: e, Prev: prev}
		prev = e.Position
	}
	return out
}

func tallyOf(tb testing.TB, r *Runner) map[string]int {
	tb.Helper()
	got := map[string]int{}
	err := r.Read(context.Background(), 0, func(db *sql.DB, _ uint64) error {
		rows, err := db.Query(`SELECT stream, n FROM tally`)
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
	return got
}

func TestRunnerRedeliveryIsExactlyOnce(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 30, 3)
	r := MustOpenRunner(t, tallyProjection{}, store, nil)
	ctx := context.Background()
	ds := deliveries(evs)
	if err := r.Apply(ctx, ds[:20]); err != nil {
		t.Fatal(err)
	}
	// Redeliver an overlapping range, then the rest twice.
	if err := r.Apply(ctx, ds[10:]); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got := tallyOf(t, r)
	for i := 0; i < 3; i++ {
		if n := got[fmt.Sprintf("thing-%d", i)]; n != 10 {
			t.Errorf("thing-%d counted %d times, want 10", i, n)
		}
	}
	if r.Position() != evs[len(evs)-1].Position {
		t.Errorf("checkpoint %d, want %d", r.Position(), evs[len(evs)-1].Position)
	}
	if st := r.Stats(); st.Skipped < 30 {
		t.Errorf("skipped %d redeliveries, want at least 30", st.Skipped)
	}
}

func TestRunnerFillsGapsFromTheStore(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 50, 5)
	r := MustOpenRunner(t, tallyProjection{}, store, nil)
	ds := deliveries(evs)
	// JetStream lost events 11..39: only the first ten and the last ten
	// arrive; the predecessor of the 41st says what is missing.
	batch := append(append([]Delivery{}, ds[:10]...), ds[40:]...)
	if err := r.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got := tallyOf(t, r)
	total := 0
	for _, n := range got {
		total += n
	}
	if total != 50 {
		t.Fatalf("view counts %d events, want all 50 (gap filled from the store)", total)
	}
	if r.Stats().Gaps != 1 {
		t.Errorf("gaps filled = %d, want 1", r.Stats().Gaps)
	}
}

func TestRunnerGapWithoutSourceFailsAndWritesNothing(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 5, 1)
	r := MustOpenRunner(t, tallyProjection{}, nil, nil)
	ds := deliveries(evs)
	if err := r.Apply(context.Background(), ds[3:]); err == nil {
		t.Fatal("a gap without a source was applied silently")
	}
	if r.Position() != 0 || len(tallyOf(t, r)) != 0 {
		t.Fatalf("failed batch left a partial view: position %d, rows %v", r.Position(), tallyOf(t, r))
	}
}

func TestRunnerSurvivesReopenMidStream(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 40, 4)
	dir := t.TempDir()
	ctx := context.Background()
	r, err := Open(ctx, tallyProjection{}, Options{Dir: dir, Source: store})
	if err != nil {
		t.Fatal(err)
	}
	ds := deliveries(evs)
	if err := r.Apply(ctx, ds[:25]); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// A restarted replica gets everything again from JetStream (it was
	// never acknowledged) and must count each event once.
	r2, err := Open(ctx, tallyProjection{}, Options{Dir: dir, Source: store})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Position() != evs[24].Position {
		t.Fatalf("reopened at %d, want checkpoint %d", r2.Position(), evs[24].Position)
	}
	if err := r2.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for s, n := range tallyOf(t, r2) {
		if n != 10 {
			t.Errorf("%s counted %d, want 10", s, n)
		}
	}
}

func TestRunnerWaitForIsBoundedAndWakes(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 3, 1)
	r := MustOpenRunner(t, tallyProjection{}, store, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.WaitFor(ctx, evs[2].Position)
	if events.ErrorCode(err) != events.CodeUnavailable {
		t.Fatalf("WaitFor on an unreached position = %v, want unavailable", err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- r.WaitFor(ctx, evs[2].Position)
	}()
	if err := r.Apply(context.Background(), deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor after the position was applied: %v", err)
	}
}

func TestRunnerChangeNoticesFollowCommits(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 6, 2)
	var mu sync.Mutex
	var got []Change
	r := MustOpenRunner(t, tallyProjection{}, store, func(cs []Change) {
		mu.Lock()
		got = append(got, cs...)
		mu.Unlock()
	})
	if err := r.Apply(context.Background(), deliveries(evs)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("got %d change notices, want one per event: %+v", len(got), got)
	}
	for i, c := range got {
		if c.View != "tally" || c.Position != evs[i].Position || c.Key != evs[i].Stream {
			t.Errorf("notice %d = %+v, want tally/%s@%d", i, c, evs[i].Stream, evs[i].Position)
		}
	}
}

func TestRebuildMatchesLiveAndSwapsWhileServing(t *testing.T) {
	store := MustOpenStore(t)
	evs := appendN(t, store, 3000, 17)
	r := MustOpenRunner(t, tallyProjection{}, store, nil)
	ctx := context.Background()
	ds := deliveries(evs)
	if err := r.Apply(ctx, ds[:2000]); err != nil {
		t.Fatal(err)
	}
	before, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Queries and live batches run during the rebuild.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.Read(ctx, 0, func(db *sql.DB, _ uint64) error {
				var n int
				return db.QueryRow(`SELECT coalesce(sum(n), 0) FROM tally`).Scan(&n)
			}); err != nil {
				readErr = err
				return
			}
		}
	}()
	st, err := r.Rebuild(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a query failed during the rebuild: %v", readErr)
	}
	// The store holds 3000 events, the live view had 2000: the rebuilt view
	// may be ahead, and then the rest arrives as redeliveries.
	if st.Position < evs[1999].Position {
		t.Fatalf("rebuilt to %d, behind the live %d", st.Position, evs[1999].Position)
	}
	if err := r.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	after, err := r.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := MustOpenRunner(t, tallyProjection{}, store, nil)
	if err := fresh.Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	want, err := fresh.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != want {
		t.Fatalf("digest after rebuild %s, fresh build %s", after, want)
	}
	if before == after {
		t.Fatalf("digest did not change although 1000 more events were applied")
	}
}

func TestReadOnClosedRunnerIsUnavailable(t *testing.T) {
	r := MustOpenRunner(t, tallyProjection{}, nil, nil)
	r.Close()
	err := r.Read(context.Background(), 0, func(*sql.DB, uint64) error { return nil })
	var e *events.Error
	if !errors.As(err, &e) || e.Code != events.CodeUnavailable {
		t.Fatalf("read on closed runner = %v, want unavailable", err)
	}
}

// BenchmarkLiveApply applies a mixed history of 50,000 events to each
// view in batches of 50, as a runner following a busy stream does, and
// reports events per second: the live path, without NATS.
func BenchmarkLiveApply(b *testing.B) {
	ds := deliveries(mixedHistory(b, 50_000))
	ctx := context.Background()
	for _, p := range []Projection{Ledger{}, Commitments{}, Audit{}, Access{}} {
		b.Run(p.Name(), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				r := MustOpenRunner(b, p, nil, nil)
				b.StartTimer()
				start := time.Now()
				for i := 0; i < len(ds); i += 50 {
					if err := r.Apply(ctx, ds[i:min(i+50, len(ds))]); err != nil {
						b.Fatal(err)
					}
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(len(ds)*b.N)/total.Seconds(), "events/s")
		})
	}
}
