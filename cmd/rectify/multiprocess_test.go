package main

// A production-shaped deployment on this machine, without Docker: a
// three-node NATS JetStream cluster built from the nats-server module, and
// rectify's roles as separate processes — the store's owner (commands and
// relay), two projection replicas and two gateways — killed with SIGKILL
// and restarted under load.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rectify/projections/query"
	"rectify/services/natsx"
)

// natsServerBinary builds nats-server from the module rectify already
// depends on, once per test run.
func natsServerBinary(tb testing.TB) string {
	return goBuild(tb, "github.com/nats-io/nats-server/v2", "nats-server")
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// natsNode is one nats-server process of the test cluster.
type natsNode struct {
	name                  string
	port, cluster, status int
	dir                   string
	routes                string
	cmd                   *exec.Cmd
	out                   *syncBuffer
	done                  chan error
	running               bool
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start starts the node on its ports and store directory (again, after a
// kill) without waiting for it.
func (n *natsNode) start(tb testing.TB) {
	tb.Helper()
	n.out = &syncBuffer{}
	args := []string{"-n", n.name, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.dir, "-m", strconv.Itoa(n.status)}
	if n.routes != "" { // a node of a cluster, else a single server
		args = append(args, "--cluster_name", "rectify-test", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.cluster), "--routes", n.routes)
	}
	n.cmd = exec.Command(natsServerBinary(tb), args...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	n.done = make(chan error, 1)
	n.running = true
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(n.cmd, n.done)
}

// awaitHealthy waits until the node's monitoring says it is healthy,
// JetStream included.
func (n *natsNode) awaitHealthy(tb testing.TB, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.status))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nats node %s not healthy after %s (%v):\n%s", n.name, within, err, n.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *natsNode) kill() {
	if n.running {
		n.cmd.Process.Kill()
		<-n.done
		n.running = false
	}
}

// startNATSCluster starts a three-node JetStream cluster on loopback ports
// and waits until every node is healthy.
func startNATSCluster(tb testing.TB) []*natsNode {
	tb.Helper()
	ports := freePorts(tb, 9)
	nodes := make([]*natsNode, 3)
	var routes []string
	for i := range nodes {
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), port: ports[3*i], cluster: ports[3*i+1], status: ports[3*i+2], dir: tb.TempDir()}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].cluster))
	}
	for _, n := range nodes {
		n.routes = strings.Join(routes, ",")
		n.start(tb)
	}
	tb.Cleanup(func() {
		for _, n := range nodes {
			n.kill()
		}
		if tb.Failed() {
			for _, n := range nodes {
				tb.Logf("nats node %s log (tail):\n%s", n.name, tail(n.out.String(), 3000))
			}
		}
	})
	for _, n := range nodes {
		n.awaitHealthy(tb, time.Minute)
	}
	return nodes
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// kill9 kills a child with SIGKILL and waits for it.
func (c *child) kill9() {
	if !c.exited {
		c.cmd.Process.Kill()
		<-c.done
		c.exited = true
	}
}

// loadDriver sends commands through the gateways, each until it is
// acknowledged: a failure (a gateway down, a timeout, a 503) is retried
// with the same idempotency key through the other gateway, so nothing is
// applied twice and every command the driver started ends acknowledged.
type loadDriver struct {
	tb     testing.TB
	token  string
	client *http.Client

	// quit ends every retry loop at once, when the test fails.
	quit chan struct{}

	mu    sync.Mutex
	bases []string
	// What was acknowledged: item and user ids, activities logged, and the
	// position of every reply.
	items, users map[string]uint64
	activities   map[string]int // by commitment
	positions    []uint64
	retries      int
}

func (d *loadDriver) base(i int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bases[i%len(d.bases)]
}

func (d *loadDriver) setBase(i int, base string) {
	d.mu.Lock()
	d.bases[i] = base
	d.mu.Unlock()
}

func (d *loadDriver) acked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.positions)
}

