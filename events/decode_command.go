package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// commandTypes maps each command name to its struct type; it is built once,
// by newCommandRegistry, and read-only afterwards.
var commandTypes = newCommandRegistry()

// newCommandRegistry is the one list of commands the command side accepts.
func newCommandRegistry() map[string]reflect.Type {
	all := []Command{
		RaiseItem{}, AssignItem{}, PlanMeasure{}, CompleteMeasure{}, ReportProgress{},
		AttachEvidence{}, SubmitItem{}, VerifyItem{}, RejectItem{}, ChangeDeadline{},
		CarryOverItem{}, WithdrawItem{}, ReopenItem{},
		MakeCommitment{}, ReviseCommitment{}, EndCommitment{}, LogActivity{},
		OpenCycle{}, CloseCycle{}, CarryOverCycle{},
		RegisterUnit{}, RenameUnit{}, MoveUnit{}, RetireUnit{},
		CreateUser{}, GrantRole{}, RevokeRole{}, IssueToken{}, RevokeToken{},
		ImportReport{},
		DraftRuleset{}, ReviseRuleset{}, PublishRuleset{}, PublishAssessment{},
	}
	m := make(map[string]reflect.Type, len(all))
	for _, c := range all {
		if _, dup := m[c.CommandName()]; dup {
			panic("events: command " + c.CommandName() + " listed twice")
		}
		m[c.CommandName()] = reflect.TypeOf(c)
	}
	return m
}

// CommandNames returns the name of every command, sorted ("item.raise",
// "unit.move", ...): the transport subscribes to one subject per name.
func CommandNames() []string {
	out := make([]string, 0, len(commandTypes))
	for n := range commandTypes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// DecodeCommand reads the JSON object data as the command called name and
// validates it. The result is the command struct as a value (RaiseItem, not
// *RaiseItem).
//
// Every problem is reported at once in one CodeInvalid *Error: unknown
// fields ("is not a field of item.raise"), values of the wrong JSON type or
// malformed dates ("must be a date YYYY-MM-DD"), and whatever Validate
// finds in the remaining fields. An unknown command name is CodeInvalid too.
func DecodeCommand(name string, data []byte) (Command, error) {
	typ, ok := commandTypes[name]
	if !ok {
		return nil, Errorf(CodeInvalid, "unknown command %q", name)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, Errorf(CodeInvalid, "command %s: body must be a JSON object", name)
	}

	ptr := reflect.New(typ)
	fields := jsonFields(typ)
	var v Validator
	bad := map[string]bool{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order of problems for the same input
	for _, key := range keys {
		idx, ok := fields[key]
		if !ok {
			v.Fault(key, ProblemUnknownField, "is not a field of "+name)
			bad[key] = true
			continue
		}
		f := ptr.Elem().Field(idx)
		dec := json.NewDecoder(bytes.NewReader(raw[key]))
		// Nested objects (the entries of report.import) are held to their
		// fields too: a misspelt field must not be dropped silently.
		dec.DisallowUnknownFields()
		if err := dec.Decode(f.Addr().Interface()); err != nil {
			v.AddField(typeProblem(key, f.Type(), err))
			bad[key] = true
		}
	}

	cmd := ptr.Elem().Interface().(Command)
	if err := cmd.Validate(); err != nil {
		e, _ := err.(*Error)
		if e == nil {
			return nil, Wrap(CodeInternal, err, "command %s: validate", name)
		}
		for _, fe := range e.Fields {
			// A field that failed to decode was left at its zero value;
			// "is required" on top of "must be a date" would only confuse.
			if !bad[fe.Field] {
				v.AddField(fe)
			}
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// jsonFields maps the JSON names of a command struct's fields to their
// indexes. Commands are flat structs with one json tag per field.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

var (
	dateType = reflect.TypeFor[Date]()
	timeType = reflect.TypeFor[time.Time]()
)

// typeProblem says what field, of type t, must be, for a value that did
// not decode into it (err).
func typeProblem(field string, t reflect.Type, err error) FieldError {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func(expected, problem string) FieldError {
		return Fault(field, ProblemWrongType, problem, "expected", expected)
	}
	if t.Kind() == reflect.Slice {
		// A list of entries: say which part of which entry is wrong.
		return wrong("array", "must be a list of objects as documented: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	switch {
	case t == dateType:
		return Fault(field, ProblemNotADate, DateProblem(err))
	case t == timeType:
		return Fault(field, ProblemNotATime, "must be a time in RFC 3339 form, 2006-01-02T15:04:05+08:00")
	}
	switch t.Kind() {
	case reflect.String:
		return wrong("string", "must be a string")
	case reflect.Int, reflect.Int64:
		return wrong("integer", "must be an integer")
	case reflect.Uint64:
		return wrong("integer", "must be a non-negative integer")
	case reflect.Bool:
		return wrong("boolean", "must be true or false")
	case reflect.Struct, reflect.Map:
		return wrong("object", "must be an object as documented")
	}
	return wrong("", "has the wrong type")
}
