package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/eventstoretest"
)

// MustOpenStore opens the EventStoreDB at url and closes it when tb ends.
func MustOpenStore(tb testing.TB, url string) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url)
	if err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	url := os.Getenv("ESDB_URL")
	if url == "" {
		t.Skip("EventStoreDB conformance: set ESDB_URL (e.g. esdb://localhost:2113?tls=false) to run")
	}
	eventstoretest.Run(t, eventstoretest.Harness{
		Open: func(tb testing.TB) eventstore.Store { return MustOpenStore(tb, url) },
		// The server keeps every run: each one writes under its own prefix.
		StreamPrefix: fmt.Sprintf("conformance%d_", time.Now().UnixNano()),
		Shared:       true,
		DSN:          func(testing.TB) string { return url },
		OpenDSN: func(dsn string) (eventstore.Store, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return Open(ctx, dsn)
		},
	})
}

// mustUnconnected returns a store whose server does not exist; only calls
// that fail before reaching the server may be made on it.
func mustUnconnected(tb testing.TB) *Store {
	tb.Helper()
	conf, err := esdb.ParseConnectionString("esdb://127.0.0.1:1?tls=false")
	if err != nil {
		tb.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &Store{client: c}
}

func TestAppendRejectsBadInput(t *testing.T) {
	s := mustUnconnected(t)
	good := events.Event{ID: "事项-1", Type: "rectify.item.raised", Version: 1, Actor: "user:张三", Data: json.RawMessage(`{"title":"整改"}`)}
	with := func(change func(*events.Event)) events.Event {
		e := good
		change(&e)
		return e
	}
	cases := []struct {
		name   string
		stream string
		evs    []events.Event
		field  string
	}{
		{"empty stream", "", []events.Event{good}, "stream"},
		{"system stream", "$item-1", []events.Event{good}, "stream"},
		{"no events", "item-1", nil, "events"},
		{"no id", "item-1", []events.Event{with(func(e *events.Event) { e.ID = "" })}, "events[0].id"},
		{"no type", "item-1", []events.Event{with(func(e *events.Event) { e.Type = "" })}, "events[0].type"},
		{"system type", "item-1", []events.Event{with(func(e *events.Event) { e.Type = "$metadata" })}, "events[0].type"},
		{"data not JSON", "item-1", []events.Event{with(func(e *events.Event) { e.Data = json.RawMessage(`{"title":`) })}, "events[0].data"},
		{"id twice", "item-1", []events.Event{good, with(func(e *events.Event) { e.Type = "rectify.item.assigned" })}, "events[1].id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Append(context.Background(), c.stream, eventstore.Any, c.evs...)
			var e *events.Error
			if !errors.As(err, &e) || e.Code != events.CodeInvalid {
				t.Fatalf("err = %v, want code invalid", err)
			}
			named := false
			for _, f := range e.Fields {
				named = named || f.Field == c.field
			}
			if !named {
				t.Fatalf("fields %+v do not name %s", e.Fields, c.field)
			}
		})
	}
	_, err := s.ReadStream(context.Background(), "", eventstore.Forwards, 0, 0)
	if events.ErrorCode(err) != events.CodeInvalid {
		t.Fatalf("read an empty stream name: %v, want code invalid", err)
	}
}

func TestEventIDMapping(t *testing.T) {
	canonical := uuid.NewString()
	if got := eventID(canonical); got.String() != canonical {
		t.Fatalf("canonical UUID %s mapped to %s", canonical, got)
	}
	// Any other spelling is mapped, so the id read back is the one written.
	upper := strings.ToUpper(canonical)
	if got := eventID(upper); got.String() == canonical || got.Version() != 5 {
		t.Fatalf("upper-case UUID %s mapped to %s (version %d), want a name-based UUID", upper, got, got.Version())
	}
	a, b := eventID("整改事项-001"), eventID("整改事项-002")
	if a != eventID("整改事项-001") {
		t.Fatal("mapping is not deterministic")
	}
	if a == b || a.Version() != 5 {
		t.Fatalf("ids mapped to %s and %s (version %d)", a, b, a.Version())
	}
}

// recordedAs returns what the server gives back for an appended event.
func recordedAs(d esdb.EventData, stream string, rev, pos uint64) *esdb.RecordedEvent {
	return &esdb.RecordedEvent{
		EventID:      d.EventID,
		EventType:    d.EventType,
		ContentType:  "application/json",
		StreamID:     stream,
		EventNumber:  rev,
		Position:     esdb.Position{Commit: pos, Prepare: pos},
		CreatedDate:  time.Now(),
		Data:         d.Data,
		UserMetadata: d.Metadata,
	}
}

