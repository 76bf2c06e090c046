package gateway

// Tokens never reach the log. The request log names no headers and no
// query strings, but a token can still travel where a log line looks: in
// a path a client got wrong (/api/v1/rfy_...), in a panic's value, in an
// error wrapping what a client sent. The gateway's logger therefore
// passes through redactTokens, which blanks out anything shaped like a
// rectify token (events.TokenPrefix and what follows) in every message
// and attribute, whoever logs it.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"rectify/events"
)

// redacted replaces a token in the log. It does not hold the prefix, so
// that redacting twice changes nothing.
const redacted = "[token redacted]"

// redactTokens wraps h so that no token shape reaches it.
func redactTokens(h slog.Handler) slog.Handler {
	if r, ok := h.(tokenRedactor); ok {
		return r // already wrapped (a logger handed on)
	}
	return tokenRedactor{h}
}

type tokenRedactor struct{ next slog.Handler }

func (r tokenRedactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r tokenRedactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, redactString(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

func (r tokenRedactor) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = redactAttr(a)
	}
	return tokenRedactor{r.next.WithAttrs(clean)}
}

func (r tokenRedactor) WithGroup(name string) slog.Handler {
	return tokenRedactor{r.next.WithGroup(name)}
}

// redactAttr blanks tokens in a's value: strings, groups, and any other
// value whose text shows one (an error, a struct), which is then logged
// as its redacted text.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.Contains(s, events.TokenPrefix) {
			return slog.String(a.Key, redactString(s))
		}
	case slog.KindGroup:
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, ga := range g {
			clean[i] = redactAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		if s := fmt.Sprint(v.Any()); strings.Contains(s, events.TokenPrefix) {
			return slog.String(a.Key, redactString(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// redactString replaces every token shape in s: the prefix and the run of
// base64url characters after it, whatever its length, so that a token
// cut short or run into other text is caught too.
func redactString(s string) string {
	if !strings.Contains(s, events.TokenPrefix) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, events.TokenPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(redacted)
		s = s[i+len(events.TokenPrefix):]
		j := 0
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		s = s[j:]
	}
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
