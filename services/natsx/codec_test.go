package natsx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

func sampleEvents() []events.Event {
	cst := time.FixedZone("CST", 8*3600)
	return []events.Event{
		{
			ID:            "0190a3c2-7d4e-7c11-9a3b-1f2e3d4c5b6a",
			Stream:        "item-2019-007",
			Revision:      3,
			Position:      1042,
			Type:          "rectify.item.raised",
			Version:       2,
			Time:          time.Date(2019, 12, 30, 16, 4, 5, 123456789, cst),
			Actor:         "张三（街道工委）",
			CorrelationID: "req-整改-001",
			CausationID:   "cmd-42",
			Data:          json.RawMessage(`{"title": "社区走访不足每周一次", "措施": ["每周走访", "建立台账"],` + "\n" + `"note":"<b>&amp;</b>"}`),
			Hash:          "9f2c5a0d41e3b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3",
		},
		{
			// Whitespace, percent signs, newlines and control bytes must
			// survive headers that NATS trims and keeps on one line.
			ID:            " id with spaces %41 ",
			Stream:        "unit-平安社区 党支部",
			Revision:      0,
			Position:      1,
			Type:          "rectify.unit.created",
			Version:       1,
			Time:          time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			Actor:         "line1\r\nNats-Msg-Id: forged\r\n\t",
			CorrelationID: "%",
			Data:          json.RawMessage(`{}`),
			Hash:          "0000000000000000000000000000000000000000000000000000000000000001",
		},
		{
			ID:       "min",
			Stream:   "user",
			Position: 18446744073709551615,
			Revision: 18446744073709551615,
			Type:     "t",
			Version:  -1,
			Time:     time.Time{},
		},
	}
}

func sameEvent(t *testing.T, got, want events.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	_, gotOff := got.Time.Zone()
	_, wantOff := want.Time.Zone()
	if gotOff != wantOff {
		t.Errorf("time offset %d, want %d", gotOff, wantOff)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("data %q, want %q", got.Data, want.Data)
	}
	if !equalEvents(got, want) {
		t.Errorf("event\n got %+v\nwant %+v", got, want)
	}
}

func equalEvents(a, b events.Event) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Revision == b.Revision && a.Position == b.Position &&
		a.Type == b.Type && a.Version == b.Version && a.Actor == b.Actor &&
		a.CorrelationID == b.CorrelationID && a.CausationID == b.CausationID && a.Hash == b.Hash
}

// TestEventRoundTripThroughJetStream stores events in a real stream and
// reads them back from it: every field, Chinese included, comes back
// exactly, and the raw headers stay printable ASCII.
func TestEventRoundTripThroughJetStream(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsx.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range sampleEvents() {
		prev := uint64(1000 + i)
		ack, err := js.PublishMsg(ctx, natsx.EncodeEvent(want, prev))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		raw, err := stream.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != natsx.EventSubject(want.Category(), want.Type) {
			t.Errorf("subject %q", raw.Subject)
		}
		for k, vs := range raw.Header {
			for _, v := range vs {
				for j := 0; j < len(v); j++ {
					if v[j] <= ' ' || v[j] >= 0x7F {
						t.Errorf("header %s value %q is not printable ASCII", k, v)
						break
					}
				}
			}
		}
		got, gotPrev, err := natsx.DecodeEventParts(raw.Header, raw.Data)
		if err != nil {
			t.Fatalf("decode %d: %v", i, err)
		}
		if gotPrev != prev {
			t.Errorf("prev %d, want %d", gotPrev, prev)
		}
		sameEvent(t, got, want)

		pos, p, err := natsx.HeaderPositions(raw.Header)
		if err != nil || pos != want.Position || p != prev {
			t.Errorf("HeaderPositions = %d, %d, %v", pos, p, err)
		}
		id, err := natsx.HeaderEventID(raw.Header)
		if err != nil || id != want.ID {
			t.Errorf("HeaderEventID = %q, %v", id, err)
		}
		// A header smuggled inside a text field stays inside it.
		if n := len(raw.Header.Values(natsx.HeaderMsgID)); n != 1 {
			t.Errorf("%d message ids", n)
		}
	}
}

// TestEventIDDeduplicates resends an event: JetStream keeps one copy.
func TestEventIDDeduplicates(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	e := sampleEvents()[0]
	first, err := js.PublishMsg(ctx, natsx.EncodeEvent(e, 7))
	if err != nil {
		t.Fatal(err)
	}
	again, err := js.PublishMsg(ctx, natsx.EncodeEvent(e, 7))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("resend ack %+v, first %+v", again, first)
	}
}

