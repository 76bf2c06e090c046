package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

func TestServeRolesFlags(t *testing.T) {
	c, err := serveFlags("serve", io.Discard, nil)
	if err != nil || !slices.Equal(c.Roles, allRoles) {
		t.Fatalf("default roles %v, %v; want all", c.Roles, err)
	}
	c, err = serveFlags("serve", io.Discard, []string{"--roles", "all"})
	if err != nil || !slices.Equal(c.Roles, allRoles) {
		t.Fatalf("--roles all: %v, %v", c.Roles, err)
	}
	t.Setenv("RECTIFY_ROLES", "gateway")
	c, err = serveFlags("serve", io.Discard, nil)
	if err != nil || !slices.Equal(c.Roles, []string{roleGateway}) || c.ownsStore() || c.runs(roleProjections) {
		t.Fatalf("RECTIFY_ROLES=gateway: %v, %v", c.Roles, err)
	}
	c, err = serveFlags("serve", io.Discard, []string{"--roles", "projections", "--views", "ledger,audit"})
	if err != nil || len(c.viewList()) != 2 || c.ownsStore() {
		t.Fatalf("projections of two views: %+v, %v", c, err)
	}
	c, err = serveFlags("serve", io.Discard, []string{"--roles", "watcher", "--watch=false"})
	if err != nil || c.ownsStore() {
		t.Fatalf("a watcher turned off needs no store: %v", err)
	}
	for _, bad := range [][]string{
		{"--roles", "commands,frontend"},
		{"--roles", ""},
		{"--roles", "all,relay"},
		{"--views", "ledger,gossip"},
		{"--roles", "gateway", "--demo"},
		{"--roles", "gateway", "--addr", ""},
		{"--stream-replicas", "0"},
		{"--stream-replicas", "7"},
	} {
		if _, err := serveFlags("serve", io.Discard, bad); exitCode(err) != 2 {
			t.Errorf("serve %q: %v; want a usage error", bad, err)
		}
	}
}

// MustServeRoles opens an app of cfg's roles (with an in-process NATS
// on a free port unless cfg names one) and runs it until the test ends. It returns the app and what it printed.
func MustServeRoles(tb testing.TB, cfg serveConfig) (*app, string) {
	tb.Helper()
	if cfg.NATSHost == "" {
		cfg.NATSHost, cfg.NATSPort = "127.0.0.1", -1
	}
	if cfg.ShutdownTimeout == 0 {
		// As serve's flag does: with none, stopping fails whenever a
		// connection (a health check's, say) is not idle at that instant.
		cfg.ShutdownTimeout = 10 * time.Second
	}
	var out bytes.Buffer
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
			tb.Errorf("%v ended with %v", cfg.Roles, err)
		}
		a.Close()
	})
	return a, out.String()
}

