package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// badValues are JSON values that a field of type t must refuse, each in
// its own way: missing, blank, too long, with control or bidirectional
// characters, of the wrong type, out of range, not a day.
func badValues(t reflect.Type, depth int) []any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == dateType:
		return []any{"2019-02-30", "30.02.2019", "1899-12-31", 20190230}
	case t == timeType:
		return []any{"yesterday", 5}
	}
	switch t.Kind() {
	case reflect.String:
		return []any{"", "   ", "bad id!", "zz-not-one-of", strings.Repeat("长", MaxDescriptionLen+1),
			"整改\x01事项", "报告\u202Efdp.exe", 5, []any{}}
	case reflect.Int, reflect.Int64:
		return []any{-1, 0, 1e9, 1.5, "3"}
	case reflect.Uint64:
		return []any{-1, 0, "3"}
	case reflect.Bool:
		return []any{"yes"}
	case reflect.Float64:
		return []any{1e9, 0.001, "3"}
	case reflect.Struct:
		out := []any{"x", 5}
		if depth > 0 {
			return out
		}
		for _, f := range jsonNames(t) {
			for _, bad := range badValues(f.typ, depth+1) {
				out = append(out, map[string]any{f.name: bad})
			}
		}
		return out
	case reflect.Slice:
		out := []any{"x", map[string]any{}}
		el := t.Elem()
		if el.Kind() != reflect.Struct || depth > 0 {
			return out
		}
		// Entries with a bad key, given twice, and one bad field each.
		out = append(out, []any{map[string]any{"entry": "bad key!"}},
			[]any{map[string]any{"entry": "p1"}, map[string]any{"entry": "p1"}})
		for _, f := range jsonNames(el) {
			for _, bad := range badValues(f.typ, depth+1) {
				out = append(out, []any{map[string]any{"entry": "p1", f.name: bad}})
			}
		}
		return out
	}
	return []any{"x"}
}

type namedField struct {
	name string
	typ  reflect.Type
}

func jsonNames(t reflect.Type) []namedField {
	var out []namedField
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, namedField{name, t.Field(i).Type})
		}
	}
	return out
}

// paramsOf are the parameters a problem code promises: a client words
// the problem with them.
var paramsOf = map[string][]string{
	ProblemTooLong:     {"max"},
	ProblemTooLarge:    {"max"},
	ProblemOutOfRange:  {"min", "max"},
	ProblemNotOneOf:    {"allowed"},
	ProblemBeforeField: {"other"},
	ProblemSameAsField: {"other"},
	ProblemWrongType:   {"expected"},
	ProblemTooMany:     {"max"},
}

