package query

import (
	"fmt"
	"time"

	"rectify/events"
)

// Queries of the assessments view (周总结 / 月考核 / 季排名), projection
// "assessments": "weekly", "monthly" and "ranking" (the result of a week,
// a month or a quarter under a published rule set version), "preview" (the
// same under a rule set's draft, writing nothing), "rulesets", "ruleset",
// "publications" (what was published) and "published" (every published
// version of one period, side by side).
//
// How a period is scored. Facts count on the day they happened: the day
// of the event (UTC+8) for items, the day an activity occurred for
// commitments, never the day it was logged. For each unit, over the days
// of the period:
//
//   - item_closed: items verified (closed) in the period, counted in the
//     unit the item belonged to then; item_on_time: those closed on or
//     before the deadline in force then;
//   - item_reopened: reopenings of closed items in the period;
//   - item_overdue: items unfinished (neither closed nor withdrawn) at the
//     end of the period and past their deadline then, counted in the unit
//     they belonged to then;
//   - period_met / period_missed: commitment periods (each commitment's
//     own weeks, months or quarters, with the targets of the commitments
//     view, see commitments.go) that ended in the period and met or
//     missed their target; periods whose target rounds to 0 do not count;
//   - progress_reports, deadlines_changed, items_raised: for the weekly
//     summary, not scored.
//
// A unit's own score is the rule set's base plus each count times its
// weight (the breakdown lists each product). Its score rolls its subtree
// up as the rule set says (events.RollupOwn, RollupAverage, RollupSum),
// over the tree as it stood. Scores are exact to the hundredth: weights
// have at most two decimals, and an average is rounded to the hundredth,
// halves away from zero.
//
// The period's end is "the end": for a period still running (it ends on
// or after Request.Today) the end is today instead, facts of today
// included, items overdue when their deadline is before today, and only
// commitment periods that ended before today count. Complete says which.
//
// Ranks order the units of each level of the tree (depth 0: the roots, 1:
// their children, ...) by score, best first; equal scores share a rank.
// Movement compares a unit's rank with its rank in the previous period of
// the same kind, computed from the same facts under the same rules:
// positive moved up.
//
// As of. Every answer is computed from the facts up to one store position
// (Position): the view's position, or Request.AsOf (a position, or a time:
// facts recorded at or before it). Units, their names and their tree,
// rule set versions and publications are those of that moment. Computing
// twice from the same position and rule set version gives the same
// result, digest for digest; Digest is the hex SHA-256 of the whole
// organisation's result (every unit, whatever the caller's scope), so it
// can be compared with a publication's.
//
// Publications. assessment.publish records the kind and period, the rule
// set version and the position a result was computed from, and its
// digest. The view computes the result again from those when it applies
// the publication and keeps it as it was published: Reproduced says
// whether that gave the recorded digest. A published result never
// changes; a correction is a new version of the same period, and both are
// kept: "as reported" (version 1) and "as corrected" (the latest).
//
// Scope: rows are those of units inside the request's scope today (and
// inside UnitID's subtree when given); ranks are the whole organisation's.

// Assessment kinds are the commitment periods: events.PeriodWeek (the
// weekly summary), PeriodMonth (the monthly assessment) and
// PeriodQuarter (the quarterly ranking).

// AssessmentOps maps each kind to its query operation.
var AssessmentOps = map[string]string{
	events.PeriodWeek:    "weekly",
	events.PeriodMonth:   "monthly",
	events.PeriodQuarter: "ranking",
}

// AssessmentParams are the parameters of "weekly", "monthly" and
// "ranking".
type AssessmentParams struct {
	// Period is any day of the week, month or quarter; default: the last
	// one that ended before today.
	Period events.Date `json:"period,omitzero"`
	// UnitID restricts the rows to this unit and its subtree.
	UnitID string `json:"unit_id,omitempty"`
	// RulesetID and Version choose the rules: a published version of a rule
	// set. Default: the latest version of RulesetID, or, without it, the
	// rule set version published most recently.
	RulesetID string `json:"ruleset_id,omitempty"`
	Version   int    `json:"version,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *AssessmentParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "ruleset_id", p.RulesetID)
	if p.Version < 0 {
		v.Add("version", "must be a published version, 1 or more (0: the latest)")
	}
	if p.Version > 0 && p.RulesetID == "" {
		v.Add("version", "needs ruleset_id")
	}
	return v.Err()
}

// PreviewParams are the parameters of "preview": what the draft of a rule
// set would give for a period ("what if"), written nowhere.
type PreviewParams struct {
	// Kind is week, month or quarter.
	Kind      string      `json:"kind"`
	Period    events.Date `json:"period,omitzero"`
	UnitID    string      `json:"unit_id,omitempty"`
	RulesetID string      `json:"ruleset_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *PreviewParams) Validate() error {
	var v events.Validator
	if p.Kind == "" {
		v.Add("kind", "is required")
	} else {
		checkPeriod(&v, "kind", p.Kind)
	}
	checkID(&v, "unit_id", p.UnitID)
	v.Check(p.RulesetID != "", "ruleset_id", "is required")
	checkID(&v, "ruleset_id", p.RulesetID)
	return v.Err()
}

