package events

import (
	"maps"
	"slices"
)

// Problem codes name what is wrong with one field, for machines: every
// FieldError carries one beside its English problem text, so that a client
// can word the problem in its own language, filling in the FieldError's
// Params (a limit, the values allowed, the field compared with). A code
// keeps its meaning once published; new codes may come, so a client that
// meets a code it does not know shows the problem text.
//
// ProblemInvalid is the catch-all of problems no other code describes
// (mostly about query parameters, files and cursors): only the text says
// what is wrong.
const (
	ProblemInvalid = "invalid"

	// The shape of a value (events validators, the gateway's decoders).

	ProblemRequired     = "required"      // missing or blank
	ProblemBadID        = "bad_id"        // not 1 to 64 characters of A-Z a-z 0-9 _ -
	ProblemBadUTF8      = "bad_utf8"      // not valid UTF-8 (or a lone surrogate)
	ProblemControlChar  = "control_char"  // holds a control character
	ProblemBidiControl  = "bidi_control"  // holds a bidirectional control (IsBidiControl)
	ProblemTooLong      = "too_long"      // more than Params["max"] characters
	ProblemTooLarge     = "too_large"     // a number above Params["max"]
	ProblemNotPositive  = "not_positive"  // a number that must be above 0
	ProblemOutOfRange   = "out_of_range"  // a number outside Params["min"]..Params["max"]
	ProblemNotADate     = "not_a_date"    // not a date YYYY-MM-DD, or no such day, or a year outside 1900..2200
	ProblemNotATime     = "not_a_time"    // not an RFC 3339 time
	ProblemNotOneOf     = "not_one_of"    // not one of Params["allowed"] (comma-separated)
	ProblemBeforeField  = "before_field"  // a date before the one in the field Params["other"]
	ProblemSameAsField  = "same_as_field" // equal to the field Params["other"], which it must differ from
	ProblemNotSHA256    = "not_sha256"    // not 64 lowercase hex digits
	ProblemDecimals     = "decimals"      // more than two decimals
	ProblemReserved     = "reserved"      // an id kept for the system
	ProblemUnknownField = "unknown_field" // not a field of this request
	ProblemWrongType    = "wrong_type"    // a JSON value of the wrong type; Params["expected"]: string, integer, ...
	ProblemBadJSON      = "bad_json"      // the body is not one well-formed JSON value (or nests too deep)
	ProblemDuplicate    = "duplicate"     // given twice in one request (a JSON key, an import entry or id)
	ProblemEmpty        = "empty"         // an import with nothing in it, an empty file
	ProblemTooMany      = "too_many"      // more entries than Params["max"]

	// Domain rules the command side checks against what is stored.

	ProblemUnknownUnit     = "unknown_unit"     // no such unit
	ProblemUnitRetired     = "unit_retired"     // the unit Params["unit"] is retired
	ProblemUnknownCycle    = "unknown_cycle"    // no such cycle
	ProblemCycleClosed     = "cycle_closed"     // the cycle Params["cycle"] is closed
	ProblemCycleOrder      = "cycle_order"      // the cycle Params["cycle"] does not start after Params["from"]
	ProblemExists          = "exists"           // the id Params["id"] is taken (a 409)
	ProblemWrongStatus     = "wrong_status"     // the item's status Params["status"] does not allow this
	ProblemNoProgress      = "no_progress"      // an item submitted with neither progress nor measures
	ProblemMeasuresOpen    = "measures_open"    // measures Params["measures"] are not completed
	ProblemUnknownMeasure  = "unknown_measure"  // the item has no measure Params["measure"]
	ProblemMeasureDone     = "measure_done"     // the measure Params["measure"] is completed already
	ProblemUnchanged       = "unchanged"        // the value is already so: nothing would change
	ProblemInPast          = "in_past"          // a date or time that must not be in the past
	ProblemInFuture        = "in_future"        // a date that must not be in the future
	ProblemTooEarly        = "too_early"        // a date before Params["date"]
	ProblemTooLate         = "too_late"         // a date after Params["date"]
	ProblemOutsideDates    = "outside_dates"    // a date outside Params["from"]..Params["to"]
	ProblemCommitmentEnded = "commitment_ended" // the commitment ended on Params["date"]
	ProblemUnderItself     = "under_itself"     // a unit moved under itself or its own subtree
	ProblemRoleHeld        = "role_held"        // the user holds the role Params["role"] there already
	ProblemRoleNotHeld     = "role_not_held"    // the user does not hold the role Params["role"] there
	ProblemUnknownToken    = "unknown_token"    // the user has no token Params["token"]
	ProblemTokenRevoked    = "token_revoked"    // the token Params["token"] is revoked already
	ProblemUnknownRuleset  = "unknown_ruleset"  // no rule set Params["ruleset"]
	ProblemUnknownVersion  = "unknown_version"  // no published version Params["version"] (latest: Params["latest"])
	ProblemPublished       = "published"        // the draft is published as version Params["version"] already
	ProblemPeriodOpen      = "period_open"      // the period has not ended; publish it from Params["date"]
	ProblemBeyondHead      = "beyond_head"      // a position beyond the store's last, Params["max"]
	ProblemBeforeVersion   = "before_version"   // a position before that of version Params["version"], Params["min"]
	ProblemStaleRevision   = "stale_revision"   // expected_revision is not the stream's revision (a 409)
)

