package natsx

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"rectify/events"
)

// EncodeEvent returns the JetStream message for e, whose predecessor in $all
// has position prev (0 when e is the first event).
//
// The body is e.Data byte for byte and every other envelope field travels in
// a header. Why not the whole envelope as JSON in the body: re-encoding Data
// inside an envelope compacts and re-escapes it, so a consumer would not get
// the stored bytes back; a consumer that only wants the payload would pay
// for parsing the envelope; and the headers carry the routing facts (id,
// position, predecessor) that the relay and gap detection read without
// touching the body.
//
// Header values must stay on one line and are trimmed by NATS, and ADR-4
// asks for ASCII, so every byte outside '!'..'~' and every '%' is written as
// '%' and two hex digits: Chinese text arrives percent-encoded in the raw
// header and exact after DecodeEvent. Empty actor, correlation and causation
// ids and an empty hash are left out.
func EncodeEvent(e events.Event, prev uint64) *nats.Msg {
	h := make(nats.Header, 12)
	h[HeaderMsgID] = []string{escapeHeader(e.ID)}
	h[HeaderPosition] = []string{strconv.FormatUint(e.Position, 10)}
	h[HeaderPrevPosition] = []string{strconv.FormatUint(prev, 10)}
	h[HeaderStream] = []string{escapeHeader(e.Stream)}
	h[HeaderRevision] = []string{strconv.FormatUint(e.Revision, 10)}
	h[HeaderType] = []string{escapeHeader(e.Type)}
	h[HeaderVersion] = []string{strconv.Itoa(e.Version)}
	h[HeaderTime] = []string{e.Time.Format(time.RFC3339Nano)}
	if e.Actor != "" {
		h[HeaderActor] = []string{escapeHeader(e.Actor)}
	}
	if e.CorrelationID != "" {
		h[HeaderCorrelation] = []string{escapeHeader(e.CorrelationID)}
	}
	if e.CausationID != "" {
		h[HeaderCausation] = []string{escapeHeader(e.CausationID)}
	}
	if e.Hash != "" {
		h[HeaderHash] = []string{escapeHeader(e.Hash)}
	}
	return &nats.Msg{
		Subject: EventSubject(e.Category(), e.Type),
		Header:  h,
		Data:    e.Data,
	}
}

// DecodeEvent rebuilds the event EncodeEvent put in msg, and the position of
// its predecessor. See DecodeEventParts.
func DecodeEvent(msg *nats.Msg) (e events.Event, prev uint64, err error) {
	if msg == nil {
		return events.Event{}, 0, events.Invalid("message", "missing")
	}
	return DecodeEventParts(msg.Header, msg.Data)
}

// DecodeEventParts rebuilds an event from the headers and body of a message,
// for callers holding a jetstream.Msg (Headers(), Data()) or a
// jetstream.RawStreamMsg rather than a *nats.Msg. Data is a copy of data.
//
// A message that EncodeEvent did not produce is a CodeInvalid *events.Error
// naming every missing or malformed header.
func DecodeEventParts(h nats.Header, data []byte) (e events.Event, prev uint64, err error) {
	var v events.Validator
	text := func(key string, required bool) string {
		vals, ok := h[key]
		if !ok || len(vals) == 0 {
			v.Check(!required, key, "missing")
			return ""
		}
		s, ok := unescapeHeader(vals[0])
		v.Check(ok, key, "bad escape")
		return s
	}
	e.ID = text(HeaderMsgID, true)
	v.Check(e.ID != "" || len(h[HeaderMsgID]) == 0, HeaderMsgID, "empty")
	e.Position = headerUint(&v, h, HeaderPosition)
	prev = headerUint(&v, h, HeaderPrevPosition)
	e.Stream = text(HeaderStream, true)
	e.Revision = headerUint(&v, h, HeaderRevision)
	e.Type = text(HeaderType, true)
	if vals := h[HeaderVersion]; len(vals) > 0 {
		n, err := strconv.Atoi(vals[0])
		v.Check(err == nil, HeaderVersion, "not an integer")
		e.Version = n
	} else {
		v.Add(HeaderVersion, "missing")
	}
	if vals := h[HeaderTime]; len(vals) > 0 {
		t, err := time.Parse(time.RFC3339Nano, vals[0])
		v.Check(err == nil, HeaderTime, "not an RFC 3339 time")
		e.Time = t
	} else {
		v.Add(HeaderTime, "missing")
	}
	e.Actor = text(HeaderActor, false)
	e.CorrelationID = text(HeaderCorrelation, false)
	e.CausationID = text(HeaderCausation, false)
	e.Hash = text(HeaderHash, false)
	v.Check(e.Hash == "" || events.ValidSHA256(e.Hash), HeaderHash, "not 64 lowercase hex digits")
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	if err := v.Err(); err != nil {
		return events.Event{}, 0, err
	}
	return e, prev, nil
}

// HeaderPositions reads the position and predecessor position of an event
// message without decoding the rest; CodeInvalid when either is missing or
// malformed.
func HeaderPositions(h nats.Header) (pos, prev uint64, err error) {
	var v events.Validator
	pos = headerUint(&v, h, HeaderPosition)
	prev = headerUint(&v, h, HeaderPrevPosition)
	if err := v.Err(); err != nil {
		return 0, 0, err
	}
	return pos, prev, nil
}

// headerUint reads a required decimal header, recording its problem in v.
func headerUint(v *events.Validator, h nats.Header, key string) uint64 {
	vals := h[key]
	if len(vals) == 0 {
		v.Add(key, "missing")
		return 0
	}
	n, err := strconv.ParseUint(vals[0], 10, 64)
	v.Check(err == nil, key, "not a non-negative integer")
	return n
}

// HeaderEventID reads the event id of an event message.
func HeaderEventID(h nats.Header) (string, error) {
	vals := h[HeaderMsgID]
	if len(vals) == 0 || vals[0] == "" {
		return "", events.Invalid(HeaderMsgID, "missing")
	}
	id, ok := unescapeHeader(vals[0])
	if !ok {
		return "", events.Invalid(HeaderMsgID, "bad escape")
	}
	return id, nil
}

func plainHeaderByte(c byte) bool { return c > ' ' && c < 0x7F && c != '%' }

func escapeHeader(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plainHeaderByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainHeaderByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0F])
	}
	return b.String()
}

// unescapeHeader undoes escapeHeader. Bytes other producers left unescaped
// are taken as they are; a '%' not followed by two hex digits is an error.
func unescapeHeader(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
