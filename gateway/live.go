package gateway

// Live updates: GET /api/v1/stream, server-sent events.
//
// The hub follows every view's change notices on NATS (rectify.changes.>),
// keeps the most recent ones in a ring, and fans each out to the streams
// whose caller may see it and whose topics it matches. Every message's id
// is the position of the change. A client that reconnects with
// Last-Event-ID gets every change that reached the hub after the one it
// last saw, then the live ones; when the hub cannot prove that it still
// holds all of them (the id fell out of the ring, the hub started or lost
// its NATS connection since), it sends a "reset" event instead, telling
// the client to refetch what it shows.
//
// Views announce their changes independently, so notices do not reach the
// hub in position order: the audit view may announce position 100 after
// the ledger announced 105. Streams therefore deliver in the order the
// hub received the notices, and a resume replays in that same order from
// the first notice with the client's id. Ordering by position instead
// would silently lose such a late notice for a client that had already
// seen 105. The price is that a resume may repeat a few notices of the
// same position (a notice is "refetch this", so a repeat is harmless);
// it never skips one.
//
// A client that does not read fast enough fills its queue and is
// disconnected; it reconnects with its Last-Event-ID and resumes from the
// ring. The hub never waits for a client.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// liveOptions tune the live hub. The zero value of every field means its
// default.
type liveOptions struct {
	// Buffer is how many recent changes the hub keeps for resuming
	// clients, default 50,000.
	Buffer int
	// ClientQueue is how many changes may wait for one client before the
	// client counts as too slow and is disconnected, default 1,024.
	ClientQueue int
	// Heartbeat is the interval of the comment lines that keep idle
	// streams (and the proxies in front of them) alive, default 15s.
	Heartbeat time.Duration
	// Retry is the reconnection delay suggested to clients, default 2s.
	Retry time.Duration
	// WriteTimeout bounds one write to a client, default 10s.
	WriteTimeout time.Duration
	// TreeWait bounds a refresh of the unit tree from the ledger view,
	// default 3s.
	TreeWait time.Duration
	// MaxTopics bounds the topic filters of one stream, default 32.
	MaxTopics int
	// StoreHead, when set, tells the hub the event store's head. The hub
	// asks it when it starts and after every interruption, and resumes
	// no client exactly from a position up to that head: the notices of
	// those positions may have been sent before the hub followed them
	// (by the hub of a process that crashed, whose clients reconnect
	// here), and views announce independently, so one view's late notice
	// of position 1215 in the ring does not prove that another view's
	// notice of 1216, sent before, is there too. Such a client is reset.
	// Nil trusts every position in the ring (tests that feed the hub by
	// hand).
	StoreHead func(context.Context) (uint64, error)
}

// Defaults of liveOptions.
const (
	// liveHeadRetry spaces attempts to learn the store head: a command
	// service starting beside the gateway answers moments later.
	liveHeadRetry           = 50 * time.Millisecond
	defaultLiveBuffer       = 50_000
	defaultLiveClientQueue  = 1024
	defaultLiveHeartbeat    = 15 * time.Second
	defaultLiveRetry        = 2 * time.Second
	defaultLiveWriteTimeout = 10 * time.Second
	defaultLiveTreeWait     = 3 * time.Second
	defaultLiveMaxTopics    = 32
	// liveFlushBytes is about how much a stream writes at once.
	liveFlushBytes = 64 << 10
	// liveTreeRetry spaces attempts to refresh the unit tree while the
	// ledger does not answer, so that the hub keeps up meanwhile.
	liveTreeRetry = time.Second
)

func (o liveOptions) withDefaults() liveOptions {
	if o.Buffer <= 0 {
		o.Buffer = defaultLiveBuffer
	}
	if o.ClientQueue <= 0 {
		o.ClientQueue = defaultLiveClientQueue
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = defaultLiveHeartbeat
	}
	if o.Retry <= 0 {
		o.Retry = defaultLiveRetry
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultLiveWriteTimeout
	}
	if o.TreeWait <= 0 {
		o.TreeWait = defaultLiveTreeWait
	}
	if o.MaxTopics <= 0 {
		o.MaxTopics = defaultLiveMaxTopics
	}
	return o
}

// liveChange is a change notice as the views announce it (the JSON of
// projections.Change) and as streams deliver it.
type liveChange struct {
	View     string `json:"view"`
	Key      string `json:"key"`
	Position uint64 `json:"position"`
	Unit     string `json:"unit,omitempty"`
}

