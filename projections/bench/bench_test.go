package bench

import (
	"context"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"rectify/projections"
	"rectify/services/gen"
)

var (
	benchEvents = flag.Int("bench.events", 1_000_000, "events of the history BenchmarkRebuild rebuilds from")
	benchStore  = flag.String("bench.store", "", "event store file BenchmarkRebuild loads the history into, or reuses if it holds it (default: a temporary file)")
	benchRate   = flag.Int("bench.rate", 500, "appends per second of BenchmarkAppendToView")
	benchViews  = flag.String("bench.views", "", "comma-separated views to measure (default: every view)")
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
	cfg := RebuildConfig{History: gen.Config{Seed: 1, Items: *benchEvents / 10, Events: *benchEvents}, StorePath: *benchStore, Views: views(b)}
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
