package projections

// The audit view: one entry per stored event (who, what, when, which
// aggregate of which unit, the fields it changed before and after) answering
// "timeline" and "feed", and the raw event of every stream, from which
// asof.go folds any aggregate as it stood at a past position or time.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"rectify/events"
	"rectify/projections/query"
)

// Audit is the audit projection; it also answers the as-of queries.
type Audit struct{}

var (
	_ Queryable  = Audit{}
	_ Flusher    = Audit{}
	_ BulkLoader = Audit{}
)

// Name implements Projection.
func (Audit) Name() string { return "audit" }

var auditSchema = []string{
	// data is the payload as stored, at its stored schema version: as-of
	// folds decode (and so upcast) it like any reader of the store.
	// unit_id, status and deadline are the aggregate's after the event: the
	// latest row of a stream is what the next event's "before" is read from.
	`CREATE TABLE audit_events (
		position       INTEGER PRIMARY KEY,
		stream         TEXT NOT NULL,
		revision       INTEGER NOT NULL,
		event_id       TEXT NOT NULL,
		type           TEXT NOT NULL,
		version        INTEGER NOT NULL,
		time           INTEGER NOT NULL,
		actor          TEXT NOT NULL,
		correlation_id TEXT NOT NULL,
		causation_id   TEXT NOT NULL,
		unit_id        TEXT NOT NULL,
		status         TEXT NOT NULL,
		deadline       TEXT NOT NULL,
		note           TEXT NOT NULL,
		changes        TEXT,
		data           BLOB NOT NULL
	)`,
	`CREATE INDEX audit_events_stream ON audit_events (stream, position)`,
	`CREATE INDEX audit_events_actor ON audit_events (actor, position)`,
	`CREATE INDEX audit_events_unit ON audit_events (unit_id, position)`,
	// Event times need not grow with positions (command handlers have
	// clocks of their own), so a time range is turned into a position range
	// through the lowest and highest position seen in each hour: a tiny
	// table always written at its end, cheaper than an index on time, and
	// kept by a trigger so that an event costs one statement from Go.
	`CREATE TABLE audit_clock (
		hour    INTEGER PRIMARY KEY,
		min_pos INTEGER NOT NULL,
		max_pos INTEGER NOT NULL
	)`,
	`CREATE TRIGGER audit_clock_insert AFTER INSERT ON audit_events BEGIN
		INSERT INTO audit_clock (hour, min_pos, max_pos)
		VALUES ((NEW.time - (NEW.time % 3600000000000 + 3600000000000) % 3600000000000) / 3600000000000, NEW.position, NEW.position)
		ON CONFLICT (hour) DO UPDATE SET min_pos = min(min_pos, excluded.min_pos), max_pos = max(max_pos, excluded.max_pos);
	END`,
	`CREATE TABLE audit_users (
		user_id TEXT PRIMARY KEY,
		name    TEXT NOT NULL
	) WITHOUT ROWID`,
	// The title or name of every aggregate, by stream, as it is now: the
	// feed shows what an entry is about without a lookup per entry.
	// Written when an event names it, so once per item or commitment
	// rather than once per entry.
	`CREATE TABLE audit_titles (
		stream TEXT PRIMARY KEY,
		title  TEXT NOT NULL
	) WITHOUT ROWID`,
}

// Migrate implements Projection.
func (Audit) Migrate(ctx context.Context, tx *sql.Tx) error {
	if err := unitsMigrate(ctx, tx); err != nil {
		return err
	}
	for _, s := range auditSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("audit schema: %w", err)
		}
	}
	return nil
}

// DigestQueries implements Projection.
func (Audit) DigestQueries() []string {
	return append(slices.Clone(unitsDigestQueries),
		`SELECT * FROM audit_events ORDER BY position`,
		`SELECT * FROM audit_clock ORDER BY hour`,
		`SELECT * FROM audit_users ORDER BY user_id`,
		`SELECT * FROM audit_titles ORDER BY stream`,
	)
}

