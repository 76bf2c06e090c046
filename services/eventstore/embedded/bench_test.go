package embedded

import (
	"context"
	"os"
	"testing"
)

// BenchmarkAppend runs RunAppendBench with its defaults and prints its
// table: durable single-event appends from 64 callers, 100-event batches,
// and raw-insert baselines of the same rows. Each iteration is a whole
// run on fresh files.
func BenchmarkAppend(b *testing.B) {
	var res BenchResult
	for b.Loop() {
		var err error
		res, err = RunAppendBench(context.Background(), b.TempDir(), BenchConfig{})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Single.EventsPerSec(), "single_events/s")
	b.ReportMetric(float64(res.Single.P50.Microseconds())/1000, "single_p50_ms")
	b.ReportMetric(float64(res.Single.P99.Microseconds())/1000, "single_p99_ms")
	b.ReportMetric(res.SingleRatio(), "single_vs_baseline")
	b.ReportMetric(res.Batch.EventsPerSec(), "batch100_events/s")
	b.ReportMetric(res.BatchRatio(), "batch_vs_baseline")
	b.ReportMetric(res.Baseline.EventsPerSec(), "baseline_events/s")
}
