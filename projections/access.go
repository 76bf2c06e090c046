package projections

// The access view: users, their roles and their tokens (by hash), folded
// from the user streams, for the gateway to authenticate callers and work
// out their scope, and for admins to list users. It keeps its own copy of
// the unit tree to confine "users" to a scope.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// Access is the access projection.
type Access struct{}

var _ Queryable = Access{}

// Name implements Projection.
func (Access) Name() string { return "access" }

var accessSchema = []string{
	`CREATE TABLE acc_users (
		user_id  TEXT PRIMARY KEY,
		name     TEXT NOT NULL,
		position INTEGER NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE acc_roles (
		user_id TEXT NOT NULL,
		role    TEXT NOT NULL,
		unit_id TEXT NOT NULL,
		PRIMARY KEY (user_id, role, unit_id)
	) WITHOUT ROWID`,
	`CREATE INDEX acc_roles_unit ON acc_roles (unit_id, user_id)`,
	// expires_at and issued_at are unix nanoseconds; 0 means "never".
	`CREATE TABLE acc_tokens (
		sha256    TEXT PRIMARY KEY,
		user_id   TEXT NOT NULL,
		token_id  TEXT NOT NULL,
		label     TEXT NOT NULL,
		issued_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked   INTEGER NOT NULL DEFAULT 0,
		position  INTEGER NOT NULL
	) WITHOUT ROWID`,
	`CREATE UNIQUE INDEX acc_tokens_user ON acc_tokens (user_id, token_id)`,
}

// Migrate implements Projection.
func (Access) Migrate(ctx context.Context, tx *sql.Tx) error {
	if err := unitsMigrate(ctx, tx); err != nil {
		return err
	}
	for _, s := range accessSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("access schema: %w", err)
		}
	}
	return nil
}

// DigestQueries implements Projection.
func (Access) DigestQueries() []string {
	return append(slices.Clone(unitsDigestQueries),
		`SELECT user_id, name, position FROM acc_users ORDER BY user_id`,
		`SELECT user_id, role, unit_id FROM acc_roles ORDER BY user_id, role, unit_id`,
		`SELECT sha256, user_id, token_id, label, issued_at, expires_at, revoked, position FROM acc_tokens ORDER BY sha256`,
	)
}

