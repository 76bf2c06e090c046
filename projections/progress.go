package projections

// The progress view: counters the ledger projection keeps beside its items
// so that a summary or a trend never reads the items themselves.
//
//   - prog_counts: per (unit, cycle, category) the items in each status,
//     and the closed ones verified on or before their deadline.
//   - prog_due: unfinished items per (unit, cycle, category, deadline), from
//     which overdue and red/yellow/green follow for any today.
//   - prog_daily: per (unit, cycle, category, day) the change of the open
//     and closed counts that day, and the items raised and verified. A
//     trend starts from the current counts and walks back through the days.
//
// Each item event computes the item's contribution to these tables before
// and after the event and moves the difference, so a change of unit,
// cycle, category, deadline or status is exact whatever its order. The
// moves of a batch are summed in memory and written once (Ledger.Flush).

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

var progressSchema = []string{
	`CREATE TABLE prog_counts (
		unit_id        TEXT NOT NULL,
		cycle_id       TEXT NOT NULL,
		category       TEXT NOT NULL,
		raised         INTEGER NOT NULL,
		assigned       INTEGER NOT NULL,
		in_progress    INTEGER NOT NULL,
		submitted      INTEGER NOT NULL,
		closed         INTEGER NOT NULL,
		withdrawn      INTEGER NOT NULL,
		closed_on_time INTEGER NOT NULL,
		PRIMARY KEY (unit_id, cycle_id, category)
	) WITHOUT ROWID`,
	`CREATE TABLE prog_due (
		unit_id  TEXT NOT NULL,
		cycle_id TEXT NOT NULL,
		category TEXT NOT NULL,
		deadline TEXT NOT NULL,
		n        INTEGER NOT NULL,
		PRIMARY KEY (unit_id, cycle_id, category, deadline)
	) WITHOUT ROWID`,
	// A summary reads only the red and yellow buckets: deadlines up to
	// today plus the yellow window.
	`CREATE INDEX prog_due_deadline ON prog_due (deadline, n)`,
	`CREATE TABLE prog_daily (
		unit_id  TEXT NOT NULL,
		cycle_id TEXT NOT NULL,
		category TEXT NOT NULL,
		day      TEXT NOT NULL,
		d_open   INTEGER NOT NULL,
		d_closed INTEGER NOT NULL,
		raised   INTEGER NOT NULL,
		verified INTEGER NOT NULL,
		PRIMARY KEY (unit_id, cycle_id, category, day)
	) WITHOUT ROWID`,
	// A trend reads the days from its start onwards.
	`CREATE INDEX prog_daily_day ON prog_daily (day)`,
}

// itemContrib is what one item adds to the progress tables.
type itemContrib struct {
	exists                bool
	unit, cycle, category string
	status                events.ItemStatus
	onTime                bool
	deadline              string // for unfinished items only
	open, closed          bool
}

func contribOf(r *itemRow) itemContrib {
	if !r.Exists() {
		return itemContrib{}
	}
	c := itemContrib{exists: true, unit: r.UnitID, cycle: r.CycleID, category: r.Category, status: r.Status,
		onTime: r.OnTime(), open: !r.Status.Finished(), closed: r.Status == events.StatusClosed}
	if c.open {
		c.deadline = dateText(r.Deadline)
	}
	return c
}

// The columns of prog_counts after the key, in order; tallyClosedOnTime is
// not a status.
const (
	tallyRaised = iota
	tallyAssigned
	tallyInProgress
	tallySubmitted
	tallyClosed
	tallyWithdrawn
	tallyClosedOnTime
	tallyRed
	tallyYellow
	tallyLen
)

// tallyStatuses maps the status columns of a tally to their statuses.
var tallyStatuses = [...]events.ItemStatus{
	tallyRaised: events.StatusRaised, tallyAssigned: events.StatusAssigned, tallyInProgress: events.StatusInProgress,
	tallySubmitted: events.StatusSubmitted, tallyClosed: events.StatusClosed, tallyWithdrawn: events.StatusWithdrawn,
}

// progTally is counts of items: per status, closed on time, red and
// yellow.
type progTally [tallyLen]int

func (t *progTally) add(o *progTally) {
	for i := range t {
		t[i] += o[i]
	}
}