// The unit tree comes from this view; its "units" change notices say the
// tree changed.
const (
	treeView    = "ledger"
	treeOp      = "units"
	treeChanged = "units"
)

// public reports whether every caller may see c whatever their scope: the
// list of cycles is not confined by scope.
func (c liveChange) public() bool { return c.View == treeView && c.Key == "cycles" }

// liveEntry is one change in the ring.
type liveEntry struct {
	seq  uint64 // order of arrival at the hub, from 1, contiguous
	msg  uint64 // the NATS message it came in, for continuity checks
	c    liveChange
	data []byte // c as JSON, encoded once for every client
}

// liveMsg is one message queued for a client: a change, or a reset.
type liveMsg struct {
	e *liveEntry
	// A reset tells the client to refetch. resetID, when not zero, is a
	// position the client may resume from afterwards.
	reset   string
	resetID uint64
}

// Reasons a stream is reset.
const (
	resetResume      = "resume_unavailable" // the Last-Event-ID cannot be resumed from
	resetInterrupted = "feed_interrupted"   // the hub may have missed changes
	resetUnknownUnit = "scope_unknown"      // a change's unit is not in the tree yet
)

var resetMessages = map[string]string{
	resetResume:      "the changes after your Last-Event-ID are no longer known here; refetch what you show",
	resetInterrupted: "the change feed was interrupted and changes may have been missed; refetch what you show",
	resetUnknownUnit: "a change could not be checked against your scope; refetch what you show",
}

// liveTopic is one topic filter of a stream: item:<id>, unit:<id> (the
// unit's subtree) or view:<name>.
type liveTopic struct {
	kind, id string
}

// liveClient is one open stream.
type liveClient struct {
	scope  query.Scope
	units  map[string]bool // scope.Units as a set
	topics []liveTopic
	queue  chan liveMsg
	gone   chan struct{} // closed when the hub drops the client
	rc     *http.ResponseController

	// resetQueued: a reset waits in queue. Another is not needed: the
	// client refetches after reading it, which covers later changes too.
	resetQueued atomic.Bool

	// Guarded by the hub's mutex.
	memo       map[string]bool // unit -> inside the scope, for memoVer
	memoVer    uint64
	topicMemo  map[string]bool // unit -> matches a unit topic, for memoVer
	registered bool
}

// liveHub follows change notices and serves the live streams. Build it
// with newLiveHub and stop it with Close.
type liveHub struct {
	nc     *nats.Conn
	opts   liveOptions
	log    *slog.Logger
	sub    *nats.Subscription
	status chan nats.Status
	done   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup

	// Touched only by the subscription's callback, which NATS calls for
	// one message at a time.
	droppedSeen int
	treeRetryAt time.Time

	mu      sync.Mutex
	ring    []*liveEntry // circular; ring[head] is the oldest of n entries
	head, n int
	nextSeq uint64
	msgs    uint64            // NATS messages received
	firstOf map[uint64]uint64 // position -> seq of its first entry in the ring
	// trustAfter: entries that came in NATS messages numbered up to here
	// may have missed changes before them and cannot anchor a resume.
	trustAfter uint64
	// headKnown: trustPos holds the store head as of when the hub last
	// started following notices; resumes from positions up to it are
	// reset (see liveOptions.StoreHead). epoch counts interruptions, so
	// that a head learnt across one is not taken.
	headKnown  bool
	trustPos   uint64
	epoch      uint64
	relearn    chan struct{}
	outage     bool
	clients    map[*liveClient]struct{}
	parent     map[string]string // unit -> parent ("" for a root)
	treePos    uint64
	treeVer    uint64
	treeBroken bool // the last refresh failed; unknown units cannot be judged

	connected   atomic.Int64
	dropped     atomic.Uint64
	resets      atomic.Uint64
	delivered   atomic.Uint64
	interrupted atomic.Uint64
}

