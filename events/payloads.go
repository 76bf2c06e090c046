package events

import "time"

// Payload is the data of one event. Each payload type answers the one event
// name it is registered under (names.go), and carries the id of its
// aggregate so that a projection can use it without parsing stream names.
//
// Payloads are facts: they are never validated again when read, and a
// projection applying one must not fail.
type Payload interface {
	EventType() string
}

// Roles a user can hold on a unit (and so on its subtree) or, with the empty
// unit id, on the whole organisation.
const (
	RoleAdmin    = "admin"
	RoleReviewer = "reviewer"
	RoleEditor   = "editor"
	RoleViewer   = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []string{RoleAdmin, RoleReviewer, RoleEditor, RoleViewer}

// Commitment periods: the window a target count applies to.
const (
	PeriodWeek    = "week"
	PeriodMonth   = "month"
	PeriodQuarter = "quarter"
)

// Periods lists every commitment period.
var Periods = []string{PeriodWeek, PeriodMonth, PeriodQuarter}

// Unit kinds.
const (
	UnitCommittee  = "committee"  // 工委 / 党委
	UnitCommunity  = "community"  // 社区
	UnitNonPublic  = "nonpublic"  // 非公企业 / 社会组织
	UnitBranch     = "branch"     // 支部
	UnitDepartment = "department" // 科室 / 部门
	UnitOther      = "other"
)

// UnitKinds lists every unit kind.
var UnitKinds = []string{UnitCommittee, UnitCommunity, UnitNonPublic, UnitBranch, UnitDepartment, UnitOther}

// Cycle kinds.
const (
	CycleAnnualReview = "annual_review" // 年度述职评议
	CycleInspection   = "inspection"    // 巡察 / 检查
	CycleSpecial      = "special"       // 专项整治
	CycleOther        = "other"
)

// CycleKinds lists every cycle kind.
var CycleKinds = []string{CycleAnnualReview, CycleInspection, CycleSpecial, CycleOther}

// Item severities. The empty severity means "not graded".
const (
	SeverityLow    = "low"
	SeverityNormal = "normal"
	SeverityHigh   = "high"
)

// Severities lists every severity.
var Severities = []string{SeverityLow, SeverityNormal, SeverityHigh}

// ItemStatus is where an item stands in its lifecycle. It is derived from
// the item's events (the command side and the projections fold them the
// same way); no event carries it.
//
//	raised -> assigned -> in_progress -> submitted -> closed
//	                           ^             |          |
//	                           +--rejected---+          |
//	                           +------reopened----------+
//	any state but closed -> withdrawn (final)
type ItemStatus string

const (
	StatusRaised     ItemStatus = "raised"
	StatusAssigned   ItemStatus = "assigned"
	StatusInProgress ItemStatus = "in_progress"
	StatusSubmitted  ItemStatus = "submitted"
	StatusClosed     ItemStatus = "closed"
	StatusWithdrawn  ItemStatus = "withdrawn"
)

// Finished reports whether an item in status s needs no more work: closed
// or withdrawn.
func (s ItemStatus) Finished() bool { return s == StatusClosed || s == StatusWithdrawn }

// ---- cycle ----

// CycleOpenedData: a review cycle (评议周期) began; its findings become items.
type CycleOpenedData struct {
	CycleID string `json:"cycle_id"`
	Name    string `json:"name"`
	Year    int    `json:"year"`
	Kind    string `json:"kind"`
	Start   Date   `json:"start"`
	End     Date   `json:"end"`
}

// CycleClosedData: a cycle takes no new items any more. Unfinished items stay
// open and can be carried over into a later cycle.
type CycleClosedData struct {
	CycleID string `json:"cycle_id"`
	Note    string `json:"note,omitempty"`
}

// ---- unit ----

// UnitRegisteredData: a unit joined the organisation tree. ParentID is empty
// for a root unit.
type UnitRegisteredData struct {
	UnitID   string `json:"unit_id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	ParentID string `json:"parent_id,omitempty"`
}

// UnitRenamedData: a unit's name changed from OldName to NewName.
type UnitRenamedData struct {
	UnitID  string `json:"unit_id"`
	OldName string `json:"old_name"`
	NewName string `json:"new_name"`
}

// UnitMovedData: a unit moved to another parent (empty: it became a root).
type UnitMovedData struct {
	UnitID      string `json:"unit_id"`
	OldParentID string `json:"old_parent_id,omitempty"`
	NewParentID string `json:"new_parent_id,omitempty"`
}

// UnitRetiredData: a unit was dissolved or merged; it takes no new items or
// commitments, and its history stays.
type UnitRetiredData struct {
	UnitID string `json:"unit_id"`
	Reason string `json:"reason"`
}

// ---- item ----

// ItemRaisedData: a problem found in a cycle became a rectification item
// (整改事项) of a unit, due by Deadline.
type ItemRaisedData struct {
	ItemID      string `json:"item_id"`
	CycleID     string `json:"cycle_id"`
	UnitID      string `json:"unit_id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Category groups items for progress per category ("作风建设").
	Category string `json:"category,omitempty"`
	// Source says where the problem was found ("2019年度述职评议会议").
	Source   string `json:"source,omitempty"`
	Severity string `json:"severity,omitempty"`
	Deadline Date   `json:"deadline"`
}

// ItemAssignedData: the responsible unit and person of an item were set.
// The old values make the audit trail show before and after.
type ItemAssignedData struct {
	ItemID       string `json:"item_id"`
	UnitID       string `json:"unit_id"`
	OwnerID      string `json:"owner_id"`
	OwnerName    string `json:"owner_name,omitempty"`
	OldUnitID    string `json:"old_unit_id,omitempty"`
	OldOwnerID   string `json:"old_owner_id,omitempty"`
	OldOwnerName string `json:"old_owner_name,omitempty"`
}

// ItemMeasurePlannedData: a measure (整改措施) was added to an item.
type ItemMeasurePlannedData struct {
	ItemID    string `json:"item_id"`
	MeasureID string `json:"measure_id"`
	Text      string `json:"text"`
	OwnerID   string `json:"owner_id,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	Due       Date   `json:"due,omitzero"`
}

// ItemMeasureCompletedData: a measure of an item was carried out.
type ItemMeasureCompletedData struct {
	ItemID      string `json:"item_id"`
	MeasureID   string `json:"measure_id"`
	Note        string `json:"note,omitempty"`
	CompletedOn Date   `json:"completed_on"`
}

// ItemProgressReportedData: the unit reported how far the item is, in
// percent, from OldPercent to Percent.
type ItemProgressReportedData struct {
	ItemID     string `json:"item_id"`
	Percent    int    `json:"percent"`
	OldPercent int    `json:"old_percent"`
	Note       string `json:"note,omitempty"`
}

// ItemEvidenceAttachedData: a file proving the work was attached. Only its
// metadata and hash live in the event; the bytes are stored elsewhere.
type ItemEvidenceAttachedData struct {
	ItemID      string `json:"item_id"`
	EvidenceID  string `json:"evidence_id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type,omitempty"`
	UploadedBy  string `json:"uploaded_by"`
}

// ItemDeadlineChangedData: an item's deadline moved from OldDeadline to
// NewDeadline, for Reason. Schema version 2; version 1 carried only the new
// date and a note, and is upcast on read (OldDeadline zero: not recorded).
type ItemDeadlineChangedData struct {
	ItemID      string `json:"item_id"`
	OldDeadline Date   `json:"old_deadline"`
	NewDeadline Date   `json:"new_deadline"`
	Reason      string `json:"reason"`
}

// ItemSubmittedData: the unit submitted the item for verification (验收).
type ItemSubmittedData struct {
	ItemID string `json:"item_id"`
	Note   string `json:"note,omitempty"`
}

// ItemVerifiedData: a reviewer verified the fix; the item is closed (销号).
type ItemVerifiedData struct {
	ItemID     string `json:"item_id"`
	ReviewerID string `json:"reviewer_id"`
	Note       string `json:"note,omitempty"`
}

// ItemVerificationRejectedData: a reviewer sent the item back; it is in
// progress again.
type ItemVerificationRejectedData struct {
	ItemID     string `json:"item_id"`
	ReviewerID string `json:"reviewer_id"`
	Reason     string `json:"reason"`
}

// ItemReopenedData: a closed item is in progress again.
type ItemReopenedData struct {
	ItemID string `json:"item_id"`
	Reason string `json:"reason"`
}

// ItemCarriedOverData: an unfinished item moved from one cycle's plan into a
// later cycle's (结转), keeping its history and status.
type ItemCarriedOverData struct {
	ItemID      string `json:"item_id"`
	FromCycleID string `json:"from_cycle_id"`
	ToCycleID   string `json:"to_cycle_id"`
	Reason      string `json:"reason,omitempty"`
}

// ItemWithdrawnData: an unfinished item was dropped, for Reason. Final.
type ItemWithdrawnData struct {
	ItemID string `json:"item_id"`
	Reason string `json:"reason"`
}

// Escalation targets: whom the deadline watcher reminds of an overdue item,
// in the order it escalates.
const (
	EscalateOwner     = "owner"     // the item's responsible person (责任人)
	EscalateUnitHead  = "unit_head" // the head of the item's unit (单位负责人)
	EscalateCommittee = "committee" // the committee above the unit (工委)
)

// Escalations lists every escalation target, in escalation order.
var Escalations = []string{EscalateOwner, EscalateUnitHead, EscalateCommittee}

// ItemTurnedYellowData: an unfinished item came within the yellow window of
// its Deadline, DaysLeft days before it (0: due today). The deadline
// watcher records it once per deadline; it changes nothing of the item's
// state, it records when the warning was given.
type ItemTurnedYellowData struct {
	ItemID   string `json:"item_id"`
	Deadline Date   `json:"deadline"`
	DaysLeft int    `json:"days_left"`
}

// ItemTurnedRedData: an unfinished item's Deadline passed; it was
// DaysOverdue days overdue (at least 1) when the deadline watcher noticed.
// Recorded once per deadline.
type ItemTurnedRedData struct {
	ItemID      string `json:"item_id"`
	Deadline    Date   `json:"deadline"`
	DaysOverdue int    `json:"days_overdue"`
}

// ItemEscalatedData: the deadline watcher reminded Whom (EscalateOwner,
// EscalateUnitHead or EscalateCommittee) of an item DaysOverdue days past
// its Deadline; Step counts the escalation ladder from 1. NotifyUnitID is
// the unit whose people are reminded: the item's unit for the owner and
// the unit head, the committee above it for the committee. OwnerID and
// OwnerName name the responsible person when Whom is the owner. Recorded
// once per step and deadline.
type ItemEscalatedData struct {
	ItemID       string `json:"item_id"`
	Step         int    `json:"step"`
	Whom         string `json:"whom"`
	NotifyUnitID string `json:"notify_unit_id"`
	OwnerID      string `json:"owner_id,omitempty"`
	OwnerName    string `json:"owner_name,omitempty"`
	Deadline     Date   `json:"deadline"`
	DaysOverdue  int    `json:"days_overdue"`
}

// ---- commitment ----

// CommitmentMadeData: a unit, or a person of a unit when PersonID is set,
// committed to at least Target activities of kind Activity per Period from
// Start to End ("每周至少走访社区1次").
type CommitmentMadeData struct {
	CommitmentID string `json:"commitment_id"`
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
	// Source says where the commitment was written down, like an item's
	// ("述职报告 第19行：…"); empty for commitments made by hand.
	Source string `json:"source,omitempty"`
}

// CommitmentRevisedData: the target, period or end of a commitment changed.
// Both the old and the new values are always present, changed or not.
type CommitmentRevisedData struct {
	CommitmentID string `json:"commitment_id"`
	OldTarget    int    `json:"old_target"`
	NewTarget    int    `json:"new_target"`
	OldPeriod    string `json:"old_period"`
	NewPeriod    string `json:"new_period"`
	OldEnd       Date   `json:"old_end"`
	NewEnd       Date   `json:"new_end"`
	Reason       string `json:"reason"`
}

// CommitmentEndedData: a commitment stopped counting after EndedOn.
type CommitmentEndedData struct {
	CommitmentID string `json:"commitment_id"`
	Reason       string `json:"reason"`
	EndedOn      Date   `json:"ended_on"`
}

// CommitmentActivityLoggedData: Count activities that count toward a
// commitment happened on OccurredOn (履诺记录).
type CommitmentActivityLoggedData struct {
	CommitmentID string `json:"commitment_id"`
	ActivityID   string `json:"activity_id"`
	Count        int    `json:"count"`
	OccurredOn   Date   `json:"occurred_on"`
	Note         string `json:"note,omitempty"`
	LoggedBy     string `json:"logged_by"`
}

// ---- user ----

// UserCreatedData: a user account exists. It can do nothing until granted
// a role and issued a token.
type UserCreatedData struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// UserRoleGrantedData: a user holds Role on UnitID and its subtree; the
// empty UnitID means the whole organisation.
type UserRoleGrantedData struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
	UnitID string `json:"unit_id"`
}

// UserRoleRevokedData: a user no longer holds Role on UnitID.
type UserRoleRevokedData struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
	UnitID string `json:"unit_id"`
	Reason string `json:"reason,omitempty"`
}

// UserTokenIssuedData: an API token for the user exists. Only the hex
// SHA-256 of the token text is recorded, never the token. A zero ExpiresAt
// means the token does not expire.
type UserTokenIssuedData struct {
	UserID    string    `json:"user_id"`
	TokenID   string    `json:"token_id"`
	SHA256    string    `json:"sha256"`
	Label     string    `json:"label,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// UserTokenRevokedData: a token no longer authenticates anyone.
type UserTokenRevokedData struct {
	UserID  string `json:"user_id"`
	TokenID string `json:"token_id"`
	Reason  string `json:"reason,omitempty"`
}

func (CycleOpenedData) EventType() string              { return CycleOpened }
func (CycleClosedData) EventType() string              { return CycleClosed }
func (UnitRegisteredData) EventType() string           { return UnitRegistered }
func (UnitRenamedData) EventType() string              { return UnitRenamed }
func (UnitMovedData) EventType() string                { return UnitMoved }
func (UnitRetiredData) EventType() string              { return UnitRetired }
func (ItemRaisedData) EventType() string               { return ItemRaised }
func (ItemAssignedData) EventType() string             { return ItemAssigned }
func (ItemMeasurePlannedData) EventType() string       { return ItemMeasurePlanned }
func (ItemMeasureCompletedData) EventType() string     { return ItemMeasureCompleted }
func (ItemProgressReportedData) EventType() string     { return ItemProgressReported }
func (ItemEvidenceAttachedData) EventType() string     { return ItemEvidenceAttached }
func (ItemDeadlineChangedData) EventType() string      { return ItemDeadlineChanged }
func (ItemSubmittedData) EventType() string            { return ItemSubmitted }
func (ItemVerifiedData) EventType() string             { return ItemVerified }
func (ItemVerificationRejectedData) EventType() string { return ItemVerificationRejected }
func (ItemReopenedData) EventType() string             { return ItemReopened }
func (ItemCarriedOverData) EventType() string          { return ItemCarriedOver }
func (ItemWithdrawnData) EventType() string            { return ItemWithdrawn }
func (ItemTurnedYellowData) EventType() string         { return ItemTurnedYellow }
func (ItemTurnedRedData) EventType() string            { return ItemTurnedRed }
func (ItemEscalatedData) EventType() string            { return ItemEscalated }
func (CommitmentMadeData) EventType() string           { return CommitmentMade }
func (CommitmentRevisedData) EventType() string        { return CommitmentRevised }
func (CommitmentEndedData) EventType() string          { return CommitmentEnded }
func (CommitmentActivityLoggedData) EventType() string { return CommitmentActivityLogged }
func (UserCreatedData) EventType() string              { return UserCreated }
func (UserRoleGrantedData) EventType() string          { return UserRoleGranted }
func (UserRoleRevokedData) EventType() string          { return UserRoleRevoked }
func (UserTokenIssuedData) EventType() string          { return UserTokenIssued }
func (UserTokenRevokedData) EventType() string         { return UserTokenRevoked }
