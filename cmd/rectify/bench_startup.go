package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"rectify/projections"
	"rectify/projections/bench"
	"rectify/services/gen"
)

// servingLine is what `rectify serve` prints once it listens.
var servingLine = regexp.MustCompile(`serving http://(\S+) `)

// serveBinary is the rectify binary the startup benchmark runs: this one
// (tests point it at a freshly built binary, since theirs is a test).
var serveBinary = os.Executable

// startupFigures are the medians of the startup benchmark.
type startupFigures struct {
	Events          int           `json:"events"`
	FirstStart      time.Duration `json:"first_start_ns"`
	Start           time.Duration `json:"start_ns"`
	RSSMiB          int64         `json:"rss_mib"`
	PeakRSSMiB      int64         `json:"peak_rss_mib"`
	EmptyStart      time.Duration `json:"baseline_empty_start_ns"`
	EmptyPeakRSSMiB int64         `json:"baseline_empty_peak_rss_mib"`
}

// benchStartup measures `rectify serve` as a child process (this binary):
// the time from exec to /readyz answering 200, and its resident memory
// after a burst of queries, with the generated history stored and its
// views built, beside the same on an empty data directory.
func benchStartup(ctx context.Context, cfg benchConfig, out io.Writer, p *progress) (startupFigures, error) {
	var f startupFigures
	self, err := serveBinary()
	if err != nil {
		return f, err
	}
	hist := historyConfig(cfg.Events)
	data := filepath.Join(cfg.Dir, "startup")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return f, err
	}
	defer os.RemoveAll(data)

	// The history, copied: a serving rectify may append to its store, and
	// the rebuild benchmark reuses the original.
	store, _, err := bench.OpenHistory(ctx, historyStore(cfg), hist, p.lines())
	if err != nil {
		return f, err
	}
	store.Close()
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(historyStore(cfg)+suffix, filepath.Join(data, "events.db"+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
	}
	f.Events = gen.Count(hist)

	// Views built beforehand, as a server that has been running has them.
	p.say("building the views of %d events", f.Events)
	store, _, err = bench.OpenHistory(ctx, filepath.Join(data, "events.db"), hist, nil)
	if err != nil {
		return f, err
	}
	var runners []*projections.Runner
	for _, v := range bench.Views() {
		r, err := projections.Open(ctx, v, projections.Options{Dir: filepath.Join(data, "views"), Replica: "0", Source: store})
		if err != nil {
			store.Close()
			return f, err
		}
		runners = append(runners, r)
	}
	_, err = projections.RebuildAll(ctx, runners, func(pos uint64) { p.bar("building the views", int(pos), f.Events) })
	for _, r := range runners {
		r.Close()
	}
	store.Close()
	if err != nil {
		return f, err
	}

	token := gen.Token(hist, gen.AdminID)
	// The first start finds JetStream empty and the relay republishes the
	// whole history: a one-off, reported apart.
	p.say("first start: the relay copies %d events to JetStream", f.Events)
	c, err := startServeChild(ctx, self, data)
	if err != nil {
		return f, err
	}
	f.FirstStart = c.ready
	if err := c.stop(); err != nil {
		return f, err
	}

	var starts []time.Duration
	var rss, peak []int64
	for run := range cfg.Runs {
		p.say("startup run %d of %d", run+1, cfg.Runs)
		c, err := startServeChild(ctx, self, data)
		if err != nil {
			return f, err
		}
		starts = append(starts, c.ready)
		c.queries(ctx, token, 3*time.Second)
		r, hwm := c.memory()
		rss, peak = append(rss, r), append(peak, hwm)
		if err := c.stop(); err != nil {
			return f, err
		}
	}
	f.Start, f.RSSMiB, f.PeakRSSMiB = median(starts), median(rss)>>20, median(peak)>>20

	var emptyStarts []time.Duration
	var emptyPeak []int64
	for run := range cfg.Runs {
		p.say("baseline run %d of %d: an empty data directory", run+1, cfg.Runs)
		empty := filepath.Join(cfg.Dir, fmt.Sprintf("startup-empty-%d", run))
		c, err := startServeChild(ctx, self, empty)
		if err != nil {
			return f, err
		}
		emptyStarts = append(emptyStarts, c.ready)
		_, hwm := c.memory()
		emptyPeak = append(emptyPeak, hwm)
		c.stop()
		os.RemoveAll(empty)
	}
	f.EmptyStart, f.EmptyPeakRSSMiB = median(emptyStarts), median(emptyPeak)>>20
	p.done()

	fmt.Fprintf(out, "rectify serve as a child process; %d events stored, views built; memory after 3 s of queries\n", f.Events)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tresult\tbaseline (empty data directory)\ttarget\t")
	fmt.Fprintf(tw, "start -> /readyz 200\t%.2fs\t%.2fs\t<= 3s\t\n", f.Start.Seconds(), f.EmptyStart.Seconds())
	fmt.Fprintf(tw, "resident memory (peak)\t%d MiB (%d MiB)\t%d MiB peak\t<= 1 GiB\t\n", f.RSSMiB, f.PeakRSSMiB, f.EmptyPeakRSSMiB)
	fmt.Fprintf(tw, "first start, JetStream empty (once)\t%.1fs\t-\t-\t\n", f.FirstStart.Seconds())
	return f, tw.Flush()
}

// serveChild is `rectify serve` started by the startup benchmark.
type serveChild struct {
	cmd   *exec.Cmd
	base  string
	ready time.Duration // from exec to the first 200 of /readyz
	done  chan error
}

func startServeChild(ctx context.Context, self, data string) (*serveChild, error) {
	cmd := exec.Command(self, "serve", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "error")
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &serveChild{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text() + " "); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { c.done <- cmd.Wait() }()
	select {
	case a := <-addr:
		c.base = "http://" + a
	case err := <-c.done:
		return nil, fmt.Errorf("rectify serve exited: %v", err)
	case <-time.After(10 * time.Minute):
		cmd.Process.Kill()
		return nil, errors.New("rectify serve did not start listening")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		resp, err := client.Get(c.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.ready = time.Since(start)
				return c, nil
			}
		}
		if time.Since(start) > 10*time.Minute || ctx.Err() != nil {
			cmd.Process.Kill()
			return nil, errors.New("rectify serve did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queries reads the progress summary and ledger pages for d, so that the
// memory measured is that of a server at work.
func (c *serveChild) queries(ctx context.Context, token string, d time.Duration) {
	client := &http.Client{}
	paths := []string{"/api/v1/progress/summary?depth=1", "/api/v1/items?limit=50", "/api/v1/items?limit=50&status=overdue", "/api/v1/audit?limit=50"}
	closedLoop(ctx, 8, d, func() bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+paths[time.Now().Nanosecond()%len(paths)], nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// memory reads the child's resident set and its peak from /proc.
func (c *serveChild) memory() (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

func (c *serveChild) stop() error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		return err
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		return errors.New("rectify serve did not stop within a minute of SIGTERM")
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