// Commitment statuses as the audit trail shows them.
const (
	commitmentActive = "active"
	commitmentEnded  = "ended"
)

// auditState is what the audit knows of an aggregate after an event: its
// unit, status and deadline.
type auditState struct {
	unit, status, deadline string
	found                  bool
}

// auditRecord is what Apply derives from one event.
type auditRecord struct {
	unit    string
	note    string
	changes []query.FieldChange
	state   auditState // the aggregate's state after the event
}

func (r *auditRecord) change(field, before, after string) {
	if before != after {
		r.changes = append(r.changes, query.FieldChange{Field: field, Before: before, After: after})
	}
}

// Apply implements Projection. Every event is recorded, even one of a type
// this build does not know (then with no changes and no unit).
func (Audit) Apply(ctx context.Context, tx *Tx, e events.Event) error {
	var rec auditRecord
	ab := auditBulkOf(tx)
	stateful := false
	switch e.Category() {
	case events.CategoryItem, events.CategoryCommitment:
		stateful = true
	}
	p, err := tx.Decode(e)
	if err == nil {
		if _, err := unitsApply(ctx, tx, p); err != nil {
			return err
		}
		var st auditState
		switch {
		case !stateful:
		case ab != nil:
			st = ab.states[e.Stream]
		default:
			st, err = loadAuditState(ctx, tx, e.Stream)
			if err != nil {
				return err
			}
		}
		rec = auditDerive(e, p, st)
		if u, ok := p.(events.UserCreatedData); ok {
			if _, err := tx.Exec(ctx, `INSERT OR REPLACE INTO audit_users (user_id, name) VALUES (?, ?)`, u.UserID, u.Name); err != nil {
				return fmt.Errorf("audit users: %w", err)
			}
		}
		if title, ok := auditTitle(p); ok {
			if ab != nil {
				ab.titles[e.Stream] = title
			} else if _, err := tx.Exec(ctx, auditTitleUpsert+`(?, ?)`+auditTitleConflict, e.Stream, title); err != nil {
				return fmt.Errorf("audit titles: %w", err)
			}
		}
	}
	var changes any // NULL when nothing changed
	if len(rec.changes) > 0 {
		changes = changesJSON(rec.changes)
	}
	t := e.Time.UnixNano()
	if ab != nil {
		// What the next event of the stream reads back, and what the
		// deferred trigger audit_clock_insert would have kept.
		if stateful {
			ab.states[e.Stream] = auditState{unit: rec.unit, status: rec.state.status, deadline: rec.state.deadline, found: true}
		}
		ab.clock(t, e.Position)
		// Written many rows a statement by Flush: nothing reads them back
		// during the bulk load.
		ab.rows = append(ab.rows, int64(e.Position), e.Stream, int64(e.Revision), e.ID, e.Type, int64(e.Version), t, e.Actor,
			e.CorrelationID, e.CausationID, rec.unit, rec.state.status, rec.state.deadline, rec.note, changes, []byte(e.Data))
		return nil
	}
	if _, err := tx.Exec(ctx, auditInsert+auditRow,
		int64(e.Position), e.Stream, int64(e.Revision), e.ID, e.Type, int64(e.Version), t, e.Actor,
		e.CorrelationID, e.CausationID, rec.unit, rec.state.status, rec.state.deadline, rec.note, changes, []byte(e.Data)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	tx.ChangedIn(e.Stream, rec.unit)
	return nil
}

const (
	auditInsert = `INSERT INTO audit_events (position, stream, revision, event_id, type, version, time, actor,
		correlation_id, causation_id, unit_id, status, deadline, note, changes, data) VALUES `
	auditRow     = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	auditColumnN = 16
)

// Flush implements Flusher: in a bulk load it writes the batch's entries;
// otherwise Apply has written them already.
func (Audit) Flush(ctx context.Context, tx *Tx) error {
	ab := auditBulkOf(tx)
	if ab == nil {
		return nil
	}
	if err := execRows(ctx, tx, auditInsert, ``, auditColumnN, ab.rows); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	clear(ab.rows)
	ab.rows = ab.rows[:0]
	if len(ab.titles) > 0 {
		rows := make([]any, 0, 2*len(ab.titles))
		for _, stream := range slices.Sorted(maps.Keys(ab.titles)) {
			rows = append(rows, stream, ab.titles[stream])
		}
		if err := execRows(ctx, tx, auditTitleUpsert, auditTitleConflict, 2, rows); err != nil {
			return fmt.Errorf("audit titles: %w", err)
		}
		clear(ab.titles)
	}
	return nil
}

// auditTitleUpsert (with auditTitleConflict after its rows) sets the
// titles of streams.
const (
	auditTitleUpsert   = `INSERT INTO audit_titles (stream, title) VALUES `
	auditTitleConflict = ` ON CONFLICT (stream) DO UPDATE SET title = excluded.title`
)

// auditTitle is the title or name an event gives its aggregate, if any:
// an item's or commitment's title, a cycle's, unit's or user's name.
func auditTitle(p events.Payload) (string, bool) {
	switch d := p.(type) {
	case events.ItemRaisedData:
		return d.Title, true
	case events.CommitmentMadeData:
		return d.Title, true
	case events.CycleOpenedData:
		return d.Name, true
	case events.UnitRegisteredData:
		return d.Name, true
	case events.UnitRenamedData:
		return d.NewName, true
	case events.UserCreatedData:
		return d.Name, true
	}
	return "", false
}

// auditBulk is what a rebuild's bulk load of the audit view keeps in
// memory (see BulkLoader): the state of every item and commitment after
// its latest event, instead of reading it back from audit_events, and
// audit_clock, instead of its trigger. About 100 bytes per aggregate.
type auditBulk struct {
	states map[string]auditState
	hours  map[int64]*[2]uint64 // hour: lowest and highest position
	rows   []any                // the batch's entries, auditColumnN values each
	titles map[string]string    // the batch's titles, by stream
}

type auditBulkKey struct{}

// auditBulkOf returns the bulk load's state, nil outside a bulk load.
func auditBulkOf(tx *Tx) *auditBulk {
	v, ok := tx.Bulk(auditBulkKey{}, func() any {
		return &auditBulk{states: map[string]auditState{}, hours: map[int64]*[2]uint64{}, titles: map[string]string{}}
	})
	if !ok {
		return nil
	}
	return v.(*auditBulk)
}

// clock notes an event at time t (unix nanos) and position pos, as the
// trigger audit_clock_insert does.
func (ab *auditBulk) clock(t int64, pos uint64) {
	h := clockHour(t)
	if r := ab.hours[h]; r != nil {
		r[0], r[1] = min(r[0], pos), max(r[1], pos)
		return
	}
	ab.hours[h] = &[2]uint64{pos, pos}
}

// Deferred implements BulkLoader: audit_events' indexes are built once
// after the bulk load, and audit_clock is kept in memory meanwhile.
func (Audit) Deferred() []string {
	return []string{"audit_events_stream", "audit_events_actor", "audit_events_unit", "audit_clock_insert"}
}

// EndBulk implements BulkLoader: it writes audit_clock.
func (Audit) EndBulk(ctx context.Context, tx *Tx) error {
	ab := auditBulkOf(tx)
	rows := make([]any, 0, 3*len(ab.hours))
	for _, h := range slices.Sorted(maps.Keys(ab.hours)) {
		r := ab.hours[h]
		rows = append(rows, h, int64(r[0]), int64(r[1]))
	}
	if err := execRows(ctx, tx, `INSERT INTO audit_clock (hour, min_pos, max_pos) VALUES `, ``, 3, rows); err != nil {
		return fmt.Errorf("audit clock: %w", err)
	}
	return nil
}

// changesJSON is json.Marshal(changes) as a string, byte for byte, without
// reflection: every event of a rebuild writes one.
func changesJSON(changes []query.FieldChange) string {
	b := make([]byte, 0, 64*len(changes))
	b = append(b, '[')
	for i, c := range changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = appendJSONString(b, c.Field)
		b = append(b, `,"before":`...)
		b = appendJSONString(b, c.Before)
		b = append(b, `,"after":`...)
		b = appendJSONString(b, c.After)
		b = append(b, '}')
	}
	return string(append(b, ']'))
}

