package services

import (
	"maps"

	"rectify/events"
)

// commitmentState is what the command side must know of a commitment.
type commitmentState struct {
	exists     bool
	id         string
	unitID     string
	target     int
	period     string
	start      events.Date
	end        events.Date
	ended      bool
	endedOn    events.Date
	activities map[string]bool
}

// lastDay is the last day activities count toward the commitment: its end,
// or the day it was ended early.
func (s commitmentState) lastDay() events.Date {
	if s.ended && s.endedOn.Before(s.end) {
		return s.endedOn
	}
	return s.end
}

// evolveCommitment applies one fact to a commitment; it never fails.
func evolveCommitment(s commitmentState, p events.Payload) commitmentState {
	switch e := p.(type) {
	case events.CommitmentMadeData:
		s = commitmentState{
			exists: true, id: e.CommitmentID, unitID: e.UnitID,
			target: e.Target, period: e.Period, start: e.Start, end: e.End,
		}
	case events.CommitmentRevisedData:
		s.target, s.period, s.end = e.NewTarget, e.NewPeriod, e.NewEnd
	case events.CommitmentEndedData:
		s.ended, s.endedOn = true, e.EndedOn
	case events.CommitmentActivityLoggedData:
		s.activities = maps.Clone(s.activities)
		if s.activities == nil {
			s.activities = map[string]bool{}
		}
		s.activities[e.ActivityID] = true
	}
	return s
}

// decideMakeCommitment needs x.unit, and x.cycle when CycleID is set.
func decideMakeCommitment(s commitmentState, c events.MakeCommitment, x decideContext) ([]events.Payload, error) {
	if s.exists {
		return nil, duplicate("commitment_id", c.CommitmentID, "commitment %s already exists", c.CommitmentID)
	}
	if c.Target <= 0 {
		return nil, broken("target", pr(events.ProblemNotPositive), "must be positive")
	}
	if c.End.Before(c.Start) {
		return nil, broken("end", pr(events.ProblemBeforeField, "other", "start"), "must not be before start")
	}
	if err := activeUnit("unit_id", x.unit); err != nil {
		return nil, err
	}
	if c.CycleID != "" {
		if err := openCycle("cycle_id", x.cycle); err != nil {
			return nil, err
		}
	}
	return []events.Payload{events.CommitmentMadeData{
		CommitmentID: c.CommitmentID, CycleID: c.CycleID, UnitID: c.UnitID,
		PersonID: c.PersonID, PersonName: c.PersonName, Title: c.Title, Activity: c.Activity,
		Target: c.Target, Period: c.Period, Start: c.Start, End: c.End, Source: c.Source,
	}}, nil
}

func decideReviseCommitment(s commitmentState, c events.ReviseCommitment, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("commitment", c.CommitmentID)
	}
	if s.ended {
		return nil, broken("commitment_id", pr(events.ProblemCommitmentEnded, "date", s.endedOn.String()), "commitment ended on %s and cannot be revised", s.endedOn)
	}
	r := events.CommitmentRevisedData{
		CommitmentID: c.CommitmentID,
		OldTarget:    s.target, NewTarget: s.target,
		OldPeriod: s.period, NewPeriod: s.period,
		OldEnd: s.end, NewEnd: s.end,
		Reason: c.Reason,
	}
	if c.Target != nil {
		if *c.Target <= 0 {
			return nil, broken("target", pr(events.ProblemNotPositive), "must be positive")
		}
		r.NewTarget = *c.Target
	}
	if c.Period != "" {
		r.NewPeriod = c.Period
	}
	if !c.End.IsZero() {
		if c.End.Before(s.start) {
			return nil, broken("end", pr(events.ProblemTooEarly, "date", s.start.String()), "must not be before the commitment's start %s", s.start)
		}
		r.NewEnd = c.End
	}
	if r.NewTarget == r.OldTarget && r.NewPeriod == r.OldPeriod && r.NewEnd == r.OldEnd {
		return nil, broken("target", pr(events.ProblemUnchanged), "nothing changes")
	}
	return []events.Payload{r}, nil
}

func decideEndCommitment(s commitmentState, c events.EndCommitment, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("commitment", c.CommitmentID)
	}
	if s.ended {
		return nil, broken("commitment_id", pr(events.ProblemCommitmentEnded, "date", s.endedOn.String()), "commitment already ended on %s", s.endedOn)
	}
	on := orToday(c.EndedOn, x.today)
	switch {
	case on.Before(s.start):
		return nil, broken("ended_on", pr(events.ProblemTooEarly, "date", s.start.String()), "must not be before the commitment's start %s", s.start)
	case on.After(s.end):
		return nil, broken("ended_on", pr(events.ProblemTooLate, "date", s.end.String()), "must not be after the commitment's end %s", s.end)
	}
	return []events.Payload{events.CommitmentEndedData{CommitmentID: c.CommitmentID, Reason: c.Reason, EndedOn: on}}, nil
}

func decideLogActivity(s commitmentState, c events.LogActivity, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("commitment", c.CommitmentID)
	}
	if c.Count <= 0 {
		return nil, broken("count", pr(events.ProblemNotPositive), "must be positive")
	}
	switch last := s.lastDay(); {
	case c.OccurredOn.IsZero():
		return nil, broken("occurred_on", pr(events.ProblemNotADate), "must be a date YYYY-MM-DD")
	case c.OccurredOn.Before(s.start) || c.OccurredOn.After(last):
		return nil, broken("occurred_on", pr(events.ProblemOutsideDates, "from", s.start.String(), "to", last.String()), "must lie within the commitment, %s to %s", s.start, last)
	case c.OccurredOn.After(x.today):
		return nil, broken("occurred_on", pr(events.ProblemInFuture), "must not be in the future")
	}
	if s.activities[c.ActivityID] {
		return nil, duplicate("activity_id", c.ActivityID, "activity %s already exists", c.ActivityID)
	}
	return []events.Payload{events.CommitmentActivityLoggedData{
		CommitmentID: c.CommitmentID, ActivityID: c.ActivityID, Count: c.Count,
		OccurredOn: c.OccurredOn, Note: c.Note, LoggedBy: x.actor,
	}}, nil
}
