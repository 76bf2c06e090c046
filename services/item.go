package services

import (
	"maps"
	"slices"
	"strings"

	"rectify/events"
)

// itemState is what the command side must know of an item to decide on it.
type itemState struct {
	id        string
	title     string
	cycleID   string
	unitID    string
	ownerID   string
	ownerName string
	deadline  events.Date
	status    events.ItemStatus // "" while the item does not exist
	percent   int
	measures  map[string]bool // measure id -> completed
	evidence  map[string]bool // evidence ids
}

func (s itemState) exists() bool { return s.status != "" }

// evolveItem applies one fact to an item. It never fails: an event that
// does not fit the state (which decide prevents) is applied as well as it
// can be. Maps are copied before they change, so earlier states stay valid.
func evolveItem(s itemState, p events.Payload) itemState {
	startWork := func() {
		if s.status == events.StatusRaised || s.status == events.StatusAssigned {
			s.status = events.StatusInProgress
		}
	}
	switch e := p.(type) {
	case events.ItemRaisedData:
		s = itemState{
			id: e.ItemID, title: e.Title, cycleID: e.CycleID, unitID: e.UnitID,
			deadline: e.Deadline, status: events.StatusRaised,
		}
	case events.ItemAssignedData:
		s.unitID, s.ownerID, s.ownerName = e.UnitID, e.OwnerID, e.OwnerName
		if s.status == events.StatusRaised {
			s.status = events.StatusAssigned
		}
	case events.ItemMeasurePlannedData:
		s.measures = maps.Clone(s.measures)
		if s.measures == nil {
			s.measures = map[string]bool{}
		}
		s.measures[e.MeasureID] = false
		startWork()
	case events.ItemMeasureCompletedData:
		s.measures = maps.Clone(s.measures)
		if s.measures == nil {
			s.measures = map[string]bool{}
		}
		s.measures[e.MeasureID] = true
		startWork()
	case events.ItemProgressReportedData:
		s.percent = e.Percent
		startWork()
	case events.ItemEvidenceAttachedData:
		s.evidence = maps.Clone(s.evidence)
		if s.evidence == nil {
			s.evidence = map[string]bool{}
		}
		s.evidence[e.EvidenceID] = true
		startWork()
	case events.ItemDeadlineChangedData:
		s.deadline = e.NewDeadline
	case events.ItemSubmittedData:
		s.status = events.StatusSubmitted
	case events.ItemVerifiedData:
		s.status = events.StatusClosed
	case events.ItemVerificationRejectedData, events.ItemReopenedData:
		s.status = events.StatusInProgress
	case events.ItemCarriedOverData:
		s.cycleID = e.ToCycleID
	case events.ItemWithdrawnData:
		s.status = events.StatusWithdrawn
	case events.ItemTurnedYellowData, events.ItemTurnedRedData, events.ItemEscalatedData:
		// The deadline watcher's record of time passing: colour derives
		// from the deadline and the clock, so these change no state a
		// command decides on.
	}
	return s
}

// needsOpen reports the rule that a finished item (closed or withdrawn) takes
// no more work, as an error naming field, or nil.
func (s itemState) needsOpen(field, what string) error {
	switch s.status {
	case events.StatusClosed:
		return broken(field, pr(events.ProblemWrongStatus, "status", string(s.status)), "item is closed and takes no %s; reopen it first", what)
	case events.StatusWithdrawn:
		return broken(field, pr(events.ProblemWrongStatus, "status", string(s.status)), "item is withdrawn and takes no %s", what)
	}
	return nil
}

// needsWork reports the rule that progress and measures need an item that
// is being worked on: not finished, and not waiting for verification.
func (s itemState) needsWork(field, what string) error {
	if err := s.needsOpen(field, what); err != nil {
		return err
	}
	if s.status == events.StatusSubmitted {
		return broken(field, pr(events.ProblemWrongStatus, "status", string(s.status)), "item is submitted for verification and takes no %s until a reviewer decides", what)
	}
	return nil
}

func itemExists(s itemState, id string) error {
	if !s.exists() {
		return notFound("item", id)
	}
	return nil
}

