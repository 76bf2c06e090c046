package services

import (
	"context"
	"slices"
	"strings"

	"rectify/events"
)

// Authorization. The command side is the authority on who may do what; the
// gateway checks too, but only to answer early.
//
// A role is granted on a unit and covers that unit and its whole subtree;
// granted on the empty unit id it covers the whole organisation. The unit
// a command concerns is the item's or commitment's current unit, the unit
// named in the command, or the organisation:
//
//	command                                   roles            on
//	----------------------------------------  ---------------  ------------------------------------
//	item.raise                                editor, admin    the command's unit_id
//	item.assign                               editor, admin    the item's unit and the new unit_id
//	item.plan_measure, item.complete_measure  editor, admin    the item's unit
//	item.report_progress, item.attach_evidence
//	item.submit
//	item.verify, item.reject, item.reopen     reviewer, admin  the item's unit
//	item.change_deadline, item.carry_over     admin            the item's unit
//	item.withdraw
//	commitment.make                           admin            the command's unit_id
//	commitment.revise, commitment.end         admin            the commitment's unit
//	commitment.log_activity                   editor, admin    the commitment's unit
//	cycle.open, cycle.close                   admin            the whole organisation
//	cycle.carry_over                          admin            the whole organisation
//	ruleset.draft, ruleset.revise             admin            the whole organisation
//	ruleset.publish, assessment.publish
//	unit.register                             admin            the parent (a root unit: organisation)
//	unit.rename, unit.retire                  admin            the unit
//	unit.move                                 admin            the unit and the new parent
//	user.create                               admin            any unit
//	user.grant_role, user.revoke_role         admin            the role's unit_id
//	user.issue_token                          admin            every scope the user holds a role on
//	user.revoke_token                         admin, or the user themself, as for issue_token
//	report.import                             what each entry's commands need, on the entry's unit:
//	                                          editor or admin for an item (raise, assign, measures),
//	                                          admin for a commitment; all checked before any is written
//
// An import asks no role of its own: it never lets anyone write what they
// could not write command by command, and asks no more than that, so a
// unit's editor can import the problems of their unit, and commitments
// stay an administrator's, as commitment.make.
//
// Viewers may do nothing here. The system actor ("system", "system:<name>")
// may do everything. An actor that is not a known user is CodeUnauthorized;
// a known user without the role is CodeForbidden, with a message naming the
// roles needed and the unit.

// Role sets of the matrix above.
var (
	editorRoles   = []string{events.RoleEditor, events.RoleAdmin}
	reviewerRoles = []string{events.RoleReviewer, events.RoleAdmin}
	adminRoles    = []string{events.RoleAdmin}
)

// orgScope stands for "the whole organisation" where a unit id is expected.
const orgScope = ""

// principal is the actor of a command with the roles it holds.
type principal struct {
	id     string
	system bool
	grants []grant
}

// principal resolves actor: the system actor, or a user that exists.
// Anything else is CodeUnauthorized.
func (s *Service) principal(ctx context.Context, actor string) (principal, error) {
	if events.IsSystemActor(actor) {
		return principal{id: actor, system: true}, nil
	}
	if !events.ValidID(actor) {
		return principal{}, events.Errorf(events.CodeUnauthorized, "unknown actor")
	}
	u, err := s.dir.user(ctx, actor)
	if err != nil {
		return principal{}, err
	}
	if !u.exists {
		return principal{}, events.Errorf(events.CodeUnauthorized, "unknown actor %s", actor)
	}
	return principal{id: actor, grants: u.grants}, nil
}

// covers reports whether p holds one of roles on a scope that covers the
// unit whose line (the unit and its ancestors) is given, or on the whole
// organisation.
func (p principal) covers(roles []string, line []string) bool {
	for _, g := range p.grants {
		if slices.Contains(roles, g.role) && (g.unit == orgScope || slices.Contains(line, g.unit)) {
			return true
		}
	}
	return false
}

// authorize checks that who holds one of roles over every unit in units
// (orgScope: over the whole organisation). what names the action for the
// error message ("verify an item").
func (s *Service) authorize(ctx context.Context, who principal, roles []string, what string, units ...string) error {
	if who.system {
		return nil
	}
	for _, unit := range units {
		line := []string{}
		if unit != orgScope {
			var err error
			if line, err = s.dir.line(ctx, unit); err != nil {
				return err
			}
		}
		if !who.covers(roles, line) {
			return forbidden(who, roles, what, unit)
		}
	}
	return nil
}

func forbidden(who principal, roles []string, what, unit string) error {
	where := "the whole organisation"
	if unit != orgScope {
		where = "unit " + unit + " or a unit above it"
	}
	return events.Errorf(events.CodeForbidden, "%s may not %s: needs role %s on %s",
		who.id, what, strings.Join(roles, " or "), where)
}

// authorizeAnyAdmin checks that who is an admin somewhere.
func authorizeAnyAdmin(who principal, what string) error {
	if who.system {
		return nil
	}
	for _, g := range who.grants {
		if g.role == events.RoleAdmin {
			return nil
		}
	}
	return events.Errorf(events.CodeForbidden, "%s may not %s: needs role admin on some unit", who.id, what)
}

// authorizeOverUser checks that who is an admin over every scope target
// holds a role on, so that nobody can hand out credentials worth more than
// their own. A user without roles needs an admin anywhere.
func (s *Service) authorizeOverUser(ctx context.Context, who principal, target userState, what string) error {
	if len(target.grants) == 0 {
		return authorizeAnyAdmin(who, what)
	}
	scopes := make([]string, 0, len(target.grants))
	for _, g := range target.grants {
		scopes = append(scopes, g.unit)
	}
	return s.authorize(ctx, who, adminRoles, what, scopes...)
}
