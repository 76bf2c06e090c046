package services

import (
	"context"
	"strings"
	"testing"

	"rectify/events"
)

func TestRulesetVersions(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.mustExec(t, events.SystemActor, events.CreateUser{UserID: "orgadmin", Name: "吴十"})
	f.mustExec(t, events.SystemActor, events.GrantRole{UserID: "orgadmin", Role: events.RoleAdmin})
	rules := events.DefaultScoringRules()
	draft := events.DraftRuleset{RulesetID: "r1", Name: "2019年月度考核细则", Rules: rules}

	// Rule sets are the whole organisation's: an administrator of one
	// community may not touch them.
	_, err := f.exec("unitadmin", draft)
	wantError(t, err, events.CodeForbidden, "")
	f.mustExec(t, "orgadmin", draft)
	_, err = f.exec("orgadmin", draft)
	wantError(t, err, events.CodeConflict, "ruleset_id")

	v1 := f.mustExec(t, "orgadmin", events.PublishRuleset{RulesetID: "r1", Note: "工委会议通过"})
	// Publishing an unchanged draft again would make two versions of the
	// same rules.
	_, err = f.exec("orgadmin", events.PublishRuleset{RulesetID: "r1"})
	wantError(t, err, events.CodeInvalid, "ruleset_id")
	_, err = f.exec("orgadmin", events.ReviseRuleset{RulesetID: "r1", Rules: rules, Reason: "无变化"})
	wantError(t, err, events.CodeInvalid, "rules")

	rules.ItemOverdue = -1.5
	f.mustExec(t, "orgadmin", events.ReviseRuleset{RulesetID: "r1", Rules: rules, Reason: "逾期扣分过重"})
	// A revision pinned to a revision the stream has left is a conflict.
	_, err = f.exec("orgadmin", events.ReviseRuleset{RulesetID: "r1", Name: "新名称", Rules: rules, Reason: "改名", ExpectedRevision: &v1.Revision})
	wantError(t, err, events.CodeConflict, "expected_revision")
	f.mustExec(t, "orgadmin", events.PublishRuleset{RulesetID: "r1"})

	var published []events.RulesetPublishedData
	for _, e := range f.read(t, events.RulesetStream("r1")) {
		if p, err := events.Decode(e); err == nil {
			if d, ok := p.(events.RulesetPublishedData); ok {
				published = append(published, d)
			}
		}
	}
	if len(published) != 2 || published[0].Version != 1 || published[1].Version != 2 ||
		published[0].Rules != events.DefaultScoringRules() || published[1].Rules != rules || published[1].Name != "2019年月度考核细则" {
		t.Fatalf("published versions %+v", published)
	}
	_, err = f.exec("orgadmin", events.ReviseRuleset{RulesetID: "nope", Rules: rules, Reason: "x"})
	wantError(t, err, events.CodeNotFound, "")
}