// Apply implements Projection. Every change of a user records the change
// notice "user-<id>", which the gateway follows to drop what it cached of
// that user's tokens.
func (Access) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	switch e.Category() {
	case events.CategoryUnit, events.CategoryUser:
	default:
		return nil
	}
	p, err := tx.Decode(e)
	if err != nil {
		// An event this build cannot read is skipped, not retried forever.
		return nil
	}
	if ok, err := unitsApply(ctx, tx, p); ok || err != nil {
		return err
	}
	pos := tx.Position()
	var user string
	switch d := p.(type) {
	case events.UserCreatedData:
		user = d.UserID
		_, err = tx.Exec(ctx, `INSERT INTO acc_users (user_id, name, position) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, position = excluded.position`, d.UserID, d.Name, pos)
	case events.UserRoleGrantedData:
		user = d.UserID
		_, err = tx.Exec(ctx, `INSERT OR IGNORE INTO acc_roles (user_id, role, unit_id) VALUES (?, ?, ?)`, d.UserID, d.Role, d.UnitID)
	case events.UserRoleRevokedData:
		user = d.UserID
		_, err = tx.Exec(ctx, `DELETE FROM acc_roles WHERE user_id = ? AND role = ? AND unit_id = ?`, d.UserID, d.Role, d.UnitID)
	case events.UserTokenIssuedData:
		user = d.UserID
		var exp int64
		if !d.ExpiresAt.IsZero() {
			exp = d.ExpiresAt.UnixNano()
		}
		// A token id issued again (never by the command side) replaces
		// the older row, keeping (user, token id) unique.
		_, err = tx.Exec(ctx, `DELETE FROM acc_tokens WHERE user_id = ? AND token_id = ?`, d.UserID, d.TokenID)
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT OR REPLACE INTO acc_tokens (sha256, user_id, token_id, label, issued_at, expires_at, revoked, position)
				VALUES (?, ?, ?, ?, ?, ?, 0, ?)`, d.SHA256, d.UserID, d.TokenID, d.Label, e.Time.UnixNano(), exp, pos)
		}
	case events.UserTokenRevokedData:
		user = d.UserID
		_, err = tx.Exec(ctx, `UPDATE acc_tokens SET revoked = 1, position = ? WHERE user_id = ? AND token_id = ?`, pos, d.UserID, d.TokenID)
	default:
		return nil
	}
	if err == nil {
		_, err = tx.Exec(ctx, `UPDATE acc_users SET position = ? WHERE user_id = ?`, pos, user)
	}
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	tx.Changed(events.UserStream(user))
	return nil
}

// Queries implements Queryable.
func (Access) Queries() map[string]QueryFunc {
	return map[string]QueryFunc{
		"token":  accessToken,
		"users":  accessUsers,
		"user":   accessUser,
		"people": accessPeople,
	}
}

func accessToken(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.TokenParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	if !req.Scope.All {
		return nil, events.Errorf(events.CodeForbidden, "token lookups need the whole organisation in scope")
	}
	var t query.TokenInfo
	var exp int64
	err := readQueryRow(ctx, db, `SELECT t.token_id, t.user_id, u.name, t.label, t.expires_at, t.revoked
		FROM acc_tokens t JOIN acc_users u ON u.user_id = t.user_id WHERE t.sha256 = ?`, p.SHA256).
		Scan(&t.TokenID, &t.UserID, &t.UserName, &t.Label, &exp, &t.Revoked)
	if err == sql.ErrNoRows {
		return nil, events.Errorf(events.CodeNotFound, "no such token")
	}
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if exp != 0 {
		t.ExpiresAt = time.Unix(0, exp).UTC()
	}
	roles, err := accessRoles(ctx, db, []string{t.UserID}, query.Scope{All: true})
	if err != nil {
		return nil, err
	}
	t.Roles = roles[t.UserID]
	if t.Roles == nil {
		t.Roles = []query.Grant{}
	}
	return t, nil
}

// accessRoles returns the roles of users that lie inside scope (every role
// with an All scope; otherwise roles on units inside it), by user.
func accessRoles(ctx context.Context, db *sql.DB, users []string, s query.Scope) (map[string][]query.Grant, error) {
	out := map[string][]query.Grant{}
	if len(users) == 0 {
		return out, nil
	}
	q := `SELECT user_id, role, unit_id FROM acc_roles WHERE user_id IN (?` + strings.Repeat(", ?", len(users)-1) + `)`
	args := make([]any, 0, len(users))
	for _, u := range users {
		args = append(args, u)
	}
	if !s.All {
		cond, a := scopeFilter("unit_id", s)
		q += ` AND unit_id <> '' AND ` + cond
		args = append(args, a...)
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY user_id, role, unit_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var g query.Grant
		if err := rows.Scan(&user, &g.Role, &g.UnitID); err != nil {
			return nil, fmt.Errorf("roles: %w", err)
		}
		out[user] = append(out[user], g)
	}
	return out, rows.Err()
}

func accessTokens(ctx context.Context, db *sql.DB, users []string) (map[string][]query.UserToken, error) {
	out := map[string][]query.UserToken{}
	if len(users) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(users))
	for _, u := range users {
		args = append(args, u)
	}
	rows, err := db.QueryContext(ctx, `SELECT user_id, token_id, label, issued_at, expires_at, revoked FROM acc_tokens
		WHERE user_id IN (?`+strings.Repeat(", ?", len(users)-1)+`) ORDER BY user_id, position, token_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var t query.UserToken
		var issued, exp int64
		if err := rows.Scan(&user, &t.ID, &t.Label, &issued, &exp, &t.Revoked); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		t.IssuedAt = time.Unix(0, issued).UTC()
		if exp != 0 {
			t.ExpiresAt = time.Unix(0, exp).UTC()
		}
		out[user] = append(out[user], t)
	}
	return out, rows.Err()
}

// userFilter narrows visibleUsers.
type userFilter struct {
	under string // holding a role on this unit's subtree
	after string // ids after this one (paging)
	only  string // this one user
}

