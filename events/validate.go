package events

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text limits, in runes (characters), not bytes: 200 Chinese characters are
// as acceptable as 200 Latin ones.
const (
	MaxNameLen        = 100   // unit, user, person and file names
	MaxTitleLen       = 200   // item and commitment titles
	MaxShortLen       = 100   // category, activity kind, label, content type
	MaxSourceLen      = 200   // where a problem was found
	MaxTextLen        = 2000  // notes, reasons, measure texts
	MaxDescriptionLen = 10000 // item descriptions
)

// Numeric limits.
const (
	MaxActivityCount = 10000  // activities in one log entry
	MaxTarget        = 100000 // a commitment's target per period
)

// Problem texts shared by the command validators, so that the gateway and
// tests see one wording per kind of mistake.
const (
	problemRequired = "is required"
	problemID       = "must be 1 to 64 characters of A-Z a-z 0-9 _ -"
	problemDate     = "must be a date YYYY-MM-DD"
	problemPositive = "must be positive"
	problemBidi     = "must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069): " +
		"mixed Chinese, Arabic and Latin text is shown in the right order without them"
)

// IsBidiControl reports whether r is one of the explicit bidirectional
// embedding, override and isolate characters (U+202A to U+202E, U+2066 to
// U+2069). Text fields refuse them: mixed-script text needs none of them
// to be ordered correctly, and their use in a title or a file name is to
// make it read differently from what it is ("报告\u202Efdp.exe" shows as
// "报告exe.pdf"). The marks U+200E and U+200F and the zero-width
// characters stay allowed in text: scripts need them, and they cannot
// reorder what follows.
func IsBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// fieldCheck wraps a Validator with the checks commands share.
type fieldCheck struct{ Validator }

// id checks an id field; an empty id is fine unless required.
func (c *fieldCheck) id(field, id string, required bool) {
	if id == "" {
		c.Check(!required, field, problemRequired)
		return
	}
	c.Check(ValidID(id), field, problemID)
}

// text checks a one-line text field: valid UTF-8, no control characters
// and no bidirectional controls (IsBidiControl), at most max runes, and
// not blank when required.
func (c *fieldCheck) text(field, s string, required bool, max int) {
	c.str(field, s, required, max, false)
}

// para checks a multi-line text field: like text, but tabs and line breaks
// are allowed.
func (c *fieldCheck) para(field, s string, required bool, max int) {
	c.str(field, s, required, max, true)
}

func (c *fieldCheck) str(field, s string, required bool, max int, multiline bool) {
	if strings.TrimSpace(s) == "" {
		if required {
			c.Add(field, problemRequired)
		}
		return
	}
	if !utf8.ValidString(s) {
		c.Add(field, "must be valid UTF-8")
		return
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			c.Add(field, "must not contain control characters")
			return
		}
		if IsBidiControl(r) {
			c.Add(field, problemBidi)
			return
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		c.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

// date checks that a required date is present. A Date that is not zero is
// always a valid day in range: the constructors and UnmarshalJSON see to it.
func (c *fieldCheck) date(field string, d Date, required bool) {
	c.Check(!required || !d.IsZero(), field, problemDate)
}

// oneOf checks that s is one of allowed (or empty, when not required).
func (c *fieldCheck) oneOf(field, s string, required bool, allowed []string) {
	if s == "" {
		c.Check(!required, field, problemRequired)
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.Add(field, "must be one of "+strings.Join(allowed, ", "))
}

// span checks that end is not before start when both are given.
func (c *fieldCheck) span(startField string, start Date, endField string, end Date) {
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		c.Add(endField, "must not be before "+startField)
	}
}

// ValidSHA256 reports whether s is a SHA-256 digest in lowercase hex.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