func TestEventRoundTrip(t *testing.T) {
	want := events.Event{
		ID:            "整改事项-001",
		Type:          "rectify.item.raised",
		Version:       3,
		Time:          time.Date(2019, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600)),
		Actor:         "user:张三",
		CorrelationID: "关联-请求-42",
		CausationID:   "命令-提交整改",
		Data:          json.RawMessage(`{ "title": "社区走访每周至少一次", "note": "🚩" }`),
	}
	// The hash travels in the metadata and, with the time back to the
	// nanosecond, still chains after the round trip.
	prev := events.ChainHash("", events.Event{ID: "前一事件", Stream: "item-整改", Revision: 3})
	placed := want
	placed.Stream, placed.Revision = "item-整改", 4
	want.Hash = events.ChainHash(prev, placed)
	d, err := toEventData(want, want.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d.EventID != eventID(want.ID) || d.EventType != want.Type || d.ContentType != esdb.ContentTypeJson {
		t.Fatalf("event data %+v", d)
	}
	var meta map[string]any
	if err := json.Unmarshal(d.Metadata, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["$correlationId"] != want.CorrelationID || meta["$causationId"] != want.CausationID {
		t.Fatalf("metadata %s does not use EventStoreDB's correlation keys", d.Metadata)
	}
	got, err := fromRecorded(recordedAs(d, "item-整改", 4, 12345))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Type != want.Type || got.Version != want.Version || !got.Time.Equal(want.Time) ||
		got.Actor != want.Actor || got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if got.Stream != "item-整改" || got.Revision != 4 || got.Position != 12345 {
		t.Fatalf("placed at %s@%d position %d", got.Stream, got.Revision, got.Position)
	}
	if string(got.Data) != string(want.Data) {
		t.Fatalf("data %s, want byte for byte %s", got.Data, want.Data)
	}
	if got.Hash != want.Hash || events.ChainHash(prev, got) != got.Hash {
		t.Fatalf("hash %q after the round trip, want %q, recomputed %q", got.Hash, want.Hash, events.ChainHash(prev, got))
	}
}

// serverExpected decides, from the stream's last event, what an append
// expects of the server: the hashes it computed hold only when the server
// can write nothing but exactly after that event.
func TestServerExpectedNeverForksTheChain(t *testing.T) {
	last := &events.Event{ID: "e4", Revision: 4}
	evs := []events.Event{{ID: "n1"}, {ID: "n2"}}
	retry := []events.Event{{ID: "e3"}, {ID: "e4"}}
	cases := []struct {
		name     string
		expected eventstore.Expected
		last     *events.Event
		evs      []events.Event
		want     esdb.ExpectedRevision // nil: a conflict without asking the server
		chained  bool
	}{
		{"any on a new stream", eventstore.Any, nil, evs, esdb.NoStream{}, true},
		{"any", eventstore.Any, last, evs, esdb.Revision(4), true},
		{"any, the retry still at the head", eventstore.Any, last, retry, esdb.Revision(2), false},
		{"stream exists", eventstore.StreamExists, last, evs, esdb.Revision(4), true},
		{"stream exists on a new stream", eventstore.StreamExists, nil, evs, nil, false},
		{"no stream on a new stream", eventstore.NoStream, nil, evs, esdb.NoStream{}, true},
		{"no stream on an existing one: retry or conflict", eventstore.NoStream, last, evs, esdb.NoStream{}, false},
		{"exact at the head", eventstore.Exact(4), last, evs, esdb.Revision(4), true},
		{"exact behind the head: retry or conflict", eventstore.Exact(2), last, evs, esdb.Revision(2), false},
		{"exact past the head", eventstore.Exact(7), last, evs, nil, false},
		{"exact on a new stream", eventstore.Exact(0), nil, evs, nil, false},
	}
	for _, c := range cases {
		got, chained, err := serverExpected(c.expected, c.last, c.evs)
		if c.want == nil {
			if events.ErrorCode(err) != events.CodeConflict {
				t.Errorf("%s: %v, %v; want a conflict", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want || chained != c.chained {
			t.Errorf("%s: expect %#v (chained %v), %v; want %#v (chained %v)", c.name, got, chained, err, c.want, c.chained)
		}
	}
}

func TestForeignAndPositionlessRecords(t *testing.T) {
	created := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	foreign := &esdb.RecordedEvent{
		EventID: uuid.New(), EventType: "OrderPlaced", StreamID: "order-1", EventNumber: 0,
		Position: esdb.Position{Commit: 99, Prepare: 99}, CreatedDate: created, Data: []byte(`{}`),
	}
	ev, err := fromRecorded(foreign)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != foreign.EventID.String() || !ev.Time.Equal(created) || ev.Position != 99 {
		t.Fatalf("foreign record read as %+v", ev)
	}
	foreign.Position = esdb.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}
	if _, err := fromRecorded(foreign); events.ErrorCode(err) != events.CodeInternal {
		t.Fatalf("record without a position: %v, want code internal", err)
	}
	for _, r := range []*esdb.RecordedEvent{
		{StreamID: "$stats-127.0.0.1:2113", EventType: "$statsCollected"},
		{StreamID: "$$item-1", EventType: "$metadata"},
		{StreamID: "item-1", EventType: "$streamDeleted"},
	} {
		if !system(r) {
			t.Errorf("%s %s not taken for a system event", r.StreamID, r.EventType)
		}
	}
	if system(&esdb.RecordedEvent{StreamID: "item-1", EventType: "rectify.item.raised"}) {
		t.Error("a user event taken for a system event")
	}
}

func TestServerFilter(t *testing.T) {
	f := serverFilter(eventstore.Filter{StreamPrefixes: []string{"item-", "unit-"}, EventTypes: []string{"x"}})
	if f.Type != esdb.StreamFilterType || len(f.Prefixes) != 2 || f.Regex != "" {
		t.Fatalf("stream prefix filter %+v", f)
	}
	f = serverFilter(eventstore.Filter{EventTypes: []string{"rectify.item.raised", "rectify.item.closed"}})
	if f.Type != esdb.EventFilterType || len(f.Prefixes) != 0 {
		t.Fatalf("event type filter %+v", f)
	}
	re := regexp.MustCompile(f.Regex)
	for typ, want := range map[string]bool{
		"rectify.item.raised":   true,
		"rectify.item.closed":   true,
		"rectifyXitemXraised":   false,
		"rectify.item.raised2":  false,
		"x.rectify.item.raised": false,
	} {
		if re.MatchString(typ) != want {
			t.Errorf("regex %s matches %s: %v, want %v", f.Regex, typ, !want, want)
		}
	}
	if f := serverFilter(eventstore.Filter{}); f.Type != esdb.EventFilterType || regexp.MustCompile(f.Regex).MatchString("$statsCollected") {
		t.Fatalf("no filter gives %+v, want system events excluded", f)
	}
}

func TestMapError(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want events.Code
	}{
		{"grpc unavailable", ctx, status.Error(codes.Unavailable, "connection refused"), events.CodeUnavailable},
		{"grpc deadline", ctx, status.Error(codes.DeadlineExceeded, "slow"), events.CodeUnavailable},
		{"grpc permission", ctx, status.Error(codes.PermissionDenied, "no"), events.CodeForbidden},
		{"grpc unauthenticated", ctx, status.Error(codes.Unauthenticated, "who"), events.CodeUnauthorized},
		{"grpc invalid argument", ctx, status.Error(codes.InvalidArgument, "too big"), events.CodeInvalid},
		{"cancelled context", cancelled, errors.New("context canceled"), events.CodeUnavailable},
		{"unknown", ctx, errors.New("boom"), events.CodeInternal},
	}
	for _, c := range cases {
		if got := events.ErrorCode(mapError(c.ctx, c.err, false)); got != c.want {
			t.Errorf("%s: code %s, want %s", c.name, got, c.want)
		}
	}
}

func TestOpen(t *testing.T) {
	if _, err := Open(context.Background(), "esdb://a:b:c:d?tls=maybe"); events.ErrorCode(err) != events.CodeInvalid {
		t.Fatalf("open a malformed connection string: %v, want code invalid", err)
	}

	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, "esdb://"+addr+"?tls=false&maxDiscoverAttempts=2&discoveryInterval=10")
	if events.ErrorCode(err) != events.CodeUnavailable {
		t.Fatalf("open %s where nothing listens: %v, want code unavailable", addr, err)
	}
	t.Logf("unreachable server reported after %s: %v", time.Since(start).Round(time.Millisecond), err)
}
