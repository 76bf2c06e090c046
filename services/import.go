package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"rectify/events"
)

// importEntry is one entry of a report import made ready to run: an item
// (with its assignment and measures) or a commitment, as a job on its own
// stream under an idempotency key of its own.
type importEntry struct {
	key  string
	meta Meta
	job  job
	// ids maps the entry's key, and its measures' keys, to the ids they
	// create.
	ids map[string]string
}

// importReport runs events.ImportReport in two passes.
//
// The first decides every entry against the current state, writing
// nothing: a review that breaks any rule, names a unit the actor holds no
// role on, or reuses an id comes back as one error naming every entry
// concerned ("p2.unit_id"), and nothing is written.
//
// The second writes the entries one after another, each in one atomic
// append. The store is atomic per stream, not across streams, so an import
// cut off midway (a crash, a timeout, a unit retired meanwhile) has written
// some entries; every entry runs under its own idempotency key derived
// from the import's, so the same import sent again with the same key
// replays the entries already written and writes only the rest. Without a
// key the import's content is the key: the same import never writes
// twice.
//
// The reply's ID is that key, Position the last position written (or
// replayed), Events the count of events, and Extra maps every entry (item,
// measure, commitment) to the id it created.
//
// A dry run (c.DryRun) stops after the first pass: Extra maps every
// entry to the id it would create, and nothing is written.
//
// Roles: each entry needs what its commands need on its unit (editor or
// admin for an item and its measures, admin for a commitment), and all of
// them are checked in the first pass.
func (s *Service) importReport(ctx context.Context, c events.ImportReport, who principal, meta Meta) (Result, error) {
	if meta.IdempotencyKey == "" {
		// A dry run derives the same key, and so the same ids, as the
		// import it tries.
		plain := c
		plain.DryRun = false
		b, err := json.Marshal(plain)
		if err != nil {
			return Result{}, events.Wrap(events.CodeInternal, err, "encode import")
		}
		sum := sha256.Sum256(b)
		meta.IdempotencyKey = "report.import:" + hex.EncodeToString(sum[:16])
	}
	entries := s.importEntries(c, who, meta)

	now := s.now()
	x := decideContext{now: now, today: events.DateFrom(now, s.loc), actor: meta.Actor}
	var refused []error
	for _, e := range entries {
		h, err := s.dir.load(ctx, e.job.stream)
		if err != nil {
			return Result{}, err
		}
		if _, done := s.replay(e.meta, e.job, h); done {
			continue
		}
		if _, err := e.job.decide(ctx, h, x); err != nil {
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return Result{}, importRefused(refused)
	}

	res := Result{ID: meta.IdempotencyKey, Extra: map[string]string{}}
	if c.DryRun {
		for _, e := range entries {
			for k, id := range e.ids {
				res.Extra[k] = id
			}
		}
		return res, nil
	}
	for i, e := range entries {
		r, err := s.run(ctx, e.meta, e.job)
		if err != nil {
			// Say what stands written, in the message the caller sees.
			var ee *events.Error
			if errors.As(inEntry(e.key, err), &ee) {
				ee.Message += fmt.Sprintf(" (%d of %d entries written; send the import again with the same idempotency key to finish it)", i, len(entries))
				return Result{}, ee
			}
			return Result{}, fmt.Errorf("%s (%d of %d entries written): %w", e.key, i, len(entries), err)
		}
		res.Events += r.Events
		res.Position = max(res.Position, r.Position)
		for k, id := range e.ids {
			res.Extra[k] = id
		}
	}
	return res, nil
}

// importEntries makes the jobs of an import, filling in the ids the
// import leaves to the command side (derived from the entry's key, so that
// a retry lands on the same ids).
func (s *Service) importEntries(c events.ImportReport, who principal, meta Meta) []importEntry {
	var out []importEntry
	sub := func(entry string) Meta {
		m := meta
		// NUL cannot occur in an Idempotency-Key header, so no request of
		// its own can collide with an entry of an import.
		m.IdempotencyKey = meta.IdempotencyKey + "\x00" + entry
		return m
	}
	for _, it := range c.Items {
		m := sub(it.Entry)
		if it.ItemID == "" {
			it.ItemID = s.derive(m, "aggregate")
		}
		ids := map[string]string{it.Entry: it.ItemID}
		it.Measures = append([]events.ImportMeasure(nil), it.Measures...)
		for i, ms := range it.Measures {
			if ms.MeasureID == "" {
				it.Measures[i].MeasureID = s.derive(m, "measure/"+ms.Entry)
			}
			ids[ms.Entry] = it.Measures[i].MeasureID
		}
		out = append(out, importEntry{key: it.Entry, meta: m, job: s.importItemJob(who, c.CycleID, it), ids: ids})
	}
	for _, cm := range c.Commitments {
		m := sub(cm.Entry)
		if cm.CommitmentID == "" {
			cm.CommitmentID = s.derive(m, "aggregate")
		}
		out = append(out, importEntry{key: cm.Entry, meta: m, job: s.importCommitmentJob(who, c.CycleID, cm),
			ids: map[string]string{cm.Entry: cm.CommitmentID}})
	}
	return out
}

// importItemJob raises an item, assigns it when it names an owner and
// plans its measures: one decision, one append, so that an item never
// stands in the ledger without the measures the review gave it.
func (s *Service) importItemJob(who principal, cycleID string, it events.ImportItem) job {
	raise := it.Raise(cycleID)
	return job{stream: events.ItemStream(it.ItemID), id: it.ItemID, retry: true,
		decide: func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			// Raising, assigning to the same unit and planning all need
			// editor or admin on the item's unit.
			if err := s.authorize(ctx, who, editorRoles, "raise an item", it.UnitID); err != nil {
				return nil, inEntry(it.Entry, err)
			}
			var err error
			if x.cycle, err = s.dir.cycle(ctx, cycleID); err != nil {
				return nil, err
			}
			if x.unit, err = s.dir.unit(ctx, it.UnitID); err != nil {
				return nil, err
			}
			st := fold(h, evolveItem)
			var out []events.Payload
			step := func(entry string, ps []events.Payload, err error) error {
				if err != nil {
					return inEntry(entry, err)
				}
				for _, p := range ps {
					st = evolveItem(st, p)
				}
				out = append(out, ps...)
				return nil
			}
			ps, err := decideRaiseItem(st, raise, x)
			if err := step(it.Entry, ps, err); err != nil {
				return nil, err
			}
			if a, ok := it.Assign(); ok {
				ps, err := decideAssignItem(st, a, x)
				if err := step(it.Entry, ps, err); err != nil {
					return nil, err
				}
			}
			for _, m := range it.Measures {
				ps, err := decidePlanMeasure(st, m.Plan(it.ItemID), x)
				if err := step(m.Entry, ps, err); err != nil {
					return nil, err
				}
			}
			return out, nil
		}}
}