func decideRaiseItem(s itemState, c events.RaiseItem, x decideContext) ([]events.Payload, error) {
	if s.exists() {
		return nil, duplicate("item_id", c.ItemID, "item %s already exists", c.ItemID)
	}
	if err := openCycle("cycle_id", x.cycle); err != nil {
		return nil, err
	}
	if err := activeUnit("unit_id", x.unit); err != nil {
		return nil, err
	}
	return []events.Payload{events.ItemRaisedData{
		ItemID: c.ItemID, CycleID: c.CycleID, UnitID: c.UnitID,
		Title: c.Title, Description: c.Description, Category: c.Category,
		Source: c.Source, Severity: c.Severity, Deadline: c.Deadline,
	}}, nil
}

func decideAssignItem(s itemState, c events.AssignItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsOpen("item_id", "assignment"); err != nil {
		return nil, err
	}
	if err := activeUnit("unit_id", x.unit); err != nil {
		return nil, err
	}
	if s.status != events.StatusRaised && c.UnitID == s.unitID && c.OwnerID == s.ownerID && c.OwnerName == s.ownerName {
		return nil, broken("unit_id", pr(events.ProblemUnchanged), "item is already assigned so")
	}
	return []events.Payload{events.ItemAssignedData{
		ItemID: c.ItemID, UnitID: c.UnitID, OwnerID: c.OwnerID, OwnerName: c.OwnerName,
		OldUnitID: s.unitID, OldOwnerID: s.ownerID, OldOwnerName: s.ownerName,
	}}, nil
}

func decidePlanMeasure(s itemState, c events.PlanMeasure, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsWork("item_id", "measures"); err != nil {
		return nil, err
	}
	if _, dup := s.measures[c.MeasureID]; dup {
		return nil, duplicate("measure_id", c.MeasureID, "measure %s already exists", c.MeasureID)
	}
	return []events.Payload{events.ItemMeasurePlannedData{
		ItemID: c.ItemID, MeasureID: c.MeasureID, Text: c.Text,
		OwnerID: c.OwnerID, OwnerName: c.OwnerName, Due: c.Due,
	}}, nil
}

func decideCompleteMeasure(s itemState, c events.CompleteMeasure, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsWork("item_id", "measures"); err != nil {
		return nil, err
	}
	done, ok := s.measures[c.MeasureID]
	if !ok {
		return nil, broken("measure_id", pr(events.ProblemUnknownMeasure, "measure", c.MeasureID), "item has no measure %s", c.MeasureID)
	}
	if done {
		return nil, broken("measure_id", pr(events.ProblemMeasureDone, "measure", c.MeasureID), "measure %s is already completed", c.MeasureID)
	}
	on := orToday(c.CompletedOn, x.today)
	if on.After(x.today) {
		return nil, broken("completed_on", pr(events.ProblemInFuture), "must not be in the future")
	}
	return []events.Payload{events.ItemMeasureCompletedData{
		ItemID: c.ItemID, MeasureID: c.MeasureID, Note: c.Note, CompletedOn: on,
	}}, nil
}

func decideReportProgress(s itemState, c events.ReportProgress, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsWork("item_id", "progress"); err != nil {
		return nil, err
	}
	pct := s.percent
	if c.Percent != nil {
		pct = *c.Percent
	}
	if pct < 0 || pct > 100 {
		return nil, broken("percent", pr(events.ProblemOutOfRange, "min", "0", "max", "100"), "must be between 0 and 100")
	}
	return []events.Payload{events.ItemProgressReportedData{
		ItemID: c.ItemID, Percent: pct, OldPercent: s.percent, Note: c.Note,
	}}, nil
}

func decideAttachEvidence(s itemState, c events.AttachEvidence, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	// Evidence is welcome while a reviewer looks at the item: it is often
	// what the reviewer asks for.
	if err := s.needsOpen("item_id", "evidence"); err != nil {
		return nil, err
	}
	if s.evidence[c.EvidenceID] {
		return nil, duplicate("evidence_id", c.EvidenceID, "evidence %s already exists", c.EvidenceID)
	}
	return []events.Payload{events.ItemEvidenceAttachedData{
		ItemID: c.ItemID, EvidenceID: c.EvidenceID, Name: c.Name, Size: c.Size,
		SHA256: c.SHA256, ContentType: c.ContentType, UploadedBy: x.actor,
	}}, nil
}

