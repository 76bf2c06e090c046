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
	"slices"
	"strconv"
	"strings"
	"time"

	"rectify/events"
	"rectify/projections/query"
)

// Audit is the audit projection; it also answers the as-of queries.
type Audit struct{}

var _ Queryable = Audit{}

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
	p, err := events.Decode(e)
	if err == nil {
		if _, err := unitsApply(ctx, tx, p); err != nil {
			return err
		}
		var st auditState
		switch e.Category() {
		case events.CategoryItem, events.CategoryCommitment:
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
	}
	var changes any // NULL when nothing changed
	if len(rec.changes) > 0 {
		b, err := json.Marshal(rec.changes)
		if err != nil {
			return fmt.Errorf("audit changes: %w", err)
		}
		changes = string(b)
	}
	t := e.Time.UnixNano()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (position, stream, revision, event_id, type, version, time, actor,
			correlation_id, causation_id, unit_id, status, deadline, note, changes, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Position, e.Stream, e.Revision, e.ID, e.Type, e.Version, t, e.Actor,
		e.CorrelationID, e.CausationID, rec.unit, rec.state.status, rec.state.deadline, rec.note, changes, []byte(e.Data)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	tx.ChangedIn(e.Stream, rec.unit)
	return nil
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

// Queries implements Queryable: the audit trail here, the as-of queries in
// asof.go.
func (Audit) Queries() map[string]QueryFunc {
	return map[string]QueryFunc{
		"timeline":        auditTimeline,
		"feed":            auditFeed,
		"asof_item":       asofItem,
		"asof_commitment": asofCommitment,
		"asof_unit":       asofUnit,
		"asof_ledger":     asofLedger,
	}
}

const auditColumns = `a.position, a.revision, a.event_id, a.time, a.actor, coalesce(au.name, ''), a.type, a.stream,
	a.unit_id, coalesce(u.name, ''), a.changes, a.note, a.correlation_id`

const auditFrom = ` FROM audit_events a
	LEFT JOIN units u ON u.unit_id = a.unit_id
	LEFT JOIN audit_users au ON au.user_id = a.actor`

func scanAuditEntries(rows *sql.Rows) ([]query.AuditEntry, error) {
	defer rows.Close()
	out := []query.AuditEntry{}
	for rows.Next() {
		var en query.AuditEntry
		var t int64
		var changes sql.NullString
		if err := rows.Scan(&en.Position, &en.Revision, &en.EventID, &t, &en.Actor, &en.ActorName, &en.Type, &en.Stream,
			&en.UnitID, &en.UnitName, &changes, &en.Reason, &en.CorrelationID); err != nil {
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
	limit := pageSize(p.Limit)
	rows, err := db.QueryContext(ctx, `SELECT `+auditColumns+auditFrom+`
		WHERE a.stream = ? AND a.position > ? ORDER BY a.position LIMIT ?`, p.Stream, after, limit+1)
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
