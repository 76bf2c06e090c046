package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"reflect"
	"sync"
)

// A view database holds no version number: its schema is whatever the
// projection's Migrate made when the file was created. When a new build
// of rectify changes a view's tables, a file built by the old one would
// fail its queries ("no such column") or, worse, answer them wrongly.
// Views are derived data, so such a file is simply built again: on open,
// the file's schema (sqlite_master) is compared with the one Migrate
// makes in an empty database, and a file that differs is replaced by an
// empty one, which the runner fills from position zero.

// schemaQuery lists a database's schema in a stable order; checkpoint is
// the runner's own table and the same in every view.
const schemaQuery = `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
	WHERE name <> 'checkpoint' AND name NOT LIKE 'sqlite_%' ORDER BY type, name`

// schemaDigest is the SHA-256 of a database's schema.
func schemaDigest(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (string, error) {
	rows, err := q.QueryContext(ctx, schemaQuery)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	h := sha256.New()
	for rows.Next() {
		var typ, name, table, text string
		if err := rows.Scan(&typ, &name, &table, &text); err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d:%s%d:%s%d:%s%d:%s", len(typ), typ, len(name), name, len(table), table, len(text), text)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// expectedSchemas caches, per projection type, the digest of the schema
// Migrate makes in an empty database.
var expectedSchemas sync.Map // reflect.Type -> string

// expectedSchema is the digest of the schema proj's Migrate makes.
func expectedSchema(ctx context.Context, proj Projection) (string, error) {
	if d, ok := expectedSchemas.Load(reflect.TypeOf(proj)); ok {
		return d.(string), nil
	}
	db, err := sql.Open("sqlite", "file:schema-"+proj.Name()+"?mode=memory")
	if err != nil {
		return "", err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database, not one per connection
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if err := proj.Migrate(ctx, tx); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	d, err := schemaDigest(ctx, tx)
	if err != nil {
		return "", err
	}
	expectedSchemas.Store(reflect.TypeOf(proj), d)
	return d, nil
}

// staleSchema reports whether db holds a view whose schema is not the one
// proj's Migrate makes. A new, empty file is not stale.
func staleSchema(ctx context.Context, db *viewDB, proj Projection) (bool, error) {
	var n int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'checkpoint'`).Scan(&n); err != nil {
		return false, err
	}
	if n == 0 {
		return false, nil
	}
	want, err := expectedSchema(ctx, proj)
	if err != nil {
		return false, err
	}
	got, err := schemaDigest(ctx, db.write)
	if err != nil {
		return false, err
	}
	return got != want, nil
}
