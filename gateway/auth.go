package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/projections/query"
	"rectify/services/natsx"
)

// accessView is the projection that knows users, roles and tokens.
const accessView = "access"

// Principal is an authenticated caller: the user a bearer token belongs
// to and the roles the user holds now.
type Principal struct {
	UserID  string        `json:"user_id"`
	Name    string        `json:"name"`
	TokenID string        `json:"token_id"`
	Roles   []query.Grant `json:"roles"`
	Expires time.Time     `json:"token_expires_at,omitzero"`
	scope   query.Scope
}

// Scope is what the caller may read: the union of the units of all their
// roles (each with its subtree), or everything when any role is on the
// whole organisation.
func (p Principal) Scope() query.Scope { return p.scope }

// hasRole reports whether p holds one of roles on some unit or on the
// whole organisation.
func (p Principal) hasRole(roles ...string) bool {
	for _, g := range p.Roles {
		if slices.Contains(roles, g.Role) {
			return true
		}
	}
	return false
}

// hasOrgRole reports whether p holds one of roles on the whole
// organisation.
func (p Principal) hasOrgRole(roles ...string) bool {
	for _, g := range p.Roles {
		if g.UnitID == "" && slices.Contains(roles, g.Role) {
			return true
		}
	}
	return false
}

// scopeOf is the union of the units on which p holds one of roles.
func scopeOf(grants []query.Grant, roles ...string) query.Scope {
	var s query.Scope
	for _, g := range grants {
		if len(roles) > 0 && !slices.Contains(roles, g.Role) {
			continue
		}
		if g.UnitID == "" {
			return query.Scope{All: true}
		}
		if !slices.Contains(s.Units, g.UnitID) {
			s.Units = append(s.Units, g.UnitID)
		}
	}
	slices.Sort(s.Units)
	return s
}

func newPrincipal(t query.TokenInfo) Principal {
	p := Principal{UserID: t.UserID, Name: t.UserName, TokenID: t.TokenID, Roles: t.Roles, Expires: t.ExpiresAt}
	if p.Roles == nil {
		p.Roles = []query.Grant{}
	}
	p.scope = scopeOf(p.Roles)
	return p
}

// authenticator resolves bearer tokens through the access view, keeping
// what it learnt for at most ttl. A change notice of the access view for a
// user drops that user's entries at once, so a revoked token or role stops
// working within the time a notice takes to arrive; ttl bounds the damage
// of a lost notice.
type authenticator struct {
	nc   *nats.Conn
	ttl  time.Duration
	wait time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]authEntry // by token hash
	// gen counts invalidations. A lookup stores its answer only when no
	// invalidation happened while it ran, so an answer read before a
	// revocation cannot outlive the revocation's notice.
	gen uint64
	sub *nats.Subscription
}

type authEntry struct {
	info    query.TokenInfo
	expires time.Time
}

// maxAuthEntries bounds the cache; past it the cache starts afresh.
const maxAuthEntries = 10000

func newAuthenticator(nc *nats.Conn, ttl, wait time.Duration, now func() time.Time) *authenticator {
	return &authenticator{nc: nc, ttl: ttl, wait: wait, now: now, entries: map[string]authEntry{}}
}

// change is a view's change notice as the projections publish it.
type change struct {
	View     string `json:"view"`
	Key      string `json:"key"`
	Position uint64 `json:"position"`
}

// follow subscribes to the access view's change notices.
func (a *authenticator) follow() error {
	sub, err := a.nc.Subscribe(natsx.ChangesSubject(accessView), func(m *nats.Msg) {
		var cs []change
		if json.Unmarshal(m.Data, &cs) != nil {
			a.forgetAll() // a notice we cannot read may have been about anyone
			return
		}
		for _, c := range cs {
			if user, ok := strings.CutPrefix(c.Key, events.StreamPrefix(events.CategoryUser)); ok {
				a.forget(user)
			}
		}
	})
	if err != nil {
		return events.Wrap(events.CodeUnavailable, err, "follow access changes")
	}
	a.sub = sub
	return nil
}

func (a *authenticator) stop() {
	if a.sub != nil {
		a.sub.Unsubscribe()
	}
}

func (a *authenticator) forget(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for h, e := range a.entries {
		if e.info.UserID == user {
			delete(a.entries, h)
		}
	}
}

func (a *authenticator) forgetAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	clear(a.entries)
}

