package services

import (
	"fmt"
	"time"

	"rectify/events"
)

// decideContext is everything a decide function may know besides the state
// of its own aggregate and the command: the clock, the actor, and the state
// of the other aggregates the command refers to, loaded by the handler
// before deciding. Decide functions read it and do no I/O.
type decideContext struct {
	now   time.Time
	today events.Date
	actor string

	// cycle is the cycle the command refers to: the item's cycle for
	// RaiseItem, the commitment's for MakeCommitment, the cycle an item is
	// carried over from for CarryOverItem.
	cycle cycleState
	// toCycle is the cycle CarryOverItem moves an item into.
	toCycle cycleState
	// unit is the unit the command refers to: the item's or commitment's
	// unit for RaiseItem, AssignItem and MakeCommitment, the parent for
	// RegisterUnit and MoveUnit, the scope of GrantRole.
	unit unitState
	// parentLine is the new parent of MoveUnit followed by its ancestors,
	// nearest first.
	parentLine []string
	// tokenHash is the hex SHA-256 of the token IssueToken hands out.
	tokenHash string
}

// problem is the code of a broken rule with the parameters its English
// text mentions (name, value pairs), for clients that word it themselves.
type problem struct {
	code   string
	params []string
}

func pr(code string, params ...string) problem { return problem{code, params} }

// broken reports a domain rule the command breaks: CodeInvalid, with the
// JSON field it concerns and the problem (its code, text and parameters)
// in Fields, like a shape error.
func broken(field string, p problem, format string, args ...any) *events.Error {
	text := fmt.Sprintf(format, args...)
	e := events.InvalidField(events.Fault(field, p.code, text, p.params...))
	// The message alone must say it too: not every client shows fields.
	e.Message = "not allowed: " + field + ": " + text
	return e
}

// duplicate reports an id that is already taken: CodeConflict, with the
// problem code events.ProblemExists.
func duplicate(field, id, format string, args ...any) *events.Error {
	e := events.InvalidField(events.Fault(field, events.ProblemExists, fmt.Sprintf(format, args...), "id", id))
	e.Code, e.Message = events.CodeConflict, "already exists"
	return e
}

// notFound reports a command addressed to an aggregate that does not exist.
func notFound(kind, id string) *events.Error {
	return events.Errorf(events.CodeNotFound, "%s %s not found", kind, id)
}

// history is the stored stream of one aggregate, decoded.
type history struct {
	events   []events.Event
	payloads []events.Payload
}

// exists reports whether the stream has any event.
func (h history) exists() bool { return len(h.events) > 0 }

// revision is the revision of the last event; only meaningful if exists.
func (h history) revision() uint64 { return h.events[len(h.events)-1].Revision }

// fold applies every payload of h to a zero state.
func fold[S any](h history, evolve func(S, events.Payload) S) S {
	var s S
	for _, p := range h.payloads {
		s = evolve(s, p)
	}
	return s
}

// orToday returns d, or today when d is zero.
func orToday(d, today events.Date) events.Date {
	if d.IsZero() {
		return today
	}
	return d
}
