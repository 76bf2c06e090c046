package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

// BenchConfig sizes RunAppendBench. Zero fields take the defaults shown.
type BenchConfig struct {
	// Callers is the number of goroutines appending one event at a time
	// (64).
	Callers int
	// Events is the number of events the single-event run appends
	// (40,000).
	Events int
	// NewStreamEvery makes a single-event caller start a new stream with
	// NoStream on one append in this many; the others append to one of its
	// streams with Exact, as a command handler does after loading it (4).
	NewStreamEvery int
	// BatchSize is the number of events per Append in the batch run (100).
	BatchSize int
	// BatchEvents is the number of events the batch run appends (200,000).
	BatchEvents int
	// BatchCallers is the number of goroutines of the batch run (8).
	BatchCallers int
	// BaselineRows is the number of rows per transaction of the raw-insert
	// baseline; 0 uses the average number of events per commit the
	// single-event run achieved.
	BaselineRows int
	// RandomIDs makes event ids and aggregate ids random (UUIDv4) instead
	// of time-ordered (UUIDv7). Random ids land all over the unique
	// indexes, so every event dirties pages of its own there: expect
	// roughly half the throughput.
	RandomIDs bool
}

func (c *BenchConfig) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Callers, 64)
	def(&c.Events, 40_000)
	def(&c.NewStreamEvery, 4)
	def(&c.BatchSize, 100)
	def(&c.BatchEvents, 200_000)
	def(&c.BatchCallers, 8)
}

// BenchRun is the outcome of one part of the benchmark.
type BenchRun struct {
	Name    string
	Events  int
	Calls   int           // Append calls, or transactions for a baseline
	Commits uint64        // write transactions
	Elapsed time.Duration // wall time of the whole run
	// P50 and P99 are the latencies of one call (one transaction for a
	// baseline).
	P50, P99 time.Duration
}

// EventsPerSec is the run's throughput.
func (r BenchRun) EventsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// EventsPerCommit is the average size of a write transaction.
func (r BenchRun) EventsPerCommit() float64 {
	if r.Commits == 0 {
		return 0
	}
	return float64(r.Events) / float64(r.Commits)
}

// BenchResult holds the runs of RunAppendBench.
type BenchResult struct {
	Config BenchConfig
	// Single: durable single-event appends from Config.Callers callers.
	Single BenchRun
	// Batch: appends of Config.BatchSize events from Config.BatchCallers
	// callers.
	Batch BenchRun
	// Baseline: raw INSERTs into the same schema with the same pragmas,
	// Config.BaselineRows rows per transaction, one goroutine.
	Baseline BenchRun
	// BatchBaseline: the same with as many rows per transaction as the
	// batch run committed on average.
	BatchBaseline BenchRun
}

// SingleRatio is the single-event throughput as a fraction of the
// baseline's.
func (r BenchResult) SingleRatio() float64 { return ratio(r.Single, r.Baseline) }

// BatchRatio is the batch throughput as a fraction of its baseline's.
func (r BenchResult) BatchRatio() float64 { return ratio(r.Batch, r.BatchBaseline) }

func ratio(a, b BenchRun) float64 {
	if b.EventsPerSec() == 0 {
		return 0
	}
	return a.EventsPerSec() / b.EventsPerSec()
}