func TestPublishAssessmentRules(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.mustExec(t, events.SystemActor, events.DraftRuleset{RulesetID: "r1", Name: "考核细则", Rules: events.DefaultScoringRules()})
	f.mustExec(t, events.SystemActor, events.PublishRuleset{RulesetID: "r1"})
	digest := strings.Repeat("ab", 32)
	head := f.head(t)
	// The fixture's today is 1 September 2019.
	pub := func(kind, period string, version int, pos uint64, digest string) events.PublishAssessment {
		return events.PublishAssessment{Kind: kind, Period: d(period), RulesetID: "r1", RulesetVersion: version, Position: pos, Digest: digest}
	}
	for _, tc := range []struct {
		name  string
		cmd   events.PublishAssessment
		field string
	}{
		{"a month not over", pub(events.PeriodMonth, "2019-09-01", 1, head, digest), "period"},
		{"a version never published", pub(events.PeriodMonth, "2019-08-01", 2, head, digest), "ruleset_version"},
		{"a position the store does not have", pub(events.PeriodMonth, "2019-08-01", 1, head+100, digest), "position"},
	} {
		_, err := f.exec(events.SystemActor, tc.cmd)
		wantError(t, err, events.CodeInvalid, tc.field)
	}
	_, err := f.exec("unitadmin", pub(events.PeriodMonth, "2019-08-01", 1, head, digest))
	wantError(t, err, events.CodeForbidden, "")

	// Any day of the month names it; the first publication is version 1.
	r := f.mustExec(t, events.SystemActor, pub(events.PeriodMonth, "2019-08-20", 1, head, digest))
	if r.Stream != "assessment-month-2019-08-01" || r.ID != "month-2019-08-01" || r.Revision != 0 {
		t.Fatalf("published %+v", r)
	}
	// The same numbers again correct nothing; an older position cannot
	// correct a newer one; a new digest is version 2.
	_, err = f.exec(events.SystemActor, pub(events.PeriodMonth, "2019-08-01", 1, head, digest))
	wantError(t, err, events.CodeInvalid, "digest")
	_, err = f.exec(events.SystemActor, pub(events.PeriodMonth, "2019-08-01", 1, head-1, strings.Repeat("cd", 32)))
	wantError(t, err, events.CodeInvalid, "position")
	r = f.mustExec(t, events.SystemActor, pub(events.PeriodMonth, "2019-08-01", 1, f.head(t), strings.Repeat("cd", 32)))
	evs := f.read(t, r.Stream)
	p, err := events.Decode(evs[len(evs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(events.AssessmentPublishedData); got.Version != 2 || got.PeriodEnd != d("2019-08-31") || got.Digest != strings.Repeat("cd", 32) {
		t.Fatalf("correction %+v", got)
	}
	// Weeks and quarters have their own streams.
	if r := f.mustExec(t, events.SystemActor, pub(events.PeriodWeek, "2019-08-21", 1, head, digest)); r.ID != "week-2019-08-19" {
		t.Fatalf("week %+v", r)
	}
	if r := f.mustExec(t, events.SystemActor, pub(events.PeriodQuarter, "2019-06-30", 1, head, digest)); r.ID != "quarter-2019-04-01" {
		t.Fatalf("quarter %+v", r)
	}
}

// A publication records the chain heads of the store at its position: the
// digest of every stream's last event up to there, not after.
func TestPublicationRecordsChainHeads(t *testing.T) {
	f := MustOpenFixture(t, nil)
	f.mustExec(t, events.SystemActor, events.DraftRuleset{RulesetID: "r1", Name: "考核细则", Rules: events.DefaultScoringRules()})
	f.mustExec(t, events.SystemActor, events.PublishRuleset{RulesetID: "r1"})
	at := f.head(t)
	// Facts after the position the result was computed from: they change
	// the store's heads, not the ones the publication records.
	f.raiseItem(t, "later-item")
	r := f.mustExec(t, events.SystemActor, events.PublishAssessment{Kind: events.PeriodMonth, Period: d("2019-08-01"),
		RulesetID: "r1", RulesetVersion: 1, Position: at, Digest: strings.Repeat("ab", 32)})

	evs := f.read(t, r.Stream)
	p, err := events.Decode(evs[len(evs)-1])
	if err != nil {
		t.Fatal(err)
	}
	got := p.(events.AssessmentPublishedData)

	all, err := f.store.ReadAll(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	heads := make(events.ChainHeads)
	for _, e := range all {
		if e.Position <= at {
			heads.Add(e)
		}
	}
	want, streams := heads.Digest()
	if got.ChainDigest != want || got.ChainStreams != streams {
		t.Fatalf("recorded chain heads %s over %d streams, want %s over %d", got.ChainDigest, got.ChainStreams, want, streams)
	}
	if _, ok := heads[events.ItemStream("later-item")]; ok || streams < 10 {
		t.Fatalf("heads at %d hold %d streams, the later item among them: %v", at, streams, ok)
	}
}