func (t *progTally) counts() query.Counts {
	c := query.Counts{ByStatus: make(map[events.ItemStatus]int, len(tallyStatuses))}
	for i, s := range tallyStatuses {
		c.ByStatus[s] = t[i]
		c.Total += t[i]
		if !s.Finished() {
			c.Open += t[i]
		}
	}
	c.Closed, c.Withdrawn, c.ClosedOnTime = t[tallyClosed], t[tallyWithdrawn], t[tallyClosedOnTime]
	if d := c.Total - c.Withdrawn; d > 0 {
		share := float64(c.Closed) / float64(d)
		c.ClosedShare = &share
	}
	if c.Closed > 0 {
		rate := float64(c.ClosedOnTime) / float64(c.Closed)
		c.OnTimeRate = &rate
	}
	c.Red, c.Yellow = t[tallyRed], t[tallyYellow]
	c.Green = c.Open - c.Red - c.Yellow
	c.Overdue = c.Red
	return c
}

type (
	bucketKey struct{ unit, cycle, category string }
	dueKey    struct{ unit, cycle, category, deadline string }
	dailyKey  struct{ unit, cycle, category, day string }
)

type dailyDelta struct{ open, closed, raised, verified int }

// progress buffers the moves of the counters of one batch.
type progress struct {
	counts map[bucketKey]*progTally
	due    map[dueKey]int
	daily  map[dailyKey]*dailyDelta
}

func newProgress() progress {
	return progress{counts: map[bucketKey]*progTally{}, due: map[dueKey]int{}, daily: map[dailyKey]*dailyDelta{}}
}

// move moves the item's contribution from old to row.
func (pr *progress) move(e events.Event, p events.Payload, old, row *itemRow) {
	before, after := contribOf(old), contribOf(row)
	day := dateText(eventDay(e))
	delta := func(c itemContrib) *dailyDelta {
		k := dailyKey{c.unit, c.cycle, c.category, day}
		d := pr.daily[k]
		if d == nil {
			d = &dailyDelta{}
			pr.daily[k] = d
		}
		return d
	}
	if before != after {
		for _, side := range []struct {
			c    itemContrib
			sign int
		}{{before, -1}, {after, +1}} {
			c := side.c
			if !c.exists {
				continue
			}
			k := bucketKey{c.unit, c.cycle, c.category}
			t := pr.counts[k]
			if t == nil {
				t = &progTally{}
				pr.counts[k] = t
			}
			if i := slices.Index(tallyStatuses[:], c.status); i >= 0 {
				t[i] += side.sign
			}
			if c.closed && c.onTime {
				t[tallyClosedOnTime] += side.sign
			}
			d := delta(c)
			if c.open {
				pr.due[dueKey{c.unit, c.cycle, c.category, c.deadline}] += side.sign
				d.open += side.sign
			}
			if c.closed {
				d.closed += side.sign
			}
		}
	}
	if _, ok := p.(events.ItemRaisedData); ok && !before.exists {
		delta(after).raised++
	}
	if _, ok := p.(events.ItemVerifiedData); ok && after.closed && !before.closed {
		delta(after).verified++
	}
}

