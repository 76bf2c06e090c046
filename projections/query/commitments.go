package query

import (
	"fmt"
	"strconv"
	"time"

	"rectify/events"
)

// Queries of the commitments view (承诺), projection "commitments":
// "list", "compliance" and "units".
//
// How compliance is counted. An activity counts on the day it happened
// (OccurredOn), never on the day it was logged. A commitment is active from
// its start to its end, or to the day it was ended on when that is earlier.
// A revision takes effect on the day it was made (the revision event's time
// read in China Standard Time, UTC+8) and never changes a day before it, so
// past periods keep the target they had.
//
// Every active day carries a share of the target in force that day: the
// target divided by the length of that day's period (7 days for a week,
// the month's or quarter's days otherwise). The target of a bucket of days
// is the sum of its days' shares, and the count required to meet it is that
// sum rounded to the nearest whole number (halves up). For a whole period
// of the commitment's own kind under one definition this is exactly the
// commitment's target; a first or last period cut short by the start or end,
// a period in which the target changed, and buckets of another kind than
// the commitment's own (the Period parameter) get the scaled target, marked
// Scaled. A weekly target of 1 asked for by month gives 31/7 = 4.43, so 4
// activities meet a 31-day month. In the commitment's own periods, a
// revision that changes the period kind cuts the old kind's bucket short
// on the day before and starts the new kind's bucket on its day.
//
// Today is Request.Today, or today in UTC+8 when the request leaves it
// zero.
//
// A bucket is "upcoming" when it starts after today, "exempt" when its
// required count is 0 (a stub of a few days), "met" when the activities
// reach the required count, "in_progress" while it has not ended (today
// included) and "missed" after. Rates and streaks count met and missed
// buckets only.

// Statuses of a compliance bucket.
const (
	PeriodMet        = "met"
	PeriodMissed     = "missed"
	PeriodInProgress = "in_progress"
	PeriodUpcoming   = "upcoming"
	PeriodExempt     = "exempt"
)

// Page sizes shared by the paged queries of every view.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// MaxComplianceDays bounds the range of a compliance query: about ten years
// of weekly buckets.
const MaxComplianceDays = 3660