// RulesetRef names the rules a result was computed under. Version 0 is
// the draft (a preview).
type RulesetRef struct {
	ID      string              `json:"id"`
	Version int                 `json:"version"`
	Name    string              `json:"name"`
	Rules   events.ScoringRules `json:"rules"`
}

// AssessmentCounts are the facts a unit scores on in a period.
type AssessmentCounts struct {
	ItemsClosed      int `json:"items_closed"`
	ItemsOnTime      int `json:"items_on_time"`
	ItemsOverdue     int `json:"items_overdue"`
	ItemsReopened    int `json:"items_reopened"`
	PeriodsMet       int `json:"periods_met"`
	PeriodsMissed    int `json:"periods_missed"`
	ItemsRaised      int `json:"items_raised"`
	ProgressReports  int `json:"progress_reports"`
	DeadlinesChanged int `json:"deadlines_changed"`
}

// ScoreBreakdown is a unit's own score, weight by weight: each count
// times its weight, and the base.
type ScoreBreakdown struct {
	Base         float64 `json:"base"`
	ItemClosed   float64 `json:"item_closed"`
	ItemOnTime   float64 `json:"item_on_time"`
	ItemOverdue  float64 `json:"item_overdue"`
	ItemReopened float64 `json:"item_reopened"`
	PeriodMet    float64 `json:"period_met"`
	PeriodMissed float64 `json:"period_missed"`
}

// UnitAssessment is one unit's line of a result.
type UnitAssessment struct {
	UnitID   string `json:"unit_id"`
	UnitName string `json:"unit_name"`
	ParentID string `json:"parent_id,omitempty"`
	Kind     string `json:"kind"`
	// Depth is the unit's level in the tree as it stood: 0 for a root.
	Depth     int              `json:"depth"`
	Counts    AssessmentCounts `json:"counts"`
	Breakdown ScoreBreakdown   `json:"breakdown"`
	// Own is the unit's own score (the sum of Breakdown); Score is Own
	// rolled up with the subtree.
	Own   float64 `json:"own"`
	Score float64 `json:"score"`
	// Rank is the unit's place among the units of its level, from 1.
	Rank int `json:"rank"`
	// PreviousRank is the rank in the previous period and Movement
	// PreviousRank - Rank; both absent when the unit was not ranked then.
	PreviousRank int  `json:"previous_rank,omitempty"`
	Movement     *int `json:"movement,omitempty"`
}

// AssessmentResult is the answer of "weekly", "monthly", "ranking" and
// "preview", and the result a publication keeps. Units come in tree order:
// each unit before its children, siblings by name, then id.
type AssessmentResult struct {
	Kind        string      `json:"kind"`
	PeriodStart events.Date `json:"period_start"`
	PeriodEnd   events.Date `json:"period_end"`
	// Through is the last day counted: PeriodEnd when Complete, else today.
	Through  events.Date `json:"through"`
	Complete bool        `json:"complete"`
	// Previous is the first day of the period movements compare with.
	Previous events.Date `json:"previous"`
	Ruleset  RulesetRef  `json:"ruleset"`
	// Position is the store position the result was computed from.
	Position uint64 `json:"position"`
	// Digest is the hex SHA-256 of the whole organisation's result: every
	// field above but Position, and every unit's line.
	Digest string           `json:"digest"`
	Units  []UnitAssessment `json:"units"`
}

// RulesetVersion is one published version of a rule set.
type RulesetVersion struct {
	Version     int                 `json:"version"`
	Name        string              `json:"name"`
	Rules       events.ScoringRules `json:"rules"`
	Note        string              `json:"note,omitempty"`
	Position    uint64              `json:"position"`
	PublishedAt time.Time           `json:"published_at"`
	PublishedBy string              `json:"published_by"`
}