// newLiveHub subscribes to every view's change notices on nc and starts
// following the connection's state. It fails only when the subscription
// cannot be made (the connection is closed).
func newLiveHub(nc *nats.Conn, opts liveOptions, logger *slog.Logger) (*liveHub, error) {
	if logger == nil {
		logger = slog.Default()
	}
	opts = opts.withDefaults()
	h := &liveHub{
		nc:      nc,
		opts:    opts,
		log:     logger,
		done:    make(chan struct{}),
		ring:    make([]*liveEntry, opts.Buffer),
		nextSeq: 1,
		firstOf: map[uint64]uint64{},
		clients: map[*liveClient]struct{}{},
		parent:  map[string]string{},
		relearn: make(chan struct{}, 1),
		// Without a way to learn the head, every position is trusted.
		headKnown: opts.StoreHead == nil,
	}
	h.status = nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	sub, err := nc.Subscribe(natsx.ChangesSubjectPrefix+".>", h.receive)
	if err != nil {
		nc.RemoveStatusListener(h.status)
		return nil, events.Wrap(events.CodeUnavailable, err, "follow change notices")
	}
	h.mu.Lock()
	h.sub = sub
	h.mu.Unlock()
	// Make sure the server has the subscription before anyone relies on
	// it; if NATS is down now, it is sent on reconnect.
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		h.log.Warn("live: change notices subscription not confirmed yet", "err", err)
	}
	h.wg.Add(1)
	go h.watch()
	if opts.StoreHead != nil {
		h.relearn <- struct{}{}
		h.wg.Add(1)
		go h.learnHead()
	}
	return h, nil
}

// liveCheck is the live stream's readiness: once the gateway is open, its
// hub knows the store's head (liveOptions.StoreHead). Until then a client
// resuming with a position the hub itself sent would still be reset, so
// a test or a load balancer waiting for /readyz gets exact resumes from
// then on.
func (s *Server) liveCheck() readyCheck {
	return readyCheck{Name: "live stream", Check: func(context.Context) error {
		s.mu.Lock()
		live := s.live
		s.mu.Unlock()
		if live == nil {
			return nil // not open: no stream to resume
		}
		live.mu.Lock()
		known := live.headKnown
		live.mu.Unlock()
		if !known {
			return events.Errorf(events.CodeUnavailable, "the live stream does not know the store's head yet")
		}
		return nil
	}}
}

// commandsHead asks the command service for the store head.
func commandsHead(nc *nats.Conn) func(context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) { return natsx.CommandsStatus(ctx, nc) }
}

// learnHead asks for the store head each time the hub (re)starts following
// notices, until it has an answer given after the last interruption.
func (h *liveHub) learnHead() {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.done
		cancel()
	}()
	for {
		select {
		case <-h.done:
			return
		case <-h.relearn:
		}
		for {
			h.mu.Lock()
			epoch := h.epoch
			h.mu.Unlock()
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			head, err := h.opts.StoreHead(qctx)
			qcancel()
			if err == nil {
				h.mu.Lock()
				done := epoch == h.epoch
				if done {
					h.trustPos, h.headKnown = head, true
				}
				h.mu.Unlock()
				if done {
					break
				}
				continue
			}
			h.log.Debug("live: store head unknown; resumes are reset meanwhile", "err", err)
			select {
			case <-h.done:
				return
			case <-time.After(liveHeadRetry):
			}
		}
	}
}

// Close stops following notices and ends every open stream. It is safe
// to call more than once.
func (h *liveHub) Close() {
	h.closed.Do(func() {
		if err := h.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			h.log.Debug("live: unsubscribe", "err", err)
		}
		h.nc.RemoveStatusListener(h.status)
		close(h.done)
		h.wg.Wait()
		h.mu.Lock()
		for cl := range h.clients {
			h.detachLocked(cl)
		}
		h.mu.Unlock()
	})
}

// watch follows the connection: notices published while it was down are
// lost to the hub, so every stream is reset once it is back.
func (h *liveHub) watch() {
	defer h.wg.Done()
	for {
		select {
		case <-h.done:
			return
		case st, ok := <-h.status:
			if !ok {
				return
			}
			switch st {
			case nats.DISCONNECTED, nats.RECONNECTING:
				h.mu.Lock()
				h.outage = true
				h.mu.Unlock()
			case nats.CONNECTED:
				h.mu.Lock()
				if h.outage {
					h.outage = false
					h.interruptLocked("the NATS connection was lost and is back")
				}
				h.mu.Unlock()
			}
		}
	}
}