// appendJSONString appends s as encoding/json writes it. Text that needs
// no escaping (most) is copied; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf && plainUTF8(s[i:]) {
				break
			}
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainUTF8 reports whether s is valid UTF-8 that encoding/json copies as
// it is: no byte it escapes, and neither U+2028 nor U+2029.
func plainUTF8(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r == '\u2028', r == '\u2029', r < 0x20, r == '"', r == '\\', r == '<', r == '>', r == '&':
			return false
		}
	}
	return true
}

// clockHour is the hour (since 1970, floored) of unix nanos t, as the
// trigger audit_clock_insert computes it.
func clockHour(t int64) int64 {
	h := t / int64(time.Hour)
	if t < 0 && t%int64(time.Hour) != 0 {
		h--
	}
	return h
}

func loadAuditState(ctx context.Context, tx *Tx, stream string) (auditState, error) {
	var s auditState
	err := tx.QueryRow(ctx, `SELECT unit_id, status, deadline FROM audit_events WHERE stream = ? ORDER BY position DESC LIMIT 1`,
		stream).Scan(&s.unit, &s.status, &s.deadline)
	switch err {
	case nil:
		s.found = true
	case sql.ErrNoRows:
	default:
		return s, fmt.Errorf("audit state: %w", err)
	}
	return s, nil
}

