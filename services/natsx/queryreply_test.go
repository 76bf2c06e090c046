package natsx_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"rectify/events"
	"rectify/services/natsx"
)

type reply struct {
	pos  uint64
	data []byte
	err  *events.Error
}

func (r *reply) SetQueryReply(pos uint64, data []byte, err *events.Error) {
	*r = reply{pos, data, err}
}

// A view's answer crosses NATS byte for byte with its position; an error
// crosses with its code, message (in Chinese) and fields.
func TestQueryReplyRoundTrip(t *testing.T) {
	answer := []byte(`{"items":[{"title":"党员走访不到位"}]}`)
	h, b := natsx.EncodeQueryReply(42, answer, nil)
	var got reply
	if err := natsx.DecodeQueryReply(&nats.Msg{Header: h, Data: b}, &got); err != nil {
		t.Fatal(err)
	}
	if got.pos != 42 || string(got.data) != string(answer) || got.err != nil {
		t.Errorf("answer came back as %+v", got)
	}

	qerr := events.Invalid("unit_id", "单位不存在")
	h, b = natsx.EncodeQueryReply(7, nil, qerr)
	if err := natsx.DecodeQueryReply(&nats.Msg{Header: h, Data: b}, &got); err != nil {
		t.Fatal(err)
	}
	if got.pos != 7 || got.err == nil || got.err.Code != events.CodeInvalid || got.err.Error() != qerr.Error() {
		t.Errorf("error came back as %+v (%v), want %v", got, got.err, qerr)
	}

	if err := natsx.DecodeQueryReply(&nats.Msg{Data: answer}, &got); events.ErrorCode(err) != events.CodeInternal {
		t.Errorf("a reply without a position: %v, want an internal error", err)
	}
}