// receive handles one NATS message of change notices.
func (h *liveHub) receive(m *nats.Msg) {
	if n, err := m.Sub.Dropped(); err == nil && n > h.droppedSeen {
		// NATS dropped notices because the hub fell behind: whatever it
		// holds now has holes.
		h.droppedSeen = n
		h.mu.Lock()
		h.interruptLocked(fmt.Sprintf("%d change notices were dropped", n))
		h.mu.Unlock()
	}
	var cs []liveChange
	if err := json.Unmarshal(m.Data, &cs); err != nil {
		h.mu.Lock()
		h.msgs++
		h.interruptLocked("a change notice could not be read: " + err.Error())
		h.mu.Unlock()
		return
	}
	h.refreshTree(cs)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs++
	for _, c := range cs {
		h.appendLocked(c)
	}
}

// interruptLocked records that the hub may have missed notices: no entry
// received so far (nor any still queued in the subscription) may anchor a
// resume, and every open stream is told to refetch.
func (h *liveHub) interruptLocked(why string) {
	pending := 0
	if h.sub != nil {
		pending, _, _ = h.sub.Pending()
	}
	// One more for a message NATS may have taken from the queue but not
	// handed to receive yet.
	h.trustAfter = h.msgs + uint64(pending) + 1
	for i := 0; i < h.n; i++ {
		h.ring[(h.head+i)%len(h.ring)] = nil
	}
	h.head, h.n = 0, 0
	clear(h.firstOf)
	if h.opts.StoreHead != nil {
		// Notices missed meanwhile may be of positions that other views
		// announce again later, after this point: learn the head anew.
		h.epoch++
		h.headKnown = false
		select {
		case h.relearn <- struct{}{}:
		default:
		}
	}
	h.interrupted.Add(1)
	h.log.Warn("live: change feed interrupted; resetting every stream", "why", why, "streams", len(h.clients))
	for cl := range h.clients {
		h.offerLocked(cl, liveMsg{reset: resetInterrupted})
	}
}

// appendLocked adds c to the ring and offers it to every stream.
func (h *liveHub) appendLocked(c liveChange) {
	data, err := json.Marshal(c)
	if err != nil {
		return // a struct of strings and a number always encodes
	}
	e := &liveEntry{seq: h.nextSeq, msg: h.msgs, c: c, data: data}
	h.nextSeq++
	if h.n == len(h.ring) {
		old := h.ring[h.head]
		if h.firstOf[old.c.Position] == old.seq {
			// The first entry of this position is gone: a client that
			// saw it cannot be resumed exactly any more.
			delete(h.firstOf, old.c.Position)
		}
		h.ring[h.head] = nil
		h.head = (h.head + 1) % len(h.ring)
		h.n--
	}
	h.ring[(h.head+h.n)%len(h.ring)] = e
	h.n++
	if _, ok := h.firstOf[c.Position]; !ok {
		h.firstOf[c.Position] = e.seq
	}
	for cl := range h.clients {
		switch h.verdictLocked(cl, c) {
		case verdictYes:
			h.offerLocked(cl, liveMsg{e: e})
		case verdictUnknown:
			h.offerLocked(cl, liveMsg{reset: resetUnknownUnit})
		}
	}
}

// offerLocked queues m for cl, or drops cl when its queue is full. A
// reset is not queued behind another one not written yet.
func (h *liveHub) offerLocked(cl *liveClient, m liveMsg) {
	if m.e == nil {
		// Marked before it is queued: the stream's writer may take and
		// write it (clearing the mark) the moment it is in the queue, and
		// a mark set after that would stand with no reset queued, so that
		// the stream would never be told of a later interruption.
		if !cl.resetQueued.CompareAndSwap(false, true) {
			return
		}
		m.resetID = h.resumableLocked()
	}
	select {
	case cl.queue <- m:
	default:
		h.dropped.Add(1)
		h.detachLocked(cl)
		// Unblock a write stuck on the client's full connection.
		if cl.rc != nil {
			_ = cl.rc.SetWriteDeadline(time.Now())
		}
	}
}

// detachLocked forgets cl and ends its stream.
func (h *liveHub) detachLocked(cl *liveClient) {
	if !cl.registered {
		return
	}
	cl.registered = false
	delete(h.clients, cl)
	close(cl.gone)
}

