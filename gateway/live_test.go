package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/projections"
	"rectify/projections/query"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

// liveRig is a live hub behind a real HTTP listener, following a real
// NATS server, with a real ledger view that serves the unit tree and
// announces its changes the way `rectify serve` does.
type liveRig struct {
	tb     testing.TB
	nats   *natstest.Server
	pub    *nats.Conn
	hub    *liveHub
	base   string
	ledger *projections.Runner
	pos    uint64 // last position used, by the ledger or a raw notice
	prev   uint64 // last position applied to the ledger
	revs   map[string]uint64
}

// testScopeHeader carries the caller's scope in these tests, where the
// hub runs without the authenticator: "all", or unit ids separated by
// commas ("" for none). Without it the caller is unauthenticated.
const testScopeHeader = "X-Test-Scope"

func testScope(c *gin.Context) (query.Scope, error) {
	v, ok := c.Request.Header[testScopeHeader]
	if !ok {
		return query.Scope{}, events.Errorf(events.CodeUnauthorized, "no caller")
	}
	if v[0] == "all" {
		return query.Scope{All: true}, nil
	}
	var s query.Scope
	for _, u := range strings.Split(v[0], ",") {
		if u != "" {
			s.Units = append(s.Units, u)
		}
	}
	return s, nil
}

// MustOpenLiveRig starts NATS, the ledger view and its queries (unless
// withoutLedger), and a hub with opts served on a free port.
func MustOpenLiveRig(tb testing.TB, opts liveOptions, withoutLedger bool) *liveRig {
	tb.Helper()
	ginMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	logger := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := &liveRig{tb: tb, nats: natstest.MustStartRestartable(tb), revs: map[string]uint64{}}
	r.pub, _ = natstest.MustConnect(tb, r.nats.URL)
	hubConn, _ := natstest.MustConnect(tb, r.nats.URL)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if !withoutLedger {
		var err error
		r.ledger, err = projections.Open(ctx, projections.Ledger{}, projections.Options{
			Dir:      tb.TempDir(),
			OnCommit: func(cs []projections.Change) { r.publishJSON(cs[0].View, cs) },
		})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { r.ledger.Close() })
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := projections.ServeQueries(ctx, r.pub, []*projections.Runner{r.ledger}, projections.ServeOptions{MaxWait: 5 * time.Second}); err != nil {
				tb.Errorf("serve queries: %v", err)
			}
		}()
		tb.Cleanup(func() { cancel(); <-served })
		waitFor(tb, 10*time.Second, "the ledger answering queries", func() bool {
			var resp query.Response
			qctx, qcancel := context.WithTimeout(ctx, time.Second)
			defer qcancel()
			return natsx.QueryRequest(qctx, r.pub, "ledger", query.StatusOp, query.Request{}, &resp) == nil && resp.Error == nil
		})
	}
	hub, err := newLiveHub(hubConn, opts, logger)
	if err != nil {
		tb.Fatal(err)
	}
	r.hub = hub
	s := &Server{log: logger}
	e := gin.New()
	e.GET("/api/v1/stream", hub.handler(testScope, s.writeError))
	srv := httptest.NewServer(e)
	// The hub first, so that open streams end and the server can close.
	tb.Cleanup(srv.Close)
	tb.Cleanup(hub.Close)
	r.base = srv.URL
	return r
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func (r *liveRig) publishJSON(view string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		r.tb.Error(err)
		return
	}
	if err := r.pub.Publish(natsx.ChangesSubject(view), b); err != nil {
		r.tb.Errorf("publish: %v", err)
	}
}

// publish announces changes as a view would, in one NATS message.
func (r *liveRig) publish(cs ...liveChange) {
	r.tb.Helper()
	r.publishJSON(cs[0].View, cs)
	if err := r.pub.Flush(); err != nil {
		r.tb.Fatal(err)
	}
}