// auditDerive works out an event's unit, reason and field changes from its
// payload and the aggregate's state before it. It is pure.
func auditDerive(e events.Event, p events.Payload, st auditState) auditRecord {
	r := auditRecord{state: st, unit: st.unit}
	switch d := p.(type) {
	// ---- cycle ----
	case events.CycleOpenedData:
		r.change("name", "", d.Name)
		r.change("kind", "", d.Kind)
		r.change("start", "", d.Start.String())
		r.change("end", "", d.End.String())
		r.change("status", "", "open")
	case events.CycleClosedData:
		r.note = d.Note
		r.change("status", "open", "closed")

	// ---- unit ----
	case events.UnitRegisteredData:
		r.unit = d.UnitID
		r.change("name", "", d.Name)
		r.change("kind", "", d.Kind)
		r.change("parent", "", d.ParentID)
	case events.UnitRenamedData:
		r.unit = d.UnitID
		r.change("name", d.OldName, d.NewName)
	case events.UnitMovedData:
		r.unit = d.UnitID
		r.change("parent", d.OldParentID, d.NewParentID)
	case events.UnitRetiredData:
		r.unit = d.UnitID
		r.note = d.Reason
		r.change("status", "active", "retired")

	// ---- item ----
	case events.ItemRaisedData:
		r.unit = d.UnitID
		r.change("title", "", d.Title)
		r.change("cycle", "", d.CycleID)
		r.change("unit", "", d.UnitID)
		r.change("category", "", d.Category)
		r.change("source", "", d.Source)
		r.change("severity", "", d.Severity)
		r.change("deadline", "", d.Deadline.String())
		r.state = auditState{unit: d.UnitID, deadline: d.Deadline.String()}
	case events.ItemAssignedData:
		r.unit = d.UnitID
		oldUnit := d.OldUnitID
		if oldUnit == "" {
			oldUnit = st.unit
		}
		r.change("unit", oldUnit, d.UnitID)
		r.change("owner", d.OldOwnerID, d.OwnerID)
		r.change("owner_name", d.OldOwnerName, d.OwnerName)
		r.state.unit = d.UnitID
	case events.ItemMeasurePlannedData:
		r.change("measure:"+d.MeasureID, "", d.Text)
	case events.ItemMeasureCompletedData:
		r.note = d.Note
		r.change("measure:"+d.MeasureID, "planned", "completed")
	case events.ItemProgressReportedData:
		r.note = d.Note
		r.change("percent", strconv.Itoa(d.OldPercent), strconv.Itoa(d.Percent))
	case events.ItemEvidenceAttachedData:
		r.change("evidence:"+d.EvidenceID, "", d.Name)
	case events.ItemDeadlineChangedData:
		r.note = d.Reason
		old := d.OldDeadline.String()
		if old == "" {
			old = st.deadline // version 1 did not record it; the view did
		}
		r.change("deadline", old, d.NewDeadline.String())
		r.state.deadline = d.NewDeadline.String()
	case events.ItemSubmittedData:
		r.note = d.Note
	case events.ItemVerifiedData:
		r.note = d.Note
	case events.ItemVerificationRejectedData:
		r.note = d.Reason
	case events.ItemReopenedData:
		r.note = d.Reason
	case events.ItemCarriedOverData:
		r.note = d.Reason
		r.change("cycle", d.FromCycleID, d.ToCycleID)
	case events.ItemWithdrawnData:
		r.note = d.Reason

	// ---- commitment ----
	case events.CommitmentMadeData:
		r.unit = d.UnitID
		r.change("title", "", d.Title)
		r.change("unit", "", d.UnitID)
		r.change("person", "", d.PersonName)
		r.change("activity", "", d.Activity)
		r.change("target", "", strconv.Itoa(d.Target))
		r.change("period", "", d.Period)
		r.change("start", "", d.Start.String())
		r.change("end", "", d.End.String())
		r.change("source", "", d.Source)
		r.change("status", "", commitmentActive)
		r.state = auditState{unit: d.UnitID, status: commitmentActive}
	case events.CommitmentRevisedData:
		r.note = d.Reason
		r.change("target", strconv.Itoa(d.OldTarget), strconv.Itoa(d.NewTarget))
		r.change("period", d.OldPeriod, d.NewPeriod)
		r.change("end", d.OldEnd.String(), d.NewEnd.String())
	case events.CommitmentEndedData:
		r.note = d.Reason
		r.change("status", st.status, commitmentEnded)
		r.change("ended_on", "", d.EndedOn.String())
		r.state.status = commitmentEnded
	case events.CommitmentActivityLoggedData:
		r.note = d.Note
		r.change("count", "", strconv.Itoa(d.Count))
		r.change("occurred_on", "", d.OccurredOn.String())

	// ---- user: no unit ----
	case events.UserCreatedData:
		r.change("name", "", d.Name)
	case events.UserRoleGrantedData:
		r.change("role", "", roleText(d.Role, d.UnitID))
	case events.UserRoleRevokedData:
		r.note = d.Reason
		r.change("role", roleText(d.Role, d.UnitID), "")
	case events.UserTokenIssuedData:
		r.change("token", "", d.TokenID)
	case events.UserTokenRevokedData:
		r.note = d.Reason
		r.change("token", d.TokenID, "")
	}
	if e.Category() == events.CategoryItem {
		// The ledger's fold moves the status, so that the audit trail and
		// the ledger never disagree about it.
		row := itemRow{Status: events.ItemStatus(st.status)}
		foldItem(&row, e, p)
		r.change("status", st.status, string(row.Status))
		r.state.status = string(row.Status)
	}
	r.state.unit = r.unit
	return r
}

