package main

// rectify bench: every performance target of DESIGN.md measured by one
// command a user can run, each beside a baseline run in the same process.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchConfig is what `rectify bench` can be told.
type benchConfig struct {
	Which       []string
	Runs        int
	Dir         string
	JSON        string
	CPUProfile  string
	MemProfile  string
	Events      int           // rebuild and startup: events in the history
	StorePath   string        // rebuild and startup: keep the generated history here
	QueryEvents int           // query: events in the history the queries read
	Rate        float64       // e2e: the fixed rate latencies are measured at
	Steps       []float64     // e2e: the rates tried for the sustained maximum
	Duration    time.Duration // e2e and query: length of each measured step
	SSEClients  int           // e2e: live-stream listeners
	Concurrency []int         // query: closed-loop clients per step
}

// benchNames are the sub-benchmarks, in the order `all` runs them.
var benchNames = []string{"append", "e2e", "query", "rebuild", "startup"}

func benchFlags(stderr io.Writer, args []string) (benchConfig, error) {
	fs := newFlagSet("bench", stderr)
	c := benchConfig{}
	fs.IntVar(&c.Runs, "runs", 3, "runs of each benchmark; tables show the median")
	fs.StringVar(&c.Dir, "dir", "", "working directory for stores and views (default: a fresh temporary directory, removed at the end)")
	fs.StringVar(&c.JSON, "json", "", "also write the results to this file as JSON, to compare runs")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the benchmark process to this file")
	fs.StringVar(&c.MemProfile, "memprofile", "", "write a heap profile of the benchmark process to this file at the end")
	fs.IntVar(&c.Events, "events", 1_000_000, "rebuild, startup: events in the generated history (100,000 items over 200 units at the default)")
	fs.StringVar(&c.StorePath, "store", "", "rebuild, startup: event store file holding the generated history; reused when it already does (default: in -dir)")
	fs.IntVar(&c.QueryEvents, "query-events", 100_000, "query: events in the history the queries read")
	rate := fs.Float64("rate", 1000, "e2e: commands per second at which reply and command-to-SSE latency are measured")
	steps := fs.String("steps", "500,1000,2000,3000,4000,5000,6000", "e2e: offered rates (commands/s) tried in turn for the sustained maximum")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "e2e, query: length of each measured step")
	fs.IntVar(&c.SSEClients, "sse", 4, "e2e: live-stream clients listening while commands run")
	conc := fs.String("concurrency", "1,4,16,64", "query: concurrent clients of each step")
	quick := fs.Bool("quick", false, "every benchmark at a small size, one run each, in about a minute: checks the command works, measures little")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rectify bench [flags] [%s|all]...\n\n", strings.Join(benchNames, "|"))
		fmt.Fprintln(stderr, "  append   durable single-event appends (64 callers) and 100-event batches, beside raw SQLite inserts")
		fmt.Fprintln(stderr, "  e2e      rectify serve in-process: HTTP commands at a fixed rate, SSE listeners; sustained maximum and latencies")
		fmt.Fprintln(stderr, "  query    progress and a ledger page of 50 over HTTP at increasing concurrency, beside /healthz")
		fmt.Fprintln(stderr, "  rebuild  every view rebuilt from the generated history, beside reading and decoding it")
		fmt.Fprintln(stderr, "  startup  time to serving and resident memory of rectify serve with the history stored, beside an empty one")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *quick {
		// Small sizes for whatever the command line left at its default.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"runs": "1", "events": "3000", "query-events": "2000", "duration": "500ms",
			"steps": "50,100", "rate": "50", "concurrency": "1,2", "sse": "1"} {
			if !set[name] {
				fs.Set(name, v)
			}
		}
	}
	c.Rate = *rate
	for _, s := range strings.Split(*steps, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 {
			return c, usageError{fmt.Sprintf("-steps: %q is not a positive rate", s)}
		}
		c.Steps = append(c.Steps, v)
	}
	for _, s := range strings.Split(*conc, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v <= 0 {
			return c, usageError{fmt.Sprintf("-concurrency: %q is not a positive count", s)}
		}
		c.Concurrency = append(c.Concurrency, v)
	}
	if c.Runs <= 0 || c.Events <= 0 || c.QueryEvents <= 0 || c.Rate <= 0 || c.Duration <= 0 || c.SSEClients < 0 {
		return c, usageError{"-runs, -events, -query-events, -rate and -duration must be greater than zero"}
	}
	c.Which = fs.Args()
	if len(c.Which) == 0 || slices.Contains(c.Which, "all") {
		c.Which = benchNames
	}
	for _, w := range c.Which {
		if !slices.Contains(benchNames, w) {
			return c, usageError{fmt.Sprintf("unknown benchmark %q: want %s or all", w, strings.Join(benchNames, ", "))}
		}
	}
	return c, nil
}

