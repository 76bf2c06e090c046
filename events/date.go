package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Date is a civil date (year, month, day) without a time of day or a zone:
// a deadline, the day an activity happened, the start of a cycle. Its zero
// value means "no date".
//
// Dates outside MinYear..MaxYear are refused by every constructor and by
// UnmarshalJSON, so a Date that is not zero is always a real calendar day in
// a sane range. Dates compare with ==, Before, After and Compare.
type Date struct {
	y int
	m time.Month
	d int
}

// The range of years a Date accepts.
const (
	MinYear = 1900
	MaxYear = 2200
)

// DateLayout is the one text form of a Date, in JSON and everywhere else.
const DateLayout = "2006-01-02"

// NewDate returns the date y-m-d. It fails with CodeInvalid when the day
// does not exist (2019-02-30) or the year is outside MinYear..MaxYear.
func NewDate(y int, m time.Month, d int) (Date, error) {
	if y < MinYear || y > MaxYear {
		return Date{}, Errorf(CodeInvalid, "the year must be from %d to %d, not %d", MinYear, MaxYear, y)
	}
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || t.Month() != m || t.Day() != d {
		return Date{}, Errorf(CodeInvalid, "%04d-%02d-%02d is not a calendar day", y, int(m), d)
	}
	return Date{y, m, d}, nil
}

// ParseDate reads a date written as YYYY-MM-DD. The empty string gives the
// zero Date; anything else that is not a valid date in range fails with
// CodeInvalid.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil || len(s) != len(DateLayout) {
		if y, m, d, ok := dateDigits(s); ok {
			// The form is right: say what is wrong with the day
			// (2019-02-30 is not a calendar day).
			if _, err := NewDate(y, time.Month(m), d); err != nil {
				return Date{}, err
			}
		}
		return Date{}, Errorf(CodeInvalid, "%q is not a date YYYY-MM-DD", s)
	}
	return NewDate(t.Year(), t.Month(), t.Day())
}

// dateDigits reads s as NNNN-NN-NN, without judging the numbers.
func dateDigits(s string) (y, m, d int, ok bool) {
	if len(s) != len(DateLayout) || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	num := func(part string) int {
		n := 0
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(part[i]-'0')
		}
		return n
	}
	ok = true
	y, m, d = num(s[:4]), num(s[5:7]), num(s[8:])
	return y, m, d, ok
}

// DateProblem says what is wrong with a date that failed to parse (err
// from ParseDate or Date.UnmarshalJSON), in the words of a field's
// problem: "must be a date YYYY-MM-DD", with the reason when the form was
// right but the day is not (a day that does not exist, a year out of
// range).
func DateProblem(err error) string {
	e, ok := err.(*Error)
	if !ok || e.Code != CodeInvalid || strings.HasSuffix(e.Message, "is not a date YYYY-MM-DD") || strings.HasPrefix(e.Message, "a date must be") {
		return textDate
	}
	return textDate + ": " + e.Message
}

// MustDate is ParseDate for literals in tests and tables; it panics on a
// bad date.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DateFrom returns the civil date of instant t as seen in loc (UTC when loc
// is nil). Instants outside the accepted year range give the zero Date.
func DateFrom(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	d, err := NewDate(t.Year(), t.Month(), t.Day())
	if err != nil {
		return Date{}
	}
	return d
}

// IsZero reports whether d is the zero Date ("no date").
func (d Date) IsZero() bool { return d == Date{} }

// Year, Month and Day return the parts of d (zero for the zero Date).
func (d Date) Year() int             { return d.y }
func (d Date) Month() time.Month     { return d.m }
func (d Date) Day() int              { return d.d }
func (d Date) Weekday() time.Weekday { return d.Time(time.UTC).Weekday() }

// Compare returns -1, 0 or +1 as d is before, equal to or after o. The zero
// Date sorts before every other date.
func (d Date) Compare(o Date) int {
	switch {
	case d.y != o.y:
		return cmpInt(d.y, o.y)
	case d.m != o.m:
		return cmpInt(int(d.m), int(o.m))
	default:
		return cmpInt(d.d, o.d)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Before reports whether d is strictly before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is strictly after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// AddDays returns the date n days after d (before it for negative n). The
// zero Date stays zero; a result outside the accepted range is zero too.
func (d Date) AddDays(n int) Date {
	if d.IsZero() {
		return d
	}
	return DateFrom(d.Time(time.UTC).AddDate(0, 0, n), time.UTC)
}

// Time returns the instant d begins in loc (UTC when loc is nil). The zero
// Date gives the zero time.Time.
func (d Date) Time(loc *time.Location) time.Time {
	if d.IsZero() {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, loc)
}

// String returns YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.y, int(d.m), d.d)
}

// MarshalJSON writes "YYYY-MM-DD", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.String() + `"`), nil
}

// UnmarshalJSON reads "YYYY-MM-DD"; null and "" give the zero Date. Any
// other value fails with a CodeInvalid *Error.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(CodeInvalid, "a date must be a string YYYY-MM-DD")
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText and UnmarshalText let a Date be a map key or a flag value.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