// roleText renders a role grant: "editor@community-3", or "admin" on the
// whole organisation.
func roleText(role, unit string) string {
	if unit == "" {
		return role
	}
	return role + "@" + unit
}

// Queries implements Queryable: the audit trail here (as of any point
// too), the as-of queries in asof.go and asof_views.go.
func (Audit) Queries() map[string]QueryFunc {
	return map[string]QueryFunc{
		"timeline":        auditTimeline,
		"feed":            auditFeed,
		"asof_item":       asofItem,
		"asof_commitment": asofCommitment,
		"asof_unit":       asofUnit,
		"asof_ledger":     asofLedger,
		// asof_views.go
		"asof_units":            asofUnits,
		"asof_cycles":           asofCycles,
		"asof_summary":          asofSummary,
		"asof_trend":            asofTrend,
		"asof_commitments":      asofCommitmentList,
		"asof_compliance":       asofCompliance,
		"asof_compliance_units": asofComplianceUnits,
		"asof_users":            asofUserPage,
		"asof_user":             asofUserOne,
		"asof_people":           asofPeople,
	}
}

const auditColumns = `a.position, a.revision, a.event_id, a.time, a.actor, coalesce(au.name, ''), a.type, a.stream,
	coalesce(ti.title, ''), a.unit_id, coalesce(u.name, ''), a.changes, a.note, a.correlation_id`

