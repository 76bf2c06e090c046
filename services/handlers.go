package services

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"rectify/events"
)

// retryable says which commands are decided again when their append loses
// a race with another writer of the same stream (and the command did not
// pin ExpectedRevision). Deciding again re-checks every rule against the
// newer state, so a command that no longer applies fails then (with
// CodeConflict and the rule that fails).
//
// Commands that add something (progress, a measure, evidence, an activity,
// a role, a token) or move an item along its lifecycle retry: their meaning
// does not depend on the exact state the issuer saw. Commands that replace
// a value the issuer saw (deadline, assignment, name, parent, a
// commitment's terms) do not: after a concurrent change of that value the
// issuer should look again, so they return the conflict.
var retryable = map[string]bool{
	events.RaiseItem{}.CommandName():        true,
	events.AssignItem{}.CommandName():       false,
	events.PlanMeasure{}.CommandName():      true,
	events.CompleteMeasure{}.CommandName():  true,
	events.ReportProgress{}.CommandName():   true,
	events.AttachEvidence{}.CommandName():   true,
	events.SubmitItem{}.CommandName():       true,
	events.VerifyItem{}.CommandName():       true,
	events.RejectItem{}.CommandName():       true,
	events.ChangeDeadline{}.CommandName():   false,
	events.CarryOverItem{}.CommandName():    true,
	events.WithdrawItem{}.CommandName():     true,
	events.ReopenItem{}.CommandName():       true,
	events.MakeCommitment{}.CommandName():   true,
	events.ReviseCommitment{}.CommandName(): false,
	events.EndCommitment{}.CommandName():    true,
	events.LogActivity{}.CommandName():      true,
	events.OpenCycle{}.CommandName():        true,
	events.CloseCycle{}.CommandName():       true,
	events.CarryOverCycle{}.CommandName():   true, // each item runs as item.carry_over
	events.RegisterUnit{}.CommandName():     true,
	events.RenameUnit{}.CommandName():       false,
	events.MoveUnit{}.CommandName():         false,
	events.RetireUnit{}.CommandName():       true,
	events.CreateUser{}.CommandName():       true,
	events.GrantRole{}.CommandName():        true,
	events.RevokeRole{}.CommandName():       true,
	events.IssueToken{}.CommandName():       true,
	events.RevokeToken{}.CommandName():      true,

	// Rule sets and publications replace or freeze what the issuer saw.
	events.DraftRuleset{}.CommandName():      true,
	events.ReviseRuleset{}.CommandName():     false,
	events.PublishRuleset{}.CommandName():    false,
	events.PublishAssessment{}.CommandName(): false,
}