// flush adds the buffered moves to the tables, many rows per statement,
// in key order so that the writes do not depend on map order. Rows that
// reach zero are dropped so that summaries read only live rows, and so
// that the tables do not depend on where batches began and ended.
func (pr *progress) flush(ctx context.Context, tx *Tx) error {
	var up, del []any
	for _, k := range slices.SortedFunc(maps.Keys(pr.counts), compareBuckets) {
		t := pr.counts[k]
		if *t == (progTally{}) {
			continue
		}
		up = append(up, k.unit, k.cycle, k.category, t[tallyRaised], t[tallyAssigned], t[tallyInProgress], t[tallySubmitted],
			t[tallyClosed], t[tallyWithdrawn], t[tallyClosedOnTime])
		if slices.ContainsFunc(t[:], func(n int) bool { return n < 0 }) {
			del = append(del, k.unit, k.cycle, k.category)
		}
	}
	if err := execRows(ctx, tx, `INSERT INTO prog_counts (unit_id, cycle_id, category,
			raised, assigned, in_progress, submitted, closed, withdrawn, closed_on_time) VALUES `,
		` ON CONFLICT DO UPDATE SET raised = raised + excluded.raised, assigned = assigned + excluded.assigned,
			in_progress = in_progress + excluded.in_progress, submitted = submitted + excluded.submitted,
			closed = closed + excluded.closed, withdrawn = withdrawn + excluded.withdrawn,
			closed_on_time = closed_on_time + excluded.closed_on_time`, 10, up); err != nil {
		return fmt.Errorf("progress counts: %w", err)
	}
	if err := execRows(ctx, tx, `DELETE FROM prog_counts WHERE raised = 0 AND assigned = 0 AND in_progress = 0
			AND submitted = 0 AND closed = 0 AND withdrawn = 0 AND (unit_id, cycle_id, category) IN (VALUES `, `)`, 3, del); err != nil {
		return fmt.Errorf("progress counts: %w", err)
	}
	up, del = up[:0], del[:0]
	for _, k := range slices.SortedFunc(maps.Keys(pr.due), compareDue) {
		n := pr.due[k]
		if n == 0 {
			continue
		}
		up = append(up, k.unit, k.cycle, k.category, k.deadline, n)
		if n < 0 {
			del = append(del, k.unit, k.cycle, k.category, k.deadline)
		}
	}
	if err := execRows(ctx, tx, `INSERT INTO prog_due (unit_id, cycle_id, category, deadline, n) VALUES `,
		` ON CONFLICT DO UPDATE SET n = n + excluded.n`, 5, up); err != nil {
		return fmt.Errorf("progress due: %w", err)
	}
	if err := execRows(ctx, tx, `DELETE FROM prog_due WHERE n = 0 AND (unit_id, cycle_id, category, deadline) IN (VALUES `, `)`, 4, del); err != nil {
		return fmt.Errorf("progress due: %w", err)
	}
	up, del = up[:0], del[:0]
	for _, k := range slices.SortedFunc(maps.Keys(pr.daily), compareDaily) {
		d := pr.daily[k]
		if *d == (dailyDelta{}) {
			continue
		}
		up = append(up, k.unit, k.cycle, k.category, k.day, d.open, d.closed, d.raised, d.verified)
		if d.raised == 0 && d.verified == 0 {
			// Only moves: the day may be back to nothing (an item moved
			// away and back on one day).
			del = append(del, k.unit, k.cycle, k.category, k.day)
		}
	}
	if err := execRows(ctx, tx, `INSERT INTO prog_daily (unit_id, cycle_id, category, day, d_open, d_closed, raised, verified) VALUES `,
		` ON CONFLICT DO UPDATE SET d_open = d_open + excluded.d_open, d_closed = d_closed + excluded.d_closed,
			raised = raised + excluded.raised, verified = verified + excluded.verified`, 8, up); err != nil {
		return fmt.Errorf("progress daily: %w", err)
	}
	if err := execRows(ctx, tx, `DELETE FROM prog_daily WHERE d_open = 0 AND d_closed = 0 AND raised = 0 AND verified = 0
			AND (unit_id, cycle_id, category, day) IN (VALUES `, `)`, 4, del); err != nil {
		return fmt.Errorf("progress daily: %w", err)
	}
	clear(pr.counts)
	clear(pr.due)
	clear(pr.daily)
	return nil
}

// mergeInto adds the buffered moves to tot, the counters of a bulk load
// (see ledgerBulk), exactly as flush adds them to the tables, keeping and
// dropping the same rows, and clears them.
func (pr *progress) mergeInto(tot *progress) {
	for k, t := range pr.counts {
		if *t == (progTally{}) {
			continue
		}
		c := tot.counts[k]
		if c == nil {
			c = &progTally{}
			tot.counts[k] = c
		}
		for i := range tallyClosedOnTime + 1 {
			c[i] += t[i]
		}
		if slices.ContainsFunc(t[:], func(n int) bool { return n < 0 }) && statusesZero(c) {
			delete(tot.counts, k)
		}
	}
	for k, n := range pr.due {
		if n == 0 {
			continue
		}
		tot.due[k] += n
		if n < 0 && tot.due[k] == 0 {
			delete(tot.due, k)
		}
	}
	for k, d := range pr.daily {
		if *d == (dailyDelta{}) {
			continue
		}
		c := tot.daily[k]
		if c == nil {
			c = &dailyDelta{}
			tot.daily[k] = c
		}
		c.open, c.closed, c.raised, c.verified = c.open+d.open, c.closed+d.closed, c.raised+d.raised, c.verified+d.verified
		if *c == (dailyDelta{}) {
			delete(tot.daily, k)
		}
	}
	clear(pr.counts)
	clear(pr.due)
	clear(pr.daily)
}

// statusesZero reports whether a row of prog_counts counts no item in any
// status: flush deletes such rows.
func statusesZero(t *progTally) bool {
	for i := range tallyStatuses {
		if t[i] != 0 {
			return false
		}
	}
	return true
}