// resumableLocked is the newest position a client may later resume from,
// 0 when there is none.
func (h *liveHub) resumableLocked() uint64 {
	if h.n == 0 {
		return 0
	}
	last := h.ring[(h.head+h.n-1)%len(h.ring)]
	if _, ok := h.anchorLocked(last.c.Position); ok {
		return last.c.Position
	}
	return 0
}

// anchorLocked finds where to resume a client whose last id was pos: the
// ring index of the first entry of that position, if it may anchor.
func (h *liveHub) anchorLocked(pos uint64) (int, bool) {
	if !h.headKnown || pos <= h.trustPos {
		return 0, false
	}
	seq, ok := h.firstOf[pos]
	if !ok {
		return 0, false
	}
	first := h.ring[h.head].seq
	e := h.ring[(h.head+int(seq-first))%len(h.ring)]
	if e.msg <= h.trustAfter {
		return 0, false
	}
	return int(seq - first), true
}

// attach registers cl and returns what it must be sent before the live
// changes: the changes after lastID (hasLast), or a reset when they are
// not all known.
func (h *liveHub) attach(cl *liveClient, lastID uint64, hasLast bool) []liveMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	var replay []liveMsg
	if hasLast {
		if i, ok := h.anchorLocked(lastID); ok {
			reset := false // one reset in a replay is enough: it is all written at once
			for ; i+1 < h.n; i++ {
				e := h.ring[(h.head+i+1)%len(h.ring)]
				switch h.verdictLocked(cl, e.c) {
				case verdictYes:
					replay = append(replay, liveMsg{e: e})
				case verdictUnknown:
					if !reset {
						replay = append(replay, liveMsg{reset: resetUnknownUnit, resetID: h.resumableLocked()})
						reset = true
					}
				}
			}
		} else {
			replay = append(replay, liveMsg{reset: resetResume, resetID: h.resumableLocked()})
		}
	}
	cl.registered = true
	h.clients[cl] = struct{}{}
	return replay
}

// detach forgets cl when its stream ends.
func (h *liveHub) detach(cl *liveClient) {
	h.mu.Lock()
	h.detachLocked(cl)
	h.mu.Unlock()
}

type verdict int

const (
	verdictNo verdict = iota
	verdictYes
	verdictUnknown // the change's unit is not in the tree and the tree could not be refreshed
)

// verdictLocked decides whether cl gets c: it must match one of cl's
// topics (if it has any) and lie inside cl's scope.
func (h *liveHub) verdictLocked(cl *liveClient, c liveChange) verdict {
	if cl.memoVer != h.treeVer {
		cl.memo, cl.topicMemo, cl.memoVer = nil, nil, h.treeVer
	}
	if len(cl.topics) > 0 {
		v := h.topicVerdictLocked(cl, c)
		if v != verdictYes {
			return v
		}
	}
	switch {
	case cl.scope.All, c.public():
		return verdictYes
	case c.Unit == "":
		return verdictNo
	}
	if in, ok := cl.memo[c.Unit]; ok {
		return yesNo(in)
	}
	if _, known := h.parent[c.Unit]; !known {
		if h.treeBroken {
			return verdictUnknown
		}
		return verdictNo
	}
	in := h.underAnyLocked(c.Unit, cl.units)
	if cl.memo == nil {
		cl.memo = map[string]bool{}
	}
	cl.memo[c.Unit] = in
	return yesNo(in)
}

func (h *liveHub) topicVerdictLocked(cl *liveClient, c liveChange) verdict {
	unknown := false
	for _, t := range cl.topics {
		switch t.kind {
		case "view":
			if c.View == t.id {
				return verdictYes
			}
		case "item":
			if c.Key == "item:"+t.id || c.Key == events.ItemStream(t.id) {
				return verdictYes
			}
		case "unit":
			if c.Unit == "" {
				continue
			}
			if _, known := h.parent[c.Unit]; !known {
				unknown = unknown || h.treeBroken
				continue
			}
			in, ok := cl.topicMemo[c.Unit]
			if !ok {
				in = h.underAnyLocked(c.Unit, unitTopics(cl.topics))
				if cl.topicMemo == nil {
					cl.topicMemo = map[string]bool{}
				}
				cl.topicMemo[c.Unit] = in
			}
			if in {
				return verdictYes
			}
		}
	}
	if unknown {
		return verdictUnknown
	}
	return verdictNo
}

func unitTopics(ts []liveTopic) map[string]bool {
	out := map[string]bool{}
	for _, t := range ts {
		if t.kind == "unit" {
			out[t.id] = true
		}
	}
	return out
}