// handle prepares the job of one command: fills in generated ids and binds
// the loading, authorization and decision it needs. There is one case per
// command.
func (s *Service) handle(ctx context.Context, cmd events.Command, who principal, meta Meta) (job, error) {
	switch c := cmd.(type) {

	// ---- item ----

	case events.RaiseItem:
		if c.ItemID == "" {
			c.ItemID = s.derive(meta, "aggregate")
		}
		return s.itemJob(c.ItemID, nil, c, func(ctx context.Context, st itemState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, editorRoles, "raise an item", c.UnitID); err != nil {
				return nil, err
			}
			var err error
			if x.cycle, err = s.dir.cycle(ctx, c.CycleID); err != nil {
				return nil, err
			}
			if x.unit, err = s.dir.unit(ctx, c.UnitID); err != nil {
				return nil, err
			}
			return decideRaiseItem(st, c, x)
		}), nil

	case events.AssignItem:
		return s.itemJob(c.ItemID, c.ExpectedRevision, c, func(ctx context.Context, st itemState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, editorRoles, "assign an item", st.unitID, c.UnitID); err != nil {
				return nil, err
			}
			var err error
			if x.unit, err = s.dir.unit(ctx, c.UnitID); err != nil {
				return nil, err
			}
			return decideAssignItem(st, c, x)
		}), nil

	case events.PlanMeasure:
		if c.MeasureID == "" {
			c.MeasureID = s.derive(meta, "measure")
		}
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, editorRoles, "plan a measure", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decidePlanMeasure(st, c, x)
		}), nil

	case events.CompleteMeasure:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, editorRoles, "complete a measure", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideCompleteMeasure(st, c, x)
		}), nil

	case events.ReportProgress:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, editorRoles, "report progress", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideReportProgress(st, c, x)
		}), nil

	case events.AttachEvidence:
		if c.EvidenceID == "" {
			c.EvidenceID = s.derive(meta, "evidence")
		}
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, editorRoles, "attach evidence", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideAttachEvidence(st, c, x)
		}), nil

	case events.SubmitItem:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, editorRoles, "submit an item", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideSubmitItem(st, c, x)
		}), nil

	case events.VerifyItem:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, reviewerRoles, "verify an item", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideVerifyItem(st, c, x)
		}), nil

	case events.RejectItem:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, reviewerRoles, "reject an item", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideRejectItem(st, c, x)
		}), nil

	case events.ReopenItem:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, reviewerRoles, "reopen an item", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideReopenItem(st, c, x)
		}), nil

	case events.ChangeDeadline:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, adminRoles, "change a deadline", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideChangeDeadline(st, c, x)
		}), nil

	case events.WithdrawItem:
		return s.itemRule(c.ItemID, c.ExpectedRevision, c, who, adminRoles, "withdraw an item", func(st itemState, x decideContext) ([]events.Payload, error) {
			return decideWithdrawItem(st, c, x)
		}), nil

	case events.CarryOverItem:
		return s.itemJob(c.ItemID, c.ExpectedRevision, c, func(ctx context.Context, st itemState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "carry over an item", st.unitID); err != nil {
				return nil, err
			}
			var err error
			if x.cycle, err = s.dir.cycle(ctx, st.cycleID); err != nil {
				return nil, err
			}
			if x.toCycle, err = s.dir.cycle(ctx, c.ToCycleID); err != nil {
				return nil, err
			}
			return decideCarryOverItem(st, c, x)
		}), nil

	// ---- commitment ----

	case events.MakeCommitment:
		if c.CommitmentID == "" {
			c.CommitmentID = s.derive(meta, "aggregate")
		}
		return s.commitmentJob(c.CommitmentID, nil, c, func(ctx context.Context, st commitmentState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "make a commitment", c.UnitID); err != nil {
				return nil, err
			}
			var err error
			if x.unit, err = s.dir.unit(ctx, c.UnitID); err != nil {
				return nil, err
			}
			if c.CycleID != "" {
				if x.cycle, err = s.dir.cycle(ctx, c.CycleID); err != nil {
					return nil, err
				}
			}
			return decideMakeCommitment(st, c, x)
		}), nil

	case events.ReviseCommitment:
		return s.commitmentRule(c.CommitmentID, c.ExpectedRevision, c, who, adminRoles, "revise a commitment", func(st commitmentState, x decideContext) ([]events.Payload, error) {
			return decideReviseCommitment(st, c, x)
		}), nil

	case events.EndCommitment:
		return s.commitmentRule(c.CommitmentID, c.ExpectedRevision, c, who, adminRoles, "end a commitment", func(st commitmentState, x decideContext) ([]events.Payload, error) {
			return decideEndCommitment(st, c, x)
		}), nil

	case events.LogActivity:
		if c.ActivityID == "" {
			c.ActivityID = s.derive(meta, "activity")
		}
		return s.commitmentRule(c.CommitmentID, c.ExpectedRevision, c, who, editorRoles, "log an activity", func(st commitmentState, x decideContext) ([]events.Payload, error) {
			return decideLogActivity(st, c, x)
		}), nil

	// ---- cycle ----

	case events.OpenCycle:
		if c.CycleID == "" {
			c.CycleID = s.derive(meta, "aggregate")
		}
		return s.simpleJob(events.CycleStream(c.CycleID), c.CycleID, nil, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "open a cycle", orgScope); err != nil {
				return nil, err
			}
			return decideOpenCycle(fold(h, evolveCycle), c, x)
		}), nil

	case events.CloseCycle:
		return s.simpleJob(events.CycleStream(c.CycleID), c.CycleID, c.ExpectedRevision, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "close a cycle", orgScope); err != nil {
				return nil, err
			}
			return decideCloseCycle(fold(h, evolveCycle), c, x)
		}), nil

	// ---- unit ----

	case events.RegisterUnit:
		if c.UnitID == "" {
			c.UnitID = s.derive(meta, "aggregate")
		}
		return s.simpleJob(events.UnitStream(c.UnitID), c.UnitID, nil, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "register a unit", c.ParentID); err != nil {
				return nil, err
			}
			if c.ParentID != "" {
				var err error
				if x.unit, err = s.dir.unit(ctx, c.ParentID); err != nil {
					return nil, err
				}
			}
			return decideRegisterUnit(fold(h, evolveUnit), c, x)
		}), nil

	case events.RenameUnit:
		return s.unitRule(c.UnitID, c.ExpectedRevision, c, who, "rename a unit", func(st unitState, x decideContext) ([]events.Payload, error) {
			return decideRenameUnit(st, c, x)
		}), nil

	case events.RetireUnit:
		return s.unitRule(c.UnitID, c.ExpectedRevision, c, who, "retire a unit", func(st unitState, x decideContext) ([]events.Payload, error) {
			return decideRetireUnit(st, c, x)
		}), nil

	case events.MoveUnit:
		return s.simpleJob(events.UnitStream(c.UnitID), c.UnitID, c.ExpectedRevision, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			st := fold(h, evolveUnit)
			if !st.exists {
				return nil, notFound("unit", c.UnitID)
			}
			if err := s.authorize(ctx, who, adminRoles, "move a unit", c.UnitID, c.ParentID); err != nil {
				return nil, err
			}
			if c.ParentID != "" {
				var err error
				if x.unit, err = s.dir.unit(ctx, c.ParentID); err != nil {
					return nil, err
				}
				if x.parentLine, err = s.dir.line(ctx, c.ParentID); err != nil {
					return nil, err
				}
			}
			return decideMoveUnit(st, c, x)
		}), nil

	// ---- user ----

	case events.CreateUser:
		if c.UserID == "" {
			c.UserID = s.derive(meta, "aggregate")
		}
		return s.simpleJob(events.UserStream(c.UserID), c.UserID, nil, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := authorizeAnyAdmin(who, "create a user"); err != nil {
				return nil, err
			}
			return decideCreateUser(fold(h, evolveUser), c, x)
		}), nil

	case events.GrantRole:
		return s.userJob(c.UserID, c.ExpectedRevision, c, func(ctx context.Context, st userState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "grant a role", c.UnitID); err != nil {
				return nil, err
			}
			if c.UnitID != "" {
				var err error
				if x.unit, err = s.dir.unit(ctx, c.UnitID); err != nil {
					return nil, err
				}
			}
			return decideGrantRole(st, c, x)
		}), nil

	case events.RevokeRole:
		return s.userJob(c.UserID, c.ExpectedRevision, c, func(ctx context.Context, st userState, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "revoke a role", c.UnitID); err != nil {
				return nil, err
			}
			return decideRevokeRole(st, c, x)
		}), nil

	case events.IssueToken:
		if c.TokenID == "" {
			c.TokenID = s.derive(meta, "token")
		}
		token, hash, err := newToken()
		if err != nil {
			return job{}, err
		}
		j := s.userJob(c.UserID, c.ExpectedRevision, c, func(ctx context.Context, st userState, x decideContext) ([]events.Payload, error) {
			if err := s.authorizeOverUser(ctx, who, st, "issue a token"); err != nil {
				return nil, err
			}
			x.tokenHash = hash
			return decideIssueToken(st, c, x)
		})
		j.extra = map[string]string{"token": token}
		return j, nil

	// ---- assessment ----

	case events.DraftRuleset, events.ReviseRuleset, events.PublishRuleset, events.PublishAssessment:
		return s.assessmentJob(c, who, meta)

	case events.RevokeToken:
		return s.userJob(c.UserID, c.ExpectedRevision, c, func(ctx context.Context, st userState, x decideContext) ([]events.Payload, error) {
			if who.id != c.UserID {
				if err := s.authorizeOverUser(ctx, who, st, "revoke a token"); err != nil {
					return nil, err
				}
			}
			return decideRevokeToken(st, c, x)
		}), nil
	}
	return job{}, events.Errorf(events.CodeInvalid, "command %s is not handled here", cmd.CommandName())
}

