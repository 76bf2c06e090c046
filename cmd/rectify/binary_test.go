package main

// End-to-end tests against the built binary, started as a child process the
// way a user starts it, and driven only through HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// builds holds the binaries built for this test run, by package.
var builds sync.Map // package path -> *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// goBuild builds the main package pkg into a temporary file named name,
// once per test run.
func goBuild(tb testing.TB, pkg, name string) string {
	tb.Helper()
	v, _ := builds.LoadOrStore(pkg, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "rectify-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// rectifyBinary builds cmd/rectify once per test run. Not with the race
// detector: the in-process tests check rectify's code for races, and in a
// child it reports races inside nats-server (v2.15.2 updates a file
// store's config while a consumer reads it), which rectify cannot fix.
func rectifyBinary(tb testing.TB) string { return goBuild(tb, ".", "rectify") }

// syncBuffer collects a child's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is `rectify serve` running as a separate process.
type child struct {
	cmd            *exec.Cmd
	base           string // http://host:port
	dir            string
	stdout, stderr *syncBuffer
	done           chan error
	exited         bool
}

// startChild starts `rectify serve` on dir with a free HTTP port and waits
// until /readyz says every part is ready.
func startChild(tb testing.TB, dir string, extra ...string) *child {
	tb.Helper()
	c := spawnChild(tb, dir, extra...)
	c.awaitServing(tb)
	c.awaitReady(tb, 2*time.Minute)
	return c
}

// spawnChild starts `rectify serve` on dir with a free HTTP port and
// returns at once, before it serves.
func spawnChild(tb testing.TB, dir string, extra ...string) *child {
	tb.Helper()
	args := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	c := &child{cmd: exec.Command(rectifyBinary(tb), args...), dir: dir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	c.cmd.SysProcAttr = childAttr()
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	tb.Cleanup(func() {
		if !c.exited {
			c.cmd.Process.Kill()
			<-c.done
		}
		if tb.Failed() {
			tb.Logf("rectify stdout:\n%s\nrectify stderr:\n%s", c.stdout, c.stderr)
		}
	})
	return c
}

// awaitServing waits until the child says where it serves HTTP.
func (c *child) awaitServing(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for c.base == "" {
		if m := servingLine.FindStringSubmatch(c.stdout.String()); m != nil {
			c.base = "http://" + m[1]
			break
		}
		select {
		case err := <-c.done:
			c.exited = true
			tb.Fatalf("rectify serve exited before serving: %v\n%s%s", err, c.stdout, c.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("rectify serve did not say where it serves:\n%s", c.stdout)
		}
	}
}

// awaitReady waits until /readyz answers 200: every part is up and every
// view has caught up with the store.
func (c *child) awaitReady(tb testing.TB, within time.Duration) {
	tb.Helper()
	started := time.Now()
	deadline := started.Add(within)
	for {
		code, _, body := httpDo(tb, "GET", c.base+"/readyz", "", "", nil)
		if code == http.StatusOK {
			return
		}
		if time.Since(started) > 10*time.Second {
			tb.Logf("not ready after %s: %s\nstderr so far:\n%s", time.Since(started).Round(time.Second), body, c.stderr)
			started = time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("/readyz never became ready: %d %s", code, body)
		}
		if code != http.StatusServiceUnavailable {
			tb.Fatalf("/readyz: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig and waits for the process to exit, returning its error.
func (c *child) signal(tb testing.TB, sig os.Signal, within time.Duration) error {
	tb.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.exited = true
		return err
	case <-time.After(within):
		tb.Fatalf("rectify did not exit within %s of %v", within, sig)
		return nil
	}
}

// tokens reads the admin token and the demo users' tokens of a data
// directory.
func tokens(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	out["admin"] = strings.TrimSpace(string(b))
	if b, err := os.ReadFile(filepath.Join(dir, "demo-tokens.txt")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, "\t"); len(f) == 3 {
				out[f[0]] = f[2]
			}
		}
	}
	return out
}

// api is one user's HTTP client of a child.
type api struct {
	tb    testing.TB
	base  string
	token string
}

// post sends a command and wants status want; it returns the position the
// reply says it wrote.
func (a api) post(path string, body any, want int) uint64 {
	a.tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		a.tb.Fatal(err)
	}
	code, hdr, rb := httpDo(a.tb, "POST", a.base+path, a.token, string(b), nil)
	if code != want {
		a.tb.Fatalf("POST %s %s: %d %s, want %d", path, b, code, rb, want)
	}
	if code >= 300 {
		return 0
	}
	pos, err := strconv.ParseUint(hdr.Get("X-Rectify-Position"), 10, 64)
	if err != nil {
		a.tb.Fatalf("POST %s: reply lacks its position header: %v", path, err)
	}
	return pos
}

// get reads path at least at position min into v and returns the status.
func (a api) get(path string, min uint64, v any) int {
	a.tb.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	code, _, body := httpDo(a.tb, "GET", fmt.Sprintf("%s%s%smin_position=%d", a.base, path, sep, min), a.token, "", nil)
	if code == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			a.tb.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	if code != http.StatusOK {
		a.tb.Logf("GET %s: %d %s", path, code, body)
	}
	return code
}

// sseEvent is one message of the live stream.
type sseEvent struct{ id, event, data string }

// openSSE opens the live stream and returns its messages as they come; the
// stream ends when ctx is done.
func openSSE(tb testing.TB, ctx context.Context, base, token, rawQuery, lastID string) <-chan sseEvent {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/stream?"+rawQuery, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tb.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" || e.data != "" {
					ch <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return ch
}

// awaitChange reads the stream until a change of at least position pos, or
// fails; it returns the last id read.
func awaitChange(tb testing.TB, ch <-chan sseEvent, pos uint64, what string) string {
	tb.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				tb.Fatalf("%s: the stream ended", what)
			}
			if e.event == "reset" {
				tb.Fatalf("%s: the stream was reset: %s", what, e.data)
			}
			if e.event != "change" {
				continue
			}
			id, err := strconv.ParseUint(e.id, 10, 64)
			if err != nil {
				tb.Fatalf("%s: change with id %q", what, e.id)
			}
			if id >= pos {
				return e.id
			}
		case <-timeout:
			tb.Fatalf("%s: no change at position %d within 30s", what, pos)
		}
	}
}

func TestBinaryServesAWholeItemLifeCommitmentsAndLiveUpdates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the binary and starts it as a child process")
	}
	dir := t.TempDir()
	c := startChild(t, dir, "--demo")
	if !strings.Contains(c.stdout.String(), "admin.token") || !strings.Contains(c.stdout.String(), "demo-tokens.txt") {
		t.Fatalf("first start did not say where the tokens are:\n%s", c.stdout)
	}
	tok := tokens(t, dir)
	admin := api{t, c.base, tok["admin"]}
	editor := api{t, c.base, tok["u-dongfeng"]} // 东风社区党委's secretary
	reviewer := api{t, c.base, tok["u-reviewer"]}
	viewer := api{t, c.base, tok["u-viewer"]}

	// A dashboard follows the new item live from before it exists.
	ctx, cancel := context.WithCancel(context.Background())
	stream := openSSE(t, ctx, c.base, tok["u-viewer"], "topic=item:bin-1", "")

	// The whole life of an item, by the people who would do each step.
	pos := admin.post("/api/v1/items", map[string]any{"item_id": "bin-1", "cycle_id": "y-cur", "unit_id": "sq-dongfeng",
		"title": "网格巡查记录不完整 / patrol records incomplete", "category": "基层治理", "deadline": "2031-06-30"}, http.StatusCreated)
	lastID := awaitChange(t, stream, pos, "raise")
	pos = admin.post("/api/v1/items/bin-1/assign", map[string]any{"unit_id": "sq-dongfeng", "owner_id": "u-dongfeng", "owner_name": "王秀兰"}, http.StatusOK)
	pos = editor.post("/api/v1/items/bin-1/measures", map[string]any{"measure_id": "bin-1-m1", "text": "每周检查网格巡查台账", "due": "2031-03-31"}, http.StatusCreated)
	pos = editor.post("/api/v1/items/bin-1/progress", map[string]any{"percent": 60, "note": "已完成三个网格的台账补录"}, http.StatusOK)
	// Submitting with a measure still open is refused, naming the measure.
	code, _, body := httpDo(t, "POST", c.base+"/api/v1/items/bin-1/submit", tok["u-dongfeng"], `{"note":"申请验收"}`, nil)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "bin-1-m1") {
		t.Fatalf("submit with an open measure: %d %s", code, body)
	}
	pos = editor.post("/api/v1/items/bin-1/measures/bin-1-m1/complete", map[string]any{"note": "台账已补齐"}, http.StatusOK)
	pos = editor.post("/api/v1/items/bin-1/submit", map[string]any{"note": "申请验收"}, http.StatusOK)
	lastID = awaitChange(t, stream, pos, "submit")

	// The viewer may read but not act; the editor may not verify its own work.
	viewer.post("/api/v1/items/bin-1/verify", map[string]any{}, http.StatusForbidden)
	editor.post("/api/v1/items/bin-1/verify", map[string]any{}, http.StatusForbidden)
	// A rejection without a reason names the field.
	code, _, body = httpDo(t, "POST", c.base+"/api/v1/items/bin-1/reject", tok["u-reviewer"], `{}`, nil)
	if code != http.StatusBadRequest || !strings.Contains(string(body), `"reason"`) {
		t.Fatalf("reject without a reason: %d %s", code, body)
	}
	pos = reviewer.post("/api/v1/items/bin-1/reject", map[string]any{"reason": "缺少巡查照片"}, http.StatusOK)
	var item query.ItemDetail
	if code := editor.get("/api/v1/items/bin-1", pos, &item); code != http.StatusOK || item.Status != events.StatusInProgress {
		t.Fatalf("after the rejection the editor reads %d, status %q; want in_progress", code, item.Status)
	}

	// The dashboard drops its connection; the work goes on meanwhile.
	cancel()
	pos = editor.post("/api/v1/items/bin-1/submit", map[string]any{"note": "已补充照片"}, http.StatusOK)
	verified := reviewer.post("/api/v1/items/bin-1/verify", map[string]any{"note": "整改到位，同意销号"}, http.StatusOK)
	// It reconnects with the last id it saw and misses nothing.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	resumed := openSSE(t, ctx, c.base, tok["u-viewer"], "topic=item:bin-1", lastID)
	awaitChange(t, resumed, verified, "resume after reconnect")

	if code := viewer.get("/api/v1/items/bin-1", verified, &item); code != http.StatusOK || item.Status != events.StatusClosed {
		t.Fatalf("after verification the viewer reads %d, status %q; want closed", code, item.Status)
	}
	if item.Title != "网格巡查记录不完整 / patrol records incomplete" {
		t.Errorf("title came back as %q", item.Title)
	}
	var tl query.AuditPage
	if code := viewer.get("/api/v1/items/bin-1/timeline", verified, &tl); code != http.StatusOK {
		t.Fatalf("timeline: %d", code)
	}
	var steps []string
	for _, e := range tl.Entries {
		steps = append(steps, strings.TrimPrefix(e.Type, "rectify.item.")+"/"+e.Actor)
		if e.Type == events.ItemVerificationRejected && e.Reason != "缺少巡查照片" {
			t.Errorf("the rejection shows reason %q", e.Reason)
		}
	}
	want := "raised/admin assigned/admin measure_planned/u-dongfeng progress_reported/u-dongfeng measure_completed/u-dongfeng submitted/u-dongfeng verification_rejected/u-reviewer submitted/u-dongfeng verified/u-reviewer"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("timeline:\n got %s\nwant %s", got, want)
	}

	// Scope: the secretary of 东风 sees only 东风's items; another unit's
	// item does not exist for them.
	var page query.LedgerPage
	if code := editor.get("/api/v1/items?limit=200", verified, &page); code != http.StatusOK || len(page.Items) == 0 {
		t.Fatalf("editor's ledger: %d, %d items", code, len(page.Items))
	}
	for _, it := range page.Items {
		if it.UnitID != "sq-dongfeng" {
			t.Errorf("the 东风 secretary sees item %s of unit %s", it.ID, it.UnitID)
		}
	}
	if code := admin.get("/api/v1/items?unit_id=sq-xinhua&limit=1", 0, &page); code != http.StatusOK || len(page.Items) == 0 {
		t.Fatalf("admin reading 新华's items: %d", code)
	}
	if code := editor.get("/api/v1/items/"+page.Items[0].ID, 0, nil); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("the 东风 secretary reading 新华's item: %d, want 403 or 404", code)
	}
	if code, _, _ := httpDo(t, "GET", c.base+"/api/v1/items", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}

	// A weekly commitment across two weeks: met, then missed.
	pos = admin.post("/api/v1/commitments", map[string]any{"commitment_id": "bin-c1", "unit_id": "sq-dongfeng", "title": "每周至少到分包社区走访2次",
		"activity": "走访", "target": 2, "period": "week", "start": "2026-11-02", "end": "2026-12-31"}, http.StatusCreated)
	for i, day := range []string{"2026-11-03", "2026-11-05", "2026-11-11"} {
		pos = editor.post("/api/v1/commitments/bin-c1/activities", map[string]any{"count": 1, "occurred_on": day, "note": fmt.Sprintf("第%d次走访", i+1)}, http.StatusCreated)
	}
	var comp query.Compliance
	if code := viewer.get("/api/v1/commitments/bin-c1/compliance?from=2026-11-02&to=2026-11-15", pos, &comp); code != http.StatusOK || len(comp.Commitments) != 1 {
		t.Fatalf("compliance: %d %+v", code, comp)
	}
	got := map[string]string{}
	for _, p := range comp.Commitments[0].Periods {
		got[p.Start.String()] = fmt.Sprintf("%d/%d %s", p.Actual, p.Target, p.Status)
	}
	if got["2026-11-02"] != "2/2 met" || got["2026-11-09"] != "1/2 missed" {
		t.Errorf("weekly compliance %v; want week of 11-02 2/2 met, week of 11-09 1/2 missed", got)
	}

	// A clean stop, and a restart on the same data answers the same.
	if err := c.signal(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("SIGTERM: exited with %v\n%s", err, c.stderr)
	}
	c = startChild(t, dir)
	if strings.Contains(c.stdout.String(), "created the administrator") {
		t.Errorf("a restart created another administrator:\n%s", c.stdout)
	}
	viewer.base = c.base
	if code := viewer.get("/api/v1/items/bin-1", verified, &item); code != http.StatusOK || item.Status != events.StatusClosed {
		t.Fatalf("after a restart the item reads %d, status %q", code, item.Status)
	}
}

