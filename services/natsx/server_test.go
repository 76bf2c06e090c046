package natsx_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Several processes start at once and all ensure the stream.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		_, js := natstest.MustConnect(t, url)
		wg.Go(func() { errs <- natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	_, js := natstest.MustConnect(t, url)
	if _, err := js.PublishMsg(ctx, natsx.EncodeEvent(sampleEvents()[0], 0)); err != nil {
		t.Fatal(err)
	}
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.State.Msgs != 1 {
		t.Errorf("ensuring again lost messages: %d held", info.State.Msgs)
	}
	cfg := info.Config
	if cfg.Storage != jetstream.FileStorage || cfg.Duplicates != 5*time.Minute || cfg.Replicas != 1 ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != natsx.EventsSubjects || cfg.MaxAge != 0 || cfg.MaxMsgs != -1 {
		t.Errorf("stream config %+v", cfg)
	}

	// Ensuring an unchanged stream sends no update: nats-server updates a
	// stream's store racily against consumers being created, and the
	// relay ensures the stream on every start while views create theirs.
	nc, _ := natstest.MustConnect(t, url)
	updates, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED." + natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if m, err := updates.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("ensuring an unchanged stream updated it: %s", m.Data)
	}

	// A changed option updates the existing stream in place.
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{DuplicateWindow: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := updates.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no update advisory after changing the duplicate window: %v", err)
	}
	info, err = s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 10*time.Minute || info.State.Msgs != 1 {
		t.Errorf("after update: window %s, %d messages", info.Config.Duplicates, info.State.Msgs)
	}
}

func TestEnsureStreamsRejectsBadConfig(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A single server cannot hold three replicas.
	err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{Replicas: 3})
	if code := events.ErrorCode(err); code != events.CodeInvalid {
		t.Fatalf("error %v, want code invalid", err)
	}
}

func TestStartEmbeddedRejects(t *testing.T) {
	if _, err := natsx.StartEmbedded(natsx.EmbeddedOptions{}); events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("no store dir: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir(), Port: port, ReadyTimeout: 2 * time.Second})
	if err == nil {
		s.Shutdown()
		t.Fatal("started on a port in use")
	}
	if events.ErrorCode(err) != events.CodeUnavailable {
		t.Errorf("port in use: %v", err)
	}
}

// TestStartEmbeddedLogs passes the server's log to the slog logger given,
// and only then.
func TestStartEmbeddedLogs(t *testing.T) {
	var buf syncBuffer
	s, err := natsx.StartEmbedded(natsx.EmbeddedOptions{
		StoreDir: t.TempDir(), Port: -1,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.WaitForShutdown()
	if !strings.Contains(buf.String(), "Starting nats-server") || !strings.Contains(buf.String(), "JetStream") {
		t.Errorf("log lacks the start-up lines:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConnectGivesUpWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	nc, err := natsx.Connect(ctx, "nats://"+addr, "nobody")
	if err == nil {
		nc.Close()
		t.Fatal("connected to nothing")
	}
	if events.ErrorCode(err) != events.CodeUnavailable {
		t.Errorf("error %v, want unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s", d)
	}
}

// TestConnectSurvivesRestart connects before the server is up, then rides
// out a restart: the stream and its messages are still there, and the same
// connection publishes again.
func TestConnectSurvivesRestart(t *testing.T) {
	srv := natstest.MustStartRestartable(t)
	srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := natsx.Connect(ctx, srv.URL, "early")
		done <- result{nc, err}
	}()
	srv.MustStart(t)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	nc := r.nc
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	evs := sampleEvents()
	for i, e := range evs {
		if _, err := js.PublishMsg(ctx, natsx.EncodeEvent(e, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}

	srv.MustRestart(t)

	// Poll with a deadline until the connection is back and publishes.
	deadline := time.Now().Add(20 * time.Second)
	extra := events.Event{ID: "after-restart", Stream: "item-9", Type: "rectify.item.raised", Position: 9999}
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		_, err := js.PublishMsg(pctx, natsx.EncodeEvent(extra, 1))
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish after restart: %v", err)
		}
	}
	s, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != uint64(len(evs)+1) {
		t.Errorf("after restart the stream holds %d messages, want %d", got, len(evs)+1)
	}
	if nc.Stats().Reconnects == 0 {
		t.Error("connection did not reconnect")
	}
	last, err := s.GetLastMsgForSubject(ctx, natsx.EventsSubjects)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := natsx.DecodeEventParts(last.Header, last.Data)
	if err != nil || e.ID != extra.ID {
		t.Errorf("last message %+v, %v", e, err)
	}
}

func ExampleEventSubject() {
	fmt.Println(natsx.EventSubject("item", "rectify.item.raised"))
	fmt.Println(natsx.CategorySubjects("item"))
	fmt.Println(natsx.TypeSubjects("rectify.item.closed"))
	// Output:
	// rectify.events.item.rectify.item.raised
	// rectify.events.item.>
	// rectify.events.*.rectify.item.closed
}