func (s *Service) simpleJob(stream, id string, pinned *uint64, cmd events.Command, decide func(context.Context, history, decideContext) ([]events.Payload, error)) job {
	return job{stream: stream, id: id, pinned: pinned, retry: retryable[cmd.CommandName()], decide: decide}
}

// itemJob binds a decision on the item id; the item must exist unless the
// command is item.raise.
func (s *Service) itemJob(id string, pinned *uint64, cmd events.Command, decide func(context.Context, itemState, decideContext) ([]events.Payload, error)) job {
	_, creates := cmd.(events.RaiseItem)
	return s.simpleJob(events.ItemStream(id), id, pinned, cmd, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
		st := fold(h, evolveItem)
		if !creates && !st.exists() {
			return nil, notFound("item", id)
		}
		return decide(ctx, st, x)
	})
}

// itemRule is itemJob for commands that need nothing but the item and a
// role over its unit.
func (s *Service) itemRule(id string, pinned *uint64, cmd events.Command, who principal, roles []string, what string, decide func(itemState, decideContext) ([]events.Payload, error)) job {
	return s.itemJob(id, pinned, cmd, func(ctx context.Context, st itemState, x decideContext) ([]events.Payload, error) {
		if err := s.authorize(ctx, who, roles, what, st.unitID); err != nil {
			return nil, err
		}
		return decide(st, x)
	})
}

