// Package bench measures the projections against the performance targets
// of DESIGN.md on a realistic generated history (services/gen): rebuilding
// every view from position zero, beside a baseline that only reads and
// decodes the events, and the latency from an append until every view
// shows it, with the relay, JetStream and the runners live. The Benchmark
// functions of its tests run it; so can a command.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"rectify/events"
	"rectify/projections"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
)

// Views returns every view rectify serves.
func Views() []projections.Projection {
	return []projections.Projection{projections.Ledger{}, projections.Commitments{}, projections.Audit{}, projections.Access{}, projections.Assessments{}}
}

// RebuildConfig sizes RunRebuild. Zero fields take the defaults shown.
type RebuildConfig struct {
	// History is the generated history rebuilt from (gen's defaults:
	// 200 units, 100,000 items, 1,000,000 events).
	History gen.Config
	// Views are the projections rebuilt (Views()).
	Views []projections.Projection
	// StorePath is the event store file. One that already holds the
	// history is used as it is, which saves loading it again; default
	// <dir>/events.db.
	StorePath string
	// Batch is how many events the baseline reads at a time (10,000, as a
	// rebuild does).
	Batch int
	// OnlyAll skips rebuilding each view alone (and so the comparison of
	// digests): the baseline and RebuildAll only, for profiling.
	OnlyAll bool
}

// Run is one timed part of a benchmark.
type Run struct {
	Name    string
	Events  int // events processed (by each view, for a run of several)
	Elapsed time.Duration
	// CPU is the CPU time the process used during the run, on every
	// core: steadier than Elapsed on a shared machine, where other
	// processes take cores away (zero where the system does not say).
	CPU time.Duration
}

// timed runs fn and adds its wall and CPU time to run.
func (r *Run) timed(fn func() error) error {
	cpu, _ := processCPU()
	start := time.Now()
	err := fn()
	r.Elapsed += time.Since(start)
	end, _ := processCPU()
	r.CPU += end - cpu
	return err
}

// PerSec is the run's throughput in events per second.
func (r Run) PerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// RebuildResult holds what RunRebuild measured.
type RebuildResult struct {
	// Events is the number of events in the store.
	Events int
	// Load is generating the history and appending it (zero when an
	// existing store was used).
	Load Run
	// Baseline reads every event from the store in batches and decodes
	// its payload, and does nothing else: the floor of any rebuild.
	Baseline Run
	// Views rebuilds each view alone, one after another.
	Views []Run
	// Sequential is the sum of Views: every view rebuilt, one at a time.
	Sequential Run
	// Parallel rebuilds every view at once with projections.RebuildAll, as
	// a server rebuilding all its views does: one read of the store, each
	// view applying it concurrently. Events counts the events each view
	// applied; the rate is how fast the whole set of views moved through
	// the history.
	Parallel Run
	// ParallelViews says, per view of the parallel rebuild in the order of
	// the views, how long it took to apply every event, write what it
	// kept and index it, and swap in.
	ParallelViews []projections.RebuildStats
	// Digests of each view after the sequential rebuild; the parallel
	// rebuild gave the same (RunRebuild checks).
	Digests map[string]string
	// MaxRSS is the process's peak resident set, in bytes, at the end
	// (zero where the system does not say).
	MaxRSS int64
	// ViewNames are the names of the views, in order.
	ViewNames []string
}

// WriteTable prints the result as a table.
func (r RebuildResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevents\tseconds\tevents/s\tvs baseline\tcpu seconds\t")
	row := func(run Run, vs bool) {
		ratio := "-"
		if vs && r.Baseline.PerSec() > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*run.PerSec()/r.Baseline.PerSec())
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%.2f\t\n", run.Name, run.Events, run.Elapsed.Seconds(), run.PerSec(), ratio, run.CPU.Seconds())
	}
	if r.Load.Elapsed > 0 {
		row(r.Load, false)
	}
	row(r.Baseline, false)
	for _, v := range r.Views {
		row(v, true)
	}
	if r.Sequential.Elapsed > 0 {
		row(r.Sequential, true)
	}
	row(r.Parallel, true)
	return tw.Flush()
}

func (c *RebuildConfig) defaults(dir string) {
	if c.Views == nil {
		c.Views = Views()
	}
	if c.StorePath == "" {
		c.StorePath = filepath.Join(dir, "events.db")
	}
	if c.Batch <= 0 {
		c.Batch = 10_000
	}
}

// printf writes a progress line, if there is a writer.
func printf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// OpenHistory opens the event store at path and makes sure it holds the
// history cfg describes, loading it if the store is empty, and returns the
// store with the time loading took (zero if it was there already: as many
// events, and the history's last event last in its stream).
// progress, if not nil, receives a line per loaded chunk.
//
// Errors: CodeConflict when the store holds something else; the store's
// codes otherwise.
func OpenHistory(ctx context.Context, path string, cfg gen.Config, progress io.Writer) (*embedded.Store, Run, error) {
	want := gen.Count(cfg)
	load := Run{Name: "load (generate + append)", Events: want}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, load, err
	}
	store, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		return nil, load, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		store.Close()
		return nil, load, err
	}
	if head != 0 {
		// A store holds this history if it has as many events and the
		// history's last event ends its stream there too.
		var last events.Event
		for e := range gen.History(cfg) {
			last = e
		}
		var got []events.Event
		if head == uint64(want) {
			got, err = store.ReadStream(ctx, last.Stream, eventstore.Backwards, math.MaxUint64, 1)
		}
		if err != nil || len(got) != 1 || got[0].ID != last.ID {
			store.Close()
			return nil, load, events.Errorf(events.CodeConflict, "%s holds %d events, not the %d of this history", path, head, want)
		}
		printf(progress, "using the %d events in %s", head, path)
		return store, load, nil
	}
	start := time.Now()
	var shown time.Time
	n, err := gen.Load(ctx, store, cfg, func(n int) {
		if time.Since(shown) >= time.Second || n == want {
			shown = time.Now()
			printf(progress, "loaded %d of %d events (%.0f/s)", n, want, float64(n)/time.Since(start).Seconds())
		}
	})
	load.Elapsed = time.Since(start)
	if err != nil {
		store.Close()
		return nil, load, err
	}
	load.Events = n
	return store, load, nil
}