// problemCodes is every code above, the one list the API document and
// the dashboard's dictionaries are checked against.
var problemCodes = []string{
	ProblemInvalid, ProblemRequired, ProblemBadID, ProblemBadUTF8, ProblemControlChar, ProblemBidiControl,
	ProblemTooLong, ProblemTooLarge, ProblemNotPositive, ProblemOutOfRange, ProblemNotADate, ProblemNotATime,
	ProblemNotOneOf, ProblemBeforeField, ProblemSameAsField, ProblemNotSHA256, ProblemDecimals, ProblemReserved,
	ProblemUnknownField, ProblemWrongType, ProblemBadJSON, ProblemDuplicate, ProblemEmpty, ProblemTooMany,
	ProblemUnknownUnit, ProblemUnitRetired, ProblemUnknownCycle, ProblemCycleClosed, ProblemCycleOrder,
	ProblemExists, ProblemWrongStatus, ProblemNoProgress, ProblemMeasuresOpen, ProblemUnknownMeasure,
	ProblemMeasureDone, ProblemUnchanged, ProblemInPast, ProblemInFuture, ProblemTooEarly, ProblemTooLate,
	ProblemOutsideDates, ProblemCommitmentEnded, ProblemUnderItself, ProblemRoleHeld, ProblemRoleNotHeld,
	ProblemUnknownToken, ProblemTokenRevoked, ProblemUnknownRuleset, ProblemUnknownVersion, ProblemPublished,
	ProblemPeriodOpen, ProblemBeyondHead, ProblemBeforeVersion, ProblemStaleRevision,
}

// ProblemCodes returns every problem code, sorted.
func ProblemCodes() []string {
	return slices.Sorted(slices.Values(problemCodes))
}

// IsProblemCode reports whether code is one of ProblemCodes.
func IsProblemCode(code string) bool { return slices.Contains(problemCodes, code) }

// Fault returns the FieldError naming field, with a problem code, the
// English problem text and the parameters the text mentions, given as
// name, value pairs ("max", "200"). A lone trailing name is dropped.
func Fault(field, code, problem string, params ...string) FieldError {
	fe := FieldError{Field: field, Code: code, Problem: problem}
	if len(params) >= 2 {
		fe.Params = make(map[string]string, len(params)/2)
		for i := 0; i+1 < len(params); i += 2 {
			fe.Params[params[i]] = params[i+1]
		}
	}
	return fe
}

// InvalidField returns a CodeInvalid error listing the given field
// problems.
func InvalidField(fes ...FieldError) *Error {
	return &Error{Code: CodeInvalid, Message: "invalid input", Fields: fes}
}

// Under returns fe named as a part of prefix ("p1" and "title" give
// "p1.title"), keeping its code and parameters: an import names each
// entry's problems so.
func (fe FieldError) Under(prefix string) FieldError {
	fe.Field = prefix + "." + fe.Field
	fe.Params = maps.Clone(fe.Params)
	return fe
}
