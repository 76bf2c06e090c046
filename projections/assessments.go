package projections

// The assessments view (周总结 / 月考核 / 季排名): scoring rule sets with
// their drafts and versions, published results, and compact fact tables
// from which a week's, month's or quarter's result is computed as of any
// store position. The rules of scoring are documented in package query
// (query/assessments.go); this file implements them.
//
// Every fact row carries the position and time of its event, and rows are
// only ever added, so "as of position P" is a WHERE position <= P over the
// same tables: a result is a pure function of the facts up to P and the
// rules, and computing it twice gives the same digest.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// Assessments is the assessments projection.
type Assessments struct{}

var _ Queryable = Assessments{}

// Name implements Projection.
func (Assessments) Name() string { return "assessments" }

var assessmentsSchema = []string{
	// The unit tree's history: each registration, rename, move and
	// retirement, so that the tree can be folded as it stood.
	`CREATE TABLE asm_units (
		position  INTEGER NOT NULL,
		unit_id   TEXT NOT NULL,
		nanos     INTEGER NOT NULL,
		day       TEXT NOT NULL,
		fact      TEXT NOT NULL,
		name      TEXT NOT NULL DEFAULT '',
		kind      TEXT NOT NULL DEFAULT '',
		parent_id TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (position, unit_id)
	) WITHOUT ROWID`,
	// Each item as it stands: what its next fact starts from, and the
	// position of its last fact.
	`CREATE TABLE asm_items (
		item_id  TEXT PRIMARY KEY,
		unit_id  TEXT NOT NULL,
		deadline TEXT NOT NULL,
		open     INTEGER NOT NULL,
		last_pos INTEGER NOT NULL
	) WITHOUT ROWID`,
	// The item facts scoring needs (raised, assigned, deadline, closed,
	// reopened, withdrawn, progress), each with the item's state right
	// after it: its unit, its deadline and whether it was unfinished; and
	// where, when and on which day the item's next fact came (the largest
	// values while none has). A fact's state depends only on the facts
	// before it, so it holds as of any position at or after its own; and
	// the state of every item at the end of a period, as of any position,
	// is the facts up to then whose next fact came after: a range of
	// asm_item_facts_alive, not a fold of every item's history.
	`CREATE TABLE asm_item_facts (
		item_id    TEXT NOT NULL,
		position   INTEGER NOT NULL,
		nanos      INTEGER NOT NULL,
		day        TEXT NOT NULL,
		fact       TEXT NOT NULL,
		unit_id    TEXT NOT NULL,
		deadline   TEXT NOT NULL,
		open       INTEGER NOT NULL,
		next_pos   INTEGER NOT NULL DEFAULT 9223372036854775807,
		next_nanos INTEGER NOT NULL DEFAULT 9223372036854775807,
		next_day   TEXT NOT NULL DEFAULT '9999-12-31',
		PRIMARY KEY (item_id, position)
	) WITHOUT ROWID`,
	`CREATE INDEX asm_item_facts_day ON asm_item_facts (day)`,
	`CREATE INDEX asm_item_facts_alive ON asm_item_facts (open, next_day)`,
	`CREATE INDEX asm_item_facts_next ON asm_item_facts (open, next_pos)`,
	// Commitment definitions: made, revised (the values after), ended.
	`CREATE TABLE asm_cmt_facts (
		commitment_id TEXT NOT NULL,
		position      INTEGER NOT NULL,
		nanos         INTEGER NOT NULL,
		day           TEXT NOT NULL,
		fact          TEXT NOT NULL,
		unit_id       TEXT NOT NULL DEFAULT '',
		target        INTEGER NOT NULL DEFAULT 0,
		period        TEXT NOT NULL DEFAULT '',
		start         TEXT NOT NULL DEFAULT '',
		end_on        TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (commitment_id, position)
	) WITHOUT ROWID`,
	// Activities, the first logging of each kept (as the commitments view
	// counts them), keyed by day for range scans.
	`CREATE TABLE asm_activities (
		commitment_id TEXT NOT NULL,
		occurred_on   TEXT NOT NULL,
		activity_id   TEXT NOT NULL,
		position      INTEGER NOT NULL,
		nanos         INTEGER NOT NULL,
		count         INTEGER NOT NULL,
		PRIMARY KEY (commitment_id, occurred_on, activity_id)
	) WITHOUT ROWID`,
	// Every state of every rule set's draft.
	`CREATE TABLE asm_drafts (
		ruleset_id TEXT NOT NULL,
		position   INTEGER NOT NULL,
		nanos      INTEGER NOT NULL,
		revision   INTEGER NOT NULL,
		name       TEXT NOT NULL,
		rules      TEXT NOT NULL,
		PRIMARY KEY (ruleset_id, position)
	) WITHOUT ROWID`,
	`CREATE TABLE asm_versions (
		ruleset_id TEXT NOT NULL,
		version    INTEGER NOT NULL,
		position   INTEGER NOT NULL,
		nanos      INTEGER NOT NULL,
		revision   INTEGER NOT NULL,
		actor      TEXT NOT NULL,
		name       TEXT NOT NULL,
		rules      TEXT NOT NULL,
		note       TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (ruleset_id, version)
	) WITHOUT ROWID`,
	// Published results, each kept whole as computed when it was published.
	`CREATE TABLE asm_publications (
		assessment_id   TEXT NOT NULL,
		version         INTEGER NOT NULL,
		kind            TEXT NOT NULL,
		period_start    TEXT NOT NULL,
		period_end      TEXT NOT NULL,
		ruleset_id      TEXT NOT NULL,
		ruleset_version INTEGER NOT NULL,
		computed_from   INTEGER NOT NULL,
		digest          TEXT NOT NULL,
		reproduced      INTEGER NOT NULL,
		position        INTEGER NOT NULL,
		nanos           INTEGER NOT NULL,
		actor           TEXT NOT NULL,
		note            TEXT NOT NULL DEFAULT '',
		result          TEXT NOT NULL,
		PRIMARY KEY (assessment_id, version)
	) WITHOUT ROWID`,
	`CREATE INDEX asm_publications_period ON asm_publications (period_start, assessment_id, version)`,
}

// Migrate implements Projection.
func (Assessments) Migrate(ctx context.Context, tx *sql.Tx) error {
	if err := unitsMigrate(ctx, tx); err != nil {
		return err
	}
	for _, s := range assessmentsSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("assessments schema: %w", err)
		}
	}
	return nil
}

