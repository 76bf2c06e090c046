package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// MustServe starts every role of `rectify serve` in-process on a fresh data
// directory and returns the app and its data directory.
func MustServe(tb testing.TB) (*app, string) {
	tb.Helper()
	a, dir, _ := mustServe(tb, false)
	return a, dir
}

func mustServe(tb testing.TB, demo bool) (*app, string, string) {
	tb.Helper()
	dir := tb.TempDir()
	var out bytes.Buffer
	cfg := serveConfig{DataDir: dir, NATSHost: "127.0.0.1", NATSPort: -1, Replica: "0", Demo: demo, Addr: "127.0.0.1:0"}
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve ended with %v", err)
		}
		a.Close()
	})
	if !strings.Contains(out.String(), filepath.Join(dir, "admin.token")) {
		tb.Fatalf("serve did not say where the admin token is: %q", out.String())
	}
	return a, dir, out.String()
}

func send(tb testing.TB, a *app, cmd events.Command, key string) natsx.CommandReply {
	tb.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Retry while the command service is still registering its endpoints.
	for {
		rep, err := natsx.SendCommand(ctx, a.nc, cmd.CommandName(), natsx.CommandRequest{Actor: "admin", IdempotencyKey: key, Command: b})
		if events.ErrorCode(err) == events.CodeUnavailable && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatalf("%s: %v", cmd.CommandName(), err)
		}
		return rep
	}
}

func TestServeRunsCommandsOverNATSAndTailShowsThem(t *testing.T) {
	a, dir := MustServe(t)
	token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "admin.token")); st.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.HasPrefix(string(token), events.TokenPrefix) {
		t.Errorf("admin token %q lacks the %q prefix", token, events.TokenPrefix)
	}

	send(t, a, events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee}, "u1")
	send(t, a, events.OpenCycle{CycleID: "y2019", Name: "2019年度述职评议", Year: 2019, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2019-01-01"), End: events.MustDate("2019-12-31")}, "c1")
	raise := events.RaiseItem{ItemID: "i1", CycleID: "y2019", UnitID: "gw", Title: "理论学习不够深入", Deadline: events.MustDate("2030-06-30")}
	first := send(t, a, raise, "r1")
	again := send(t, a, raise, "r1")
	if again.Position != first.Position || first.Position == 0 {
		t.Fatalf("a retried command with the same key got %+v, first reply %+v", again, first)
	}

	// events tail beside the running server prints the item, in Chinese.
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"events", "tail", "--data", dir, "--follow=false", "--stream", "item-"}, &out, &errOut); err != nil {
		t.Fatalf("events tail: %v (%s)", err, errOut.String())
	}
	sc := bufio.NewScanner(&out)
	var lines []events.Event
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("tail printed a line that is not an event: %q", sc.Text())
		}
		lines = append(lines, e)
	}
	if len(lines) != 1 || lines[0].Type != events.ItemRaised || !strings.Contains(string(lines[0].Data), "理论学习不够深入") {
		t.Fatalf("tail printed %d item events: %+v", len(lines), lines)
	}
	if lines[0].Position != first.Position {
		t.Errorf("tail shows position %d, the command reply said %d", lines[0].Position, first.Position)
	}
}

