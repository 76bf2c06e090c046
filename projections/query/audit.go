package query

import (
	"fmt"
	"slices"
	"time"

	"rectify/events"
)

// Queries of the audit view (审计 / 操作记录), projection "audit":
// "timeline" and "feed". Every stored event is one entry: who did what,
// when, to which aggregate of which unit, and the fields it changed, with
// their values before and after.
//
// An entry belongs to the unit its aggregate belonged to when it happened:
// an item's unit (from its raising and its assignments), a commitment's
// unit, a unit itself. Cycle and user events (users, roles, tokens) belong
// to no unit; only a caller whose scope is All sees them.

// Aggregate kinds a timeline can be asked for.
var AggregateKinds = []string{
	events.CategoryItem, events.CategoryCommitment, events.CategoryUnit,
	events.CategoryUser, events.CategoryCycle,
}

// FieldChange is one field an event changed. Values are rendered as text:
// dates YYYY-MM-DD, numbers in decimal, the empty string for "none".
// Fields: status, deadline, unit, owner, owner_name, percent, cycle,
// title, category, severity, name, kind, parent, person, activity, target,
// period, start, end, ended_on, count, occurred_on, measure:<id>,
// evidence:<id>, role (role@unit), token. Only fields whose value changed
// are listed; a creating event lists its initial values with empty befores.
type FieldChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// AuditEntry is one event as the audit trail shows it.
type AuditEntry struct {
	Position uint64    `json:"position"`
	Revision uint64    `json:"revision"`
	EventID  string    `json:"event_id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	// ActorName is the actor's user name, when the view knows it.
	ActorName string `json:"actor_name,omitempty"`
	Type      string `json:"type"`
	Stream    string `json:"stream"`
	// Kind and AggregateID split Stream: "item", "42".
	Kind        string `json:"kind"`
	AggregateID string `json:"aggregate_id"`
	// Title is the title of the item or commitment, or the name of the
	// cycle, unit or user, the entry is about, as it is now (items,
	// commitments, cycles and users keep theirs; a unit shows its current
	// name); empty when the view has not seen it named.
	Title string `json:"title,omitempty"`
	// UnitID is the unit the aggregate belonged to at the time; empty for
	// cycle and user events.
	UnitID   string        `json:"unit_id,omitempty"`
	UnitName string        `json:"unit_name,omitempty"`
	Changes  []FieldChange `json:"changes"`
	// Reason is the reason or note the event carried, if any.
	Reason        string `json:"reason,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// AuditPage is one page of "timeline" or "feed".
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	// NextCursor continues with the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// TimelineParams are the parameters of "timeline": the events of one
// aggregate, oldest first. Name it by Stream ("item-42") or by Kind and ID.
// The timeline of an item, commitment or unit is visible when the
// aggregate's current unit lies inside the scope; that of a user or cycle
// only with an All scope.
type TimelineParams struct {
	Stream string `json:"stream,omitempty"`
	Kind   string `json:"kind,omitempty"`
	ID     string `json:"id,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks the parameters and fills Stream from Kind and ID.
func (p *TimelineParams) Validate() error {
	var v events.Validator
	switch {
	case p.Stream != "" && (p.Kind != "" || p.ID != ""):
		v.Add("stream", "give either stream, or kind and id, not both")
	case p.Stream != "":
		if _, _, ok := events.ParseStream(p.Stream); !ok {
			v.Add("stream", fmt.Sprintf("%q is not a stream name such as item-42", p.Stream))
		}
	default:
		if !slices.Contains(AggregateKinds, p.Kind) {
			v.Add("kind", fmt.Sprintf("unknown kind %q (want item, commitment, unit, user or cycle)", p.Kind))
		}
		if p.ID == "" {
			v.Add("id", "is required")
		} else {
			checkID(&v, "id", p.ID)
		}
		p.Stream = p.Kind + "-" + p.ID
	}
	checkLimit(&v, p.Limit)
	return v.Err()
}

// FeedParams are the parameters of "feed": every event inside the scope,
// newest first. The filters combine with AND.
type FeedParams struct {
	// ActorID keeps what one user (or "system") did.
	ActorID string `json:"actor_id,omitempty"`
	// UnitID keeps events of this unit and its subtree.
	UnitID string `json:"unit_id,omitempty"`
	// Types keeps events of these types ("rectify.item.deadline_changed").
	Types []string `json:"types,omitempty"`
	// From and To bound the events' times, both included.
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Limit  int       `json:"limit,omitempty"`
	Cursor string    `json:"cursor,omitempty"`
}

// Validate reports every bad parameter as a CodeInvalid *events.Error.
func (p *FeedParams) Validate() error {
	var v events.Validator
	if p.ActorID != "" && !events.ValidID(p.ActorID) && !events.IsSystemActor(p.ActorID) {
		v.Add("actor_id", fmt.Sprintf("%q is not a user id", p.ActorID))
	}
	checkID(&v, "unit_id", p.UnitID)
	known := events.Types()
	for _, t := range p.Types {
		if _, ok := slices.BinarySearch(known, t); !ok {
			v.Add("types", fmt.Sprintf("unknown event type %q", t))
		}
	}
	if !p.From.IsZero() && !p.To.IsZero() && p.To.Before(p.From) {
		v.Add("to", "must not be before from")
	}
	checkLimit(&v, p.Limit)
	return v.Err()
}
