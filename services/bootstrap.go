package services

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

// AdminUserID is the id of the first administrator, created by Bootstrap.
const AdminUserID = "admin"

// Bootstrap makes a fresh installation usable: when no user "admin" exists
// it creates one named adminName, with role admin on the whole organisation
// and a token that does not expire, in one atomic append by the system
// actor, and returns the token text (shown this once; only its hash is
// stored) with created true. When "admin" exists already it returns "",
// false and nil, whoever created it, so it is safe to call on every start,
// also from several processes at once.
//
// Errors: CodeInvalid for a bad adminName, the store's codes otherwise.
func (s *Service) Bootstrap(ctx context.Context, adminName string) (token string, created bool, err error) {
	if strings.TrimSpace(adminName) == "" {
		adminName = "管理员"
	}
	if err := (events.CreateUser{UserID: AdminUserID, Name: adminName}).Validate(); err != nil {
		return "", false, err
	}
	stream := events.UserStream(AdminUserID)
	h, err := s.dir.load(ctx, stream)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	if h.exists() {
		return "", false, nil
	}
	token, hash, err := newToken()
	if err != nil {
		return "", false, err
	}
	ps := []events.Payload{
		events.UserCreatedData{UserID: AdminUserID, Name: adminName},
		events.UserRoleGrantedData{UserID: AdminUserID, Role: events.RoleAdmin, UnitID: orgScope},
		events.UserTokenIssuedData{UserID: AdminUserID, TokenID: "bootstrap", SHA256: hash, Label: "bootstrap"},
	}
	now := s.now()
	correlation := uuid.NewString()
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		if evs[i], err = events.New(p, events.Meta{
			ID: uuid.NewString(), Stream: stream, Actor: events.SystemActor + ":bootstrap", Time: now,
			CorrelationID: correlation, CausationID: correlation,
		}); err != nil {
			return "", false, err
		}
	}
	if _, err := s.store.Append(ctx, stream, eventstore.NoStream, evs...); err != nil {
		if events.ErrorCode(err) == events.CodeConflict {
			// Another process bootstrapped first; its admin stands.
			return "", false, nil
		}
		return "", false, fmt.Errorf("bootstrap: append %s: %w", stream, err)
	}
	return token, true, nil
}
