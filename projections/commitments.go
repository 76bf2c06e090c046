package projections

// The commitments view (承诺): every commitment with its current
// definition, the history of its definitions, and its logged activities,
// answering "list", "compliance" and "units". How compliance is counted
// is documented in package query (query/commitments.go); this file
// implements it.

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// Commitments is the commitments projection.
type Commitments struct{}

var (
	_ Queryable  = Commitments{}
	_ Flusher    = Commitments{}
	_ BulkLoader = Commitments{}
)

// Name implements Projection.
func (Commitments) Name() string { return "commitments" }

var commitmentsSchema = []string{
	`CREATE TABLE cmt_commitments (
		id          TEXT PRIMARY KEY,
		cycle_id    TEXT NOT NULL DEFAULT '',
		unit_id     TEXT NOT NULL DEFAULT '',
		person_id   TEXT NOT NULL DEFAULT '',
		person_name TEXT NOT NULL DEFAULT '',
		title       TEXT NOT NULL DEFAULT '',
		activity    TEXT NOT NULL DEFAULT '',
		target      INTEGER NOT NULL DEFAULT 0,
		period      TEXT NOT NULL DEFAULT '',
		start       TEXT NOT NULL DEFAULT '',
		end_on      TEXT NOT NULL DEFAULT '',
		ended       INTEGER NOT NULL DEFAULT 0,
		ended_on    TEXT NOT NULL DEFAULT '',
		end_reason  TEXT NOT NULL DEFAULT '',
		revisions   INTEGER NOT NULL DEFAULT 0,
		logged      INTEGER NOT NULL DEFAULT 0,
		position    INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID`,
	`CREATE INDEX cmt_commitments_unit ON cmt_commitments (unit_id, id)`,
	// One row per definition: seq 0 from the commitment being made (in
	// force from its start), then one per revision, in force from the day
	// of the revision.
	`CREATE TABLE cmt_definitions (
		commitment_id TEXT NOT NULL,
		seq           INTEGER NOT NULL,
		effective     TEXT NOT NULL,
		target        INTEGER NOT NULL,
		period        TEXT NOT NULL,
		PRIMARY KEY (commitment_id, seq)
	) WITHOUT ROWID`,
	// Keyed by day so that summing a commitment's activities over a range
	// is one primary-key range scan.
	`CREATE TABLE cmt_activities (
		commitment_id TEXT NOT NULL,
		occurred_on   TEXT NOT NULL,
		activity_id   TEXT NOT NULL,
		count         INTEGER NOT NULL,
		note          TEXT NOT NULL DEFAULT '',
		logged_by     TEXT NOT NULL DEFAULT '',
		position      INTEGER NOT NULL,
		PRIMARY KEY (commitment_id, occurred_on, activity_id)
	) WITHOUT ROWID`,
}

// Migrate implements Projection.
func (Commitments) Migrate(ctx context.Context, tx *sql.Tx) error {
	if err := unitsMigrate(ctx, tx); err != nil {
		return err
	}
	for _, s := range commitmentsSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("commitments schema: %w", err)
		}
	}
	return nil
}

// DigestQueries implements Projection.
func (Commitments) DigestQueries() []string {
	return append(slices.Clone(unitsDigestQueries),
		`SELECT * FROM cmt_commitments ORDER BY id`,
		`SELECT * FROM cmt_definitions ORDER BY commitment_id, seq`,
		`SELECT * FROM cmt_activities ORDER BY commitment_id, occurred_on, activity_id`,
	)
}

// chinaZone is the organisation's clock: China Standard Time has had no
// daylight saving since 1991, so a fixed zone is exact and needs no tzdata.
var chinaZone = time.FixedZone("CST", 8*60*60)

// eventDay is the civil day an event happened on, in chinaZone.
func eventDay(e events.Event) events.Date { return events.DateFrom(e.Time, chinaZone) }

