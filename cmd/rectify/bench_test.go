package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rectify bench, every part at a tiny size: each prints its table with the
// baseline beside it, and --json holds figures a second run can be compared
// with.
func TestBenchPrintsEveryTableAndJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test runs every benchmark and builds the binary")
	}
	bin := rectifyBinary(t)
	serveBinary = func() (string, error) { return bin, nil }
	t.Cleanup(func() { serveBinary = os.Executable })

	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "bench.json")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"bench", "--quick", "--dir", filepath.Join(dir, "work"), "--json", jsonPath, "all"}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{
		"== append", "single events, 64 callers", "vs baseline",
		"== e2e", "max sustained commands/s", "command -> SSE p99", "baseline (GET /healthz)",
		"== query", "healthz req/s",
		"== rebuild", "every view at once (RebuildAll)", "baseline: read + decode",
		"== startup", "start -> /readyz 200", "resident memory",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	var res struct {
		Results map[string]map[string]any `json:"results"`
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("bench JSON: %v\n%s", err, b)
	}
	// Figures that are positive on any machine, however loaded (a loaded
	// one may sustain none of the tiny steps, so not the maximum).
	figure := func(bench string, path ...string) float64 {
		var v any = res.Results[bench]
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		f, _ := v.(float64)
		return f
	}
	for _, c := range [][]string{
		{"append", "single_events_per_sec"}, {"e2e", "at_rate", "reply_p50_ns"}, {"e2e", "baseline_healthz_at_rate", "reply_p50_ns"},
		{"rebuild", "all_views_events_per_sec"}, {"startup", "start_ns"}, {"query", "events"},
	} {
		if figure(c[0], c[1:]...) <= 0 {
			t.Errorf("JSON results %v = %v, want a positive figure", c, figure(c[0], c[1:]...))
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"bench", "nonsense"}, {"bench", "--steps", "fast"}, {"bench", "--runs", "0"}} {
		var errOut bytes.Buffer
		if err := run(context.Background(), args, &bytes.Buffer{}, &errOut); exitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