const auditFrom = ` FROM audit_events a
	LEFT JOIN units u ON u.unit_id = a.unit_id
	LEFT JOIN audit_users au ON au.user_id = a.actor
	LEFT JOIN audit_titles ti ON ti.stream = a.stream`

func scanAuditEntries(rows *sql.Rows) ([]query.AuditEntry, error) {
	defer rows.Close()
	out := []query.AuditEntry{}
	for rows.Next() {
		var en query.AuditEntry
		var t int64
		var changes sql.NullString
		if err := rows.Scan(&en.Position, &en.Revision, &en.EventID, &t, &en.Actor, &en.ActorName, &en.Type, &en.Stream,
			&en.Title, &en.UnitID, &en.UnitName, &changes, &en.Reason, &en.CorrelationID); err != nil {
			return nil, err
		}
		en.Time = time.Unix(0, t).UTC()
		en.Kind = events.StreamCategory(en.Stream)
		en.AggregateID = strings.TrimPrefix(en.Stream[len(en.Kind):], "-")
		en.Changes = []query.FieldChange{}
		if changes.Valid {
			if err := json.Unmarshal([]byte(changes.String), &en.Changes); err != nil {
				return nil, fmt.Errorf("changes at %d: %w", en.Position, err)
			}
		}
		out = append(out, en)
	}
	return out, rows.Err()
}

// streamUnit is the unit a stream belongs to now, for scope checks: that
// of its latest event; "" for cycles and users. found is false when the
// view has no event of it.
func streamUnit(ctx context.Context, db *sql.DB, stream string) (unit string, found bool, err error) {
	err = db.QueryRowContext(ctx, `SELECT unit_id FROM audit_events WHERE stream = ? ORDER BY position DESC LIMIT 1`, stream).Scan(&unit)
	switch err {
	case nil:
		return unit, true, nil
	case sql.ErrNoRows:
		return "", false, nil
	}
	return "", false, fmt.Errorf("stream %s: %w", stream, err)
}

// checkStreamScope fails with CodeNotFound when the stream has no event or
// its aggregate lies outside the scope: callers learn nothing about what
// they may not see. Aggregates of no unit need an All scope.
func checkStreamScope(ctx context.Context, db *sql.DB, s query.Scope, stream string) error {
	unit, found, err := streamUnit(ctx, db, stream)
	if err != nil {
		return err
	}
	ok := found && s.All
	if found && !s.All && unit != "" {
		if ok, err = unitInScope(ctx, db, s, unit); err != nil {
			return err
		}
	}
	if !ok {
		return events.Errorf(events.CodeNotFound, "%s not found", stream)
	}
	return nil
}

