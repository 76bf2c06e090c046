package natsx

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go"

	"rectify/events"
)

// StatusSubjectPrefix starts the subjects on which services answer a cheap
// health request, rectify.status.<service>.
const StatusSubjectPrefix = "rectify.status"

// StatusSubject is the subject service answers status requests on.
func StatusSubject(service string) string {
	return StatusSubjectPrefix + "." + Token(service)
}

// CommandStatus is the command side's answer on StatusSubject(CommandService):
// the head of the event store it writes to, read from the store for this
// request, or why it could not be read.
type CommandStatus struct {
	Head  uint64        `json:"head"`
	Error *events.Error `json:"error,omitempty"`
}

// CommandsStatus asks a command service for the store head. It proves that
// a command service answers and that its store can be read. No command
// service answering, or no answer before ctx is done, is CodeUnavailable;
// a store that fails is the error the command side reported.
func CommandsStatus(ctx context.Context, nc *nats.Conn) (uint64, error) {
	if err := unreachable(nc, "the command service", ""); err != nil {
		return 0, err
	}
	msg, err := nc.RequestWithContext(ctx, StatusSubject(CommandService), nil)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return 0, events.Wrap(events.CodeUnavailable, err, "the command service is not running")
		}
		return 0, events.Wrap(events.CodeUnavailable, err, "the command service did not answer in time")
	}
	var st CommandStatus
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		return 0, events.Wrap(events.CodeInternal, err, "decode command status")
	}
	if st.Error != nil {
		return st.Head, st.Error
	}
	return st.Head, nil
}