// Ruleset is a rule set: its draft and its published versions, oldest
// first.
type Ruleset struct {
	ID    string              `json:"id"`
	Name  string              `json:"name"`
	Draft events.ScoringRules `json:"draft"`
	// Revision is the revision of the rule set's stream, for
	// expected_revision.
	Revision uint64 `json:"revision"`
	// Dirty: the draft differs from the latest version (or there is none).
	Dirty    bool             `json:"dirty"`
	Versions []RulesetVersion `json:"versions"`
	// Position is where the rule set last changed.
	Position uint64 `json:"position"`
}

// RulesetParams are the parameters of "ruleset", which answers one
// Ruleset (CodeNotFound when it did not exist then).
type RulesetParams struct {
	RulesetID string `json:"ruleset_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *RulesetParams) Validate() error {
	var v events.Validator
	v.Check(p.RulesetID != "", "ruleset_id", "is required")
	checkID(&v, "ruleset_id", p.RulesetID)
	return v.Err()
}

// Rulesets is the answer of "rulesets": every rule set, the one changed
// most recently first.
type Rulesets struct {
	Rulesets []Ruleset `json:"rulesets"`
}

// PublicationsParams are the parameters of "publications".
type PublicationsParams struct {
	// Kind restricts to week, month or quarter.
	Kind string `json:"kind,omitempty"`
	// From and To restrict to periods starting in From..To.
	From events.Date `json:"from,omitzero"`
	To   events.Date `json:"to,omitzero"`
	// Limit is the page size (default 50, at most 200); Cursor continues.
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *PublicationsParams) Validate() error {
	var v events.Validator
	checkPeriod(&v, "kind", p.Kind)
	if !p.From.IsZero() && !p.To.IsZero() && p.To.Before(p.From) {
		v.Add("to", "must not be before from")
	}
	checkLimit(&v, p.Limit)
	return v.Err()
}

// Publication is one published version of a period's result, without its
// rows.
type Publication struct {
	AssessmentID   string      `json:"assessment_id"`
	Kind           string      `json:"kind"`
	PeriodStart    events.Date `json:"period_start"`
	PeriodEnd      events.Date `json:"period_end"`
	Version        int         `json:"version"`
	RulesetID      string      `json:"ruleset_id"`
	RulesetVersion int         `json:"ruleset_version"`
	// Position is the store position the result was computed from; Digest
	// the digest recorded with it.
	Position uint64 `json:"position"`
	Digest   string `json:"digest"`
	// Reproduced: computing again from Position under the rule set version
	// gave Digest.
	Reproduced  bool      `json:"reproduced"`
	Note        string    `json:"note,omitempty"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
	// EventPosition is where the publication itself was recorded.
	EventPosition uint64 `json:"event_position"`
}

// PublicationsPage is one page of "publications", the newest period
// first, each period's versions newest first.
type PublicationsPage struct {
	Publications []Publication `json:"publications"`
	NextCursor   string        `json:"next_cursor,omitempty"`
}

// PublishedParams are the parameters of "published".
type PublishedParams struct {
	Kind   string      `json:"kind"`
	Period events.Date `json:"period"`
	UnitID string      `json:"unit_id,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *PublishedParams) Validate() error {
	var v events.Validator
	if p.Kind == "" {
		v.Add("kind", "is required")
	} else {
		checkPeriod(&v, "kind", p.Kind)
	}
	v.Check(!p.Period.IsZero(), "period", "is required: any day of the period")
	checkID(&v, "unit_id", p.UnitID)
	return v.Err()
}

// PublishedVersion is one version of a period's published result.
type PublishedVersion struct {
	Publication
	Result AssessmentResult `json:"result"`
}

// Published is the answer of "published": every version of one period's
// result, oldest (as reported) first, latest (as corrected) last.
type Published struct {
	Kind        string             `json:"kind"`
	PeriodStart events.Date        `json:"period_start"`
	PeriodEnd   events.Date        `json:"period_end"`
	Versions    []PublishedVersion `json:"versions"`
}

// AssessmentKind returns the kind an assessment op answers for, or an
// error naming the op.
func AssessmentKind(op string) (string, error) {
	for k, o := range AssessmentOps {
		if o == op {
			return k, nil
		}
	}
	return "", fmt.Errorf("no assessment kind for op %q", op)
}
