package events

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Assessment (周总结 / 月考核 / 季排名): scoring rule sets, recorded and
// versioned by events of their own stream (ruleset-<id>), and the
// publication of weekly summaries, monthly assessments and quarterly
// rankings (assessment-<kind>-<first day>), each naming the store position
// and the rule set version it was computed from.
//
// A rule set is a draft that can be revised any number of times; publishing
// it freezes the draft as it stands as the next version (1, 2, ...). Only
// published versions score published results; the draft can be previewed.

// Roll-up modes of a rule set: how a unit's score takes in its subtree.
const (
	// RollupOwn: a unit scores on its own items and commitments only.
	RollupOwn = "own"
	// RollupAverage: a unit's score is the mean of its own score and each
	// child's rolled-up score, each counting once, so that a committee
	// with three communities is judged as much by them as by itself.
	RollupAverage = "average"
	// RollupSum: a unit's score is its own score plus each child's
	// rolled-up score: the total of its whole subtree.
	RollupSum = "sum"
)

// Rollups lists every roll-up mode.
var Rollups = []string{RollupOwn, RollupAverage, RollupSum}

// MaxWeight bounds every weight of a rule set, in points.
const MaxWeight = 10000

// ScoringRules are the weights of a rule set (考核细则): the points a unit
// gets in a period for each fact about its items and commitments, and how
// subtrees roll up. Weights are points with at most two decimals; a
// penalty is a negative weight.
type ScoringRules struct {
	// Base is what every unit starts a period with (100, say, for a
	// deduction scheme; 0 for a pure tally).
	Base float64 `json:"base"`
	// ItemClosed counts each item verified and closed (销号) in the period.
	ItemClosed float64 `json:"item_closed"`
	// ItemOnTime counts, on top of ItemClosed, each item closed on or
	// before its deadline.
	ItemOnTime float64 `json:"item_on_time"`
	// ItemOverdue counts each item still unfinished past its deadline at
	// the end of the period.
	ItemOverdue float64 `json:"item_overdue"`
	// ItemReopened counts each reopening of a closed item in the period.
	ItemReopened float64 `json:"item_reopened"`
	// PeriodMet and PeriodMissed count each commitment period (a week, a
	// month or a quarter of a commitment) that ended in the period and met,
	// or missed, its target.
	PeriodMet    float64 `json:"period_met"`
	PeriodMissed float64 `json:"period_missed"`
	// Rollup is RollupOwn, RollupAverage or RollupSum.
	Rollup string `json:"rollup"`
}

// DefaultScoringRules is a deduction scheme the dashboard offers as a
// start: 100 points, plus for closing items and meeting commitments, minus
// for overdue and reopened items and missed commitments.
func DefaultScoringRules() ScoringRules {
	return ScoringRules{Base: 100, ItemClosed: 2, ItemOnTime: 1, ItemOverdue: -2, ItemReopened: -3,
		PeriodMet: 1, PeriodMissed: -2, Rollup: RollupOwn}
}

// check validates the rules into v, naming fields under prefix ("rules.").
func (r ScoringRules) check(v *fieldCheck, prefix string) {
	for _, w := range []struct {
		name string
		val  float64
	}{
		{"base", r.Base}, {"item_closed", r.ItemClosed}, {"item_on_time", r.ItemOnTime},
		{"item_overdue", r.ItemOverdue}, {"item_reopened", r.ItemReopened},
		{"period_met", r.PeriodMet}, {"period_missed", r.PeriodMissed},
	} {
		switch {
		case math.IsNaN(w.val) || math.Abs(w.val) > MaxWeight:
			v.Fault(prefix+w.name, ProblemOutOfRange, fmt.Sprintf("must be between -%d and %d", MaxWeight, MaxWeight),
				"min", strconv.Itoa(-MaxWeight), "max", strconv.Itoa(MaxWeight))
		case math.Abs(w.val*100-math.Round(w.val*100)) > 1e-6:
			// Hundredths keep every score exact to the cent when summed.
			v.Fault(prefix+w.name, ProblemDecimals, "must have at most two decimals")
		}
	}
	v.oneOf(prefix+"rollup", r.Rollup, true, Rollups)
}

