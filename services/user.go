package services

import (
	"maps"
	"slices"

	"rectify/events"
)

// grant is one role a user holds on a unit ("" = the whole organisation).
type grant struct {
	role string
	unit string
}

// userState is what the command side must know of a user: whether it
// exists, its roles (for authorization) and its tokens.
type userState struct {
	exists bool
	id     string
	name   string
	grants []grant
	tokens map[string]bool // token id -> revoked
}

// evolveUser applies one fact to a user; it never fails.
func evolveUser(s userState, p events.Payload) userState {
	switch e := p.(type) {
	case events.UserCreatedData:
		s = userState{exists: true, id: e.UserID, name: e.Name}
	case events.UserRoleGrantedData:
		g := grant{e.Role, e.UnitID}
		if !slices.Contains(s.grants, g) {
			s.grants = append(slices.Clip(s.grants), g)
		}
	case events.UserRoleRevokedData:
		s.grants = slices.DeleteFunc(slices.Clone(s.grants), func(g grant) bool { return g == grant{e.Role, e.UnitID} })
	case events.UserTokenIssuedData:
		s.tokens = maps.Clone(s.tokens)
		if s.tokens == nil {
			s.tokens = map[string]bool{}
		}
		s.tokens[e.TokenID] = false
	case events.UserTokenRevokedData:
		s.tokens = maps.Clone(s.tokens)
		if s.tokens == nil {
			s.tokens = map[string]bool{}
		}
		s.tokens[e.TokenID] = true
	}
	return s
}

func decideCreateUser(s userState, c events.CreateUser, x decideContext) ([]events.Payload, error) {
	if s.exists {
		return nil, duplicate("user_id", c.UserID, "user %s already exists", c.UserID)
	}
	if events.IsSystemActor(c.UserID) {
		return nil, broken("user_id", pr(events.ProblemReserved), "is reserved")
	}
	return []events.Payload{events.UserCreatedData{UserID: c.UserID, Name: c.Name}}, nil
}

// decideGrantRole needs x.unit when UnitID is set.
func decideGrantRole(s userState, c events.GrantRole, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("user", c.UserID)
	}
	if c.UnitID != "" {
		if err := activeUnit("unit_id", x.unit); err != nil {
			return nil, err
		}
	}
	if slices.Contains(s.grants, grant{c.Role, c.UnitID}) {
		return nil, broken("role", pr(events.ProblemRoleHeld, "role", c.Role), "user %s already holds %s there", c.UserID, c.Role)
	}
	return []events.Payload{events.UserRoleGrantedData{UserID: c.UserID, Role: c.Role, UnitID: c.UnitID}}, nil
}

func decideRevokeRole(s userState, c events.RevokeRole, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("user", c.UserID)
	}
	if !slices.Contains(s.grants, grant{c.Role, c.UnitID}) {
		return nil, broken("role", pr(events.ProblemRoleNotHeld, "role", c.Role), "user %s does not hold %s there", c.UserID, c.Role)
	}
	return []events.Payload{events.UserRoleRevokedData{UserID: c.UserID, Role: c.Role, UnitID: c.UnitID, Reason: c.Reason}}, nil
}

// decideIssueToken needs x.tokenHash, the hash of the token handed out.
func decideIssueToken(s userState, c events.IssueToken, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("user", c.UserID)
	}
	if _, dup := s.tokens[c.TokenID]; dup {
		return nil, duplicate("token_id", c.TokenID, "token %s already exists", c.TokenID)
	}
	if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(x.now) {
		return nil, broken("expires_at", pr(events.ProblemInPast), "must be in the future")
	}
	if !events.ValidSHA256(x.tokenHash) {
		return nil, events.Errorf(events.CodeInternal, "issue token: no token hash")
	}
	return []events.Payload{events.UserTokenIssuedData{
		UserID: c.UserID, TokenID: c.TokenID, SHA256: x.tokenHash, Label: c.Label, ExpiresAt: c.ExpiresAt.UTC(),
	}}, nil
}

func decideRevokeToken(s userState, c events.RevokeToken, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("user", c.UserID)
	}
	revoked, ok := s.tokens[c.TokenID]
	if !ok {
		return nil, broken("token_id", pr(events.ProblemUnknownToken, "token", c.TokenID), "user %s has no token %s", c.UserID, c.TokenID)
	}
	if revoked {
		return nil, broken("token_id", pr(events.ProblemTokenRevoked, "token", c.TokenID), "token %s is already revoked", c.TokenID)
	}
	return []events.Payload{events.UserTokenRevokedData{UserID: c.UserID, TokenID: c.TokenID, Reason: c.Reason}}, nil
}
