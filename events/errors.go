package events

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an error for the edges: the gateway maps each code to one
// HTTP status, and only CodeInternal is logged.
type Code string

const (
	// CodeInvalid: the input is malformed or breaks a domain rule.
	CodeInvalid Code = "invalid"
	// CodeNotFound: the addressed aggregate or resource does not exist.
	CodeNotFound Code = "not_found"
	// CodeConflict: the state moved on (wrong expected revision, an
	// idempotency key reused with different content, a duplicate id).
	CodeConflict Code = "conflict"
	// CodeForbidden: the caller is known but may not do this here.
	CodeForbidden Code = "forbidden"
	// CodeUnauthorized: the caller is not known (no or bad credentials).
	CodeUnauthorized Code = "unauthorized"
	// CodeUnavailable: a dependency is down or a bounded wait ran out; the
	// same request may succeed later.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: a bug or an unexpected failure; details are logged, the
	// caller sees a generic message.
	CodeInternal Code = "internal"
)

// FieldError names one bad input field and what is wrong with it: Code
// for machines (one of ProblemCodes), Problem in English for people
// reading the API, and Params, the values the problem mentions (a limit,
// the values allowed, another field), for clients that word it
// themselves.
type FieldError struct {
	Field   string            `json:"field"`
	Code    string            `json:"code"`
	Problem string            `json:"problem"`
	Params  map[string]string `json:"params,omitempty"`
}

// Error is rectify's one error type. Message is safe to show to the caller
// for every code except CodeInternal.
type Error struct {
	Code    Code         `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
	// Err is the underlying cause, kept for logs and errors.Is/As; it is
	// never shown to callers.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Problem)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Fields == nil && t.Err == nil && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code whose cause is err.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalid returns a CodeInvalid error naming one field and its problem,
// with the catch-all problem code ProblemInvalid; InvalidField gives a
// problem its own code.
func Invalid(field, problem string) *Error {
	return InvalidField(FieldError{Field: field, Code: ProblemInvalid, Problem: problem})
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none. A nil error has no code ("").
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message that may be shown to a caller: the
// *Error's message, or a generic one for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Message
	}
	return "internal error"
}

// Validator collects field problems so that a command reports every bad
// field at once instead of the first one only.
type Validator struct {
	fields []FieldError
}

// Check records problem for field when ok is false, with the catch-all
// code ProblemInvalid.
func (v *Validator) Check(ok bool, field, problem string) {
	if !ok {
		v.Add(field, problem)
	}
}

// Add records a problem for field, with the catch-all code ProblemInvalid.
func (v *Validator) Add(field, problem string) {
	v.fields = append(v.fields, FieldError{Field: field, Code: ProblemInvalid, Problem: problem})
}

// Fault records a problem for field with its code and parameters, as the
// function Fault builds it.
func (v *Validator) Fault(field, code, problem string, params ...string) {
	v.fields = append(v.fields, Fault(field, code, problem, params...))
}

// AddField records a problem found elsewhere, keeping its code (a field
// without one gets ProblemInvalid).
func (v *Validator) AddField(fe FieldError) {
	if fe.Code == "" {
		fe.Code = ProblemInvalid
	}
	v.fields = append(v.fields, fe)
}

// Err returns a CodeInvalid *Error listing every recorded problem, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: "invalid input", Fields: v.fields}
}