// writeAll writes the counters of a bulk load into the empty tables, in
// key order.
func (pr *progress) writeAll(ctx context.Context, tx *Tx) error {
	rows := make([]any, 0, 10*rowsPerStatement)
	for keys := range slices.Chunk(slices.SortedFunc(maps.Keys(pr.counts), compareBuckets), rowsPerStatement) {
		for _, k := range keys {
			t := pr.counts[k]
			rows = append(rows, k.unit, k.cycle, k.category, t[tallyRaised], t[tallyAssigned], t[tallyInProgress], t[tallySubmitted],
				t[tallyClosed], t[tallyWithdrawn], t[tallyClosedOnTime])
		}
		if err := execRows(ctx, tx, `INSERT INTO prog_counts (unit_id, cycle_id, category,
				raised, assigned, in_progress, submitted, closed, withdrawn, closed_on_time) VALUES `, ``, 10, rows); err != nil {
			return fmt.Errorf("progress counts: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	for keys := range slices.Chunk(slices.SortedFunc(maps.Keys(pr.due), compareDue), rowsPerStatement) {
		for _, k := range keys {
			rows = append(rows, k.unit, k.cycle, k.category, k.deadline, pr.due[k])
		}
		if err := execRows(ctx, tx, `INSERT INTO prog_due (unit_id, cycle_id, category, deadline, n) VALUES `, ``, 5, rows); err != nil {
			return fmt.Errorf("progress due: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	for keys := range slices.Chunk(slices.SortedFunc(maps.Keys(pr.daily), compareDaily), rowsPerStatement) {
		for _, k := range keys {
			d := pr.daily[k]
			rows = append(rows, k.unit, k.cycle, k.category, k.day, d.open, d.closed, d.raised, d.verified)
		}
		if err := execRows(ctx, tx, `INSERT INTO prog_daily (unit_id, cycle_id, category, day, d_open, d_closed, raised, verified) VALUES `,
			``, 8, rows); err != nil {
			return fmt.Errorf("progress daily: %w", err)
		}
		clear(rows)
		rows = rows[:0]
	}
	return nil
}

// The orders of the counters' keys, which are the tables' keys.

func compareBuckets(a, b bucketKey) int {
	return compareStrings(a.unit, b.unit, a.cycle, b.cycle, a.category, b.category, "", "")
}

func compareDue(a, b dueKey) int {
	return compareStrings(a.unit, b.unit, a.cycle, b.cycle, a.category, b.category, a.deadline, b.deadline)
}

func compareDaily(a, b dailyKey) int {
	return compareStrings(a.unit, b.unit, a.cycle, b.cycle, a.category, b.category, a.day, b.day)
}

// compareStrings compares the tuples (a1, a2, a3, a4) and (b1, b2, b3,
// b4), given in pairs, stopping at the first pair that differs.
func compareStrings(a1, b1, a2, b2, a3, b3, a4, b4 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	if c := strings.Compare(a2, b2); c != 0 {
		return c
	}
	if c := strings.Compare(a3, b3); c != 0 {
		return c
	}
	return strings.Compare(a4, b4)
}

// rowsPerStatement is how many rows execRows writes per statement: enough
// to spread a statement's fixed cost, few enough to stay far below
// SQLite's limit on parameters.
const rowsPerStatement = 64

// execRows runs head + "(?, ...), (?, ...)" + tail for the rows of width
// arguments each in args, rowsPerStatement rows at a time.
func execRows(ctx context.Context, tx *Tx, head, tail string, width int, args []any) error {
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	for len(args) > 0 {
		n := min(len(args)/width, rowsPerStatement)
		q := head + row + strings.Repeat(", "+row, n-1) + tail
		if err := tx.execMany(ctx, q, args[:n*width]); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// ---- queries ----

// progressSelection is the condition choosing the progress rows of a
// query: scope, unit subtree, cycle and category.
func progressSelection(req query.Request, unit, cycle, category string) *where {
	w := &where{}
	if c, a := scopeFilter("unit_id", req.Scope); c != "1" {
		w.add(c, a...)
	}
	if unit != "" {
		c, a := subtreeOf("unit_id", unit)
		w.add(c, a...)
	}
	if cycle != "" {
		w.add("cycle_id = ?", cycle)
	}
	if category != "" {
		w.add("category = ?", category)
	}
	return w
}

func progressSummary(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.SummaryParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	today := queryToday(req)
	yellow := query.YellowWindow(p.YellowDays)
	w := progressSelection(req, p.UnitID, p.CycleID, p.Category)

	parts := map[bucketKey]*progTally{}
	part := func(k bucketKey) *progTally {
		t := parts[k]
		if t == nil {
			t = &progTally{}
			parts[k] = t
		}
		return t
	}
	rows, err := readQuery(ctx, db, `SELECT unit_id, cycle_id, category,
			raised, assigned, in_progress, submitted, closed, withdrawn, closed_on_time
		FROM prog_counts WHERE `+w.sql(), w.args...)
	if err != nil {
		return nil, fmt.Errorf("progress summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k bucketKey
		var t progTally
		if err := rows.Scan(&k.unit, &k.cycle, &k.category, &t[tallyRaised], &t[tallyAssigned], &t[tallyInProgress],
			&t[tallySubmitted], &t[tallyClosed], &t[tallyWithdrawn], &t[tallyClosedOnTime]); err != nil {
			return nil, fmt.Errorf("progress summary: %w", err)
		}
		part(k).add(&t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("progress summary: %w", err)
	}
	rows.Close()
	// Green is what is open and neither red nor yellow, so only the
	// buckets due up to the end of the yellow window are read.
	args := append([]any{today.String(), today.AddDays(yellow).String()}, w.args...)
	rows, err = readQuery(ctx, db, `SELECT unit_id, cycle_id, category,
			sum(CASE WHEN deadline < ?1 THEN n ELSE 0 END), sum(CASE WHEN deadline >= ?1 THEN n ELSE 0 END)
		FROM prog_due WHERE deadline <> '' AND deadline <= ?2 AND `+w.sql()+` GROUP BY unit_id, cycle_id, category`, args...)
	if err != nil {
		return nil, fmt.Errorf("progress summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k bucketKey
		var red, yel int
		if err := rows.Scan(&k.unit, &k.cycle, &k.category, &red, &yel); err != nil {
			return nil, fmt.Errorf("progress summary: %w", err)
		}
		t := part(k)
		t[tallyRed] += red
		t[tallyYellow] += yel
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("progress summary: %w", err)
	}
	tree, err := loadUnitTree(ctx, db, req.Scope, p.UnitID)
	if err != nil {
		return nil, err
	}
	names, err := cycleNames(ctx, db)
	if err != nil {
		return nil, err
	}
	return summarize(&p, today, yellow, parts, tree, names), nil
}

// summarize adds up the counts of the buckets in parts (by unit, cycle and
// category, red and yellow included) for the units of tree, their
// subtrees, the categories and the cycles.
func summarize(p *query.SummaryParams, today events.Date, yellow int, parts map[bucketKey]*progTally, tree *unitTree, names map[string]string) query.Summary {
	var total progTally
	own := map[string]*progTally{}
	byCategory := map[string]*progTally{}
	byCycle := map[string]*progTally{}
	into := func(m map[string]*progTally, k string, t *progTally) {
		if m[k] == nil {
			m[k] = &progTally{}
		}
		m[k].add(t)
	}
	for k, t := range parts {
		total.add(t)
		into(own, k.unit, t)
		into(byCategory, k.category, t)
		into(byCycle, k.cycle, t)
	}
	// Pre-order lists children after their parent: walking it backwards
	// sums every subtree before its parent needs it.
	sub := make([]progTally, len(tree.Nodes))
	for i := len(tree.Nodes) - 1; i >= 0; i-- {
		n := tree.Nodes[i]
		if t := own[n.ID]; t != nil {
			sub[i].add(t)
		}
		if j, ok := tree.index[n.ParentID]; ok {
			sub[j].add(&sub[i])
		}
	}
	out := query.Summary{
		Today: today, YellowDays: yellow, Total: total.counts(),
		Units: []query.UnitProgress{}, Categories: []query.CategoryProgress{}, Cycles: []query.CycleProgress{},
	}
	for i, n := range tree.Nodes {
		if p.Depth > 0 && n.Depth > p.Depth {
			continue
		}
		o := own[n.ID]
		if o == nil {
			o = &progTally{}
		}
		out.Units = append(out.Units, query.UnitProgress{
			UnitID: n.ID, ParentID: n.ParentID, Name: n.Name, Kind: n.Kind, Retired: n.Retired, Depth: n.Depth,
			Own: o.counts(), Subtree: sub[i].counts(),
		})
	}
	for _, c := range slices.Sorted(maps.Keys(byCategory)) {
		out.Categories = append(out.Categories, query.CategoryProgress{Category: c, Counts: byCategory[c].counts()})
	}
	for _, c := range slices.Sorted(maps.Keys(byCycle)) {
		out.Cycles = append(out.Cycles, query.CycleProgress{CycleID: c, CycleName: names[c], Counts: byCycle[c].counts()})
	}
	return out
}

func cycleNames(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := readQuery(ctx, db, `SELECT cycle_id, name FROM cycles`)
	if err != nil {
		return nil, fmt.Errorf("cycle names: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("cycle names: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

// weekStart is the Monday of d's ISO week.
func weekStart(d events.Date) events.Date {
	return d.AddDays(-((int(d.Weekday()) + 6) % 7))
}

// trendDay is one day of prog_daily, summed over the selected buckets.
type trendDay struct {
	day                              events.Date
	dOpen, dClosed, raised, verified int
}

// trendRange is the range and step of a trend: its parameters' or their
// defaults for today.
func trendRange(p *query.TrendParams, today events.Date) (from, to events.Date, step int, err error) {
	to = p.To
	if to.IsZero() {
		to = today
	}
	from = p.From
	step = 1
	if p.Interval == query.IntervalWeek {
		step = 7
		to = weekStart(to).AddDays(6)
		if from.IsZero() {
			from = to.AddDays(-6 - 7*11)
		}
		from = weekStart(from)
	} else if from.IsZero() {
		from = to.AddDays(-29)
	}
	if to.Before(from) {
		return from, to, step, events.Invalid("from", "must not be after to")
	}
	if n := int(to.Time(time.UTC).Sub(from.Time(time.UTC)).Hours()/24)/step + 1; n > query.MaxTrendPoints {
		return from, to, step, events.Invalid("from", fmt.Sprintf("the range holds more than %d points", query.MaxTrendPoints))
	}
	return from, to, step, nil
}

func progressTrend(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.TrendParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	from, to, step, err := trendRange(&p, queryToday(req))
	if err != nil {
		return nil, err
	}
	w := progressSelection(req, p.UnitID, p.CycleID, p.Category)
	// The counts now, then back through the days: only the days from the
	// trend's start on are read, however long the history.
	var open, closed int
	if err := readQueryRow(ctx, db, `SELECT coalesce(sum(raised + assigned + in_progress + submitted), 0), coalesce(sum(closed), 0)
		FROM prog_counts WHERE `+w.sql(), w.args...).Scan(&open, &closed); err != nil {
		return nil, fmt.Errorf("progress trend: %w", err)
	}
	w.add("day >= ?", from.String())
	rows, err := readQuery(ctx, db, `SELECT day, sum(d_open), sum(d_closed), sum(raised), sum(verified)
		FROM prog_daily WHERE `+w.sql()+` GROUP BY day ORDER BY day`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("progress trend: %w", err)
	}
	defer rows.Close()
	var days []trendDay
	for rows.Next() {
		var r trendDay
		var dayText string
		if err := rows.Scan(&dayText, &r.dOpen, &r.dClosed, &r.raised, &r.verified); err != nil {
			return nil, fmt.Errorf("progress trend: %w", err)
		}
		if r.day, err = events.ParseDate(dayText); err != nil {
			continue // written by Date.String; never happens
		}
		days = append(days, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("progress trend: %w", err)
	}
	return trendOf(&p, from, to, step, open, closed, days), nil
}

// trendOf walks back from the counts now (open, closed) through the days
// (in order, from the trend's start on) to each point of the trend.
func trendOf(p *query.TrendParams, from, to events.Date, step, open, closed int, days []trendDay) query.Trend {
	var points []query.TrendPoint
	for start := from; !start.After(to); start = start.AddDays(step) {
		points = append(points, query.TrendPoint{Start: start, End: start.AddDays(step - 1)})
	}
	// Walk back from the newest day: a point's counts are today's minus
	// every change after its last day.
	i := len(days) - 1
	for j := len(points) - 1; j >= 0; j-- {
		pt := &points[j]
		for ; i >= 0 && days[i].day.After(pt.End); i-- {
			open -= days[i].dOpen
			closed -= days[i].dClosed
		}
		pt.Open, pt.Closed = open, closed
		for k := i; k >= 0 && !days[k].day.Before(pt.Start); k-- {
			pt.Raised += days[k].raised
			pt.Verified += days[k].verified
		}
	}
	return query.Trend{Interval: p.Interval, From: from, To: to, Points: points}
}
