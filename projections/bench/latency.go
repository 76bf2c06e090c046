package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/projections"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
	"rectify/services/natsx"
	"rectify/services/relay"
)

// LatencyConfig sizes RunLatency. Zero fields take the defaults shown.
type LatencyConfig struct {
	// History is loaded before measuring, so that the views hold a
	// realistic amount of data (Seed 1, 200 units, 10,000 items, 100,000
	// events); its last Appends events are the ones appended one by one.
	History gen.Config
	// Appends is how many single-event appends are measured (5,000).
	Appends int
	// Rate is the appends per second, spaced evenly (500).
	Rate int
	// Views are the projections kept live (Views()).
	Views []projections.Projection
	// Consume tunes the runners (the defaults of Consume).
	Consume projections.ConsumeOptions
}

func (c *LatencyConfig) defaults() {
	if c.History == (gen.Config{}) {
		c.History = gen.Config{Seed: 1, Items: 10_000, Events: 100_000}
	}
	if c.Appends <= 0 {
		c.Appends = 5_000
	}
	if c.Rate <= 0 {
		c.Rate = 500
	}
	if c.Views == nil {
		c.Views = Views()
	}
}

// Quantiles summarise a set of latencies.
type Quantiles struct {
	P50, P90, P99, Max time.Duration
}

func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Quantiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// ViewLatency is the latency until one view shows an appended event.
type ViewLatency struct {
	Name string
	Quantiles
}

// LatencyResult holds what RunLatency measured.
type LatencyResult struct {
	Appends int
	// Rate is the append rate achieved, per second.
	Rate float64
	// Append is the time an Append call took (the event is durable when it
	// returns).
	Append Quantiles
	// Visible is the time from the start of an Append until every view
	// has applied the event (Runner.WaitFor returned on each).
	Visible Quantiles
	// Views is Visible for each view alone.
	Views []ViewLatency
}

// WriteTable prints the result as a table.
func (r LatencyResult) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%d single-event appends at %.0f/s\n", r.Appends, r.Rate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tp50\tp90\tp99\tmax\t")
	row := func(name string, q Quantiles) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, ms(q.P50), ms(q.P90), ms(q.P99), ms(q.Max))
	}
	row("append (durable)", r.Append)
	row("append -> every view", r.Visible)
	for _, v := range r.Views {
		row("append -> "+v.Name, v.Quantiles)
	}
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// RunLatency measures how soon an appended event shows in the views, in
// fresh files under dir/latency: it loads the history but its last
// cfg.Appends events into an embedded store, starts an in-process NATS
// server with JetStream, the relay and a runner per view consuming
// through its durable consumer, waits until the views have caught up, and
// then appends the remaining events one at a time at cfg.Rate, timing
// each until every view has applied it. progress, if not nil, receives a
// line per step.
func RunLatency(ctx context.Context, dir string, cfg LatencyConfig, progress io.Writer) (LatencyResult, error) {
	cfg.defaults()
	var res LatencyResult
	dir = filepath.Join(dir, "latency")
	if err := os.RemoveAll(dir); err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	store, err := embedded.Open(filepath.Join(dir, "events.db"), embedded.Options{})
	if err != nil {
		return res, err
	}
	defer store.Close()

	total := gen.Count(cfg.History)
	keep := max(0, total-cfg.Appends)
	var tail []events.Event
	head := func(yield func(events.Event) bool) {
		i := 0
		for e := range gen.History(cfg.History) {
			if i < keep {
				if !yield(e) {
					return
				}
			} else {
				tail = append(tail, e)
			}
			i++
		}
	}
	if _, err := gen.AppendAll(ctx, store, head, nil); err != nil {
		return res, err
	}
	printf(progress, "loaded %d events; %d to append one by one", keep, len(tail))

	quiet := slog.New(slog.DiscardHandler)
	srv, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), Port: -1})
	if err != nil {
		return res, err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	nc, err := natsx.Connect(ctx, srv.ClientURL(), "rectify-bench")
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	rl := relay.New(store, js, nc, relay.Options{Logger: quiet})
	wg.Go(func() { _ = rl.Run(runCtx) })
	var runners []*projections.Runner
	for _, p := range cfg.Views {
		r, err := projections.Open(ctx, p, projections.Options{Dir: filepath.Join(dir, "views"), Source: store, Logger: quiet})
		if err != nil {
			return res, err
		}
		defer r.Close()
		runners = append(runners, r)
		wg.Go(func() { _ = r.Consume(runCtx, js, cfg.Consume) })
	}
	start := time.Now()
	pos, err := store.Head(ctx)
	if err != nil {
		return res, err
	}
	if err := waitAll(ctx, runners, pos, 10*time.Minute); err != nil {
		return res, fmt.Errorf("catch up: %w", err)
	}
	printf(progress, "views caught up with %d events in %.1fs", pos, time.Since(start).Seconds())

	res.Appends = len(tail)
	appends := make([]time.Duration, len(tail))
	visible := make([]time.Duration, len(tail))
	perView := make([][]time.Duration, len(runners))
	for i := range perView {
		perView[i] = make([]time.Duration, len(tail))
	}
	var waits sync.WaitGroup
	var failMu sync.Mutex
	var failed error
	interval := time.Second / time.Duration(cfg.Rate)
	start = time.Now()
	for i, e := range tail {
		// Pacing, not waiting for anything: appends are spaced evenly.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		expected := eventstore.NoStream
		if e.Revision > 0 {
			expected = eventstore.Exact(e.Revision - 1)
		}
		t0 := time.Now()
		ar, err := store.Append(ctx, e.Stream, expected, e)
		if err != nil {
			return res, fmt.Errorf("append %s: %w", e.Stream, err)
		}
		appends[i] = time.Since(t0)
		for k, r := range runners {
			waits.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := r.WaitFor(wctx, ar.Position); err != nil {
					failMu.Lock()
					failed = err
					failMu.Unlock()
					return
				}
				perView[k][i] = time.Since(t0)
			})
		}
	}
	res.Rate = float64(len(tail)) / time.Since(start).Seconds()
	waits.Wait()
	if failed != nil {
		return res, failed
	}
	for i := range visible {
		for k := range perView {
			visible[i] = max(visible[i], perView[k][i])
		}
	}
	res.Append = quantiles(appends)
	res.Visible = quantiles(visible)
	for k, r := range runners {
		res.Views = append(res.Views, ViewLatency{Name: r.Name(), Quantiles: quantiles(perView[k])})
	}
	return res, nil
}

// waitAll waits until every runner has applied pos.
func waitAll(ctx context.Context, runners []*projections.Runner, pos uint64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, r := range runners {
		if err := r.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	return nil
}