// benchResults is what `--json` writes.
type benchResults struct {
	Machine benchMachine      `json:"machine"`
	Runs    int               `json:"runs"`
	Results map[string]any    `json:"results"`
	Tables  map[string]string `json:"tables"`
}

type benchMachine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Version   string `json:"rectify_version"`
	Time      string `json:"time"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := benchFlags(stderr, args)
	if err != nil {
		return err
	}
	if cfg.Dir == "" {
		cfg.Dir, err = os.MkdirTemp("", "rectify-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res := benchResults{
		Machine: benchMachine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			Version: version, Time: time.Now().UTC().Format(time.RFC3339)},
		Runs: cfg.Runs, Results: map[string]any{}, Tables: map[string]string{},
	}
	fmt.Fprintf(stdout, "rectify bench: %d CPUs, %s; medians of %d runs\n", runtime.NumCPU(), runtime.Version(), cfg.Runs)
	p := newProgress(stderr)
	for _, name := range cfg.Which {
		fmt.Fprintf(stdout, "\n== %s\n", name)
		var table strings.Builder
		out := io.MultiWriter(stdout, &table)
		var r any
		switch name {
		case "append":
			r, err = benchAppend(ctx, cfg, out, p)
		case "e2e":
			r, err = benchE2E(ctx, cfg, out, p)
		case "query":
			r, err = benchQuery(ctx, cfg, out, p)
		case "rebuild":
			r, err = benchRebuild(ctx, cfg, out, p)
		case "startup":
			r, err = benchStartup(ctx, cfg, out, p)
		}
		p.done()
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		res.Results[name] = r
		res.Tables[name] = table.String()
	}
	if cfg.MemProfile != "" {
		f, err := os.Create(cfg.MemProfile)
		if err != nil {
			return err
		}
		runtime.GC()
		err = pprof.WriteHeapProfile(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if cfg.JSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nresults written to %s\n", cfg.JSON)
	}
	return nil
}

// median returns the median of xs (the lower middle for an even count).
func median[T int | int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// medianOf takes the median of one figure over several runs.
func medianOf[R any, T int | int64 | float64 | time.Duration](runs []R, f func(R) T) T {
	xs := make([]T, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

func pct(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*a/b)
}

func msec(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// progress draws one status line with a bar on a terminal (stderr), so that
// long loads show they are moving; stdout keeps only the tables.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	open bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

// bar shows what is being done, n of total.
func (p *progress) bar(what string, n, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond && n < total {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := 0
	if total > 0 {
		filled = min(width, width*n/total)
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3d%% %s (%d/%d)", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		100*filled/width, what, n, total)
	p.open = true
}

// say shows a status without a bar.
func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	p.open = true
}

// done ends the status line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}

// lines turns line-by-line progress reports of other packages into the
// status line.
func (p *progress) lines() io.Writer { return progressLines{p} }

type progressLines struct{ p *progress }

func (l progressLines) Write(b []byte) (int, error) {
	if s := strings.TrimSpace(string(b)); s != "" {
		l.p.say("%s", s)
	}
	return len(b), nil
}
