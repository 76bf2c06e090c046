// Package services is rectify's command side: it turns commands into events.
//
// Each aggregate (item, unit, cycle, commitment, user) is a state folded
// from its stream by a pure evolve function, and a set of pure decide
// functions that enforce the rules and return the events a command
// produces. Service.Execute runs one handler per command: load the stream,
// fold it, authorize, decide, append with the exact revision that was read.
package services

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/uuid"

	"rectify/events"
	"rectify/services/eventstore"
)

// Options configures a Service. The zero value is usable.
type Options struct {
	// Now is the clock: event times and "today" come from it. Default
	// time.Now.
	Now func() time.Time
	// Location is where "today" is decided (civil dates: deadlines,
	// activity days). Default UTC+8, China Standard Time.
	Location *time.Location
	// MaxAttempts bounds how often a command is decided again after its
	// append lost a race with another writer of the same stream. Default 10.
	MaxAttempts int
}

// Meta is who issues a command and how it relates to others.
type Meta struct {
	// Actor is the user id issuing the command, or the system actor.
	Actor string
	// CorrelationID ties together everything one user request causes;
	// default: a fresh id per command.
	CorrelationID string
	// CausationID is the id of the message that caused the command;
	// default: the correlation id.
	CausationID string
	// IdempotencyKey, when set, makes the command safe to retry: event ids
	// (and a generated aggregate id) derive from (actor, key), and a retry
	// whose events are already stored gets the first Result again and
	// writes nothing.
	IdempotencyKey string
}

// Result is the reply to a command that succeeded.
type Result struct {
	// Stream is the stream written to, "item-<id>".
	Stream string `json:"stream"`
	// ID is the id of the aggregate (given or generated).
	ID string `json:"id"`
	// Revision is the stream revision of the last event written: the value
	// a client passes back as expected_revision.
	Revision uint64 `json:"revision"`
	// Position is the $all position of the last event written; a query may
	// wait until a view has reached it.
	Position uint64 `json:"position"`
	// Events is the number of events the command wrote.
	Events int `json:"events"`
	// Extra carries ids the command side generated ("measure_id",
	// "evidence_id", "activity_id", "token_id") and, for user.issue_token
	// only, "token": the token text, shown this once and never stored (so
	// an idempotent replay of user.issue_token cannot show it again).
	Extra map[string]string `json:"extra,omitempty"`
	// Detail is a bulk command's account of what it did
	// (cycle.carry_over: events.CycleCarryOver); nil for the others.
	Detail any `json:"detail,omitempty"`
}

// Service executes commands against an event store. It is safe for
// concurrent use; it keeps no state of its own besides the store.
type Service struct {
	store       eventstore.Store
	dir         directory
	now         func() time.Time
	loc         *time.Location
	maxAttempts int
}

// New returns a Service writing to store.
func New(store eventstore.Store, opts Options) *Service {
	s := &Service{store: store, dir: newDirectory(store), now: opts.Now, loc: opts.Location, maxAttempts: opts.MaxAttempts}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*60*60)
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = 10
	}
	return s
}