func yesNo(b bool) verdict {
	if b {
		return verdictYes
	}
	return verdictNo
}

// underAnyLocked reports whether unit is one of roots or lies below one.
func (h *liveHub) underAnyLocked(unit string, roots map[string]bool) bool {
	// The depth bound guards against a cycle in a tree the view sent.
	for u, depth := unit, 0; u != "" && depth < 1000; depth++ {
		if roots[u] {
			return true
		}
		u = h.parent[u]
	}
	return false
}

// refreshTree brings the unit tree up to date before cs are delivered:
// when the tree changed ("units") or a change names a unit the tree does
// not know yet, it asks the ledger for the tree as of at least that
// position. A failure marks the tree broken: changes of unknown units
// then reset the scoped streams instead of being judged on a stale tree.
func (h *liveHub) refreshTree(cs []liveChange) {
	var want uint64
	h.mu.Lock()
	for _, c := range cs {
		if c.Position <= h.treePos {
			continue
		}
		if _, known := h.parent[c.Unit]; c.Key == treeChanged || (c.Unit != "" && !known) {
			want = max(want, c.Position)
		}
	}
	broken := h.treeBroken
	h.mu.Unlock()
	if want == 0 || (broken && time.Now().Before(h.treeRetryAt)) {
		return
	}
	tree, pos, err := h.loadTree(want)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.treeBroken = true
		h.treeRetryAt = time.Now().Add(liveTreeRetry)
		h.log.Warn("live: unit tree not refreshed; scoped streams are reset for changes of units it does not know",
			"want_position", want, "err", err)
		return
	}
	h.parent, h.treePos, h.treeBroken = tree, pos, false
	h.treeVer++
}

// loadTree asks the ledger view for every unit, retired ones included,
// as of at least position minPos.
func (h *liveHub) loadTree(minPos uint64) (map[string]string, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.TreeWait)
	defer cancel()
	params, _ := json.Marshal(query.UnitsParams{IncludeRetired: true})
	var resp query.Response
	err := natsx.QueryRequest(ctx, h.nc, treeView, treeOp,
		query.Request{MinPosition: minPos, Scope: query.Scope{All: true}, Params: params}, &resp)
	if err != nil {
		return nil, 0, err
	}
	if resp.Error != nil {
		return nil, 0, resp.Error
	}
	var tree query.UnitTree
	if err := json.Unmarshal(resp.Data, &tree); err != nil {
		return nil, 0, events.Wrap(events.CodeInternal, err, "decode unit tree")
	}
	parent := make(map[string]string, len(tree.Units))
	for _, u := range tree.Units {
		parent[u.ID] = u.ParentID
	}
	return parent, resp.Position, nil
}

// liveStats are the hub's counters for metrics.
type liveStats struct {
	Connected   int64
	Dropped     uint64 // streams disconnected for being too slow
	Resets      uint64 // reset events written
	Delivered   uint64 // change events written
	Interrupted uint64 // times the feed had to be reset for everybody
}

func (h *liveHub) stats() liveStats {
	return liveStats{
		Connected:   h.connected.Load(),
		Dropped:     h.dropped.Load(),
		Resets:      h.resets.Load(),
		Delivered:   h.delivered.Load(),
		Interrupted: h.interrupted.Load(),
	}
}

// parseTopics reads the topic query parameters.
func parseTopics(values []string, maxTopics int) ([]liveTopic, error) {
	if len(values) > maxTopics {
		return nil, events.Invalid("topic", fmt.Sprintf("at most %d topics per stream", maxTopics))
	}
	var out []liveTopic
	var v events.Validator
	for _, s := range values {
		kind, id, ok := strings.Cut(s, ":")
		switch {
		case !ok || (kind != "item" && kind != "unit" && kind != "view"):
			v.Add("topic", fmt.Sprintf("%q: want item:<id>, unit:<id> or view:<name>", s))
		case id == "" || len(id) > 200 || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }):
			v.Add("topic", fmt.Sprintf("%q: the id must be 1 to 200 bytes of printable text", s))
		default:
			out = append(out, liveTopic{kind: kind, id: id})
		}
	}
	return out, v.Err()
}

