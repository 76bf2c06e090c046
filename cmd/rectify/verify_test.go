package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rectify/events"
	"rectify/services/eventstore"
	"rectify/services/eventstore/embedded"
	"rectify/services/eventstore/verify"
)

// mustAppendHistory appends n events to each of item-甲 and item-乙 of s.
func mustAppendHistory(tb testing.TB, s eventstore.Store, n int) {
	tb.Helper()
	for i := range n {
		for _, stream := range []string{"item-甲", "item-乙"} {
			data, _ := json.Marshal(map[string]string{"note": fmt.Sprintf("%s第%d次进展", stream, i)})
			e := events.Event{ID: fmt.Sprintf("%s-%d-%d", stream, i, time.Now().UnixNano()), Type: "rectify.item.noted", Version: 1, Time: time.Now(),
				Actor: "user:王秀兰", Data: data}
			if _, err := s.Append(context.Background(), stream, eventstore.Any, e); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// verify opens the store read-only, so it runs beside the process that
// writes it, as beside `rectify serve`.
func TestVerifyBesideAWriter(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(filepath.Join(dir, "events.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppendHistory(t, s, 5)

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"verify", "--data", dir}, &out, &errOut); err != nil {
		t.Fatalf("verify: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"intact", "events:       10 up to position 10", "streams:      2 checked", "breaks:       0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The writer goes on, and verify sees what it committed.
	mustAppendHistory(t, s, 1)
	out.Reset()
	if err := run(context.Background(), []string{"verify", "--data", dir, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("verify --json: %v", err)
	}
	var rep struct {
		OK      bool   `json:"ok"`
		Store   string `json:"store"`
		Events  int    `json:"events"`
		Streams int    `json:"streams"`
		Breaks  []any  `json:"breaks"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out.String())
	}
	if !rep.OK || rep.Events != 12 || rep.Streams != 2 || rep.Breaks == nil || len(rep.Breaks) != 0 {
		t.Fatalf("--json report %+v", rep)
	}
}

// A data directory from before hashes were kept is not reported as broken
// event by event: verify says what to do.
func TestVerifyExplainsAnUnmigratedStore(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL,
		id TEXT NOT NULL, type TEXT NOT NULL, version INTEGER NOT NULL, time INTEGER, actor TEXT NOT NULL,
		correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL, data BLOB NOT NULL, UNIQUE (stream, revision));
		PRAGMA user_version = 1`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"verify", "--data", dir}, &out, &out)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "rectify serve") {
		t.Fatalf("verify of a version-1 store: %v (exit %d); want exit 1 saying to start rectify serve once", err, exitCode(err))
	}
}

// The built binary, on a store whose SQLite file was edited directly,
// names the stream and revision and exits 1, as text and as JSON.
func TestBinaryVerifyFindsTampering(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the rectify binary: skipped with -short")
	}
	bin := rectifyBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	s, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppendHistory(t, s, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	verifyBin := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, append([]string{"verify", "--data", dir}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run %s: %v", bin, err)
		}
		return o.String(), e.String(), cmd.ProcessState.ExitCode()
	}
	if out, _, code := verifyBin(); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("untampered store: exit %d\n%s", code, out)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE events SET data = '{"note":"已按期整改"}' WHERE stream = 'item-乙' AND revision = 2`)
	db.Close()
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper: %v, %d rows", err, n)
	}

	out, errOut, code := verifyBin()
	if code != 1 || strings.Count(out, "BROKEN") != 1 || !strings.Contains(out, "BROKEN  stream item-乙 revision 2: hash_mismatch") ||
		!strings.Contains(out, "NOT intact") || !strings.Contains(errOut, "not intact") {
		t.Fatalf("tampered store: exit %d, want 1 naming item-乙 revision 2 only:\n%s%s", code, out, errOut)
	}
	out, _, code = verifyBin("--json")
	var rep struct {
		OK     bool           `json:"ok"`
		Breaks []verify.Break `json:"breaks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || rep.OK || len(rep.Breaks) != 1 || rep.Breaks[0].Stream != "item-乙" || rep.Breaks[0].Revision != 2 ||
		rep.Breaks[0].Kind != verify.HashMismatch {
		t.Fatalf("--json: exit %d, report %+v", code, rep)
	}
}
