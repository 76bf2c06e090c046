package events

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestAssessmentCommandValidation(t *testing.T) {
	good := DefaultScoringRules()
	with := func(f func(*ScoringRules)) ScoringRules { r := good; f(&r); return r }
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		cmd  Command
		bad  []string
	}{
		{"draft", DraftRuleset{Name: "2019年考核细则", Rules: good}, nil},
		{"draft without name and rollup", DraftRuleset{Rules: with(func(r *ScoringRules) { r.Rollup = "" })}, []string{"name", "rules.rollup"}},
		{"unknown rollup", DraftRuleset{Name: "n", Rules: with(func(r *ScoringRules) { r.Rollup = "max" })}, []string{"rules.rollup"}},
		{"three decimals", DraftRuleset{Name: "n", Rules: with(func(r *ScoringRules) { r.ItemClosed = 0.125 })}, []string{"rules.item_closed"}},
		{"two decimals, negative", DraftRuleset{Name: "n", Rules: with(func(r *ScoringRules) { r.ItemOverdue = -0.25 })}, nil},
		{"weight too large", DraftRuleset{Name: "n", Rules: with(func(r *ScoringRules) { r.Base = 10001 })}, []string{"rules.base"}},
		{"revise without reason", ReviseRuleset{RulesetID: "r1", Rules: good}, []string{"reason"}},
		{"publish", PublishRuleset{RulesetID: "r1", Note: "经工委会议通过"}, nil},
		{"publish without id", PublishRuleset{}, []string{"ruleset_id"}},
		{"assessment", PublishAssessment{Kind: PeriodMonth, Period: MustDate("2019-03-15"), RulesetID: "r1", RulesetVersion: 1, Position: 7, Digest: digest}, nil},
		{"assessment missing everything", PublishAssessment{Kind: "year"}, []string{"kind", "period", "ruleset_id", "ruleset_version", "position", "digest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fields []string
			for f := range fieldProblems(t, err) {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			want := slices.Clone(tt.bad)
			slices.Sort(want)
			if !slices.Equal(fields, want) {
				t.Fatalf("bad fields = %v, want %v", fields, want)
			}
		})
	}
}

func TestDecodeRulesetChineseRoundTripAndStrictRules(t *testing.T) {
	in := DraftRuleset{RulesetID: "r2019", Name: "城关街道2019年度月考核细则", Rules: ScoringRules{Base: 100, ItemClosed: 2.5, ItemOverdue: -1.5, Rollup: RollupAverage}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := DecodeCommand(in.CommandName(), b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cmd, Command(in)) {
		t.Fatalf("round trip %#v, want %#v", cmd, in)
	}
	// A misspelt weight is refused, not scored as zero.
	_, err = DecodeCommand("ruleset.draft", []byte(`{"name":"n","rules":{"rollup":"own","item_closd":2}}`))
	if _, ok := fieldProblems(t, err)["rules"]; !ok {
		t.Fatalf("misspelt weight: %v", err)
	}
}

func TestPeriodBounds(t *testing.T) {
	for _, tc := range []struct{ kind, day, start, end string }{
		{PeriodWeek, "2019-03-06", "2019-03-04", "2019-03-10"},
		{PeriodWeek, "2019-03-10", "2019-03-04", "2019-03-10"},
		{PeriodWeek, "2019-12-31", "2019-12-30", "2020-01-05"},
		{PeriodMonth, "2020-02-10", "2020-02-01", "2020-02-29"},
		{PeriodQuarter, "2019-12-31", "2019-10-01", "2019-12-31"},
		{PeriodQuarter, "2019-04-01", "2019-04-01", "2019-06-30"},
	} {
		s, e, ok := PeriodBounds(tc.kind, MustDate(tc.day))
		if !ok || s.String() != tc.start || e.String() != tc.end {
			t.Errorf("PeriodBounds(%s, %s) = %s..%s %v, want %s..%s", tc.kind, tc.day, s, e, ok, tc.start, tc.end)
		}
	}
	if _, _, ok := PeriodBounds("year", MustDate("2019-01-01")); ok {
		t.Error("an unknown kind has bounds")
	}
	if got := AssessmentStream(PeriodMonth, MustDate("2019-03-01")); got != "assessment-month-2019-03-01" {
		t.Errorf("AssessmentStream = %q", got)
	}
	if cat, id, ok := ParseStream(AssessmentStream(PeriodWeek, MustDate("2019-03-04"))); !ok || cat != CategoryAssessment || id != "week-2019-03-04" {
		t.Errorf("ParseStream = %q %q %v", cat, id, ok)
	}
}
