package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/eventstoretest"
)

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, eventstoretest.Harness{
		Open: func(tb testing.TB) eventstore.Store {
			return MustOpenStore(tb, Options{})
		},
		UniqueIDs: true,
		DSN:       func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "crash.db") },
		OpenDSN: func(dsn string) (eventstore.Store, error) {
			return Open(dsn, Options{})
		},
	})
}

// MustOpenStore opens a store in a new file under tb.TempDir() and closes
// it when the test ends.
func MustOpenStore(tb testing.TB, opt Options) *Store {
	tb.Helper()
	return MustOpenStoreAt(tb, filepath.Join(tb.TempDir(), "events.db"), opt)
}

// MustOpenStoreAt opens the store at path and closes it when the test ends.
func MustOpenStoreAt(tb testing.TB, path string, opt Options) *Store {
	tb.Helper()
	s, err := Open(path, opt)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close %s: %v", path, err)
		}
	})
	return s
}

func mustAppend(tb testing.TB, s *Store, stream string, exp eventstore.Expected, evs ...events.Event) eventstore.AppendResult {
	tb.Helper()
	res, err := s.Append(context.Background(), stream, exp, evs...)
	if err != nil {
		tb.Fatalf("append %d events to %s expecting %v: %v", len(evs), stream, exp, err)
	}
	return res
}

func mustReadAll(tb testing.TB, s *Store) []events.Event {
	tb.Helper()
	evs, err := s.ReadAll(context.Background(), 0, 0)
	if err != nil {
		tb.Fatalf("read all: %v", err)
	}
	return evs
}

// newEvent returns an event with a fresh id, Chinese metadata and a
// Chinese payload.
func newEvent(typ, title string) events.Event {
	data, err := json.Marshal(map[string]string{"title": title})
	if err != nil {
		panic(err)
	}
	return events.Event{
		ID:            uuid.Must(uuid.NewV7()).String(),
		Type:          typ,
		Version:       1,
		Time:          time.Now(),
		Actor:         "user:李四",
		CorrelationID: "请求-" + uuid.NewString(),
		CausationID:   "命令-" + uuid.NewString(),
		Data:          data,
	}
}

func wantCode(tb testing.TB, what string, err error, code events.Code) {
	tb.Helper()
	if !errors.Is(err, &events.Error{Code: code}) {
		tb.Fatalf("%s: error %v (code %q), want code %q", what, err, events.ErrorCode(err), code)
	}
}

// sameEvent fails tb unless got carries what want was appended with.
func sameEvent(tb testing.TB, where string, want, got events.Event) {
	tb.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Version != want.Version || !got.Time.Equal(want.Time) ||
		got.Actor != want.Actor || got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID ||
		!bytes.Equal(got.Data, want.Data) {
		tb.Fatalf("%s: got %+v (data %s), want %+v (data %s)", where, got, got.Data, want, want.Data)
	}
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	s := MustOpenStore(t, Options{})
	const callers, each = 64, 25
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			stream := fmt.Sprintf("item-%d", c)
			exp := eventstore.NoStream
			for i := range each {
				res, err := s.Append(context.Background(), stream, exp, newEvent("rectify.item.noted", fmt.Sprintf("第%d条", i)))
				if err != nil {
					errs <- err
					return
				}
				exp = eventstore.Exact(res.NextExpected)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}

	st := s.Stats()
	t.Logf("stats: %+v (%.1f events per commit)", st, float64(st.Events)/float64(st.Commits))
	if st.Appends != callers*each || st.Events != callers*each {
		t.Fatalf("stats = %+v, want %d appends and events", st, callers*each)
	}
	// 64 callers each waiting for an fsync: a writer that committed them
	// one by one would show as many commits as appends.
	if st.Commits == 0 || st.Commits > st.Appends/2 {
		t.Fatalf("%d appends took %d commits; group commit should share them", st.Appends, st.Commits)
	}

	all := mustReadAll(t, s)
	if len(all) != callers*each {
		t.Fatalf("$all holds %d events, want %d", len(all), callers*each)
	}
	next := map[string]uint64{}
	for i, e := range all {
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("position %d follows %d", e.Position, all[i-1].Position)
		}
		if e.Revision != next[e.Stream] {
			t.Fatalf("event %d of $all is %s@%d, want revision %d", i, e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream]++
	}
}

