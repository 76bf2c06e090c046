package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"rectify/events"
	"rectify/projections"
	"rectify/services"
	"rectify/services/eventstore/embedded"
	"rectify/services/natsx/natstest"
)

// opsRig is a command service on the embedded store and a ledger view,
// both served over a restartable NATS server, and a gateway engine with
// /healthz and /readyz on a real port.
type opsRig struct {
	nats   *natstest.Server
	store  *embedded.Store
	cmds   *services.Service
	ledger *projections.Runner
	base   string
}

// MustOpenOpsRig starts the rig; everything stops at cleanup.
func MustOpenOpsRig(tb testing.TB) *opsRig {
	tb.Helper()
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	logger := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	r := &opsRig{nats: natstest.MustStartRestartable(tb)}
	svcConn, _ := natstest.MustConnect(tb, r.nats.URL)
	gwConn, _ := natstest.MustConnect(tb, r.nats.URL)
	var err error
	r.store, err = embedded.Open(filepath.Join(tb.TempDir(), "events.db"), embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	r.ledger, err = projections.Open(context.Background(), projections.Ledger{}, projections.Options{Dir: tb.TempDir(), Source: r.store})
	if err != nil {
		tb.Fatal(err)
	}
	r.cmds = services.New(r.store, services.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := r.cmds.ServeNATS(ctx, svcConn, logger); err != nil {
			tb.Errorf("command service: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := projections.ServeQueries(ctx, svcConn, []*projections.Runner{r.ledger}, projections.ServeOptions{Logger: logger}); err != nil {
			tb.Errorf("queries: %v", err)
		}
	}()
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		r.ledger.Close()
		r.store.Close()
	})
	e := gin.New()
	e.GET("/healthz", healthHandler())
	e.GET("/readyz", readyHandler(500*time.Millisecond, readyChecks(gwConn, "ledger")...))
	srv := httptest.NewServer(e)
	tb.Cleanup(srv.Close)
	r.base = srv.URL
	return r
}

// ready asks /readyz and returns the status and the failing checks by
// name, with their errors.
func (r *opsRig) ready(tb testing.TB) (int, map[string]string) {
	tb.Helper()
	resp, err := http.Get(r.base + "/readyz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var rep readyReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		tb.Fatal(err)
	}
	failed := map[string]string{}
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
		if !c.OK {
			failed[c.Name] = c.Error
		} else if c.Error != "" {
			tb.Errorf("check %s passed with an error: %q", c.Name, c.Error)
		}
	}
	if got := strings.Join(names, ","); got != "nats,commands,view ledger" {
		tb.Fatalf("checks %s", got)
	}
	if (resp.StatusCode == http.StatusOK) != (len(failed) == 0) || (rep.Status == "ready") != (len(failed) == 0) {
		tb.Fatalf("%s %q with failed checks %v", resp.Status, rep.Status, failed)
	}
	return resp.StatusCode, failed
}

// waitReady polls /readyz until its status is want.
func (r *opsRig) waitReady(tb testing.TB, want int) map[string]string {
	tb.Helper()
	var failed map[string]string
	waitFor(tb, 20*time.Second, http.StatusText(want)+" from /readyz", func() bool {
		var status int
		status, failed = r.ready(tb)
		return status == want
	})
	return failed
}

func TestHealthz(t *testing.T) {
	r := MustOpenOpsRig(t)
	resp, err := http.Get(r.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("%s %s", resp.Status, b)
	}
}

func TestReadyzFollowsNATSTheCommandSideAndTheViews(t *testing.T) {
	r := MustOpenOpsRig(t)
	r.waitReady(t, http.StatusOK)

	// The store moves on; the view has not seen it yet.
	if _, _, err := r.cmds.Bootstrap(context.Background(), "管理员"); err != nil {
		t.Fatal(err)
	}
	failed := r.waitReady(t, http.StatusServiceUnavailable)
	if len(failed) != 1 || !strings.Contains(failed["view ledger"], "store head") {
		t.Fatalf("failed checks %v, want only the lagging view", failed)
	}
	evs, err := r.store.ReadAll(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var batch []projections.Delivery
	var prev uint64
	for _, e := range evs {
		batch = append(batch, projections.Delivery{Event: e, Prev: prev})
		prev = e.Position
	}
	if err := r.ledger.Apply(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, http.StatusOK)

	r.nats.Stop()
	// The other checks may fail first (their requests time out before
	// the client notices the server is gone): wait for the NATS check
	// itself to say so.
	waitFor(t, 20*time.Second, "/readyz to name the NATS connection", func() bool {
		var status int
		status, failed = r.ready(t)
		return status == http.StatusServiceUnavailable && strings.Contains(failed["nats"], "NATS connection")
	})
	r.nats.MustStart(t)
	r.waitReady(t, http.StatusOK)
}

// scrape returns the /metrics text of base.
func scrape(tb testing.TB, base string) string {
	tb.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape: %s %v", resp.Status, err)
	}
	return string(b)
}

// hasSample reports whether the exposition has a line "series value".
func hasSample(text, series, value string) bool {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if sc.Text() == series+" "+value {
			return true
		}
	}
	return false
}