// DigestQueries implements Projection.
func (Assessments) DigestQueries() []string {
	return append(slices.Clone(unitsDigestQueries),
		`SELECT * FROM asm_units ORDER BY position, unit_id`,
		`SELECT * FROM asm_items ORDER BY item_id`,
		`SELECT * FROM asm_item_facts ORDER BY item_id, position`,
		`SELECT * FROM asm_cmt_facts ORDER BY commitment_id, position`,
		`SELECT * FROM asm_activities ORDER BY commitment_id, occurred_on, activity_id`,
		`SELECT * FROM asm_drafts ORDER BY ruleset_id, position`,
		`SELECT * FROM asm_versions ORDER BY ruleset_id, version`,
		`SELECT * FROM asm_publications ORDER BY assessment_id, version`,
	)
}

// Facts of asm_item_facts, asm_cmt_facts and asm_units.
const (
	factRaised     = "raised"
	factAssigned   = "assigned"
	factDeadline   = "deadline"
	factClosed     = "closed"
	factReopened   = "reopened"
	factWithdrawn  = "withdrawn"
	factProgress   = "progress"
	factMade       = "made"
	factRevised    = "revised"
	factEnded      = "ended"
	factRegistered = "registered"
	factRenamed    = "renamed"
	factMoved      = "moved"
	factRetired    = "retired"
)

// Apply implements Projection.
func (Assessments) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	switch e.Category() {
	case events.CategoryUnit, events.CategoryItem, events.CategoryCommitment, events.CategoryRuleset, events.CategoryAssessment:
	default:
		return nil
	}
	p, err := tx.Decode(e)
	if err != nil {
		// An event this build cannot read is skipped, not retried forever.
		return nil
	}
	if err := asmApply(ctx, tx, e, p); err != nil {
		return fmt.Errorf("assessments: %w", err)
	}
	return nil
}