func TestDecodeEventRejects(t *testing.T) {
	good := natsx.EncodeEvent(sampleEvents()[0], 5)
	tests := []struct {
		name   string
		change func(h nats.Header)
		field  string
	}{
		{"no id", func(h nats.Header) { delete(h, natsx.HeaderMsgID) }, natsx.HeaderMsgID},
		{"empty id", func(h nats.Header) { h.Set(natsx.HeaderMsgID, "") }, natsx.HeaderMsgID},
		{"no position", func(h nats.Header) { delete(h, natsx.HeaderPosition) }, natsx.HeaderPosition},
		{"negative position", func(h nats.Header) { h.Set(natsx.HeaderPosition, "-1") }, natsx.HeaderPosition},
		{"no prev", func(h nats.Header) { delete(h, natsx.HeaderPrevPosition) }, natsx.HeaderPrevPosition},
		{"bad revision", func(h nats.Header) { h.Set(natsx.HeaderRevision, "x") }, natsx.HeaderRevision},
		{"no stream", func(h nats.Header) { delete(h, natsx.HeaderStream) }, natsx.HeaderStream},
		{"no type", func(h nats.Header) { delete(h, natsx.HeaderType) }, natsx.HeaderType},
		{"bad version", func(h nats.Header) { h.Set(natsx.HeaderVersion, "1.5") }, natsx.HeaderVersion},
		{"bad time", func(h nats.Header) { h.Set(natsx.HeaderTime, "yesterday") }, natsx.HeaderTime},
		{"bad escape", func(h nats.Header) { h.Set(natsx.HeaderActor, "%E5%B") }, natsx.HeaderActor},
		{"short hash", func(h nats.Header) { h.Set(natsx.HeaderHash, "9f2c5a0d") }, natsx.HeaderHash},
		{"upper-case hash", func(h nats.Header) {
			h.Set(natsx.HeaderHash, "9F2C5A0D41E3B8C7D6E5F4A3B2C1D0E9F8A7B6C5D4E3F2A1B0C9D8E7F6A5B4C3")
		}, natsx.HeaderHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &nats.Msg{Subject: good.Subject, Header: nats.Header{}, Data: good.Data}
			for k, v := range good.Header {
				msg.Header[k] = append([]string(nil), v...)
			}
			tt.change(msg.Header)
			_, _, err := natsx.DecodeEvent(msg)
			if events.ErrorCode(err) != events.CodeInvalid {
				t.Fatalf("error %v, want code invalid", err)
			}
			var e *events.Error
			if !errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != tt.field {
				t.Errorf("error %+v does not name %s", err, tt.field)
			}
		})
	}
	if _, _, err := natsx.DecodeEvent(nil); events.ErrorCode(err) != events.CodeInvalid {
		t.Errorf("nil message: %v", err)
	}
}

// FuzzEventRoundTrip encodes arbitrary events: decoding gives them back,
// and every header value is printable ASCII without spaces, so neither the
// trimming nor the newline replacement of the NATS wire can alter it.
func FuzzEventRoundTrip(f *testing.F) {
	for _, e := range sampleEvents() {
		f.Add(e.ID, e.Stream, e.Revision, e.Position, e.Type, e.Version, e.Time.UnixNano(), e.Actor, e.CorrelationID, e.CausationID, []byte(e.Data), uint64(99), e.Hash != "")
	}
	f.Fuzz(func(t *testing.T, id, stream string, rev, pos uint64, typ string, version int, nanos int64, actor, corr, cause string, data []byte, prev uint64, hashed bool) {
		if id == "" {
			return // events always have an id
		}
		want := events.Event{ID: id, Stream: stream, Revision: rev, Position: pos, Type: typ, Version: version,
			Time: time.Unix(0, nanos).In(time.FixedZone("", int(nanos%1440)*60)), Actor: actor,
			CorrelationID: corr, CausationID: cause, Data: data}
		if hashed {
			want.Hash = events.ChainHash("", want)
		}
		msg := natsx.EncodeEvent(want, prev)
		for k, vs := range msg.Header {
			for _, v := range vs {
				if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7F }) {
					t.Fatalf("header %s value %q would not survive the wire", k, v)
				}
			}
		}
		got, gotPrev, err := natsx.DecodeEvent(msg)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if gotPrev != prev {
			t.Fatalf("prev %d, want %d", gotPrev, prev)
		}
		if len(want.Data) == 0 {
			want.Data = nil
		}
		sameEvent(t, got, want)
	})
}

// FuzzDecodeEvent feeds arbitrary header blocks and bodies, as they would
// arrive from the wire, to the decoder: it never panics, and whatever it
// accepts encodes and decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range sampleEvents() {
		f.Add(wireHeader(natsx.EncodeEvent(e, 3).Header), []byte(e.Data))
	}
	f.Add("NATS/1.0\r\nRectify-Position: 1\r\n\r\n", []byte("{}"))
	f.Add("NATS/1.0\r\nNats-Msg-Id: %zz\r\nRectify-Time: 2019-01-01T00:00:00+99:00\r\n\r\n", []byte(nil))
	f.Fuzz(func(t *testing.T, hdr string, data []byte) {
		h, err := nats.DecodeHeadersMsg([]byte(hdr))
		if err != nil {
			return
		}
		e, prev, err := natsx.DecodeEventParts(h, data)
		if err != nil {
			if events.ErrorCode(err) != events.CodeInvalid {
				t.Fatalf("error code %s: %v", events.ErrorCode(err), err)
			}
			return
		}
		again, prev2, err := natsx.DecodeEvent(natsx.EncodeEvent(e, prev))
		if err != nil {
			t.Fatalf("re-decode of accepted event: %v", err)
		}
		if prev2 != prev {
			t.Fatalf("prev %d, then %d", prev, prev2)
		}
		sameEvent(t, again, e)
	})
}

// wireHeader writes h the way NATS puts it on the wire.
func wireHeader(h nats.Header) string {
	var b strings.Builder
	b.WriteString("NATS/1.0\r\n")
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestEventWireGolden pins the wire format of event messages: subject,
// headers and body of the sample events. Other programs read these
// messages; a change here is a change of a published format.
func TestEventWireGolden(t *testing.T) {
	var b strings.Builder
	for i, e := range sampleEvents() {
		msg := natsx.EncodeEvent(e, uint64(i*10))
		fmt.Fprintf(&b, "subject: %s\n", msg.Subject)
		keys := slices.Sorted(maps.Keys(msg.Header))
		for _, k := range keys {
			for _, v := range msg.Header[k] {
				fmt.Fprintf(&b, "header: %s: %s\n", k, v)
			}
		}
		fmt.Fprintf(&b, "body: %s\n\n", msg.Data)
	}
	path := filepath.Join("testdata", "event_messages.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("event messages differ from %s (run with -update if the change is intended):\n%s", path, b.String())
	}
}
