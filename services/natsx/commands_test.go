package natsx_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

// While the connection to NATS is down, commands, queries and status
// requests are refused at once as unavailable, saying what is unreachable,
// instead of waiting in the reconnect buffer for the caller's whole
// deadline; once NATS is back they go through again.
func TestRequestsAreRefusedAtOnceWhileNATSIsDown(t *testing.T) {
	srv := natstest.MustStartRestartable(t)
	nc, _ := natstest.MustConnect(t, srv.URL)
	responder, _ := natstest.MustConnect(t, srv.URL)
	if _, err := responder.Subscribe(natsx.CommandSubject("item.raise"), func(m *nats.Msg) {
		b, _ := json.Marshal(natsx.CommandReply{Stream: "item-1", Position: 7, Events: 1})
		m.Respond(b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	waitStatus(t, nc, nats.RECONNECTING)
	// Without the refusal each request would wait out this deadline and
	// then report that nothing answered in time.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := natsx.SendCommand(ctx, nc, "item.raise", natsx.CommandRequest{Actor: "admin", Command: json.RawMessage(`{}`)})
	if events.ErrorCode(err) != events.CodeUnavailable || !strings.Contains(events.ErrorMessage(err), "command service is unreachable") {
		t.Errorf("command while NATS is down: %v; want unavailable, the command service unreachable", err)
	}
	var out reply
	err = natsx.QueryRequest(ctx, nc, "ledger", "status", struct{}{}, &out)
	if events.ErrorCode(err) != events.CodeUnavailable || !strings.Contains(events.ErrorMessage(err), "view ledger is unreachable") {
		t.Errorf("query while NATS is down: %v; want unavailable, the view unreachable", err)
	}
	if _, err := natsx.CommandsStatus(ctx, nc); events.ErrorCode(err) != events.CodeUnavailable {
		t.Errorf("status while NATS is down: %v; want unavailable", err)
	}

	srv.MustStart(t)
	waitStatus(t, nc, nats.CONNECTED)
	waitStatus(t, responder, nats.CONNECTED)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, err := natsx.SendCommand(ctx, nc, "item.raise", natsx.CommandRequest{Actor: "admin", Command: json.RawMessage(`{}`)})
		if err == nil {
			if rep.Position != 7 {
				t.Fatalf("reply %+v", rep)
			}
			break
		}
		// The responder's subscription may not be back on the server yet.
		if time.Now().After(deadline) {
			t.Fatalf("command after NATS came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitStatus(t *testing.T, nc *nats.Conn, want nats.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for nc.Status() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connection is %v, want %v", nc.Status(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