func decideChangeDeadline(s itemState, c events.ChangeDeadline, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsOpen("item_id", "deadline change"); err != nil {
		return nil, err
	}
	switch {
	case c.Deadline.IsZero():
		return nil, broken("deadline", pr(events.ProblemNotADate), "must be a date YYYY-MM-DD")
	case strings.TrimSpace(c.Reason) == "":
		return nil, broken("reason", pr(events.ProblemRequired), "is required")
	case c.Deadline == s.deadline:
		return nil, broken("deadline", pr(events.ProblemUnchanged), "is already the deadline")
	case c.Deadline.Before(x.today):
		return nil, broken("deadline", pr(events.ProblemInPast), "must not be in the past")
	}
	return []events.Payload{events.ItemDeadlineChangedData{
		ItemID: c.ItemID, OldDeadline: s.deadline, NewDeadline: c.Deadline, Reason: c.Reason,
	}}, nil
}

func decideSubmitItem(s itemState, c events.SubmitItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	switch s.status {
	case events.StatusInProgress:
	case events.StatusRaised, events.StatusAssigned:
		return nil, broken("item_id", pr(events.ProblemNoProgress), "item has no progress yet; report progress or plan a measure first")
	case events.StatusSubmitted:
		return nil, broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is already submitted")
	default:
		return nil, broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is %s; only an item in progress can be submitted", s.status)
	}
	var open []string
	for id, done := range s.measures {
		if !done {
			open = append(open, id)
		}
	}
	if len(open) > 0 {
		slices.Sort(open)
		return nil, broken("item_id", pr(events.ProblemMeasuresOpen, "measures", strings.Join(open, ", ")), "measures not completed: %s", strings.Join(open, ", "))
	}
	return []events.Payload{events.ItemSubmittedData{ItemID: c.ItemID, Note: c.Note}}, nil
}

// needsSubmitted is the rule that only a submitted item can be verified or
// rejected.
func (s itemState) needsSubmitted(what string) error {
	if s.status != events.StatusSubmitted {
		return broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is %s; only a submitted item can be %s", s.status, what)
	}
	return nil
}

func decideVerifyItem(s itemState, c events.VerifyItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if err := s.needsSubmitted("verified"); err != nil {
		return nil, err
	}
	return []events.Payload{events.ItemVerifiedData{ItemID: c.ItemID, ReviewerID: x.actor, Note: c.Note}}, nil
}

func decideRejectItem(s itemState, c events.RejectItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, broken("reason", pr(events.ProblemRequired), "is required")
	}
	if err := s.needsSubmitted("rejected"); err != nil {
		return nil, err
	}
	return []events.Payload{events.ItemVerificationRejectedData{ItemID: c.ItemID, ReviewerID: x.actor, Reason: c.Reason}}, nil
}

func decideReopenItem(s itemState, c events.ReopenItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, broken("reason", pr(events.ProblemRequired), "is required")
	}
	if s.status != events.StatusClosed {
		return nil, broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is %s; only a closed item can be reopened", s.status)
	}
	return []events.Payload{events.ItemReopenedData{ItemID: c.ItemID, Reason: c.Reason}}, nil
}

// decideCarryOverItem needs x.cycle (the item's current cycle) and
// x.toCycle.
func decideCarryOverItem(s itemState, c events.CarryOverItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if s.status.Finished() {
		return nil, broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is %s; only an unfinished item can be carried over", s.status)
	}
	if c.ToCycleID == s.cycleID {
		return nil, broken("to_cycle_id", pr(events.ProblemUnchanged), "item already belongs to cycle %s", c.ToCycleID)
	}
	if err := openCycle("to_cycle_id", x.toCycle); err != nil {
		return nil, err
	}
	if x.cycle.exists && !x.toCycle.start.After(x.cycle.start) {
		return nil, broken("to_cycle_id", pr(events.ProblemCycleOrder, "cycle", c.ToCycleID, "from", s.cycleID), "cycle %s does not start after cycle %s", c.ToCycleID, s.cycleID)
	}
	return []events.Payload{events.ItemCarriedOverData{
		ItemID: c.ItemID, FromCycleID: s.cycleID, ToCycleID: c.ToCycleID, Reason: c.Reason,
	}}, nil
}

func decideWithdrawItem(s itemState, c events.WithdrawItem, x decideContext) ([]events.Payload, error) {
	if err := itemExists(s, c.ItemID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, broken("reason", pr(events.ProblemRequired), "is required")
	}
	if s.status.Finished() {
		return nil, broken("item_id", pr(events.ProblemWrongStatus, "status", string(s.status)), "item is %s; only an unfinished item can be withdrawn", s.status)
	}
	return []events.Payload{events.ItemWithdrawnData{ItemID: c.ItemID, Reason: c.Reason}}, nil
}