func asmApply(ctx context.Context, tx *Tx, e events.Event, p events.Payload) error {
	if ok, err := unitsApply(ctx, tx, p); ok || err != nil {
		if err != nil {
			return err
		}
		return asmUnitFact(ctx, tx, e, p)
	}
	pos, nanos, day := int64(tx.Position()), e.Time.UnixNano(), eventDay(e).String()
	item := func(id, fact string, change func(*asmItem)) error {
		return asmItemFact(ctx, tx, e.Stream, asmFactAt{pos: pos, nanos: nanos, day: day}, id, fact, change)
	}
	switch d := p.(type) {
	case events.ItemRaisedData:
		return item(d.ItemID, factRaised, func(it *asmItem) {
			*it = asmItem{exists: true, unit: d.UnitID, deadline: d.Deadline.String(), open: true}
		})
	case events.ItemAssignedData:
		if d.UnitID == "" {
			return nil
		}
		return item(d.ItemID, factAssigned, func(it *asmItem) { it.unit = d.UnitID })
	case events.ItemDeadlineChangedData:
		return item(d.ItemID, factDeadline, func(it *asmItem) { it.deadline = d.NewDeadline.String() })
	case events.ItemVerifiedData:
		return item(d.ItemID, factClosed, func(it *asmItem) { it.open = false })
	case events.ItemReopenedData:
		return item(d.ItemID, factReopened, func(it *asmItem) { it.open = true })
	case events.ItemWithdrawnData:
		return item(d.ItemID, factWithdrawn, func(it *asmItem) { it.open = false })
	case events.ItemProgressReportedData:
		return item(d.ItemID, factProgress, func(*asmItem) {})

	case events.CommitmentMadeData:
		tx.ChangedIn(e.Stream, d.UnitID)
		return asmCommitmentFact(ctx, tx, d.CommitmentID, pos, nanos, day, factMade, d.UnitID, d.Target, d.Period, d.Start.String(), d.End.String())
	case events.CommitmentRevisedData:
		if err := asmCommitmentFact(ctx, tx, d.CommitmentID, pos, nanos, day, factRevised, "", d.NewTarget, d.NewPeriod, "", d.NewEnd.String()); err != nil {
			return err
		}
		return asmCommitmentChanged(ctx, tx, e.Stream, d.CommitmentID)
	case events.CommitmentEndedData:
		on := d.EndedOn
		if on.IsZero() {
			on = eventDay(e)
		}
		if err := asmCommitmentFact(ctx, tx, d.CommitmentID, pos, nanos, day, factEnded, "", 0, "", "", on.String()); err != nil {
			return err
		}
		return asmCommitmentChanged(ctx, tx, e.Stream, d.CommitmentID)
	case events.CommitmentActivityLoggedData:
		id := d.ActivityID
		if id == "" {
			id = "p" + strconv.FormatInt(pos, 10)
		}
		if _, err := tx.Exec(ctx, `INSERT OR IGNORE INTO asm_activities (commitment_id, occurred_on, activity_id, position, nanos, count)
			VALUES (?, ?, ?, ?, ?, ?)`, d.CommitmentID, d.OccurredOn.String(), id, pos, nanos, d.Count); err != nil {
			return err
		}
		return asmCommitmentChanged(ctx, tx, e.Stream, d.CommitmentID)

	case events.RulesetDraftedData:
		tx.Changed(e.Stream)
		return asmDraft(ctx, tx, d.RulesetID, pos, nanos, e.Revision, d.Name, d.Rules)
	case events.RulesetRevisedData:
		tx.Changed(e.Stream)
		return asmDraft(ctx, tx, d.RulesetID, pos, nanos, e.Revision, d.NewName, d.NewRules)
	case events.RulesetPublishedData:
		tx.Changed(e.Stream)
		_, err := tx.Exec(ctx, `INSERT OR REPLACE INTO asm_versions (ruleset_id, version, position, nanos, revision, actor, name, rules, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.RulesetID, d.Version, pos, nanos, int64(e.Revision), e.Actor, d.Name, rulesJSON(d.Rules), d.Note)
		return err
	case events.AssessmentPublishedData:
		tx.Changed(e.Stream)
		return asmPublish(ctx, tx, e, d)
	}
	return nil
}

func asmUnitFact(ctx context.Context, tx *Tx, e events.Event, p events.Payload) error {
	var unit, fact, name, kind, parent string
	switch d := p.(type) {
	case events.UnitRegisteredData:
		unit, fact, name, kind, parent = d.UnitID, factRegistered, d.Name, d.Kind, d.ParentID
	case events.UnitRenamedData:
		unit, fact, name = d.UnitID, factRenamed, d.NewName
	case events.UnitMovedData:
		unit, fact, parent = d.UnitID, factMoved, d.NewParentID
	case events.UnitRetiredData:
		unit, fact = d.UnitID, factRetired
	default:
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT OR IGNORE INTO asm_units (position, unit_id, nanos, day, fact, name, kind, parent_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, int64(tx.Position()), unit, e.Time.UnixNano(), eventDay(e).String(), fact, name, kind, parent)
	return err
}

func asmCommitmentFact(ctx context.Context, tx *Tx, id string, pos, nanos int64, day, fact, unit string, target int, period, start, end string) error {
	_, err := tx.Exec(ctx, `INSERT OR IGNORE INTO asm_cmt_facts (commitment_id, position, nanos, day, fact, unit_id, target, period, start, end_on)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, pos, nanos, day, fact, unit, target, period, start, end)
	return err
}

func asmDraft(ctx context.Context, tx *Tx, id string, pos, nanos int64, rev uint64, name string, rules events.ScoringRules) error {
	_, err := tx.Exec(ctx, `INSERT OR IGNORE INTO asm_drafts (ruleset_id, position, nanos, revision, name, rules) VALUES (?, ?, ?, ?, ?, ?)`,
		id, pos, nanos, int64(rev), name, rulesJSON(rules))
	return err
}

// asmItem is an item's state as the assessments view keeps it.
type asmItem struct {
	exists   bool
	unit     string
	deadline string
	open     bool
}

// asmFactAt is where and when a fact happened.
type asmFactAt struct {
	pos, nanos int64
	day        string
}

// asmItemFact records a fact of item id with the item's state after it
// (change turns the state before into it), and keeps that state for the
// next fact. A fact of an item never raised is dropped, as a fold would
// drop it.
func asmItemFact(ctx context.Context, tx *Tx, key string, at asmFactAt, id, fact string, change func(*asmItem)) error {
	if ab := asmBulkOf(tx); ab != nil {
		return ab.itemFact(ctx, tx, at, id, fact, change)
	}
	var it asmItem
	var last int64
	err := tx.QueryRow(ctx, `SELECT unit_id, deadline, open, last_pos FROM asm_items WHERE item_id = ?`, id).Scan(&it.unit, &it.deadline, &it.open, &last)
	switch {
	case err == nil:
		it.exists = true
	case err != sql.ErrNoRows:
		return err
	}
	was := it
	change(&it)
	if !it.exists {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO asm_items (item_id, unit_id, deadline, open, last_pos) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (item_id) DO UPDATE SET unit_id = excluded.unit_id, deadline = excluded.deadline, open = excluded.open, last_pos = excluded.last_pos`,
		id, it.unit, it.deadline, it.open, at.pos); err != nil {
		return err
	}
	if was.exists {
		if _, err := tx.Exec(ctx, `UPDATE asm_item_facts SET next_pos = ?, next_nanos = ?, next_day = ? WHERE item_id = ? AND position = ?`,
			at.pos, at.nanos, at.day, id, last); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT OR IGNORE INTO asm_item_facts (item_id, position, nanos, day, fact, unit_id, deadline, open)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, at.pos, at.nanos, at.day, fact, it.unit, it.deadline, it.open); err != nil {
		return err
	}
	tx.ChangedIn(key, it.unit)
	if was.exists && was.unit != it.unit {
		tx.ChangedIn(key, was.unit)
	}
	return nil
}

func asmCommitmentChanged(ctx context.Context, tx *Tx, key, id string) error {
	if !tx.Notifying() {
		return nil
	}
	var unit string
	err := tx.QueryRow(ctx, `SELECT unit_id FROM asm_cmt_facts WHERE commitment_id = ? AND fact = 'made' ORDER BY position LIMIT 1`, id).Scan(&unit)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	tx.ChangedIn(key, unit)
	return nil
}

// rulesJSON is the stored form of rules; json.Marshal of a struct is
// deterministic, so the digest of the view is too.
func rulesJSON(r events.ScoringRules) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// asmPublish computes the published result again from the position and
// rule set version the event names, and keeps it with whether it gave the
// recorded digest. The facts it needs all lie before the publication
// (the command side refuses a position beyond the store's head), and the
// bound is kept below the publication's own position so that a rebuild,
// which applies the publication at the same point, sees the same facts.
func asmPublish(ctx context.Context, tx *Tx, e events.Event, d events.AssessmentPublishedData) error {
	if ab := asmBulkOf(tx); ab != nil {
		if err := ab.publishing(ctx, tx); err != nil {
			return err
		}
	}
	pos := min(int64(d.Position), int64(tx.Position())-1)
	b := asmBound{pos: pos, nanos: math.MaxInt64}
	var result []byte
	reproduced := false
	ref, found, err := asmVersion(ctx, tx.Tx, b, d.RulesetID, d.RulesetVersion)
	if err != nil {
		return err
	}
	if found {
		res, err := computeAssessment(ctx, tx.Tx, asmInput{kind: d.Kind, day: d.PeriodStart, today: d.PeriodEnd.AddDays(1), bound: b, ruleset: ref})
		if err != nil {
			return err
		}
		res.Position = d.Position
		reproduced = res.Digest == d.Digest
		if result, err = json.Marshal(res); err != nil {
			return err
		}
	} else {
		// A version the view does not know (it cannot happen through the
		// command side): kept, marked as not reproduced, without rows.
		result, _ = json.Marshal(query.AssessmentResult{Kind: d.Kind, PeriodStart: d.PeriodStart, PeriodEnd: d.PeriodEnd,
			Ruleset: query.RulesetRef{ID: d.RulesetID, Version: d.RulesetVersion}, Position: d.Position, Units: []query.UnitAssessment{}})
	}
	_, err = tx.Exec(ctx, `INSERT OR REPLACE INTO asm_publications (assessment_id, version, kind, period_start, period_end,
			ruleset_id, ruleset_version, computed_from, digest, reproduced, position, nanos, actor, note, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.AssessmentID, d.Version, d.Kind, d.PeriodStart.String(), d.PeriodEnd.String(), d.RulesetID, d.RulesetVersion,
		int64(d.Position), d.Digest, reproduced, int64(tx.Position()), e.Time.UnixNano(), e.Actor, d.Note, string(result))
	return err
}

// ---- computing a result ----

// asmReader is what computing a result reads through: the view's read
// pool for queries, the apply transaction for publications.
type asmReader interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// asmBound is the as-of point of a computation: facts at or before
// position pos and recorded at or before nanos.
type asmBound struct{ pos, nanos int64 }

// asmInput is everything a result is a function of, besides the facts.
type asmInput struct {
	kind string
	day  events.Date // any day of the period
	// today is the first day not counted when the period is still running;
	// a period that ended before today is counted whole.
	today   events.Date
	bound   asmBound
	ruleset query.RulesetRef
}

// asmUnitLine is one unit's tally while computing.
type asmUnitLine struct {
	node   unitNode
	counts query.AssessmentCounts
	own    int64 // hundredths of a point
	score  int64
	rank   int
}

// computeAssessment computes the result of in.kind's period holding in.day
// with its movement against the period before, and its digest.
func computeAssessment(ctx context.Context, r asmReader, in asmInput) (query.AssessmentResult, error) {
	start, end, ok := events.PeriodBounds(in.kind, in.day)
	if !ok {
		return query.AssessmentResult{}, events.Invalid("kind", "must be one of week, month, quarter")
	}
	prevStart, _, _ := events.PeriodBounds(in.kind, start.AddDays(-1))
	cur, through, complete, err := asmScore(ctx, r, in, start, end)
	if err != nil {
		return query.AssessmentResult{}, err
	}
	prev, _, _, err := asmScore(ctx, r, in, prevStart, start.AddDays(-1))
	if err != nil {
		return query.AssessmentResult{}, err
	}
	prevRank := make(map[string]int, len(prev))
	for _, l := range prev {
		prevRank[l.node.ID] = l.rank
	}
	res := query.AssessmentResult{
		Kind: in.kind, PeriodStart: start, PeriodEnd: end, Through: through, Complete: complete, Previous: prevStart,
		Ruleset: in.ruleset, Units: make([]query.UnitAssessment, 0, len(cur)),
	}
	rules := in.ruleset.Rules
	for _, l := range cur {
		c := l.counts
		u := query.UnitAssessment{
			UnitID: l.node.ID, UnitName: l.node.Name, ParentID: l.node.ParentID, Kind: l.node.Kind, Depth: l.node.Depth,
			Counts: c,
			Breakdown: query.ScoreBreakdown{
				Base:         points(cents(rules.Base)),
				ItemClosed:   points(int64(c.ItemsClosed) * cents(rules.ItemClosed)),
				ItemOnTime:   points(int64(c.ItemsOnTime) * cents(rules.ItemOnTime)),
				ItemOverdue:  points(int64(c.ItemsOverdue) * cents(rules.ItemOverdue)),
				ItemReopened: points(int64(c.ItemsReopened) * cents(rules.ItemReopened)),
				PeriodMet:    points(int64(c.PeriodsMet) * cents(rules.PeriodMet)),
				PeriodMissed: points(int64(c.PeriodsMissed) * cents(rules.PeriodMissed)),
			},
			Own: points(l.own), Score: points(l.score), Rank: l.rank,
		}
		if pr, ok := prevRank[l.node.ID]; ok {
			mv := pr - l.rank
			u.PreviousRank, u.Movement = pr, &mv
		}
		res.Units = append(res.Units, u)
	}
	res.Digest = assessmentDigest(res)
	return res, nil
}

// assessmentDigest is the hex SHA-256 of the result's JSON without its
// position and digest: the numbers, not where they were computed.
func assessmentDigest(res query.AssessmentResult) string {
	res.Position, res.Digest = 0, ""
	b, err := json.Marshal(res)
	if err != nil {
		// Nothing in a result fails to marshal; an empty digest would show.
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// cents turns a weight into hundredths of a point. Weights have at most
// two decimals (events.ScoringRules), so this is exact.
func cents(w float64) int64 { return int64(math.Round(w * 100)) }

// points turns hundredths back into points for the wire.
func points(c int64) float64 { return float64(c) / 100 }

// asmScore scores the units for the days start..end (cut at the day before
// today while running) and ranks them per level, in tree order. through is
// the last day counted.
func asmScore(ctx context.Context, r asmReader, in asmInput, start, end events.Date) (lines []*asmUnitLine, through events.Date, complete bool, err error) {
	// judge is the first day not counted: the day after the end, or today.
	judge := end.AddDays(1)
	complete = true
	if !in.today.IsZero() && in.today.Before(judge) {
		judge, complete = in.today, false
	}
	through = end
	if !complete {
		through = in.today
	}
	tree, err := asmTreeAsOf(ctx, r, in.bound, start)
	if err != nil {
		return nil, through, complete, err
	}
	lines = make([]*asmUnitLine, len(tree.Nodes))
	byUnit := make(map[string]*asmUnitLine, len(tree.Nodes))
	for i, n := range tree.Nodes {
		lines[i] = &asmUnitLine{node: n}
		byUnit[n.ID] = lines[i]
	}
	// Facts of today count while the period runs: the day is judged as it
	// stands, overdue meaning a deadline before today.
	lastDay := end
	if !complete {
		lastDay = in.today
	}
	if err := asmCountItems(ctx, r, in.bound, start, lastDay, judge, byUnit); err != nil {
		return nil, through, complete, err
	}
	if err := asmCountCommitments(ctx, r, in.bound, start, end, judge, byUnit); err != nil {
		return nil, through, complete, err
	}
	rules := in.ruleset.Rules
	for _, l := range lines {
		c := l.counts
		l.own = cents(rules.Base) + int64(c.ItemsClosed)*cents(rules.ItemClosed) + int64(c.ItemsOnTime)*cents(rules.ItemOnTime) +
			int64(c.ItemsOverdue)*cents(rules.ItemOverdue) + int64(c.ItemsReopened)*cents(rules.ItemReopened) +
			int64(c.PeriodsMet)*cents(rules.PeriodMet) + int64(c.PeriodsMissed)*cents(rules.PeriodMissed)
	}
	// Roll up children first: in tree order a unit comes before its
	// subtree, so walk backwards.
	children := map[string][]*asmUnitLine{}
	for _, l := range lines {
		if l.node.Depth > 0 {
			children[l.node.ParentID] = append(children[l.node.ParentID], l)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		l.score = l.own
		kids := children[l.node.ID]
		switch rules.Rollup {
		case events.RollupSum:
			for _, k := range kids {
				l.score += k.score
			}
		case events.RollupAverage:
			sum := l.own
			for _, k := range kids {
				sum += k.score
			}
			l.score = int64(math.Round(float64(sum) / float64(1+len(kids))))
		}
	}
	// Rank within each level: one more than the units scoring better.
	levels := map[int][]int64{}
	for _, l := range lines {
		levels[l.node.Depth] = append(levels[l.node.Depth], l.score)
	}
	for _, scores := range levels {
		slices.SortFunc(scores, func(a, b int64) int { return cmp.Compare(b, a) })
	}
	for _, l := range lines {
		scores := levels[l.node.Depth]
		better, _ := slices.BinarySearchFunc(scores, l.score, func(s, t int64) int { return cmp.Compare(t, s) })
		l.rank = better + 1
	}
	return lines, through, complete, nil
}

// asmTreeAsOf folds the unit tree as it stood at the bound: every unit
// registered by then and not retired before start, in tree order. (A unit
// registered after the period still takes part: registering is recording,
// and a ledger is often recorded after the facts, as its commitments'
// activities are.) A move under the unit's own subtree is ignored, as the
// live tree ignores it.
func asmTreeAsOf(ctx context.Context, r asmReader, b asmBound, start events.Date) (*unitTree, error) {
	rows, err := r.QueryContext(ctx, `SELECT unit_id, day, fact, name, kind, parent_id FROM asm_units
		WHERE position <= ? AND nanos <= ? ORDER BY position`, b.pos, b.nanos)
	if err != nil {
		return nil, fmt.Errorf("units as of %d: %w", b.pos, err)
	}
	defer rows.Close()
	type unit struct {
		node       unitNode
		retiredDay string
	}
	units := map[string]*unit{}
	var order []string
	within := func(id, ancestor string) bool { // is id in ancestor's subtree?
		for i := 0; id != "" && i <= len(units); i++ {
			if id == ancestor {
				return true
			}
			u := units[id]
			if u == nil {
				return false
			}
			id = u.node.ParentID
		}
		return false
	}
	for rows.Next() {
		var id, day, fact, name, kind, parent string
		if err := rows.Scan(&id, &day, &fact, &name, &kind, &parent); err != nil {
			return nil, fmt.Errorf("units as of %d: %w", b.pos, err)
		}
		u := units[id]
		if fact == factRegistered {
			if u == nil {
				u = &unit{node: unitNode{ID: id}}
				units[id] = u
				order = append(order, id)
			}
			u.node.Name, u.node.Kind = name, kind
			if parent != "" && !within(parent, id) {
				u.node.ParentID = parent
			}
			continue
		}
		if u == nil {
			continue
		}
		switch fact {
		case factRenamed:
			u.node.Name = name
		case factMoved:
			if parent == "" || !within(parent, id) {
				u.node.ParentID = parent
			}
		case factRetired:
			u.node.Retired, u.retiredDay = true, day
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("units as of %d: %w", b.pos, err)
	}
	nodes := make([]unitNode, 0, len(order))
	for _, id := range order {
		u := units[id]
		if u.node.Retired && u.retiredDay < start.String() {
			continue
		}
		nodes = append(nodes, u.node)
	}
	return newUnitTree(nodes), nil
}

// asmCountItems counts, for the unit each item belonged to at the time,
// what happened to items from start to lastDay, and the items overdue at
// the end: those whose last fact up to lastDay left them unfinished with a
// deadline before judge.
func asmCountItems(ctx context.Context, r asmReader, b asmBound, start, lastDay, judge events.Date, byUnit map[string]*asmUnitLine) error {
	rows, err := r.QueryContext(ctx, `SELECT unit_id, fact, count(*), sum(fact = 'closed' AND deadline <> '' AND day <= deadline)
		FROM asm_item_facts WHERE day >= ? AND day <= ? AND position <= ? AND nanos <= ? GROUP BY unit_id, fact`,
		start.String(), lastDay.String(), b.pos, b.nanos)
	if err != nil {
		return fmt.Errorf("item facts: %w", err)
	}
	for rows.Next() {
		var unit, fact string
		var n, onTime int
		if err := rows.Scan(&unit, &fact, &n, &onTime); err != nil {
			rows.Close()
			return fmt.Errorf("item facts: %w", err)
		}
		l := byUnit[unit]
		if l == nil {
			continue
		}
		c := &l.counts
		switch fact {
		case factRaised:
			c.ItemsRaised += n
		case factDeadline:
			c.DeadlinesChanged += n
		case factClosed:
			c.ItemsClosed += n
			c.ItemsOnTime += onTime
		case factReopened:
			c.ItemsReopened += n
		case factProgress:
			c.ProgressReports += n
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("item facts: %w", err)
	}
	// An item's state at the end is that of its last fact up to lastDay:
	// the fact whose next one came after lastDay, or after the bound. The
	// three parts are disjoint; the first reads a range of index
	// asm_item_facts_alive, the second one of asm_item_facts_next (empty
	// unless the bound is a past position), the third runs only for a
	// bound in time.
	const overdue = ` AND day <= ?2 AND position <= ?3 AND nanos <= ?4 AND deadline <> '' AND deadline < ?1`
	rows, err = r.QueryContext(ctx, `SELECT unit_id, count(*) FROM (
			SELECT unit_id FROM asm_item_facts WHERE open = 1 AND next_day > ?2`+overdue+`
			UNION ALL
			SELECT unit_id FROM asm_item_facts WHERE open = 1 AND next_pos > ?3 AND next_day <= ?2`+overdue+`
			UNION ALL
			SELECT unit_id FROM asm_item_facts WHERE ?4 < 9223372036854775807 AND open = 1 AND next_nanos > ?4 AND next_pos <= ?3 AND next_day <= ?2`+overdue+`
		) GROUP BY unit_id`, judge.String(), lastDay.String(), b.pos, b.nanos)
	if err != nil {
		return fmt.Errorf("overdue items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var unit string
		var n int
		if err := rows.Scan(&unit, &n); err != nil {
			return fmt.Errorf("overdue items: %w", err)
		}
		if l := byUnit[unit]; l != nil {
			l.counts.ItemsOverdue += n
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("overdue items: %w", err)
	}
	return nil
}

// asmCommitment is a commitment's definition as it stood at the bound.
type asmCommitment struct {
	unit       string
	first      int // day numbers
	last       int
	defs       []cmtDef
	target     int
	period     string
	end, ended events.Date
}

// asmCountCommitments counts, per unit, the commitment periods that ended
// from start to before judge (and not after end) and met or missed their
// target, with the definitions and activities known at the bound.
func asmCountCommitments(ctx context.Context, r asmReader, b asmBound, start, end, judge events.Date, byUnit map[string]*asmUnitLine) error {
	rows, err := r.QueryContext(ctx, `SELECT commitment_id, day, fact, unit_id, target, period, start, end_on FROM asm_cmt_facts
		WHERE position <= ? AND nanos <= ? ORDER BY commitment_id, position`, b.pos, b.nanos)
	if err != nil {
		return fmt.Errorf("commitment facts: %w", err)
	}
	cmts := map[string]*asmCommitment{}
	var ids []string
	for rows.Next() {
		var id, day, fact, unit, period, st, en string
		var target int
		if err := rows.Scan(&id, &day, &fact, &unit, &target, &period, &st, &en); err != nil {
			rows.Close()
			return fmt.Errorf("commitment facts: %w", err)
		}
		c := cmts[id]
		if fact == factMade {
			s, _ := events.ParseDate(st)
			e, _ := events.ParseDate(en)
			if c == nil {
				ids = append(ids, id)
			}
			// Made twice takes the newer terms, as the commitments view does.
			c = &asmCommitment{unit: unit, first: dayOf(s), target: target, period: period, end: e,
				defs: []cmtDef{{effective: math.MinInt, target: target, period: period}}}
			if s.IsZero() || e.IsZero() {
				c.first = math.MaxInt
			}
			cmts[id] = c
			continue
		}
		if c == nil {
			continue
		}
		switch fact {
		case factRevised:
			if target > 0 {
				c.target = target
			}
			if period != "" {
				c.period = period
			}
			if e, err := events.ParseDate(en); err == nil && !e.IsZero() {
				c.end = e
			}
			eff := math.MinInt
			if d, err := events.ParseDate(day); err == nil && !d.IsZero() {
				eff = dayOf(d)
			}
			c.defs = append(c.defs, cmtDef{effective: eff, seq: len(c.defs), target: c.target, period: c.period})
		case factEnded:
			c.ended, _ = events.ParseDate(en)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("commitment facts: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	// A bucket ending in start..end lies within a quarter before start;
	// buckets are computed whole, so read a quarter beyond end too.
	lo, hi := dayOf(start)-92, dayOf(end)+92
	counts := map[string]map[int]int{}
	arows, err := r.QueryContext(ctx, `SELECT commitment_id, occurred_on, sum(count) FROM asm_activities
		WHERE position <= ? AND nanos <= ? AND occurred_on >= ? AND occurred_on <= ? GROUP BY commitment_id, occurred_on`,
		b.pos, b.nanos, dateOfDay(lo).String(), dateOfDay(hi).String())
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	for arows.Next() {
		var id, day string
		var n int
		if err := arows.Scan(&id, &day, &n); err != nil {
			arows.Close()
			return fmt.Errorf("activities: %w", err)
		}
		d, err := events.ParseDate(day)
		if err != nil {
			continue
		}
		if counts[id] == nil {
			counts[id] = map[int]int{}
		}
		counts[id][dayOf(d)] += n
	}
	err = arows.Err()
	arows.Close()
	if err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	from, to := dayOf(start), min(dayOf(judge)-1, dayOf(end))
	for _, id := range ids {
		c := cmts[id]
		l := byUnit[c.unit]
		if l == nil || c.end.IsZero() {
			continue
		}
		last := dayOf(c.end)
		if !c.ended.IsZero() {
			last = min(last, dayOf(c.ended))
		}
		first, lastDay := max(c.first, lo), min(last, hi)
		if first > lastDay {
			continue
		}
		// Definitions in force order by the day they took effect, then
		// by when they were made, as cmtDefinitions reads them.
		defs := slices.Clone(c.defs)
		slices.SortStableFunc(defs, func(x, y cmtDef) int { return cmp.Or(cmp.Compare(x.effective, y.effective), cmp.Compare(x.seq, y.seq)) })
		for _, bk := range cmtBuckets(defs, first, lastDay, "", counts[id]) {
			if bk.end < from || bk.end > to {
				continue
			}
			switch req := bk.required(); {
			case req == 0:
			case bk.actual >= req:
				l.counts.PeriodsMet++
			default:
				l.counts.PeriodsMissed++
			}
		}
	}
	return nil
}

// ---- queries ----

// Queries implements Queryable.
func (Assessments) Queries() map[string]QueryFunc {
	m := map[string]QueryFunc{
		"preview":      assessmentsPreview,
		"rulesets":     assessmentsRulesets,
		"ruleset":      assessmentsRuleset,
		"publications": assessmentsPublications,
		"published":    assessmentsPublished,
	}
	for kind, op := range query.AssessmentOps {
		m[op] = assessmentsOf(kind)
	}
	return m
}

// asmBoundOf is the as-of point of a request: Request.AsOf, never beyond
// the view's own position (facts the view has not applied would be
// missing silently).
func asmBoundOf(ctx context.Context, db *sql.DB, req query.Request) (asmBound, error) {
	var at int64
	if err := db.QueryRowContext(ctx, `SELECT position FROM checkpoint WHERE id = 1`).Scan(&at); err != nil {
		return asmBound{}, fmt.Errorf("assessments: %w", err)
	}
	if req.AsOf.Position > uint64(at) {
		return asmBound{}, events.Errorf(events.CodeUnavailable, "the assessments view has not reached position %d yet (it is at %d); ask with min_position", req.AsOf.Position, at)
	}
	pos, nanos := asofBounds(req.AsOf)
	return asmBound{pos: min(pos, at), nanos: nanos}, nil
}

// asmPeriod is the day choosing the period: the one asked for, or a day of
// the last period that ended before today. A period that has not begun is
// CodeInvalid.
func asmPeriod(kind string, day, today events.Date) (events.Date, error) {
	if day.IsZero() {
		start, _, _ := events.PeriodBounds(kind, today)
		return start.AddDays(-1), nil
	}
	if start, _, _ := events.PeriodBounds(kind, day); today.Before(start) {
		return events.Date{}, events.Invalid("period", fmt.Sprintf("the %s from %s has not begun yet", kind, start))
	}
	return day, nil
}

func assessmentsOf(kind string) QueryFunc {
	return func(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
		var p query.AssessmentParams
		if err := parseParams(req.Params, &p); err != nil {
			return nil, err
		}
		b, err := asmBoundOf(ctx, db, req)
		if err != nil {
			return nil, err
		}
		today := queryToday(req)
		day, err := asmPeriod(kind, p.Period, today)
		if err != nil {
			return nil, err
		}
		ref, err := asmPublishedRules(ctx, db, b, p.RulesetID, p.Version)
		if err != nil {
			return nil, err
		}
		return asmAnswer(ctx, db, req, asmInput{kind: kind, day: day, today: today, bound: b, ruleset: ref}, p.UnitID)
	}
}

// assessmentsPreview computes a period under a rule set's draft: the same
// computation, reading the draft instead of a version, and writing
// nothing (queries run on read-only connections).
func assessmentsPreview(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.PreviewParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	b, err := asmBoundOf(ctx, db, req)
	if err != nil {
		return nil, err
	}
	today := queryToday(req)
	day, err := asmPeriod(p.Kind, p.Period, today)
	if err != nil {
		return nil, err
	}
	var ref query.RulesetRef
	var rules string
	err = db.QueryRowContext(ctx, `SELECT name, rules FROM asm_drafts WHERE ruleset_id = ? AND position <= ? AND nanos <= ?
		ORDER BY position DESC LIMIT 1`, p.RulesetID, b.pos, b.nanos).Scan(&ref.Name, &rules)
	if err == sql.ErrNoRows {
		return nil, events.Errorf(events.CodeNotFound, "rule set %s not found", p.RulesetID)
	}
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	ref.ID = p.RulesetID
	if err := json.Unmarshal([]byte(rules), &ref.Rules); err != nil {
		return nil, fmt.Errorf("preview: rules of %s: %w", p.RulesetID, err)
	}
	return asmAnswer(ctx, db, req, asmInput{kind: p.Kind, day: day, today: today, bound: b, ruleset: ref}, p.UnitID)
}

// asmAnswer computes the whole organisation's result, then keeps the rows
// the caller may see.
func asmAnswer(ctx context.Context, db *sql.DB, req query.Request, in asmInput, unit string) (any, error) {
	res, err := computeAssessment(ctx, db, in)
	if err != nil {
		return nil, err
	}
	res.Position = uint64(in.bound.pos)
	if err := asmConfine(ctx, db, req.Scope, unit, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// asmConfine keeps the rows of units inside scope today (and inside
// unit's subtree when given).
func asmConfine(ctx context.Context, db *sql.DB, s query.Scope, unit string, res *query.AssessmentResult) error {
	if s.All && unit == "" {
		return nil
	}
	tree, err := loadUnitTree(ctx, db, s, unit)
	if err != nil {
		return err
	}
	res.Units = slices.DeleteFunc(res.Units, func(u query.UnitAssessment) bool {
		_, ok := tree.index[u.UnitID]
		return !ok
	})
	return nil
}

// asmPublishedRules chooses the published rules of a computation: version
// (0: the latest) of ruleset, or without one the version published most
// recently, as of the bound.
func asmPublishedRules(ctx context.Context, db *sql.DB, b asmBound, ruleset string, version int) (query.RulesetRef, error) {
	if ruleset == "" {
		err := db.QueryRowContext(ctx, `SELECT ruleset_id FROM asm_versions WHERE position <= ? AND nanos <= ?
			ORDER BY position DESC LIMIT 1`, b.pos, b.nanos).Scan(&ruleset)
		if err == sql.ErrNoRows {
			return query.RulesetRef{}, events.Errorf(events.CodeNotFound, "no rule set was published by then: draft one and publish it first")
		}
		if err != nil {
			return query.RulesetRef{}, fmt.Errorf("rules: %w", err)
		}
	}
	ref, found, err := asmVersion(ctx, db, b, ruleset, version)
	if err != nil {
		return ref, err
	}
	if !found {
		if version > 0 {
			return ref, events.Errorf(events.CodeNotFound, "rule set %s had no version %d then", ruleset, version)
		}
		return ref, events.Errorf(events.CodeNotFound, "rule set %s had no published version then", ruleset)
	}
	return ref, nil
}

// asmVersion reads version (0: the latest) of a rule set as of the bound.
func asmVersion(ctx context.Context, r asmReader, b asmBound, ruleset string, version int) (query.RulesetRef, bool, error) {
	ref := query.RulesetRef{ID: ruleset}
	var rules string
	q := `SELECT version, name, rules FROM asm_versions WHERE ruleset_id = ? AND position <= ? AND nanos <= ?`
	args := []any{ruleset, b.pos, b.nanos}
	if version > 0 {
		q += ` AND version = ?`
		args = append(args, version)
	}
	err := r.QueryRowContext(ctx, q+` ORDER BY version DESC LIMIT 1`, args...).Scan(&ref.Version, &ref.Name, &rules)
	if err == sql.ErrNoRows {
		return ref, false, nil
	}
	if err != nil {
		return ref, false, fmt.Errorf("rules %s: %w", ruleset, err)
	}
	if err := json.Unmarshal([]byte(rules), &ref.Rules); err != nil {
		return ref, false, fmt.Errorf("rules %s: %w", ruleset, err)
	}
	return ref, true, nil
}

func assessmentsRulesets(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	if err := parseParams(req.Params, &struct{}{}); err != nil {
		return nil, err
	}
	return asmRulesets(ctx, db, req, "")
}

func assessmentsRuleset(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.RulesetParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	out, err := asmRulesets(ctx, db, req, p.RulesetID)
	if err != nil {
		return nil, err
	}
	if len(out.Rulesets) == 0 {
		return nil, events.Errorf(events.CodeNotFound, "rule set %s did not exist then", p.RulesetID)
	}
	return out.Rulesets[0], nil
}

// asmRulesets reads every rule set, or only the one of id, as of the
// request's point.
func asmRulesets(ctx context.Context, db *sql.DB, req query.Request, id string) (query.Rulesets, error) {
	b, err := asmBoundOf(ctx, db, req)
	if err != nil {
		return query.Rulesets{}, err
	}
	out := query.Rulesets{Rulesets: []query.Ruleset{}}
	index := map[string]int{}
	rows, err := db.QueryContext(ctx, `SELECT d.ruleset_id, d.position, d.revision, d.name, d.rules FROM asm_drafts d
		WHERE d.position = (SELECT max(position) FROM asm_drafts x WHERE x.ruleset_id = d.ruleset_id AND x.position <= ?1 AND x.nanos <= ?2)
			AND (?3 = '' OR d.ruleset_id = ?3)
		ORDER BY d.ruleset_id`, b.pos, b.nanos, id)
	if err != nil {
		return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
	}
	for rows.Next() {
		var rs query.Ruleset
		var rules string
		if err := rows.Scan(&rs.ID, &rs.Position, &rs.Revision, &rs.Name, &rules); err != nil {
			rows.Close()
			return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
		}
		if err := json.Unmarshal([]byte(rules), &rs.Draft); err != nil {
			rows.Close()
			return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
		}
		rs.Versions = []query.RulesetVersion{}
		index[rs.ID] = len(out.Rulesets)
		out.Rulesets = append(out.Rulesets, rs)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
	}
	vrows, err := db.QueryContext(ctx, `SELECT ruleset_id, version, name, rules, note, position, nanos, revision, actor FROM asm_versions
		WHERE position <= ?1 AND nanos <= ?2 AND (?3 = '' OR ruleset_id = ?3) ORDER BY ruleset_id, version`, b.pos, b.nanos, id)
	if err != nil {
		return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var id, rules string
		var v query.RulesetVersion
		var nanos int64
		var rev uint64
		if err := vrows.Scan(&id, &v.Version, &v.Name, &rules, &v.Note, &v.Position, &nanos, &rev, &v.PublishedBy); err != nil {
			return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
		}
		if err := json.Unmarshal([]byte(rules), &v.Rules); err != nil {
			return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
		}
		v.PublishedAt = time.Unix(0, nanos).UTC()
		i, ok := index[id]
		if !ok {
			continue
		}
		rs := &out.Rulesets[i]
		rs.Versions = append(rs.Versions, v)
		if v.Position > rs.Position {
			rs.Position, rs.Revision = v.Position, rev
		}
	}
	if err := vrows.Err(); err != nil {
		return query.Rulesets{}, fmt.Errorf("rulesets: %w", err)
	}
	for i := range out.Rulesets {
		rs := &out.Rulesets[i]
		n := len(rs.Versions)
		rs.Dirty = n == 0 || rs.Versions[n-1].Rules != rs.Draft || rs.Versions[n-1].Name != rs.Name
	}
	slices.SortStableFunc(out.Rulesets, func(a, b query.Ruleset) int { return cmp.Compare(b.Position, a.Position) })
	return out, nil
}

const asmPublicationColumns = `assessment_id, version, kind, period_start, period_end, ruleset_id, ruleset_version,
	computed_from, digest, reproduced, position, nanos, actor, note`

func scanPublication(rows interface{ Scan(...any) error }, extra ...any) (query.Publication, error) {
	var p query.Publication
	var start, end string
	var nanos int64
	err := rows.Scan(append([]any{&p.AssessmentID, &p.Version, &p.Kind, &start, &end, &p.RulesetID, &p.RulesetVersion,
		&p.Position, &p.Digest, &p.Reproduced, &p.EventPosition, &nanos, &p.PublishedBy, &p.Note}, extra...)...)
	if err != nil {
		return p, err
	}
	p.PeriodStart, _ = events.ParseDate(start)
	p.PeriodEnd, _ = events.ParseDate(end)
	p.PublishedAt = time.Unix(0, nanos).UTC()
	return p, nil
}

func assessmentsPublications(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.PublicationsParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	b, err := asmBoundOf(ctx, db, req)
	if err != nil {
		return nil, err
	}
	w := &where{}
	w.add(`position <= ? AND nanos <= ?`, b.pos, b.nanos)
	if p.Kind != "" {
		w.add(`kind = ?`, p.Kind)
	}
	if !p.From.IsZero() {
		w.add(`period_start >= ?`, p.From.String())
	}
	if !p.To.IsZero() {
		w.add(`period_start <= ?`, p.To.String())
	}
	if p.Cursor != "" {
		c, err := readCursor(p.Cursor, 3)
		if err != nil {
			return nil, err
		}
		v, err := strconv.Atoi(c[2])
		if err != nil {
			return nil, events.Invalid("cursor", "is not a cursor of this query")
		}
		w.add(`(period_start, assessment_id, version) < (?, ?, ?)`, c[0], c[1], v)
	}
	limit := pageSize(p.Limit)
	cond := w.conds[0]
	for _, c := range w.conds[1:] {
		cond += " AND " + c
	}
	rows, err := db.QueryContext(ctx, `SELECT `+asmPublicationColumns+` FROM asm_publications WHERE `+cond+`
		ORDER BY period_start DESC, assessment_id DESC, version DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("publications: %w", err)
	}
	defer rows.Close()
	out := query.PublicationsPage{Publications: []query.Publication{}}
	for rows.Next() {
		pub, err := scanPublication(rows)
		if err != nil {
			return nil, fmt.Errorf("publications: %w", err)
		}
		out.Publications = append(out.Publications, pub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("publications: %w", err)
	}
	if len(out.Publications) > limit {
		out.Publications = out.Publications[:limit]
		last := out.Publications[limit-1]
		out.NextCursor = makeCursor(last.PeriodStart.String(), last.AssessmentID, strconv.Itoa(last.Version))
	}
	return out, nil
}

func assessmentsPublished(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.PublishedParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	b, err := asmBoundOf(ctx, db, req)
	if err != nil {
		return nil, err
	}
	start, end, _ := events.PeriodBounds(p.Kind, p.Period)
	out := query.Published{Kind: p.Kind, PeriodStart: start, PeriodEnd: end, Versions: []query.PublishedVersion{}}
	rows, err := db.QueryContext(ctx, `SELECT `+asmPublicationColumns+`, result FROM asm_publications
		WHERE assessment_id = ? AND position <= ? AND nanos <= ? ORDER BY version`, events.AssessmentID(p.Kind, start), b.pos, b.nanos)
	if err != nil {
		return nil, fmt.Errorf("published: %w", err)
	}
	var raws [][]byte
	for rows.Next() {
		var raw []byte
		pub, err := scanPublication(rows, &raw)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("published: %w", err)
		}
		out.Versions = append(out.Versions, query.PublishedVersion{Publication: pub})
		raws = append(raws, raw)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("published: %w", err)
	}
	for i, raw := range raws {
		v := &out.Versions[i]
		if err := json.Unmarshal(raw, &v.Result); err != nil {
			return nil, fmt.Errorf("published %s v%d: %w", v.AssessmentID, v.Version, err)
		}
		if err := asmConfine(ctx, db, req.Scope, p.UnitID, &v.Result); err != nil {
			return nil, err
		}
	}
	return out, nil
}
