package embedded

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkAppend runs RunAppendBench with its defaults and logs its
// table: durable single-event appends from 64 callers, 100-event batches,
// and raw-insert baselines of the same rows. Event and aggregate ids are
// time-ordered (UUIDv7), as the command side makes them. Each iteration
// is a whole run on fresh files.
func BenchmarkAppend(b *testing.B) { benchAppend(b, BenchConfig{}) }

// BenchmarkAppendRandomIDs is BenchmarkAppend with random (UUIDv4) ids,
// which scatter index writes: what a store fed by clients that make their
// own random ids would do.
func BenchmarkAppendRandomIDs(b *testing.B) { benchAppend(b, BenchConfig{RandomIDs: true}) }

func benchAppend(b *testing.B, cfg BenchConfig) {
	var res BenchResult
	for b.Loop() {
		var err error
		res, err = RunAppendBench(context.Background(), b.TempDir(), cfg)
		if err != nil {
			b.Fatal(err)
		}
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		b.Fatal(err)
	}
	b.Log("\n" + table.String())
	b.ReportMetric(res.Single.EventsPerSec(), "single_events/s")
	b.ReportMetric(float64(res.Single.P50.Microseconds())/1000, "single_p50_ms")
	b.ReportMetric(float64(res.Single.P99.Microseconds())/1000, "single_p99_ms")
	b.ReportMetric(res.SingleRatio(), "single_vs_baseline")
	b.ReportMetric(res.Batch.EventsPerSec(), "batch100_events/s")
	b.ReportMetric(res.BatchRatio(), "batch_vs_baseline")
	b.ReportMetric(res.Baseline.EventsPerSec(), "baseline_events/s")
}
