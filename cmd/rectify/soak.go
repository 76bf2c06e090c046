package main

// rectify soak: `rectify serve` in this process under a steady open-loop
// load of commands and queries, with a live-stream listener, for a set
// time; a table row per sample of resident memory, Go heap, goroutines,
// open files and latency, and a verdict that fails on steady growth.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// soakConfig is what `rectify soak` can be told.
type soakConfig struct {
	Warmup   time.Duration
	Duration time.Duration
	Rate     float64
	Sample   time.Duration
	Dir      string
	JSON     string
	Seed     uint64
}

func soakFlags(stderr io.Writer, args []string) (soakConfig, error) {
	fs := newFlagSet("soak", stderr)
	var c soakConfig
	fs.DurationVar(&c.Duration, "duration", time.Hour, "how long to sample the load, after the warm-up (a minute shows a fast leak; an hour a slow one)")
	fs.DurationVar(&c.Warmup, "warmup", time.Minute, "how long the load runs before the first sample, while caches fill; 0 for none")
	fs.Float64Var(&c.Rate, "rate", 100, "requests per second, open loop: about 65% commands, 35% queries")
	fs.DurationVar(&c.Sample, "sample", 10*time.Second, "time between samples (rows of the table)")
	fs.StringVar(&c.Dir, "dir", "", "data directory of the server under load (default: a fresh temporary directory, removed at the end)")
	fs.StringVar(&c.JSON, "json", "", "also write the samples and the verdict to this file as JSON")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the load's choices (0: from the clock)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rectify soak [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs rectify serve in this process under a steady load of commands and queries with a live-stream")
		fmt.Fprintln(stderr, "listener, prints resident memory, heap, goroutines, open files and latency per sample, and exits 1")
		fmt.Fprintln(stderr, "when one of them grows steadily over the second half of the run.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Sprintf("soak takes no arguments, got %q", fs.Args())}
	}
	switch {
	case c.Duration <= 0 || c.Sample <= 0 || c.Rate <= 0 || c.Warmup < 0:
		return c, usageError{"-duration, -sample and -rate must be greater than zero, -warmup not below"}
	case c.Duration < 8*c.Sample:
		return c, usageError{fmt.Sprintf("-duration %s gives fewer than 8 samples of -sample %s: too few to judge growth", c.Duration, c.Sample)}
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c, nil
}

// soakSample is one row of the table.
type soakSample struct {
	At         time.Duration `json:"at_ns"`
	Events     uint64        `json:"events_stored"`
	RSS        uint64        `json:"rss_bytes"`
	Heap       uint64        `json:"heap_after_gc_bytes"`
	Goroutines int           `json:"goroutines"`
	OpenFiles  int           `json:"open_files"`
	Requests   int           `json:"requests"`
	Failed     int           `json:"failed"`
	CmdP50     time.Duration `json:"command_p50_ns"`
	CmdP99     time.Duration `json:"command_p99_ns"`
	QueryP99   time.Duration `json:"query_p99_ns"`
	Changes    int64         `json:"live_changes"`
}

// growthRule is how much a measure may grow over the judged part of the
// run (the second half, after the warm-up): Abs units, or Rel of its
// median there, whichever is more.
type growthRule struct {
	Name string
	Abs  float64
	Rel  float64
	of   func(soakSample) float64
}

// The rules, and why they are what they are:
//
//   - Goroutines and open files must not grow once warm: every request,
//     stream and connection gives back what it took, and a leak of one
//     per request would show thousands. The few allowed absorb pools
//     that size themselves to the load: HTTP connections the load
//     generator opens in a latency spike (goroutines and descriptors on
//     both ends, at most eight, until idle for two seconds) and SQLite
//     connections of the read pools.
//   - Memory is judged on the Go heap after a collection, not on the
//     resident set: rectify is pure Go (SQLite included), so the heap is
//     everything it holds, and the resident set also counts memory the
//     runtime freed but has not returned to the system yet, which moves
//     with the collector's pacing rather than with what is held. The
//     load works on a fixed set of items and commitments and raises few
//     new ones, and what rectify keeps per stored event (caches, the
//     live stream's ring of recent changes, JetStream's window of
//     message ids) is bounded, so once those fill the heap is flat
//     however many events the store has; a fifth of slack covers the
//     ring and the id window, which fill over the first minutes, after
//     the warm-up has filled SQLite's page caches. The resident set is
//     shown and judged too, with a third of slack.
var growthRules = []growthRule{
	{Name: "goroutines", Abs: 24, Rel: 0.1, of: func(s soakSample) float64 { return float64(s.Goroutines) }},
	{Name: "open files", Abs: 16, Rel: 0.1, of: func(s soakSample) float64 { return float64(s.OpenFiles) }},
	{Name: "heap after GC", Abs: 16 << 20, Rel: 0.2, of: func(s soakSample) float64 { return float64(s.Heap) }},
	{Name: "resident memory", Abs: 64 << 20, Rel: 0.33, of: func(s soakSample) float64 { return float64(s.RSS) }},
}

// growthVerdict is the judgement of one measure.
type growthVerdict struct {
	Name string `json:"measure"`
	// Growth is the least-squares slope over the judged samples times
	// their time span: how much the measure rose across them. FloorRise
	// is how much the lowest value of their later half exceeds the lowest
	// of their earlier half.
	Growth    float64 `json:"growth"`
	FloorRise float64 `json:"floor_rise"`
	Tolerance float64 `json:"tolerance"`
	Median    float64 `json:"median"`
	Growing   bool    `json:"growing"`
}

// judgeGrowth decides whether ys, sampled at ts, grows steadily over their
// second half. A leak shows twice: the fitted slope carries the measure
// up by more than the tolerance across the judged span, and its floor (the
// minimum, which spikes of load do not move) rises by more than half of
// it. Requiring both keeps a noisy but flat measure, or one spike at the
// end, from counting as growth, and a warm-up in the first half is not
// judged at all.
func judgeGrowth(rule growthRule, ts, ys []float64) growthVerdict {
	v := growthVerdict{Name: rule.Name}
	from := len(ys) / 2
	ts, ys = ts[from:], ys[from:]
	if len(ys) < 4 {
		return v
	}
	v.Median = medianFloat(ys)
	v.Tolerance = math.Max(rule.Abs, rule.Rel*v.Median)
	v.Growth = slope(ts, ys) * (ts[len(ts)-1] - ts[0])
	half := len(ys) / 2
	v.FloorRise = slices.Min(ys[half:]) - slices.Min(ys[:half])
	v.Growing = v.Growth > v.Tolerance && v.FloorRise > v.Tolerance/2
	return v
}

// slope is the least-squares slope of ys over ts.
func slope(ts, ys []float64) float64 {
	n := float64(len(ts))
	var st, sy float64
	for i := range ts {
		st += ts[i]
		sy += ys[i]
	}
	mt, my := st/n, sy/n
	var num, den float64
	for i := range ts {
		num += (ts[i] - mt) * (ys[i] - my)
		den += (ts[i] - mt) * (ts[i] - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func medianFloat(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// soakStats collects one sampling interval's requests.
type soakStats struct {
	mu       sync.Mutex
	cmd, qry []time.Duration
	failed   int
	lastFail string
}

func (st *soakStats) add(query bool, d time.Duration, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case err != nil:
		st.failed++
		st.lastFail = err.Error()
	case query:
		st.qry = append(st.qry, d)
	default:
		st.cmd = append(st.cmd, d)
	}
}

// take returns the interval's figures and starts the next interval.
func (st *soakStats) take() (cmd, qry []time.Duration, failed int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	cmd, qry, failed = st.cmd, st.qry, st.failed
	st.cmd, st.qry, st.failed = nil, nil, 0
	return cmd, qry, failed
}

// soakResult is what --json writes.
type soakResult struct {
	Config   soakConfig      `json:"config"`
	Samples  []soakSample    `json:"samples"`
	Verdicts []growthVerdict `json:"verdicts"`
	Requests int             `json:"requests"`
	Failed   int             `json:"failed"`
	Passed   bool            `json:"passed"`
}

// Working set of the load: commands go to these items and commitments
// (and some raise new items), so that what rectify holds in memory has no
// reason to grow with the run.
const (
	soakItems       = 200
	soakCommitments = 50
)

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := soakFlags(stderr, args)
	if err != nil {
		return err
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "rectify-soak-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	p := newProgress(stderr)
	p.say("soak: starting rectify in %s", cfg.Dir)
	s, err := startBenchServer(ctx, cfg.Dir, "", p)
	if err != nil {
		return err
	}
	defer s.stop()
	// At most eight connections, closed after two idle seconds: a latency
	// spike makes the open loop want more, and they would stay on as
	// goroutines and descriptors that look like a leak. Requests beyond
	// them wait, and their latency, counted from when they were due,
	// shows it.
	s.client = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8, IdleConnTimeout: 2 * time.Second}}
	if err := soakSetup(ctx, s, p); err != nil {
		return err
	}
	p.done()

	var changes atomic.Int64
	sseCtx, cancelSSE := context.WithCancel(ctx)
	defer cancelSSE()
	sseDone, err := soakListen(sseCtx, s, &changes)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "rectify soak: %s at %.0f requests/s (open loop; about 65%% commands, 35%% queries) with a live-stream listener, after a warm-up of %s; a sample every %s; seed %d\n",
		cfg.Duration, cfg.Rate, cfg.Warmup, cfg.Sample, cfg.Seed)

	var st soakStats
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	var sent atomic.Int64
	go func() {
		defer close(loadDone)
		soakLoad(loadCtx, s, cfg, &st, &sent)
	}()
	if cfg.Warmup > 0 {
		p.say("soak: warming up for %s", cfg.Warmup)
		select {
		case <-ctx.Done():
			stopLoad()
			<-loadDone
			return ctx.Err()
		case <-time.After(cfg.Warmup):
		}
		p.done()
		_, _, failed := st.take()
		fmt.Fprintf(stdout, "warm-up: %d requests sent, %d failed\n", sent.Load(), failed)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tevents\trss MiB\theap MiB\tgoroutines\topen files\treq/s\tfailed\tcmd p50\tcmd p99\tquery p99\tlive changes\t")
	tw.Flush()

	res := soakResult{Config: cfg}
	start := time.Now()
	tick := time.NewTicker(cfg.Sample)
	lastChanges := changes.Load()
	for n := 1; time.Duration(n)*cfg.Sample <= cfg.Duration; n++ {
		select {
		case <-ctx.Done():
			stopLoad()
			<-loadDone
			return ctx.Err()
		case <-tick.C:
		}
		cmd, qry, failed := st.take()
		smp := soakSample{At: time.Since(start), Requests: len(cmd) + len(qry) + failed, Failed: failed,
			CmdP50: quantile(cmd, 0.5), CmdP99: quantile(cmd, 0.99), QueryP99: quantile(qry, 0.99)}
		c := changes.Load()
		smp.Changes, lastChanges = c-lastChanges, c
		if head, err := s.app.store.Head(ctx); err == nil {
			smp.Events = head
		}
		smp.RSS, smp.OpenFiles = residentBytes(), openFiles()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		smp.Heap, smp.Goroutines = ms.HeapAlloc, runtime.NumGoroutine()
		res.Samples = append(res.Samples, smp)
		res.Requests += smp.Requests
		res.Failed += failed
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%d\t%d\t%.0f\t%d\t%s\t%s\t%s\t%d\t\n", smp.At.Round(time.Second), smp.Events,
			float64(smp.RSS)/(1<<20), float64(smp.Heap)/(1<<20), smp.Goroutines, smp.OpenFiles,
			float64(smp.Requests)/cfg.Sample.Seconds(), smp.Failed, msec(smp.CmdP50), msec(smp.CmdP99), msec(smp.QueryP99), smp.Changes)
		tw.Flush()
	}
	tick.Stop()
	stopLoad()
	<-loadDone
	cancelSSE()
	<-sseDone

	ts := make([]float64, len(res.Samples))
	for i, smp := range res.Samples {
		ts[i] = smp.At.Seconds()
	}
	var growing []string
	fmt.Fprintln(stdout, "verdict (judged over the second half of the samples; growth = fitted slope times their span):")
	for _, rule := range growthRules {
		ys := make([]float64, len(res.Samples))
		for i, smp := range res.Samples {
			ys[i] = rule.of(smp)
		}
		if rule.Name == "resident memory" || rule.Name == "open files" {
			if slices.Max(ys) == 0 {
				continue // not measurable on this system (no /proc)
			}
		}
		v := judgeGrowth(rule, ts, ys)
		res.Verdicts = append(res.Verdicts, v)
		word := "flat"
		if v.Growing {
			word = "GROWING"
			growing = append(growing, rule.Name)
		}
		fmt.Fprintf(stdout, "  %-16s %-8s growth %s, floor rise %s, tolerance %s (median %s)\n", rule.Name, word,
			soakUnit(rule.Name, v.Growth), soakUnit(rule.Name, v.FloorRise), soakUnit(rule.Name, v.Tolerance), soakUnit(rule.Name, v.Median))
	}
	failRate := 0.0
	if res.Requests > 0 {
		failRate = float64(res.Failed) / float64(res.Requests)
	}
	fmt.Fprintf(stdout, "  requests         %d sent, %d answered in the samples, %d failed (%.2f%%)", sent.Load(), res.Requests, res.Failed, 100*failRate)
	if st.lastFail != "" {
		fmt.Fprintf(stdout, "; last: %s", st.lastFail)
	}
	fmt.Fprintln(stdout)
	var problems []string
	if len(growing) > 0 {
		problems = append(problems, "steady growth of "+strings.Join(growing, ", "))
	}
	// Failures mean the load overwhelmed the server, and a leak judged
	// under overload says little.
	if failRate > 0.01 {
		problems = append(problems, fmt.Sprintf("%.1f%% of the requests failed", 100*failRate))
	}
	res.Passed = len(problems) == 0
	if res.Passed {
		fmt.Fprintln(stdout, "PASS: nothing grows steadily")
	} else {
		fmt.Fprintf(stdout, "FAIL: %s\n", strings.Join(problems, "; "))
	}
	if cfg.JSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSON, b, 0o644); err != nil {
			return err
		}
	}
	if !res.Passed {
		return errors.New("soak: " + strings.Join(problems, "; "))
	}
	return nil
}

