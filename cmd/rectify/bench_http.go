package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"rectify/projections/bench"
	"rectify/services/gen"
)

// benchServer is `rectify serve` running in this process for a benchmark,
// with its HTTP listener on a free port.
type benchServer struct {
	app    *app
	base   string
	token  string
	client *http.Client
	stop   func() error
}

// startBenchServer starts every role on dir, as `rectify serve` does, and
// waits until /readyz says the views have caught up with the store.
func startBenchServer(ctx context.Context, dir, token string, p *progress) (*benchServer, error) {
	cfg := serveConfig{DataDir: dir, NATSHost: "127.0.0.1", NATSPort: -1, Replica: "0", Addr: "127.0.0.1:0",
		MaxBodyBytes: 1 << 20, MaxEvidenceBytes: 1 << 20, RequestTimeout: 30 * time.Second, QueryWait: 5 * time.Second, ShutdownTimeout: 10 * time.Second}
	a, err := openApp(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	s := &benchServer{app: a, base: "http://" + a.gw.Addr(), token: token,
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}}
	s.stop = func() error {
		cancel()
		err := <-done
		return errors.Join(err, a.Close())
	}
	if s.token == "" {
		b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			s.stop()
			return nil, err
		}
		s.token = strings.TrimSpace(string(b))
	}
	start := time.Now()
	for {
		if code, _ := s.do(ctx, "GET", "/readyz", ""); code == http.StatusOK {
			return s, nil
		}
		if time.Since(start) > 10*time.Minute || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("rectify did not become ready within %s", time.Since(start).Round(time.Second))
		}
		p.say("waiting for the views to catch up (%s)", time.Since(start).Round(time.Second))
		time.Sleep(200 * time.Millisecond)
	}
}

// do sends one request and returns its status and the position header.
func (s *benchServer) do(ctx context.Context, method, path, body string) (int, uint64) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	pos, _ := strconv.ParseUint(resp.Header.Get("X-Rectify-Position"), 10, 64)
	return resp.StatusCode, pos
}

// sseWatch is one live-stream client: it notes when it first saw each
// position announced by the ledger view.
type sseWatch struct {
	mu   sync.Mutex
	seen map[uint64]time.Time
}