// visibleUsers returns up to limit users, by id, visible in scope and
// matching f.
func visibleUsers(ctx context.Context, db *sql.DB, s query.Scope, f userFilter, limit int) ([]query.User, error) {
	q := `SELECT u.user_id, u.name, u.position FROM acc_users u WHERE u.user_id > ?`
	args := []any{f.after}
	if f.only != "" {
		q += ` AND u.user_id = ?`
		args = append(args, f.only)
	}
	under := f.under
	if !s.All || under != "" {
		inner := `SELECT 1 FROM acc_roles r WHERE r.user_id = u.user_id AND r.unit_id <> ''`
		if !s.All {
			cond, a := scopeFilter("r.unit_id", s)
			inner += ` AND ` + cond
			args = append(args, a...)
		}
		if under != "" {
			cond, a := subtreeOf("r.unit_id", under)
			inner += ` AND ` + cond
			args = append(args, a...)
		}
		q += ` AND EXISTS (` + inner + `)`
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY u.user_id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	var out []query.User
	for rows.Next() {
		var u query.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Position); err != nil {
			rows.Close()
			return nil, fmt.Errorf("users: %w", err)
		}
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	ids := make([]string, len(out))
	for i, u := range out {
		ids[i] = u.ID
	}
	roles, err := accessRoles(ctx, db, ids, s)
	if err != nil {
		return nil, err
	}
	tokens, err := accessTokens(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Roles = roles[out[i].ID]
		if out[i].Roles == nil {
			out[i].Roles = []query.Grant{}
		}
		out[i].Tokens = tokens[out[i].ID]
		if out[i].Tokens == nil {
			out[i].Tokens = []query.UserToken{}
		}
	}
	return out, nil
}

func accessUsers(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UsersParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	var after string
	if p.Cursor != "" {
		c, err := readCursor(p.Cursor, 1)
		if err != nil {
			return nil, err
		}
		after = c[0]
	}
	limit := pageSize(p.Limit)
	users, err := visibleUsers(ctx, db, req.Scope, userFilter{under: p.UnitID, after: after}, limit+1)
	if err != nil {
		return nil, err
	}
	return userPageOf(users, limit), nil
}

func accessUser(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.UserParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	users, err := visibleUsers(ctx, db, req.Scope, userFilter{only: p.UserID}, 1)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, events.Errorf(events.CodeNotFound, "user %s not found", p.UserID)
	}
	return users[0], nil
}

// accessPeople answers "people": who holds a role on the unit or below it.
// Roles on units above it, or on the whole organisation, do not count:
// they make someone able to act there, not one of the unit's people.
func accessPeople(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.PeopleParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	var known int
	if err := readQueryRow(ctx, db, `SELECT count(*) FROM units WHERE unit_id = ?`, p.UnitID).Scan(&known); err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	in, err := unitInScope(ctx, db, req.Scope, p.UnitID)
	if err != nil {
		return nil, err
	}
	if known == 0 || !in {
		return nil, events.Errorf(events.CodeNotFound, "unit %s not found", p.UnitID)
	}
	// Each user once, at the depth of their nearest role below the unit.
	rows, err := db.QueryContext(ctx, `SELECT u.user_id, u.name, min(t.depth) AS d
		FROM acc_roles r
		JOIN unit_tree t ON t.ancestor = ? AND t.descendant = r.unit_id
		JOIN acc_users u ON u.user_id = r.user_id
		GROUP BY u.user_id
		ORDER BY d, u.name, u.user_id
		LIMIT ?`, p.UnitID, query.MaxPeople+1)
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	out := query.People{UnitID: p.UnitID, People: []query.Person{}}
	index := map[string]int{}
	for rows.Next() {
		var pe query.Person
		var depth int
		if err := rows.Scan(&pe.ID, &pe.Name, &depth); err != nil {
			rows.Close()
			return nil, fmt.Errorf("people: %w", err)
		}
		pe.Roles = []query.Grant{}
		index[pe.ID] = len(out.People)
		out.People = append(out.People, pe)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	if len(out.People) > query.MaxPeople {
		delete(index, out.People[query.MaxPeople].ID)
		out.People, out.Truncated = out.People[:query.MaxPeople], true
	}
	rows, err = db.QueryContext(ctx, `SELECT r.user_id, r.role, r.unit_id
		FROM acc_roles r JOIN unit_tree t ON t.ancestor = ? AND t.descendant = r.unit_id
		ORDER BY r.user_id, r.role, r.unit_id`, p.UnitID)
	if err != nil {
		return nil, fmt.Errorf("people roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var g query.Grant
		if err := rows.Scan(&user, &g.Role, &g.UnitID); err != nil {
			return nil, fmt.Errorf("people roles: %w", err)
		}
		if i, ok := index[user]; ok {
			out.People[i].Roles = append(out.People[i].Roles, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("people roles: %w", err)
	}
	return out, nil
}

// userPageOf is a page of at most limit users from users, which holds one
// more when there is a next page.
func userPageOf(users []query.User, limit int) query.UserPage {
	page := query.UserPage{Users: users}
	if page.Users == nil {
		page.Users = []query.User{}
	}
	if len(users) > limit {
		page.Users = users[:limit]
		page.NextCursor = makeCursor(users[limit-1].ID)
	}
	return page
}
