package verify_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/eventstore/verify"
)

// history is what MustWriteHistory writes: three streams, interleaved in
// $all, some events appended in batches.
var history = []struct {
	stream string
	titles []string
}{
	{"item-甲", []string{"立项"}},
	{"item-乙", []string{"立项", "指派给第三社区"}},
	{"item-甲", []string{"指派", "开始整改"}},
	{"unit-丙", []string{"登记", "改名", "调整上级"}},
	{"item-甲", []string{"提交验收"}},
	{"item-乙", []string{"开始整改", "提交验收"}},
	{"item-甲", []string{"验收通过", "销号"}},
}

// MustWriteHistory writes history through a real embedded store in a new
// file, closes it and returns the file's path.
func MustWriteHistory(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "events.db")
	s, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	for _, h := range history {
		var evs []events.Event
		for _, title := range h.titles {
			n++
			data, _ := json.Marshal(map[string]string{"title": title})
			evs = append(evs, events.Event{ID: fmt.Sprintf("事件-%02d", n), Type: "rectify.item.noted", Version: 1,
				Time: time.Date(2025, 3, 1, 9, 0, n, 0, time.UTC), Actor: "user:王秀兰", CorrelationID: "请求-1", Data: data})
		}
		if _, err := s.Append(ctx, h.stream, eventstore.Any, evs...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustAppendPublication appends a published assessment to the store at
// path, computed at position at, recording the chain heads there when
// record is set.
func mustAppendPublication(tb testing.TB, path string, at uint64, record bool) {
	tb.Helper()
	ctx := context.Background()
	s, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	d := events.AssessmentPublishedData{AssessmentID: "month-2025-02-01", Kind: events.PeriodMonth,
		PeriodStart: events.MustDate("2025-02-01"), PeriodEnd: events.MustDate("2025-02-28"), Version: 1,
		RulesetID: "kh", RulesetVersion: 1, Position: at, Digest: strings.Repeat("ab", 32), Note: "工委会议通过"}
	if record {
		heads, err := eventstore.HeadDigests(ctx, s, at)
		if err != nil {
			tb.Fatal(err)
		}
		d.ChainDigest, d.ChainStreams = heads[at].Digest, heads[at].Streams
	}
	data, _ := json.Marshal(d)
	e := events.Event{ID: "发布-1", Type: events.AssessmentPublished, Version: 1, Time: time.Now(), Actor: "user:admin", Data: data}
	if _, err := s.Append(ctx, "assessment-month-2025-02-01", eventstore.NoStream, e); err != nil {
		tb.Fatal(err)
	}
}

// mustTamper changes the SQLite file at path directly, as someone with
// the file and no rectify would.
func mustTamper(tb testing.TB, path string, stmts ...string) {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		res, err := db.Exec(q)
		if err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			tb.Fatalf("%s changed %d rows, want 1", q, n)
		}
	}
}

