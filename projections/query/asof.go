package query

import (
	"time"

	"rectify/events"
)

// As-of queries, served by projection "audit": "asof_item",
// "asof_commitment", "asof_unit" and "asof_ledger" (micro endpoint names
// allow no dots). Each folds the stored events of the aggregate's stream up
// to Request.AsOf: the events at or before AsOf.Position when it is set,
// and stamped at or before AsOf.Time when that is set (both when both are).
// A zero AsOf means now.
//
// The unit and cycle names shown are those of the same moment. Overdue and
// red/yellow/green are derived for the as-of day: Request.Today when set,
// else the day of AsOf.Time, else the day of the last event at or before
// AsOf.Position, else today (all in UTC+8).
//
// Scope: an aggregate is visible when, as it stood then, it belonged to a
// unit that lies inside the scope today. Units and their subtrees are
// today's tree: permissions are today's.
//
// The audit view answers the other views as of a point too, with the
// parameters and answers of the live views: "asof_units" (UnitsParams,
// UnitTree), "asof_cycles" (no parameters, Cycles), "asof_summary"
// (SummaryParams, Summary), "asof_trend" (TrendParams, Trend),
// "asof_commitments" (CommitmentListParams, CommitmentPage),
// "asof_compliance" (ComplianceParams, Compliance),
// "asof_compliance_units" (CommitmentUnitsParams, UnitsCompliance),
// "asof_users" (UsersParams, UserPage) and "asof_user" (UserParams, User).
// Each folds every aggregate of its kind up to the point with the live
// view's own rules, so that as of the view's head it answers what the
// live view answers. Their unit tree is the tree as it stood (names,
// parents, retirements; a unit_id parameter means that unit's subtree as
// it stood), confined to the units inside the scope today. Defaults that
// depend on today (a trend's or compliance range's end, colours, the
// status of a period) take the as-of day. "timeline" and "feed" take
// Request.AsOf themselves: the entries up to the point.

// AsOfItemParams are the parameters of "asof_item".
type AsOfItemParams struct {
	ItemID     string `json:"item_id"`
	YellowDays *int   `json:"yellow_days,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *AsOfItemParams) Validate() error {
	var v events.Validator
	v.Check(p.ItemID != "", "item_id", "is required")
	checkID(&v, "item_id", p.ItemID)
	checkYellowDays(&v, p.YellowDays)
	return v.Err()
}

// AsOfCommitmentParams are the parameters of "asof_commitment".
type AsOfCommitmentParams struct {
	CommitmentID string `json:"commitment_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *AsOfCommitmentParams) Validate() error {
	var v events.Validator
	v.Check(p.CommitmentID != "", "commitment_id", "is required")
	checkID(&v, "commitment_id", p.CommitmentID)
	return v.Err()
}

// AsOfUnitParams are the parameters of "asof_unit".
type AsOfUnitParams struct {
	UnitID string `json:"unit_id"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *AsOfUnitParams) Validate() error {
	var v events.Validator
	v.Check(p.UnitID != "", "unit_id", "is required")
	checkID(&v, "unit_id", p.UnitID)
	return v.Err()
}

// AsOfPoint says what an as-of answer was folded from.
type AsOfPoint struct {
	// Position and Time are those of the last event folded: the aggregate
	// stood so from then until its next event.
	Position uint64    `json:"position"`
	Time     time.Time `json:"time"`
	// Events is how many events of the stream were folded.
	Events int `json:"events"`
}

// AsOfItem is the answer of "asof_item". Fields the ledger derives from
// today (RAG, Overdue, DaysLeft) are derived for Day.
type AsOfItem struct {
	Item LedgerItem  `json:"item"`
	Day  events.Date `json:"day"`
	AsOfPoint
}

// AsOfCommitment is the answer of "asof_commitment".
type AsOfCommitment struct {
	Commitment Commitment `json:"commitment"`
	AsOfPoint
}

// AsOfUnit is the answer of "asof_unit". Depth is 0.
type AsOfUnit struct {
	Unit Unit `json:"unit"`
	AsOfPoint
}

// AsOfLedgerParams are the parameters of "asof_ledger": the items of a
// unit subtree (default: the scope) and cycle as they stood, ordered by item
// id.
type AsOfLedgerParams struct {
	UnitID     string `json:"unit_id,omitempty"`
	CycleID    string `json:"cycle_id,omitempty"`
	YellowDays *int   `json:"yellow_days,omitempty"`
	// Escalated keeps the items whose escalation stood open at this step
	// then, as in LedgerParams.
	Escalated string `json:"escalated,omitempty"`
	Limit     int    `json:"limit,omitempty"`
	Cursor    string `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *AsOfLedgerParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "cycle_id", p.CycleID)
	checkYellowDays(&v, p.YellowDays)
	checkEscalated(&v, p.Escalated)
	checkLimit(&v, p.Limit)
	return v.Err()
}

// AsOfLedger is one page of "asof_ledger".
type AsOfLedger struct {
	Items      []LedgerItem `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
	Day        events.Date  `json:"day"`
}
