package query

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"rectify/events"
)

// Queries of the ledger view (台账), projection "ledger": "list", "get",
// "units" and "cycles" here; "summary" and "trend" in progress.go.
//
// Overdue and red/yellow/green are derived at query time from an item's
// deadline and Request.Today (zero: today in China Standard Time, UTC+8):
// an unfinished item is red (overdue) when its deadline is before today,
// yellow when it is due within YellowDays days (today included), and green
// otherwise or when it has no deadline. Finished items (closed, withdrawn)
// are "done", never overdue.

// The deadline watcher (services/watcher) records when an unfinished item
// turned yellow and red and whom it reminded of an overdue item, once per
// deadline; a ledger line shows these facts of the item's current
// deadline (TurnedYellowAt, TurnedRedAt, Escalation). They are system
// facts, not work: they do not move UpdatedAt, and so not the "updated"
// order. A deadline change clears them; a closed or withdrawn item keeps
// them as history, no longer open.

// Values of the Escalated filter of "list": the step an item's escalation
// has reached. EscalatedHead and its synonym events.EscalateUnitHead name
// the same step.
const (
	EscalatedAny       = "any"
	EscalatedOwner     = events.EscalateOwner
	EscalatedHead      = "head"
	EscalatedCommittee = events.EscalateCommittee
)

// EscalationWhom returns the escalation target (events.Escalate*) the
// Escalated filter value f names, "" for EscalatedAny, and whether f is
// one of the filter's values.
func EscalationWhom(f string) (string, bool) {
	switch f {
	case EscalatedAny:
		return "", true
	case EscalatedHead, events.EscalateUnitHead:
		return events.EscalateUnitHead, true
	case EscalatedOwner, EscalatedCommittee:
		return f, true
	}
	return "", false
}

// MatchesEscalated reports whether the item passes the Escalated filter
// f ("" passes everything): an open escalation at the step f names.
func (it *LedgerItem) MatchesEscalated(f string) bool {
	if f == "" {
		return true
	}
	if it.Escalation == nil || !it.Escalation.Open {
		return false
	}
	whom, ok := EscalationWhom(f)
	return ok && (whom == "" || it.Escalation.Whom == whom)
}

func checkEscalated(v *events.Validator, f string) {
	if _, ok := EscalationWhom(f); f != "" && !ok {
		v.Add("escalated", fmt.Sprintf("unknown escalation %q (want owner, head, committee or any)", f))
	}
}

// Colours of an item (RAG: red, amber/yellow, green).
const (
	RAGRed    = "red"
	RAGYellow = "yellow"
	RAGGreen  = "green"
	RAGDone   = "done"
)

// DefaultYellowDays is how many days before its deadline an unfinished
// item turns yellow, unless a query says otherwise.
const DefaultYellowDays = 7

// MaxYellowDays bounds the yellow_days parameter.
const MaxYellowDays = 366

// Sort keys of "list".
const (
	LedgerSortDeadline = "deadline"
	LedgerSortRaised   = "raised"
	LedgerSortUpdated  = "updated"
	LedgerSortTitle    = "title"
	LedgerSortStatus   = "status"
)

// LedgerSorts lists the sort keys of "list".
var LedgerSorts = []string{LedgerSortDeadline, LedgerSortRaised, LedgerSortUpdated, LedgerSortTitle, LedgerSortStatus}

// Sort orders.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

// MaxSearchLen bounds the text search parameter, in characters.
const MaxSearchLen = 100

// ItemStatuses lists every item status in lifecycle order, the order the
// "status" sort uses.
var ItemStatuses = []events.ItemStatus{
	events.StatusRaised, events.StatusAssigned, events.StatusInProgress,
	events.StatusSubmitted, events.StatusClosed, events.StatusWithdrawn,
}

// LedgerParams are the parameters of "list". Every filter is optional and
// they combine with AND; the result holds only items of units inside the
// request's scope.
type LedgerParams struct {
	CycleID string `json:"cycle_id,omitempty"`
	// UnitID restricts to the items of this unit and, unless Subtree is
	// false, of every unit below it.
	UnitID  string `json:"unit_id,omitempty"`
	Subtree *bool  `json:"subtree,omitempty"`
	// Status keeps items in any of these statuses.
	Status   []string `json:"status,omitempty"`
	Category string   `json:"category,omitempty"`
	OwnerID  string   `json:"owner_id,omitempty"`
	// Overdue true keeps overdue items only (red); false keeps the others.
	Overdue *bool `json:"overdue,omitempty"`
	// RAG keeps items of one colour: red, yellow, green or done.
	RAG string `json:"rag,omitempty"`
	// YellowDays overrides DefaultYellowDays (0..366).
	YellowDays *int `json:"yellow_days,omitempty"`
	// Escalated keeps unfinished items whose escalation for their current
	// deadline stands at this step: owner (reminded, not yet passed on),
	// head (the unit's head, also unit_head), committee, or any of them.
	Escalated string `json:"escalated,omitempty"`
	// Q searches title, description, category and source, case-insensitive
	// for Latin letters; every whitespace-separated word must occur.
	Q string `json:"q,omitempty"`
	// Sort is one of LedgerSorts (default deadline); Order asc (default)
	// or desc. Ties are broken by item id in the same order.
	Sort  string `json:"sort,omitempty"`
	Order string `json:"order,omitempty"`
	// Cursor continues after the last item of an earlier page; it must come
	// from a page with the same sort and order.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the page size, default 50, at most 200.
	Limit int `json:"limit,omitempty"`
	// WithTotal asks for the number of items matching the filters.
	WithTotal bool `json:"with_total,omitempty"`
}

