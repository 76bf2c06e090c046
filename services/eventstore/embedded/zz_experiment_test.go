package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func expBaseline(tb testing.TB, name, dsnExtra, schemaSQL string, rows []benchRow, perTx int) {
	path := filepath.Join(tb.TempDir(), "x.db")
	d := dsn(path, "_pragma=busy_timeout(10000)")
	if dsnExtra != "" {
		d += "&" + dsnExtra
	}
	d += "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-32768)"
	db, err := sql.Open("sqlite", d)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, _ := db.Conn(ctx)
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, schemaSQL); err != nil {
		tb.Fatal(err)
	}
	ins, err := conn.PrepareContext(ctx, insertSQL)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < len(rows); i += perTx {
		conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		for _, r := range rows[i:min(i+perTx, len(rows))] {
			e := r.ev
			if _, err := ins.ExecContext(ctx, r.stream, r.revision, e.ID, e.Type, e.Version, e.Time.UnixNano(), e.Actor, e.CorrelationID, e.CausationID, []byte(e.Data)); err != nil {
				tb.Fatal(err)
			}
		}
		conn.ExecContext(ctx, "COMMIT")
	}
	el := time.Since(start)
	var ps, ac int
	conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&ps)
	conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&ac)
	name = fmt.Sprintf("%s [ps %d ac %d]", name, ps, ac)
	st, _ := os.Stat(path)
	fmt.Printf("%-40s %8.0f rows/s  db %5.1f MB\n", name, float64(len(rows))/el.Seconds(), float64(st.Size())/1e6)
}

func TestExperiment(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip("EXP not set")
	}
	cfg := BenchConfig{}
	cfg.defaults()
	n := 200000
	rows := batchRows(cfg)(n)
	_ = 0
	noID := strings.Replace(schema, "CREATE UNIQUE INDEX events_id ON events (id);", "", 1)
	_ = noID
	rows7 := make([]benchRow, len(rows))
	copy(rows7, rows)
	for i := range rows7 {
		rows7[i].ev.ID = uuid.Must(uuid.NewV7()).String()
	}
	for range 3 {
		expBaseline(t, "v4 400", "", schema, rows, 400)
		expBaseline(t, "v7 400", "", schema, rows7, 400)
		expBaseline(t, "v7 400 ac10000", "_pragma=wal_autocheckpoint(10000)", schema, rows7, 400)
		expBaseline(t, "v4 400 ac10000", "_pragma=wal_autocheckpoint(10000)", schema, rows, 400)
	}
}

func TestExpBatch(t *testing.T) {
	if os.Getenv("EXPB") == "" {
		t.Skip("EXPB not set")
	}
	cfg := BenchConfig{}
	cfg.defaults()
	for range 4 {
		r, err := benchBatch(context.Background(), filepath.Join(t.TempDir(), "b.db"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("batch %.0f ev/s p50 %v p99 %v ev/commit %.1f\n", r.EventsPerSec(), r.P50, r.P99, r.EventsPerCommit())
		r, err = benchBaseline(context.Background(), filepath.Join(t.TempDir(), "c.db"), cfg.BatchEvents, 390, batchRows(cfg))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("base  %.0f ev/s p50 %v p99 %v ev/commit %.1f\n", r.EventsPerSec(), r.P50, r.P99, r.EventsPerCommit())
	}
}

func TestExpSingle(t *testing.T) {
	if os.Getenv("EXPS") == "" {
		t.Skip("EXPS not set")
	}
	cfg := BenchConfig{}
	cfg.defaults()
	for range 4 {
		r, err := benchSingle(context.Background(), filepath.Join(t.TempDir(), "b.db"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("single %.0f ev/s p50 %v p99 %v ev/commit %.1f\n", r.EventsPerSec(), r.P50, r.P99, r.EventsPerCommit())
	}
}