// Execute validates cmd, checks that meta.Actor may issue it, decides it
// against the current state and appends the resulting events atomically.
//
// Errors are *events.Error: CodeInvalid for a malformed command or a broken
// rule (Fields names the JSON field), CodeNotFound for a command addressed
// to an aggregate that does not exist, CodeUnauthorized for an unknown
// actor, CodeForbidden for an actor without the role, CodeConflict for an
// id that is taken, a stale ExpectedRevision, or a command that no longer
// applies after a concurrent change (Fields then says why), and the
// store's codes (CodeUnavailable, CodeInternal) otherwise.
//
// A command that does not pin ExpectedRevision and loses a race with
// another writer is decided again against the newer state, up to
// Options.MaxAttempts times, when it still makes sense then; see retryable.
func (s *Service) Execute(ctx context.Context, cmd events.Command, meta Meta) (Result, error) {
	if v := reflect.ValueOf(cmd); v.Kind() == reflect.Pointer {
		if v.IsNil() {
			cmd = nil
		} else {
			cmd, _ = v.Elem().Interface().(events.Command)
		}
	}
	if cmd == nil {
		return Result{}, events.Errorf(events.CodeInvalid, "no command")
	}
	if err := cmd.Validate(); err != nil {
		return Result{}, err
	}
	if meta.Actor == "" {
		return Result{}, events.Errorf(events.CodeUnauthorized, "no actor")
	}
	who, err := s.principal(ctx, meta.Actor)
	if err != nil {
		return Result{}, err
	}
	if meta.CorrelationID == "" {
		meta.CorrelationID = s.derive(meta, "correlation")
	}
	if meta.CausationID == "" {
		meta.CausationID = meta.CorrelationID
	}
	if c, ok := cmd.(events.CarryOverCycle); ok {
		// Many streams, one job per item: see carryOverCycle.
		return s.carryOverCycle(ctx, c, who, meta)
	}
	if c, ok := cmd.(events.ImportReport); ok {
		// Many streams, one job per entry: see importReport.
		return s.importReport(ctx, c, who, meta)
	}
	j, err := s.handle(ctx, cmd, who, meta)
	if err != nil {
		return Result{}, err
	}
	r, err := s.run(ctx, meta, j)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", cmd.CommandName(), err)
	}
	return r, nil
}

// job is one command made ready to run: the stream it writes, how to decide
// against that stream's history, and how to retry.
type job struct {
	stream string
	id     string
	// pinned is the command's ExpectedRevision: the stream must be at it,
	// and a conflict is returned, never retried.
	pinned *uint64
	// retry allows deciding again after losing a race; see retryable.
	retry bool
	// decide loads whatever else it needs, authorizes and decides. It runs
	// once per attempt, against the history just read.
	decide func(ctx context.Context, h history, x decideContext) ([]events.Payload, error)
	// extra adds to Result.Extra of a fresh (not replayed) result.
	extra map[string]string
}

// run loads, decides and appends, retrying on conflict as the job allows.
func (s *Service) run(ctx context.Context, meta Meta, j job) (Result, error) {
	var lastErr error
	var lastLen int // events in the stream when the lost append was decided
	for attempt := 1; attempt <= s.maxAttempts; attempt++ {
		h, err := s.dir.load(ctx, j.stream)
		if err != nil {
			return Result{}, err
		}
		if r, ok := s.replay(meta, j, h); ok {
			return r, nil
		}
		if lastErr != nil {
			switch {
			case meta.IdempotencyKey != "" && len(h.events) == lastLen:
				// The stream did not move, so the append was refused for its
				// event ids: the idempotency key went to another command.
				return Result{}, events.Wrap(events.CodeConflict, lastErr, "idempotency key already used for another command")
			case !j.retry:
				// The race was lost and the command is not one to decide
				// again against state its issuer has not seen.
				return Result{}, events.Wrap(events.CodeConflict, lastErr, "%s changed while the command was decided; look again and retry", j.stream)
			}
		}
		if j.pinned != nil && (!h.exists() || h.revision() != *j.pinned) {
			return Result{}, staleRevision(j, h)
		}

		now := s.now()
		x := decideContext{now: now, today: events.DateFrom(now, s.loc), actor: meta.Actor}
		ps, err := j.decide(ctx, h, x)
		if err != nil {
			if lastErr != nil && events.ErrorCode(err) == events.CodeInvalid {
				// The command was fine when issued; a concurrent change made
				// it moot. Say so, keeping the rule that now fails.
				return Result{}, changedUnderneath(j, err)
			}
			return Result{}, err
		}
		if len(ps) == 0 {
			return Result{}, events.Errorf(events.CodeInternal, "%s: decided no events", j.stream)
		}

		evs := make([]events.Event, len(ps))
		for i, p := range ps {
			evs[i], err = events.New(p, events.Meta{
				ID: s.eventID(meta, i), Stream: j.stream, Actor: meta.Actor, Time: now,
				CorrelationID: meta.CorrelationID, CausationID: meta.CausationID,
			})
			if err != nil {
				return Result{}, err
			}
		}
		expected := eventstore.NoStream
		if h.exists() {
			expected = eventstore.Exact(h.revision())
		}
		ar, err := s.store.Append(ctx, j.stream, expected, evs...)
		if err == nil {
			r := Result{Stream: j.stream, ID: j.id, Revision: ar.NextExpected, Position: ar.Position, Events: len(evs), Extra: extraOf(ps)}
			for k, v := range j.extra {
				if r.Extra == nil {
					r.Extra = map[string]string{}
				}
				r.Extra[k] = v
			}
			return r, nil
		}
		if events.ErrorCode(err) != events.CodeConflict || j.pinned != nil {
			return Result{}, fmt.Errorf("append %s: %w", j.stream, err)
		}
		lastErr = fmt.Errorf("append %s: %w", j.stream, err)
		lastLen = len(h.events)
		// Next round: a retry of this very command may have won the race
		// (replay), or the stream moved on (decide again if allowed).
	}
	return Result{}, events.Wrap(events.CodeConflict, lastErr, "%s is changing too fast; try again", j.stream)
}