// lastEventID reads the position a client resumes from: the Last-Event-ID
// header, or the last_event_id query parameter for EventSource polyfills
// that cannot send headers.
func lastEventID(c *gin.Context) (uint64, bool, error) {
	field, s := "Last-Event-ID", c.GetHeader("Last-Event-ID")
	if s == "" {
		field, s = "last_event_id", c.Query("last_event_id")
	}
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, false, events.Invalid(field, fmt.Sprintf("%q is not an event id; ids are positions, whole numbers", s))
	}
	return n, true, nil
}

// handler serves GET /api/v1/stream. scopeOf gives the caller's scope
// (its error, e.g. CodeUnauthorized, is answered with writeError, as is a
// bad topic or Last-Event-ID: 400 naming it).
//
// The reply is text/event-stream: a retry hint, then for every change an
// "id: <position>", "event: change" and "data: {view, key, position,
// unit}" message, "event: reset" messages (data {reason, message}) when
// the client must refetch, and a comment line every Heartbeat. It ends
// when the client goes, when it is too slow, or when the hub closes.
func (h *liveHub) handler(scopeOf func(*gin.Context) (query.Scope, error), writeError func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		scope, err := scopeOf(c)
		if err != nil {
			writeError(c, err)
			return
		}
		topics, err := parseTopics(c.QueryArray("topic"), h.opts.MaxTopics)
		if err != nil {
			writeError(c, err)
			return
		}
		last, hasLast, err := lastEventID(c)
		if err != nil {
			writeError(c, err)
			return
		}
		select {
		case <-h.done:
			writeError(c, events.Errorf(events.CodeUnavailable, "the server is shutting down; reconnect shortly"))
			return
		default:
		}
		cl := &liveClient{
			scope:  scope,
			units:  map[string]bool{},
			topics: topics,
			queue:  make(chan liveMsg, h.opts.ClientQueue),
			gone:   make(chan struct{}),
			rc:     http.NewResponseController(c.Writer),
		}
		for _, u := range scope.Units {
			cl.units[u] = true
		}
		hdr := c.Writer.Header()
		hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
		c.Status(http.StatusOK)

		replay := h.attach(cl, last, hasLast)
		h.connected.Add(1)
		defer func() {
			h.detach(cl)
			h.connected.Add(-1)
		}()

		var buf bytes.Buffer
		fmt.Fprintf(&buf, "retry: %d\n\n", h.opts.Retry.Milliseconds())
		for _, m := range replay {
			h.format(cl, &buf, m)
			if buf.Len() >= liveFlushBytes && !h.flush(cl, c.Writer, &buf) {
				return
			}
		}
		if !h.flush(cl, c.Writer, &buf) {
			return
		}
		ctx := c.Request.Context()
		beat := time.NewTicker(h.opts.Heartbeat)
		defer beat.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-cl.gone:
				return
			case <-h.done:
				return
			case <-beat.C:
				buf.WriteString(": ping\n\n")
			case m := <-cl.queue:
				h.format(cl, &buf, m)
				// Write what else is waiting in the same flush.
				for more := true; more && buf.Len() < liveFlushBytes; {
					select {
					case m := <-cl.queue:
						h.format(cl, &buf, m)
					default:
						more = false
					}
				}
			}
			if !h.flush(cl, c.Writer, &buf) {
				return
			}
		}
	}
}

// format appends one message to buf in event-stream syntax.
func (h *liveHub) format(cl *liveClient, buf *bytes.Buffer, m liveMsg) {
	if m.e != nil {
		fmt.Fprintf(buf, "id: %d\nevent: change\ndata: %s\n\n", m.e.c.Position, m.e.data)
		h.delivered.Add(1)
		return
	}
	cl.resetQueued.Store(false)
	data, _ := json.Marshal(map[string]string{"reason": m.reset, "message": resetMessages[m.reset]})
	if m.resetID != 0 {
		fmt.Fprintf(buf, "id: %d\n", m.resetID)
	}
	fmt.Fprintf(buf, "event: reset\ndata: %s\n\n", data)
	h.resets.Add(1)
}

// flush writes buf to the client within WriteTimeout and empties it.
func (h *liveHub) flush(cl *liveClient, w gin.ResponseWriter, buf *bytes.Buffer) bool {
	_ = cl.rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, err := w.Write(buf.Bytes())
	buf.Reset()
	if err == nil {
		err = cl.rc.Flush()
	}
	return err == nil
}
