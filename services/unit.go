package services

import (
	"slices"

	"rectify/events"
)

// unitState is what the command side must know of a unit of the
// organisation tree.
type unitState struct {
	exists   bool
	id       string
	name     string
	kind     string
	parentID string
	retired  bool
}

// evolveUnit applies one fact to a unit; it never fails.
func evolveUnit(s unitState, p events.Payload) unitState {
	switch e := p.(type) {
	case events.UnitRegisteredData:
		s = unitState{exists: true, id: e.UnitID, name: e.Name, kind: e.Kind, parentID: e.ParentID}
	case events.UnitRenamedData:
		s.name = e.NewName
	case events.UnitMovedData:
		s.parentID = e.NewParentID
	case events.UnitRetiredData:
		s.retired = true
	}
	return s
}

// activeUnit is the rule that new items, commitments, children and roles
// attach only to a unit that exists and is not retired.
func activeUnit(field string, u unitState) error {
	if !u.exists {
		return broken(field, pr(events.ProblemUnknownUnit), "no such unit")
	}
	if u.retired {
		return broken(field, pr(events.ProblemUnitRetired, "unit", u.id), "unit %s is retired", u.id)
	}
	return nil
}

// decideRegisterUnit needs x.unit: the parent, when ParentID is set.
func decideRegisterUnit(s unitState, c events.RegisterUnit, x decideContext) ([]events.Payload, error) {
	if s.exists {
		return nil, duplicate("unit_id", c.UnitID, "unit %s already exists", c.UnitID)
	}
	if c.ParentID != "" {
		if err := activeUnit("parent_id", x.unit); err != nil {
			return nil, err
		}
	}
	return []events.Payload{events.UnitRegisteredData{
		UnitID: c.UnitID, Name: c.Name, Kind: c.Kind, ParentID: c.ParentID,
	}}, nil
}

func decideRenameUnit(s unitState, c events.RenameUnit, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("unit", c.UnitID)
	}
	if s.retired {
		return nil, broken("unit_id", pr(events.ProblemUnitRetired, "unit", c.UnitID), "unit %s is retired", c.UnitID)
	}
	if c.Name == s.name {
		return nil, broken("name", pr(events.ProblemUnchanged), "is already the unit's name")
	}
	return []events.Payload{events.UnitRenamedData{UnitID: c.UnitID, OldName: s.name, NewName: c.Name}}, nil
}

// decideMoveUnit needs x.unit (the new parent) and x.parentLine (the new
// parent and its ancestors), when ParentID is set.
func decideMoveUnit(s unitState, c events.MoveUnit, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("unit", c.UnitID)
	}
	if s.retired {
		return nil, broken("unit_id", pr(events.ProblemUnitRetired, "unit", c.UnitID), "unit %s is retired", c.UnitID)
	}
	if c.ParentID == s.parentID {
		return nil, broken("parent_id", pr(events.ProblemUnchanged), "is already the unit's parent")
	}
	if c.ParentID != "" {
		if err := activeUnit("parent_id", x.unit); err != nil {
			return nil, err
		}
		// The tree must stay a tree: the new parent may not lie in the
		// subtree of the unit being moved.
		if c.ParentID == c.UnitID || slices.Contains(x.parentLine, c.UnitID) {
			return nil, broken("parent_id", pr(events.ProblemUnderItself), "unit %s lies within unit %s; a unit cannot move under itself or its own descendant", c.ParentID, c.UnitID)
		}
	}
	return []events.Payload{events.UnitMovedData{UnitID: c.UnitID, OldParentID: s.parentID, NewParentID: c.ParentID}}, nil
}

func decideRetireUnit(s unitState, c events.RetireUnit, x decideContext) ([]events.Payload, error) {
	if !s.exists {
		return nil, notFound("unit", c.UnitID)
	}
	if s.retired {
		return nil, broken("unit_id", pr(events.ProblemUnitRetired, "unit", c.UnitID), "unit %s is already retired", c.UnitID)
	}
	return []events.Payload{events.UnitRetiredData{UnitID: c.UnitID, Reason: c.Reason}}, nil
}