// Validate fills defaults and reports every bad parameter as a CodeInvalid
// *events.Error naming it.
func (p *LedgerParams) Validate() error {
	var v events.Validator
	checkID(&v, "cycle_id", p.CycleID)
	checkID(&v, "unit_id", p.UnitID)
	checkID(&v, "owner_id", p.OwnerID)
	for _, s := range p.Status {
		if !slices.Contains(ItemStatuses, events.ItemStatus(s)) {
			v.Add("status", fmt.Sprintf("unknown status %q", s))
		}
	}
	switch p.RAG {
	case "", RAGRed, RAGYellow, RAGGreen, RAGDone:
	default:
		v.Add("rag", fmt.Sprintf("unknown colour %q (want red, yellow, green or done)", p.RAG))
	}
	checkYellowDays(&v, p.YellowDays)
	checkEscalated(&v, p.Escalated)
	checkSearch(&v, p.Q)
	if p.Sort == "" {
		p.Sort = LedgerSortDeadline
	} else if !slices.Contains(LedgerSorts, p.Sort) {
		v.Add("sort", fmt.Sprintf("unknown sort %q (want %s)", p.Sort, strings.Join(LedgerSorts, ", ")))
	}
	if p.Order == "" {
		p.Order = OrderAsc
	} else if p.Order != OrderAsc && p.Order != OrderDesc {
		v.Add("order", fmt.Sprintf("unknown order %q (want asc or desc)", p.Order))
	}
	checkLimit(&v, p.Limit)
	if p.Limit == 0 {
		p.Limit = DefaultPageSize
	}
	return v.Err()
}

// YellowWindow returns the yellow_days in force.
func YellowWindow(p *int) int {
	if p == nil {
		return DefaultYellowDays
	}
	return *p
}

func checkYellowDays(v *events.Validator, d *int) {
	if d != nil && (*d < 0 || *d > MaxYellowDays) {
		v.Add("yellow_days", fmt.Sprintf("must be between 0 and %d", MaxYellowDays))
	}
}

func checkSearch(v *events.Validator, q string) {
	if !utf8.ValidString(q) {
		v.Add("q", "is not valid UTF-8")
	} else if utf8.RuneCountInString(q) > MaxSearchLen {
		v.Add("q", fmt.Sprintf("is longer than %d characters", MaxSearchLen))
	} else if strings.ContainsFunc(q, func(r rune) bool { return r < ' ' && r != '\t' && r != '\n' && r != '\r' }) {
		v.Add("q", "contains a control character")
	}
}

// LedgerItem is one line of the ledger: an item as it stands now.
type LedgerItem struct {
	ID        string            `json:"id"`
	CycleID   string            `json:"cycle_id"`
	CycleName string            `json:"cycle_name,omitempty"`
	UnitID    string            `json:"unit_id"`
	UnitName  string            `json:"unit_name,omitempty"`
	Title     string            `json:"title"`
	Category  string            `json:"category,omitempty"`
	Source    string            `json:"source,omitempty"`
	Severity  string            `json:"severity,omitempty"`
	Deadline  events.Date       `json:"deadline"`
	Status    events.ItemStatus `json:"status"`
	OwnerID   string            `json:"owner_id,omitempty"`
	OwnerName string            `json:"owner_name,omitempty"`
	Percent   int               `json:"percent"`
	// RAG is red, yellow, green, or done for a finished item; Overdue is
	// RAG == red, and DaysLeft the days from today to the deadline
	// (negative when overdue; absent without a deadline or when finished).
	RAG      string `json:"rag"`
	Overdue  bool   `json:"overdue"`
	DaysLeft *int   `json:"days_left,omitempty"`
	// RaisedOn is the day the item was raised, in UTC+8; UpdatedAt the
	// time of the latest change.
	RaisedOn  events.Date `json:"raised_on"`
	UpdatedAt time.Time   `json:"updated_at"`
	// UpdatedPosition is where the item last changed in $all.
	UpdatedPosition uint64 `json:"updated_position"`
	// ClosedOn is the day of the verification that closed the item (UTC+8),
	// OnTime whether that was on or before the deadline.
	ClosedOn events.Date `json:"closed_on,omitzero"`
	OnTime   *bool       `json:"on_time,omitempty"`
	// CarriedFrom is the cycle the item was last carried over from.
	CarriedFrom string `json:"carried_from,omitempty"`
	// Reason is the reason of the last rejection, reopening or withdrawal.
	Reason        string `json:"reason,omitempty"`
	MeasuresTotal int    `json:"measures_total"`
	MeasuresDone  int    `json:"measures_done"`
	EvidenceCount int    `json:"evidence_count"`
	// TurnedYellowAt and TurnedRedAt are when the deadline watcher
	// recorded that the item turned yellow and red for its current
	// deadline; Escalation is the highest escalation step it recorded.
	TurnedYellowAt time.Time   `json:"turned_yellow_at,omitzero"`
	TurnedRedAt    time.Time   `json:"turned_red_at,omitzero"`
	Escalation     *Escalation `json:"escalation,omitempty"`
}