// soakUnit renders a value of a measure in its unit.
func soakUnit(name string, v float64) string {
	if name == "heap after GC" || name == "resident memory" {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.1f", v)
}

// soakSetup registers the unit and cycle and the working set of items and
// commitments.
func soakSetup(ctx context.Context, s *benchServer, p *progress) error {
	must := func(path, body string, want int) error {
		if code, _ := s.do(ctx, http.MethodPost, path, body); code != want {
			return fmt.Errorf("soak setup: POST %s: HTTP %d", path, code)
		}
		return nil
	}
	if err := must("/api/v1/units", `{"unit_id":"gw","name":"城关街道工委","kind":"committee"}`, http.StatusCreated); err != nil {
		return err
	}
	if err := must("/api/v1/cycles", `{"cycle_id":"y2026","name":"2026年度述职评议","year":2026,"kind":"annual_review","start":"2026-01-01","end":"2026-12-31"}`, http.StatusCreated); err != nil {
		return err
	}
	for i := range soakItems {
		p.bar("soak: raising the working set of items", i, soakItems)
		if err := must("/api/v1/items", fmt.Sprintf(`{"item_id":"soak-%d","cycle_id":"y2026","unit_id":"gw","title":"长期运行测试事项 %d","deadline":"2030-06-30"}`, i, i), http.StatusCreated); err != nil {
			return err
		}
	}
	// The commitments run from a year ago to a year ahead: activities are
	// logged on past days only.
	now := time.Now()
	start, end := now.AddDate(-1, 0, 0).Format(time.DateOnly), now.AddDate(1, 0, 0).Format(time.DateOnly)
	for i := range soakCommitments {
		p.bar("soak: making the commitments", i, soakCommitments)
		if err := must("/api/v1/commitments", fmt.Sprintf(`{"commitment_id":"soak-c%d","unit_id":"gw","title":"每周走访社区 %d","activity":"走访","target":2,"period":"week","start":%q,"end":%q}`,
			i, i, start, end), http.StatusCreated); err != nil {
			return err
		}
	}
	return nil
}

// soakLoad sends requests at cfg.Rate until ctx is done, open loop: each
// on its own goroutine when due, its latency counted from when it was
// due. Past 2,000 requests in flight the server is hopelessly behind,
// and more are counted as failed rather than sent.
func soakLoad(ctx context.Context, s *benchServer, cfg soakConfig, st *soakStats, sent *atomic.Int64) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x736f616b))
	var wg sync.WaitGroup
	defer wg.Wait()
	var inFlight atomic.Int64
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		if inFlight.Load() > 2000 {
			st.add(false, 0, errors.New("more than 2,000 requests in flight"))
			continue
		}
		method, path, body, want := soakRequest(rng, i)
		inFlight.Add(1)
		sent.Add(1)
		wg.Go(func() {
			defer inFlight.Add(-1)
			code, _ := s.do(context.WithoutCancel(ctx), method, path, body)
			var err error
			if code != want {
				err = fmt.Errorf("%s %s: HTTP %d", method, path, code)
			}
			st.add(method == http.MethodGet, time.Since(due), err)
		})
	}
}

