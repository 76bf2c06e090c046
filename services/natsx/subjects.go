// Package natsx is rectify's NATS wiring: every subject, stream, bucket and
// header name in one place, the wire format of an event on JetStream, an
// in-process NATS server with JetStream on disk, client connections that
// survive outages, and the idempotent set-up of the events stream.
//
// JetStream holds a copy of the event store, never the truth: everything
// published under EventsSubjects can be deleted and rebuilt by the relay.
package natsx

import (
	"strings"
)

// EnvURL is the environment variable naming an external NATS server (or a
// comma-separated cluster); without it `rectify serve` embeds one.
const EnvURL = "RECTIFY_NATS_URL"

// Events on JetStream.
const (
	// EventsStream is the JetStream stream holding a copy of $all.
	EventsStream = "RECTIFY_EVENTS"
	// EventsSubjectPrefix starts every event subject.
	EventsSubjectPrefix = "rectify.events"
	// EventsSubjects is the wildcard the events stream listens on.
	EventsSubjects = EventsSubjectPrefix + ".>"
)

// Commands, queries and change notices, served over core NATS
// request/reply (nats.go micro services).
const (
	// CommandSubjectPrefix starts every command subject, rectify.cmd.<name>.
	CommandSubjectPrefix = "rectify.cmd"
	// CommandService is the micro service name of the command side.
	CommandService = "rectify-commands"
	// CommandQueueGroup spreads commands over every command service
	// replica: each request is handled by exactly one of them.
	CommandQueueGroup = "rectify-commands"
	// QuerySubjectPrefix starts every query subject, rectify.query.<view>.<op>.
	QuerySubjectPrefix = "rectify.query"
	// QueryService is the micro service name of the query side.
	QueryService = "rectify-queries"
	// QueryQueueGroup spreads queries over the replicas serving a view.
	QueryQueueGroup = "rectify-queries"
	// ChangesSubjectPrefix starts every change notice, rectify.changes.<view>.
	ChangesSubjectPrefix = "rectify.changes"
)

// The relay's lease.
const (
	// RelayLeaseBucket is the KV bucket holding the relay lease. Its TTL is
	// the lease duration.
	RelayLeaseBucket = "rectify_relay_lease"
	// RelayLeaseKey is the key whose value names the relay that publishes.
	RelayLeaseKey = "holder"
)

// Headers of an event message. Values are ASCII; see EncodeEvent for the
// escaping of other bytes.
const (
	// HeaderMsgID carries the event id; JetStream drops a second message
	// with the same id inside the stream's duplicate window.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderPosition is the event's position in $all.
	HeaderPosition = "Rectify-Position"
	// HeaderPrevPosition is the position of the event just before this one
	// in $all, 0 for the first event. A consumer that has not seen that
	// position has a gap to fill from the store.
	HeaderPrevPosition = "Rectify-Prev-Position"
	HeaderStream       = "Rectify-Stream"
	HeaderRevision     = "Rectify-Revision"
	HeaderType         = "Rectify-Type"
	HeaderVersion      = "Rectify-Version"
	// HeaderTime is the event time in RFC 3339 with nanoseconds and the
	// original offset.
	HeaderTime        = "Rectify-Time"
	HeaderActor       = "Rectify-Actor"
	HeaderCorrelation = "Rectify-Correlation"
	HeaderCausation   = "Rectify-Causation"
	// HeaderHash is the event's chain hash (events.Event.Hash), 64
	// lowercase hex digits; absent when the store recorded none.
	HeaderHash = "Rectify-Hash"
)

// EventSubject is the subject an event of the given stream category and
// type is published on: rectify.events.<category>.<type>, "item" and
// "rectify.item.raised" giving rectify.events.item.rectify.item.raised.
//
// The category is always one token, so a consumer filters by category with
// CategorySubjects and by type with TypeSubjects. The dots of the type are
// kept, so rectify.events.*.rectify.item.> selects every item event type.
// Every other byte that is not a letter, a digit, '-' or '_' is written as
// '~' and two hex digits, and an empty token as a lone '~': distinct
// categories and types always get distinct, valid subjects.
func EventSubject(category, eventType string) string {
	var b strings.Builder
	b.Grow(len(EventsSubjectPrefix) + len(category) + len(eventType) + 2)
	b.WriteString(EventsSubjectPrefix)
	b.WriteByte('.')
	writeToken(&b, category)
	b.WriteByte('.')
	writeDotted(&b, eventType)
	return b.String()
}

// CategorySubjects is the filter subject matching every event of one
// stream category.
func CategorySubjects(category string) string {
	return EventsSubjectPrefix + "." + Token(category) + ".>"
}

// TypeSubjects is the filter subject matching every event of one type,
// whatever its category.
func TypeSubjects(eventType string) string {
	var b strings.Builder
	b.WriteString(EventsSubjectPrefix)
	b.WriteString(".*.")
	writeDotted(&b, eventType)
	return b.String()
}

// CommandSubject is the request subject of a command, rectify.cmd.<name>.
// Dots in name are kept, so commands can be grouped (rectify.cmd.item.>).
func CommandSubject(name string) string {
	var b strings.Builder
	b.WriteString(CommandSubjectPrefix)
	b.WriteByte('.')
	writeDotted(&b, name)
	return b.String()
}

// QuerySubject is the request subject of one query operation on a view,
// rectify.query.<view>.<op>; view and op are one token each.
func QuerySubject(view, op string) string {
	return QuerySubjectPrefix + "." + Token(view) + "." + Token(op)
}

// ChangesSubject is the subject a view announces its changes on,
// rectify.changes.<view>.
func ChangesSubject(view string) string {
	return ChangesSubjectPrefix + "." + Token(view)
}

// Token turns s into one valid subject token: letters, digits, '-' and '_'
// stay, every other byte (including '.') becomes '~' and two upper-case hex
// digits, and the empty string becomes "~". Different inputs give
// different tokens.
func Token(s string) string {
	if s != "" && plainToken(s) {
		return s
	}
	var b strings.Builder
	writeToken(&b, s)
	return b.String()
}

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

const hexDigits = "0123456789ABCDEF"

func writeToken(b *strings.Builder, s string) {
	if s == "" {
		b.WriteByte('~')
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('~')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0F])
	}
}

// writeDotted writes a dotted name token by token, keeping its dots.
func writeDotted(b *strings.Builder, s string) {
	for i, tok := range strings.Split(s, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		writeToken(b, tok)
	}
}
