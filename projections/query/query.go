// Package query is the wire contract of rectify's views: the request and
// response envelopes of every query sent over NATS request/reply, and the
// parameters and results of each view. The gateway and any other client
// import this package, never the projections' internals.
package query

import (
	"encoding/json"
	"time"

	"rectify/events"
)

// Scope limits what a query may return to some units and their subtrees.
// The gateway fills it from the caller's roles; the views enforce it.
type Scope struct {
	// All: the caller may see the whole organisation.
	All bool `json:"all,omitempty"`
	// Units: roots of the subtrees the caller may see when All is false.
	// Empty means nothing at all.
	Units []string `json:"units,omitempty"`
}

// AsOf asks for a view as it stood at a past position or time. The zero
// value means now.
type AsOf struct {
	Position uint64    `json:"position,omitempty"`
	Time     time.Time `json:"time,omitzero"`
}

// IsZero reports whether a is "now".
func (a AsOf) IsZero() bool { return a.Position == 0 && a.Time.IsZero() }

// Request is the envelope of every query.
type Request struct {
	// MinPosition: answer only once the view has applied this position
	// (read-your-writes); the view waits, bounded, then fails with
	// events.CodeUnavailable.
	MinPosition uint64 `json:"min_position,omitempty"`
	Scope       Scope  `json:"scope"`
	// Today is the caller's date, from which overdue and red/yellow/green
	// are derived; zero means the view's own clock.
	Today  events.Date     `json:"today,omitzero"`
	AsOf   AsOf            `json:"as_of,omitzero"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is the envelope of every answer.
type Response struct {
	// Position is the view position the answer reflects; ETags derive from it.
	Position uint64          `json:"position"`
	Data     json.RawMessage `json:"data,omitempty"`
	Error    *events.Error   `json:"error,omitempty"`
}

// SetQueryReply fills r from a reply received over NATS
// (natsx.DecodeQueryReply).
func (r *Response) SetQueryReply(position uint64, data []byte, err *events.Error) {
	*r = Response{Position: position, Data: data, Error: err}
}