// TestBatchActsAsSerial hands the writer one batch directly, so that the
// requests are certain to share a transaction.
func TestBatchActsAsSerial(t *testing.T) {
	s, err := open(filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.w.start()
		s.Close()
	}()
	ctx := context.Background()

	// Stored before the batch: one event of "item-old".
	old := newEvent("rectify.item.raised", "旧事项")
	pre := s.w.commitBatch([]*appendReq{mustReq(t, ctx, "item-old", eventstore.NoStream, old)}, nil)
	if pre[0].err != nil {
		t.Fatalf("first batch: %v", pre[0].err)
	}

	a0 := newEvent("rectify.item.raised", "新建")
	b1 := newEvent("rectify.item.assigned", "指派给第三社区")
	c := newEvent("rectify.item.raised", "重复新建")
	d := newEvent("rectify.item.raised", "另一事项")
	changedA0 := a0
	changedA0.Data = json.RawMessage(`{"title":"改过的内容"}`)
	fresh := newEvent("rectify.item.noted", "半途失败")
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	reqs := []*appendReq{
		mustReq(t, ctx, "item-1", eventstore.NoStream, a0),                                     // 0: ok, revision 0
		mustReq(t, ctx, "item-1", eventstore.Exact(0), b1),                                     // 1: sees request 0: revision 1
		mustReq(t, ctx, "item-1", eventstore.NoStream, c),                                      // 2: conflict, the stream exists now
		mustReq(t, ctx, "item-1", eventstore.Exact(0), a0),                                     // 3: retry of 0 inside the batch: 0's result
		mustReq(t, ctx, "item-1", eventstore.Any, changedA0),                                   // 4: id of 0 with other data: conflict
		mustReq(t, ctx, "item-2", eventstore.Any, fresh, old),                                  // 5: old's id is taken: conflict, fresh not written
		mustReq(t, ctx, "item-old", eventstore.Exact(5), d),                                    // 6: conflict, item-old is at 0
		mustReq(t, ctx, "item-old", eventstore.StreamExists, d),                                // 7: ok, revision 1
		mustReq(t, canceled, "item-3", eventstore.Any, newEvent("rectify.item.raised", "已放弃")), // 8: caller gone
	}
	got := s.w.commitBatch(reqs, nil)
	if len(got) != len(reqs) {
		t.Fatalf("%d replies for %d requests", len(got), len(reqs))
	}
	for i, code := range []events.Code{"", "", events.CodeConflict, "", events.CodeConflict, events.CodeConflict, events.CodeConflict, "", events.CodeUnavailable} {
		if c := events.ErrorCode(got[i].err); c != code {
			t.Errorf("request %d: code %q (%v), want %q", i, c, got[i].err, code)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if got[0].res.NextExpected != 0 || got[1].res.NextExpected != 1 || got[7].res.NextExpected != 1 {
		t.Fatalf("next expected of requests 0, 1, 7 = %d, %d, %d, want 0, 1, 1", got[0].res.NextExpected, got[1].res.NextExpected, got[7].res.NextExpected)
	}
	if got[3].res != got[0].res {
		t.Fatalf("retry inside the batch answered %+v, want the first answer %+v", got[3].res, got[0].res)
	}
	if st := s.Stats(); st.Commits != 2 || st.Events != 4 {
		t.Fatalf("stats = %+v, want 2 commits and 4 events", st)
	}

	all := mustReadAll(t, s)
	want := []struct {
		stream string
		rev    uint64
		ev     events.Event
	}{{"item-old", 0, old}, {"item-1", 0, a0}, {"item-1", 1, b1}, {"item-old", 1, d}}
	if len(all) != len(want) {
		t.Fatalf("$all holds %d events, want %d: %+v", len(all), len(want), all)
	}
	for i, w := range want {
		if all[i].Stream != w.stream || all[i].Revision != w.rev {
			t.Fatalf("event %d is %s@%d, want %s@%d", i, all[i].Stream, all[i].Revision, w.stream, w.rev)
		}
		sameEvent(t, fmt.Sprintf("event %d", i), w.ev, all[i])
	}
	if got[1].res.Position != all[2].Position {
		t.Fatalf("request 1 reported position %d, stored at %d", got[1].res.Position, all[2].Position)
	}
	// item-1@1 chains to item-1@0 written earlier in the same batch, and
	// item-old@1 to the event of the batch before.
	checkChained(t, all)
}

func mustReq(tb testing.TB, ctx context.Context, stream string, exp eventstore.Expected, evs ...events.Event) *appendReq {
	tb.Helper()
	times, err := validateAppend(stream, exp, evs)
	if err != nil {
		tb.Fatalf("validate: %v", err)
	}
	return &appendReq{ctx: ctx, stream: stream, expected: exp, evs: evs, times: times}
}

func TestIdempotentRetries(t *testing.T) {
	s := MustOpenStore(t, Options{})
	evs := []events.Event{newEvent("rectify.item.raised", "立项"), newEvent("rectify.item.assigned", "指派"), newEvent("rectify.item.started", "开始整改")}
	first := mustAppend(t, s, "item-7", eventstore.NoStream, evs...)
	mustAppend(t, s, "item-7", eventstore.Exact(2), newEvent("rectify.item.submitted", "提交验收"))

	for _, exp := range []eventstore.Expected{eventstore.NoStream, eventstore.Exact(2), eventstore.Exact(0), eventstore.Any, eventstore.StreamExists} {
		res, err := s.Append(context.Background(), "item-7", exp, evs...)
		if err != nil || res != first {
			t.Fatalf("retry expecting %v = %+v, %v; want the first result %+v", exp, res, err, first)
		}
	}
	// A prefix of the first append is recognised as well.
	res, err := s.Append(context.Background(), "item-7", eventstore.NoStream, evs[:2]...)
	if err != nil || res.NextExpected != 1 {
		t.Fatalf("retry of the first two events = %+v, %v; want next expected 1", res, err)
	}

	changed := evs[1]
	changed.Data = json.RawMessage(`{"title":"指派给别人"}`)
	cases := map[string]struct {
		stream string
		evs    []events.Event
	}{
		"same id, other data":   {"item-7", []events.Event{evs[0], changed, evs[2]}},
		"same id, other type":   {"item-7", []events.Event{{ID: evs[0].ID, Type: "rectify.item.closed", Data: evs[0].Data}}},
		"same ids, other order": {"item-7", []events.Event{evs[1], evs[0]}},
		"partial overlap":       {"item-7", []events.Event{evs[2], newEvent("rectify.item.noted", "新的")}},
		"other stream":          {"item-8", evs},
	}
	for name, c := range cases {
		_, err := s.Append(context.Background(), c.stream, eventstore.Any, c.evs...)
		wantCode(t, name, err, events.CodeConflict)
	}
	if all := mustReadAll(t, s); len(all) != 4 {
		t.Fatalf("$all holds %d events after retries and conflicts, want 4", len(all))
	}
}

func TestConflictMessageNamesStreamAndRevisions(t *testing.T) {
	s := MustOpenStore(t, Options{})
	mustAppend(t, s, "item-整改-1", eventstore.NoStream, newEvent("rectify.item.raised", "立项"), newEvent("rectify.item.assigned", "指派"))
	_, err := s.Append(context.Background(), "item-整改-1", eventstore.Exact(0), newEvent("rectify.item.started", "开始"))
	wantCode(t, "stale revision", err, events.CodeConflict)
	var e *events.Error
	errors.As(err, &e)
	if want := "append to item-整改-1: expected revision 0, found revision 1"; e.Message != want {
		t.Fatalf("message = %q, want %q", e.Message, want)
	}
	_, err = s.Append(context.Background(), "item-none", eventstore.StreamExists, newEvent("rectify.item.started", "开始"))
	errors.As(err, &e)
	if want := "append to item-none: expected stream exists, found no stream"; e.Message != want {
		t.Fatalf("message = %q, want %q", e.Message, want)
	}
}

func TestValidationNamesEveryBadField(t *testing.T) {
	s := MustOpenStore(t, Options{})
	good := newEvent("rectify.item.raised", "好的")
	noType := newEvent("", "无类型")
	badJSON := newEvent("rectify.item.raised", "")
	badJSON.Data = json.RawMessage(`{"title": 未加引号}`)
	farFuture := newEvent("rectify.item.raised", "很久以后")
	farFuture.Time = time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)
	dup := good

	_, err := s.Append(context.Background(), "item-1", eventstore.Any, good, noType, badJSON, farFuture, dup)
	wantCode(t, "bad events", err, events.CodeInvalid)
	var e *events.Error
	errors.As(err, &e)
	fields := map[string]bool{}
	for _, f := range e.Fields {
		fields[f.Field] = true
	}
	for _, f := range []string{"events[1].type", "events[2].data", "events[3].time", "events[4].id"} {
		if !fields[f] {
			t.Errorf("error %v does not name %s", err, f)
		}
	}

	_, err = s.Append(context.Background(), "item-1", eventstore.Any)
	wantCode(t, "no events", err, events.CodeInvalid)
	_, err = s.Append(context.Background(), "", eventstore.Any, good)
	wantCode(t, "no stream", err, events.CodeInvalid)
	if all := mustReadAll(t, s); len(all) != 0 {
		t.Fatalf("invalid appends stored %d events", len(all))
	}
}

func TestChineseRoundTrips(t *testing.T) {
	s := MustOpenStore(t, Options{})
	ev := events.Event{
		ID:            "事件-" + uuid.NewString(),
		Type:          "整改.事项.已提出",
		Version:       2,
		Time:          time.Date(2019, 12, 31, 23, 59, 59, 123456789, time.FixedZone("北京时间", 8*3600)),
		Actor:         "用户:王小明（幸福街道）",
		CorrelationID: "关联-年度评议-2019",
		CausationID:   "原因-命令-提出整改",
		Data:          json.RawMessage(`{"标题":"社区服务中心窗口办事效率低","措施":["增设自助终端","推行预约办理"],"责任单位":"第三社区党支部"}`),
	}
	stream := "事项-幸福街道-1"
	res := mustAppend(t, s, stream, eventstore.NoStream, ev)

	got, err := s.ReadStream(context.Background(), stream, eventstore.Forwards, 0, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("read %s = %d events, %v", stream, len(got), err)
	}
	sameEvent(t, "read stream", ev, got[0])
	if got[0].Stream != stream || got[0].Position != res.Position {
		t.Fatalf("read back %s@%d position %d, want %s position %d", got[0].Stream, got[0].Revision, got[0].Position, stream, res.Position)
	}

	sub, err := s.Subscribe(context.Background(), 0, eventstore.Filter{StreamPrefixes: []string{"事项-幸福"}, EventTypes: []string{"整改.事项.已提出"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("subscription with a Chinese prefix: %v", err)
	}
	sameEvent(t, "subscription", ev, e)
}

func TestTimeRoundTrips(t *testing.T) {
	s := MustOpenStore(t, Options{})
	times := []time.Time{
		time.Date(2019, 3, 1, 8, 30, 0, 1, time.FixedZone("CST", 8*3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC),
		time.Now(), // carries a monotonic reading, which must not matter
		{},         // no time at all stays no time
	}
	var evs []events.Event
	for i, tm := range times {
		ev := newEvent("rectify.item.noted", fmt.Sprintf("时间%d", i))
		ev.Time = tm
		evs = append(evs, ev)
	}
	mustAppend(t, s, "item-times", eventstore.NoStream, evs...)
	got, err := s.ReadStream(context.Background(), "item-times", eventstore.Forwards, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, tm := range times {
		if !got[i].Time.Equal(tm) || got[i].Time.IsZero() != tm.IsZero() {
			t.Errorf("time %d: got %v, want %v", i, got[i].Time, tm)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var written []events.Event
	for i := range 30 {
		ev := newEvent("rectify.commitment.activity_logged", fmt.Sprintf("走访第%d次", i))
		mustAppend(t, s, fmt.Sprintf("commitment-%d", i%3), eventstore.Any, ev)
		written = append(written, ev)
	}
	before := mustReadAll(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	s = MustOpenStoreAt(t, path, Options{})
	after := mustReadAll(t, s)
	if len(after) != len(written) {
		t.Fatalf("reopened store holds %d events, want %d", len(after), len(written))
	}
	for i := range after {
		sameEvent(t, fmt.Sprintf("event %d", i), written[i], after[i])
		if after[i].Position != before[i].Position || after[i].Stream != before[i].Stream || after[i].Revision != before[i].Revision {
			t.Fatalf("event %d moved from %s@%d/%d to %s@%d/%d", i, before[i].Stream, before[i].Revision, before[i].Position, after[i].Stream, after[i].Revision, after[i].Position)
		}
	}
	head, err := s.Head(context.Background())
	if err != nil || head != after[len(after)-1].Position {
		t.Fatalf("head = %d, %v; want %d", head, err, after[len(after)-1].Position)
	}
	// Appends continue where the old store stopped, and retries of old
	// appends are still recognised.
	res := mustAppend(t, s, "commitment-0", eventstore.Exact(9), newEvent("rectify.commitment.activity_logged", "重开之后"))
	if res.NextExpected != 10 || res.Position <= head {
		t.Fatalf("append after reopen = %+v, want revision 10 after position %d", res, head)
	}
	if _, err := s.Append(context.Background(), "commitment-0", eventstore.NoStream, written[0]); err != nil {
		t.Fatalf("retry of the first append after reopen: %v", err)
	}
	// The new writer knows no heads: it chains to the hash in the file.
	checkChained(t, mustReadAll(t, s))
}

func TestReadOnlyTailsAWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	_, err := Open(path, Options{ReadOnly: true})
	wantCode(t, "read-only open of a missing file", err, events.CodeNotFound)

	w := MustOpenStoreAt(t, path, Options{})
	mustAppend(t, w, "item-1", eventstore.NoStream, newEvent("rectify.item.raised", "写入之前"))
	r := MustOpenStoreAt(t, path, Options{ReadOnly: true, PollInterval: 10 * time.Millisecond})

	_, err = r.Append(context.Background(), "item-1", eventstore.Any, newEvent("rectify.item.noted", "不该写入"))
	wantCode(t, "append to a read-only store", err, events.CodeForbidden)

	sub, err := r.Subscribe(context.Background(), 0, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const n = 200
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := w.Append(context.Background(), "item-2", eventstore.Any, newEvent("rectify.item.noted", fmt.Sprintf("跟随%d", i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last uint64
	for i := range n + 1 {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("read-only subscription, event %d: %v", i, err)
		}
		if e.Position <= last {
			t.Fatalf("position %d after %d", e.Position, last)
		}
		last = e.Position
		if i > 0 && e.Revision != uint64(i-1) {
			t.Fatalf("event %d is revision %d of %s, want %d", i, e.Revision, e.Stream, i-1)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	rs, err := r.ReadStream(context.Background(), "item-2", eventstore.Backwards, math.MaxUint64, 1)
	if err != nil || len(rs) != 1 || rs[0].Revision != n-1 {
		t.Fatalf("read-only read backwards = %+v, %v; want revision %d", rs, err, n-1)
	}
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	db, err := sql.Open("sqlite", empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(empty, Options{ReadOnly: true})
	wantCode(t, "read-only open of a file without an event store", err, events.CodeNotFound)

	newer := filepath.Join(dir, "newer.db")
	s := MustOpenStoreAt(t, newer, Options{})
	s.Close()
	db, err = sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(newer, Options{})
	wantCode(t, "open a newer schema", err, events.CodeInvalid)
	_, err = Open(newer, Options{ReadOnly: true})
	wantCode(t, "read-only open of a newer schema", err, events.CodeInvalid)
}

func TestSubscriptionFilterSkipsUnmatchedHistory(t *testing.T) {
	s := MustOpenStore(t, Options{})
	// Far more unmatched events than one read batch, so that the cursor
	// must move past them without delivering anything.
	var noise []events.Event
	for i := range 3 * subBatch {
		noise = append(noise, newEvent("rectify.user.seen", fmt.Sprintf("噪声%d", i)))
	}
	mustAppend(t, s, "user-1", eventstore.NoStream, noise...)
	want := []events.Event{newEvent("rectify.item.raised", "第一"), newEvent("rectify.item.closed", "第二")}
	mustAppend(t, s, "item-1", eventstore.NoStream, want[0])
	mustAppend(t, s, "commitment-1", eventstore.NoStream, newEvent("rectify.item.raised", "别的前缀"))
	mustAppend(t, s, "item-1", eventstore.Exact(0), newEvent("rectify.item.assigned", "别的类型"))

	sub, err := s.Subscribe(context.Background(), 0, eventstore.Filter{StreamPrefixes: []string{"item-", "unit-"}, EventTypes: []string{"rectify.item.raised", "rectify.item.closed"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, "history", want[0], e)

	// Live: the filter still holds.
	go func() {
		s.Append(context.Background(), "user-1", eventstore.Any, newEvent("rectify.user.seen", "更多噪声"))
		s.Append(context.Background(), "item-1", eventstore.Exact(1), want[1])
	}()
	e, err = sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, "live", want[1], e)
}

func TestSlowSubscriberDoesNotHoldUpAppends(t *testing.T) {
	s := MustOpenStore(t, Options{})
	// Subscribed but never reading.
	idle, err := s.Subscribe(context.Background(), 0, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 2000 {
		if _, err := s.Append(ctx, "item-1", eventstore.Any, newEvent("rectify.item.noted", fmt.Sprintf("第%d条", i))); err != nil {
			t.Fatalf("append %d with an idle subscriber: %v", i, err)
		}
	}
	// The idle subscriber still gets everything, from the start.
	for i := range 2000 {
		e, err := idle.Next(ctx)
		if err != nil || e.Revision != uint64(i) {
			t.Fatalf("event %d: revision %d, %v", i, e.Revision, err)
		}
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(context.Background(), 0, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background())
		waiting <- err
	}()

	// Appends racing with Close either complete or fail; none hangs and
	// every acknowledged one is stored.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	var failures []error
	ready := make(chan struct{})
	var readyOnce sync.Once
	for c := range 16 {
		wg.Go(func() {
			for {
				ev := newEvent("rectify.item.noted", "关闭时")
				_, err := s.Append(context.Background(), fmt.Sprintf("item-%d", c), eventstore.Any, ev)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					acked = append(acked, ev.ID)
				}
				enough := len(acked) >= 100
				mu.Unlock()
				if enough {
					readyOnce.Do(func() { close(ready) })
				}
				if err != nil {
					return
				}
			}
		})
	}
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("100 appends did not complete within 20s")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	for _, err := range failures {
		wantCode(t, "append during close", err, events.CodeUnavailable)
	}

	select {
	case err := <-waiting:
		// The subscription may have delivered an event first; what
		// matters is that Next does not block past Close.
		if err != nil {
			wantCode(t, "waiting Next after close", err, events.CodeUnavailable)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Next did not return after Close")
	}
	_, err = sub.Next(context.Background())
	wantCode(t, "Next after close", err, events.CodeUnavailable)
	_, err = s.Append(context.Background(), "item-1", eventstore.Any, newEvent("rectify.item.noted", "关闭后"))
	wantCode(t, "append after close", err, events.CodeUnavailable)
	_, err = s.ReadAll(context.Background(), 0, 1)
	wantCode(t, "read after close", err, events.CodeUnavailable)

	s2 := MustOpenStoreAt(t, s.Path(), Options{})
	stored := map[string]bool{}
	for _, e := range mustReadAll(t, s2) {
		stored[e.ID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged event %s is not stored after close", id)
		}
	}
	t.Logf("%d appends acknowledged before close", len(acked))
}

// TestWALStartsOverUnderLoad checks that the WAL stays bounded while
// appends never pause: the background checkpoint alone never copies all of
// it, so the writer must checkpoint once itself now and then.
func TestWALStartsOverUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Small numbers, so that the WAL should start over many times in a
	// short test.
	s.w.ckpt.resetFrames = 64
	s.w.ckpt.every = 5 * time.Millisecond
	s.w.start()
	defer s.Close()

	const callers, each = 16, 500
	data := json.RawMessage(fmt.Sprintf(`{"title":"满负荷","padding":%q}`, bytes.Repeat([]byte("整"), 600)))
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				ev := newEvent("rectify.commitment.activity_logged", fmt.Sprintf("满负荷%d", i))
				ev.Data = data
				if _, err := s.Append(context.Background(), fmt.Sprintf("commitment-%d", c), eventstore.Any, ev); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.w.ckpt.resets.Load() == 0 {
		t.Fatalf("the writer never checkpointed itself although the WAL passed %d pages", s.w.ckpt.resetFrames)
	}
	// Every byte of data went through the WAL; had it never started
	// over, it would be at least that long.
	written := int64(callers * each * len(data))
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d resets, WAL file %d bytes after %d bytes of data", s.w.ckpt.resets.Load(), st.Size(), written)
	// The file keeps its high-water mark (a reset rewinds the log, it does
	// not shrink the file), and on a loaded machine one burst can push that
	// mark far; only a log that never started over reaches the data's size.
	if st.Size() >= written {
		t.Fatalf("WAL file is %d bytes after %d bytes of data; it should have started over", st.Size(), written)
	}
	if n := len(mustReadAll(t, s)); n != callers*each {
		t.Fatalf("%d events stored, want %d", n, callers*each)
	}
}
