package events

import "strings"

// Event names: every fact rectify records, namespaced by aggregate and listed
// once here. Each is registered with its payload type and schema version in
// newRegistry (registry.go).
const (
	CycleOpened = "rectify.cycle.opened"
	CycleClosed = "rectify.cycle.closed"

	UnitRegistered = "rectify.unit.registered"
	UnitRenamed    = "rectify.unit.renamed"
	UnitMoved      = "rectify.unit.moved"
	UnitRetired    = "rectify.unit.retired"

	ItemRaised               = "rectify.item.raised"
	ItemAssigned             = "rectify.item.assigned"
	ItemMeasurePlanned       = "rectify.item.measure_planned"
	ItemMeasureCompleted     = "rectify.item.measure_completed"
	ItemProgressReported     = "rectify.item.progress_reported"
	ItemEvidenceAttached     = "rectify.item.evidence_attached"
	ItemDeadlineChanged      = "rectify.item.deadline_changed"
	ItemSubmitted            = "rectify.item.submitted"
	ItemVerified             = "rectify.item.verified"
	ItemVerificationRejected = "rectify.item.verification_rejected"
	ItemReopened             = "rectify.item.reopened"
	ItemCarriedOver          = "rectify.item.carried_over"
	ItemWithdrawn            = "rectify.item.withdrawn"

	// Recorded by the deadline watcher (services/watcher), not by a command.
	ItemTurnedYellow = "rectify.item.turned_yellow"
	ItemTurnedRed    = "rectify.item.turned_red"
	ItemEscalated    = "rectify.item.escalated"

	CommitmentMade           = "rectify.commitment.made"
	CommitmentRevised        = "rectify.commitment.revised"
	CommitmentEnded          = "rectify.commitment.ended"
	CommitmentActivityLogged = "rectify.commitment.activity_logged"

	UserCreated      = "rectify.user.created"
	UserRoleGranted  = "rectify.user.role_granted"
	UserRoleRevoked  = "rectify.user.role_revoked"
	UserTokenIssued  = "rectify.user.token_issued"
	UserTokenRevoked = "rectify.user.token_revoked"

	RulesetDrafted   = "rectify.ruleset.drafted"
	RulesetRevised   = "rectify.ruleset.revised"
	RulesetPublished = "rectify.ruleset.published"

	AssessmentPublished = "rectify.assessment.published"
)

// Stream categories: the part of a stream name before the first '-'. A
// subscription filter on StreamPrefix(CategoryItem) sees every item.
const (
	CategoryCycle      = "cycle"
	CategoryUnit       = "unit"
	CategoryItem       = "item"
	CategoryCommitment = "commitment"
	CategoryUser       = "user"
	CategoryRuleset    = "ruleset"
	CategoryAssessment = "assessment"
)

// StreamPrefix returns "<category>-", the prefix every stream of category
// starts with.
func StreamPrefix(category string) string { return category + "-" }

// CycleStream, UnitStream, ItemStream, CommitmentStream and UserStream name
// the one stream of an aggregate: "item-<id>" and so on. They do not check
// id; ValidID does.
func CycleStream(id string) string      { return CategoryCycle + "-" + id }
func UnitStream(id string) string       { return CategoryUnit + "-" + id }
func ItemStream(id string) string       { return CategoryItem + "-" + id }
func CommitmentStream(id string) string { return CategoryCommitment + "-" + id }
func UserStream(id string) string       { return CategoryUser + "-" + id }
func RulesetStream(id string) string    { return CategoryRuleset + "-" + id }

// AssessmentStream names the stream of the published results of one
// period: "assessment-month-2024-05-01".
func AssessmentStream(kind string, start Date) string {
	return CategoryAssessment + "-" + AssessmentID(kind, start)
}

// ParseStream splits "item-42" into its category and aggregate id. ok is
// false when the name is not "<known category>-<valid id>".
func ParseStream(stream string) (category, id string, ok bool) {
	category, id, found := strings.Cut(stream, "-")
	if !found || !ValidID(id) {
		return "", "", false
	}
	switch category {
	case CategoryCycle, CategoryUnit, CategoryItem, CategoryCommitment, CategoryUser,
		CategoryRuleset, CategoryAssessment:
		return category, id, true
	}
	return "", "", false
}

// MaxIDLen is the longest aggregate or entity id, in bytes.
const MaxIDLen = 64

// ValidID reports whether id is a valid aggregate or entity id: 1 to 64
// characters from [A-Za-z0-9_-]. UUIDs, "2019", "zhangsan" and
// "community-3" are valid; Chinese text is not (names carry it instead).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// SystemActor is the actor of changes made by rectify itself (bootstrap,
// the deadline watcher). Actors "system" and "system:<process>" may do
// anything; no user can be created with such an id.
const SystemActor = "system"

// IsSystemActor reports whether actor is SystemActor or "system:<process>".
func IsSystemActor(actor string) bool {
	return actor == SystemActor || strings.HasPrefix(actor, SystemActor+":")
}