// apply appends events of payloads to the ledger at the next positions
// and returns the position of the last one.
func (r *liveRig) apply(ps ...events.Payload) uint64 {
	r.tb.Helper()
	var batch []projections.Delivery
	for _, p := range ps {
		stream := streamOf(r.tb, p)
		e, err := events.New(p, events.Meta{ID: fmt.Sprintf("ev-%d", r.pos+1), Stream: stream, Actor: "admin",
			Time: time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC)})
		if err != nil {
			r.tb.Fatal(err)
		}
		e.Revision = r.revs[stream]
		r.revs[stream]++
		e.Position = r.pos + 1
		batch = append(batch, projections.Delivery{Event: e, Prev: r.prev})
		r.pos, r.prev = e.Position, e.Position
	}
	if err := r.ledger.Apply(context.Background(), batch); err != nil {
		r.tb.Fatal(err)
	}
	return r.pos
}

func streamOf(tb testing.TB, p events.Payload) string {
	tb.Helper()
	switch d := p.(type) {
	case events.UnitRegisteredData:
		return events.UnitStream(d.UnitID)
	case events.UnitMovedData:
		return events.UnitStream(d.UnitID)
	case events.CycleOpenedData:
		return events.CycleStream(d.CycleID)
	case events.CycleClosedData:
		return events.CycleStream(d.CycleID)
	case events.ItemRaisedData:
		return events.ItemStream(d.ItemID)
	case events.ItemProgressReportedData:
		return events.ItemStream(d.ItemID)
	}
	tb.Fatalf("no stream for %T", p)
	return ""
}

// settled waits until the hub has received the notices of position pos,
// so that streams opened afterwards do not see them.
func (r *liveRig) settled(pos uint64) {
	r.tb.Helper()
	waitFor(r.tb, 10*time.Second, fmt.Sprintf("the hub to receive position %d", pos), func() bool {
		r.hub.mu.Lock()
		defer r.hub.mu.Unlock()
		_, ok := r.hub.firstOf[pos]
		return ok
	})
}

// sseEvent is one message of an event stream, or a comment line.
type sseEvent struct {
	Retry   string
	ID      string
	HasID   bool
	Event   string
	Data    string
	Comment string
}

func (e sseEvent) change(tb testing.TB) liveChange {
	tb.Helper()
	if e.Event != "change" {
		tb.Fatalf("got %+v, want a change", e)
	}
	var c liveChange
	if err := json.Unmarshal([]byte(e.Data), &c); err != nil {
		tb.Fatalf("change data %q: %v", e.Data, err)
	}
	if e.ID != fmt.Sprint(c.Position) {
		tb.Fatalf("change %+v has id %q, want its position", c, e.ID)
	}
	return c
}

// sseStream reads an event stream on a goroutine of its own.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// MustOpenStream opens GET /api/v1/stream?<rawQuery> with the scope
// header (unless scope is "-") and the Last-Event-ID header (unless
// empty), and fails tb unless the answer is a 200 event stream.
func MustOpenStream(tb testing.TB, r *liveRig, scope, rawQuery, lastID string) *sseStream {
	tb.Helper()
	resp, cancel := openStream(tb, r, scope, rawQuery, lastID)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("stream: %s %s: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 100_000), cancel: cancel}
	go s.read()
	tb.Cleanup(s.close)
	return s
}

func openStream(tb testing.TB, r *liveRig, scope, rawQuery, lastID string) (*http.Response, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/api/v1/stream?"+rawQuery, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if scope != "-" {
		req.Header.Set(testScopeHeader, scope)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	return resp, cancel
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var e sseEvent
	pending := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if pending {
				s.events <- e
			}
			e, pending = sseEvent{}, false
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "retry: "):
			e.Retry, pending = line[7:], true
		case strings.HasPrefix(line, "id: "):
			e.ID, e.HasID, pending = line[4:], true, true
		case strings.HasPrefix(line, "event: "):
			e.Event, pending = line[7:], true
		case strings.HasPrefix(line, "data: "):
			e.Data, pending = line[6:], true
		}
	}
}