// soakRequest picks the next request: progress reports on the working
// set's items, activities logged toward its commitments, a few new
// items, and reads of the ledger, an item and the progress summary.
func soakRequest(rng *rand.Rand, i int) (method, path, body string, want int) {
	item := fmt.Sprintf("soak-%d", rng.IntN(soakItems))
	switch r := rng.IntN(100); {
	case r < 35:
		return http.MethodPost, "/api/v1/items/" + item + "/progress", fmt.Sprintf(`{"note":"第%d次推进整改"}`, i), http.StatusOK
	case r < 55:
		// A day of the last 300, inside every commitment and not ahead.
		day := time.Now().AddDate(0, 0, -1-rng.IntN(300)).Format(time.DateOnly)
		return http.MethodPost, fmt.Sprintf("/api/v1/commitments/soak-c%d/activities", rng.IntN(soakCommitments)),
			fmt.Sprintf(`{"count":1,"occurred_on":%q,"note":"走访记录 %d"}`, day, i), http.StatusCreated
	case r < 65:
		return http.MethodPost, "/api/v1/items", fmt.Sprintf(`{"cycle_id":"y2026","unit_id":"gw","title":"新发现问题 %d","deadline":"2030-06-30"}`, i), http.StatusCreated
	case r < 80:
		return http.MethodGet, "/api/v1/items?limit=50", "", http.StatusOK
	case r < 90:
		return http.MethodGet, "/api/v1/items/" + item, "", http.StatusOK
	default:
		return http.MethodGet, "/api/v1/progress/summary?depth=1", "", http.StatusOK
	}
}

// soakListen follows every change on the live stream, counting them, and
// reconnects with its last id when the stream ends; done is closed once
// ctx is done and the stream closed.
func soakListen(ctx context.Context, s *benchServer, changes *atomic.Int64) (done <-chan struct{}, err error) {
	open := func(lastID string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/stream", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("live stream: HTTP %d", resp.StatusCode)
		}
		return resp, nil
	}
	resp, err := open("")
	if err != nil {
		return nil, err
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		lastID := ""
		for {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line := sc.Bytes()
				switch {
				case bytes.HasPrefix(line, []byte("id: ")):
					lastID = string(line[4:])
				case bytes.Equal(line, []byte("event: change")):
					changes.Add(1)
				}
			}
			resp.Body.Close()
			for {
				if ctx.Err() != nil {
					return
				}
				if resp, err = open(lastID); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
	}()
	return ch, nil
}

// residentBytes is this process's resident set, 0 where /proc is not.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// openFiles counts this process's open file descriptors, 0 where /proc
// is not.
func openFiles() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}