// Escalation is the highest step of the deadline watcher's escalation of
// an overdue item, for its current deadline.
type Escalation struct {
	// Whom is owner, unit_head or committee (events.Escalate*); Step counts
	// the escalation ladder from 1.
	Whom string    `json:"whom"`
	Step int       `json:"step"`
	At   time.Time `json:"at"`
	// Open is true while the item is unfinished; a closed or withdrawn
	// item keeps its escalation as history.
	Open bool `json:"open"`
}

// LedgerPage is one page of "list".
type LedgerPage struct {
	Items []LedgerItem `json:"items"`
	// NextCursor continues with the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
	// Total is the number of matching items, with WithTotal only.
	Total *int        `json:"total,omitempty"`
	Today events.Date `json:"today"`
}

// ItemParams are the parameters of "get".
type ItemParams struct {
	ItemID     string `json:"item_id"`
	YellowDays *int   `json:"yellow_days,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *ItemParams) Validate() error {
	var v events.Validator
	v.Check(p.ItemID != "", "item_id", "is required")
	checkID(&v, "item_id", p.ItemID)
	checkYellowDays(&v, p.YellowDays)
	return v.Err()
}

// Measure is one measure (整改措施) of an item.
type Measure struct {
	ID          string      `json:"id"`
	Text        string      `json:"text"`
	OwnerID     string      `json:"owner_id,omitempty"`
	OwnerName   string      `json:"owner_name,omitempty"`
	Due         events.Date `json:"due,omitzero"`
	Done        bool        `json:"done"`
	CompletedOn events.Date `json:"completed_on,omitzero"`
	Note        string      `json:"note,omitempty"`
}

// Evidence is the metadata of one file attached to an item.
type Evidence struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type,omitempty"`
	UploadedBy  string    `json:"uploaded_by"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// ItemProgress is the latest progress report of an item.
type ItemProgress struct {
	Percent    int       `json:"percent"`
	Note       string    `json:"note,omitempty"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
}

// ItemDetail is the answer of "get": one item with its measures (in the
// order they were planned), evidence (in the order attached) and progress.
type ItemDetail struct {
	LedgerItem
	Description string `json:"description,omitempty"`
	// RaisedAt is the time the item was raised.
	RaisedAt time.Time    `json:"raised_at"`
	Measures []Measure    `json:"measures"`
	Evidence []Evidence   `json:"evidence"`
	Progress ItemProgress `json:"progress"`
	Today    events.Date  `json:"today"`
}

// Unit is one unit of the organisation tree.
type Unit struct {
	ID       string `json:"id"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Retired  bool   `json:"retired,omitempty"`
	// Depth counts the ancestors visible to the caller: 0 for the roots of
	// what the scope shows.
	Depth int `json:"depth"`
}

// UnitsParams are the parameters of "units".
type UnitsParams struct {
	// UnitID restricts to this unit's subtree.
	UnitID string `json:"unit_id,omitempty"`
	// IncludeRetired also lists retired units.
	IncludeRetired bool `json:"include_retired,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *UnitsParams) Validate() error {
	var v events.Validator
	checkID(&v, "unit_id", p.UnitID)
	return v.Err()
}

// UnitTree is the answer of "units": the units inside the scope in tree
// order, each before its children, siblings by name then id. A unit whose
// parent lies outside the scope is a root (ParentID still names it).
type UnitTree struct {
	Units []Unit `json:"units"`
}

// Cycle is one review cycle.
type Cycle struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Year      int         `json:"year"`
	Kind      string      `json:"kind"`
	Start     events.Date `json:"start"`
	End       events.Date `json:"end"`
	Closed    bool        `json:"closed"`
	CloseNote string      `json:"close_note,omitempty"`
}

// Cycles is the answer of "cycles": every cycle, newest year first, then
// by start and id. Cycles are not confined by scope. "cycles" takes no
// parameters.
type Cycles struct {
	Cycles []Cycle `json:"cycles"`
}
