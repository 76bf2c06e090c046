package main

// The outage suite: what a client sees while NATS is down or the data
// directory's disk is full, and that rectify recovers by itself, losing
// nothing, once the fault is gone.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rectify/services/natsx"
)

// queryLoad reads the ledger over HTTP from one client until stop is
// closed, counting the replies by status and keeping a 5xx body.
type queryLoad struct {
	mu        sync.Mutex
	status    map[int]int
	transport int
	refusal   string
}

func (q *queryLoad) run(stop <-chan struct{}, base func() string, token string) (wait func()) {
	q.status = map[int]int{}
	client := &http.Client{Timeout: 15 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, base()+"/api/v1/items?limit=5", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			q.mu.Lock()
			if err != nil {
				q.transport++
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				q.status[resp.StatusCode]++
				if resp.StatusCode >= 500 {
					q.refusal = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
				}
			}
			q.mu.Unlock()
		}
	})
	return wg.Wait
}

// While NATS is down, commands and queries are refused at once with a
// 503 saying what is unreachable; once it is back, the clients' retries
// with the same keys succeed, every acknowledged command is in the store
// exactly once, the relay republishes what JetStream lost, and every view
// converges to a fresh rebuild.
func TestOutageNATSDownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the outage suite builds nats-server and rectify and runs them as processes")
	}
	started := time.Now()
	ports := freePorts(t, 2)
	nats := &natsNode{name: "solo", port: ports[0], status: ports[1], dir: t.TempDir()}
	nats.start(t)
	t.Cleanup(func() {
		nats.kill()
		if t.Failed() {
			t.Logf("nats-server log (tail):\n%s", tail(nats.out.String(), 3000))
		}
	})
	nats.awaitHealthy(t, time.Minute)

	// The store's owner runs everything but the gateway; the gateway runs
	// alone, as a deployment scales it out.
	common := []string{"--nats-url", nats.url(), "--watch=false"}
	ownerDir, gwDir := t.TempDir(), t.TempDir()
	owner := startChild(t, ownerDir, append([]string{"--roles", "commands,relay,projections,watcher"}, common...)...)
	// Shorter than the outage, so that the requests in flight when NATS
	// dies, whose replies cannot come, are answered within it.
	const requestTimeout = 2 * time.Second
	gw := startChild(t, gwDir, append([]string{"--roles", "gateway", "--request-timeout", requestTimeout.String()}, common...)...)
	token := tokens(t, ownerDir)["admin"]

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// A client gives up on a request at three times the gateway's own
	// limit: a reply that late would be a hang.
	load := newFaultLoad(t, token, 4, rng, 3*requestTimeout)
	load.setup(gw.base)
	sse := newSSEFollower(token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamDone, err := sse.follow(ctx, gw.base)
	if err != nil {
		t.Fatal(err)
	}
	var queries queryLoad
	stop := make(chan struct{})
	waitCmds := load.run(stop, "n")
	waitQueries := queries.run(stop, func() string { return gw.base }, token)
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			waitCmds()
			waitQueries()
		}
	}()
	awaitAcked := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			acked, _ := load.counts()
			if acked >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d commands acknowledged after %s; want %d; last refusal: %s", acked, within, n, load.lastRefusal)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	awaitAcked(200, time.Minute)

	// NATS dies under load and stays away for a while.
	before, _ := load.counts()
	load.mu.Lock()
	statusBefore := map[int]int{}
	for k, v := range load.status {
		statusBefore[k] = v
	}
	load.mu.Unlock()
	heldBefore := eventsStreamState(t, nats.url())
	nats.kill()
	downAt := time.Now()
	time.Sleep(2 * time.Second)
	// The gateway says it is not ready, and why.
	if code, _, body := httpDo(t, "GET", gw.base+"/readyz", "", "", nil); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "the NATS connection is") {
		t.Errorf("/readyz while NATS is down: %d %s; want 503 naming the NATS connection", code, body)
	}
	time.Sleep(2 * time.Second)
	during, _ := load.counts()
	load.mu.Lock()
	refused := load.status[http.StatusServiceUnavailable] - statusBefore[http.StatusServiceUnavailable]
	refusal := load.lastRefusal
	load.mu.Unlock()
	nats.start(t)
	nats.awaitHealthy(t, time.Minute)
	restored := "an unknown number of"
	if m := regexp.MustCompile(`Restored (\d+) messages for stream '\$G > ` + natsx.EventsStream).FindStringSubmatch(nats.out.String()); m != nil {
		restored = m[1]
	}
	t.Logf("JetStream held %d events before the kill and restored %s after it", heldBefore.Msgs, restored)
	t.Logf("nats-server killed under load after %d commands and restarted after %s; meanwhile %d commands were acknowledged and %d refused with 503, last: %s",
		before, time.Since(downAt).Round(time.Millisecond), during-before, refused, refusal)

	// The clients' retries go through again.
	back := time.Now()
	awaitAcked(during+200, time.Minute)
	againAfter := time.Since(back)
	close(stop)
	stopped = true
	waitCmds()
	waitQueries()
	load.finish(time.Minute)
	gw.awaitReady(t, time.Minute)
	sse.awaitSeen(t, load.maxAckedPos(), 30*time.Second)
	t.Logf("NATS back: 200 more commands acknowledged within %s, the gateway ready and the live stream caught up within %s",
		againAfter.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	cancel()
	<-streamDone

	for _, c := range []*child{gw, owner} {
		if err := c.signal(t, syscall.SIGTERM, time.Minute); err != nil {
			t.Errorf("SIGTERM: %v\n%s", err, c.stderr)
		}
	}
	snap := readStore(t, ownerDir)
	events := load.checkCommands(snap)
	sseChecked := sse.check(t, snap)
	// The relay made JetStream's copy whole again: one message per event,
	// the last one the store's last.
	held := eventsStreamState(t, nats.url())
	if held.Msgs != uint64(len(snap.all)) || held.LastPosition != snap.all[len(snap.all)-1].Position {
		t.Errorf("JetStream holds %d events up to position %d; the store %d up to %d", held.Msgs, held.LastPosition, len(snap.all), snap.all[len(snap.all)-1].Position)
	}
	views := checkConverged(t, ownerDir, ownerDir, "0")

	acked, retried := load.counts()
	t.Logf("NATS outage: 1 fault (nats-server SIGKILLed for 4 s); commands: %d acknowledged (%d after retries with the same key), replies %v, %d without a reply, %d client timeouts",
		acked, retried, load.status, load.transport, load.timeouts)
	t.Logf("queries: replies %v, %d without a reply; last refusal: %s", queries.status, queries.transport, queries.refusal)
	t.Logf("checked: %d events of %d commands; %d item changes owed to the live stream (resets: %s); %d views converged to a rebuild; %s in all",
		events, len(load.cmds), sseChecked, sse.resetCounts(), views, time.Since(started).Round(time.Millisecond))

	// What the clients saw: refusals, never an error of the server's own,
	// nor a request left hanging.
	if refused == 0 {
		t.Errorf("no command was refused with 503 while NATS was down: the outage did not happen under load")
	}
	for status, n := range load.status {
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("commands: %d replies with status %d during the outage; want 503", n, status)
		}
	}
	for status, n := range queries.status {
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("queries: %d replies with status %d during the outage; want 503", n, status)
		}
	}
	if load.timeouts > 0 || queries.transport > 0 {
		t.Errorf("%d commands and %d queries got no reply within %s: the gateway must answer within its request timeout", load.timeouts, queries.transport, 3*requestTimeout)
	}
	// Refused at once because NATS is down: the command service, or the
	// access view that checks a token whose cached answer has expired,
	// is unreachable. A request in flight when NATS died gets its 503
	// when the request timeout runs out; one sent as NATS comes back may
	// find the services not subscribed again yet.
	unreachable := 0
	for msg, n := range load.refusals {
		t.Logf("refused %d times: %s", n, msg)
		switch {
		case strings.Contains(msg, "is unreachable: the connection to NATS is"):
			unreachable += n
		case strings.HasPrefix(msg, "503 unavailable: the command service did not answer in time"),
			strings.HasPrefix(msg, "503 unavailable: the command service is not running"),
			strings.HasPrefix(msg, "503 unavailable: view access is not being served"):
		default:
			t.Errorf("%d commands refused with: %s", n, msg)
		}
	}
	if unreachable == 0 {
		t.Errorf("no command was refused saying that a service is unreachable through NATS")
	}
}

