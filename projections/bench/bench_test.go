package bench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"rectify/events"
	"rectify/projections"
	"rectify/services/gen"
)

var (
	benchEvents = flag.Int("bench.events", 1_000_000, "events of the history BenchmarkRebuild rebuilds from")
	benchStore  = flag.String("bench.store", "", "event store file BenchmarkRebuild loads the history into, or reuses if it holds it (default: a temporary file)")
	benchRate   = flag.Int("bench.rate", 500, "appends per second of BenchmarkAppendToView")
	benchViews  = flag.String("bench.views", "", "comma-separated views to measure (default: every view)")
	benchOnly   = flag.Bool("bench.onlyall", false, "BenchmarkRebuild measures only the baseline and RebuildAll, not each view alone (for -cpuprofile)")
)

// views returns the views -bench.views names, or nil for every view.
func views(tb testing.TB) []projections.Projection {
	if *benchViews == "" {
		return nil
	}
	var out []projections.Projection
	for _, name := range strings.Split(*benchViews, ",") {
		i := slices.IndexFunc(Views(), func(p projections.Projection) bool { return p.Name() == name })
		if i < 0 {
			tb.Fatalf("no view %q", name)
		}
		out = append(out, Views()[i])
	}
	return out
}

// BenchmarkRebuild rebuilds every view from a generated history of
// -bench.events events (1,000,000: 100,000 items over 200 units), each
// view alone and all at once, beside a baseline that only reads and
// decodes, and logs the table. With -bench.store the loaded history is
// kept and reused by later runs.
func BenchmarkRebuild(b *testing.B) {
	cfg := RebuildConfig{History: gen.Config{Seed: 1, Items: *benchEvents / 10, Events: *benchEvents}, StorePath: *benchStore, Views: views(b), OnlyAll: *benchOnly}
	var res RebuildResult
	for b.Loop() {
		var err error
		res, err = RunRebuild(context.Background(), b.TempDir(), cfg, os.Stderr)
		if err != nil {
			b.Fatal(err)
		}
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		b.Fatal(err)
	}
	b.Log("\n" + table.String())
	b.ReportMetric(res.Baseline.PerSec(), "baseline_events/s")
	b.ReportMetric(res.Sequential.PerSec(), "sequential_events/s")
	b.ReportMetric(res.Parallel.PerSec(), "parallel_events/s")
	b.ReportMetric(res.Parallel.CPU.Seconds(), "parallel_cpu_s")
	if res.MaxRSS > 0 {
		b.ReportMetric(float64(res.MaxRSS>>20), "peak_rss_MiB")
	}
	for _, v := range res.Views {
		b.ReportMetric(v.PerSec(), strings.TrimPrefix(v.Name, "rebuild ")+"_events/s")
	}
}

// BenchmarkAppendToView appends 5,000 single events at -bench.rate per
// second with the relay and a runner per view live, and logs how long each
// took until every view showed it.
func BenchmarkAppendToView(b *testing.B) {
	cfg := LatencyConfig{Rate: *benchRate, Views: views(b)}
	var res LatencyResult
	for b.Loop() {
		var err error
		res, err = RunLatency(context.Background(), b.TempDir(), cfg, os.Stderr)
		if err != nil {
			b.Fatal(err)
		}
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		b.Fatal(err)
	}
	b.Log("\n" + table.String())
	b.ReportMetric(float64(res.Visible.P50.Microseconds())/1000, "visible_p50_ms")
	b.ReportMetric(float64(res.Visible.P99.Microseconds())/1000, "visible_p99_ms")
	b.ReportMetric(float64(res.Append.P99.Microseconds())/1000, "append_p99_ms")
}

// TestRunRebuild runs the rebuild benchmark on a small history: every view
// applies every stored event, both rebuilds of each view agree, and the
// table names every view.
func TestRunRebuild(t *testing.T) {
	cfg := RebuildConfig{History: gen.Config{Seed: 3, Units: 20, Items: 150, Commitments: 10, Events: 2000}}
	res, err := RunRebuild(context.Background(), t.TempDir(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := gen.Count(cfg.History); res.Events != want || res.Load.Events != want || res.Baseline.Events != want {
		t.Fatalf("store %d, loaded %d, baseline read %d events; the history has %d", res.Events, res.Load.Events, res.Baseline.Events, want)
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, v := range Views() {
		if res.Digests[v.Name()] == "" {
			t.Errorf("no digest of %s", v.Name())
		}
		if !strings.Contains(table.String(), "rebuild "+v.Name()) {
			t.Errorf("the table lacks %s:\n%s", v.Name(), table.String())
		}
	}
	for _, run := range res.Views {
		if run.Events != res.Events || run.Elapsed <= 0 {
			t.Errorf("%s: %d events in %s, want %d", run.Name, run.Events, run.Elapsed, res.Events)
		}
	}
}

// TestRunLatency runs the latency benchmark on a small history: every
// appended event shows in every view, never before its append returned.
func TestRunLatency(t *testing.T) {
	cfg := LatencyConfig{History: gen.Config{Seed: 4, Units: 20, Items: 100, Commitments: 10, Events: 1200}, Appends: 60, Rate: 200}
	res, err := RunLatency(context.Background(), t.TempDir(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Appends != 60 || len(res.Views) != len(Views()) {
		t.Fatalf("%d appends, %d views", res.Appends, len(res.Views))
	}
	// Each event's visibility time includes its append, so every quantile
	// of the one is at least that of the other.
	if res.Visible.P50 < res.Append.P50 || res.Visible.P99 < res.Append.P99 || res.Visible.Max < res.Visible.P99 || res.Visible.P50 <= 0 {
		t.Errorf("implausible latencies: append %+v, visible %+v", res.Append, res.Visible)
	}
}

// TestOpenHistoryReusesOnlyItsHistory: a store loaded once is used again
// for the same history and refused for another.
func TestOpenHistoryReusesOnlyItsHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	cfg := gen.Config{Seed: 8, Units: 10, Items: 40, Commitments: 5, Events: 500}
	store, load, err := OpenHistory(ctx, path, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if load.Elapsed <= 0 || load.Events != gen.Count(cfg) {
		t.Fatalf("first open loaded %d events in %s", load.Events, load.Elapsed)
	}
	store, load, err = OpenHistory(ctx, path, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if load.Elapsed != 0 {
		t.Fatalf("second open loaded again (%s)", load.Elapsed)
	}
	cfg.Seed++
	if _, _, err := OpenHistory(ctx, path, cfg, nil); events.ErrorCode(err) != events.CodeConflict {
		t.Fatalf("another history's store: %v, want conflict", err)
	}
}
