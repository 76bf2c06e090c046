package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"rectify/events"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[events.Code]int{
	events.CodeInvalid:      http.StatusBadRequest,
	events.CodeNotFound:     http.StatusNotFound,
	events.CodeConflict:     http.StatusConflict,
	events.CodeForbidden:    http.StatusForbidden,
	events.CodeUnauthorized: http.StatusUnauthorized,
	events.CodeUnavailable:  http.StatusServiceUnavailable,
	events.CodeInternal:     http.StatusInternalServerError,
}

// errorBody is the JSON body of every error reply:
//
//	{"error": {"code": "invalid", "message": "invalid input",
//	           "fields": [{"field": "title", "code": "too_long",
//	                       "problem": "must be at most 200 characters", "params": {"max": "200"}}]}}
//
// Each field problem carries a code (events.ProblemCodes) and the
// parameters its text mentions, so that the dashboard and other clients
// can word it in their own language.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    events.Code         `json:"code"`
	Message string              `json:"message"`
	Fields  []events.FieldError `json:"fields,omitempty"`
}

// httpError is an error with an HTTP status of its own, for the few
// answers the code table does not cover (413, 415, 405).
type httpError struct {
	status int
	code   events.Code
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// tooLarge is the 413 for a body over limit bytes.
func tooLarge(what string, limit int64) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: events.CodeInvalid,
		msg: fmt.Sprintf("%s is larger than the limit of %s", what, byteSize(limit))}
}

// unsupportedType is the 415 for a body or file of the wrong type.
func unsupportedType(format string, args ...any) error {
	return &httpError{status: http.StatusUnsupportedMediaType, code: events.CodeInvalid, msg: fmt.Sprintf(format, args...)}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// writeError answers c with err: the status from the code table, the
// message and the bad fields. Internal errors are logged with the request
// id and answered with a generic message, never the cause.
func (s *Server) writeError(c *gin.Context, err error) {
	status, body := s.errorReply(c, err)
	switch status {
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="rectify"`)
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, body)
}

func (s *Server) errorReply(c *gin.Context, err error) (int, errorBody) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, errorBody{Error: errorDetail{Code: he.code, Message: he.msg}}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return s.errorReply(c, tooLarge("the request body", mbe.Limit))
	}
	code := events.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = events.CodeInternal, http.StatusInternalServerError
	}
	if code == events.CodeInternal {
		s.log.Error("request failed", "request_id", requestID(c), "method", c.Request.Method,
			"path", c.Request.URL.Path, "err", err)
		return status, errorBody{Error: errorDetail{Code: code, Message: "internal error; the server log has the details under request id " + requestID(c)}}
	}
	var e *events.Error
	errors.As(err, &e)
	d := errorDetail{Code: code, Message: e.Message, Fields: withCodes(e.Fields)}
	if d.Message == "" {
		d.Message = string(code)
	}
	return status, errorBody{Error: d}
}

// withCodes returns fields with the catch-all problem code on any field
// problem that came without one (from a part of an older build), so that
// every field problem a client sees has a code.
func withCodes(fields []events.FieldError) []events.FieldError {
	for i, f := range fields {
		if f.Code == "" {
			fields = slices.Clone(fields)
			for j := i; j < len(fields); j++ {
				if fields[j].Code == "" {
					fields[j].Code = events.ProblemInvalid
				}
			}
			break
		}
	}
	return fields
}

// readJSONObject reads a request body of at most limit bytes holding one
// JSON object, and returns its members. An empty body is an empty object.
// Malformed JSON is CodeInvalid naming "body" with the offset of the
// problem; a body over the limit is a 413; a Content-Type other than JSON
// is a 415 (readJSONBody); what checkJSON refuses is CodeInvalid naming
// the field.
func readJSONObject(c *gin.Context, limit int64) (map[string]json.RawMessage, error) {
	body, err := readJSONBody(c, limit, "the command")
	if err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) == 0 {
		return out, nil
	}
	if err := decodeStrict(body, &out); err != nil {
		return nil, err
	}
	if out == nil { // the body was "null"
		return nil, wrongType("body", "object", "must be a JSON object")
	}
	return out, nil
}

// decodeStrict decodes exactly one JSON value from data into v, rejecting
// fields v does not have and whatever checkJSON refuses, and words every
// failure as a CodeInvalid error naming the field concerned ("body" when
// the JSON itself is broken).
func decodeStrict(data []byte, v any) error {
	if err := checkJSON(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badJSON("must hold one JSON value only; something follows it")
	}
	return nil
}

// jsonProblem turns an encoding/json error into a field-named CodeInvalid
// error.
func jsonProblem(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badJSON(fmt.Sprintf("is not valid JSON at byte %d: %v", se.Offset, se))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
			if te.Value == "array" || te.Value == "string" || te.Value == "number" || te.Value == "bool" {
				return wrongType(field, "object", "must be a JSON object, not "+jsonValue(te.Value))
			}
		}
		kind := te.Type.Kind().String()
		return wrongType(field, jsonExpected(kind), fmt.Sprintf("must be %s, not %s", jsonKind(kind), jsonValue(te.Value)))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("is not valid JSON: it ends too early")
	}
	// encoding/json reports an unknown field only as text:
	// `json: unknown field "x"`.
	var name string
	if _, scanErr := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); scanErr == nil {
		return events.InvalidField(events.Fault(name, events.ProblemUnknownField, "is not a field of this request"))
	}
	return badJSON("is not valid JSON: " + err.Error())
}

// badJSON is the problem of a body that is not one well-formed JSON value.
func badJSON(problem string) error {
	return events.InvalidField(events.Fault("body", events.ProblemBadJSON, problem))
}

// wrongType is the problem of a JSON value of the wrong type; expected
// names the right one (object, string, integer, ...).
func wrongType(field, expected, problem string) error {
	return events.InvalidField(events.Fault(field, events.ProblemWrongType, problem, "expected", expected))
}

// jsonValue names a JSON value kind as encoding/json reports it.
func jsonValue(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "true or false"
	}
	return "a " + v
}

// jsonExpected names the JSON type of a Go kind for a problem's
// "expected" parameter.
func jsonExpected(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint64", "uint32", "uint":
		return "integer"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return kind
}

func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint64", "uint32", "uint":
		return "an integer"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + kind
}

// logInternal is for failures after the reply has started.
func logInternal(log *slog.Logger, c *gin.Context, msg string, err error) {
	log.Error(msg, "request_id", requestID(c), "path", c.Request.URL.Path, "err", err)
}
