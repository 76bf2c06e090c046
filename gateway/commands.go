package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/services/natsx"
)

// commandResult is the reply to every command: where its events landed.
// Position is also sent as the header X-Rectify-Position; pass it back as
// min_position to read your own write.
type commandResult struct {
	// ID is the aggregate's id, given or generated.
	ID     string `json:"id"`
	Stream string `json:"stream"`
	// Revision is the stream's revision after the command: the value to
	// send as expected_revision next time.
	Revision uint64 `json:"revision"`
	Position uint64 `json:"position"`
	Events   int    `json:"events"`
	// Extra carries ids the command side generated (measure_id,
	// evidence_id, activity_id, token_id) and, for a new token only,
	// "token": shown this once.
	Extra map[string]string `json:"extra,omitempty"`
	// Detail is a bulk command's account of what it did (the carry-over
	// of a cycle: the items moved, or that would move).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// need is what a caller must hold for the gateway to send a command at
// all. It mirrors the permission table of the command side
// (services/authz.go) coarsely, without the unit tree: a caller without any of the
// roles anywhere is refused here, everyone else is left to the command
// side, which decides with the unit tree. So the gateway only ever refuses
// what the command side would refuse too, and never allows more.
type need struct {
	roles []string
	// org: the roles are needed on the whole organisation.
	org bool
	// self names the JSON field holding a user id; a caller acting on
	// their own account needs no role.
	self string
}

var (
	needEditor   = need{roles: []string{events.RoleEditor, events.RoleAdmin}}
	needReviewer = need{roles: []string{events.RoleReviewer, events.RoleAdmin}}
	needAdmin    = need{roles: []string{events.RoleAdmin}}
)

// commandNeeds has an entry for every command; a test checks that.
var commandNeeds = map[string]need{
	"item.raise":              needEditor,
	"item.assign":             needEditor,
	"item.plan_measure":       needEditor,
	"item.complete_measure":   needEditor,
	"item.report_progress":    needEditor,
	"item.attach_evidence":    needEditor,
	"item.submit":             needEditor,
	"item.verify":             needReviewer,
	"item.reject":             needReviewer,
	"item.reopen":             needReviewer,
	"item.change_deadline":    needAdmin,
	"item.carry_over":         needAdmin,
	"item.withdraw":           needAdmin,
	"commitment.make":         needAdmin,
	"commitment.revise":       needAdmin,
	"commitment.end":          needAdmin,
	"commitment.log_activity": needEditor,
	"cycle.open":              {roles: []string{events.RoleAdmin}, org: true},
	"cycle.close":             {roles: []string{events.RoleAdmin}, org: true},
	"cycle.carry_over":        {roles: []string{events.RoleAdmin}, org: true},
	"unit.register":           needAdmin,
	"unit.rename":             needAdmin,
	"unit.move":               needAdmin,
	"unit.retire":             needAdmin,
	"user.create":             needAdmin,
	"user.grant_role":         needAdmin,
	"user.revoke_role":        needAdmin,
	"user.issue_token":        needAdmin,
	"user.revoke_token":       {roles: []string{events.RoleAdmin}, self: "user_id"},
	// Rule sets and published results are the whole organisation's.
	"ruleset.draft":      {roles: []string{events.RoleAdmin}, org: true},
	"ruleset.revise":     {roles: []string{events.RoleAdmin}, org: true},
	"ruleset.publish":    {roles: []string{events.RoleAdmin}, org: true},
	"assessment.publish": {roles: []string{events.RoleAdmin}, org: true},
	// An import needs what its entries' commands need on their units
	// (editor for items, admin for commitments): an editor may try.
	"report.import": needEditor,
}

// precheck refuses a command the caller cannot possibly be allowed, with
// CodeForbidden naming the roles needed. subject is the user the command
// concerns, for commands a user may issue about themself.
func precheck(p Principal, name, subject string) error {
	n, ok := commandNeeds[name]
	if !ok {
		return events.Errorf(events.CodeInternal, "no permission entry for command %s", name)
	}
	if n.self != "" && subject != "" && subject == p.UserID {
		return nil
	}
	if n.org {
		if p.hasOrgRole(n.roles...) {
			return nil
		}
		return events.Errorf(events.CodeForbidden, "%s may not %s: needs role %s on the whole organisation",
			p.UserID, name, strings.Join(n.roles, " or "))
	}
	if p.hasRole(n.roles...) {
		return nil
	}
	return events.Errorf(events.CodeForbidden, "%s may not %s: needs role %s on the unit concerned or a unit above it",
		p.UserID, name, strings.Join(n.roles, " or "))
}

// commandHandler serves a command route: JSON body, path ids filled in,
// checked here field by field, then sent to the command side.
func (s *Server) commandHandler(rt *route) gin.HandlerFunc {
	name := rt.command.CommandName()
	selfField := commandNeeds[name].self
	return func(c *gin.Context) {
		p := principalOf(c)
		if err := precheck(p, name, pathValue(c, rt, selfField)); err != nil {
			s.writeError(c, err)
			return
		}
		body, err := readJSONObject(c, s.cfg.MaxBodyBytes)
		if err != nil {
			s.writeError(c, err)
			return
		}
		if err := bindPathFields(c, rt, body); err != nil {
			s.writeError(c, err)
			return
		}
		data, err := json.Marshal(body)
		if err != nil {
			s.writeError(c, events.Wrap(events.CodeInternal, err, "encode command"))
			return
		}
		// The command side validates again; checking here answers at once
		// and names every bad field.
		if _, err := events.DecodeCommand(name, data); err != nil {
			s.writeError(c, err)
			return
		}
		rep, ok := s.send(c, name, data)
		if !ok {
			return
		}
		s.replyCommand(c, rt, rep, nil)
	}
}

// pathValue is the path parameter bound to the JSON field, or "".
func pathValue(c *gin.Context, rt *route, field string) string {
	for param, f := range rt.bind {
		if f == field && field != "" {
			return c.Param(param)
		}
	}
	return ""
}

// bindPathFields puts the ids of the path into the command body. A body
// that names the same field with another value is CodeInvalid.
func bindPathFields(c *gin.Context, rt *route, body map[string]json.RawMessage) error {
	var v events.Validator
	params := make([]string, 0, len(rt.bind))
	for param := range rt.bind {
		params = append(params, param)
	}
	slices.Sort(params)
	for _, param := range params {
		field := rt.bind[param]
		val := c.Param(param)
		if raw, ok := body[field]; ok {
			var given string
			if json.Unmarshal(raw, &given) != nil || given != val {
				v.Add(field, "must be the id in the path ("+val+") or left out")
				continue
			}
		}
		b, _ := json.Marshal(val)
		body[field] = b
	}
	return v.Err()
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 200

// badIdempotencyKey is the problem of an Idempotency-Key header too long
// or not printable ASCII.
func badIdempotencyKey() error {
	return events.InvalidField(events.Fault("Idempotency-Key", events.ProblemTooLong,
		fmt.Sprintf("must be at most %d printable ASCII characters", maxIdempotencyKey), "max", strconv.Itoa(maxIdempotencyKey)))
}

// send sends one command with the caller as actor and the request's
// Idempotency-Key, and writes the error reply when it fails.
func (s *Server) send(c *gin.Context, name string, data []byte) (natsx.CommandReply, bool) {
	key := c.GetHeader("Idempotency-Key")
	if len(key) > maxIdempotencyKey || !printableASCII(key) {
		s.writeError(c, badIdempotencyKey())
		return natsx.CommandReply{}, false
	}
	rep, err := natsx.SendCommand(c.Request.Context(), s.nc, name, natsx.CommandRequest{
		Actor:          principalOf(c).UserID,
		CorrelationID:  requestID(c),
		IdempotencyKey: key,
		Command:        data,
	})
	s.metrics.observeCommand(name, err)
	if err != nil {
		s.writeError(c, err)
		return natsx.CommandReply{}, false
	}
	return rep, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// replyCommand writes the reply of a command that succeeded: 201 with a
// Location for a new aggregate, 200 otherwise, the position in a header.
// extra, when not nil, is sent instead of the plain result.
func (s *Server) replyCommand(c *gin.Context, rt *route, rep natsx.CommandReply, extra any) {
	c.Header(headerPosition, strconv.FormatUint(rep.Position, 10))
	status := http.StatusOK
	if rt.created {
		status = http.StatusCreated
		if !strings.Contains(rt.path, ":") && rep.ID != "" {
			c.Header("Location", rt.path+"/"+rep.ID)
		}
	}
	if extra != nil {
		c.JSON(status, extra)
		return
	}
	c.JSON(status, resultOf(rep))
}

func resultOf(rep natsx.CommandReply) commandResult {
	return commandResult{ID: rep.ID, Stream: rep.Stream, Revision: rep.Revision, Position: rep.Position, Events: rep.Events, Extra: rep.Extra, Detail: rep.Detail}
}

// Headers of the API.
const (
	// headerPosition carries the $all position a command wrote, or the
	// view position a query answer reflects.
	headerPosition = "X-Rectify-Position"
	// headerMinPosition asks a query to wait until its view has this
	// position (like ?min_position=).
	headerMinPosition = "X-Rectify-Min-Position"
)