// httpGetStatus returns the status of GET url and its body.
func httpGetStatus(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// awaitStatus polls url until it answers want.
func awaitStatus(tb testing.TB, url string, want int) string {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGetStatus(tb, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			tb.Fatalf("GET %s: %d %s; want %d", url, code, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The roles of `rectify serve`, split over three apps the way separate
// processes run them: the store's owner (commands, relay, watcher) with
// the NATS server, a projection replica with no store of its own, and a
// gateway. The replica reaches the store only through the owner, over
// NATS; the gateway reaches everything through NATS.
func TestServeRolesInSeparateApps(t *testing.T) {
	ownerDir := t.TempDir()
	owner, out := MustServeRoles(t, serveConfig{DataDir: ownerDir, Replica: "0", Roles: []string{roleCommands, roleRelay, roleWatcher}, Watch: true, Addr: "127.0.0.1:0"})
	if !strings.Contains(out, "operations only") || owner.gw != nil || len(owner.views) != 0 || owner.watch == nil || !owner.serveStore {
		t.Fatalf("owner: %q; gateway %v, %d views, watcher %v, serves its store %v", out, owner.gw != nil, len(owner.views), owner.watch != nil, owner.serveStore)
	}
	natsURL := owner.ns.ClientURL()

	// Some history before the replica starts: it catches up on it.
	send(t, owner, events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee}, "u1")
	send(t, owner, events.OpenCycle{CycleID: "y2026", Name: "2026年度述职评议", Year: 2026, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2026-01-01"), End: events.MustDate("2026-12-31")}, "c1")

	replicaDir := t.TempDir()
	replica, _ := MustServeRoles(t, serveConfig{DataDir: replicaDir, NATSURL: natsURL, Replica: "r1", Roles: []string{roleProjections}, Addr: "127.0.0.1:0"})
	if replica.store != nil || replica.cmds != nil || len(replica.views) != len(views()) {
		t.Fatalf("replica: store %v, commands %v, %d views", replica.store != nil, replica.cmds != nil, len(replica.views))
	}
	if _, err := os.Stat(filepath.Join(replicaDir, "events.db")); err == nil {
		t.Fatal("the projection replica created an event store")
	}
	gw, _ := MustServeRoles(t, serveConfig{DataDir: t.TempDir(), NATSURL: natsURL, Replica: "0", Roles: []string{roleGateway}, Addr: "127.0.0.1:0"})
	if gw.store != nil || len(gw.views) != 0 || gw.gw == nil {
		t.Fatalf("gateway: store %v, %d views", gw.store != nil, len(gw.views))
	}

	// Each process's readiness is its own: the owner's store, the
	// replica's views caught up with the owner's head, the gateway's
	// command side and views over NATS.
	awaitStatus(t, "http://"+owner.ops.Addr()+"/readyz", http.StatusOK)
	awaitStatus(t, "http://"+replica.ops.Addr()+"/readyz", http.StatusOK)
	awaitStatus(t, "http://"+gw.gw.Addr()+"/readyz", http.StatusOK)
	if code, body := httpGetStatus(t, "http://"+replica.ops.Addr()+"/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `rectify_projection_position{replica="r1",view="ledger"}`) {
		t.Fatalf("replica metrics: %d\n%s", code, body)
	}

	// A command through the gateway shows in the replica's view.
	token, err := os.ReadFile(filepath.Join(ownerDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := api{t, "http://" + gw.gw.Addr(), strings.TrimSpace(string(token))}
	pos := admin.post("/api/v1/items", map[string]any{"item_id": "i1", "cycle_id": "y2026", "unit_id": "gw",
		"title": "理论学习不够深入", "deadline": "2030-06-30"}, http.StatusCreated)
	var item query.ItemDetail
	if code := admin.get("/api/v1/items/i1", pos, &item); code != http.StatusOK || item.UnitName != "街道工委" {
		t.Fatalf("item through the gateway: %d %+v", code, item)
	}

	// healthcheck answers for each kind of process.
	for _, base := range []string{"http://" + owner.ops.Addr(), "http://" + replica.ops.Addr(), "http://" + gw.gw.Addr()} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"healthcheck", "--ready", "--url", base}, &stdout, &stderr); err != nil {
			t.Errorf("healthcheck --ready %s: %v %s", base, err, stderr.String())
		}
	}
}

// A replica without a store fills a gap in the JetStream copy through the
// store's owner: its view equals one rebuilt from the store.
func TestProjectionReplicaFillsGapsThroughTheOwner(t *testing.T) {
	ownerDir := t.TempDir()
	owner, _ := MustServeRoles(t, serveConfig{DataDir: ownerDir, Replica: "0", Roles: []string{roleCommands, roleRelay}, Addr: "127.0.0.1:0"})
	send(t, owner, events.RegisterUnit{UnitID: "gw", Name: "街道工委", Kind: events.UnitCommittee}, "u1")
	send(t, owner, events.OpenCycle{CycleID: "y2026", Name: "2026年度述职评议", Year: 2026, Kind: events.CycleAnnualReview,
		Start: events.MustDate("2026-01-01"), End: events.MustDate("2026-12-31")}, "c1")
	var last natsx.CommandReply
	for i := range 20 {
		last = send(t, owner, events.RaiseItem{ItemID: "i" + string(rune('a'+i)), CycleID: "y2026", UnitID: "gw",
			Title: "事项", Deadline: events.MustDate("2030-06-30")}, "r"+string(rune('a'+i)))
	}
	// Wait for the relay, then lose messages of the copy.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := owner.js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= last.Position {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, seq := range []uint64{5, 6, 12} {
		if err := stream.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}

	replicaDir := t.TempDir()
	replica, _ := MustServeRoles(t, serveConfig{DataDir: replicaDir, NATSURL: owner.ns.ClientURL(), Replica: "r1",
		Roles: []string{roleProjections}, Views: []string{"ledger", "audit"}})
	if replica.ops != nil {
		t.Fatal("an empty --addr still serves HTTP")
	}
	for _, r := range replica.views {
		if err := r.WaitFor(ctx, last.Position); err != nil {
			t.Fatal(err)
		}
		if r.Stats().Gaps == 0 {
			t.Errorf("view %s filled no gap", r.Name())
		}
	}
	want := map[string]string{}
	for _, r := range replica.views {
		d, err := r.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want[r.Name()] = d
	}
	// A rebuild from the owner's store, read beside it, gives the same
	// views.
	var out bytes.Buffer
	if err := run(ctx, []string{"views", "digest", "--data", ownerDir, "--rebuild", "--views", "ledger,audit"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(out.String()) {
		var d viewDigest
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		n++
		if d.Digest != want[d.View] || d.Position != last.Position {
			t.Errorf("view %s: rebuilt at %d with digest %s; the replica's is %s at %d", d.View, d.Position, d.Digest, want[d.View], last.Position)
		}
	}
	if n != 2 {
		t.Fatalf("views digest printed %d lines:\n%s", n, out.String())
	}
}

func TestHealthcheckFailsOnAnythingButOK(t *testing.T) {
	if got := defaultHealthURL(":8080"); got != "http://127.0.0.1:8080" {
		t.Errorf("default URL of :8080 is %s", got)
	}
	if got := defaultHealthURL("0.0.0.0:9090"); got != "http://127.0.0.1:9090" {
		t.Errorf("default URL of 0.0.0.0:9090 is %s", got)
	}
	// Nothing listens on port 1.
	err := run(context.Background(), []string{"healthcheck", "--url", "http://127.0.0.1:1", "--timeout", "2s"}, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("healthcheck of nothing: %v (exit %d)", err, exitCode(err))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, `{"status":"not ready"}`, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	if err := run(context.Background(), []string{"healthcheck", "--url", srv.URL}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck of a live process: %v", err)
	}
	err = run(context.Background(), []string{"healthcheck", "--url", srv.URL, "--ready"}, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck --ready of a process not ready: %v (exit %d)", err, exitCode(err))
	}
}