// Apply implements Projection.
func (Commitments) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	switch e.Category() {
	case events.CategoryUnit, events.CategoryCommitment:
	default:
		return nil
	}
	p, err := tx.Decode(e)
	if err != nil {
		// An event this build cannot read is skipped, not retried forever.
		return nil
	}
	if ok, err := unitsApply(ctx, tx, p); ok || err != nil {
		return err
	}
	pos := tx.Position()
	switch d := p.(type) {
	case events.CommitmentMadeData:
		_, err = tx.Exec(ctx, `INSERT INTO cmt_commitments
			(id, cycle_id, unit_id, person_id, person_name, title, activity, target, period, start, end_on, position)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET cycle_id = excluded.cycle_id, unit_id = excluded.unit_id,
				person_id = excluded.person_id, person_name = excluded.person_name, title = excluded.title,
				activity = excluded.activity, target = excluded.target, period = excluded.period,
				start = excluded.start, end_on = excluded.end_on, position = excluded.position`,
			d.CommitmentID, d.CycleID, d.UnitID, d.PersonID, d.PersonName, d.Title, d.Activity,
			d.Target, d.Period, d.Start.String(), d.End.String(), pos)
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT OR REPLACE INTO cmt_definitions (commitment_id, seq, effective, target, period)
				VALUES (?, 0, '', ?, ?)`, d.CommitmentID, d.Target, d.Period)
		}
		if cb := cmtBulkOf(tx); cb != nil {
			cb.made[d.CommitmentID] = true
		}
		tx.ChangedIn(events.CommitmentStream(d.CommitmentID), d.UnitID)
	case events.CommitmentRevisedData:
		var seq, target int
		var period string
		err = tx.QueryRow(ctx, `UPDATE cmt_commitments SET
				target = CASE WHEN ?1 > 0 THEN ?1 ELSE target END,
				period = CASE WHEN ?2 <> '' THEN ?2 ELSE period END,
				end_on = CASE WHEN ?3 <> '' THEN ?3 ELSE end_on END,
				revisions = revisions + 1, position = ?4
			WHERE id = ?5 RETURNING revisions, target, period`,
			d.NewTarget, d.NewPeriod, d.NewEnd.String(), pos, d.CommitmentID).Scan(&seq, &target, &period)
		if err == sql.ErrNoRows {
			return nil // a revision of a commitment never made: nothing to revise
		}
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT OR REPLACE INTO cmt_definitions (commitment_id, seq, effective, target, period)
				VALUES (?, ?, ?, ?, ?)`, d.CommitmentID, seq, eventDay(e).String(), target, period)
		}
		if err == nil {
			err = commitmentChanged(ctx, tx, d.CommitmentID)
		}
	case events.CommitmentEndedData:
		on := d.EndedOn
		if on.IsZero() {
			on = eventDay(e)
		}
		_, err = tx.Exec(ctx, `UPDATE cmt_commitments SET ended = 1, ended_on = ?, end_reason = ?, position = ? WHERE id = ?`,
			on.String(), d.Reason, pos, d.CommitmentID)
		if err == nil {
			err = commitmentChanged(ctx, tx, d.CommitmentID)
		}
	case events.CommitmentActivityLoggedData:
		id := d.ActivityID
		if id == "" {
			id = "p" + strconv.FormatUint(pos, 10)
		}
		if cb := cmtBulkOf(tx); cb != nil {
			cb.logActivity(d, id, pos)
			return nil
		}
		var res sql.Result
		res, err = tx.Exec(ctx, `INSERT OR IGNORE INTO cmt_activities
			(commitment_id, occurred_on, activity_id, count, note, logged_by, position) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			d.CommitmentID, d.OccurredOn.String(), id, d.Count, d.Note, d.LoggedBy, pos)
		if err != nil {
			break
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // the same activity logged twice counts once
		}
		_, err = tx.Exec(ctx, `UPDATE cmt_commitments SET logged = logged + ?, position = ? WHERE id = ?`, d.Count, pos, d.CommitmentID)
		if err == nil {
			err = commitmentChanged(ctx, tx, d.CommitmentID)
		}
	}
	if err != nil {
		return fmt.Errorf("commitments: %w", err)
	}
	return nil
}

// commitmentChanged records the change notice of a commitment in its unit.
func commitmentChanged(ctx context.Context, tx *Tx, id string) error {
	if !tx.Notifying() {
		return nil
	}
	var unit string
	err := tx.QueryRow(ctx, `SELECT unit_id FROM cmt_commitments WHERE id = ?`, id).Scan(&unit)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	tx.ChangedIn(events.CommitmentStream(id), unit)
	return nil
}

// cmtBulk is what a rebuild's bulk load of the commitments view keeps in
// memory (see BulkLoader): the activities logged so far, so that a
// duplicate is known without asking the database; the batch's activities,
// written many rows a statement by Flush; and what they add to their
// commitments, written once by EndBulk. The commitments themselves, few
// and rarely changed, are written as they change. About 120 bytes per
// activity.
type cmtBulk struct {
	made   map[string]bool // commitments made so far
	seen   map[cmtActivityKey]struct{}
	rows   []any // the batch's new activities, cmtActivityColumns values each
	logged map[string]*cmtLogged
}

type cmtActivityKey struct{ commitment, day, id string }

// cmtLogged is what a commitment's activities add: to logged, and the
// position of the latest.
type cmtLogged struct {
	count    int64
	position uint64
}

const cmtActivityColumns = 7

type cmtBulkKey struct{}

// cmtBulkOf returns the bulk load's state, nil outside a bulk load.
func cmtBulkOf(tx *Tx) *cmtBulk {
	v, ok := tx.Bulk(cmtBulkKey{}, func() any {
		return &cmtBulk{made: map[string]bool{}, seen: map[cmtActivityKey]struct{}{}, logged: map[string]*cmtLogged{}}
	})
	if !ok {
		return nil
	}
	return v.(*cmtBulk)
}

// logActivity applies an activity as Apply does: recorded once, counted
// if its commitment has been made.
func (cb *cmtBulk) logActivity(d events.CommitmentActivityLoggedData, id string, pos uint64) {
	k := cmtActivityKey{d.CommitmentID, d.OccurredOn.String(), id}
	if _, dup := cb.seen[k]; dup {
		return
	}
	cb.seen[k] = struct{}{}
	cb.rows = append(cb.rows, k.commitment, k.day, k.id, int64(d.Count), d.Note, d.LoggedBy, int64(pos))
	if !cb.made[d.CommitmentID] {
		return
	}
	l := cb.logged[d.CommitmentID]
	if l == nil {
		l = &cmtLogged{}
		cb.logged[d.CommitmentID] = l
	}
	l.count += int64(d.Count)
	l.position = pos
}

// Flush implements Flusher: in a bulk load it writes the batch's
// activities; otherwise Apply has written everything already.
func (Commitments) Flush(ctx context.Context, tx *Tx) error {
	cb := cmtBulkOf(tx)
	if cb == nil {
		return nil
	}
	if err := execRows(ctx, tx, `INSERT INTO cmt_activities
			(commitment_id, occurred_on, activity_id, count, note, logged_by, position) VALUES `, ``, cmtActivityColumns, cb.rows); err != nil {
		return fmt.Errorf("commitments: %w", err)
	}
	clear(cb.rows)
	cb.rows = cb.rows[:0]
	return nil
}

// Deferred implements BulkLoader: nothing is.
func (Commitments) Deferred() []string { return nil }

// EndBulk implements BulkLoader: it adds the activities to their
// commitments. Every change of a commitment sets its position to the
// event's, and positions grow, so the latest is the largest.
func (Commitments) EndBulk(ctx context.Context, tx *Tx) error {
	cb := cmtBulkOf(tx)
	for _, id := range slices.Sorted(maps.Keys(cb.logged)) {
		l := cb.logged[id]
		if _, err := tx.Exec(ctx, `UPDATE cmt_commitments SET logged = logged + ?, position = max(position, ?) WHERE id = ?`,
			l.count, int64(l.position), id); err != nil {
			return fmt.Errorf("commitments: %w", err)
		}
	}
	return nil
}

// Queries implements Queryable.
func (Commitments) Queries() map[string]QueryFunc {
	return map[string]QueryFunc{
		"list":       commitmentsList,
		"compliance": commitmentsCompliance,
		"units":      commitmentsUnits,
	}
}

// cmtColumns are the columns scanCommitment reads, from cmt_commitments c
// left-joined with units u.
const cmtColumns = `c.id, c.cycle_id, c.unit_id, coalesce(u.name, ''), c.person_id, c.person_name, c.title,
	c.activity, c.target, c.period, c.start, c.end_on, c.ended, c.ended_on, c.end_reason, c.revisions, c.logged, c.position`

const cmtFrom = ` FROM cmt_commitments c LEFT JOIN units u ON u.unit_id = c.unit_id`

func scanCommitment(rows interface{ Scan(...any) error }) (query.Commitment, error) {
	var c query.Commitment
	var start, end, endedOn string
	err := rows.Scan(&c.ID, &c.CycleID, &c.UnitID, &c.UnitName, &c.PersonID, &c.PersonName, &c.Title,
		&c.Activity, &c.Target, &c.Period, &start, &end, &c.Ended, &endedOn, &c.EndReason, &c.Revisions, &c.Logged, &c.Position)
	if err != nil {
		return c, err
	}
	// The dates were written by Apply from valid Dates; a bad one reads as
	// zero rather than failing the query.
	c.Start, _ = events.ParseDate(start)
	c.End, _ = events.ParseDate(end)
	c.EndedOn, _ = events.ParseDate(endedOn)
	return c, nil
}

// cmtSelection is the WHERE clause shared by list, compliance and units:
// scope, subtree, cycle.
func cmtSelection(req query.Request, unit, cycle string) (string, []any) {
	cond, args := scopeFilter("c.unit_id", req.Scope)
	where := []string{cond}
	if unit != "" {
		c, a := subtreeOf("c.unit_id", unit)
		where = append(where, c)
		args = append(args, a...)
	}
	if cycle != "" {
		where = append(where, "c.cycle_id = ?")
		args = append(args, cycle)
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

func commitmentsList(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.CommitmentListParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	var after []string
	if p.Cursor != "" {
		var err error
		if after, err = readCursor(p.Cursor, 2); err != nil {
			return nil, err
		}
	}
	where, args := cmtSelection(req, p.UnitID, p.CycleID)
	if p.Period != "" {
		where += " AND c.period = ?"
		args = append(args, p.Period)
	}
	if p.PersonID != "" {
		where += " AND c.person_id = ?"
		args = append(args, p.PersonID)
	}
	if !p.ActiveOn.IsZero() {
		d := p.ActiveOn.String()
		where += " AND c.start <= ? AND c.end_on >= ? AND (c.ended = 0 OR c.ended_on >= ?)"
		args = append(args, d, d, d)
	}
	if after != nil {
		where += " AND (c.unit_id, c.id) > (?, ?)"
		args = append(args, after[0], after[1])
	}
	limit := pageSize(p.Limit)
	rows, err := db.QueryContext(ctx, `SELECT `+cmtColumns+cmtFrom+where+` ORDER BY c.unit_id, c.id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("commitments list: %w", err)
	}
	defer rows.Close()
	page := query.CommitmentPage{Commitments: []query.Commitment{}}
	for rows.Next() {
		c, err := scanCommitment(rows)
		if err != nil {
			return nil, fmt.Errorf("commitments list: %w", err)
		}
		page.Commitments = append(page.Commitments, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("commitments list: %w", err)
	}
	if len(page.Commitments) > limit {
		page.Commitments = page.Commitments[:limit]
		last := page.Commitments[limit-1]
		page.NextCursor = makeCursor(last.UnitID, last.ID)
	}
	return page, nil
}