// RunRebuild loads the history into the store (unless it is there
// already), measures the baseline, rebuilds each view alone and then all
// of them at once, in fresh view databases under dir, and checks that both
// rebuilds of each view have the same digest. progress, if not nil,
// receives a line per step.
func RunRebuild(ctx context.Context, dir string, cfg RebuildConfig, progress io.Writer) (RebuildResult, error) {
	cfg.defaults(dir)
	var res RebuildResult
	store, load, err := OpenHistory(ctx, cfg.StorePath, cfg.History, progress)
	if err != nil {
		return res, err
	}
	defer store.Close()
	res.Load = load
	head, err := store.Head(ctx)
	if err != nil {
		return res, err
	}
	res.Events = int(head)

	res.Baseline, err = baseline(ctx, store, cfg.Batch)
	if err != nil {
		return res, err
	}
	printf(progress, "baseline: read and decoded %d events in %.2fs", res.Baseline.Events, res.Baseline.Elapsed.Seconds())

	quiet := slog.New(slog.DiscardHandler)
	rebuild := func(dir string, p projections.Projection) (Run, string, error) {
		r, err := projections.Open(ctx, p, projections.Options{Dir: dir, Replica: "bench", Source: store, Logger: quiet})
		if err != nil {
			return Run{}, "", err
		}
		defer r.Close()
		run := Run{Name: "rebuild " + p.Name()}
		err = run.timed(func() error {
			st, err := r.Rebuild(ctx, nil)
			run.Events = st.Events
			return err
		})
		if err != nil {
			return run, "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
		d, err := r.Digest(ctx)
		return run, d, err
	}

	res.Digests = map[string]string{}
	res.Sequential = Run{Name: "every view, one after another", Events: res.Events}
	for _, p := range cfg.Views {
		if cfg.OnlyAll {
			break
		}
		run, d, err := rebuild(filepath.Join(dir, "sequential"), p)
		if err != nil {
			return res, err
		}
		printf(progress, "%s: %d events in %.2fs (%.0f/s)", run.Name, run.Events, run.Elapsed.Seconds(), run.PerSec())
		res.Views = append(res.Views, run)
		res.Sequential.Elapsed += run.Elapsed
		res.Sequential.CPU += run.CPU
		res.Digests[p.Name()] = d
	}

	res.Parallel = Run{Name: "every view at once (RebuildAll)", Events: res.Events}
	for _, p := range cfg.Views {
		res.ViewNames = append(res.ViewNames, p.Name())
	}
	var runners []*projections.Runner
	defer func() {
		for _, r := range runners {
			r.Close()
		}
	}()
	for _, p := range cfg.Views {
		r, err := projections.Open(ctx, p, projections.Options{Dir: filepath.Join(dir, "parallel"), Replica: "bench", Source: store, Logger: quiet})
		if err != nil {
			return res, err
		}
		runners = append(runners, r)
	}
	if err := res.Parallel.timed(func() error {
		var err error
		res.ParallelViews, err = projections.RebuildAll(ctx, runners, nil)
		return err
	}); err != nil {
		return res, err
	}
	digests := make([]string, len(runners))
	for i, r := range runners {
		if digests[i], err = r.Digest(ctx); err != nil {
			return res, err
		}
	}
	printf(progress, "%s: %.2fs (%.0f events/s)", res.Parallel.Name, res.Parallel.Elapsed.Seconds(), res.Parallel.PerSec())
	for i, p := range cfg.Views {
		if cfg.OnlyAll {
			res.Digests[p.Name()] = digests[i]
			continue
		}
		if digests[i] != res.Digests[p.Name()] {
			return res, events.Errorf(events.CodeInternal, "view %s: the parallel rebuild's digest %s differs from the sequential one's %s", p.Name(), digests[i], res.Digests[p.Name()])
		}
	}
	for i, st := range res.ParallelViews {
		printf(progress, "  %s: applied every event at %.2fs, wrote and indexed what it kept in %.2fs, swapped in %.2fs",
			res.ViewNames[i], st.Load.Seconds(), st.Write.Seconds(), st.Swap.Seconds())
	}
	_, res.MaxRSS = processCPU()
	printf(progress, "peak resident set of the process: %d MiB", res.MaxRSS>>20)
	return res, nil
}

// baseline reads every event of the store after position 0 in batches and
// decodes each payload.
func baseline(ctx context.Context, src projections.Source, batch int) (Run, error) {
	run := Run{Name: "baseline: read + decode"}
	err := run.timed(func() error {
		var pos uint64
		for {
			evs, err := src.ReadAll(ctx, pos, batch)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				return nil
			}
			for _, e := range evs {
				if _, err := events.Decode(e); err != nil {
					return err
				}
			}
			run.Events += len(evs)
			pos = evs[len(evs)-1].Position
		}
	})
	return run, err
}
