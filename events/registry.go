package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"
)

// Upcaster turns the data of an event stored at schema version n into the
// data of version n+1. It receives the whole envelope, with Data still at
// version n, so that it can fill a new field from the stream name or the
// time. Upcasters are pure: stored events are never rewritten.
type Upcaster func(e Event) (json.RawMessage, error)

type registration struct {
	name    string
	typ     reflect.Type // the payload struct type, not a pointer
	version int          // current schema version, from 1
	// up[n] upcasts version n to n+1, for every n below version.
	up map[int]Upcaster
}

// registry maps event names to their registrations; it is built once, by
// newRegistry, and read-only afterwards.
var registry = newRegistry()

// newRegistry is the one place that ties every event name to its payload
// type, its current schema version and the upcasters from older versions.
func newRegistry() map[string]*registration {
	r := map[string]*registration{}
	add := func(p Payload, version int, up ...Upcaster) {
		name := p.EventType()
		if _, dup := r[name]; dup {
			panic("events: " + name + " registered twice")
		}
		if len(up) != version-1 {
			panic(fmt.Sprintf("events: %s version %d needs %d upcasters, has %d", name, version, version-1, len(up)))
		}
		reg := &registration{name: name, typ: reflect.TypeOf(p), version: version, up: map[int]Upcaster{}}
		for i, u := range up {
			reg.up[i+1] = u
		}
		r[name] = reg
	}

	add(CycleOpenedData{}, 1)
	add(CycleClosedData{}, 1)

	add(UnitRegisteredData{}, 1)
	add(UnitRenamedData{}, 1)
	add(UnitMovedData{}, 1)
	add(UnitRetiredData{}, 1)

	add(ItemRaisedData{}, 1)
	add(ItemAssignedData{}, 1)
	add(ItemMeasurePlannedData{}, 1)
	add(ItemMeasureCompletedData{}, 1)
	add(ItemProgressReportedData{}, 1)
	add(ItemEvidenceAttachedData{}, 1)
	add(ItemDeadlineChangedData{}, 2, upcastDeadlineChangedV1)
	add(ItemSubmittedData{}, 1)
	add(ItemVerifiedData{}, 1)
	add(ItemVerificationRejectedData{}, 1)
	add(ItemReopenedData{}, 1)
	add(ItemCarriedOverData{}, 1)
	add(ItemWithdrawnData{}, 1)
	add(ItemTurnedYellowData{}, 1)
	add(ItemTurnedRedData{}, 1)
	add(ItemEscalatedData{}, 1)

	add(CommitmentMadeData{}, 1)
	add(CommitmentRevisedData{}, 1)
	add(CommitmentEndedData{}, 1)
	add(CommitmentActivityLoggedData{}, 1)

	add(UserCreatedData{}, 1)
	add(UserRoleGrantedData{}, 1)
	add(UserRoleRevokedData{}, 1)
	add(UserTokenIssuedData{}, 1)
	add(UserTokenRevokedData{}, 1)

	add(RulesetDraftedData{}, 1)
	add(RulesetRevisedData{}, 1)
	add(RulesetPublishedData{}, 1)
	add(AssessmentPublishedData{}, 1)
	return r
}

// upcastDeadlineChangedV1 reads rectify.item.deadline_changed version 1,
// {"deadline": "2019-12-31", "note": "..."} (the new date and a free note,
// no item id, no old date), as version 2. The item id comes from the stream
// name, the note becomes the reason, and the old deadline, which version 1
// never recorded, stays empty rather than being guessed.
func upcastDeadlineChangedV1(e Event) (json.RawMessage, error) {
	var v1 struct {
		Deadline Date   `json:"deadline"`
		Note     string `json:"note"`
	}
	if err := json.Unmarshal(e.Data, &v1); err != nil {
		return nil, err
	}
	_, itemID, _ := ParseStream(e.Stream)
	return json.Marshal(ItemDeadlineChangedData{
		ItemID:      itemID,
		NewDeadline: v1.Deadline,
		Reason:      v1.Note,
	})
}

// Types returns every registered event name, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// CurrentVersion returns the schema version new events of type name are
// written with; ok is false for an unknown name.
func CurrentVersion(name string) (version int, ok bool) {
	reg, ok := registry[name]
	if !ok {
		return 0, false
	}
	return reg.version, true
}

// Meta is what New needs besides the payload: the envelope fields the
// command side decides. Stream, Revision and Position are left to the store.
type Meta struct {
	ID            string
	Stream        string
	Actor         string
	Time          time.Time
	CorrelationID string
	CausationID   string
}

// New wraps a payload into an Event at the payload's current schema
// version. It fails with CodeInternal when the payload's type is not the one
// registered under its name: that is a programming error, not bad input.
func New(p Payload, m Meta) (Event, error) {
	if p == nil {
		return Event{}, Errorf(CodeInternal, "new event: nil payload")
	}
	name := p.EventType()
	reg, ok := registry[name]
	if !ok {
		return Event{}, Errorf(CodeInternal, "new event: type %s is not registered", name)
	}
	if t := reflect.TypeOf(p); t != reg.typ {
		return Event{}, Errorf(CodeInternal, "new event: %s is registered with %s, got %s", name, reg.typ, t)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Event{}, Wrap(CodeInternal, err, "new event: marshal %s", name)
	}
	return Event{
		ID:            m.ID,
		Stream:        m.Stream,
		Type:          name,
		Version:       reg.version,
		Time:          m.Time,
		Actor:         m.Actor,
		CorrelationID: m.CorrelationID,
		CausationID:   m.CausationID,
		Data:          data,
	}, nil
}

// Upcast returns e with its Data raised to the current schema version of
// its type (Version updated), applying the registered upcasters one version
// at a time. An event already current is returned as it is.
//
// Errors are CodeInternal: an unknown type, a version that is not between 1
// and the current one, or an upcaster failing; each names the event id.
func Upcast(e Event) (Event, error) {
	reg, ok := registry[e.Type]
	if !ok {
		return e, Errorf(CodeInternal, "event %s: unknown type %q", e.ID, e.Type)
	}
	if e.Version < 1 || e.Version > reg.version {
		return e, Errorf(CodeInternal, "event %s: %s version %d, this build knows 1..%d", e.ID, e.Type, e.Version, reg.version)
	}
	for e.Version < reg.version {
		data, err := reg.up[e.Version](e)
		if err != nil {
			return e, Wrap(CodeInternal, err, "event %s: upcast %s from version %d", e.ID, e.Type, e.Version)
		}
		e.Data = data
		e.Version++
	}
	return e, nil
}

// Decode returns the payload of e as its registered type (a value, such as
// ItemRaisedData, never a pointer), upcasting older schema versions first.
// Unknown fields in the data are ignored, so that an older reader survives
// a newer, compatible writer.
//
// Errors are CodeInternal and name the event id and type: an unknown type,
// an unsupported version, or data that is not valid JSON for the type.
func Decode(e Event) (Payload, error) {
	e, err := Upcast(e)
	if err != nil {
		return nil, err
	}
	reg := registry[e.Type]
	ptr := reflect.New(reg.typ)
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, Wrap(CodeInternal, err, "event %s: decode %s version %d", e.ID, e.Type, e.Version)
	}
	return ptr.Elem().Interface().(Payload), nil
}