// next returns the next message, skipping comments unless comments.
func (s *sseStream) next(tb testing.TB, comments bool) sseEvent {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				tb.Fatal("the stream ended")
			}
			if (e.Comment != "" || e.Retry != "" && e.Event == "") && !comments {
				continue
			}
			return e
		case <-timeout:
			tb.Fatal("no message within 10s")
		}
	}
}

// changesUntil collects the changes of the stream up to and including
// one at position last, failing on a reset.
func (s *sseStream) changesUntil(tb testing.TB, last uint64) []liveChange {
	tb.Helper()
	var out []liveChange
	for {
		c := s.next(tb, false).change(tb)
		out = append(out, c)
		if c.Position == last {
			return out
		}
	}
}

func positions(cs []liveChange) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.Position
	}
	return out
}

func ledgerChange(pos uint64, key string) liveChange {
	return liveChange{View: "ledger", Key: key, Position: pos}
}

func TestLiveResumeDeliversExactlyTheMissedChanges(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, true)
	a := MustOpenStream(t, r, "all", "", "")
	r.publish(ledgerChange(101, "item:a"))
	r.publish(ledgerChange(102, "item:b"))
	r.publish(ledgerChange(103, "item:c"))
	if got := positions(a.changesUntil(t, 103)); !slices.Equal(got, []uint64{101, 102, 103}) {
		t.Fatalf("first stream got %v", got)
	}
	a.close()

	// Missed while disconnected: a Chinese key, and two changes of one
	// position.
	r.publish(liveChange{View: "audit", Key: "item:整改事项-104", Position: 104, Unit: "东风社区"})
	r.publish(ledgerChange(105, "item:d"), ledgerChange(105, "unit:sq1"))
	r.publish(ledgerChange(106, "item:e"))
	r.settled(106)

	b := MustOpenStream(t, r, "all", "", "103")
	got := b.changesUntil(t, 106)
	want := []liveChange{
		{View: "audit", Key: "item:整改事项-104", Position: 104, Unit: "东风社区"},
		ledgerChange(105, "item:d"), ledgerChange(105, "unit:sq1"), ledgerChange(106, "item:e"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed after 103:\n got %+v\nwant %+v", got, want)
	}
	r.publish(ledgerChange(107, "item:f"))
	if c := b.next(t, false).change(t); c.Position != 107 {
		t.Fatalf("after the replay got %+v, want 107 live", c)
	}

	// The query parameter works as the header does.
	c := MustOpenStream(t, r, "all", "last_event_id=104", "")
	if got := positions(c.changesUntil(t, 107)); !slices.Equal(got, []uint64{105, 105, 106, 107}) {
		t.Fatalf("resumed after 104 got %v", got)
	}
	if st := r.hub.stats(); st.Resets != 0 {
		t.Fatalf("%d resets, want none", st.Resets)
	}
}

func TestLiveLateNoticeIsNotLostOnResume(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, true)
	a := MustOpenStream(t, r, "all", "", "")
	r.publish(ledgerChange(110, "item:a"))
	// The audit view announces an earlier position after the ledger.
	r.publish(liveChange{View: "audit", Key: "item-a", Position: 108})
	got := []uint64{a.next(t, false).change(t).Position, a.next(t, false).change(t).Position}
	if !slices.Equal(got, []uint64{110, 108}) {
		t.Fatalf("live order %v, want arrival order [110 108]", got)
	}
	r.publish(ledgerChange(111, "item:b"))
	a.changesUntil(t, 111)

	// A client that saw 110 but not the late 108 gets it on resume.
	b := MustOpenStream(t, r, "all", "", "110")
	if got := b.changesUntil(t, 111); !slices.Equal(positions(got), []uint64{108, 111}) || got[0].View != "audit" {
		t.Fatalf("resumed after 110 got %+v, want the late 108 then 111", got)
	}
	// One that saw 108 (which came after 110) misses only 111.
	c := MustOpenStream(t, r, "all", "", "108")
	if got := positions(c.changesUntil(t, 111)); !slices.Equal(got, []uint64{111}) {
		t.Fatalf("resumed after 108 got %v", got)
	}
}

