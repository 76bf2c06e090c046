package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"rectify/events"
	"rectify/projections/query"
)

// Assessments over HTTP: rule sets are plain commands and queries (see
// routeTable); publishing a result takes one more step, here. The
// command records the position and digest of the result it publishes,
// and only the assessments view computes results, so the gateway asks the
// view first, exactly as the caller would see the result, and sends what
// the view answered.

const tagAssessments = "assessments"

const publishCommand = "assessment.publish"

var bindRuleset = map[string]string{"id": "ruleset_id"}

// publishAssessmentBody is the body of POST /api/v1/assessments/publications.
// Kind and Period choose the result; the rule set defaults as in the
// monthly query (the latest version of ruleset_id, or the version
// published most recently). Position and Digest, both optional, pin what
// the caller reviewed: the result is computed as of Position (default: as
// the view stands), and when Digest is given and the result's differs,
// nothing is published (409): the numbers changed since they were looked
// at.
type publishAssessmentBody struct {
	Kind             string      `json:"kind"`
	Period           events.Date `json:"period"`
	RulesetID        string      `json:"ruleset_id,omitempty"`
	RulesetVersion   int         `json:"ruleset_version,omitempty"`
	Position         uint64      `json:"position,omitempty"`
	Digest           string      `json:"digest,omitempty"`
	Note             string      `json:"note,omitempty"`
	ExpectedRevision *uint64     `json:"expected_revision,omitempty"`
}

// publishAssessmentReply is the answer to a publication: the command's
// result, and what was published. Version is the publication's version
// of the period: 1 as first reported, more for a correction.
type publishAssessmentReply struct {
	ID       string `json:"id"`
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	// Position is where the publication was recorded (pass it as
	// min_position to read it back).
	Position       uint64      `json:"position"`
	Events         int         `json:"events"`
	Kind           string      `json:"kind"`
	PeriodStart    events.Date `json:"period_start"`
	PeriodEnd      events.Date `json:"period_end"`
	Version        int         `json:"version"`
	RulesetID      string      `json:"ruleset_id"`
	RulesetVersion int         `json:"ruleset_version"`
	// ComputedFrom and Digest are the store position the result was
	// computed from and its digest, as recorded.
	ComputedFrom uint64 `json:"computed_from"`
	Digest       string `json:"digest"`
}

// publishAssessment serves POST /api/v1/assessments/publications.
func (s *Server) publishAssessment(c *gin.Context) {
	if err := precheck(principalOf(c), publishCommand, ""); err != nil {
		s.writeError(c, err)
		return
	}
	b, err := readJSONBody(c, s.cfg.MaxBodyBytes, "the publication")
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body publishAssessmentBody
	if err := decodeStrict(b, &body); err != nil {
		s.writeError(c, err)
		return
	}
	var v events.Validator
	op, ok := query.AssessmentOps[body.Kind]
	v.Check(ok, "kind", "must be one of week, month, quarter")
	v.Check(!body.Period.IsZero(), "period", "is required: any day of the period")
	v.Check(body.Digest == "" || events.ValidSHA256(body.Digest), "digest", "must be 64 lowercase hex digits")
	params := query.AssessmentParams{Period: body.Period, RulesetID: body.RulesetID, Version: body.RulesetVersion}
	if err := params.Validate(); err != nil {
		var e *events.Error
		if errors.As(err, &e) {
			for _, f := range e.Fields {
				if f.Field == "version" {
					f.Field = "ruleset_version" // the query's name for it
				}
				v.Add(f.Field, f.Problem)
			}
		}
	}
	if err := v.Err(); err != nil {
		s.writeError(c, err)
		return
	}
	// The whole organisation's result, as of the position asked for: the
	// digest is the whole result's whatever the caller's scope.
	req := query.Request{Scope: query.Scope{All: true}, Params: mustMarshal(params)}
	if body.Position > 0 {
		req.MinPosition, req.AsOf.Position = body.Position, body.Position
	}
	resp, err := s.ask(c.Request.Context(), "assessments", op, req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var res query.AssessmentResult
	if err := json.Unmarshal(resp.Data, &res); err != nil {
		s.writeError(c, events.Wrap(events.CodeInternal, err, "read the assessment"))
		return
	}
	if body.Digest != "" && body.Digest != res.Digest {
		s.writeError(c, &events.Error{Code: events.CodeConflict,
			Message: "the result at position " + strconv.FormatUint(res.Position, 10) + " is not the one reviewed; look at it again",
			Fields:  []events.FieldError{events.Fault("digest", events.ProblemInvalid, "is not the digest of the result ("+res.Digest+")")}})
		return
	}
	cmd := events.PublishAssessment{Kind: body.Kind, Period: body.Period, RulesetID: res.Ruleset.ID, RulesetVersion: res.Ruleset.Version,
		Position: res.Position, Digest: res.Digest, Note: body.Note, ExpectedRevision: body.ExpectedRevision}
	data := mustMarshal(cmd)
	if _, err := events.DecodeCommand(publishCommand, data); err != nil {
		s.writeError(c, err)
		return
	}
	rep, ok := s.send(c, publishCommand, data)
	if !ok {
		return
	}
	c.Header(headerPosition, strconv.FormatUint(rep.Position, 10))
	c.JSON(http.StatusCreated, publishAssessmentReply{
		ID: rep.ID, Stream: rep.Stream, Revision: rep.Revision, Position: rep.Position, Events: rep.Events,
		Kind: res.Kind, PeriodStart: res.PeriodStart, PeriodEnd: res.PeriodEnd, Version: int(rep.Revision) + 1,
		RulesetID: res.Ruleset.ID, RulesetVersion: res.Ruleset.Version, ComputedFrom: res.Position, Digest: res.Digest,
	})
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
