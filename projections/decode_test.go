package projections

import (
	"reflect"
	"testing"

	"rectify/events"
	"rectify/services/gen"
)

// TestDecodePayloadIsEventsDecode: the rebuild's decoder gives what
// events.Decode gives, payload and error, for every event of a generated
// history (each type decoded by events.Decode first, then by the fast
// path) and for events it must hand over: trailing data, an old version
// to upcast, an unknown type, bad JSON.
func TestDecodePayloadIsEventsDecode(t *testing.T) {
	var evs []events.Event
	for e := range gen.History(gen.Config{Seed: 5, Units: 10, Items: 100, Commitments: 5, Events: 2000}) {
		evs = append(evs, e)
	}
	for _, e := range evs[:3] {
		odd := e
		odd.Data = append(append([]byte{}, e.Data...), ` {"x":1}`...)
		evs = append(evs, odd)
		odd.Data = []byte(`{"item_id": 7}`)
		evs = append(evs, odd)
		odd.Data = []byte(`{`)
		evs = append(evs, odd)
		odd.Type = "rectify.nothing.happened"
		evs = append(evs, odd)
	}
	old, err := events.New(events.ItemDeadlineChangedData{ItemID: "i1", NewDeadline: events.MustDate("2024-05-01")}, events.Meta{ID: "d1", Stream: "item-i1"})
	if err != nil {
		t.Fatal(err)
	}
	old.Version = 1
	evs = append(evs, old, old)
	for _, e := range append(evs, evs...) {
		want, wantErr := events.Decode(e)
		got, gotErr := decodePayload(e)
		if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("event %s (%s %s): decodePayload = %#v, %v; events.Decode = %#v, %v", e.ID, e.Type, e.Data, got, gotErr, want, wantErr)
		}
	}
}
