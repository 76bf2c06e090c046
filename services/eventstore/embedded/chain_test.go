package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
)

// checkChained fails tb unless every event of all ($all, from the start)
// carries events.ChainHash of its stream's previous hash and itself.
func checkChained(tb testing.TB, all []events.Event) {
	tb.Helper()
	last := map[string]string{}
	for _, e := range all {
		if want := events.ChainHash(last[e.Stream], e); e.Hash != want {
			tb.Fatalf("%s@%d: hash %q, want %s", e.Stream, e.Revision, e.Hash, want)
		}
		last[e.Stream] = e.Hash
	}
}

// schemaV1ForTest is the schema of version 1 as it was released, written
// out here rather than taken from the code, so that the test keeps making
// the files old versions of rectify made.
const schemaV1ForTest = `
CREATE TABLE events (
	position       INTEGER PRIMARY KEY,
	stream         TEXT    NOT NULL,
	revision       INTEGER NOT NULL,
	id             TEXT    NOT NULL,
	type           TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	time           INTEGER,
	actor          TEXT    NOT NULL,
	correlation_id TEXT    NOT NULL,
	causation_id   TEXT    NOT NULL,
	data           BLOB    NOT NULL,
	UNIQUE (stream, revision)
);
CREATE UNIQUE INDEX events_id ON events (id);
PRAGMA user_version = 1;
`

// v1Events returns the events of a data directory written by version 1:
// three streams interleaved in $all, Chinese everywhere, one event without
// a time.
func v1Events() (streams []string, evs []events.Event) {
	names := []string{"item-旧事项-1", "commitment-走访", "unit-第三社区"}
	for i := range 11 {
		e := newEvent("rectify.item.noted", fmt.Sprintf("旧版本写入的第%d条", i))
		e.Time = time.Date(2024, 5, 1, 8, 0, i, 123456789, time.UTC)
		if i == 4 {
			e.Time = time.Time{}
		}
		streams = append(streams, names[i%len(names)])
		evs = append(evs, e)
	}
	return streams, evs
}

// mustWriteV1 writes evs into a new version-1 file at path, as version 1
// of the store did (time as Unix nanoseconds, NULL when unset).
func mustWriteV1(tb testing.TB, path string, streams []string, evs []events.Event) {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schemaV1ForTest); err != nil {
		tb.Fatalf("v1 schema: %v", err)
	}
	next := map[string]int64{}
	for i, e := range evs {
		var t sql.NullInt64
		if !e.Time.IsZero() {
			t = sql.NullInt64{Int64: e.Time.UnixNano(), Valid: true}
		}
		_, err := db.Exec(`INSERT INTO events (stream, revision, id, type, version, time, actor, correlation_id, causation_id, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			streams[i], next[streams[i]], e.ID, e.Type, e.Version, t, e.Actor, e.CorrelationID, e.CausationID, []byte(e.Data))
		if err != nil {
			tb.Fatalf("v1 insert: %v", err)
		}
		next[streams[i]]++
	}
}

// A data directory of version 1 keeps working: read-only tools read it as
// it is, and the first writable open adds every event's hash, the same
// hash the store gives the same events appended today.
func TestMigratesVersion1File(t *testing.T) {
	// Pages smaller than the history, so that the migration crosses them.
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 4

	path := filepath.Join(t.TempDir(), "events.db")
	streams, evs := v1Events()
	mustWriteV1(t, path, streams, evs)

	ro := MustOpenStoreAt(t, path, Options{ReadOnly: true})
	if ro.Hashed() {
		t.Fatal("a version-1 file opened read-only says it keeps hashes")
	}
	old := mustReadAll(t, ro)
	if len(old) != len(evs) || old[0].Hash != "" {
		t.Fatalf("read-only read of the v1 file: %d events, first hash %q; want %d without hashes", len(old), old[0].Hash, len(evs))
	}
	ro.Close()

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open the v1 file: %v", err)
	}
	migrated := mustReadAll(t, s)
	if len(migrated) != len(evs) {
		t.Fatalf("migrated store holds %d events, want %d", len(migrated), len(evs))
	}
	for i := range migrated {
		sameEvent(t, fmt.Sprintf("event %d after the migration", i), evs[i], migrated[i])
	}
	checkChained(t, migrated)

	// The same events appended to a new store get the same hashes.
	fresh := MustOpenStore(t, Options{})
	for i, e := range evs {
		mustAppend(t, fresh, streams[i], eventstore.Any, e)
	}
	for i, e := range mustReadAll(t, fresh) {
		if e.Hash != migrated[i].Hash {
			t.Fatalf("event %d: migrated hash %s, a new store's %s", i, migrated[i].Hash, e.Hash)
		}
	}

	// Appends chain onto the migrated streams.
	mustAppend(t, s, "item-旧事项-1", eventstore.Exact(3), newEvent("rectify.item.noted", "升级之后"))
	checkChained(t, mustReadAll(t, s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v, unhashed int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version = %d, %v; want %d", v, err, schemaVersion)
	}
	if err := db.QueryRow("SELECT count(*) FROM events WHERE length(hash) != 32").Scan(&unhashed); err != nil || unhashed != 0 {
		t.Fatalf("%d events without a hash after the migration (%v)", unhashed, err)
	}
	ro = MustOpenStoreAt(t, path, Options{ReadOnly: true})
	if !ro.Hashed() {
		t.Fatal("the migrated file opened read-only says it keeps no hashes")
	}
}

// Several appends to one stream in one group commit chain one after the
// other, batches included, while the heads they chain to are not yet
// committed.
func TestGroupCommitChainsAppendsToOneStream(t *testing.T) {
	s, err := open(filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.w.start()
		s.Close()
	}()
	ctx := context.Background()
	ev := func(title string) events.Event { return newEvent("rectify.item.noted", title) }
	batch := []*appendReq{
		mustReq(t, ctx, "item-甲", eventstore.NoStream, ev("甲0")),
		mustReq(t, ctx, "item-甲", eventstore.Any, ev("甲1"), ev("甲2"), ev("甲3")),
		mustReq(t, ctx, "item-乙", eventstore.Any, ev("乙0")),
		mustReq(t, ctx, "item-甲", eventstore.Exact(9), ev("冲突")), // conflict: nothing written, the chain goes on
		mustReq(t, ctx, "item-甲", eventstore.Exact(3), ev("甲4")),
	}
	for i, rep := range s.w.commitBatch(batch, nil) {
		if (rep.err != nil) != (i == 3) {
			t.Fatalf("request %d: %v", i, rep.err)
		}
	}
	// A later batch starts from the heads the first one committed.
	if rep := s.w.commitBatch([]*appendReq{mustReq(t, ctx, "item-甲", eventstore.StreamExists, ev("甲5"))}, nil); rep[0].err != nil {
		t.Fatal(rep[0].err)
	}
	all := mustReadAll(t, s)
	if len(all) != 7 {
		t.Fatalf("%d events stored, want 7", len(all))
	}
	checkChained(t, all)
	var data struct{ Title string }
	if err := json.Unmarshal(all[6].Data, &data); err != nil || data.Title != "甲5" || all[6].Revision != 5 {
		t.Fatalf("last event %s@%d %s, want item-甲@5 甲5", all[6].Stream, all[6].Revision, all[6].Data)
	}
}
