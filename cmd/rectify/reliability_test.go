package main

// Helpers of the reliability suites (crash_test.go, outage_test.go): a
// load of commands over HTTP that records what each command was answered,
// a check of the event store against that record, a live-stream client
// that follows the stream across disconnects and restarts, and a check
// that every view equals a fresh rebuild.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore/embedded"
	"rectify/services/report"
)

// The unit and cycle every command of a fault load writes to.
const (
	faultUnit  = "gw"
	faultCycle = "y2026"
)

// faultCmd is one command of a fault load: sent with its key as both
// Idempotency-Key and X-Request-ID, so that every event it writes carries
// the key as correlation id and a retry is recognised as the same command.
type faultCmd struct {
	key  string
	kind string // raise, progress, import
	path string
	body string
	// want is how many events the command writes, all in one stream, in
	// one append: all of them are stored or none.
	want int
	// stream is the stream it writes, when known before the reply.
	stream string

	// Set by the reply that acknowledged it.
	acked bool
	pos   uint64
	// attempts counts the requests sent; failed ones are retried with the
	// same key. countedAt is attempts when it was last counted as in
	// flight at a kill.
	attempts, countedAt int
}

// faultWorker is one client of the load. Its command in flight survives
// the worker's stop, so the next run sends it again, with the same key.
type faultWorker struct {
	id  int
	rng *rand.Rand
	own []string // items it raised, acknowledged: it reports progress on them
	cur *faultCmd
	n   int
}

// faultLoad sends commands over HTTP from several workers and records how
// each one was answered.
type faultLoad struct {
	tb     testing.TB
	token  string
	client *http.Client

	mu      sync.Mutex
	base    string
	workers []*faultWorker
	cmds    []*faultCmd
	byKey   map[string]*faultCmd
	// status counts the replies by HTTP status; transport counts requests
	// that got no reply (connection refused or reset, a client timeout).
	status    map[int]int
	transport int
	timeouts  int
	// unexpected lists replies no retry can fix (a 4xx): the test fails.
	unexpected []string
	// lastRefusal is the body of the last 5xx reply, for the report;
	// refusals counts the 5xx replies by status and message.
	lastRefusal string
	refusals    map[string]int
}

// newFaultLoad makes a load of workers clients, seeded from rng.
func newFaultLoad(tb testing.TB, token string, workers int, rng *rand.Rand, timeout time.Duration) *faultLoad {
	l := &faultLoad{tb: tb, token: token, client: &http.Client{Timeout: timeout}, byKey: map[string]*faultCmd{}, status: map[int]int{}, refusals: map[string]int{}}
	for w := range workers {
		l.workers = append(l.workers, &faultWorker{id: w, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))})
	}
	return l
}

func (l *faultLoad) setBase(base string) {
	l.mu.Lock()
	l.base = base
	l.mu.Unlock()
}

// add records a new command.
func (l *faultLoad) add(c *faultCmd) *faultCmd {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKey[c.key] != nil {
		l.tb.Fatalf("command key %s used twice", c.key)
	}
	l.cmds = append(l.cmds, c)
	l.byKey[c.key] = c
	return c
}

// raiseCmd raises a new item with a Chinese title.
func raiseCmd(key string) *faultCmd {
	id := "it-" + key
	return &faultCmd{key: key, kind: "raise", path: "/api/v1/items", want: 1, stream: events.ItemStream(id),
		body: fmt.Sprintf(`{"item_id":%q,"cycle_id":%q,"unit_id":%q,"title":"故障测试事项 %s","deadline":"2030-06-30"}`, id, faultCycle, faultUnit, key)}
}

// progressCmd reports progress on an item.
func progressCmd(key, item string) *faultCmd {
	return &faultCmd{key: key, kind: "progress", path: "/api/v1/items/" + item + "/progress", want: 1, stream: events.ItemStream(item),
		body: fmt.Sprintf(`{"note":"已推进整改 %s"}`, key)}
}