// TestEveryValidationProblemHasACode drives every command's decoder with
// bad input of every kind, field by field, and checks that each problem
// it reports carries a code of its own (not the catch-all), listed in
// ProblemCodes, with the parameters the code promises, and that the
// codes together cover every kind of mistake the validators know.
func TestEveryValidationProblemHasACode(t *testing.T) {
	seen := map[string]int{}
	problems := 0
	check := func(name string, body map[string]any) {
		t.Helper()
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeCommand(name, data)
		if err == nil {
			return // a bad value for one field may be fine for another (an id for a name)
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid {
			t.Errorf("%s %s: %v, want an invalid *Error", name, data, err)
			return
		}
		if len(e.Fields) == 0 {
			t.Errorf("%s %s: %v names no field", name, data, err)
		}
		for _, fe := range e.Fields {
			problems++
			seen[fe.Code]++
			switch {
			case fe.Code == "" || fe.Code == ProblemInvalid:
				t.Errorf("%s %s: %s %q has no code of its own (%q)", name, data, fe.Field, fe.Problem, fe.Code)
			case !IsProblemCode(fe.Code):
				t.Errorf("%s %s: %s has code %q, which ProblemCodes does not list", name, data, fe.Field, fe.Code)
			}
			for _, p := range paramsOf[fe.Code] {
				if fe.Params[p] == "" {
					t.Errorf("%s %s: %s (%s) lacks parameter %s: %v", name, data, fe.Field, fe.Code, p, fe.Params)
				}
			}
			if fe.Problem == "" {
				t.Errorf("%s %s: %s (%s) has no problem text", name, data, fe.Field, fe.Code)
			}
		}
	}
	for _, name := range CommandNames() {
		typ := commandTypes[name]
		check(name, map[string]any{})
		check(name, map[string]any{"no_such_field": 1})
		for _, f := range jsonNames(typ) {
			for _, bad := range badValues(f.typ, 0) {
				check(name, map[string]any{f.name: bad})
			}
		}
	}
	// Rules between fields.
	check("commitment.make", map[string]any{"start": "2024-02-01", "end": "2024-01-01"})
	check("cycle.open", map[string]any{"start": "2024-02-01", "end": "2024-01-01"})
	check("unit.register", map[string]any{"unit_id": "u1", "parent_id": "u1"})
	check("cycle.carry_over", map[string]any{"from_cycle_id": "y1", "to_cycle_id": "y1"})
	check("user.create", map[string]any{"user_id": SystemActor})
	many := make([]any, MaxImportEntries+1)
	for i := range many {
		many[i] = map[string]any{"entry": "p" + strings.Repeat("1", i%20+1)}
	}
	check("report.import", map[string]any{"cycle_id": "y1", "items": many})

	for _, want := range []string{
		ProblemRequired, ProblemBadID, ProblemControlChar, ProblemBidiControl, ProblemTooLong, ProblemTooLarge,
		ProblemNotPositive, ProblemOutOfRange, ProblemNotADate, ProblemNotATime, ProblemNotOneOf, ProblemBeforeField,
		ProblemSameAsField, ProblemNotSHA256, ProblemDecimals, ProblemReserved, ProblemUnknownField, ProblemWrongType,
		ProblemDuplicate, ProblemEmpty, ProblemTooMany,
	} {
		if seen[want] == 0 {
			t.Errorf("no bad input gave code %s; seen: %v", want, seen)
		}
	}
	if problems < 1000 {
		t.Errorf("only %d problems reported; is the test still driving the decoders?", problems)
	}
}

// TestProblemCodesAreListedOnce: the list is what the API document's enum
// and the dashboard's dictionaries are checked against.
func TestProblemCodesAreListedOnce(t *testing.T) {
	codes := ProblemCodes()
	if len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Errorf("a problem code is listed twice: %v", codes)
	}
	for _, c := range codes {
		if c == "" || strings.ToLower(c) != c || strings.ContainsAny(c, " .-") {
			t.Errorf("problem code %q is not a lowercase snake_case word", c)
		}
	}
}

// TestFieldErrorJSON: the wire form of a field problem, and a problem
// renamed under an import entry keeps its code and parameters without
// sharing them with the original.
func TestFieldErrorJSON(t *testing.T) {
	fe := Fault("title", ProblemTooLong, "must be at most 200 characters", "max", "200")
	b, err := json.Marshal(InvalidField(fe))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"code":"invalid","message":"invalid input","fields":[{"field":"title","code":"too_long","problem":"must be at most 200 characters","params":{"max":"200"}}]}`
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant\n%s", b, want)
	}
	under := fe.Under("p1")
	under.Params["max"] = "1"
	if under.Field != "p1.title" || under.Code != ProblemTooLong || fe.Params["max"] != "200" {
		t.Errorf("Under: %+v from %+v", under, fe)
	}
	if e := Invalid("cursor", "is not a cursor of this query"); e.Fields[0].Code != ProblemInvalid {
		t.Errorf("Invalid gives code %q, want the catch-all", e.Fields[0].Code)
	}
	var v Validator
	v.AddField(FieldError{Field: "x", Problem: "from an older server"})
	if e := v.Err().(*Error); e.Fields[0].Code != ProblemInvalid {
		t.Errorf("a field problem without a code kept %q", e.Fields[0].Code)
	}
}