// CommitmentListParams are the parameters of "list". Every
// filter is optional; the result holds only commitments of units inside the
// request's scope, ordered by unit id, then commitment id.
type CommitmentListParams struct {
	// UnitID restricts to this unit and its subtree.
	UnitID string `json:"unit_id,omitempty"`
	// CycleID restricts to commitments made in this review cycle.
	CycleID string `json:"cycle_id,omitempty"`
	// Period restricts to commitments whose current period is week, month
	// or quarter.
	Period string `json:"period,omitempty"`
	// ActiveOn restricts to commitments active on this day: started, not
	// past their end and not ended before it.
	ActiveOn events.Date `json:"active_on,omitzero"`
	// PersonID restricts to the commitments of one person.
	PersonID string `json:"person_id,omitempty"`
	// Limit is the page size, default 50, at most 200.
	Limit int `json:"limit,omitempty"`
	// Cursor continues after the last commitment of an earlier page.
	Cursor string `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *CommitmentListParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	checkID(&v, "person_id", p.PersonID)
	checkPeriod(&v, "period", p.Period)
	checkLimit(&v, p.Limit)
	return v.Err()
}

// Commitment is one commitment as it stands now.
type Commitment struct {
	ID         string `json:"id"`
	CycleID    string `json:"cycle_id,omitempty"`
	UnitID     string `json:"unit_id"`
	UnitName   string `json:"unit_name,omitempty"`
	PersonID   string `json:"person_id,omitempty"`
	PersonName string `json:"person_name,omitempty"`
	Title      string `json:"title"`
	Activity   string `json:"activity"`
	// Target and Period are the current definition.
	Target int         `json:"target"`
	Period string      `json:"period"`
	Start  events.Date `json:"start"`
	End    events.Date `json:"end"`
	// Ended is set once the commitment was ended early; EndedOn is the last
	// day it counted.
	Ended     bool        `json:"ended,omitempty"`
	EndedOn   events.Date `json:"ended_on,omitzero"`
	EndReason string      `json:"end_reason,omitempty"`
	// Revisions counts the revisions of target, period or end.
	Revisions int `json:"revisions"`
	// Logged is the number of activities logged so far, whatever their day.
	Logged int `json:"logged"`
	// Position is where the commitment last changed in $all.
	Position uint64 `json:"position"`
}

// CommitmentPage is one page of "list".
type CommitmentPage struct {
	Commitments []Commitment `json:"commitments"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ComplianceParams are the parameters of "compliance": the
// buckets of one commitment, or of every commitment of a unit subtree (one
// page of commitments at a time), between two days.
type ComplianceParams struct {
	// CommitmentID selects one commitment; UnitID, CycleID and the paging do not
	// apply then.
	CommitmentID string `json:"commitment_id,omitempty"`
	// UnitID restricts to this unit and its subtree (default: the scope).
	UnitID  string `json:"unit_id,omitempty"`
	CycleID string `json:"cycle_id,omitempty"`
	// From and To bound the buckets reported: every bucket that overlaps
	// From..To is reported whole. To defaults to today, From to the first
	// day of To's year. At most MaxComplianceDays apart.
	From events.Date `json:"from,omitzero"`
	To   events.Date `json:"to,omitzero"`
	// Period asks for buckets of this kind (week: ISO weeks, Monday to
	// Sunday; month; quarter) instead of each commitment's own periods,
	// with scaled targets.
	Period string `json:"period,omitempty"`
	// Limit and Cursor page through the commitments, as in list.
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *ComplianceParams) Validate() error {
	var v events.Validator
	checkID(&v, "commitment_id", p.CommitmentID)
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	checkPeriod(&v, "period", p.Period)
	checkLimit(&v, p.Limit)
	checkRange(&v, p.From, p.To)
	return v.Err()
}

// PeriodResult is one bucket of a commitment's compliance.
type PeriodResult struct {
	// Kind is week, month or quarter.
	Kind  string      `json:"kind"`
	Start events.Date `json:"start"`
	End   events.Date `json:"end"`
	// Target is the count required; ExactTarget the scaled target before
	// rounding (equal to Target unless Scaled).
	Target      int     `json:"target"`
	ExactTarget float64 `json:"exact_target"`
	Scaled      bool    `json:"scaled,omitempty"`
	Actual      int     `json:"actual"`
	// Status is one of PeriodMet, PeriodMissed, PeriodInProgress,
	// PeriodUpcoming, PeriodExempt.
	Status string `json:"status"`
}

// Tally sums met and missed buckets.
type Tally struct {
	Met        int `json:"met"`
	Missed     int `json:"missed"`
	InProgress int `json:"in_progress"`
	// Rate is Met / (Met + Missed), absent when both are 0.
	Rate *float64 `json:"rate,omitempty"`
	// CurrentStreak counts the met buckets since the last missed one, the
	// latest finished bucket included; LongestStreak is the longest run of
	// met buckets in the range.
	CurrentStreak int `json:"current_streak"`
	LongestStreak int `json:"longest_streak"`
}

// CommitmentCompliance is the compliance of one commitment.
type CommitmentCompliance struct {
	Commitment Commitment     `json:"commitment"`
	Periods    []PeriodResult `json:"periods"`
	Tally
}

// Compliance is the answer of "compliance".
type Compliance struct {
	From        events.Date            `json:"from"`
	To          events.Date            `json:"to"`
	Today       events.Date            `json:"today"`
	Commitments []CommitmentCompliance `json:"commitments"`
	NextCursor  string                 `json:"next_cursor,omitempty"`
}

// Sort orders of "units".
const (
	SortUnit = "unit" // tree order: each unit before its children, siblings by name
	SortRate = "rate" // best compliance rate first, units without a rate last
)

// CommitmentUnitsParams are the parameters of "units": the
// compliance of each unit's own commitments (and its people's) between two
// days, counted in each commitment's own periods.
type CommitmentUnitsParams struct {
	UnitID  string      `json:"unit_id,omitempty"`
	CycleID string      `json:"cycle_id,omitempty"`
	From    events.Date `json:"from,omitzero"`
	To      events.Date `json:"to,omitzero"`
	// Sort is SortUnit (default) or SortRate.
	Sort string `json:"sort,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *CommitmentUnitsParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	checkRange(&v, p.From, p.To)
	if p.Sort != "" && p.Sort != SortUnit && p.Sort != SortRate {
		v.Add("sort", fmt.Sprintf("unknown sort %q (want %s or %s)", p.Sort, SortUnit, SortRate))
	}
	return v.Err()
}

// UnitCompliance is one unit's line of "units". Streaks run
// over the unit's finished buckets of every commitment, in the order the
// buckets ended: one missed bucket of any commitment breaks the streak.
type UnitCompliance struct {
	UnitID      string `json:"unit_id"`
	UnitName    string `json:"unit_name"`
	Commitments int    `json:"commitments"`
	Tally
}

// UnitsCompliance is the answer of "units": every unit inside
// the scope (and Unit's subtree) with at least one commitment active in the
// range.
type UnitsCompliance struct {
	From  events.Date      `json:"from"`
	To    events.Date      `json:"to"`
	Today events.Date      `json:"today"`
	Units []UnitCompliance `json:"units"`
}

func checkID(v *events.Validator, field, id string) {
	if id != "" && !events.ValidID(id) {
		v.Fault(field, events.ProblemBadID, fmt.Sprintf("%q is not an id (1 to 64 characters of A-Z a-z 0-9 _ -)", id))
	}
}

func checkPeriod(v *events.Validator, field, period string) {
	switch period {
	case "", events.PeriodWeek, events.PeriodMonth, events.PeriodQuarter:
	default:
		v.Add(field, fmt.Sprintf("unknown period %q (want week, month or quarter)", period))
	}
}

func checkLimit(v *events.Validator, limit int) {
	if limit < 0 || limit > MaxPageSize {
		v.Fault("limit", events.ProblemOutOfRange, fmt.Sprintf("must be between 1 and %d (0: %d)", MaxPageSize, DefaultPageSize),
			"min", "0", "max", strconv.Itoa(MaxPageSize))
	}
}

func checkRange(v *events.Validator, from, to events.Date) {
	if from.IsZero() || to.IsZero() {
		return
	}
	if to.Before(from) {
		v.Add("to", "must not be before from")
		return
	}
	if to.Time(time.UTC).Sub(from.Time(time.UTC)) > MaxComplianceDays*24*time.Hour {
		v.Add("to", fmt.Sprintf("must be at most %d days after from", MaxComplianceDays))
	}
}