// Under a steady load of commands, SIGTERM stops rectify without losing any
// command it acknowledged: the gateway stops first and lets requests in
// flight finish while the command service still runs.
func TestBinaryGracefulShutdownKeepsEveryAcknowledgedCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the binary and starts it as a child process")
	}
	dir := t.TempDir()
	c := startChild(t, dir)
	admin := api{t, c.base, tokens(t, dir)["admin"]}
	admin.post("/api/v1/units", map[string]any{"unit_id": "gw", "name": "城关街道工委", "kind": "committee"}, http.StatusCreated)
	admin.post("/api/v1/cycles", map[string]any{"cycle_id": "y2026", "name": "2026年度述职评议", "year": 2026, "kind": "annual_review",
		"start": "2026-01-01", "end": "2026-12-31"}, http.StatusCreated)

	var mu sync.Mutex
	acked := map[string]uint64{} // item id -> position its reply gave
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", w, n)
				body := fmt.Sprintf(`{"item_id":%q,"cycle_id":"y2026","unit_id":"gw","title":"压力测试事项 %d-%d","deadline":"2030-01-01"}`, id, w, n)
				req, _ := http.NewRequest("POST", c.base+"/api/v1/items", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+admin.token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server has stopped listening
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					pos, _ := strconv.ParseUint(resp.Header.Get("X-Rectify-Position"), 10, 64)
					mu.Lock()
					acked[id] = pos
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	err := c.signal(t, syscall.SIGTERM, 60*time.Second)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("SIGTERM under load: exited with %v", err)
	}
	if len(acked) < 20 {
		t.Fatalf("only %d commands were acknowledged before the stop; the load did not run", len(acked))
	}

	// The store, read by the binary's own tail, holds every acknowledged
	// item exactly once.
	out, err := exec.Command(rectifyBinary(t), "events", "tail", "--data", dir, "--follow=false", "--type", events.ItemRaised).Output()
	if err != nil {
		t.Fatalf("events tail: %v", err)
	}
	stored := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		stored[strings.TrimPrefix(e.Stream, "item-")]++
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged item %s is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d commands acknowledged before SIGTERM, %d items stored", len(acked), len(stored))

	// After a restart every acknowledged item shows in the views.
	c = startChild(t, dir)
	admin.base = c.base
	var maxPos uint64
	for _, p := range acked {
		maxPos = max(maxPos, p)
	}
	seen := map[string]bool{}
	for cursor := ""; ; {
		var page query.LedgerPage
		if code := admin.get("/api/v1/items?cycle_id=y2026&limit=200&cursor="+cursor, maxPos, &page); code != http.StatusOK {
			t.Fatalf("ledger after restart: %d", code)
		}
		for _, it := range page.Items {
			seen[it.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged item %s is missing from the ledger after a restart", id)
		}
	}
	if err := c.signal(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("second SIGTERM: %v", err)
	}
}