// Validate reports every bad weight as a CodeInvalid *Error, fields named
// as in JSON.
func (r ScoringRules) Validate() error {
	var v fieldCheck
	r.check(&v, "")
	return v.Err()
}

// PeriodBounds returns the first and last day of the period of kind
// (PeriodWeek: the ISO week, Monday to Sunday; PeriodMonth; PeriodQuarter)
// holding d. ok is false for an unknown kind or a zero d.
func PeriodBounds(kind string, d Date) (start, end Date, ok bool) {
	if d.IsZero() {
		return Date{}, Date{}, false
	}
	switch kind {
	case PeriodWeek:
		back := (int(d.Weekday()) + 6) % 7 // Monday 0
		start = d.AddDays(-back)
		return start, start.AddDays(6), !start.IsZero()
	case PeriodMonth:
		s := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		return DateFrom(s, nil), DateFrom(s.AddDate(0, 1, -1), nil), true
	case PeriodQuarter:
		m := time.Month((int(d.Month())-1)/3*3 + 1)
		s := time.Date(d.Year(), m, 1, 0, 0, 0, 0, time.UTC)
		return DateFrom(s, nil), DateFrom(s.AddDate(0, 3, -1), nil), true
	}
	return Date{}, Date{}, false
}

// AssessmentID names the published results of one period: "<kind>-<first
// day>", "month-2024-05-01". It is the id of stream
// AssessmentStream(kind, start).
func AssessmentID(kind string, start Date) string { return kind + "-" + start.String() }

// ---- rule set events ----

// RulesetDraftedData: a scoring rule set (考核细则) was started, as a draft
// holding Rules.
type RulesetDraftedData struct {
	RulesetID string       `json:"ruleset_id"`
	Name      string       `json:"name"`
	Rules     ScoringRules `json:"rules"`
}

// RulesetRevisedData: the draft of a rule set changed from OldName and
// OldRules to NewName and NewRules, for Reason. Both are always present;
// published versions do not change.
type RulesetRevisedData struct {
	RulesetID string       `json:"ruleset_id"`
	OldName   string       `json:"old_name"`
	NewName   string       `json:"new_name"`
	OldRules  ScoringRules `json:"old_rules"`
	NewRules  ScoringRules `json:"new_rules"`
	Reason    string       `json:"reason"`
}

// RulesetPublishedData: the draft of a rule set, as it stood, became
// version Version (1 for the first publication, then 2, ...). The event
// carries the name and rules of the version, so that a version is read
// from one event and never changes.
type RulesetPublishedData struct {
	RulesetID string       `json:"ruleset_id"`
	Version   int          `json:"version"`
	Name      string       `json:"name"`
	Rules     ScoringRules `json:"rules"`
	Note      string       `json:"note,omitempty"`
}

// AssessmentPublishedData: the result of a period (Kind PeriodWeek: the
// weekly summary; PeriodMonth: the monthly assessment; PeriodQuarter: the
// quarterly ranking) from PeriodStart to PeriodEnd was published as
// Version of the period's results: 1 as first reported, 2 and later as
// corrected, each kept. It was computed from the store up to Position under
// version RulesetVersion of rule set RulesetID, and Digest (hex SHA-256 of
// the result, as the assessments view computes it) pins the numbers: the
// same position and rule set version give the same digest.
//
// ChainDigest pins the facts themselves: ChainHeads.Digest of every
// stream's last event (revision and hash) at Position, over ChainStreams
// streams, so that `rectify verify` can tell whether the history the
// result was computed from is still the one stored. Publications from
// before it was recorded have neither.
type AssessmentPublishedData struct {
	AssessmentID   string `json:"assessment_id"`
	Kind           string `json:"kind"`
	PeriodStart    Date   `json:"period_start"`
	PeriodEnd      Date   `json:"period_end"`
	Version        int    `json:"version"`
	RulesetID      string `json:"ruleset_id"`
	RulesetVersion int    `json:"ruleset_version"`
	Position       uint64 `json:"position"`
	Digest         string `json:"digest"`
	Note           string `json:"note,omitempty"`
	ChainDigest    string `json:"chain_digest,omitempty"`
	ChainStreams   int    `json:"chain_streams,omitempty"`
}