func (s *Service) commitmentJob(id string, pinned *uint64, cmd events.Command, decide func(context.Context, commitmentState, decideContext) ([]events.Payload, error)) job {
	_, creates := cmd.(events.MakeCommitment)
	return s.simpleJob(events.CommitmentStream(id), id, pinned, cmd, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
		st := fold(h, evolveCommitment)
		if !creates && !st.exists {
			return nil, notFound("commitment", id)
		}
		return decide(ctx, st, x)
	})
}

func (s *Service) commitmentRule(id string, pinned *uint64, cmd events.Command, who principal, roles []string, what string, decide func(commitmentState, decideContext) ([]events.Payload, error)) job {
	return s.commitmentJob(id, pinned, cmd, func(ctx context.Context, st commitmentState, x decideContext) ([]events.Payload, error) {
		if err := s.authorize(ctx, who, roles, what, st.unitID); err != nil {
			return nil, err
		}
		return decide(st, x)
	})
}

// unitRule binds a decision on an existing unit that needs admin over it.
func (s *Service) unitRule(id string, pinned *uint64, cmd events.Command, who principal, what string, decide func(unitState, decideContext) ([]events.Payload, error)) job {
	return s.simpleJob(events.UnitStream(id), id, pinned, cmd, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
		st := fold(h, evolveUnit)
		if !st.exists {
			return nil, notFound("unit", id)
		}
		if err := s.authorize(ctx, who, adminRoles, what, id); err != nil {
			return nil, err
		}
		return decide(st, x)
	})
}

// userJob binds a decision on an existing user.
func (s *Service) userJob(id string, pinned *uint64, cmd events.Command, decide func(context.Context, userState, decideContext) ([]events.Payload, error)) job {
	return s.simpleJob(events.UserStream(id), id, pinned, cmd, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
		st := fold(h, evolveUser)
		if !st.exists {
			return nil, notFound("user", id)
		}
		return decide(ctx, st, x)
	})
}

// newToken returns a fresh API token (events.TokenPrefix and 32 random
// bytes in unpadded base64url) and its events.TokenHash, which is all the
// store ever sees.
func newToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", events.Wrap(events.CodeInternal, err, "generate token")
	}
	token = events.TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, events.TokenHash(token), nil
}