func TestLiveResetWhenTheIdIsNoLongerBuffered(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{Buffer: 4}, true)
	a := MustOpenStream(t, r, "all", "", "")
	for p := uint64(201); p <= 210; p++ {
		r.publish(ledgerChange(p, fmt.Sprintf("item:%d", p)))
	}
	a.changesUntil(t, 210)

	for _, id := range []string{"201", "206", "99999"} {
		s := MustOpenStream(t, r, "all", "", id)
		e := s.next(t, false)
		var data struct{ Reason, Message string }
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
			t.Fatal(err)
		}
		if e.Event != "reset" || data.Reason != resetResume || data.Message == "" || e.ID != "210" {
			t.Fatalf("resume from %s: got %+v, want a reset with id 210", id, e)
		}
		s.close()
	}
	// 207 is still in the ring: exact resume.
	s := MustOpenStream(t, r, "all", "", "207")
	if got := positions(s.changesUntil(t, 210)); !slices.Equal(got, []uint64{208, 209, 210}) {
		t.Fatalf("resumed after 207 got %v", got)
	}
	// The id of a reset is a valid place to resume from.
	r.publish(ledgerChange(211, "item:211"))
	s = MustOpenStream(t, r, "all", "", "210")
	if got := positions(s.changesUntil(t, 211)); !slices.Equal(got, []uint64{211}) {
		t.Fatalf("resumed after the reset's id got %v", got)
	}
}

func TestLiveRejectsBadRequests(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, true)
	for _, tc := range []struct {
		name, scope, query, lastID string
		status                     int
		field                      string
	}{
		{"bad header", "all", "", "abc", http.StatusBadRequest, "Last-Event-ID"},
		{"bad parameter", "all", "last_event_id=-3", "", http.StatusBadRequest, "last_event_id"},
		{"bad topic", "all", "topic=items:1", "", http.StatusBadRequest, "topic"},
		{"empty topic id", "all", "topic=unit:", "", http.StatusBadRequest, "topic"},
		{"no caller", "-", "", "", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, cancel := openStream(t, r, tc.scope, tc.query, tc.lastID)
			defer cancel()
			defer resp.Body.Close()
			var body errorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("%s: %v", resp.Status, err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d: %+v", resp.Status, tc.status, body)
			}
			if tc.field != "" && (len(body.Error.Fields) != 1 || body.Error.Fields[0].Field != tc.field) {
				t.Fatalf("error %+v does not name %s", body.Error, tc.field)
			}
		})
	}
}

// orgEvents registers the organisation of these tests:
//
//	jw 城关街道工委
//	├── sq1 东风社区
//	│   └── sq1a 东风社区第一支部
//	└── sq2 西湖社区
func orgEvents() []events.Payload {
	return []events.Payload{
		events.UnitRegisteredData{UnitID: "jw", Name: "城关街道工委", Kind: events.UnitCommittee},
		events.UnitRegisteredData{UnitID: "sq1", Name: "东风社区", Kind: events.UnitCommunity, ParentID: "jw"},
		events.UnitRegisteredData{UnitID: "sq1a", Name: "东风社区第一支部", Kind: events.UnitBranch, ParentID: "sq1"},
		events.UnitRegisteredData{UnitID: "sq2", Name: "西湖社区", Kind: events.UnitCommunity, ParentID: "jw"},
	}
}

// keysUntil collects "view key@unit" of a stream's changes up to the one
// at position last.
func keysUntil(tb testing.TB, s *sseStream, last uint64) []string {
	tb.Helper()
	var out []string
	for _, c := range s.changesUntil(tb, last) {
		out = append(out, c.View+" "+c.Key+"@"+c.Unit)
	}
	return out
}

