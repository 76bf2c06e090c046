package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"rectify/projections/bench"
	"rectify/services/eventstore/embedded"
	"rectify/services/gen"
)

// appendFigures are the medians of the append benchmark.
type appendFigures struct {
	SingleEventsPerSec   float64                `json:"single_events_per_sec"`
	SingleP50            time.Duration          `json:"single_p50_ns"`
	SingleP99            time.Duration          `json:"single_p99_ns"`
	SingleBaselinePerSec float64                `json:"single_baseline_events_per_sec"`
	SingleRatio          float64                `json:"single_vs_baseline"`
	BatchEventsPerSec    float64                `json:"batch_events_per_sec"`
	BatchBaselinePerSec  float64                `json:"batch_baseline_events_per_sec"`
	BatchRatio           float64                `json:"batch_vs_baseline"`
	Runs                 []embedded.BenchResult `json:"-"`
}

func benchAppend(ctx context.Context, cfg benchConfig, out io.Writer, p *progress) (appendFigures, error) {
	var runs []embedded.BenchResult
	for i := range cfg.Runs {
		p.bar("append runs", i, cfg.Runs)
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("append-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return appendFigures{}, err
		}
		r, err := embedded.RunAppendBench(ctx, dir, embedded.BenchConfig{})
		os.RemoveAll(dir)
		if err != nil {
			return appendFigures{}, err
		}
		runs = append(runs, r)
	}
	p.done()
	f := appendFigures{
		SingleEventsPerSec:   medianOf(runs, func(r embedded.BenchResult) float64 { return r.Single.EventsPerSec() }),
		SingleP50:            medianOf(runs, func(r embedded.BenchResult) time.Duration { return r.Single.P50 }),
		SingleP99:            medianOf(runs, func(r embedded.BenchResult) time.Duration { return r.Single.P99 }),
		SingleBaselinePerSec: medianOf(runs, func(r embedded.BenchResult) float64 { return r.Baseline.EventsPerSec() }),
		SingleRatio:          medianOf(runs, embedded.BenchResult.SingleRatio),
		BatchEventsPerSec:    medianOf(runs, func(r embedded.BenchResult) float64 { return r.Batch.EventsPerSec() }),
		BatchBaselinePerSec:  medianOf(runs, func(r embedded.BenchResult) float64 { return r.BatchBaseline.EventsPerSec() }),
		BatchRatio:           medianOf(runs, embedded.BenchResult.BatchRatio),
		Runs:                 runs,
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevents/s\tp50\tp99\tbaseline events/s\tvs baseline\ttarget\t")
	fmt.Fprintf(tw, "single events, 64 callers\t%.0f\t%s\t%s\t%.0f\t%.0f%%\t>= 20,000/s, p99 <= 15ms, >= 70%%\t\n",
		f.SingleEventsPerSec, msec(f.SingleP50), msec(f.SingleP99), f.SingleBaselinePerSec, 100*f.SingleRatio)
	fmt.Fprintf(tw, "100-event batches, 8 callers\t%.0f\t-\t-\t%.0f\t%.0f%%\t>= 80,000/s\t\n",
		f.BatchEventsPerSec, f.BatchBaselinePerSec, 100*f.BatchRatio)
	fmt.Fprintln(tw, "baseline: raw batched INSERTs into the same schema with the same pragmas and fsync, one goroutine\t\t\t\t\t\t\t")
	return f, tw.Flush()
}

// historyStore is where the generated history of -events lives.
func historyStore(cfg benchConfig) string {
	if cfg.StorePath != "" {
		return cfg.StorePath
	}
	return filepath.Join(cfg.Dir, fmt.Sprintf("history-%d.db", cfg.Events))
}

// historyConfig is the generated history of n events: 10 events per item
// over 200 units, as DESIGN.md's 1,000,000 events and 100,000 items.
func historyConfig(n int) gen.Config {
	return gen.Config{Seed: 1, Units: 200, Items: max(100, n/10), Events: n}
}

// rebuildFigures are the medians of the rebuild benchmark.
type rebuildFigures struct {
	Events           int                `json:"events"`
	BaselinePerSec   float64            `json:"baseline_events_per_sec"`
	AllPerSec        float64            `json:"all_views_events_per_sec"`
	AllSeconds       float64            `json:"all_views_seconds"`
	ViewPerSec       map[string]float64 `json:"view_events_per_sec,omitempty"`
	Digests          map[string]string  `json:"digests"`
	MaxRSSMiB        int64              `json:"max_rss_mib"`
	LoadEventsPerSec float64            `json:"load_events_per_sec,omitempty"`
}

func benchRebuild(ctx context.Context, cfg benchConfig, out io.Writer, p *progress) (rebuildFigures, error) {
	var runs []bench.RebuildResult
	hist := historyConfig(cfg.Events)
	for i := range cfg.Runs {
		p.say("rebuild run %d of %d", i+1, cfg.Runs)
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("rebuild-%d", i))
		r, err := bench.RunRebuild(ctx, dir, bench.RebuildConfig{History: hist, StorePath: historyStore(cfg), OnlyAll: i > 0}, p.lines())
		os.RemoveAll(dir)
		if err != nil {
			return rebuildFigures{}, err
		}
		runs = append(runs, r)
	}
	p.done()
	f := rebuildFigures{
		Events:         runs[0].Events,
		BaselinePerSec: medianOf(runs, func(r bench.RebuildResult) float64 { return r.Baseline.PerSec() }),
		AllPerSec:      medianOf(runs, func(r bench.RebuildResult) float64 { return r.Parallel.PerSec() }),
		AllSeconds:     medianOf(runs, func(r bench.RebuildResult) float64 { return r.Parallel.Elapsed.Seconds() }),
		ViewPerSec:     map[string]float64{},
		Digests:        runs[0].Digests,
		MaxRSSMiB:      runs[len(runs)-1].MaxRSS >> 20,
	}
	if runs[0].Load.Elapsed > 0 {
		f.LoadEventsPerSec = runs[0].Load.PerSec()
	}
	for _, v := range runs[0].Views {
		f.ViewPerSec[v.Name] = v.PerSec()
	}
	fmt.Fprintf(out, "history: %d events (seed 1, 200 units, %d items); each view alone from the first run, the rest medians\n", f.Events, hist.Items)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevents/s\tvs baseline\ttarget\t")
	fmt.Fprintf(tw, "baseline: read + decode every event\t%.0f\t-\t\t\n", f.BaselinePerSec)
	for _, v := range runs[0].Views {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t\t\n", v.Name, v.PerSec(), pct(v.PerSec(), runs[0].Baseline.PerSec()))
	}
	fmt.Fprintf(tw, "every view at once (RebuildAll)\t%.0f\t%s\t>= 100,000/s\t\n", f.AllPerSec, pct(f.AllPerSec, f.BaselinePerSec))
	if err := tw.Flush(); err != nil {
		return f, err
	}
	_, err := fmt.Fprintf(out, "all views: %.1f s; peak resident set %d MiB\n", f.AllSeconds, f.MaxRSSMiB)
	return f, err
}