func staleRevision(j job, h history) error {
	at := "does not exist"
	if h.exists() {
		at = fmt.Sprintf("is at revision %d", h.revision())
	}
	return &events.Error{
		Code:    events.CodeConflict,
		Message: fmt.Sprintf("%s %s, expected revision %d", j.stream, at, *j.pinned),
		Fields:  []events.FieldError{events.Fault("expected_revision", events.ProblemStaleRevision, "is not the current revision")},
	}
}

func changedUnderneath(j job, err error) error {
	e := &events.Error{Code: events.CodeConflict, Message: j.stream + " changed concurrently and the command no longer applies"}
	var rule *events.Error
	if errors.As(err, &rule) {
		e.Fields = rule.Fields
	}
	return e
}

// idempotencySpace is the UUID namespace of ids derived from idempotency
// keys.
var idempotencySpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:rectify:idempotency"))

// derive returns an id for purpose: a UUID v5 of (actor, key, purpose)
// when the command carries an idempotency key, a time-ordered UUID v7
// otherwise. Time-ordered ids land at the end of the store's unique id
// index instead of on a random page of it, which more than doubles batched
// append throughput (see the embedded store's benchmark).
func (s *Service) derive(meta Meta, purpose string) string {
	if meta.IdempotencyKey == "" {
		if id, err := uuid.NewV7(); err == nil {
			return id.String()
		}
		return uuid.NewString()
	}
	name := meta.Actor + "\x00" + meta.IdempotencyKey + "\x00" + purpose
	return uuid.NewSHA1(idempotencySpace, []byte(name)).String()
}

func (s *Service) eventID(meta Meta, i int) string {
	return s.derive(meta, fmt.Sprintf("event/%d", i))
}

// replay finds the events a first run of this command (same actor, same
// idempotency key) wrote to h, and rebuilds that run's Result from them.
func (s *Service) replay(meta Meta, j job, h history) (Result, bool) {
	if meta.IdempotencyKey == "" {
		return Result{}, false
	}
	first := s.eventID(meta, 0)
	for k, e := range h.events {
		if e.ID != first {
			continue
		}
		n := 1
		for k+n < len(h.events) && h.events[k+n].ID == s.eventID(meta, n) {
			n++
		}
		last := h.events[k+n-1]
		return Result{
			Stream: j.stream, ID: j.id, Revision: last.Revision, Position: last.Position,
			Events: n, Extra: extraOf(h.payloads[k : k+n]),
		}, true
	}
	return Result{}, false
}

// extraOf lists the ids of sub-entities the payloads created, for
// Result.Extra.
func extraOf(ps []events.Payload) map[string]string {
	var m map[string]string
	set := func(k, v string) {
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	for _, p := range ps {
		switch e := p.(type) {
		case events.ItemMeasurePlannedData:
			set("measure_id", e.MeasureID)
		case events.ItemEvidenceAttachedData:
			set("evidence_id", e.EvidenceID)
		case events.CommitmentActivityLoggedData:
			set("activity_id", e.ActivityID)
		case events.UserTokenIssuedData:
			set("token_id", e.TokenID)
		}
	}
	return m
}