func auditTimeline(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.TimelineParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	var after int64
	if p.Cursor != "" {
		c, err := readCursor(p.Cursor, 1)
		if err != nil {
			return nil, err
		}
		if after, err = strconv.ParseInt(c[0], 10, 64); err != nil {
			return nil, events.Invalid("cursor", "is not a cursor of this query")
		}
	}
	if err := checkStreamScope(ctx, db, req.Scope, p.Stream); err != nil {
		return nil, err
	}
	// As of a past point: the entries up to it.
	if err := asofReached(ctx, db, req.AsOf); err != nil {
		return nil, err
	}
	pos, t := asofBounds(req.AsOf)
	limit := pageSize(p.Limit)
	rows, err := db.QueryContext(ctx, `SELECT `+auditColumns+auditFrom+`
		WHERE a.stream = ? AND a.position > ? AND a.position <= ? AND a.time <= ? ORDER BY a.position LIMIT ?`, p.Stream, after, pos, t, limit+1)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	entries, err := scanAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return auditPage(entries, limit), nil
}

func auditPage(entries []query.AuditEntry, limit int) query.AuditPage {
	page := query.AuditPage{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[:limit]
		page.NextCursor = makeCursor(strconv.FormatUint(entries[limit-1].Position, 10))
	}
	return page
}

func auditFeed(ctx context.Context, db *sql.DB, req query.Request) (any, error) {
	var p query.FeedParams
	if err := parseParams(req.Params, &p); err != nil {
		return nil, err
	}
	limit := pageSize(p.Limit)
	cond, args := scopeFilter("a.unit_id", req.Scope)
	where := []string{cond}
	if !req.AsOf.IsZero() {
		// As of a past point: only what had happened by then.
		if err := asofReached(ctx, db, req.AsOf); err != nil {
			return nil, err
		}
		pos, t := asofBounds(req.AsOf)
		where = append(where, "a.position <= ? AND a.time <= ?")
		args = append(args, pos, t)
	}
	if p.Cursor != "" {
		c, err := readCursor(p.Cursor, 1)
		if err != nil {
			return nil, err
		}
		before, err := strconv.ParseInt(c[0], 10, 64)
		if err != nil {
			return nil, events.Invalid("cursor", "is not a cursor of this query")
		}
		where = append(where, "a.position < ?")
		args = append(args, before)
	}
	if p.ActorID != "" {
		where = append(where, "a.actor = ?")
		args = append(args, p.ActorID)
	}
	if p.UnitID != "" {
		c, a := subtreeOf("a.unit_id", p.UnitID)
		where = append(where, c)
		args = append(args, a...)
	}
	if len(p.Types) > 0 {
		where = append(where, "a.type IN (?"+strings.Repeat(", ?", len(p.Types)-1)+")")
		for _, t := range p.Types {
			args = append(args, t)
		}
	}
	if !p.From.IsZero() || !p.To.IsZero() {
		from, to := int64(minTime), int64(maxTime)
		if !p.From.IsZero() {
			from = p.From.UnixNano()
		}
		if !p.To.IsZero() {
			to = p.To.UnixNano()
		}
		var lo, hi sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT min(min_pos), max(max_pos) FROM audit_clock WHERE hour >= ? AND hour <= ?`,
			clockHour(from), clockHour(to)).Scan(&lo, &hi); err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		if !lo.Valid {
			return query.AuditPage{Entries: []query.AuditEntry{}}, nil
		}
		where = append(where, "a.position >= ? AND a.position <= ? AND a.time >= ? AND a.time <= ?")
		args = append(args, lo.Int64, hi.Int64, from, to)
	}
	rows, err := db.QueryContext(ctx, `SELECT `+auditColumns+auditFrom+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY a.position DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	entries, err := scanAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	return auditPage(entries, limit), nil
}

// The range of event times the view can store as unix nanoseconds.
const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)