// WriteTable prints the result as a table.
func (r BenchResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevents\tcalls\tcommits\tev/commit\tevents/s\tp50\tp99\tvs baseline\t")
	row := func(run BenchRun, base *BenchRun) {
		vs := "-"
		if base != nil {
			vs = fmt.Sprintf("%.0f%%", 100*ratio(run, *base))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.0f\t%s\t%s\t%s\t\n",
			run.Name, run.Events, run.Calls, run.Commits, run.EventsPerCommit(), run.EventsPerSec(),
			fmtDur(run.P50), fmtDur(run.P99), vs)
	}
	row(r.Single, &r.Baseline)
	row(r.Baseline, nil)
	row(r.Batch, &r.BatchBaseline)
	row(r.BatchBaseline, nil)
	return tw.Flush()
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// RunAppendBench measures the store's durable appends in fresh files under
// dir: single events from many concurrent callers, batches of events, and
// for each a baseline of raw batched INSERTs into the same schema with the
// same pragmas, so that the store's own cost shows as a ratio on machines
// whose disks differ. Each part removes its file when done; dir needs room
// for one of them (about 120 MB with the defaults).
//
// The baselines leave checkpoints to SQLite (every 1,000 pages, inside the
// COMMIT that crosses the mark); the store checkpoints in the background.
func RunAppendBench(ctx context.Context, dir string, cfg BenchConfig) (BenchResult, error) {
	cfg.defaults()
	res := BenchResult{Config: cfg}
	var err error

	if res.Single, err = benchSingle(ctx, filepath.Join(dir, "single.db"), cfg); err != nil {
		return res, err
	}
	rows := cfg.BaselineRows
	if rows <= 0 {
		rows = max(1, int(res.Single.EventsPerCommit()+0.5))
	}
	res.Config.BaselineRows = rows
	if res.Baseline, err = benchBaseline(ctx, filepath.Join(dir, "baseline.db"), cfg.Events, rows, singleRows(cfg)); err != nil {
		return res, err
	}
	res.Baseline.Name = fmt.Sprintf("baseline %d rows/tx", rows)

	if res.Batch, err = benchBatch(ctx, filepath.Join(dir, "batch.db"), cfg); err != nil {
		return res, err
	}
	brows := max(cfg.BatchSize, int(res.Batch.EventsPerCommit()+0.5))
	if res.BatchBaseline, err = benchBaseline(ctx, filepath.Join(dir, "batch-baseline.db"), cfg.BatchEvents, brows, batchRows(cfg)); err != nil {
		return res, err
	}
	res.BatchBaseline.Name = fmt.Sprintf("baseline %d rows/tx", brows)
	return res, nil
}

// benchEvent returns the i-th event of a run: a UUID id, every metadata
// field set and a payload of about 200 bytes in Chinese, like an item
// being raised.
func benchEvent(rng *rand.Rand, i int, newID func() string) events.Event {
	data, err := json.Marshal(map[string]any{
		"item_id":  fmt.Sprintf("item-%d", i),
		"title":    "社区服务中心窗口办事效率低，群众反映排队时间长",
		"measures": []string{"增设自助服务终端", "推行预约办理"},
		"unit":     "幸福街道第三社区",
		"due":      "2019-12-31",
		"score":    rng.IntN(100),
	})
	if err != nil {
		panic(err)
	}
	return events.Event{
		ID:            newID(),
		Type:          "rectify.item.raised",
		Version:       1,
		Time:          time.Unix(1_560_000_000+int64(i), int64(rng.IntN(1e9))).UTC(),
		Actor:         "user:张三",
		CorrelationID: uuid.NewString(),
		CausationID:   uuid.NewString(),
		Data:          data,
	}
}

// idFunc returns the id generator of a run.
func (c BenchConfig) idFunc() func() string {
	if c.RandomIDs {
		return uuid.NewString
	}
	return func() string { return uuid.Must(uuid.NewV7()).String() }
}

// benchSingle runs cfg.Callers goroutines that each append single events,
// now to a new stream of theirs (NoStream), now to one of their streams
// (Exact).
func benchSingle(ctx context.Context, path string, cfg BenchConfig) (BenchRun, error) {
	run := BenchRun{Name: fmt.Sprintf("single x%d callers", cfg.Callers)}
	defer removeDB(path)
	s, err := Open(path, Options{})
	if err != nil {
		return run, err
	}
	defer s.Close()

	type caller struct {
		evs     []events.Event
		lat     []time.Duration
		streams []string
		heads   []uint64
		rng     *rand.Rand
		err     error
	}
	newID := cfg.idFunc()
	callers := make([]*caller, cfg.Callers)
	for c := range callers {
		n := cfg.Events / cfg.Callers
		if c < cfg.Events%cfg.Callers {
			n++
		}
		cl := &caller{rng: rand.New(rand.NewPCG(uint64(c), 1)), lat: make([]time.Duration, 0, n)}
		cl.evs = make([]events.Event, n)
		for i := range cl.evs {
			cl.evs[i] = benchEvent(cl.rng, c*1_000_000+i, newID)
		}
		callers[c] = cl
	}

	var wg sync.WaitGroup
	start := time.Now()
	for _, cl := range callers {
		wg.Go(func() {
			for _, ev := range cl.evs {
				var stream string
				exp := eventstore.NoStream
				k := -1
				if len(cl.streams) == 0 || cl.rng.IntN(cfg.NewStreamEvery) == 0 {
					stream = "item-" + newID()
				} else {
					k = cl.rng.IntN(len(cl.streams))
					stream = cl.streams[k]
					exp = eventstore.Exact(cl.heads[k])
				}
				// Ids are made when the command is decided, as a
				// handler would, so time-ordered ones arrive in order.
				ev.ID = newID()
				t0 := time.Now()
				r, err := s.Append(ctx, stream, exp, ev)
				cl.lat = append(cl.lat, time.Since(t0))
				if err != nil {
					cl.err = err
					return
				}
				if k < 0 {
					cl.streams = append(cl.streams, stream)
					cl.heads = append(cl.heads, r.NextExpected)
				} else {
					cl.heads[k] = r.NextExpected
				}
			}
		})
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	var lat []time.Duration
	for _, cl := range callers {
		if cl.err != nil {
			return run, fmt.Errorf("bench single: %w", cl.err)
		}
		lat = append(lat, cl.lat...)
		run.Events += len(cl.evs)
	}
	run.Calls = len(lat)
	run.Commits = s.Stats().Commits
	run.P50, run.P99 = percentiles(lat)
	return run, s.Close()
}

// benchBatch runs cfg.BatchCallers goroutines that each append
// cfg.BatchSize events at a time to new streams.
func benchBatch(ctx context.Context, path string, cfg BenchConfig) (BenchRun, error) {
	run := BenchRun{Name: fmt.Sprintf("batch %d x%d callers", cfg.BatchSize, cfg.BatchCallers)}
	defer removeDB(path)
	s, err := Open(path, Options{})
	if err != nil {
		return run, err
	}
	defer s.Close()

	calls := max(1, cfg.BatchEvents/cfg.BatchSize)
	type caller struct {
		batches [][]events.Event
		lat     []time.Duration
		err     error
	}
	newID := cfg.idFunc()
	callers := make([]*caller, cfg.BatchCallers)
	for c := range callers {
		cl := &caller{}
		rng := rand.New(rand.NewPCG(uint64(c), 2))
		for i := c; i < calls; i += cfg.BatchCallers {
			b := make([]events.Event, cfg.BatchSize)
			for j := range b {
				b[j] = benchEvent(rng, i*cfg.BatchSize+j, newID)
			}
			cl.batches = append(cl.batches, b)
		}
		callers[c] = cl
	}

	var wg sync.WaitGroup
	start := time.Now()
	for _, cl := range callers {
		wg.Go(func() {
			for _, b := range cl.batches {
				for j := range b {
					b[j].ID = newID()
				}
				t0 := time.Now()
				_, err := s.Append(ctx, "item-"+newID(), eventstore.NoStream, b...)
				cl.lat = append(cl.lat, time.Since(t0))
				if err != nil {
					cl.err = err
					return
				}
			}
		})
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	var lat []time.Duration
	for _, cl := range callers {
		if cl.err != nil {
			return run, fmt.Errorf("bench batch: %w", cl.err)
		}
		lat = append(lat, cl.lat...)
		for _, b := range cl.batches {
			run.Events += len(b)
		}
	}
	run.Calls = len(lat)
	run.Commits = s.Stats().Commits
	run.P50, run.P99 = percentiles(lat)
	return run, s.Close()
}

// benchRow is one row of a baseline: an event with its place and its
// chain hash, computed when the rows are made so that the baseline stays
// SQLite's cost alone (the store's hashing is part of what it measures).
type benchRow struct {
	stream   string
	revision int64
	ev       events.Event
	hash     []byte // as stored
}

// chained sets the hashes of rows, each chained to the row before it in
// its stream.
func chained(rows []benchRow) []benchRow {
	last := make(map[string]string)
	for i := range rows {
		r := &rows[i]
		e := r.ev
		e.Stream, e.Revision = r.stream, uint64(r.revision)
		h := events.ChainHash(last[r.stream], e)
		r.hash = hashBlob(h)
		last[r.stream] = h
	}
	return rows
}

// singleRows returns rows shaped like the single-event run's: a quarter
// (1/NewStreamEvery) start a new stream, the rest continue one of the
// streams started before by the same caller.
func singleRows(cfg BenchConfig) func(n int) []benchRow {
	return func(n int) []benchRow {
		rows := make([]benchRow, 0, n)
		type stream struct {
			name string
			next int64
		}
		newID := cfg.idFunc()
		perCaller := make([][]*stream, cfg.Callers)
		rng := rand.New(rand.NewPCG(7, 7))
		for i := range n {
			c := i % cfg.Callers
			var st *stream
			if len(perCaller[c]) == 0 || rng.IntN(cfg.NewStreamEvery) == 0 {
				st = &stream{name: "item-" + newID()}
				perCaller[c] = append(perCaller[c], st)
			} else {
				st = perCaller[c][rng.IntN(len(perCaller[c]))]
			}
			rows = append(rows, benchRow{stream: st.name, revision: st.next, ev: benchEvent(rng, i, newID)})
			st.next++
		}
		return chained(rows)
	}
}

// batchRows returns rows shaped like the batch run's.
func batchRows(cfg BenchConfig) func(n int) []benchRow {
	return func(n int) []benchRow {
		rows := make([]benchRow, 0, n)
		newID := cfg.idFunc()
		rng := rand.New(rand.NewPCG(8, 8))
		var name string
		for i := range n {
			j := i % cfg.BatchSize
			if j == 0 {
				name = "item-" + newID()
			}
			rows = append(rows, benchRow{stream: name, revision: int64(j), ev: benchEvent(rng, i, newID)})
		}
		return chained(rows)
	}
}

// benchBaseline inserts n rows made by gen into a fresh file with the
// store's schema and pragmas, perTx rows per transaction, from one
// goroutine, without any of the store's checks. It is the most a store on
// this SQLite could write.
func benchBaseline(ctx context.Context, path string, n, perTx int, gen func(int) []benchRow) (BenchRun, error) {
	run := BenchRun{}
	rows := gen(n)
	defer removeDB(path)
	db, err := sql.Open("sqlite", writeDSN(path))
	if err != nil {
		return run, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return run, err
	}
	defer conn.Close()
	for _, q := range []string{schema, schemaV2} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return run, fmt.Errorf("baseline schema: %w", err)
		}
	}
	ins, err := conn.PrepareContext(ctx, insertSQL)
	if err != nil {
		return run, err
	}
	defer ins.Close()
	var lat []time.Duration
	start := time.Now()
	for i := 0; i < len(rows); i += perTx {
		t0 := time.Now()
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return run, err
		}
		for _, r := range rows[i:min(i+perTx, len(rows))] {
			e := r.ev
			if _, err := ins.ExecContext(ctx, r.stream, r.revision, e.ID, e.Type, e.Version, e.Time.UnixNano(), e.Actor, e.CorrelationID, e.CausationID, []byte(e.Data), r.hash); err != nil {
				return run, fmt.Errorf("baseline insert: %w", err)
			}
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return run, err
		}
		lat = append(lat, time.Since(t0))
		run.Commits++
	}
	run.Elapsed = time.Since(start)
	run.Events = len(rows)
	run.Calls = len(lat)
	run.P50, run.P99 = percentiles(lat)
	return run, nil
}

// removeDB removes a benchmark's database file and its companions.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}

// percentiles returns the median and the 99th percentile of lat.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return at(0.50), at(0.99)
}