// authenticate returns the principal a bearer token stands for.
// minPos makes the lookup wait until the access view has that position, so
// a token issued by a command can be used at once with the command's
// position.
//
// Errors: CodeUnauthorized for a token that is malformed, unknown, revoked
// or expired; CodeUnavailable when the access view cannot answer.
func (a *authenticator) authenticate(ctx context.Context, token string, minPos uint64) (Principal, error) {
	if !events.LooksLikeToken(token) {
		return Principal{}, events.Errorf(events.CodeUnauthorized, "the bearer token is not a rectify token (%s...)", events.TokenPrefix)
	}
	hash := events.TokenHash(token)
	now := a.now()
	a.mu.Lock()
	e, ok := a.entries[hash]
	gen := a.gen
	a.mu.Unlock()
	if !ok || now.After(e.expires) {
		info, err := a.lookup(ctx, hash, minPos)
		if err != nil {
			return Principal{}, err
		}
		e = authEntry{info: info, expires: now.Add(a.ttl)}
		a.mu.Lock()
		if a.gen == gen {
			if len(a.entries) >= maxAuthEntries {
				clear(a.entries)
			}
			a.entries[hash] = e
		}
		a.mu.Unlock()
	}
	switch {
	case e.info.Revoked:
		return Principal{}, events.Errorf(events.CodeUnauthorized, "the token has been revoked")
	case e.info.Expired(now):
		return Principal{}, events.Errorf(events.CodeUnauthorized, "the token expired at %s", e.info.ExpiresAt.Format(time.RFC3339))
	}
	return newPrincipal(e.info), nil
}

func (a *authenticator) lookup(ctx context.Context, hash string, minPos uint64) (query.TokenInfo, error) {
	params, _ := json.Marshal(query.TokenParams{SHA256: hash})
	ctx, cancel := context.WithTimeout(ctx, a.wait+time.Second)
	defer cancel()
	var resp query.Response
	req := query.Request{MinPosition: minPos, Scope: query.Scope{All: true}, Params: params}
	if err := natsx.QueryRequest(ctx, a.nc, accessView, "token", req, &resp); err != nil {
		return query.TokenInfo{}, err
	}
	if resp.Error != nil {
		if resp.Error.Code == events.CodeNotFound {
			return query.TokenInfo{}, events.Errorf(events.CodeUnauthorized, "unknown token")
		}
		return query.TokenInfo{}, resp.Error
	}
	var info query.TokenInfo
	if err := json.Unmarshal(resp.Data, &info); err != nil {
		return query.TokenInfo{}, events.Wrap(events.CodeInternal, err, "decode token lookup")
	}
	return info, nil
}

// principalKey is where the auth middleware leaves the caller in the gin
// context.
const principalKey = "rectify.principal"

// requireAuth is the middleware of every /api/v1 route: it reads the
// bearer token and puts the caller in the context, or answers 401. A
// client address whose failures are spent (authLimiter) is answered 429
// with Retry-After before its token is looked up; a request without any
// Authorization header is no failed attempt.
//
// The token is compared with the stored ones only as its SHA-256 hash,
// looked up in the access view by that hash: what a lookup's timing could
// reveal is how many leading bytes of a hash matched, and hashes of
// guesses reveal nothing about the secret token whose hash it is, so the
// lookup is constant-time with respect to the secret in the sense that
// matters. No secret is ever compared directly.
func (s *Server) requireAuth(c *gin.Context) {
	h := c.GetHeader("Authorization")
	if h == "" {
		s.writeError(c, events.Errorf(events.CodeUnauthorized, "send a token: Authorization: Bearer %s...", events.TokenPrefix))
		return
	}
	client := clientKey(c.ClientIP())
	if wait, blocked := s.authLimit.blocked(client, s.cfg.Now()); blocked {
		retry, err := tooManyFailures(wait)
		c.Header("Retry-After", retry)
		s.writeError(c, err)
		return
	}
	token, err := bearerToken(h)
	if err != nil {
		s.authLimit.failed(client, s.cfg.Now())
		s.writeError(c, err)
		return
	}
	minPos, err := minPosition(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, err := s.auth.authenticate(c.Request.Context(), token, minPos)
	if err != nil {
		if events.ErrorCode(err) == events.CodeUnauthorized {
			s.authLimit.failed(client, s.cfg.Now())
		}
		s.writeError(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// bearerToken reads the token of an Authorization header "Bearer <token>"
// (the scheme in any case). Errors are CodeUnauthorized, and their
// messages never repeat what was sent: it may be a secret of some other
// system.
func bearerToken(h string) (string, error) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", events.Errorf(events.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	token = strings.TrimSpace(token)
	if !events.LooksLikeToken(token) {
		return "", events.Errorf(events.CodeUnauthorized, "the bearer token is not a rectify token (%s...)", events.TokenPrefix)
	}
	return token, nil
}

// principalOf returns the caller requireAuth found: every handler under
// /api/v1 (the live stream's too) reads the caller's scope from it.
func principalOf(c *gin.Context) Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(Principal)
	return pr
}