// mountSmallDisk mounts a tmpfs of size bytes at a fresh directory and
// unmounts it at cleanup. Without the right to mount it skips, except
// with CI=true, where the suite must run.
func mountSmallDisk(tb testing.TB, size int64) string {
	tb.Helper()
	dir := tb.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("the disk-full suite mounts a small tmpfs as the data directory and may not here (run it as root): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the disk refuses, and returns its
// path and size.
func fillDisk(tb testing.TB, dir string) (string, int64) {
	tb.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var n int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			w, err := f.Write(buf)
			n += int64(w)
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					tb.Fatalf("fill the disk: %v", err)
				}
				break
			}
		}
	}
	return path, n
}

// integrityCheck runs SQLite's integrity check on a database file, read
// only, and returns its verdict ("ok").
func integrityCheck(tb testing.TB, path string) string {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		tb.Fatalf("integrity check of %s: %v", path, err)
	}
	return res
}

// When the data directory's disk fills up under load, commands are
// refused with a clear error and nothing half-written, the process stays
// up, and once space returns commands succeed again without a restart.
func TestOutageDiskFullUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the disk-full suite builds rectify and runs it as a process")
	}
	started := time.Now()
	dir := filepath.Join(mountSmallDisk(t, 64<<20), "data")
	c := startChild(t, dir, "--watch=false")
	token := tokens(t, dir)["admin"]
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	load := newFaultLoad(t, token, 4, rng, 30*time.Second)
	load.setup(c.base)
	stop := make(chan struct{})
	waitCmds := load.run(stop, "d")
	var queries queryLoad
	waitQueries := queries.run(stop, func() string { return c.base }, token)
	wait := func() {
		waitCmds()
		waitQueries()
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wait()
		}
	}()
	awaitAcked := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			acked, _ := load.counts()
			if acked >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d commands acknowledged after %s; want %d; last refusal: %s", acked, within, n, load.lastRefusal)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	awaitAcked(200, time.Minute)

	filler, size := fillDisk(t, filepath.Dir(dir))
	before, _ := load.counts()
	t.Logf("disk full: wrote %d MiB of filler after %d commands", size>>20, before)
	time.Sleep(3 * time.Second)
	during, _ := load.counts()
	load.mu.Lock()
	refusals := maps.Clone(load.refusals)
	load.mu.Unlock()
	select {
	case err := <-c.done:
		c.exited = true
		t.Fatalf("rectify exited on a full disk: %v\n%s", err, c.stderr)
	default:
	}
	code, _, body := httpDo(t, "GET", c.base+"/readyz", "", "", nil)
	t.Logf("while full: %d commands acknowledged, refusals %v; /readyz %d %s", during-before, refusals, code, body)
	// While full, too, nothing is half-written and the file is sound.
	fullSnap := readStore(t, dir)
	load.checkCommands(fullSnap)
	if v := integrityCheck(t, filepath.Join(dir, "events.db")); v != "ok" {
		t.Errorf("while full, the store's integrity check says %q", v)
	}
	if n := refusals["503 unavailable: the event store's disk is full: nothing was written; retry once there is room"]; n == 0 {
		t.Errorf("no command was refused saying the disk is full; refusals: %v", refusals)
	}
	for msg, n := range refusals {
		if !strings.Contains(msg, "the event store's disk is full: nothing was written") {
			t.Errorf("%d commands refused with: %s", n, msg)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	awaitAcked(during+200, time.Minute)
	close(stop)
	stopped = true
	wait()
	load.finish(time.Minute)
	c.awaitReady(t, time.Minute)
	t.Logf("space freed: commands acknowledged again at once, every view caught up after %s", time.Since(freed).Round(time.Millisecond))
	if err := c.signal(t, syscall.SIGTERM, time.Minute); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, c.stderr)
	}
	snap := readStore(t, dir)
	events := load.checkCommands(snap)
	views := checkConverged(t, dir, dir, "0")
	if v := integrityCheck(t, filepath.Join(dir, "events.db")); v != "ok" {
		t.Errorf("the store's integrity check says %q", v)
	}
	acked, retried := load.counts()
	t.Logf("disk full: 1 fault; commands: %d acknowledged (%d after retries), replies %v; queries: replies %v; checked %d events, %d views converged; %s",
		acked, retried, load.status, queries.status, events, views, time.Since(started).Round(time.Millisecond))
	// Reads need no room: the views answer throughout.
	for status, n := range queries.status {
		if status != http.StatusOK {
			t.Errorf("queries: %d replies with status %d; want 200 throughout (last refusal: %s)", n, status, queries.refusal)
		}
	}
	if queries.transport > 0 {
		t.Errorf("%d queries got no reply", queries.transport)
	}
	for msg, n := range load.refusals {
		t.Logf("refused %d times: %s", n, msg)
	}
}

// streamState is what the JetStream copy of the events holds.
type streamState struct {
	Msgs, LastPosition uint64
}

// eventsStreamState reads the events stream's message count and the
// position its last message carries, through a connection of its own.
func eventsStreamState(tb testing.TB, url string) streamState {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := natsx.Connect(ctx, url, tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		tb.Fatalf("events stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		tb.Fatalf("events stream: %v", err)
	}
	st := streamState{Msgs: info.State.Msgs}
	if info.State.Msgs > 0 {
		m, err := stream.GetMsg(ctx, info.State.LastSeq)
		if err != nil {
			tb.Fatalf("events stream, message %d: %v", info.State.LastSeq, err)
		}
		if st.LastPosition, _, err = natsx.HeaderPositions(m.Header); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}
