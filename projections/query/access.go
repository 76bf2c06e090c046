package query

import (
	"time"

	"rectify/events"
)

// Queries of the access view (who may do what), projection "access":
// "token", "users" and "user". The view folds the user streams: accounts,
// their roles (a role on a unit covers its subtree; on the empty unit id,
// the whole organisation) and their API tokens, known by the SHA-256 of
// the token text only (events.TokenHash). It never holds a token.
//
// The view records facts, not verdicts: whether a token has expired is
// for the caller to decide against its own clock (TokenInfo.ExpiresAt), so
// that the view stays a pure function of the events.

// Grant is one role a user holds. UnitID is empty for a role on the whole
// organisation.
type Grant struct {
	Role   string `json:"role"`
	UnitID string `json:"unit_id,omitempty"`
}

// TokenParams are the parameters of "token": the lowercase hex SHA-256 of
// a presented token. "token" answers only requests whose scope is All (the
// gateway authenticating a caller); any other scope is CodeForbidden. An
// unknown hash, or one of a user the view does not know, is CodeNotFound.
type TokenParams struct {
	SHA256 string `json:"sha256"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *TokenParams) Validate() error {
	var v events.Validator
	v.Check(events.ValidSHA256(p.SHA256), "sha256", "must be 64 lowercase hex digits")
	return v.Err()
}

// TokenInfo is the answer of "token": the token, its user and every role
// the user holds now.
type TokenInfo struct {
	TokenID  string `json:"token_id"`
	UserID   string `json:"user_id"`
	UserName string `json:"user_name"`
	Label    string `json:"label,omitempty"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Revoked   bool      `json:"revoked"`
	// Roles are sorted by role, then unit id.
	Roles []Grant `json:"roles"`
}

// Expired reports whether the token has expired at now.
func (t TokenInfo) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// UsersParams are the parameters of "users": the users visible in the
// scope, ordered by id. With an All scope that is every user; otherwise the
// users holding at least one role on a unit inside the scope, each showing
// only those roles.
type UsersParams struct {
	// UnitID keeps users holding a role on this unit or a unit below it.
	UnitID string `json:"unit_id,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *UsersParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkLimit(&v, p.Limit)
	return v.Err()
}

// UserParams are the parameters of "user": one user, visible as in
// "users"; a user outside the scope is CodeNotFound.
type UserParams struct {
	UserID string `json:"user_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *UserParams) Validate() error {
	var v events.Validator
	v.Check(p.UserID != "", "user_id", "is required")
	checkID(&v, "user_id", p.UserID)
	return v.Err()
}

// UserToken describes one API token of a user, never its text or hash.
type UserToken struct {
	ID        string    `json:"id"`
	Label     string    `json:"label,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// User is one account as the access view shows it.
type User struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Roles []Grant `json:"roles"`
	// Tokens are in the order they were issued.
	Tokens []UserToken `json:"tokens"`
	// Position is where the user last changed in $all.
	Position uint64 `json:"position"`
}

// UserPage is one page of "users".
type UserPage struct {
	Users      []User `json:"users"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// PeopleParams are the parameters of "people": the users holding a role on
// the unit UnitID or on a unit below it, the people an item of the unit
// can be assigned to. A unit the view does not know, or outside the
// scope, is CodeNotFound. The gateway asks with the scope of the caller's
// editor and admin roles, those that may assign items.
type PeopleParams struct {
	UnitID string `json:"unit_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *PeopleParams) Validate() error {
	var v events.Validator
	if p.UnitID == "" {
		v.Fault("unit_id", events.ProblemRequired, "is required")
	}
	checkID(&v, "unit_id", p.UnitID)
	return v.Err()
}

// MaxPeople bounds the answer of "people"; People.Truncated says when a
// subtree holds more.
const MaxPeople = 500

// Person is one user of "people", with the roles they hold on the unit
// or below it (sorted by role, then unit id); never their tokens or their
// roles elsewhere.
type Person struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Roles []Grant `json:"roles"`
}

// People is the answer of "people": the unit's own people first, then
// those of the units below it, nearer units first, each group by name
// and id.
type People struct {
	UnitID    string   `json:"unit_id"`
	People    []Person `json:"people"`
	Truncated bool     `json:"truncated,omitempty"`
}
