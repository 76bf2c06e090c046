package events

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Command is a request to change one aggregate: the wire contract between
// the gateway and the command side. Commands travel as JSON (DecodeCommand
// reads them) under their CommandName.
//
// Validate checks the shape of a command only (required fields, id syntax,
// lengths, ranges, dates); rules that need the current state (an item must
// be submitted before it is verified) belong to the command side. It
// returns nil or a CodeInvalid *Error listing every bad field, named as in
// JSON.
//
// Commands addressing an existing aggregate carry ExpectedRevision: when
// set, the command applies only if the aggregate's stream is still at that
// revision (else CodeConflict), and is never retried against newer state.
type Command interface {
	CommandName() string
	Validate() error
}

// ---- item ----

// RaiseItem records a problem found in a cycle as an item of a unit. Without
// an ItemID the command side assigns one (a UUID).
type RaiseItem struct {
	ItemID      string `json:"item_id,omitempty"`
	CycleID     string `json:"cycle_id"`
	UnitID      string `json:"unit_id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	Source      string `json:"source,omitempty"`
	Severity    string `json:"severity,omitempty"`
	Deadline    Date   `json:"deadline"`
}

func (RaiseItem) CommandName() string { return "item.raise" }

func (c RaiseItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, false)
	v.id("cycle_id", c.CycleID, true)
	v.id("unit_id", c.UnitID, true)
	v.text("title", c.Title, true, MaxTitleLen)
	v.para("description", c.Description, false, MaxDescriptionLen)
	v.text("category", c.Category, false, MaxShortLen)
	v.text("source", c.Source, false, MaxSourceLen)
	v.oneOf("severity", c.Severity, false, Severities)
	v.date("deadline", c.Deadline, true)
	return v.Err()
}

// AssignItem makes UnitID (and, optionally, one person of it) responsible
// for an item.
type AssignItem struct {
	ItemID           string  `json:"item_id"`
	UnitID           string  `json:"unit_id"`
	OwnerID          string  `json:"owner_id,omitempty"`
	OwnerName        string  `json:"owner_name,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (AssignItem) CommandName() string { return "item.assign" }

func (c AssignItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.id("unit_id", c.UnitID, true)
	v.id("owner_id", c.OwnerID, false)
	v.text("owner_name", c.OwnerName, false, MaxNameLen)
	return v.Err()
}

// PlanMeasure adds a measure to an item. Without a MeasureID the command
// side assigns one and returns it.
type PlanMeasure struct {
	ItemID           string  `json:"item_id"`
	MeasureID        string  `json:"measure_id,omitempty"`
	Text             string  `json:"text"`
	OwnerID          string  `json:"owner_id,omitempty"`
	OwnerName        string  `json:"owner_name,omitempty"`
	Due              Date    `json:"due,omitzero"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (PlanMeasure) CommandName() string { return "item.plan_measure" }

func (c PlanMeasure) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.id("measure_id", c.MeasureID, false)
	v.para("text", c.Text, true, MaxTextLen)
	v.id("owner_id", c.OwnerID, false)
	v.text("owner_name", c.OwnerName, false, MaxNameLen)
	return v.Err()
}

// CompleteMeasure marks a measure of an item done, on CompletedOn (today
// when not given).
type CompleteMeasure struct {
	ItemID           string  `json:"item_id"`
	MeasureID        string  `json:"measure_id"`
	Note             string  `json:"note,omitempty"`
	CompletedOn      Date    `json:"completed_on,omitzero"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (CompleteMeasure) CommandName() string { return "item.complete_measure" }

func (c CompleteMeasure) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.id("measure_id", c.MeasureID, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// ReportProgress reports how far an item is. Percent, when given, is 0..100;
// without it the percentage stays as it was and the note is required.
type ReportProgress struct {
	ItemID           string  `json:"item_id"`
	Percent          *int    `json:"percent,omitempty"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (ReportProgress) CommandName() string { return "item.report_progress" }

func (c ReportProgress) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	if c.Percent != nil {
		v.between("percent", *c.Percent, 0, 100, "a percentage")
	}
	v.para("note", c.Note, c.Percent == nil, MaxTextLen)
	return v.Err()
}

// AttachEvidence records a file (already stored elsewhere) as evidence for
// an item. Without an EvidenceID the command side assigns one.
type AttachEvidence struct {
	ItemID           string  `json:"item_id"`
	EvidenceID       string  `json:"evidence_id,omitempty"`
	Name             string  `json:"name"`
	Size             int64   `json:"size"`
	SHA256           string  `json:"sha256"`
	ContentType      string  `json:"content_type,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (AttachEvidence) CommandName() string { return "item.attach_evidence" }

func (c AttachEvidence) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.id("evidence_id", c.EvidenceID, false)
	v.text("name", c.Name, true, MaxNameLen*2)
	v.rule(c.Size > 0, "size", ProblemNotPositive, textPositive)
	v.sha256("sha256", c.SHA256)
	v.text("content_type", c.ContentType, false, MaxShortLen)
	return v.Err()
}

// SubmitItem submits an item for verification.
type SubmitItem struct {
	ItemID           string  `json:"item_id"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (SubmitItem) CommandName() string { return "item.submit" }

func (c SubmitItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// VerifyItem closes a submitted item: the reviewer accepts the fix.
type VerifyItem struct {
	ItemID           string  `json:"item_id"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (VerifyItem) CommandName() string { return "item.verify" }

func (c VerifyItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// RejectItem sends a submitted item back to work, for a reason.
type RejectItem struct {
	ItemID           string  `json:"item_id"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (RejectItem) CommandName() string { return "item.reject" }

func (c RejectItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// ChangeDeadline moves an item's deadline to Deadline, for a reason.
type ChangeDeadline struct {
	ItemID           string  `json:"item_id"`
	Deadline         Date    `json:"deadline"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (ChangeDeadline) CommandName() string { return "item.change_deadline" }

func (c ChangeDeadline) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.date("deadline", c.Deadline, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// CarryOverItem moves an unfinished item into a later, open cycle (结转).
type CarryOverItem struct {
	ItemID           string  `json:"item_id"`
	ToCycleID        string  `json:"to_cycle_id"`
	Reason           string  `json:"reason,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (CarryOverItem) CommandName() string { return "item.carry_over" }

func (c CarryOverItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.id("to_cycle_id", c.ToCycleID, true)
	v.para("reason", c.Reason, false, MaxTextLen)
	return v.Err()
}

// WithdrawItem drops an unfinished item, for a reason.
type WithdrawItem struct {
	ItemID           string  `json:"item_id"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (WithdrawItem) CommandName() string { return "item.withdraw" }

func (c WithdrawItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// ReopenItem puts a closed item back in progress, for a reason.
type ReopenItem struct {
	ItemID           string  `json:"item_id"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (ReopenItem) CommandName() string { return "item.reopen" }

func (c ReopenItem) Validate() error {
	var v fieldCheck
	v.id("item_id", c.ItemID, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// ---- commitment ----

// MakeCommitment records a commitment of a unit, or of a person of it when
// PersonID is set: at least Target activities per Period from Start to End.
type MakeCommitment struct {
	CommitmentID string `json:"commitment_id,omitempty"`
	CycleID      string `json:"cycle_id,omitempty"`
	UnitID       string `json:"unit_id"`
	PersonID     string `json:"person_id,omitempty"`
	PersonName   string `json:"person_name,omitempty"`
	Title        string `json:"title"`
	Activity     string `json:"activity"`
	Target       int    `json:"target"`
	Period       string `json:"period"`
	Start        Date   `json:"start"`
	End          Date   `json:"end"`
	// Source says where the commitment was written down ("述职报告 第19行：…").
	Source string `json:"source,omitempty"`
}

func (MakeCommitment) CommandName() string { return "commitment.make" }

func (c MakeCommitment) Validate() error {
	var v fieldCheck
	v.id("commitment_id", c.CommitmentID, false)
	v.id("cycle_id", c.CycleID, false)
	v.id("unit_id", c.UnitID, true)
	v.id("person_id", c.PersonID, false)
	v.text("person_name", c.PersonName, false, MaxNameLen)
	v.text("title", c.Title, true, MaxTitleLen)
	v.text("activity", c.Activity, true, MaxShortLen)
	v.positive("target", c.Target, MaxTarget)
	v.oneOf("period", c.Period, true, Periods)
	v.date("start", c.Start, true)
	v.date("end", c.End, true)
	v.span("start", c.Start, "end", c.End)
	v.text("source", c.Source, false, MaxSourceLen)
	return v.Err()
}

// ReviseCommitment changes the target, period or end of a commitment, for a
// reason. Fields left out keep their value; at least one must be given.
type ReviseCommitment struct {
	CommitmentID     string  `json:"commitment_id"`
	Target           *int    `json:"target,omitempty"`
	Period           string  `json:"period,omitempty"`
	End              Date    `json:"end,omitzero"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (ReviseCommitment) CommandName() string { return "commitment.revise" }

func (c ReviseCommitment) Validate() error {
	var v fieldCheck
	v.id("commitment_id", c.CommitmentID, true)
	if c.Target != nil {
		v.positive("target", *c.Target, MaxTarget)
	}
	v.oneOf("period", c.Period, false, Periods)
	v.rule(c.Target != nil || c.Period != "" || !c.End.IsZero(), "target", ProblemRequired, "one of target, period and end is required")
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// EndCommitment stops a commitment on EndedOn (today when not given).
type EndCommitment struct {
	CommitmentID     string  `json:"commitment_id"`
	Reason           string  `json:"reason"`
	EndedOn          Date    `json:"ended_on,omitzero"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (EndCommitment) CommandName() string { return "commitment.end" }

func (c EndCommitment) Validate() error {
	var v fieldCheck
	v.id("commitment_id", c.CommitmentID, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// LogActivity records Count activities toward a commitment on OccurredOn.
// Without an ActivityID the command side assigns one.
type LogActivity struct {
	CommitmentID     string  `json:"commitment_id"`
	ActivityID       string  `json:"activity_id,omitempty"`
	Count            int     `json:"count"`
	OccurredOn       Date    `json:"occurred_on"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (LogActivity) CommandName() string { return "commitment.log_activity" }

func (c LogActivity) Validate() error {
	var v fieldCheck
	v.id("commitment_id", c.CommitmentID, true)
	v.id("activity_id", c.ActivityID, false)
	v.positive("count", c.Count, MaxActivityCount)
	v.date("occurred_on", c.OccurredOn, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// ---- cycle ----

// OpenCycle starts a review cycle. Without a CycleID the command side
// assigns one; readable ids such as "2019" are welcome.
type OpenCycle struct {
	CycleID string `json:"cycle_id,omitempty"`
	Name    string `json:"name"`
	Year    int    `json:"year"`
	Kind    string `json:"kind"`
	Start   Date   `json:"start"`
	End     Date   `json:"end"`
}

func (OpenCycle) CommandName() string { return "cycle.open" }

func (c OpenCycle) Validate() error {
	var v fieldCheck
	v.id("cycle_id", c.CycleID, false)
	v.text("name", c.Name, true, MaxTitleLen)
	v.between("year", c.Year, MinYear, MaxYear, "a year")
	v.oneOf("kind", c.Kind, true, CycleKinds)
	v.date("start", c.Start, true)
	v.date("end", c.End, true)
	v.span("start", c.Start, "end", c.End)
	return v.Err()
}

// CloseCycle stops a cycle from taking new items.
type CloseCycle struct {
	CycleID          string  `json:"cycle_id"`
	Note             string  `json:"note,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (CloseCycle) CommandName() string { return "cycle.close" }

func (c CloseCycle) Validate() error {
	var v fieldCheck
	v.id("cycle_id", c.CycleID, true)
	v.para("note", c.Note, false, MaxTextLen)
	return v.Err()
}

// CarryOverCycle carries every unfinished item of FromCycleID into
// ToCycleID in one operation (年度结转), each as item.carry_over would: the
// item keeps its id and stream, so its timeline spans both cycles. With
// DryRun it lists what would move and writes nothing. Under one
// idempotency key a retry (after a crash halfway, say) carries what is
// left and reports the whole job again, never carrying an item twice.
type CarryOverCycle struct {
	FromCycleID string `json:"from_cycle_id"`
	ToCycleID   string `json:"to_cycle_id"`
	Reason      string `json:"reason,omitempty"`
	DryRun      bool   `json:"dry_run,omitempty"`
}

func (CarryOverCycle) CommandName() string { return "cycle.carry_over" }

func (c CarryOverCycle) Validate() error {
	var v fieldCheck
	v.id("from_cycle_id", c.FromCycleID, true)
	v.id("to_cycle_id", c.ToCycleID, true)
	v.rule(c.ToCycleID == "" || c.ToCycleID != c.FromCycleID, "to_cycle_id", ProblemSameAsField, "must not be the cycle carried over from",
		"other", "from_cycle_id")
	v.para("reason", c.Reason, false, MaxTextLen)
	return v.Err()
}

// CycleCarryOver is what CarryOverCycle did, or in a dry run would do: the
// command's detail in its reply.
type CycleCarryOver struct {
	FromCycleID string `json:"from_cycle_id"`
	ToCycleID   string `json:"to_cycle_id"`
	DryRun      bool   `json:"dry_run"`
	// Items are the items carried over (that would be, in a dry run), in
	// the order they were raised.
	Items []CarryOverLine `json:"items"`
}

// CarryOverLine is one item of a CycleCarryOver, as it stood before it
// moved.
type CarryOverLine struct {
	ItemID   string     `json:"item_id"`
	Title    string     `json:"title"`
	UnitID   string     `json:"unit_id"`
	Status   ItemStatus `json:"status"`
	Deadline Date       `json:"deadline"`
	// Position is the $all position of the item's carried_over event;
	// absent in a dry run.
	Position uint64 `json:"position,omitempty"`
}

// ---- unit ----

// RegisterUnit adds a unit under ParentID (a root unit without one).
// Without a UnitID the command side assigns one.
type RegisterUnit struct {
	UnitID   string `json:"unit_id,omitempty"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	ParentID string `json:"parent_id,omitempty"`
}

func (RegisterUnit) CommandName() string { return "unit.register" }

func (c RegisterUnit) Validate() error {
	var v fieldCheck
	v.id("unit_id", c.UnitID, false)
	v.text("name", c.Name, true, MaxNameLen)
	v.oneOf("kind", c.Kind, true, UnitKinds)
	v.id("parent_id", c.ParentID, false)
	v.rule(c.ParentID == "" || c.ParentID != c.UnitID, "parent_id", ProblemSameAsField, "must not be the unit itself", "other", "unit_id")
	return v.Err()
}

// RenameUnit gives a unit a new name.
type RenameUnit struct {
	UnitID           string  `json:"unit_id"`
	Name             string  `json:"name"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (RenameUnit) CommandName() string { return "unit.rename" }

func (c RenameUnit) Validate() error {
	var v fieldCheck
	v.id("unit_id", c.UnitID, true)
	v.text("name", c.Name, true, MaxNameLen)
	return v.Err()
}

// MoveUnit puts a unit under another parent; an empty ParentID makes it a
// root unit.
type MoveUnit struct {
	UnitID           string  `json:"unit_id"`
	ParentID         string  `json:"parent_id,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (MoveUnit) CommandName() string { return "unit.move" }

func (c MoveUnit) Validate() error {
	var v fieldCheck
	v.id("unit_id", c.UnitID, true)
	v.id("parent_id", c.ParentID, false)
	v.rule(c.ParentID == "" || c.ParentID != c.UnitID, "parent_id", ProblemSameAsField, "must not be the unit itself", "other", "unit_id")
	return v.Err()
}

// RetireUnit dissolves a unit, for a reason. Its history stays.
type RetireUnit struct {
	UnitID           string  `json:"unit_id"`
	Reason           string  `json:"reason"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (RetireUnit) CommandName() string { return "unit.retire" }

func (c RetireUnit) Validate() error {
	var v fieldCheck
	v.id("unit_id", c.UnitID, true)
	v.para("reason", c.Reason, true, MaxTextLen)
	return v.Err()
}

// ---- user ----

// CreateUser adds a user account. Without a UserID the command side assigns
// one. The id "system" is reserved.
type CreateUser struct {
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name"`
}

func (CreateUser) CommandName() string { return "user.create" }

func (c CreateUser) Validate() error {
	var v fieldCheck
	v.id("user_id", c.UserID, false)
	v.rule(c.UserID != SystemActor, "user_id", ProblemReserved, "is reserved")
	v.text("name", c.Name, true, MaxNameLen)
	return v.Err()
}

// GrantRole gives a user Role on UnitID and its subtree (the whole
// organisation when UnitID is empty).
type GrantRole struct {
	UserID           string  `json:"user_id"`
	Role             string  `json:"role"`
	UnitID           string  `json:"unit_id,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (GrantRole) CommandName() string { return "user.grant_role" }

func (c GrantRole) Validate() error {
	var v fieldCheck
	v.id("user_id", c.UserID, true)
	v.oneOf("role", c.Role, true, Roles)
	v.id("unit_id", c.UnitID, false)
	return v.Err()
}

// RevokeRole takes Role on UnitID away from a user.
type RevokeRole struct {
	UserID           string  `json:"user_id"`
	Role             string  `json:"role"`
	UnitID           string  `json:"unit_id,omitempty"`
	Reason           string  `json:"reason,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (RevokeRole) CommandName() string { return "user.revoke_role" }

func (c RevokeRole) Validate() error {
	var v fieldCheck
	v.id("user_id", c.UserID, true)
	v.oneOf("role", c.Role, true, Roles)
	v.id("unit_id", c.UnitID, false)
	v.para("reason", c.Reason, false, MaxTextLen)
	return v.Err()
}

// IssueToken creates an API token for a user. The command side returns the
// token text once; only its hash is stored. A zero ExpiresAt means the token
// does not expire.
type IssueToken struct {
	UserID           string    `json:"user_id"`
	TokenID          string    `json:"token_id,omitempty"`
	Label            string    `json:"label,omitempty"`
	ExpiresAt        time.Time `json:"expires_at,omitzero"`
	ExpectedRevision *uint64   `json:"expected_revision,omitempty"`
}

func (IssueToken) CommandName() string { return "user.issue_token" }

func (c IssueToken) Validate() error {
	var v fieldCheck
	v.id("user_id", c.UserID, true)
	v.id("token_id", c.TokenID, false)
	v.text("label", c.Label, false, MaxShortLen)
	return v.Err()
}

// RevokeToken makes a token stop authenticating.
type RevokeToken struct {
	UserID           string  `json:"user_id"`
	TokenID          string  `json:"token_id"`
	Reason           string  `json:"reason,omitempty"`
	ExpectedRevision *uint64 `json:"expected_revision,omitempty"`
}

func (RevokeToken) CommandName() string { return "user.revoke_token" }

func (c RevokeToken) Validate() error {
	var v fieldCheck
	v.id("user_id", c.UserID, true)
	v.id("token_id", c.TokenID, true)
	v.para("reason", c.Reason, false, MaxTextLen)
	return v.Err()
}

// ---- report import ----

// MaxImportEntries bounds the entries (items, measures and commitments
// together) of one ImportReport: a year's report has tens of them, and
// one command must stay a bounded amount of work.
const MaxImportEntries = 500

// ImportReport writes a reviewed annual work report (述职报告) into the
// ledger as one command: every item raised in CycleID (and assigned when
// it names an owner) with its measures, and every commitment made. The
// report package builds it from a reviewed draft.
//
// Each entry carries the key it had in the draft (p1, p1.m2, c3): errors
// name fields as "<entry>.<field>" (p2.deadline), and the reply maps each
// entry to the id it created. The command side checks every entry against
// the current state and the actor's roles before it writes any, then
// writes the entries one after another, each item with its assignment
// and measures in one atomic append; a retry with the same idempotency
// key finishes an import that was cut off and writes nothing twice.
//
// With DryRun the command side makes the same checks against the current
// state and the actor's roles, reports the ids the entries would get, and
// writes nothing (the ledger import's dry run).
type ImportReport struct {
	CycleID     string             `json:"cycle_id"`
	Items       []ImportItem       `json:"items,omitempty"`
	Commitments []ImportCommitment `json:"commitments,omitempty"`
	DryRun      bool               `json:"dry_run,omitempty"`
}

// ImportItem is one item of an import: what RaiseItem takes, an optional
// owner (AssignItem to the same unit), and its measures.
type ImportItem struct {
	Entry       string          `json:"entry"`
	ItemID      string          `json:"item_id,omitempty"`
	UnitID      string          `json:"unit_id"`
	Title       string          `json:"title"`
	Description string          `json:"description,omitempty"`
	Category    string          `json:"category,omitempty"`
	Source      string          `json:"source,omitempty"`
	Severity    string          `json:"severity,omitempty"`
	Deadline    Date            `json:"deadline"`
	OwnerID     string          `json:"owner_id,omitempty"`
	OwnerName   string          `json:"owner_name,omitempty"`
	Measures    []ImportMeasure `json:"measures,omitempty"`
}

// ImportMeasure is a measure of an imported item (PlanMeasure).
type ImportMeasure struct {
	Entry     string `json:"entry"`
	MeasureID string `json:"measure_id,omitempty"`
	Text      string `json:"text"`
	OwnerID   string `json:"owner_id,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	Due       Date   `json:"due,omitzero"`
}

// ImportCommitment is one commitment of an import (MakeCommitment).
type ImportCommitment struct {
	Entry        string `json:"entry"`
	CommitmentID string `json:"commitment_id,omitempty"`
	UnitID       string `json:"unit_id"`
	PersonID     string `json:"person_id,omitempty"`
	PersonName   string `json:"person_name,omitempty"`
	Title        string `json:"title"`
	Activity     string `json:"activity"`
	Target       int    `json:"target"`
	Period       string `json:"period"`
	Start        Date   `json:"start"`
	End          Date   `json:"end"`
	Source       string `json:"source,omitempty"`
}

func (ImportReport) CommandName() string { return "report.import" }

// Raise is the RaiseItem the item stands for.
func (it ImportItem) Raise(cycleID string) RaiseItem {
	return RaiseItem{ItemID: it.ItemID, CycleID: cycleID, UnitID: it.UnitID, Title: it.Title, Description: it.Description,
		Category: it.Category, Source: it.Source, Severity: it.Severity, Deadline: it.Deadline}
}

// Assign is the AssignItem naming the item's owner; ok is false when the
// item names none.
func (it ImportItem) Assign() (c AssignItem, ok bool) {
	if it.OwnerID == "" && it.OwnerName == "" {
		return AssignItem{}, false
	}
	return AssignItem{ItemID: it.ItemID, UnitID: it.UnitID, OwnerID: it.OwnerID, OwnerName: it.OwnerName}, true
}

// Plan is the PlanMeasure adding the measure to item itemID.
func (m ImportMeasure) Plan(itemID string) PlanMeasure {
	return PlanMeasure{ItemID: itemID, MeasureID: m.MeasureID, Text: m.Text, OwnerID: m.OwnerID, OwnerName: m.OwnerName, Due: m.Due}
}

// Make is the MakeCommitment the commitment stands for.
func (c ImportCommitment) Make(cycleID string) MakeCommitment {
	return MakeCommitment{CommitmentID: c.CommitmentID, CycleID: cycleID, UnitID: c.UnitID, PersonID: c.PersonID,
		PersonName: c.PersonName, Title: c.Title, Activity: c.Activity, Target: c.Target, Period: c.Period,
		Start: c.Start, End: c.End, Source: c.Source}
}

// Validate checks every entry as the command it stands for would be
// checked, naming each problem "<entry>.<field>", and that entry keys and
// ids are unique within the import.
func (c ImportReport) Validate() error {
	var v fieldCheck
	v.id("cycle_id", c.CycleID, true)
	n := len(c.Items) + len(c.Commitments)
	for _, it := range c.Items {
		n += len(it.Measures)
	}
	v.rule(n > 0, "items", ProblemEmpty, "an import needs at least one item or commitment")
	if n > MaxImportEntries {
		v.Fault("items", ProblemTooMany, fmt.Sprintf("an import takes at most %d entries (items, measures and commitments), not %d; split the report", MaxImportEntries, n),
			"max", strconv.Itoa(MaxImportEntries))
		return v.Err()
	}
	entries := map[string]bool{}
	ids := map[string]string{} // kind/id -> entry that has it
	entry := func(key, where string) string {
		switch {
		case !validEntryKey(key):
			v.Fault(where+".entry", ProblemBadID, "must be 1 to 32 characters of A-Z a-z 0-9 . _ -")
			return where
		case entries[key]:
			v.Fault(key+".entry", ProblemDuplicate, "is given twice")
		}
		entries[key] = true
		return key
	}
	unique := func(key, field, kind, id string) {
		if id == "" {
			return
		}
		if other, dup := ids[kind+"/"+id]; dup {
			v.Fault(key+"."+field, ProblemDuplicate, "is also the id of "+other, "other", other)
			return
		}
		ids[kind+"/"+id] = key
	}
	// sub checks one command of an entry; the cycle and the ids tying a
	// measure to its item are the import's, checked once above.
	sub := func(key string, cmd Command, skip ...string) {
		var e *Error
		if err := cmd.Validate(); errors.As(err, &e) {
			for _, f := range e.Fields {
				if !slices.Contains(skip, f.Field) {
					v.AddField(f.Under(key))
				}
			}
		}
	}
	for i, it := range c.Items {
		key := entry(it.Entry, fmt.Sprintf("items[%d]", i))
		unique(key, "item_id", "item", it.ItemID)
		sub(key, it.Raise(c.CycleID), "cycle_id")
		if a, ok := it.Assign(); ok {
			sub(key, a, "item_id", "unit_id")
		}
		for j, m := range it.Measures {
			mkey := entry(m.Entry, fmt.Sprintf("%s.measures[%d]", key, j))
			unique(mkey, "measure_id", "measure", m.MeasureID)
			sub(mkey, m.Plan(it.ItemID), "item_id")
		}
	}
	for i, cm := range c.Commitments {
		key := entry(cm.Entry, fmt.Sprintf("commitments[%d]", i))
		unique(key, "commitment_id", "commitment", cm.CommitmentID)
		sub(key, cm.Make(c.CycleID), "cycle_id")
	}
	return v.Err()
}

// validEntryKey reports whether s can be an entry key of an import:
// 1 to 32 characters of [A-Za-z0-9._-] (the draft's keys are p1, p1.m2,
// c3, u1).
func validEntryKey(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