// importCmd confirms a reviewed report of one problem with an owner and
// two measures: the command side raises, assigns and plans it in one
// append of four events. The import key, and so the item's id, comes
// from the command's key.
func importCmd(tb testing.TB, key string) *faultCmd {
	deadline, _ := events.NewDate(2030, 6, 30)
	r := report.Review{
		Draft: report.Draft{Title: "城关街道工委年度述职报告", Digest: "fault-" + key, Encoding: "utf-8",
			Items: []report.DraftItem{{Key: "p1", Title: "网格员队伍不稳定 " + key, Text: "网格员流动频繁，台账更新不及时。",
				Measures: []report.DraftMeasure{{Key: "m1", Text: "每月召开网格员例会"}, {Key: "m2", Text: "建立网格员补贴制度"}}}}},
		Assign: report.Assignments{ImportKey: "imp-" + key, CycleID: faultCycle, UnitID: faultUnit, OwnerName: "王秀兰", Deadline: deadline,
			Entries: []report.Entry{}},
	}
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return &faultCmd{key: key, kind: "import", path: "/api/v1/imports/report/confirm", want: 4, body: string(b)}
}

// next is the worker's next command: the one not yet acknowledged, or a
// new one (mostly items raised, some progress reports on its own items,
// some report imports).
func (l *faultLoad) next(w *faultWorker, prefix string) *faultCmd {
	if w.cur != nil {
		return w.cur
	}
	w.n++
	key := fmt.Sprintf("%s-w%d-%d", prefix, w.id, w.n)
	switch r := w.rng.IntN(10); {
	case r < 3 && len(w.own) > 0:
		w.cur = progressCmd(key, w.own[w.rng.IntN(len(w.own))])
	case r < 4:
		w.cur = importCmd(l.tb, key)
	default:
		w.cur = raiseCmd(key)
	}
	return l.add(w.cur)
}

// send makes one attempt at c and records the outcome; it returns the
// status (0 without a reply).
func (l *faultLoad) send(c *faultCmd) int {
	l.mu.Lock()
	base := l.base
	c.attempts++
	l.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, base+c.path, strings.NewReader(c.body))
	if err != nil {
		l.tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", c.key)
	req.Header.Set("X-Request-ID", c.key)
	resp, err := l.client.Do(req)
	if err != nil {
		l.mu.Lock()
		l.transport++
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			l.timeouts++
		}
		l.mu.Unlock()
		return 0
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status[resp.StatusCode]++
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		pos, err := strconv.ParseUint(resp.Header.Get("X-Rectify-Position"), 10, 64)
		if err != nil || pos == 0 {
			l.unexpected = append(l.unexpected, fmt.Sprintf("%s: reply %d without a position", c.key, resp.StatusCode))
			return resp.StatusCode
		}
		c.acked, c.pos = true, pos
		if c.kind == "import" {
			var rep struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &rep); err != nil || len(rep.Items) != 1 || rep.Items[0].ID == "" {
				l.unexpected = append(l.unexpected, fmt.Sprintf("%s: import reply without its item: %s", c.key, body))
			} else {
				c.stream = events.ItemStream(rep.Items[0].ID)
			}
		}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		l.lastRefusal = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		l.refusals[fmt.Sprintf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)]++
	default:
		l.unexpected = append(l.unexpected, fmt.Sprintf("%s: POST %s: %d %s", c.key, c.path, resp.StatusCode, body))
	}
	return resp.StatusCode
}