// cmtRange fills in the defaults of a compliance range: To is today, From
// the first day of To's year.
func cmtRange(from, to, today events.Date) (events.Date, events.Date) {
	if to.IsZero() {
		to = today
	}
	if from.IsZero() {
		from, _ = events.NewDate(to.Year(), time.January, 1)
	}
	return from, to
}

func commitmentsCompliance(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.ComplianceParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today := queryToday(req)
	from, to := cmtRange(p.From, p.To, today)
	if to.Before(from) {
		return nil, events.Invalid("from", "must not be after to (which defaults to today)")
	}
	out := query.Compliance{From: from, To: to, Today: today, Commitments: []query.CommitmentCompliance{}}
	var list []query.Commitment
	if p.CommitmentID != "" {
		row := db.QueryRowContext(ctx, `SELECT `+cmtColumns+cmtFrom+` WHERE c.id = ?`, p.CommitmentID)
		c, err := scanCommitment(row)
		if err == sql.ErrNoRows {
			return nil, events.Errorf(events.CodeNotFound, "commitment %s not found", p.CommitmentID)
		}
		if err != nil {
			return nil, fmt.Errorf("compliance: %w", err)
		}
		ok, err := unitInScope(ctx, db, req.Scope, c.UnitID)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Out of scope looks like absent: the caller learns nothing
			// about other units' commitments.
			return nil, events.Errorf(events.CodeNotFound, "commitment %s not found", p.CommitmentID)
		}
		list = []query.Commitment{c}
	} else {
		page, err := commitmentsList(ctx, db, query.Request{Scope: req.Scope, Params: mustJSON(query.CommitmentListParams{
			UnitID: p.UnitID, CycleID: p.CycleID, Limit: p.Limit, Cursor: p.Cursor,
		})})
		if err != nil {
			return nil, err
		}
		list = page.(query.CommitmentPage).Commitments
		out.NextCursor = page.(query.CommitmentPage).NextCursor
	}
	for _, c := range list {
		cc, err := commitmentCompliance(ctx, db, c, from, to, today, p.Period)
		if err != nil {
			return nil, err
		}
		out.Commitments = append(out.Commitments, cc)
	}
	return out, nil
}