// send posts body to path until a gateway acknowledges it, starting with
// gateway first, and returns the position of the reply.
func (d *loadDriver) send(first int, path, key, body string) (uint64, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, d.base(first+attempt)+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := d.client.Do(req)
		var status int
		var msg []byte
		if err == nil {
			msg, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			if status == http.StatusOK || status == http.StatusCreated {
				pos, err := strconv.ParseUint(resp.Header.Get("X-Rectify-Position"), 10, 64)
				if err != nil || pos == 0 {
					return 0, fmt.Errorf("POST %s: reply without a position", path)
				}
				d.mu.Lock()
				d.positions = append(d.positions, pos)
				d.retries += attempt
				d.mu.Unlock()
				return pos, nil
			}
			if status < 500 && status != http.StatusTooManyRequests {
				return 0, fmt.Errorf("POST %s %s: %d %s", path, body, status, msg)
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("POST %s: not acknowledged within 2 minutes; last: %v %d %s", path, err, status, msg)
		}
		select {
		case <-d.quit:
			return 0, fmt.Errorf("POST %s: given up: the test failed", path)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// get reads path at least at position min through gateway i into v,
// retrying while the answer is 503 (a replica still catching up).
func (d *loadDriver) get(i int, path string, min uint64, v any) {
	d.tb.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	deadline := time.Now().Add(time.Minute)
	for {
		url := fmt.Sprintf("%s%s%smin_position=%d", d.base(i), path, sep, min)
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := d.client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if v != nil {
					if err := json.Unmarshal(body, v); err != nil {
						d.tb.Fatalf("GET %s: %v\n%s", url, err, body)
					}
				}
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				d.tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("GET %s: not answered within a minute: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commitments is how many commitments the load logs activities toward.
const commitments = 4

// run sends a mix of commands from several workers until stop is closed:
// mostly raised items (ledger, audit), activities logged toward one
// commitment (commitments) and new users (access).
func (d *loadDriver) run(stop <-chan struct{}, workers int) (wait func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch {
				case n%10 == 3:
					id := fmt.Sprintf("u-%d-%d", w, n)
					var pos uint64
					pos, err = d.send(w+n, "/api/v1/users", "user-"+id, fmt.Sprintf(`{"user_id":%q,"name":"用户 %d-%d"}`, id, w, n))
					if err == nil {
						d.mu.Lock()
						d.users[id] = pos
						d.mu.Unlock()
					}
				case n%3 == 1:
					// One commitment per worker: workers logging toward one
					// commitment would race for its stream.
					id, cid := fmt.Sprintf("a-%d-%d", w, n), fmt.Sprintf("c-visit-%d", w%commitments)
					_, err = d.send(w+n, "/api/v1/commitments/"+cid+"/activities", "act-"+id,
						fmt.Sprintf(`{"activity_id":%q,"count":1,"occurred_on":"2025-03-10","note":"走访 %d-%d"}`, id, w, n))
					if err == nil {
						d.mu.Lock()
						d.activities[cid]++
						d.mu.Unlock()
					}
				default:
					id := fmt.Sprintf("i-%d-%d", w, n)
					var pos uint64
					pos, err = d.send(w+n, "/api/v1/items", "raise-"+id, fmt.Sprintf(
						`{"item_id":%q,"cycle_id":"y2025","unit_id":"gw","title":"多进程测试事项 %d-%d","deadline":"2030-06-30"}`, id, w, n))
					if err == nil {
						d.mu.Lock()
						d.items[id] = pos
						d.mu.Unlock()
					}
				}
				if err != nil {
					errs <- err
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return func() error {
		wg.Wait()
		close(errs)
		return <-errs
	}
}

// awaitAcked waits until the driver has n acknowledged commands.
func (d *loadDriver) awaitAcked(n int, within time.Duration) {
	d.tb.Helper()
	deadline := time.Now().Add(within)
	for d.acked() < n {
		if time.Now().After(deadline) {
			d.tb.Fatalf("only %d commands acknowledged after %s; want %d", d.acked(), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMultiProcessClusterSurvivesKillsAndConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds nats-server and rectify and runs eight processes")
	}
	started := time.Now()
	nodes := startNATSCluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	common := []string{"--nats-url", strings.Join(urls, ","), "--stream-replicas", "3"}
	with := func(extra ...string) []string { return append(append([]string{}, common...), extra...) }

	ownerDir := t.TempDir()
	owner := startChild(t, ownerDir, with("--roles", "commands,relay")...)
	replicaDirs := []string{t.TempDir(), t.TempDir()}
	replicaArgs := func(i int) []string {
		return with("--roles", "projections", "--replica", string(rune('a'+i)))
	}
	replicas := []*child{startChild(t, replicaDirs[0], replicaArgs(0)...), startChild(t, replicaDirs[1], replicaArgs(1)...)}
	gwArgs := with("--roles", "gateway", "--request-timeout", "5s")
	gwDirs := []string{t.TempDir(), t.TempDir()}
	gws := []*child{startChild(t, gwDirs[0], gwArgs...), startChild(t, gwDirs[1], gwArgs...)}
	t.Logf("cluster and five rectify processes ready in %s", time.Since(started).Round(time.Millisecond))

	d := &loadDriver{tb: t, token: tokens(t, ownerDir)["admin"], client: &http.Client{Timeout: 15 * time.Second}, quit: make(chan struct{}),
		bases: []string{gws[0].base, gws[1].base}, items: map[string]uint64{}, users: map[string]uint64{}, activities: map[string]int{}}
	setup := []struct{ path, key, body string }{
		{"/api/v1/units", "unit-gw", `{"unit_id":"gw","name":"城关街道工委","kind":"committee"}`},
		{"/api/v1/cycles", "cycle-y2025", `{"cycle_id":"y2025","name":"2025年度述职评议","year":2025,"kind":"annual_review","start":"2025-01-01","end":"2025-12-31"}`},
	}
	for i := range commitments {
		setup = append(setup, struct{ path, key, body string }{"/api/v1/commitments", fmt.Sprintf("commitment-%d", i), fmt.Sprintf(
			`{"commitment_id":"c-visit-%d","unit_id":"gw","title":"每月走访社区 %d","activity":"走访","target":4,"period":"month","start":"2025-01-01","end":"2025-12-31"}`, i, i)})
	}
	for i, c := range setup {
		if _, err := d.send(i, c.path, c.key, c.body); err != nil {
			t.Fatal(err)
		}
	}

	// The test's own NATS connection, to look at and damage the JetStream
	// copy of the events.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := natsx.Connect(ctx, strings.Join(urls, ","), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := func() uint64 {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			// Each request bounded on its own: one sent to the node that
			// just died gets no answer.
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			s, err := js.Stream(rctx, natsx.EventsStream)
			if err == nil {
				var info *jetstream.StreamInfo
				if info, err = s.Info(rctx); err == nil {
					cancel()
					return info.State.LastSeq
				}
			}
			cancel()
			if time.Now().After(deadline) {
				t.Fatalf("events stream: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	stop := make(chan struct{})
	wait := d.run(stop, 4)
	stopped := false
	defer func() {
		if !stopped {
			close(d.quit)
			close(stop)
			wait()
		}
	}()
	d.awaitAcked(150, time.Minute)

	// Under load: one NATS node, one projection replica and one gateway
	// die at once.
	nodes[1].kill()
	replicas[1].kill9()
	gws[1].kill9()
	killedAt := lastSeq() // replica b has applied nothing after this
	t.Logf("killed nats n2, replica b and gateway 2 after %d commands; the stream was at sequence %d", d.acked(), killedAt)
	d.awaitAcked(d.acked()+150, time.Minute)
	for lastSeq() < killedAt+30 {
		time.Sleep(50 * time.Millisecond)
	}
	// Lose three messages of the JetStream copy that replica b has not
	// seen: on its restart it must fill the gap from the store, which it
	// reaches only through the store's owner, over NATS.
	for seq := killedAt + 10; seq < killedAt+13; seq++ {
		for attempt := 0; ; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			stream, err := js.Stream(rctx, natsx.EventsStream)
			if err == nil {
				err = stream.DeleteMsg(rctx, seq)
			}
			cancel()
			if err == nil {
				break
			}
			if attempt == 20 {
				t.Fatalf("delete message %d: %v", seq, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	nodes[1].start(t)
	nodes[1].awaitHealthy(t, time.Minute)
	replicas[1] = startChild(t, replicaDirs[1], replicaArgs(1)...)
	gws[1] = startChild(t, gwDirs[1], gwArgs...)
	d.setBase(1, gws[1].base)
	t.Logf("restarted them after %d commands", d.acked())
	d.awaitAcked(d.acked()+150, time.Minute)
	close(stop)
	stopped = true
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	var head uint64
	for _, p := range d.positions {
		head = max(head, p)
	}
	t.Logf("%d commands acknowledged (%d items, %d activities, %d users; %d retries), store head %d, after %s",
		len(d.positions), len(d.items), len(d.positions)-len(d.items)-len(d.users)-len(setup), len(d.users), d.retries, head, time.Since(started).Round(time.Millisecond))

	// Every acknowledged command shows in every view, through both
	// gateways. Queries go to either replica (a queue group), so each
	// check runs a few times.
	for g := range gws {
		for range 2 {
			seenItems := map[string]bool{}
			for cursor := ""; ; {
				var page query.LedgerPage
				d.get(g, "/api/v1/items?cycle_id=y2025&limit=200&cursor="+cursor, head, &page)
				for _, it := range page.Items {
					seenItems[it.ID] = true
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			for id := range d.items {
				if !seenItems[id] {
					t.Errorf("gateway %d: acknowledged item %s is not in the ledger", g+1, id)
				}
			}
			if len(seenItems) != len(d.items) {
				t.Errorf("gateway %d: the ledger holds %d items; %d were acknowledged", g+1, len(seenItems), len(d.items))
			}

			seenPos := map[uint64]bool{}
			for cursor := ""; ; {
				var page query.AuditPage
				d.get(g, "/api/v1/audit?limit=200&cursor="+cursor, head, &page)
				for _, e := range page.Entries {
					seenPos[e.Position] = true
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			for _, p := range d.positions {
				if !seenPos[p] {
					t.Errorf("gateway %d: the audit trail lacks position %d, which a reply acknowledged", g+1, p)
				}
			}

			for i := range commitments {
				cid := fmt.Sprintf("c-visit-%d", i)
				var comp query.Compliance
				d.get(g, "/api/v1/commitments/"+cid+"/compliance?from=2025-03-01&to=2025-03-31", head, &comp)
				actual := 0
				for _, c := range comp.Commitments {
					for _, p := range c.Periods {
						if p.Start.String() <= "2025-03-10" && "2025-03-10" <= p.End.String() {
							actual += p.Actual
						}
					}
				}
				if actual != d.activities[cid] {
					t.Errorf("gateway %d: compliance of %s counts %d activities in March 2025; %d were acknowledged", g+1, cid, actual, d.activities[cid])
				}
			}

			for id := range d.users {
				var u query.User
				d.get(g, "/api/v1/users/"+id, head, &u)
				if u.ID != id {
					t.Errorf("gateway %d: user %s answered as %+v", g+1, id, u)
				}
			}
			d.get(g, "/api/v1/rulesets", head, nil)
		}
	}

	// Each replica says it has caught up with the store; replica b filled
	// the gap left by the lost messages, through the store's owner.
	for i, r := range replicas {
		deadline := time.Now().Add(time.Minute)
		for {
			code, _, body := httpDo(t, "GET", r.base+"/readyz", "", "", nil)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %c not caught up: %d %s", 'a'+i, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	_, _, metrics := httpDo(t, "GET", replicas[1].base+"/metrics", "", "", nil)
	for _, p := range views() {
		if n := metricValue(string(metrics), "rectify_projection_gaps_filled_total", `view="`+p.Name()+`"`); n < 1 {
			t.Errorf("replica b's %s view filled %v gaps since its restart; want at least 1", p.Name(), n)
		}
	}

	// Stopped, each replica's views hold what a fresh rebuild from the
	// store holds, digest for digest, at the store's head.
	for _, c := range append(append([]*child{}, gws...), append(replicas, owner)...) {
		if err := c.signal(t, syscall.SIGTERM, time.Minute); err != nil {
			t.Errorf("SIGTERM: %v\n%s", err, c.stderr)
		}
	}
	want := digests(t, "--data", ownerDir, "--rebuild")
	for i, dir := range replicaDirs {
		got := digests(t, "--data", dir, "--replica", string(rune('a'+i)))
		for view, w := range want {
			g := got[view]
			if g.Position != w.Position || g.Digest != w.Digest {
				t.Errorf("replica %c, view %s: position %d digest %s; a rebuild from the store gives %d %s",
					'a'+i, view, g.Position, g.Digest, w.Position, w.Digest)
			}
		}
		if len(got) != len(want) {
			t.Errorf("replica %c has %d views, a rebuild %d", 'a'+i, len(got), len(want))
		}
	}
	for view, w := range want {
		if w.Position < head {
			t.Errorf("the rebuilt %s view is at %d, before the last acknowledged position %d", view, w.Position, head)
		}
	}
	t.Logf("done in %s", time.Since(started).Round(time.Millisecond))
}

// digests runs `rectify views digest` with args and returns its lines by
// view.
func digests(tb testing.TB, args ...string) map[string]viewDigest {
	tb.Helper()
	cmd := exec.Command(rectifyBinary(tb), append([]string{"views", "digest"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("views digest %v: %v\n%s", args, err, stderr.String())
	}
	res := map[string]viewDigest{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var d viewDigest
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			tb.Fatalf("views digest printed %q: %v", sc.Text(), err)
		}
		res[d.View] = d
	}
	return res
}

// metricValue sums the samples of a Prometheus metric whose labels
// contain match.
func metricValue(text, name, match string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