func (RulesetDraftedData) EventType() string      { return RulesetDrafted }
func (RulesetRevisedData) EventType() string      { return RulesetRevised }
func (RulesetPublishedData) EventType() string    { return RulesetPublished }
func (AssessmentPublishedData) EventType() string { return AssessmentPublished }

// ---- commands ----

// DraftRuleset starts a scoring rule set as a draft. Without a RulesetID
// the command side assigns one.
type DraftRuleset struct {
	RulesetID string       `json:"ruleset_id,omitempty"`
	Name      string       `json:"name"`
	Rules     ScoringRules `json:"rules"`
}

func (DraftRuleset) CommandName() string { return "ruleset.draft" }

func (c DraftRuleset) Validate() error {
	var v fieldCheck
	v.id("ruleset_id", c.RulesetID, false)
	v.text("name", c.Name, true, MaxNameLen)
	c.Rules.check(&v, "rules.")
	return v.Err()
}

// ReviseRuleset replaces the draft of a rule set, for a reason. Name left
// out keeps the name; the rules are given whole.
type ReviseRuleset struct {
	RulesetID        string       `json:"ruleset_id"`
	Name             string       `json:"name,omitempty"`
	Rules            ScoringRules `json:"rules"`
	Reason           string       `json:"reason"`
	ExpectedRevision *uint64      `json:"expected_revision,omitempty"`
}

func (ReviseRuleset) CommandName() string { return "ruleset.revise" }

func (c ReviseRuleset) Validate() error {
	var v fieldCheck
	v.id("ruleset_id", c.RulesetID, true)
	v.text("name", c.Name, false, MaxNameLen)
	c.Rules.check(&v, "rules.")
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// PublishRuleset freezes the draft of a rule set as its next version.
type PublishRuleset struct {
	RulesetID        string  `json:"ruleset_id"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (PublishRuleset) CommandName() string { return "ruleset.publish" }

func (c PublishRuleset) Validate() error {
	var v fieldCheck
	v.id("ruleset_id", c.RulesetID, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// PublishAssessment publishes the result of a period: Kind (week, month or
// quarter) and Period (any day of it), computed from the store up to
// Position under version RulesetVersion of RulesetID, with the Digest the
// assessments view gave for exactly that. The gateway fills Position and
// Digest by asking the view when a caller leaves them out. A period
// published before gets its next version: a correction, kept beside the
// earlier ones. Note says why a correction was needed.
type PublishAssessment struct {
	Kind             string  `json:"kind"`
	Period           Date    `json:"period"`
	RulesetID        string  `json:"ruleset_id"`
	RulesetVersion   int     `json:"ruleset_version"`
	Position         uint64  `json:"position"`
	Digest           string  `json:"digest"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (PublishAssessment) CommandName() string { return "assessment.publish" }

func (c PublishAssessment) Validate() error {
	var v fieldCheck
	v.oneOf("kind", c.Kind, true, Periods)
	v.date("period", c.Period, true)
	v.id("ruleset_id", c.RulesetID, true)
	v.rule(c.RulesetVersion > 0, "ruleset_version", ProblemNotPositive, "must be a published version, 1 or more")
	v.rule(c.Position > 0, "position", ProblemRequired, "is required: the store position the result was computed from")
	v.sha256("digest", c.Digest)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}