// run runs every worker until stop is closed. A worker sends its command
// until it is acknowledged, pausing a little after a failure; a reply no
// retry can fix ends the worker (and fails the test, see check). The
// returned wait waits for every worker to finish its request in flight.
func (l *faultLoad) run(stop <-chan struct{}, prefix string) (wait func()) {
	var wg sync.WaitGroup
	for _, w := range l.workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := l.next(w, prefix)
				status := l.send(c)
				l.mu.Lock()
				acked, bad := c.acked, status >= 400 && status < 500 && status != http.StatusTooManyRequests
				l.mu.Unlock()
				switch {
				case acked:
					w.cur = nil
					if c.kind != "progress" && c.stream != "" {
						w.own = append(w.own, strings.TrimPrefix(c.stream, "item-"))
					}
				case bad:
					w.cur = nil
					return
				default:
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	return wg.Wait
}

// finish sends every command not acknowledged yet until it is, or fails
// the test after within.
func (l *faultLoad) finish(within time.Duration) {
	l.tb.Helper()
	deadline := time.Now().Add(within)
	for _, w := range l.workers {
		for c := w.cur; c != nil; {
			if l.send(c); c.acked {
				w.cur = nil
				if c.kind != "progress" && c.stream != "" {
					w.own = append(w.own, strings.TrimPrefix(c.stream, "item-"))
				}
				break
			}
			if len(l.unexpected) > 0 || time.Now().After(deadline) {
				l.tb.Fatalf("command %s not acknowledged within %s (%d attempts); last refusal: %s; unexpected: %v",
					c.key, within, c.attempts, l.lastRefusal, l.unexpected)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// pending is how many commands were sent and not acknowledged yet.
func (l *faultLoad) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.workers {
		if w.cur != nil && w.cur.attempts > 0 {
			n++
		}
	}
	return n
}

// unackedWritten counts the commands in flight (sent, not acknowledged)
// and those of them whose events the store holds: written, but their
// reply was lost.
func (l *faultLoad) unackedWritten(snap storeSnapshot) (unacked, written int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.workers {
		// A command still in flight from an earlier kill, not sent since,
		// is not counted again.
		if c := w.cur; c != nil && c.attempts > 0 && c.attempts != c.countedAt {
			c.countedAt = c.attempts
			unacked++
			if len(snap.byCorr[c.key]) == c.want {
				written++
			}
		}
	}
	return unacked, written
}

// counts returns the commands acknowledged, and of those the ones that
// needed more than one attempt.
func (l *faultLoad) counts() (acked, retried int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.cmds {
		if c.acked {
			acked++
			if c.attempts > 1 {
				retried++
			}
		}
	}
	return acked, retried
}

// maxAckedPos is the highest position an acknowledgement gave.
func (l *faultLoad) maxAckedPos() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var p uint64
	for _, c := range l.cmds {
		if c.acked {
			p = max(p, c.pos)
		}
	}
	return p
}

// storeSnapshot is the event store of a data directory as read at one
// moment.
type storeSnapshot struct {
	all    []events.Event
	byCorr map[string][]events.Event
}

// readStore reads every event of dir's embedded store, opened read-only
// (beside a running server, or after it was killed).
func readStore(tb testing.TB, dir string) storeSnapshot {
	tb.Helper()
	s, err := embedded.Open(filepath.Join(dir, "events.db"), embedded.Options{ReadOnly: true})
	if err != nil {
		tb.Fatalf("open the store read-only: %v", err)
	}
	defer s.Close()
	snap := storeSnapshot{byCorr: map[string][]events.Event{}}
	ctx := context.Background()
	for after := uint64(0); ; {
		batch, err := s.ReadAll(ctx, after, 5000)
		if err != nil {
			tb.Fatalf("read the store: %v", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			snap.all = append(snap.all, e)
			snap.byCorr[e.CorrelationID] = append(snap.byCorr[e.CorrelationID], e)
			after = e.Position
		}
	}
	return snap
}

// itemPositions lists the positions of every event of an item stream
// after from, in order.
func (s storeSnapshot) itemPositions(from, to uint64) []uint64 {
	var out []uint64
	for _, e := range s.all {
		if e.Position > from && e.Position <= to && strings.HasPrefix(e.Stream, "item-") {
			out = append(out, e.Position)
		}
	}
	return out
}

// checkCommands holds the store against the load's record: every
// acknowledged command's events are stored exactly once, in one stream,
// ending at the position its reply gave; every other command's events
// are all stored or none (nothing half-visible). It returns the events
// checked.
func (l *faultLoad) checkCommands(snap storeSnapshot) int {
	l.tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	checked := 0
	for _, c := range l.cmds {
		evs := snap.byCorr[c.key]
		checked += len(evs)
		streams := map[string]bool{}
		var last uint64
		for _, e := range evs {
			streams[e.Stream] = true
			last = max(last, e.Position)
		}
		switch {
		case c.acked && len(evs) != c.want:
			l.tb.Errorf("acknowledged command %s (%s, position %d) has %d events in the store; it writes %d", c.key, c.kind, c.pos, len(evs), c.want)
		case !c.acked && len(evs) != 0 && len(evs) != c.want:
			l.tb.Errorf("unacknowledged command %s (%s) is half-visible: %d of its %d events are in the store", c.key, c.kind, len(evs), c.want)
		case len(streams) > 1:
			l.tb.Errorf("command %s wrote to %d streams: %v", c.key, len(streams), streams)
		case c.acked && last != c.pos:
			l.tb.Errorf("acknowledged command %s: its reply gave position %d, its last event is at %d", c.key, c.pos, last)
		case c.acked && c.stream != "" && !streams[c.stream]:
			l.tb.Errorf("acknowledged command %s: its events are in %v, not %s", c.key, streams, c.stream)
		}
	}
	if len(l.unexpected) > 0 {
		l.tb.Errorf("replies no retry can fix: %s", strings.Join(l.unexpected, "; "))
	}
	return checked
}

// setup sends the commands every fault load needs first (the unit and the
// cycle), each until acknowledged.
func (l *faultLoad) setup(base string) {
	l.tb.Helper()
	l.setBase(base)
	for _, c := range []*faultCmd{
		{key: "setup-unit", kind: "unit", path: "/api/v1/units", want: 1,
			body: fmt.Sprintf(`{"unit_id":%q,"name":"城关街道工委","kind":"committee"}`, faultUnit)},
		{key: "setup-cycle", kind: "cycle", path: "/api/v1/cycles", want: 1,
			body: fmt.Sprintf(`{"cycle_id":%q,"name":"2026年度述职评议","year":2026,"kind":"annual_review","start":"2026-01-01","end":"2026-12-31"}`, faultCycle)},
	} {
		l.add(c)
		for l.send(c); !c.acked; l.send(c) {
			if len(l.unexpected) > 0 || c.attempts > 100 {
				l.tb.Fatalf("setup %s: %v %s", c.key, l.unexpected, l.lastRefusal)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// sseSegment is a stretch of the live stream with no reset in it: from
// its start every change of the view after from must come.
type sseSegment struct {
	from   uint64 // changes after this position are owed to the client
	reason string // how it started: "fresh", "resumed" or the reset's reason
	seen   map[uint64]bool
	max    uint64
}

// sseFollower follows the ledger's changes on the live stream the way a
// dashboard does: it keeps the last id, reconnects with it, and on a reset
// refetches (here: reads the ledger's position) and goes on from there.
type sseFollower struct {
	token string

	mu      sync.Mutex
	lastID  string
	segs    []*sseSegment
	resets  map[string]int
	resumed int // reconnections the hub resumed without a reset
	changes int
	// upTo is the highest position the client is known to have: the
	// last change delivered, or what a refetch after a reset read.
	upTo     uint64
	failures []string
}

func newSSEFollower(token string) *sseFollower {
	return &sseFollower{token: token, resets: map[string]int{}}
}

// follow connects to base and reads until ctx is done or the stream ends;
// it returns once connected (or failed to), reading in the background
// until done is closed.
func (f *sseFollower) follow(ctx context.Context, base string) (done <-chan struct{}, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/stream?topic=view:ledger", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	f.mu.Lock()
	last := f.lastID
	f.mu.Unlock()
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("stream: %d %s", resp.StatusCode, b)
	}
	// Attached: from here on the hub owes this client every change. A
	// client without a last id starts from what the ledger shows now.
	seg := &sseSegment{seen: map[uint64]bool{}}
	if last == "" {
		seg.reason = "fresh"
		if seg.from, err = f.refetch(ctx, base); err != nil {
			resp.Body.Close()
			return nil, err
		}
	} else {
		seg.reason = "resumed"
		seg.from, _ = strconv.ParseUint(last, 10, 64)
	}
	f.mu.Lock()
	f.segs = append(f.segs, seg)
	f.upTo = max(f.upTo, seg.from)
	f.mu.Unlock()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var id, event, data string
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && event != "":
				if !f.message(ctx, base, seg, id, event, data, first) {
					return
				}
				if event == "reset" {
					f.mu.Lock()
					seg = f.segs[len(f.segs)-1]
					f.mu.Unlock()
				}
				first = false
				id, event, data = "", "", ""
			}
		}
	}()
	return ch, nil
}

// message handles one message of the stream; false ends the reading.
func (f *sseFollower) message(ctx context.Context, base string, seg *sseSegment, id, event, data string, first bool) bool {
	switch event {
	case "change":
		var c struct{ Position uint64 }
		if err := json.Unmarshal([]byte(data), &c); err != nil || strconv.FormatUint(c.Position, 10) != id {
			f.fail(fmt.Sprintf("change %q with id %q", data, id))
			return false
		}
		f.mu.Lock()
		if first && seg.reason == "resumed" {
			f.resumed++
		}
		seg.seen[c.Position] = true
		seg.max = max(seg.max, c.Position)
		f.upTo = max(f.upTo, c.Position)
		f.lastID = id
		f.changes++
		f.mu.Unlock()
	case "reset":
		var r struct{ Reason string }
		if err := json.Unmarshal([]byte(data), &r); err != nil || r.Reason == "" {
			f.fail(fmt.Sprintf("reset %q", data))
			return false
		}
		// Refetch what the dashboard shows; the changes owed from now on
		// are those after what the refetch saw.
		from, err := f.refetch(ctx, base)
		if err != nil {
			return false // the server went away; the next life reconnects
		}
		f.mu.Lock()
		f.resets[r.Reason]++
		f.upTo = max(f.upTo, from)
		if id != "" {
			f.lastID = id
		}
		f.segs = append(f.segs, &sseSegment{from: from, reason: r.Reason, seen: map[uint64]bool{}})
		f.mu.Unlock()
	}
	return true
}

// refetch reads the ledger and returns the position its answer reflects.
// A refusal (the views not answering yet after an outage) is retried, as
// a dashboard does, for up to half a minute; a server gone is an error.
func (f *sseFollower) refetch(ctx context.Context, base string) (uint64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/items?limit=1", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return strconv.ParseUint(resp.Header.Get("X-Rectify-Position"), 10, 64)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			err := fmt.Errorf("refetch after a reset: %d %s", resp.StatusCode, b)
			f.fail(err.Error())
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *sseFollower) fail(msg string) {
	f.mu.Lock()
	f.failures = append(f.failures, msg)
	f.mu.Unlock()
}

// awaitSeen waits until the client has what the view showed at pos or
// later (delivered as a change, or read by a refetch), or fails the test
// after within.
func (f *sseFollower) awaitSeen(tb testing.TB, pos uint64, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		f.mu.Lock()
		seen := f.upTo
		f.mu.Unlock()
		if seen >= pos {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("live stream: nothing at position %d or later within %s; the client has up to %d", pos, within, seen)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check holds every segment against the store: each item event after the
// segment's start, up to the last change it delivered, was delivered, so
// that nothing went missing silently. It forgets the segments checked and
// returns how many positions it checked.
func (f *sseFollower) check(tb testing.TB, snap storeSnapshot) int {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	checked := 0
	for _, seg := range f.segs {
		var missing []uint64
		for _, p := range snap.itemPositions(seg.from, seg.max) {
			checked++
			if !seg.seen[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			tb.Errorf("live stream (%s after %d, delivered up to %d) silently missed %d changes of item events: positions %v",
				seg.reason, seg.from, seg.max, len(missing), missing[:min(len(missing), 20)])
		}
	}
	if len(f.failures) > 0 {
		tb.Errorf("live stream: %s", strings.Join(f.failures, "; "))
	}
	f.segs, f.failures = nil, nil
	return checked
}

// resetCounts renders the resets by reason.
func (f *sseFollower) resetCounts() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(f.resets)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, f.resets[r]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// checkConverged compares every view of replica in dataDir (a stopped
// process's) with a fresh rebuild from the store in storeDir, digest for
// digest at the same position, and returns the views compared.
func checkConverged(tb testing.TB, storeDir, dataDir, replica string) int {
	tb.Helper()
	want := digests(tb, "--data", storeDir, "--rebuild")
	got := digests(tb, "--data", dataDir, "--replica", replica)
	for view, w := range want {
		g := got[view]
		if g.Position != w.Position || g.Digest != w.Digest {
			tb.Errorf("view %s: position %d digest %s; a rebuild from the store gives %d %s", view, g.Position, g.Digest, w.Position, w.Digest)
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		tb.Errorf("%d views, a rebuild has %d", len(got), len(want))
	}
	return len(want)
}