// importCommitmentJob makes one commitment, as commitment.make does.
func (s *Service) importCommitmentJob(who principal, cycleID string, cm events.ImportCommitment) job {
	mk := cm.Make(cycleID)
	return job{stream: events.CommitmentStream(cm.CommitmentID), id: cm.CommitmentID, retry: true,
		decide: func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := s.authorize(ctx, who, adminRoles, "make a commitment", cm.UnitID); err != nil {
				return nil, inEntry(cm.Entry, err)
			}
			var err error
			if x.unit, err = s.dir.unit(ctx, cm.UnitID); err != nil {
				return nil, err
			}
			if x.cycle, err = s.dir.cycle(ctx, cycleID); err != nil {
				return nil, err
			}
			ps, err := decideMakeCommitment(fold(h, evolveCommitment), mk, x)
			if err != nil {
				return nil, inEntry(cm.Entry, err)
			}
			return ps, nil
		}}
}

// inEntry names the entry an error is about: its fields become
// "<entry>.<field>" and its message starts with the entry. Errors that are
// not *events.Error (the store's) pass unchanged.
func inEntry(entry string, err error) error {
	var e *events.Error
	if !errors.As(err, &e) {
		return err
	}
	out := &events.Error{Code: e.Code, Message: entry + ": " + e.Message, Err: e.Err}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, f.Under(entry))
	}
	if len(e.Fields) == 0 {
		// A refusal of the whole entry (a missing role) still names the
		// entry, so that a caller can point at the row it came from.
		out.Fields = []events.FieldError{events.Fault(entry, events.ProblemInvalid, e.Message)}
	}
	return out
}

// importRefusal orders the codes of refused entries: the reply carries the
// first code present, with every entry refused for it, since one status
// must answer for the whole import.
var importRefusal = []events.Code{
	events.CodeUnavailable, events.CodeInternal, events.CodeUnauthorized, events.CodeForbidden,
	events.CodeNotFound, events.CodeConflict, events.CodeInvalid,
}

// importRefused merges the errors of the entries the first pass refused.
func importRefused(errs []error) error {
	for _, code := range importRefusal {
		var msgs []string
		var fields []events.FieldError
		var first error
		for _, err := range errs {
			if events.ErrorCode(err) != code {
				continue
			}
			if first == nil {
				first = err
			}
			var e *events.Error
			if errors.As(err, &e) {
				msgs = append(msgs, e.Message)
				fields = append(fields, e.Fields...)
			}
		}
		switch {
		case first == nil:
			continue
		case len(msgs) == 0: // not an *events.Error: the store's own failure
			return first
		}
		msg := msgs[0] + " (nothing was written)"
		switch {
		case code == events.CodeInvalid:
			msg = "the import breaks a rule; nothing was written"
		case len(msgs) > 1:
			msg = fmt.Sprintf("%d entries cannot be imported, nothing was written: %s", len(msgs), strings.Join(msgs, "; "))
		}
		if code == events.CodeConflict {
			msg += "; an entry imported before keeps what it was given: drop it from the review to import the rest"
		}
		return &events.Error{Code: code, Message: msg, Fields: fields}
	}
	return errs[0]
}