func TestLiveStreamsAreConfinedToTheScope(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, false)
	d := events.MustDate
	r.settled(r.apply(orgEvents()...))
	all := MustOpenStream(t, r, "all", "", "")
	east := MustOpenStream(t, r, "sq1", "", "") // 东风社区 and its branch
	west := MustOpenStream(t, r, "sq2", "", "")
	none := MustOpenStream(t, r, "", "", "")

	r.apply(events.CycleOpenedData{CycleID: "2019", Name: "2019年度述职评议", Year: 2019, Kind: "annual", Start: d("2019-01-01"), End: d("2019-12-31")})
	r.apply(events.ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "sq1a", Title: "入户走访不到位", Deadline: d("2019-06-30")})
	r.apply(events.ItemRaisedData{ItemID: "i2", CycleID: "2019", UnitID: "sq2", Title: "专题会议次数不足", Deadline: d("2019-06-30")})
	// A change of no unit (a user) is for callers who see everything.
	r.pos++
	r.publish(liveChange{View: "access", Key: "user-zhang", Position: r.pos})
	r.apply(events.ItemRaisedData{ItemID: "i3", CycleID: "2019", UnitID: "elsewhere", Title: "未登记单位的事项", Deadline: d("2019-06-30")})
	// The branch moves to 西湖社区: its changes follow it.
	r.apply(events.UnitMovedData{UnitID: "sq1a", OldParentID: "sq1", NewParentID: "sq2"})
	r.apply(events.ItemProgressReportedData{ItemID: "i1", Percent: 50, Note: "已走访一半住户"})
	last := r.apply(events.CycleClosedData{CycleID: "2019", Note: "年度评议结束"})

	cycles := "ledger cycles@"
	tests := []struct {
		name string
		s    *sseStream
		want []string
	}{
		{"all", all, []string{cycles, "ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", "ledger item:i2@sq2", "ledger unit:sq2@sq2",
			"access user-zhang@", "ledger item:i3@elsewhere", "ledger unit:elsewhere@elsewhere", "ledger units@sq1a", "ledger units@sq1",
			"ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", cycles}},
		{"东风社区", east, []string{cycles, "ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", "ledger units@sq1", cycles}},
		{"西湖社区", west, []string{cycles, "ledger item:i2@sq2", "ledger unit:sq2@sq2", "ledger units@sq1a",
			"ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", cycles}},
		{"no roles", none, []string{cycles, cycles}},
	}
	for _, tc := range tests {
		if got := keysUntil(t, tc.s, last); !slices.Equal(got, tc.want) {
			t.Errorf("%s got\n %q\nwant\n %q", tc.name, got, tc.want)
		}
	}
	// The scoped streams resume within their scope too.
	resumed := MustOpenStream(t, r, "sq1", "", fmt.Sprint(r.pos-2))
	if got := keysUntil(t, resumed, last); !slices.Equal(got, []string{"ledger units@sq1", cycles}) {
		t.Errorf("東风社区 resumed got %q", got)
	}
}

func TestLiveTopics(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, false)
	r.settled(r.apply(orgEvents()...))
	d := events.MustDate
	item := MustOpenStream(t, r, "all", "topic=item:i1", "")
	branch := MustOpenStream(t, r, "all", "topic=unit:sq1", "")
	audit := MustOpenStream(t, r, "all", "topic=view:audit&topic=item:i2", "")
	// Topics narrow the scope, never widen it.
	narrowed := MustOpenStream(t, r, "sq1a", "topic=unit:sq1", "")

	r.apply(events.ItemRaisedData{ItemID: "i1", CycleID: "2019", UnitID: "sq1a", Title: "入户走访不到位", Deadline: d("2019-06-30")})
	p := r.apply(events.ItemRaisedData{ItemID: "i2", CycleID: "2019", UnitID: "sq2", Title: "专题会议次数不足", Deadline: d("2019-06-30")})
	r.publish(liveChange{View: "audit", Key: "item-i1", Position: p + 1, Unit: "sq1a"})
	r.publish(liveChange{View: "audit", Key: "item-i1", Position: p + 2, Unit: "sq1"})
	// Every stream sees the last one.
	last := p + 3
	r.publish(liveChange{View: "audit", Key: "item-i1", Position: last, Unit: "sq1a"})

	for _, tc := range []struct {
		name string
		s    *sseStream
		want []string
	}{
		{"item:i1", item, []string{"ledger item:i1@sq1a", "audit item-i1@sq1a", "audit item-i1@sq1", "audit item-i1@sq1a"}},
		{"unit:sq1", branch, []string{"ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", "audit item-i1@sq1a", "audit item-i1@sq1", "audit item-i1@sq1a"}},
		{"view:audit or item:i2", audit, []string{"ledger item:i2@sq2", "audit item-i1@sq1a", "audit item-i1@sq1", "audit item-i1@sq1a"}},
		{"unit:sq1 within sq1a", narrowed, []string{"ledger item:i1@sq1a", "ledger unit:sq1a@sq1a", "audit item-i1@sq1a", "audit item-i1@sq1a"}},
	} {
		if got := keysUntil(t, tc.s, last); !slices.Equal(got, tc.want) {
			t.Errorf("%s got\n %q\nwant\n %q", tc.name, got, tc.want)
		}
	}
}

