package services

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"rectify/events"
	"rectify/services/eventstore"
)

// Scoring rule sets (ruleset-<id>) and published assessments
// (assessment-<kind>-<first day>). Both are the organisation's: only an
// administrator of the whole organisation drafts, revises or publishes
// rules, and publishes results, since a result ranks every unit.

// rulesetState is what the command side must know of a rule set: its draft
// and its latest published version.
type rulesetState struct {
	exists bool
	id     string
	name   string
	rules  events.ScoringRules
	// version is the latest published version, 0 before the first.
	version int
	// dirty: the draft differs from the latest published version (or none
	// was published yet).
	dirty bool
}

// evolveRuleset applies one fact to a rule set; it never fails.
func evolveRuleset(s rulesetState, p events.Payload) rulesetState {
	switch e := p.(type) {
	case events.RulesetDraftedData:
		s = rulesetState{exists: true, id: e.RulesetID, name: e.Name, rules: e.Rules, dirty: true}
	case events.RulesetRevisedData:
		s.name, s.rules, s.dirty = e.NewName, e.NewRules, true
	case events.RulesetPublishedData:
		s.version, s.dirty = e.Version, false
	}
	return s
}

func decideDraftRuleset(s rulesetState, c events.DraftRuleset) ([]events.Payload, error) {
	if s.exists {
		return nil, duplicate("ruleset_id", c.RulesetID, "rule set %s already exists; revise its draft", c.RulesetID)
	}
	return []events.Payload{events.RulesetDraftedData{RulesetID: c.RulesetID, Name: c.Name, Rules: c.Rules}}, nil
}

func decideReviseRuleset(s rulesetState, c events.ReviseRuleset) ([]events.Payload, error) {
	name := c.Name
	if name == "" {
		name = s.name
	}
	if name == s.name && c.Rules == s.rules {
		return nil, broken("rules", pr(events.ProblemUnchanged), "the draft already holds these rules")
	}
	return []events.Payload{events.RulesetRevisedData{
		RulesetID: c.RulesetID, OldName: s.name, NewName: name, OldRules: s.rules, NewRules: c.Rules, Reason: c.Reason,
	}}, nil
}

func decidePublishRuleset(s rulesetState, c events.PublishRuleset) ([]events.Payload, error) {
	if !s.dirty {
		// Two versions with the same rules would only confuse which one a
		// result names.
		return nil, broken("ruleset_id", pr(events.ProblemPublished, "version", strconv.Itoa(s.version)), "the draft is version %d already; revise it before publishing again", s.version)
	}
	return []events.Payload{events.RulesetPublishedData{
		RulesetID: c.RulesetID, Version: s.version + 1, Name: s.name, Rules: s.rules, Note: c.Note,
	}}, nil
}

// assessmentState is what the command side must know of the published
// results of one period: how many versions, and the latest.
type assessmentState struct {
	versions int
	last     events.AssessmentPublishedData
}

func evolveAssessment(s assessmentState, p events.Payload) assessmentState {
	if e, ok := p.(events.AssessmentPublishedData); ok {
		s.versions, s.last = e.Version, e
	}
	return s
}

// decidePublishAssessment needs the rule set the command names and the
// store's head position: a result can only name a version that exists and
// a position the store has. chain is the digest of the store's chain heads
// at the command's position, which the publication records.
func decidePublishAssessment(s assessmentState, c events.PublishAssessment, x decideContext, rs rulesetState, head uint64, chain eventstore.HeadDigest) ([]events.Payload, error) {
	start, end, ok := events.PeriodBounds(c.Kind, c.Period)
	if !ok {
		return nil, broken("kind", pr(events.ProblemNotOneOf, "allowed", strings.Join(events.Periods, ",")), "unknown kind %q", c.Kind)
	}
	if !end.Before(x.today) {
		// A result of a period still running would be out of date the
		// moment it was published.
		return nil, broken("period", pr(events.ProblemPeriodOpen, "date", end.AddDays(1).String()), "the %s %s..%s has not ended yet; publish it from %s", c.Kind, start, end, end.AddDays(1))
	}
	switch {
	case !rs.exists:
		return nil, broken("ruleset_id", pr(events.ProblemUnknownRuleset, "ruleset", c.RulesetID), "no rule set %s", c.RulesetID)
	case c.RulesetVersion > rs.version:
		return nil, broken("ruleset_version", pr(events.ProblemUnknownVersion, "version", strconv.Itoa(c.RulesetVersion), "latest", strconv.Itoa(rs.version)), "rule set %s has no published version %d (latest: %d)", c.RulesetID, c.RulesetVersion, rs.version)
	}
	if c.Position > head {
		return nil, broken("position", pr(events.ProblemBeyondHead, "max", strconv.FormatUint(head, 10)), "is beyond the store's last position %d", head)
	}
	if s.versions > 0 {
		if c.Position < s.last.Position {
			return nil, broken("position", pr(events.ProblemBeforeVersion, "version", strconv.Itoa(s.versions), "min", strconv.FormatUint(s.last.Position, 10)), "is before version %d's position %d: a correction must see at least what it corrects", s.versions, s.last.Position)
		}
		if c.Digest == s.last.Digest {
			return nil, broken("digest", pr(events.ProblemUnchanged), "equals version %d's: the result has not changed, there is nothing to correct", s.versions)
		}
	}
	return []events.Payload{events.AssessmentPublishedData{
		AssessmentID: events.AssessmentID(c.Kind, start), Kind: c.Kind, PeriodStart: start, PeriodEnd: end,
		Version: s.versions + 1, RulesetID: c.RulesetID, RulesetVersion: c.RulesetVersion,
		Position: c.Position, Digest: c.Digest, Note: c.Note,
		ChainDigest: chain.Digest, ChainStreams: chain.Streams,
	}}, nil
}

