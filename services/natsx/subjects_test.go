package natsx_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"rectify/events"
	"rectify/services/natsx"
	"rectify/services/natsx/natstest"
)

func TestEventSubject(t *testing.T) {
	tests := []struct {
		category, typ, want string
	}{
		{"item", "rectify.item.raised", "rectify.events.item.rectify.item.raised"},
		{"commitment", "rectify.commitment.activity_logged", "rectify.events.commitment.rectify.commitment.activity_logged"},
		{"unit", "rectify.unit.renamed", "rectify.events.unit.rectify.unit.renamed"},
		{"a.b", "t", "rectify.events.a~2Eb.t"},
		{"", "", "rectify.events.~.~"},
		{"x y", "a..b.", "rectify.events.x~20y.a.~.b.~"},
		{"*", ">", "rectify.events.~2A.~3E"},
		{"~", "~7E", "rectify.events.~7E.~7E7E"},
		{"单位", "整改.完成", "rectify.events.~E5~8D~95~E4~BD~8D.~E6~95~B4~E6~94~B9.~E5~AE~8C~E6~88~90"},
	}
	for _, tt := range tests {
		if got := natsx.EventSubject(tt.category, tt.typ); got != tt.want {
			t.Errorf("EventSubject(%q, %q) = %q, want %q", tt.category, tt.typ, got, tt.want)
		}
		if !validSubject(natsx.EventSubject(tt.category, tt.typ)) {
			t.Errorf("EventSubject(%q, %q) is not a valid subject", tt.category, tt.typ)
		}
	}
}

func TestSubjectHelpers(t *testing.T) {
	tests := []struct{ got, want string }{
		{natsx.CommandSubject("item.raise"), "rectify.cmd.item.raise"},
		{natsx.QuerySubject("progress", "get"), "rectify.query.progress.get"},
		{natsx.QuerySubject("ledger.v2", "page"), "rectify.query.ledger~2Ev2.page"},
		{natsx.ChangesSubject("overdue"), "rectify.changes.overdue"},
		{natsx.CategorySubjects("item"), "rectify.events.item.>"},
		{natsx.TypeSubjects("rectify.item.raised"), "rectify.events.*.rectify.item.raised"},
		{natsx.Token("平安社区"), "~E5~B9~B3~E5~AE~89~E7~A4~BE~E5~8C~BA"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// FuzzToken checks that every string maps to one valid token and that
// distinct strings never share one: two categories must never receive each
// other's events.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "item", "a.b", "~", "~7E", "单位", " ", "*", ">", "a\x00b"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := natsx.Token(a), natsx.Token(b)
		if ta == "" || strings.ContainsAny(ta, ".*> \t\r\n") {
			t.Fatalf("Token(%q) = %q is not one valid token", a, ta)
		}
		if (a == b) != (ta == tb) {
			t.Fatalf("Token(%q) = %q, Token(%q) = %q", a, ta, b, tb)
		}
		sa, sb := natsx.EventSubject(a, b), natsx.EventSubject(b, a)
		if !validSubject(sa) || !validSubject(sb) {
			t.Fatalf("invalid subject %q or %q", sa, sb)
		}
		if (a == b) != (sa == sb) {
			t.Fatalf("EventSubject collision: %q and %q", sa, sb)
		}
	})
}

func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// TestFiltersSelectEvents publishes events of several categories and types
// to a real JetStream stream and reads them back through the category and
// type filters a projection would use.
func TestFiltersSelectEvents(t *testing.T) {
	_, url := natstest.MustStartServer(t)
	_, js := natstest.MustConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsx.EnsureStreams(ctx, js, natsx.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{
		{Stream: "item-1", Type: "rectify.item.raised"},
		{Stream: "item-1", Type: "rectify.item.assigned"},
		{Stream: "unit-7", Type: "rectify.unit.created"},
		{Stream: "item-2", Type: "rectify.item.raised"},
		{Stream: "item.x-3", Type: "rectify.item.raised"},
		{Stream: "单位-9", Type: "rectify.unit.created"},
	}
	for i := range evs {
		evs[i].ID = "id-" + string(rune('a'+i))
		evs[i].Position = uint64(i + 1)
		evs[i].Time = time.Date(2019, 3, 1, 9, 0, i, 0, time.UTC)
		evs[i].Actor = "user-1"
		evs[i].Data = json.RawMessage(`{}`)
		if _, err := js.PublishMsg(ctx, natsx.EncodeEvent(evs[i], uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		filter string
		want   []uint64
	}{
		{natsx.CategorySubjects("item"), []uint64{1, 2, 4}},
		{natsx.CategorySubjects("item.x"), []uint64{5}},
		{natsx.CategorySubjects("单位"), []uint64{6}},
		{natsx.TypeSubjects("rectify.item.raised"), []uint64{1, 4, 5}},
		{natsx.TypeSubjects("rectify.unit.created"), []uint64{3, 6}},
		{natsx.EventsSubjectPrefix + ".*.rectify.item.>", []uint64{1, 2, 4, 5}},
		{natsx.EventsSubjects, []uint64{1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		got := readPositions(t, ctx, js, tt.filter, len(tt.want))
		if !slices.Equal(got, tt.want) {
			t.Errorf("filter %s: positions %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// readPositions reads every message of the events stream matching filter.
func readPositions(t *testing.T, ctx context.Context, js jetstream.JetStream, filter string, n int) []uint64 {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, natsx.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.NumPending)
	if total != n {
		t.Errorf("filter %s: %d messages pending, want %d", filter, total, n)
	}
	var got []uint64
	for len(got) < total {
		batch, err := c.Fetch(total-len(got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			e, _, err := natsx.DecodeEventParts(m.Headers(), m.Data())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Position)
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return got
}
