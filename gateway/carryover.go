package gateway

import "rectify/events"

// cycleCarryOverReply is the reply of POST /api/v1/cycles/:id/carry-over as
// OpenAPI shows it: a command result whose detail lists the items carried
// over (or, with dry_run, those that would be). The handler sends a
// commandResult; this type only spells out its detail. A bulk command
// writes to many streams: stream is empty and revision 0, and position is
// that of the last item carried (of the store's head read, in a dry run).
type cycleCarryOverReply struct {
	ID       string                `json:"id"`
	Stream   string                `json:"stream"`
	Revision uint64                `json:"revision"`
	Position uint64                `json:"position"`
	Events   int                   `json:"events"`
	Detail   events.CycleCarryOver `json:"detail"`
}