func TestTailFollowsLiveAppends(t *testing.T) {
	a, dir := MustServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--data", dir, "--type", events.UnitRegistered, "-n", "2"}, pw, io.Discard)
		pw.Close()
	}()
	send(t, a, events.RegisterUnit{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity}, "a")
	send(t, a, events.RegisterUnit{UnitID: "sq2", Name: "Riverside community", Kind: events.UnitCommunity}, "b")
	b, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	got := string(b)
	if strings.Count(got, "\n") != 2 || !strings.Contains(got, "东风社区") || !strings.Contains(got, "Riverside community") {
		t.Fatalf("tail -n 2 printed:\n%s", got)
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, io.Discard, &errOut)
	if exitCode(err) != 2 || !strings.Contains(errOut.String(), "Commands:") {
		t.Fatalf("unknown command: err %v, exit %d, help %q", err, exitCode(err), errOut.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "rectify ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

func TestServeDemoFillsTheViews(t *testing.T) {
	a, dir, out := mustServe(t, true)
	if !strings.Contains(out, "demo-tokens.txt") {
		t.Fatalf("serve --demo did not say where the demo tokens are: %q", out)
	}
	tokens, err := os.ReadFile(filepath.Join(dir, "demo-tokens.txt"))
	if err != nil || strings.Count(string(tokens), events.TokenPrefix) != 3 {
		t.Fatalf("demo tokens file: %v\n%s", err, tokens)
	}
	head, err := a.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The relay and the ledger view catch up; then the overview a user
	// would see shows the sample.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := query.Request{MinPosition: head, Scope: query.Scope{All: true}, Params: json.RawMessage(`{"cycle_id":"y-cur","depth":1}`)}
	var resp query.Response
	for {
		err := natsx.QueryRequest(ctx, a.nc, "ledger", "summary", req, &resp)
		if err == nil && resp.Error == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ledger summary never answered: %v %+v", err, resp.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var sum query.Summary
	if err := json.Unmarshal(resp.Data, &sum); err != nil {
		t.Fatal(err)
	}
	c := sum.Total
	if c.Total < 60 || c.Closed == 0 || c.Overdue == 0 || c.Withdrawn == 0 || c.ByStatus[events.StatusSubmitted] == 0 || c.ByStatus[events.StatusAssigned] == 0 {
		t.Fatalf("last year's review shows %+v; want about sixty items in every state, some overdue", c)
	}
	names := map[string]bool{}
	for _, u := range sum.Units {
		names[u.Name] = true
	}
	if !names["东风社区党委"] || !names["华鑫科技有限公司党支部"] {
		t.Errorf("summary units %v lack the demo's communities and non-public organisations", names)
	}
}

func httpDo(tb testing.TB, method, url, token string, body string, header map[string]string) (int, http.Header, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestServeAnswersHTTPWithTheDemo(t *testing.T) {
	a, dir, _ := mustServe(t, true)
	base := "http://" + a.gw.Addr()
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(tok))
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, body := httpDo(t, "GET", base+"/readyz", "", "", nil)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Raise an item over HTTP and read it back at the position written.
	code, hdr, body := httpDo(t, "POST", base+"/api/v1/items", admin,
		`{"cycle_id":"y-cur","unit_id":"sq-heping","title":"网格员队伍不稳定","deadline":"2030-12-31"}`, map[string]string{"Idempotency-Key": "k1"})
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("raise over HTTP: %d %s", code, body)
	}
	var rep struct {
		ID       string `json:"id"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal(body, &rep); err != nil || rep.ID == "" || hdr.Get("X-Rectify-Position") == "" {
		t.Fatalf("command reply %s (header %q): %v", body, hdr.Get("X-Rectify-Position"), err)
	}
	code, _, body = httpDo(t, "GET", fmt.Sprintf("%s/api/v1/items/%s?min_position=%d", base, rep.ID, rep.Position), admin, "", nil)
	if code != 200 || !strings.Contains(string(body), "网格员队伍不稳定") {
		t.Fatalf("read-your-writes over HTTP: %d %s", code, body)
	}
	// The demo's evidence files download with their recorded hash.
	code, _, body = httpDo(t, "GET", base+"/api/v1/items?status=closed&limit=1", admin, "", nil)
	var page query.LedgerPage
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Items) == 0 {
		t.Fatalf("closed items of the demo: %d %s", code, body)
	}
	id := page.Items[0].ID
	code, _, body = httpDo(t, "GET", base+"/api/v1/items/"+id, admin, "", nil)
	var detail query.ItemDetail
	if code != 200 || json.Unmarshal(body, &detail) != nil || len(detail.Evidence) == 0 {
		t.Fatalf("closed demo item %s has no evidence: %d %s", id, code, body)
	}
	ev := detail.Evidence[0]
	code, _, file := httpDo(t, "GET", base+"/api/v1/items/"+id+"/evidence/"+ev.ID, admin, "", nil)
	sum := sha256.Sum256(file)
	if code != 200 || hex.EncodeToString(sum[:]) != ev.SHA256 {
		t.Fatalf("evidence download: %d, hash %x, recorded %s", code, sum, ev.SHA256)
	}
	// A viewer sees the ledger but may not raise items.
	tokens, _ := os.ReadFile(filepath.Join(dir, "demo-tokens.txt"))
	var viewer string
	for _, line := range strings.Split(string(tokens), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 && f[0] == "u-viewer" {
			viewer = f[2]
		}
	}
	if code, _, body := httpDo(t, "GET", base+"/api/v1/progress/summary", viewer, "", nil); code != 200 {
		t.Fatalf("viewer reading progress: %d %s", code, body)
	}
	if code, _, body := httpDo(t, "POST", base+"/api/v1/items", viewer,
		`{"cycle_id":"y-cur","unit_id":"sq-heping","title":"x","deadline":"2030-12-31"}`, nil); code != http.StatusForbidden {
		t.Fatalf("viewer raising an item: %d %s, want 403", code, body)
	}
}