// assessmentJob prepares the job of a rule set or publication command.
func (s *Service) assessmentJob(cmd events.Command, who principal, meta Meta) (job, error) {
	authorize := func(ctx context.Context, what string) error {
		return s.authorize(ctx, who, adminRoles, what, orgScope)
	}
	rulesetJob := func(id string, pinned *uint64, creates bool, what string, decide func(rulesetState) ([]events.Payload, error)) job {
		return s.simpleJob(events.RulesetStream(id), id, pinned, cmd, func(ctx context.Context, h history, _ decideContext) ([]events.Payload, error) {
			if err := authorize(ctx, what); err != nil {
				return nil, err
			}
			st := fold(h, evolveRuleset)
			if !creates && !st.exists {
				return nil, notFound("rule set", id)
			}
			return decide(st)
		})
	}
	switch c := cmd.(type) {
	case events.DraftRuleset:
		if c.RulesetID == "" {
			c.RulesetID = s.derive(meta, "aggregate")
		}
		return rulesetJob(c.RulesetID, nil, true, "draft a rule set", func(st rulesetState) ([]events.Payload, error) {
			return decideDraftRuleset(st, c)
		}), nil
	case events.ReviseRuleset:
		return rulesetJob(c.RulesetID, c.ExpectedRevision, false, "revise a rule set", func(st rulesetState) ([]events.Payload, error) {
			return decideReviseRuleset(st, c)
		}), nil
	case events.PublishRuleset:
		return rulesetJob(c.RulesetID, c.ExpectedRevision, false, "publish a rule set", func(st rulesetState) ([]events.Payload, error) {
			return decidePublishRuleset(st, c)
		}), nil
	case events.PublishAssessment:
		start, _, ok := events.PeriodBounds(c.Kind, c.Period)
		if !ok {
			return job{}, events.InvalidField(events.Fault("kind", events.ProblemNotOneOf, "must be one of week, month, quarter",
				"allowed", strings.Join(events.Periods, ",")))
		}
		id := events.AssessmentID(c.Kind, start)
		return s.simpleJob(events.AssessmentStream(c.Kind, start), id, c.ExpectedRevision, c, func(ctx context.Context, h history, x decideContext) ([]events.Payload, error) {
			if err := authorize(ctx, "publish an assessment"); err != nil {
				return nil, err
			}
			rh, err := s.dir.load(ctx, events.RulesetStream(c.RulesetID))
			if err != nil {
				return nil, err
			}
			head, err := s.store.Head(ctx)
			if err != nil {
				return nil, fmt.Errorf("head: %w", err)
			}
			var chain eventstore.HeadDigest
			if c.Position <= head {
				// One read of the store up to the position: a publication
				// is rare, and the digest must be of the store as it is.
				at, err := eventstore.HeadDigests(ctx, s.store, c.Position)
				if err != nil {
					return nil, err
				}
				chain = at[c.Position]
			}
			return decidePublishAssessment(fold(h, evolveAssessment), c, x, fold(rh, evolveRuleset), head, chain)
		}), nil
	}
	return job{}, events.Errorf(events.CodeInvalid, "command %s is not handled here", cmd.CommandName())
}
