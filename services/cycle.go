package services

import "rectify/events"

// cycleState is what the command side must know of a review cycle.
type cycleState struct {
	exists bool
	id     string
	year   int
	start  events.Date
	end    events.Date
	closed bool
}

// evolveCycle applies one fact to a cycle; it never fails.
func evolveCycle(s cycleState, p events.Payload) cycleState {
	switch e := p.(type) {
	case events.CycleOpenedData:
		s = cycleState{exists: true, id: e.CycleID, year: e.Year, start: e.Start, end: e.End}
	case events.CycleClosedData:
		s.closed = true
	}
	return s
}

// openCycle is the rule that new work goes only into a cycle that exists and
// is open, reported against field.
func openCycle(field string, c cycleState) error {
	if !c.exists {
		return broken(field, pr(events.ProblemUnknownCycle), "no such cycle")
	}
	if c.closed {
		return broken(field, pr(events.ProblemCycleClosed, "cycle", c.id), "cycle %s is closed", c.id)
	}
	return nil
}

func decideOpenCycle(s cycleState, c events.OpenCycle, x decideContext) ([]events.Payload, error) {
	if s.exists {
		return nil, duplicate("cycle_id", c.CycleID, "cycle %s already exists", c.CycleID)
	}
	if c.End.Before(c.Start) {
		return nil, broken("end", pr(events.ProblemBeforeField, "other", "start"), "must not be before start")
	}
	return []events.Payload{events.CycleOpenedData{
		CycleID: c.CycleID, Name: c.Name, Year: c.Year, Kind: c.Kind, Start: c.Start, End: c.End,
	}}, nil
}

func decideCloseCycle(s cycleState, c events.CloseCycle, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("cycle", c.CycleID)
	}
	if s.closed {
		return nil, broken("cycle_id", pr(events.ProblemCycleClosed, "cycle", c.CycleID), "cycle %s is already closed", c.CycleID)
	}
	return []events.Payload{events.CycleClosedData{CycleID: c.CycleID, Note: c.Note}}, nil
}
