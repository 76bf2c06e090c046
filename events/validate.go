package events

import (
	"fmt"
	"strconv"
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
	textRequired = "is required"
	textID       = "must be 1 to 64 characters of A-Z a-z 0-9 _ -"
	textDate     = "must be a date YYYY-MM-DD"
	textPositive = "must be positive"
	textSHA256   = "must be 64 lowercase hex digits"
	textBidi     = "must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069): " +
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

// fieldCheck wraps a Validator with the checks commands share. Each
// records its problem with its own code (ProblemCodes), never the
// catch-all: a test drives every command with bad input to hold that.
type fieldCheck struct{ Validator }

// rule records problem for field with code and params when ok is false.
func (c *fieldCheck) rule(ok bool, field, code, problem string, params ...string) {
	if !ok {
		c.Fault(field, code, problem, params...)
	}
}

// required records that field is missing.
func (c *fieldCheck) required(field string) {
	c.Fault(field, ProblemRequired, textRequired)
}

// id checks an id field; an empty id is fine unless required.
func (c *fieldCheck) id(field, id string, required bool) {
	if id == "" {
		if required {
			c.required(field)
		}
		return
	}
	c.rule(ValidID(id), field, ProblemBadID, textID)
}

// positive checks that n is above 0 and at most max.
func (c *fieldCheck) positive(field string, n, max int) {
	switch {
	case n <= 0:
		c.Fault(field, ProblemNotPositive, textPositive)
	case n > max:
		c.Fault(field, ProblemTooLarge, fmt.Sprintf("must be at most %d", max), "max", strconv.Itoa(max))
	}
}

// between checks that n lies in min..max; what words the problem ("a
// year").
func (c *fieldCheck) between(field string, n, min, max int, what string) {
	if n < min || n > max {
		c.Fault(field, ProblemOutOfRange, fmt.Sprintf("must be %s between %d and %d", what, min, max),
			"min", strconv.Itoa(min), "max", strconv.Itoa(max))
	}
}

// sha256 checks a hex SHA-256 digest.
func (c *fieldCheck) sha256(field, s string) {
	c.rule(ValidSHA256(s), field, ProblemNotSHA256, textSHA256)
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
			c.required(field)
		}
		return
	}
	if !utf8.ValidString(s) {
		c.Fault(field, ProblemBadUTF8, "must be valid UTF-8")
		return
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			c.Fault(field, ProblemControlChar, "must not contain control characters")
			return
		}
		if IsBidiControl(r) {
			c.Fault(field, ProblemBidiControl, textBidi)
			return
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		c.Fault(field, ProblemTooLong, fmt.Sprintf("must be at most %d characters", max), "max", strconv.Itoa(max))
	}
}

// date checks that a required date is present. A Date that is not zero is
// always a valid day in range: the constructors and UnmarshalJSON see to it.
func (c *fieldCheck) date(field string, d Date, required bool) {
	c.rule(!required || !d.IsZero(), field, ProblemNotADate, textDate)
}

// oneOf checks that s is one of allowed (or empty, when not required).
func (c *fieldCheck) oneOf(field, s string, required bool, allowed []string) {
	if s == "" {
		if required {
			c.required(field)
		}
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.Fault(field, ProblemNotOneOf, "must be one of "+strings.Join(allowed, ", "), "allowed", strings.Join(allowed, ","))
}

// span checks that end is not before start when both are given.
func (c *fieldCheck) span(startField string, start Date, endField string, end Date) {
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		c.Fault(endField, ProblemBeforeField, "must not be before "+startField, "other", startField)
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