func TestLiveSlowClientIsDroppedWhileOthersKeepUp(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{ClientQueue: 64}, true)
	fast := MustOpenStream(t, r, "all", "", "")
	// The slow client asks for the stream and never reads a byte.
	addr := strings.TrimPrefix(r.base, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /api/v1/stream HTTP/1.1\r\nHost: %s\r\n%s: all\r\n\r\n", addr, testScopeHeader)
	waitFor(t, 5*time.Second, "both streams open", func() bool { return r.hub.stats().Connected == 2 })

	big := strings.Repeat("整改措施", 2048) // 24 KiB a change
	var pos uint64
	for batch := 0; r.hub.stats().Dropped == 0; batch++ {
		if batch == 2000 {
			t.Fatal("the slow client was never dropped")
		}
		var cs []liveChange
		for range 16 {
			pos++
			cs = append(cs, liveChange{View: "ledger", Key: "item:" + big, Position: pos, Unit: "东风社区"})
		}
		r.publish(cs...)
		// The fast client keeps up with every batch.
		got := fast.changesUntil(t, pos)
		if len(got) != 16 || got[0].Key != "item:"+big {
			t.Fatalf("fast client got %d changes of the batch", len(got))
		}
	}
	pos++
	r.publish(ledgerChange(pos, "item:after"))
	if got := fast.changesUntil(t, pos); len(got) != 1 {
		t.Fatalf("after the drop the fast client got %d changes, want 1", len(got))
	}
	waitFor(t, 5*time.Second, "the slow stream to end", func() bool { return r.hub.stats().Connected == 1 })
	if st := r.hub.stats(); st.Dropped != 1 {
		t.Fatalf("stats %+v, want exactly one dropped stream", st)
	}
	// The server closed the slow client's connection: after what was
	// buffered, reading it ends.
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, slow); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the slow client's connection is still open")
		}
	}
}

func TestLiveHeartbeats(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{Heartbeat: 20 * time.Millisecond, Retry: 1500 * time.Millisecond}, true)
	s := MustOpenStream(t, r, "all", "", "")
	if e := s.next(t, true); e.Retry != "1500" {
		t.Fatalf("first message %+v, want the retry hint", e)
	}
	for range 3 {
		if e := s.next(t, true); e.Comment != "ping" {
			t.Fatalf("got %+v, want a heartbeat", e)
		}
	}
	// Closing the hub ends the stream.
	r.hub.Close()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream did not end when the hub closed")
		}
	}
}