func (s *benchServer) watch(ctx context.Context) (*sseWatch, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/api/v1/stream?topic=view:ledger", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("stream: %s", resp.Status)
	}
	w := &sseWatch{seen: map[uint64]time.Time{}}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("id: ")) {
				continue
			}
			pos, err := strconv.ParseUint(string(line[4:]), 10, 64)
			if err != nil {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			if _, ok := w.seen[pos]; !ok {
				w.seen[pos] = now
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *sseWatch) at(pos uint64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[pos]
	return t, ok
}

// openLoopResult is one fixed-rate step.
type openLoopResult struct {
	Offered  float64       `json:"offered_per_sec"`
	Achieved float64       `json:"achieved_per_sec"`
	Sent     int           `json:"sent"`
	Failed   int           `json:"failed"`
	ReplyP50 time.Duration `json:"reply_p50_ns"`
	ReplyP99 time.Duration `json:"reply_p99_ns"`
	SSEP50   time.Duration `json:"sse_p50_ns,omitempty"`
	SSEP99   time.Duration `json:"sse_p99_ns,omitempty"`
	SSEMiss  int           `json:"sse_missed,omitempty"`
}

// sustained: every request answered with success, replies kept up with the
// offered rate, and they did not queue (p99 within a quarter second).
func (r openLoopResult) sustained() bool {
	return r.Failed == 0 && r.Achieved >= 0.95*r.Offered && r.ReplyP99 <= 250*time.Millisecond
}

// openLoop sends requests at a fixed rate for d, whatever the replies do
// (open loop: a slow reply does not delay the next request, so latency is
// not hidden by back-pressure). Latency counts from the moment a request
// was due, not from when it went out. send returns the position written
// (0 for reads) or an error; watchers, if any, are checked for every
// position afterwards.
func openLoop(ctx context.Context, rate float64, d time.Duration, send func(i int) (uint64, error), watchers []*sseWatch) openLoopResult {
	n := int(rate * d.Seconds())
	due := make([]time.Time, n)
	replied := make([]time.Time, n)
	pos := make([]uint64, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		due[i] = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if w := time.Until(due[i]); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		if inFlight.Load() > 20_000 {
			failed[i] = true // the server is hopelessly behind; count it rather than pile on
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			p, err := send(i)
			replied[i] = time.Now()
			pos[i], failed[i] = p, err != nil
		}()
	}
	wg.Wait()
	end := time.Now()
	r := openLoopResult{Offered: rate, Sent: n}
	var reply []time.Duration
	var last time.Time
	for i := range n {
		if failed[i] {
			r.Failed++
			continue
		}
		reply = append(reply, replied[i].Sub(due[i]))
		if replied[i].After(last) {
			last = replied[i]
		}
	}
	if !last.IsZero() {
		r.Achieved = float64(len(reply)) / last.Sub(start).Seconds()
	}
	r.ReplyP50, r.ReplyP99 = quantile(reply, 0.50), quantile(reply, 0.99)
	if len(watchers) > 0 {
		// Give the last notices a moment to arrive.
		time.Sleep(max(0, 2*time.Second-time.Since(end)))
		var sse []time.Duration
		for i := range n {
			if failed[i] || pos[i] == 0 {
				continue
			}
			for _, w := range watchers {
				if t, ok := w.at(pos[i]); ok {
					sse = append(sse, t.Sub(due[i]))
				} else {
					r.SSEMiss++
				}
			}
		}
		r.SSEP50, r.SSEP99 = quantile(sse, 0.50), quantile(sse, 0.99)
	}
	return r
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// e2eFigures are the medians of the e2e benchmark.
type e2eFigures struct {
	MaxSustained float64            `json:"max_sustained_commands_per_sec"`
	At           openLoopResult     `json:"at_rate"`
	Baseline     openLoopResult     `json:"baseline_healthz_at_rate"`
	Steps        [][]openLoopResult `json:"steps_per_run"`
}

// benchE2E runs `rectify serve` in-process with its HTTP listener and
// drives it with HTTP commands (raising items, each a new stream) at fixed
// rates while SSE clients listen.
func benchE2E(ctx context.Context, cfg benchConfig, out io.Writer, p *progress) (e2eFigures, error) {
	var f e2eFigures
	var maxes []float64
	var ats, bases []openLoopResult
	for run := range cfg.Runs {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("e2e-%d", run))
		p.say("e2e run %d of %d: starting rectify", run+1, cfg.Runs)
		s, err := startBenchServer(ctx, dir, "", p)
		if err != nil {
			return f, err
		}
		if code, _ := s.do(ctx, "POST", "/api/v1/units", `{"unit_id":"gw","name":"城关街道工委","kind":"committee"}`); code != http.StatusCreated {
			s.stop()
			return f, fmt.Errorf("register unit: HTTP %d", code)
		}
		s.do(ctx, "POST", "/api/v1/cycles", `{"cycle_id":"y","name":"2026年度述职评议","year":2026,"kind":"annual_review","start":"2026-01-01","end":"2026-12-31"}`)
		seq := 0
		raise := func(step string) func(int) (uint64, error) {
			return func(i int) (uint64, error) {
				body := fmt.Sprintf(`{"item_id":"%s-%d","cycle_id":"y","unit_id":"gw","title":"基准测试事项 %s-%d","deadline":"2027-06-30"}`, step, i, step, i)
				code, pos := s.do(ctx, "POST", "/api/v1/items", body)
				if code != http.StatusCreated {
					return 0, fmt.Errorf("HTTP %d", code)
				}
				return pos, nil
			}
		}
		// Warm up connections and caches.
		openLoop(ctx, 200, time.Second, raise("warm"), nil)

		// Latency first, on a server that no overload has left behind.
		sseCtx, cancelSSE := context.WithCancel(ctx)
		var watchers []*sseWatch
		for range cfg.SSEClients {
			w, err := s.watch(sseCtx)
			if err != nil {
				cancelSSE()
				s.stop()
				return f, err
			}
			watchers = append(watchers, w)
		}
		p.say("e2e run %d of %d: latency at %.0f commands/s", run+1, cfg.Runs, cfg.Rate)
		ats = append(ats, openLoop(ctx, cfg.Rate, cfg.Duration, raise(fmt.Sprintf("at%d", run)), watchers))
		p.say("e2e run %d of %d: baseline", run+1, cfg.Runs)
		bases = append(bases, openLoop(ctx, cfg.Rate, cfg.Duration, func(int) (uint64, error) {
			if code, _ := s.do(ctx, "GET", "/healthz", ""); code != http.StatusOK {
				return 0, fmt.Errorf("HTTP %d", code)
			}
			return 0, nil
		}, nil))
		cancelSSE()
		time.Sleep(time.Second)
		var steps []openLoopResult
		best := 0.0
		for _, rate := range cfg.Steps {
			seq++
			p.say("e2e run %d of %d: %0.f commands/s", run+1, cfg.Runs, rate)
			r := openLoop(ctx, rate, cfg.Duration, raise(fmt.Sprintf("s%d", seq)), nil)
			steps = append(steps, r)
			if !r.sustained() {
				break
			}
			best = rate
			time.Sleep(time.Second) // let the views drain before the next step
		}
		f.Steps = append(f.Steps, steps)
		maxes = append(maxes, best)
		if err := s.stop(); err != nil {
			return f, err
		}
		os.RemoveAll(dir)
	}
	p.done()
	f.MaxSustained = median(maxes)
	f.At = medianLoop(ats)
	f.Baseline = medianLoop(bases)
	fmt.Fprintf(out, "commands: POST /api/v1/items (each a new item), open loop; %d SSE clients on the ledger's notices; steps of %s\n", cfg.SSEClients, cfg.Duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tresult\tbaseline (GET /healthz)\tratio\ttarget\t")
	fmt.Fprintf(tw, "max sustained commands/s\t%.0f\t-\t-\t>= 3,000\t\n", f.MaxSustained)
	fmt.Fprintf(tw, "reply p50 at %.0f/s\t%s\t%s\t%.1fx\t\t\n", cfg.Rate, msec(f.At.ReplyP50), msec(f.Baseline.ReplyP50), ratioDur(f.At.ReplyP50, f.Baseline.ReplyP50))
	fmt.Fprintf(tw, "reply p99 at %.0f/s\t%s\t%s\t%.1fx\t<= 25ms\t\n", cfg.Rate, msec(f.At.ReplyP99), msec(f.Baseline.ReplyP99), ratioDur(f.At.ReplyP99, f.Baseline.ReplyP99))
	fmt.Fprintf(tw, "command -> SSE p50 at %.0f/s\t%s\t-\t-\t\t\n", cfg.Rate, msec(f.At.SSEP50))
	fmt.Fprintf(tw, "command -> SSE p99 at %.0f/s\t%s\t-\t-\t<= 50ms\t\n", cfg.Rate, msec(f.At.SSEP99))
	if err := tw.Flush(); err != nil {
		return f, err
	}
	if f.At.SSEMiss > 0 || f.At.Failed > 0 {
		fmt.Fprintf(out, "at %.0f/s: %d commands failed, %d notices not seen within 2 s\n", cfg.Rate, f.At.Failed, f.At.SSEMiss)
	}
	fmt.Fprintln(out, "sustained = every command answered 2xx, replies >= 95% of the offered rate, reply p99 <= 250ms; steps (first run):")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tachieved/s\tfailed\treply p50\treply p99\tsustained\t")
	for _, r := range f.Steps[0] {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%d\t%s\t%s\t%v\t\n", r.Offered, r.Achieved, r.Failed, msec(r.ReplyP50), msec(r.ReplyP99), r.sustained())
	}
	return f, tw.Flush()
}

func ratioDur(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// medianLoop takes the median of each figure of several runs of a step.
func medianLoop(rs []openLoopResult) openLoopResult {
	return openLoopResult{
		Offered:  rs[0].Offered,
		Achieved: medianOf(rs, func(r openLoopResult) float64 { return r.Achieved }),
		Sent:     medianOf(rs, func(r openLoopResult) int { return r.Sent }),
		Failed:   medianOf(rs, func(r openLoopResult) int { return r.Failed }),
		ReplyP50: medianOf(rs, func(r openLoopResult) time.Duration { return r.ReplyP50 }),
		ReplyP99: medianOf(rs, func(r openLoopResult) time.Duration { return r.ReplyP99 }),
		SSEP50:   medianOf(rs, func(r openLoopResult) time.Duration { return r.SSEP50 }),
		SSEP99:   medianOf(rs, func(r openLoopResult) time.Duration { return r.SSEP99 }),
		SSEMiss:  medianOf(rs, func(r openLoopResult) int { return r.SSEMiss }),
	}
}

// closedLoopResult is one concurrency step of the query benchmark.
type closedLoopResult struct {
	Concurrency int           `json:"concurrency"`
	PerSec      float64       `json:"requests_per_sec"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	Failed      int           `json:"failed"`
}

// closedLoop runs c clients, each sending its next request when the last
// is answered, for d.
func closedLoop(ctx context.Context, c int, d time.Duration, send func() bool) closedLoopResult {
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if !send() {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return closedLoopResult{Concurrency: c, PerSec: float64(len(lat)) / time.Since(start).Seconds(),
		P50: quantile(lat, 0.5), P99: quantile(lat, 0.99), Failed: failed}
}

// queryFigures are the medians of the query benchmark, per concurrency.
type queryFigures struct {
	Events   int                `json:"events"`
	Progress []closedLoopResult `json:"progress"`
	Ledger   []closedLoopResult `json:"ledger_page_50"`
	Baseline []closedLoopResult `json:"baseline_healthz"`
}

// benchQuery loads a generated history, starts rectify on it and reads
// the progress summary and a ledger page of 50 over HTTP at increasing
// concurrency, beside GET /healthz (the cost of HTTP alone).
func benchQuery(ctx context.Context, cfg benchConfig, out io.Writer, p *progress) (queryFigures, error) {
	hist := historyConfig(cfg.QueryEvents)
	dir := filepath.Join(cfg.Dir, "query")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return queryFigures{}, err
	}
	defer os.RemoveAll(dir)
	store, _, err := bench.OpenHistory(ctx, filepath.Join(dir, "events.db"), hist, p.lines())
	if err != nil {
		return queryFigures{}, err
	}
	store.Close()
	s, err := startBenchServer(ctx, dir, gen.Token(hist, gen.AdminID), p)
	if err != nil {
		return queryFigures{}, err
	}
	defer s.stop()
	get := func(path string) func() bool {
		return func() bool { code, _ := s.do(ctx, "GET", path, ""); return code == http.StatusOK }
	}
	f := queryFigures{Events: gen.Count(hist)}
	kinds := []struct {
		name string
		send func() bool
		dst  *[]closedLoopResult
	}{
		{"progress", get("/api/v1/progress/summary?depth=1"), &f.Progress},
		{"ledger page of 50", get("/api/v1/items?limit=50"), &f.Ledger},
		{"baseline /healthz", get("/healthz"), &f.Baseline},
	}
	for _, k := range kinds {
		if !k.send() {
			return f, fmt.Errorf("%s does not answer 200", k.name)
		}
		for _, c := range cfg.Concurrency {
			var runs []closedLoopResult
			for run := range cfg.Runs {
				p.say("query: %s, %d clients, run %d of %d", k.name, c, run+1, cfg.Runs)
				runs = append(runs, closedLoop(ctx, c, cfg.Duration, k.send))
			}
			*k.dst = append(*k.dst, closedLoopResult{Concurrency: c,
				PerSec: medianOf(runs, func(r closedLoopResult) float64 { return r.PerSec }),
				P50:    medianOf(runs, func(r closedLoopResult) time.Duration { return r.P50 }),
				P99:    medianOf(runs, func(r closedLoopResult) time.Duration { return r.P99 }),
				Failed: medianOf(runs, func(r closedLoopResult) int { return r.Failed })})
		}
	}
	p.done()
	fmt.Fprintf(out, "history: %d events (%d items over 200 units); closed loop, %s per step; target >= 8,000 requests/s, p99 <= 10ms\n", f.Events, hist.Items, cfg.Duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tprogress req/s\tp99\tledger/50 req/s\tp99\thealthz req/s\tp99\tprogress vs baseline\tledger vs baseline\t")
	for i, c := range cfg.Concurrency {
		pr, lg, bs := f.Progress[i], f.Ledger[i], f.Baseline[i]
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t\n", c, pr.PerSec, msec(pr.P99), lg.PerSec, msec(lg.P99), bs.PerSec, msec(bs.P99),
			pct(pr.PerSec, bs.PerSec), pct(lg.PerSec, bs.PerSec))
	}
	return f, tw.Flush()
}