func TestMetricsCountRequestsCommandsAndRegisteredGauges(t *testing.T) {
	live := MustOpenLiveRig(t, liveOptions{}, true)
	m := newMetrics(prometheus.NewRegistry())
	e := gin.New()
	e.Use(m.middleware())
	e.GET("/api/v1/items/:id", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"id": c.Param("id")}) })
	e.POST("/api/v1/items", func(c *gin.Context) { c.Status(http.StatusInternalServerError) })
	e.GET("/metrics", gin.WrapH(m.handler()))
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, id := range []string{"1", "2", "整改"} {
		resp, err := http.Get(srv.URL + "/api/v1/items/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, path := range []string{"/nowhere", "/api/v1/nothing/here"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(srv.URL+"/api/v1/items", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	m.observeCommand("item.raise", nil)
	m.observeCommand("item.raise", nil)
	m.observeCommand("item.raise", events.Errorf(events.CodeConflict, "版本冲突"))
	m.observeCommand("unit.move", errors.New("boom"))
	for view, lag := range map[string]float64{"ledger": 42, "audit": 7} {
		if err := m.registerGauge("rectify_projection_lag_positions", "Positions the view is behind the store.", prometheus.Labels{"view": view}, func() float64 { return lag }); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.registerGauge("rectify_projection_lag_positions", "Positions the view is behind the store.", prometheus.Labels{"view": "ledger"}, func() float64 { return 0 }); err == nil {
		t.Fatal("a second gauge of the same series was accepted")
	}
	if err := m.watchLive(live.hub); err != nil {
		t.Fatal(err)
	}
	MustOpenStream(t, live, "all", "", "")
	live.publish(ledgerChange(1, "item:1"))
	waitFor(t, 5*time.Second, "the change delivered", func() bool { return live.hub.stats().Delivered == 1 })

	text := scrape(t, srv.URL)
	for _, want := range []struct{ series, value string }{
		{`rectify_http_requests_total{method="GET",route="/api/v1/items/:id",status="200"}`, "3"},
		{`rectify_http_requests_total{method="GET",route="unmatched",status="404"}`, "2"},
		{`rectify_http_requests_total{method="POST",route="/api/v1/items",status="500"}`, "1"},
		{`rectify_http_request_duration_seconds_count{method="GET",route="/api/v1/items/:id"}`, "3"},
		{`rectify_http_requests_in_flight`, "1"}, // the scrape itself
		{`rectify_commands_total{command="item.raise",outcome="ok"}`, "2"},
		{`rectify_commands_total{command="item.raise",outcome="conflict"}`, "1"},
		{`rectify_commands_total{command="unit.move",outcome="internal"}`, "1"},
		{`rectify_projection_lag_positions{view="ledger"}`, "42"},
		{`rectify_projection_lag_positions{view="audit"}`, "7"},
		{`rectify_sse_clients`, "1"},
		{`rectify_sse_changes_total`, "1"},
		{`rectify_sse_dropped_total`, "0"},
	} {
		if !hasSample(text, want.series, want.value) {
			t.Errorf("no sample %s %s", want.series, want.value)
		}
	}
	if !strings.Contains(text, "go_goroutines") || !strings.Contains(text, "# HELP rectify_http_requests_total") {
		t.Error("the runtime metrics or the help texts are missing")
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", text)
	}
}

func TestRequestLogNamesTheRequestNeverTheToken(t *testing.T) {
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := gin.New()
	e.Use(withRequestID, requestLogger(logger))
	e.GET("/healthz", healthHandler())
	e.GET("/api/v1/items/:id", func(c *gin.Context) {
		c.Set(principalKey, Principal{UserID: "张三"})
		c.JSON(http.StatusOK, gin.H{"title": "入户走访不到位"})
	})
	e.GET("/boom", func(c *gin.Context) { c.Status(http.StatusServiceUnavailable) })
	srv := httptest.NewServer(e)
	defer srv.Close()

	const token = events.TokenPrefix + "c2VjcmV0LXRva2VuLW5ldmVyLXRvLWJlLWxvZ2dlZA0"
	get := func(path, id string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	get("/api/v1/items/i-1?q=秘密&token="+token, "req-7f3a")
	get("/healthz", "")
	resp := get("/boom", "")
	generated := resp.Header.Get("X-Request-ID")

	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	if strings.Contains(logged, token) || strings.Contains(logged, "秘密") || strings.Contains(logged, "Bearer") {
		t.Fatalf("the log holds the token or the query:\n%s", logged)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logged), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (the probe is not logged at info):\n%s", len(lines), logged)
	}
	first, second := lines[0], lines[1]
	for k, want := range map[string]any{"msg": "request", "level": "INFO", "request_id": "req-7f3a", "method": "GET",
		"route": "/api/v1/items/:id", "path": "/api/v1/items/i-1", "status": 200.0, "user_id": "张三"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	if d, ok := first["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v", first["duration_ms"])
	}
	if second["level"] != "WARN" || second["status"] != 503.0 || second["request_id"] != generated || generated == "" {
		t.Errorf("the failing request was logged as %v (its reply carried id %q)", second, generated)
	}
	if _, ok := second["user_id"]; ok {
		t.Errorf("an anonymous request logged a user: %v", second)
	}
}

// lockedWriter serialises writes to w: the server logs from its own
// goroutines while the test reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestReadyzNamesAnUnreadableStore(t *testing.T) {
	r := MustOpenOpsRig(t)
	r.waitReady(t, http.StatusOK)
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	failed := r.waitReady(t, http.StatusServiceUnavailable)
	if !strings.Contains(failed["commands"], "event store") {
		t.Fatalf("failed checks %v, want the event store named", failed)
	}
}
