package natsx

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"rectify/events"
)

// CommandRequest is what a gateway sends on CommandSubject(name): the
// command's JSON and who issues it. The actor has been authenticated by the
// sender; the command side authorises.
type CommandRequest struct {
	Actor          string          `json:"actor"`
	CorrelationID  string          `json:"correlation_id,omitempty"`
	CausationID    string          `json:"causation_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Command        json.RawMessage `json:"command"`
}

// CommandReply is the command side's answer: where the events landed, or
// the error.
type CommandReply struct {
	Stream   string            `json:"stream,omitempty"`
	ID       string            `json:"id,omitempty"`
	Revision uint64            `json:"revision"`
	Position uint64            `json:"position"`
	Events   int               `json:"events"`
	Extra    map[string]string `json:"extra,omitempty"`
	// Detail is a bulk command's account of what it did, one JSON value
	// per command (cycle.carry_over: events.CycleCarryOver).
	Detail json.RawMessage `json:"detail,omitempty"`
	Error  *events.Error   `json:"error,omitempty"`
}

// SendCommand sends one command over NATS request/reply and waits for the
// reply until ctx is done. When no command service answers, or the wait
// runs out, the error is CodeUnavailable: the command may or may not have
// been applied, and retrying with the same idempotency key is safe. While
// nc is not connected it is CodeUnavailable at once, and the command is
// not sent.
func SendCommand(ctx context.Context, nc *nats.Conn, name string, req CommandRequest) (CommandReply, error) {
	if err := unreachable(nc, "the command service", "; retry with the same Idempotency-Key"); err != nil {
		return CommandReply{}, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return CommandReply{}, events.Wrap(events.CodeInternal, err, "encode command")
	}
	msg, err := nc.RequestWithContext(ctx, CommandSubject(name), b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return CommandReply{}, events.Wrap(events.CodeUnavailable, err, "the command service is not running; retry shortly")
		}
		return CommandReply{}, events.Wrap(events.CodeUnavailable, err, "the command service did not answer in time; retry with the same Idempotency-Key")
	}
	var rep CommandReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return CommandReply{}, events.Wrap(events.CodeInternal, err, "decode command reply")
	}
	if rep.Error != nil {
		return rep, rep.Error
	}
	return rep, nil
}

// A view's answer travels as the message body, untouched, with the
// position it reflects in a header; an error travels as its JSON in the
// body with HeaderQueryError set. An envelope around the answer ({"position":
// ..., "data": ...}) made each side scan every answer again, once to wrap it
// and once to unwrap it, which was a large part of serving a ledger page.
const (
	HeaderQueryPosition = "Rectify-Position"
	HeaderQueryError    = "Rectify-Error"
)

// QueryReply is what QueryRequest decodes a view's answer into;
// query.Response implements it.
type QueryReply interface {
	SetQueryReply(position uint64, data []byte, err *events.Error)
}

// EncodeQueryReply is the reply to a query: the headers and the body.
func EncodeQueryReply(position uint64, data []byte, qerr *events.Error) (nats.Header, []byte) {
	h := nats.Header{HeaderQueryPosition: []string{strconv.FormatUint(position, 10)}}
	if qerr != nil {
		h.Set(HeaderQueryError, "1")
		b, err := json.Marshal(qerr)
		if err != nil {
			b = []byte(`{"code":"internal","message":"unencodable error"}`)
		}
		return h, b
	}
	return h, data
}

// DecodeQueryReply reads a reply EncodeQueryReply made into out.
func DecodeQueryReply(msg *nats.Msg, out QueryReply) error {
	pos, err := strconv.ParseUint(msg.Header.Get(HeaderQueryPosition), 10, 64)
	if err != nil {
		return events.Wrap(events.CodeInternal, err, "decode query reply: no position")
	}
	if msg.Header.Get(HeaderQueryError) != "" {
		var e events.Error
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			return events.Wrap(events.CodeInternal, err, "decode query reply")
		}
		out.SetQueryReply(pos, nil, &e)
		return nil
	}
	out.SetQueryReply(pos, msg.Data, nil)
	return nil
}

// QueryRequest sends one query to a view over NATS and decodes the reply
// into out. A view's own error comes back in out, not as the error. No
// view answering, or none before ctx is done, is CodeUnavailable; so is a
// query while nc is not connected, at once.
func QueryRequest(ctx context.Context, nc *nats.Conn, view, op string, req any, out QueryReply) error {
	if err := unreachable(nc, "view "+view, ""); err != nil {
		return err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return events.Wrap(events.CodeInternal, err, "encode query")
	}
	msg, err := nc.RequestWithContext(ctx, QuerySubject(view, op), b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return events.Wrap(events.CodeUnavailable, err, "view %s is not being served; retry shortly", view)
		}
		return events.Wrap(events.CodeUnavailable, err, "view %s did not answer in time", view)
	}
	return DecodeQueryReply(msg, out)
}

// unreachable is CodeUnavailable while nc is not connected (NATS is down,
// or this process is cut off from it), else nil. A request sent then
// would wait in the connection's reconnect buffer until NATS came back or
// the caller's deadline ran out: a client would see its request hang for
// the whole request timeout instead of a refusal it can act on at once.
func unreachable(nc *nats.Conn, what, hint string) error {
	if st := nc.Status(); st != nats.CONNECTED {
		return events.Errorf(events.CodeUnavailable, "%s is unreachable: the connection to NATS is %s%s",
			what, strings.ToLower(st.String()), hint)
	}
	return nil
}
