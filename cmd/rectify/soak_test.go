package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The growth detector on series of known shape: 60 samples, ten seconds
// apart, judged with a tolerance of 12 or 5% of the median.
func TestGrowthDetectorTellsLeaksFromNoise(t *testing.T) {
	rule := growthRule{Name: "goroutines", Abs: 12, Rel: 0.05}
	rng := rand.New(rand.NewPCG(1, 2))
	series := func(f func(i int) float64) ([]float64, []float64) {
		ts, ys := make([]float64, 60), make([]float64, 60)
		for i := range ts {
			ts[i], ys[i] = float64(10*i), f(i)
		}
		return ts, ys
	}
	for _, tc := range []struct {
		name    string
		f       func(i int) float64
		growing bool
	}{
		{"flat", func(int) float64 { return 200 }, false},
		{"noisy flat", func(int) float64 { return 200 + float64(rng.IntN(30)) }, false},
		{"flat with spikes of load", func(i int) float64 {
			if i%7 == 3 {
				return 260
			}
			return 200
		}, false},
		{"one spike at the very end", func(i int) float64 {
			if i == 59 {
				return 400
			}
			return 200
		}, false},
		{"warm-up, then flat", func(i int) float64 { return 200 + 150*min(1, float64(i)/20) }, false},
		{"sawtooth of a bounded cache", func(i int) float64 { return 200 + float64(5*(i%10)) }, false},
		{"steady leak", func(i int) float64 { return 200 + float64(i) }, true},
		{"slow leak in noise", func(i int) float64 { return 200 + float64(i) + float64(rng.IntN(20)) }, true},
		{"leak that starts late", func(i int) float64 { return 200 + 2*float64(max(0, i-40)) }, true},
	} {
		ts, ys := series(tc.f)
		v := judgeGrowth(rule, ts, ys)
		if v.Growing != tc.growing {
			t.Errorf("%s: growing %v, want %v (growth %.1f, floor rise %.1f, tolerance %.1f)", tc.name, v.Growing, tc.growing, v.Growth, v.FloorRise, v.Tolerance)
		}
	}
	// Too few samples to judge: not growing, whatever they do.
	if v := judgeGrowth(rule, []float64{0, 1, 2, 3, 4}, []float64{1, 100, 200, 300, 400}); v.Growing {
		t.Errorf("five samples judged growing: %+v", v)
	}
}

// The soak mode, for CI: a minute instead of the hour one runs by hand
// (half of it warming up), at a rate this shared machine sustains, must
// take its samples and find nothing growing.
func TestSoakMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the soak runs the built binary under load for most of a minute")
	}
	out := filepath.Join(t.TempDir(), "soak.json")
	cmd := exec.Command(rectifyBinary(t), "soak", "--warmup", "20s", "--duration", "28s", "--sample", "1400ms", "--rate", "50", "--json", out)
	cmd.SysProcAttr = childAttr()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("rectify soak:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("rectify soak: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res soakResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(res.Samples) != 20 || res.Requests < 1200 {
		t.Errorf("passed %v with %d samples and %d requests; want a pass, 20 samples, about 1,500 requests", res.Passed, len(res.Samples), res.Requests)
	}
	judged := map[string]bool{}
	for _, v := range res.Verdicts {
		judged[v.Name] = true
		if v.Growing || v.Median <= 0 {
			t.Errorf("verdict %+v", v)
		}
	}
	want := []string{"goroutines", "heap after GC"}
	if _, err := os.Stat("/proc/self/fd"); err == nil {
		want = append(want, "open files", "resident memory")
	}
	for _, name := range want {
		if !judged[name] {
			t.Errorf("%s was not judged", name)
		}
	}
	if last := res.Samples[len(res.Samples)-1]; last.Events == 0 || last.Changes == 0 || last.CmdP99 == 0 {
		t.Errorf("the last sample shows no work: %+v", last)
	}
	if !strings.Contains(stdout.String(), "PASS: nothing grows steadily") {
		t.Errorf("no verdict line in the output")
	}
}