// mustVerify runs verify on a read-only store at path.
func mustVerify(tb testing.TB, path string) verify.Report {
	tb.Helper()
	s, err := embedded.Open(path, embedded.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	rep, err := verify.Run(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

func TestUntamperedStoreVerifies(t *testing.T) {
	path := MustWriteHistory(t)
	rep := mustVerify(t, path)
	if !rep.OK() || len(rep.Breaks) != 0 || rep.Events != 13 || rep.Streams != 3 || rep.Head == 0 {
		t.Fatalf("report %+v, want 13 events in 3 streams and nothing broken", rep)
	}
}

// Each tampering of the file is found, and named by exactly the stream
// and revision that was tampered with.
func TestTamperingIsFound(t *testing.T) {
	// Pages smaller than the history: breaks are found across them.
	defer func(n int) { *verify.Page = n }(*verify.Page)
	*verify.Page = 3
	otherHash := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		name   string
		tamper []string
		want   []verify.Break // stream, revision and kind
	}{
		{"data changed", []string{`UPDATE events SET data = '{"title":"已销号"}' WHERE stream = 'item-甲' AND revision = 2`},
			[]verify.Break{{Stream: "item-甲", Revision: 2, Kind: verify.HashMismatch}}},
		{"actor changed", []string{`UPDATE events SET actor = 'user:李四' WHERE stream = 'item-乙' AND revision = 0`},
			[]verify.Break{{Stream: "item-乙", Revision: 0, Kind: verify.HashMismatch}}},
		{"event deleted in the middle", []string{`DELETE FROM events WHERE stream = 'item-甲' AND revision = 3`},
			[]verify.Break{{Stream: "item-甲", Revision: 3, Kind: verify.MissingRevision}}},
		{"first event deleted", []string{`DELETE FROM events WHERE stream = 'unit-丙' AND revision = 0`},
			[]verify.Break{{Stream: "unit-丙", Revision: 0, Kind: verify.MissingRevision}}},
		{"stored hash changed", []string{`UPDATE events SET hash = x'` + otherHash + `' WHERE stream = 'item-乙' AND revision = 1`},
			[]verify.Break{{Stream: "item-乙", Revision: 1, Kind: verify.HashMismatch}}},
		{"hash removed", []string{`UPDATE events SET hash = x'' WHERE stream = 'unit-丙' AND revision = 2`},
			[]verify.Break{{Stream: "unit-丙", Revision: 2, Kind: verify.NoHash}}},
		{"two events swapped in $all", []string{
			`UPDATE events SET position = 1000 WHERE stream = 'unit-丙' AND revision = 1`,
			// Revisions 0..2 were appended together, at consecutive positions.
			`UPDATE events SET position = (SELECT position FROM events WHERE stream = 'unit-丙' AND revision = 0) + 1 WHERE stream = 'unit-丙' AND revision = 2`,
			`UPDATE events SET position = (SELECT position FROM events WHERE stream = 'unit-丙' AND revision = 0) + 2 WHERE stream = 'unit-丙' AND revision = 1`},
			[]verify.Break{{Stream: "unit-丙", Revision: 1, Kind: verify.MissingRevision}, {Stream: "unit-丙", Revision: 1, Kind: verify.RevisionOutOfOrder}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := MustWriteHistory(t)
			mustTamper(t, path, tc.tamper...)
			rep := mustVerify(t, path)
			if rep.OK() {
				t.Fatalf("tampered store verifies: %+v", rep)
			}
			if len(rep.Breaks) != len(tc.want) {
				t.Fatalf("%d breaks, want %d: %v", len(rep.Breaks), len(tc.want), rep.Breaks)
			}
			for i, w := range tc.want {
				b := rep.Breaks[i]
				if b.Stream != w.Stream || b.Revision != w.Revision || b.Kind != w.Kind || b.Detail == "" {
					t.Errorf("break %d: %v, want %s@%d %s", i, b, w.Stream, w.Revision, w.Kind)
				}
			}
		})
	}
}

// Deleting the newest events of a stream leaves no gap in its chain; a
// publication computed after them still records the heads they were, so
// verify names the publication.
func TestPublicationHeadsFindDeletedNewestEvents(t *testing.T) {
	path := MustWriteHistory(t)
	head := mustVerify(t, path).Head
	mustAppendPublication(t, path, head, true)
	if rep := mustVerify(t, path); !rep.OK() || len(rep.Publications) != 1 || rep.Publications[0].Status != verify.PublicationOK {
		t.Fatalf("before tampering: %+v", rep)
	}

	// item-甲's last event, revision 5, is the newest of its stream.
	mustTamper(t, path, `DELETE FROM events WHERE stream = 'item-甲' AND revision = 5`)
	rep := mustVerify(t, path)
	if rep.OK() || len(rep.Breaks) != 0 {
		t.Fatalf("report %+v, want no chain break and a failed publication", rep)
	}
	p := rep.Publications[0]
	if p.Status != verify.PublicationMismatch || p.AssessmentID != "month-2025-02-01" || p.Version != 1 ||
		p.Stream != "assessment-month-2025-02-01" || p.Position != head || p.ActualDigest == p.RecordedDigest {
		t.Fatalf("publication %+v, want a mismatch named month-2025-02-01", p)
	}
	if !strings.Contains(p.String(), "month-2025-02-01") {
		t.Fatalf("publication reads %q", p.String())
	}
}

// A publication from before chain heads were recorded is "not recorded",
// which is not a break.
func TestPublicationWithoutHeadsIsNotRecorded(t *testing.T) {
	path := MustWriteHistory(t)
	mustAppendPublication(t, path, 5, false)
	rep := mustVerify(t, path)
	if !rep.OK() || len(rep.Publications) != 1 || rep.Publications[0].Status != verify.PublicationNotRecorded {
		t.Fatalf("report %+v, want OK with one publication not recorded", rep)
	}
}