func commitmentsUnits(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.CommitmentUnitsParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today := queryToday(req)
	from, to := cmtRange(p.From, p.To, today)
	if to.Before(from) {
		return nil, events.Invalid("from", "must not be after to (which defaults to today)")
	}
	tree, err := loadUnitTree(ctx, db, req.Scope, p.UnitID)
	if err != nil {
		return nil, err
	}
	where, args := cmtSelection(req, p.UnitID, p.CycleID)
	// Only commitments active somewhere in the range.
	where += " AND c.start <= ? AND c.end_on >= ? AND (c.ended = 0 OR c.ended_on >= ?)"
	args = append(args, to.String(), from.String(), from.String())
	rows, err := db.QueryContext(ctx, `SELECT `+cmtColumns+cmtFrom+where+` ORDER BY c.unit_id, c.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("compliance units: %w", err)
	}
	var list []query.Commitment
	for rows.Next() {
		c, err := scanCommitment(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("compliance units: %w", err)
		}
		list = append(list, c)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("compliance units: %w", err)
	}
	return unitsComplianceOf(&p, from, to, today, tree, list, func(c query.Commitment) ([]cmtBucket, error) {
		return commitmentBuckets(ctx, db, c, from, to, today, "")
	})
}

// unitsComplianceOf adds up the buckets of the commitments in list (by
// unit, then id), which bucketsOf gives, per unit of tree.
func unitsComplianceOf(p *query.CommitmentUnitsParams, from, to, today events.Date, tree *unitTree, list []query.Commitment,
	bucketsOf func(query.Commitment) ([]cmtBucket, error)) (query.UnitsCompliance, error) {
	type unitAcc struct {
		line    query.UnitCompliance
		buckets []cmtBucket
	}
	acc := map[string]*unitAcc{}
	for _, c := range list {
		cc, err := bucketsOf(c)
		if err != nil {
			return query.UnitsCompliance{}, err
		}
		a := acc[c.UnitID]
		if a == nil {
			a = &unitAcc{line: query.UnitCompliance{UnitID: c.UnitID, UnitName: c.UnitName}}
			acc[c.UnitID] = a
		}
		a.line.Commitments++
		a.buckets = append(a.buckets, cc...)
	}
	out := query.UnitsCompliance{From: from, To: to, Today: today, Units: []query.UnitCompliance{}}
	for _, n := range tree.Nodes {
		a := acc[n.ID]
		if a == nil {
			continue
		}
		// One missed bucket of any commitment breaks the unit's streak:
		// order the buckets by the day they ended.
		slices.SortStableFunc(a.buckets, func(x, y cmtBucket) int { return cmp.Compare(x.end, y.end) })
		a.line.Tally = tally(a.buckets)
		out.Units = append(out.Units, a.line)
		delete(acc, n.ID)
	}
	// Units the tree does not know (commitments of units never registered)
	// are only in an All scope; list them after the tree, by id.
	rest := make([]string, 0, len(acc))
	for id := range acc {
		rest = append(rest, id)
	}
	slices.Sort(rest)
	for _, id := range rest {
		a := acc[id]
		slices.SortStableFunc(a.buckets, func(x, y cmtBucket) int { return cmp.Compare(x.end, y.end) })
		a.line.Tally = tally(a.buckets)
		out.Units = append(out.Units, a.line)
	}
	if p.Sort == query.SortRate {
		slices.SortStableFunc(out.Units, func(x, y query.UnitCompliance) int {
			switch {
			case x.Rate == nil && y.Rate == nil:
				return 0
			case x.Rate == nil:
				return 1
			case y.Rate == nil:
				return -1
			}
			return cmp.Compare(*y.Rate, *x.Rate)
		})
	}
	return out, nil
}

// cmtDef is one definition of a commitment, in force from effective (day
// number; math.MinInt for the original one).
type cmtDef struct {
	effective int
	seq       int
	target    int
	period    string
}

// cmtBucket is one bucket of days with its scaled target and count.
type cmtBucket struct {
	kind       string
	start, end int // day numbers, inclusive
	exact      float64
	uniform    bool // one definition of this kind, a whole period
	actual     int
	st         string // status as of the query's today
}

func (b cmtBucket) required() int { return int(math.Floor(b.exact + 0.5 + 1e-9)) }

func (b cmtBucket) status(today int) string {
	switch {
	case b.start > today:
		return query.PeriodUpcoming
	case b.required() == 0:
		return query.PeriodExempt
	case b.actual >= b.required():
		return query.PeriodMet
	case b.end >= today:
		return query.PeriodInProgress
	}
	return query.PeriodMissed
}

// tally counts buckets by the status they were given and finds the
// streaks of met buckets, in the order given.
func tally(bs []cmtBucket) query.Tally {
	var t query.Tally
	run := 0
	for _, b := range bs {
		switch b.st {
		case query.PeriodMet:
			t.Met++
			run++
			t.LongestStreak = max(t.LongestStreak, run)
		case query.PeriodMissed:
			t.Missed++
			run = 0
		case query.PeriodInProgress:
			t.InProgress++
		}
	}
	t.CurrentStreak = run
	if n := t.Met + t.Missed; n > 0 {
		r := math.Round(float64(t.Met)/float64(n)*10000) / 10000
		t.Rate = &r
	}
	return t
}

func commitmentCompliance(ctx context.Context, db *sql.DB, c query.Commitment, from, to, today events.Date, kind string) (query.CommitmentCompliance, error) {
	bs, err := commitmentBuckets(ctx, db, c, from, to, today, kind)
	if err != nil {
		return query.CommitmentCompliance{}, err
	}
	return complianceOf(c, bs), nil
}

// complianceOf reports a commitment's buckets and their tally.
func complianceOf(c query.Commitment, bs []cmtBucket) query.CommitmentCompliance {
	out := query.CommitmentCompliance{Commitment: c, Periods: make([]query.PeriodResult, 0, len(bs)), Tally: tally(bs)}
	for _, b := range bs {
		out.Periods = append(out.Periods, query.PeriodResult{
			Kind:        b.kind,
			Start:       dateOfDay(b.start),
			End:         dateOfDay(b.end),
			Target:      b.required(),
			ExactTarget: math.Round(b.exact*100) / 100,
			Scaled:      !b.uniform,
			Actual:      b.actual,
			Status:      b.st,
		})
	}
	return out
}

// commitmentBuckets reads a commitment's definitions and activities and
// returns its buckets overlapping from..to, each with its status as of
// today.
func commitmentBuckets(ctx context.Context, db *sql.DB, c query.Commitment, from, to, today events.Date, kind string) ([]cmtBucket, error) {
	lo, hi, ok := bucketDays(c, from, to)
	if !ok {
		return nil, nil
	}
	defs, err := cmtDefinitions(ctx, db, c.ID)
	if err != nil {
		return nil, err
	}
	counts := map[int]int{}
	rows, err := db.QueryContext(ctx, `SELECT occurred_on, sum(count) FROM cmt_activities
		WHERE commitment_id = ? AND occurred_on >= ? AND occurred_on <= ? GROUP BY occurred_on`,
		c.ID, dateOfDay(lo).String(), dateOfDay(hi).String())
	if err != nil {
		return nil, fmt.Errorf("compliance %s: %w", c.ID, err)
	}
	for rows.Next() {
		var day string
		var n int
		if err := rows.Scan(&day, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compliance %s: %w", c.ID, err)
		}
		if d, err := events.ParseDate(day); err == nil {
			counts[dayOf(d)] += n
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("compliance %s: %w", c.ID, err)
	}
	return bucketsOf(defs, counts, lo, hi, from, to, today, kind), nil
}

// bucketDays is the range of days lo..hi a commitment's buckets that
// overlap from..to are cut from; ok is false when there is none.
func bucketDays(c query.Commitment, from, to events.Date) (lo, hi int, ok bool) {
	first, last := dayOf(c.Start), dayOf(c.End)
	if c.Ended && !c.EndedOn.IsZero() {
		last = min(last, dayOf(c.EndedOn))
	}
	// A bucket overlapping from..to lies within a quarter of it.
	lo, hi = max(first, dayOf(from)-92), min(last, dayOf(to)+92)
	return lo, hi, !c.Start.IsZero() && !c.End.IsZero() && lo <= hi
}

// bucketsOf cuts the days lo..hi of a commitment with definitions defs and
// activities counts (by day number) into buckets, keeps those overlapping
// from..to, and gives each its status as of today.
func bucketsOf(defs []cmtDef, counts map[int]int, lo, hi int, from, to, today events.Date, kind string) []cmtBucket {
	bs := cmtBuckets(defs, lo, hi, kind, counts)
	f, t, now := dayOf(from), dayOf(to), dayOf(today)
	out := bs[:0]
	for _, b := range bs {
		if b.end < f || b.start > t {
			continue
		}
		b.st = b.status(now)
		out = append(out, b)
	}
	return out
}

func cmtDefinitions(ctx context.Context, db *sql.DB, id string) ([]cmtDef, error) {
	rows, err := db.QueryContext(ctx, `SELECT seq, effective, target, period FROM cmt_definitions
		WHERE commitment_id = ? ORDER BY effective, seq`, id)
	if err != nil {
		return nil, fmt.Errorf("definitions of %s: %w", id, err)
	}
	defer rows.Close()
	var defs []cmtDef
	for rows.Next() {
		var d cmtDef
		var eff string
		if err := rows.Scan(&d.seq, &eff, &d.target, &d.period); err != nil {
			return nil, fmt.Errorf("definitions of %s: %w", id, err)
		}
		d.effective = math.MinInt
		if day, err := events.ParseDate(eff); err == nil && !day.IsZero() {
			d.effective = dayOf(day)
		}
		defs = append(defs, d)
	}
	return defs, rows.Err()
}

// cmtBuckets cuts the active days lo..hi into buckets and sums each
// bucket's share of the target and its activities. With kind empty the
// buckets are the periods of the definition in force each day (a change of
// period kind cuts a bucket short); otherwise they are periods of kind.
func cmtBuckets(defs []cmtDef, lo, hi int, kind string, counts map[int]int) []cmtBucket {
	if len(defs) == 0 {
		return nil
	}
	var out []cmtBucket
	cur := -1         // index of the open bucket in out
	curEnd := 0       // last day of the open bucket's calendar period
	di, prev := 0, -1 // definition in force today, and yesterday
	shareEnd := math.MinInt
	var share float64
	for day := lo; day <= hi; day++ {
		for di+1 < len(defs) && defs[di+1].effective <= day {
			di++
		}
		def := defs[di]
		bk := kind
		if bk == "" {
			bk = def.period
		}
		// Each day carries target / length of its own period.
		if day > shareEnd || di != prev {
			ps, pe := periodBounds(def.period, day)
			share = float64(def.target) / float64(pe-ps+1)
			shareEnd = pe
		}
		if cur < 0 || day > curEnd || out[cur].kind != bk {
			var ps int
			ps, curEnd = periodBounds(bk, day)
			out = append(out, cmtBucket{kind: bk, start: day, uniform: ps == day})
			cur = len(out) - 1
		} else if di != prev && defs[prev].target != def.target {
			out[cur].uniform = false
		}
		b := &out[cur]
		if def.period != bk {
			b.uniform = false
		}
		prev = di
		b.end = day
		b.exact += share
		b.actual += counts[day]
	}
	// A whole period is one that was not cut short at its end either.
	for i := range out {
		if out[i].uniform {
			_, pe := periodBounds(out[i].kind, out[i].start)
			out[i].uniform = pe == out[i].end
		}
	}
	return out
}

// periodBounds returns the first and last day numbers of the calendar
// period of kind (ISO week Monday to Sunday, month, quarter) holding day.
func periodBounds(kind string, day int) (int, int) {
	d := dateOfDay(day)
	switch kind {
	case events.PeriodMonth:
		s := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		return unixDay(s), unixDay(s.AddDate(0, 1, 0)) - 1
	case events.PeriodQuarter:
		m := time.Month((int(d.Month())-1)/3*3 + 1)
		s := time.Date(d.Year(), m, 1, 0, 0, 0, 0, time.UTC)
		return unixDay(s), unixDay(s.AddDate(0, 3, 0)) - 1
	default: // week, and anything unknown, which Apply never stores
		wd := (int(d.Weekday()) + 6) % 7 // Monday 0
		return day - wd, day - wd + 6
	}
}

// dayOf numbers days from 1970-01-01 (day 0), so that day arithmetic is
// integer arithmetic.
func dayOf(d events.Date) int { return unixDay(d.Time(time.UTC)) }

func unixDay(t time.Time) int { return int(t.Unix() / 86400) }

func dateOfDay(n int) events.Date { return events.DateFrom(time.Unix(int64(n)*86400, 0), time.UTC) }

// ---- helpers shared by the queries of this file, audit.go and asof.go ----

// parseParams decodes a query's params strictly: unknown fields are
// rejected, so that a misspelt filter fails instead of being ignored. Then
// it runs the params' Validate, if any. Errors are CodeInvalid.
func parseParams(raw json.RawMessage, p any) error {
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			var de *events.Error
			if errors.As(err, &de) {
				return &events.Error{Code: events.CodeInvalid, Message: "invalid params", Fields: []events.FieldError{events.Fault("params", events.ProblemInvalid, de.Message)}}
			}
			return events.Invalid("params", paramsProblem(err))
		}
		if dec.More() {
			return events.Invalid("params", "must be one JSON object")
		}
	}
	if v, ok := p.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// paramsProblem words a JSON decoding error for the caller, naming the
// field when the decoder knows it.
func paramsProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: must be a JSON %s", te.Field, te.Type)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return "malformed JSON: " + msg
}

// pageSize applies the default page size.
func pageSize(limit int) int {
	if limit <= 0 {
		return query.DefaultPageSize
	}
	return min(limit, query.MaxPageSize)
}

// makeCursor packs the sort key and id of the last row of a page into an
// opaque string.
func makeCursor(parts ...string) string {
	b, _ := json.Marshal(parts)
	return base64.RawURLEncoding.EncodeToString(b)
}

// readCursor unpacks a cursor of n parts made by makeCursor; anything else
// is a CodeInvalid error naming "cursor".
func readCursor(cursor string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	var parts []string
	if err == nil {
		err = json.Unmarshal(b, &parts)
	}
	if err != nil || len(parts) != n {
		return nil, events.Invalid("cursor", "is not a cursor of this query")
	}
	return parts, nil
}

// queryToday is the request's today, or today in China Standard Time when
// the caller did not say.
func queryToday(req query.Request) events.Date {
	if !req.Today.IsZero() {
		return req.Today
	}
	return events.DateFrom(time.Now(), chinaZone)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