func TestLiveResetAfterANATSOutage(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, true)
	s := MustOpenStream(t, r, "all", "", "")
	r.publish(ledgerChange(301, "item:a"))
	s.changesUntil(t, 301)

	r.nats.MustRestart(t)
	e := s.next(t, false)
	if e.Event != "reset" || !strings.Contains(e.Data, resetInterrupted) || e.HasID {
		t.Fatalf("after the outage got %+v, want a reset without id", e)
	}
	// Notices sent during the outage are lost to the hub: an id from
	// before it cannot be resumed from.
	s2 := MustOpenStream(t, r, "all", "", "301")
	if e := s2.next(t, false); e.Event != "reset" || !strings.Contains(e.Data, resetResume) {
		t.Fatalf("resume across the outage got %+v, want a reset", e)
	}
	waitFor(t, 10*time.Second, "the publisher to reconnect", r.pub.IsConnected)
	if err := r.hub.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	r.publish(ledgerChange(302, "item:b"))
	for _, st := range []*sseStream{s, s2} {
		if got := positions(st.changesUntil(t, 302)); !slices.Equal(got, []uint64{302}) {
			t.Fatalf("after the outage got %v", got)
		}
	}
	// What came after the outage resumes exactly again. (Not from the
	// very first notice after it: NATS may have been handing the hub one
	// more from before.)
	r.publish(ledgerChange(303, "item:c"))
	r.publish(ledgerChange(304, "item:d"))
	s.changesUntil(t, 304)
	s3 := MustOpenStream(t, r, "all", "", "303")
	if got := positions(s3.changesUntil(t, 304)); !slices.Equal(got, []uint64{304}) {
		t.Fatalf("resume after the outage got %v", got)
	}
	// A second outage with no change in between resets again: the first
	// refetch may have come before it.
	s2.changesUntil(t, 304)
	r.nats.MustRestart(t)
	for _, st := range []*sseStream{s, s2, s3} {
		if e := st.next(t, false); e.Event != "reset" || !strings.Contains(e.Data, resetInterrupted) {
			t.Fatalf("after the second outage got %+v, want a reset", e)
		}
	}
	// Even with no change at all since the last reset.
	r.nats.MustRestart(t)
	if e := s.next(t, false); e.Event != "reset" || !strings.Contains(e.Data, resetInterrupted) {
		t.Fatalf("after the third outage got %+v, want a reset", e)
	}
}

func TestLiveNewUnitWaitsForTheTree(t *testing.T) {
	r := MustOpenLiveRig(t, liveOptions{}, false)
	r.settled(r.apply(orgEvents()...))
	west := MustOpenStream(t, r, "sq2", "", "")
	east := MustOpenStream(t, r, "sq1", "", "")
	// Another view announces a unit the ledger has not applied yet.
	p := r.pos + 1
	r.publish(liveChange{View: "audit", Key: "unit-sq2x", Position: p, Unit: "sq2x"})
	r.apply(events.UnitRegisteredData{UnitID: "sq2x", Name: "西湖社区第一支部", Kind: events.UnitBranch, ParentID: "sq2"})
	d := events.MustDate
	last := r.apply(events.CycleOpenedData{CycleID: "2020", Name: "2020年度述职评议", Year: 2020, Kind: "annual", Start: d("2020-01-01"), End: d("2020-12-31")})
	if got, want := keysUntil(t, west, last), []string{"audit unit-sq2x@sq2x", "ledger units@sq2x", "ledger cycles@"}; !slices.Equal(got, want) {
		t.Errorf("西湖社区 got %q, want %q", got, want)
	}
	if got, want := keysUntil(t, east, last), []string{"ledger cycles@"}; !slices.Equal(got, want) {
		t.Errorf("东风社区 got %q, want %q", got, want)
	}
}

func TestLiveUnknownTreeResetsScopedStreams(t *testing.T) {
	// No ledger answers: the hub cannot place the unit.
	r := MustOpenLiveRig(t, liveOptions{TreeWait: 200 * time.Millisecond}, true)
	scoped := MustOpenStream(t, r, "sq1", "", "")
	all := MustOpenStream(t, r, "all", "", "")
	r.publish(liveChange{View: "audit", Key: "item-i9", Position: 401, Unit: "sq1"})
	if e := scoped.next(t, false); e.Event != "reset" || !strings.Contains(e.Data, resetUnknownUnit) {
		t.Fatalf("scoped stream got %+v, want a reset", e)
	}
	if c := all.next(t, false).change(t); c.Position != 401 {
		t.Fatalf("unscoped stream got %+v", c)
	}
}
